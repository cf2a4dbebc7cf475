-- Results come from several vantages: the central's own prober (vantage 0)
-- and each agent (its id). A result is one site, from one vantage, in one
-- schedule slot, so an agent resending a batch, or probing a slot again
-- after a restart, stores it once. The slot of a row stored before this is
-- the moment it started.
ALTER TABLE probes ADD COLUMN vantage_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE probes ADD COLUMN slot TEXT;
UPDATE probes SET slot = started_at;
CREATE UNIQUE INDEX probes_slot_key ON probes (site_id, vantage_id, slot);
-- Two vantages may start on the same millisecond: the old key becomes a
-- plain index, which serves the same lookups.
DROP INDEX probes_natural_key;
CREATE INDEX probes_site_time ON probes (site_id, started_at);
