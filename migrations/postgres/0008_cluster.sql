-- Several centrals on one database: the leader (the one running the
-- probes and the correlator) shares each judgement's snapshot here for
-- the others' pages, and results agents push to any central wait here
-- for the leader's correlator. One row of snapshot, replaced each time.
CREATE TABLE shared_snapshot (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    version       BIGINT      NOT NULL,
    published_at  TIMESTAMPTZ NOT NULL,
    body          BYTEA       NOT NULL
);

CREATE TABLE pending_observations (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queued_at  TIMESTAMPTZ NOT NULL,
    body       TEXT        NOT NULL
);
CREATE INDEX pending_observations_queued ON pending_observations (queued_at);
