-- Each vantage keeps its own latest status per site: an agent's results
-- must not overwrite what this central's own prober (vantage 0) found, nor
-- one agent's another's. Every row stored before this is vantage 0's.
CREATE TABLE site_status_by_vantage (
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    vantage_id    INTEGER NOT NULL DEFAULT 0,
    probe_id      INTEGER NOT NULL,
    started_at    TEXT    NOT NULL,
    ok            INTEGER NOT NULL,
    suspect       INTEGER NOT NULL,
    failure       TEXT,
    fault         TEXT,
    provider      TEXT,
    since         TEXT    NOT NULL,    -- when `ok` last changed
    PRIMARY KEY (site_id, vantage_id)
);
INSERT INTO site_status_by_vantage
    (site_id, vantage_id, probe_id, started_at, ok, suspect, failure, fault, provider, since)
    SELECT site_id, 0, probe_id, started_at, ok, suspect, failure, fault, provider, since
    FROM site_status;
DROP TABLE site_status;
ALTER TABLE site_status_by_vantage RENAME TO site_status;
