-- Tokens for the API's writes (and readers who need a budget of their
-- own). Kept as the SHA-256 of the token, which is shown once at creation;
-- a revoked token stays listed with when it was revoked.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    scope         TEXT    NOT NULL CHECK (scope IN ('read', 'write')),
    created_by    TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
);
