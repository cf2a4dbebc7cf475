-- What providers said about their own incidents, as their status pages
-- published it: each official incident once per provider and id, each of
-- its updates once, with when Faultline first saw it. `incident_id` links
-- the provider incident Faultline measured that it describes (NULL: none,
-- which is news too).
CREATE TABLE official_incidents (
    id              INTEGER PRIMARY KEY,
    provider        TEXT    NOT NULL,
    reference       TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    impact          TEXT    NOT NULL,
    components      TEXT    NOT NULL DEFAULT '[]',   -- JSON array of names
    started_at      TEXT,
    resolved_at     TEXT,
    url             TEXT,
    source          TEXT    NOT NULL,                -- the document polled
    first_seen_at   TEXT    NOT NULL,
    updated_seen_at TEXT    NOT NULL,
    incident_id     INTEGER REFERENCES incidents (id) ON DELETE SET NULL,
    UNIQUE (provider, reference)
);
CREATE INDEX official_incidents_incident ON official_incidents (incident_id);
CREATE INDEX official_incidents_unmatched ON official_incidents (provider) WHERE incident_id IS NULL;

CREATE TABLE official_updates (
    id            INTEGER PRIMARY KEY,
    official_id   INTEGER NOT NULL REFERENCES official_incidents (id) ON DELETE CASCADE,
    reference     TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    published_at  TEXT    NOT NULL,
    first_seen_at TEXT    NOT NULL,
    UNIQUE (official_id, reference)
);
CREATE INDEX official_updates_published ON official_updates (official_id, published_at);

-- Each status document's last poll: the validators for a conditional
-- request, and the last failure, if the last poll failed.
CREATE TABLE status_sources (
    url           TEXT    PRIMARY KEY,
    provider      TEXT    NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    checked_at    TEXT    NOT NULL,
    ok_at         TEXT,
    error         TEXT
);
