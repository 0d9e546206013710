-- A browser that has signed in to a local account before: its device cookie holds a
-- random id, the table only its SHA-256. Failed sign-ins from such a browser are
-- counted for that browser alone, so failures from elsewhere do not keep it out
-- (web/auth/throttle.rs). A device grants no access by itself: the password is still
-- needed.
-- `seq` orders an account's devices, newest last.
CREATE TABLE devices (
    seq        INTEGER PRIMARY KEY,
    id_sha256  TEXT NOT NULL UNIQUE,
    account    TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX devices_account ON devices (account, seq);
