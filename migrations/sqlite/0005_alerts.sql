-- Alerts: who subscribes to what, the outbox of alert events written with
-- the incident changes that cause them, and each delivery with its attempts.

-- A subscription: one channel (a webhook URL or an email address), what it
-- follows and which events it wants.
CREATE TABLE alert_subscriptions (
    id              INTEGER PRIMARY KEY,
    channel         TEXT    NOT NULL CHECK (channel IN ('webhook', 'email')),
    format          TEXT    NOT NULL DEFAULT 'standard',  -- webhooks: standard | slack | discord | teams | ntfy
    target          TEXT    NOT NULL,                     -- the webhook URL, or the email address
    secrets         TEXT    NOT NULL DEFAULT '[]',        -- webhooks: JSON array of whsec_ secrets, newest first
    scopes          TEXT    NOT NULL,                     -- JSON array: "all", "site:HOST", "provider:ID[/ROLE]", "tag:TAG"
    events          TEXT    NOT NULL,                     -- JSON array of event spellings
    mutes           TEXT    NOT NULL DEFAULT '[]',        -- JSON array of {from, until}
    min_interval_s  INTEGER NOT NULL DEFAULT 0,           -- least time between two alerts of one incident
    confirmed_at    TEXT,                                 -- email: when the address was confirmed
    confirmation_sent_at TEXT,                            -- email: when the confirmation mail went out
    disabled_at     TEXT,
    disabled_reason TEXT,
    created_at      TEXT    NOT NULL,
    created_by      TEXT    NOT NULL                      -- "command line", an administrator, or "public"
);

-- The outbox. A provider incident's phase change and a site going down or
-- coming back write their event here in the same transaction, so a crash
-- can neither lose nor invent an alert.
CREATE TABLE alert_events (
    id              INTEGER PRIMARY KEY,
    incident_id     INTEGER REFERENCES incidents (id) ON DELETE CASCADE,
    event           TEXT    NOT NULL,
    seq             INTEGER NOT NULL,             -- per incident: 1, 2, 3 ...
    at              TEXT    NOT NULL,             -- when it happened
    not_before      TEXT    NOT NULL,             -- site events wait: a provider incident may explain them
    detail          TEXT    NOT NULL DEFAULT '{}',-- JSON: the figures and evidence of that moment
    test_for        INTEGER REFERENCES alert_subscriptions (id) ON DELETE CASCADE,  -- a test event's one subscription
    fanned_out_at   TEXT
);
CREATE UNIQUE INDEX alert_events_seq ON alert_events (incident_id, seq) WHERE incident_id IS NOT NULL;
CREATE INDEX alert_events_waiting ON alert_events (not_before) WHERE fanned_out_at IS NULL;

-- One event for one subscription, delivered at least once.
CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    subscription_id INTEGER NOT NULL REFERENCES alert_subscriptions (id) ON DELETE CASCADE,
    sent_as         TEXT    NOT NULL,   -- the event as this subscription hears it
    host            TEXT,               -- the site it concerns, if one
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'muted', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at          TEXT    NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    TEXT,
    created_at      TEXT    NOT NULL,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (due_at) WHERE state = 'pending';
CREATE INDEX alert_deliveries_subscription ON alert_deliveries (subscription_id);

-- Every attempt, for the delivery log.
CREATE TABLE alert_attempts (
    id              INTEGER PRIMARY KEY,
    delivery_id     INTEGER NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    at              TEXT    NOT NULL,
    status          INTEGER,
    duration_ms     INTEGER NOT NULL,
    error           TEXT
);
CREATE INDEX alert_attempts_delivery ON alert_attempts (delivery_id);

-- Keys this server signs its links with (email confirmations, unsubscribe
-- and manage links), made once at random.
CREATE TABLE server_keys (
    name            TEXT    PRIMARY KEY,
    key             BLOB    NOT NULL,
    created_at      TEXT    NOT NULL
);
