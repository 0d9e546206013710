-- The projection: each action's current state as folded from compliance_events, so
-- that a write decides, and a page reads, one row per action instead of its history.
-- The log stays the only source of truth: these rows are written in the same
-- transaction as every append, can be rebuilt from the log at any time
-- (`honestcam db-reindex`), and are checked against a fresh fold
-- (`honestcam db-status --verify`).
--
-- A row holds what the action's events changed, not the baseline: a column is NULL
-- (or its `_set` flag 0) when no event set it, so a new compliance.json never makes
-- the rows stale. The rows are filled by the application when the database is next
-- opened (the fold's rules live in one place, not in SQL).
CREATE TABLE action_state (
    action_id    TEXT PRIMARY KEY,
    status       TEXT,                       -- NULL: no status event applied
    assignee_set INTEGER NOT NULL DEFAULT 0, -- 1: an assignee event applied
    assignee     TEXT,                       -- NULL with assignee_set = 1: removed
    due_set      INTEGER NOT NULL DEFAULT 0,
    due          TEXT,
    note_count   INTEGER NOT NULL DEFAULT 0,
    latest_notes TEXT NOT NULL DEFAULT '[]', -- JSON: the latest notes, oldest first
    updated_at   TEXT,
    updated_by   TEXT,
    last_seq     INTEGER NOT NULL            -- log position of the last event applied
) WITHOUT ROWID;

-- How far into the log the projection reaches: every event with seq <= this is folded
-- in. No row: not filled yet.
CREATE TABLE action_state_position (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
