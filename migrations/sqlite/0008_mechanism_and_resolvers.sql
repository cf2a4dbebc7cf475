-- What shows a provider incident: 'own' (the provider's own failures) or
-- 'edge_to_origin' (its pages blaming unrelated origins at once), and for
-- the latter how many unrelated origins failed together. NULL for site
-- incidents and for provider incidents stored before these columns.
ALTER TABLE incidents ADD COLUMN mechanism TEXT;
ALTER TABLE incidents ADD COLUMN origins INTEGER;

-- When one of our own resolvers failed while another answered (probes went
-- on through the others): the vantage's DNS, not the sites'.
CREATE TABLE resolver_events (
    id          INTEGER PRIMARY KEY,
    resolver    TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    ended_at    TEXT
);
CREATE INDEX resolver_events_open ON resolver_events (resolver) WHERE ended_at IS NULL;
