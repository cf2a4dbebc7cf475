-- Times are RFC 3339 UTC strings (sqlx's chrono encoding), which sort chronologically.

-- Watched sites. `host` is the lowercase ASCII (punycode) host name; one row per URL.
CREATE TABLE sites (
    id            INTEGER PRIMARY KEY,
    url           TEXT    NOT NULL UNIQUE,
    host          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    tags          TEXT    NOT NULL DEFAULT '',          -- comma-separated, lowercase
    interval_s    INTEGER NOT NULL DEFAULT 60 CHECK (interval_s BETWEEN 10 AND 86400),
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL
);
CREATE INDEX sites_host ON sites (host);

-- One row per probe, kept for the raw retention (48 h by default).
CREATE TABLE probes (
    id            INTEGER PRIMARY KEY,
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    started_at    TEXT    NOT NULL,
    ok            INTEGER NOT NULL,
    status        INTEGER,
    failure       TEXT,                -- closed taxonomy (probe::FailureClass), NULL when ok
    detail        TEXT,                -- the raw error, bounded
    dns_ms        INTEGER,
    connect_ms    INTEGER,
    tls_ms        INTEGER,
    ttfb_ms       INTEGER,
    total_ms      INTEGER,
    remote_ip     TEXT,
    facts         TEXT,                -- JSON: DNS answers, CNAME chain, TLS issuer and expiry, redirects
    body_gz       BLOB,                -- gzip of the error page, only for error responses
    provider      TEXT,                -- who generated the error (engine classification)
    fault_side    TEXT,
    fault         TEXT,
    confidence    REAL,
    evidence      TEXT,                -- JSON array of strings
    suspect       INTEGER NOT NULL DEFAULT 0   -- the own-network guard said the vantage was cut off
);
CREATE INDEX probes_site_time ON probes (site_id, started_at);
CREATE INDEX probes_time ON probes (started_at);

-- The latest probe of each site, kept up to date by the writer, so pages never scan `probes`.
CREATE TABLE site_status (
    site_id       INTEGER PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    probe_id      INTEGER NOT NULL,
    started_at    TEXT    NOT NULL,
    ok            INTEGER NOT NULL,
    suspect       INTEGER NOT NULL,
    failure       TEXT,
    fault         TEXT,
    provider      TEXT,
    since         TEXT    NOT NULL     -- when `ok` last changed
);

-- Rollups: one row per site and bucket. `bucket` is the bucket's start time.
-- Kept longer than raw probes (defaults: minutes 3 days, hours 90 days, days 3 years).
CREATE TABLE rollup_minute (
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    bucket        TEXT    NOT NULL,
    probes        INTEGER NOT NULL,
    failures      INTEGER NOT NULL,    -- non-suspect failures
    suspect       INTEGER NOT NULL,
    total_ms_sum  INTEGER NOT NULL,    -- over successful probes
    total_ms_max  INTEGER NOT NULL,
    PRIMARY KEY (site_id, bucket)
) WITHOUT ROWID;
CREATE TABLE rollup_hour (
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    bucket        TEXT    NOT NULL,
    probes        INTEGER NOT NULL,
    failures      INTEGER NOT NULL,
    suspect       INTEGER NOT NULL,
    total_ms_sum  INTEGER NOT NULL,
    total_ms_max  INTEGER NOT NULL,
    PRIMARY KEY (site_id, bucket)
) WITHOUT ROWID;
CREATE TABLE rollup_day (
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    bucket        TEXT    NOT NULL,
    probes        INTEGER NOT NULL,
    failures      INTEGER NOT NULL,
    suspect       INTEGER NOT NULL,
    total_ms_sum  INTEGER NOT NULL,
    total_ms_max  INTEGER NOT NULL,
    PRIMARY KEY (site_id, bucket)
) WITHOUT ROWID;
CREATE INDEX rollup_minute_bucket ON rollup_minute (bucket);
CREATE INDEX rollup_hour_bucket ON rollup_hour (bucket);

-- Providers serving each site (attribution), with history: a row is closed
-- (`until` set) when a later probe no longer shows that provider.
CREATE TABLE site_providers (
    id            INTEGER PRIMARY KEY,
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    provider      TEXT    NOT NULL,
    role          TEXT    NOT NULL,    -- cdn | dns | host | waf
    evidence      TEXT    NOT NULL,    -- JSON array of strings
    first_seen    TEXT    NOT NULL,
    last_seen     TEXT    NOT NULL,
    until         TEXT
);
CREATE UNIQUE INDEX site_providers_current ON site_providers (site_id, provider, role) WHERE until IS NULL;
CREATE INDEX site_providers_provider ON site_providers (provider, role) WHERE until IS NULL;

-- The own-network guard's verdicts: when the vantage point looked cut off.
CREATE TABLE vantage_events (
    id            INTEGER PRIMARY KEY,
    state         TEXT    NOT NULL,    -- online | degraded | offline
    started_at    TEXT    NOT NULL,
    ended_at      TEXT,
    detail        TEXT    NOT NULL
);
