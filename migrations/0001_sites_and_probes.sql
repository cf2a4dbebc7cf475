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

-- One row per probe. Times are RFC 3339 UTC strings, which sort chronologically.
CREATE TABLE probes (
    id            INTEGER PRIMARY KEY,
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    started_at    TEXT    NOT NULL,
    ok            INTEGER NOT NULL,
    status        INTEGER,
    failure       TEXT,                                  -- closed taxonomy, NULL when ok
    detail        TEXT,
    dns_ms        INTEGER,
    connect_ms    INTEGER,
    tls_ms        INTEGER,
    ttfb_ms       INTEGER,
    total_ms      INTEGER,
    suspect       INTEGER NOT NULL DEFAULT 0             -- own-network guard said the vantage was cut off
);
CREATE INDEX probes_site_time ON probes (site_id, started_at);
CREATE INDEX probes_time ON probes (started_at);
