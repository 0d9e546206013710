-- Global study database: users of every property and their progress blobs.
CREATE TABLE study_users (
    property   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (property, user_id)
) WITHOUT ROWID;

-- One JSON object per user, overwritten whole on every save (last write wins).
-- No foreign key to study_users: legacy data may hold progress for a user that
-- users.json does not list, and the import keeps it rather than dropping it.
CREATE TABLE study_progress (
    property   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    blob       TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (property, user_id)
) WITHOUT ROWID;
