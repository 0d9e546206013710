-- Who may use the portal (see domain/account.rs).

-- An account: a local login (with an Argon2id password hash) or an identity another
-- service vouches for, such as a Cloudflare Access email (no password here).
CREATE TABLE accounts (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    password_hash TEXT,
    created_at    TEXT NOT NULL
) WITHOUT ROWID;

-- A server-side login session of a local account; the cookie holds the id, the
-- table only its SHA-256.
CREATE TABLE sessions (
    id_sha256  TEXT PRIMARY KEY,
    account    TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX sessions_account ON sessions (account);

-- A bearer token for API clients; shown once, stored as its SHA-256.
CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL
) WITHOUT ROWID;
