-- Probe agents registered with this central: each probes from its own
-- network and region with a token of its own, kept by its SHA-256 only.
-- An agent is revoked, never deleted, so results it stored keep a name.
CREATE TABLE agents (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    region        TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    created_at    TEXT    NOT NULL,
    last_seen_at  TEXT,
    revoked_at    TEXT
);
