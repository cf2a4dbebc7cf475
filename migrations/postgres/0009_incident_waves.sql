-- How many times an open provider incident's failures came back after a
-- lull (an intermittent outage's waves less one), so a correlator that
-- takes the incident over goes on counting from there.
ALTER TABLE incidents ADD COLUMN relapses BIGINT NOT NULL DEFAULT 0;
