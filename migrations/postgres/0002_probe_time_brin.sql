-- Raw probes arrive in time order, so a block-range index on their moment
-- finds a time range as well as a B-tree does for the two queries that ask
-- by time alone (retention within the cutoff day, marking failures suspect
-- since a moment), while costing next to nothing to keep up at ingest.
DROP INDEX probes_time;
CREATE INDEX probes_time ON probes USING brin (started_at);
