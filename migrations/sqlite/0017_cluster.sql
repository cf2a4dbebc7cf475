-- Several centrals on one database: the leader (the one running the
-- probes and the correlator) shares each judgement's snapshot here for
-- the others' pages, and results agents push to any central wait here
-- for the leader's correlator. One row of snapshot, replaced each time.
CREATE TABLE shared_snapshot (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    version       INTEGER NOT NULL,
    published_at  TEXT    NOT NULL,
    body          BLOB    NOT NULL
);

CREATE TABLE pending_observations (
    id         INTEGER PRIMARY KEY,
    queued_at  TEXT    NOT NULL,
    body       TEXT    NOT NULL
);
CREATE INDEX pending_observations_queued ON pending_observations (queued_at);
