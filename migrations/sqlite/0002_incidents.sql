-- Provider-wide incidents and site incidents, with their timelines.
CREATE TABLE incidents (
    id            INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL CHECK (kind IN ('provider', 'site')),
    provider      TEXT,                -- provider incidents: the provider id
    role          TEXT,                -- provider incidents: cdn | dns | host
    site_id       INTEGER REFERENCES sites (id) ON DELETE CASCADE,   -- site incidents
    phase         TEXT    NOT NULL,    -- suspected | confirmed | recovering | resolved
    pattern       TEXT    NOT NULL DEFAULT 'steady',
    fault         TEXT,
    onset_at      TEXT    NOT NULL,
    detected_at   TEXT    NOT NULL,
    confirmed_at  TEXT,
    peak_share    REAL,
    peak_at       TEXT,
    recovering_at TEXT,
    resolved_at   TEXT,
    confidence    REAL,
    sites_affected INTEGER NOT NULL DEFAULT 0,
    explained_by  INTEGER REFERENCES incidents (id),
    evidence      TEXT    NOT NULL DEFAULT '[]',   -- JSON array of strings
    timeline      TEXT    NOT NULL DEFAULT '[]',   -- JSON array of [time, share]
    updated_at    TEXT    NOT NULL
);
CREATE INDEX incidents_open ON incidents (kind, phase) WHERE phase <> 'resolved';
CREATE INDEX incidents_provider ON incidents (provider, detected_at);
CREATE INDEX incidents_site ON incidents (site_id, detected_at);

-- Sites affected by a provider incident, with their first and last failure.
CREATE TABLE incident_sites (
    incident_id   INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    first_failure TEXT    NOT NULL,
    last_failure  TEXT    NOT NULL,
    PRIMARY KEY (incident_id, site_id)
) WITHOUT ROWID;

-- Notes added to an incident's timeline: official statements, links.
CREATE TABLE annotations (
    id            INTEGER PRIMARY KEY,
    incident_id   INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at            TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    url           TEXT,
    author        TEXT    NOT NULL,
    created_at    TEXT    NOT NULL
);
CREATE INDEX annotations_incident ON annotations (incident_id, at);
