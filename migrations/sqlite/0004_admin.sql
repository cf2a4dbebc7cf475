-- Administrators and their sessions. Passwords are kept as argon2id PHC
-- strings; a session is kept as the SHA-256 of its cookie token, so a copy
-- of the database signs nobody in.
CREATE TABLE admins (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    TEXT    NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash    TEXT    PRIMARY KEY,
    admin_id      INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_at    TEXT    NOT NULL,
    expires_at    TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);

-- What administrators changed, newest last.
CREATE TABLE admin_audit (
    id            INTEGER PRIMARY KEY,
    at            TEXT    NOT NULL,
    username      TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    detail        TEXT    NOT NULL
);
