-- Each vantage keeps its own latest status per site: an agent's results
-- must not overwrite what this central's own prober (vantage 0) found, nor
-- one agent's another's. Every row stored before this is vantage 0's.
ALTER TABLE site_status ADD COLUMN vantage_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE site_status DROP CONSTRAINT site_status_pkey;
ALTER TABLE site_status ADD PRIMARY KEY (site_id, vantage_id);
