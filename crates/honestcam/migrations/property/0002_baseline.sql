-- The property's baseline (compliance.json) as last read, so that the database alone
-- brings a property back after a restore. One row; replaced whenever the file changes.
CREATE TABLE baseline (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    json      TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    stored_at TEXT NOT NULL
);
