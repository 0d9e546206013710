-- The search index: the words of every action's title, of every note and of every
-- assignee an action was given, for the portal's search box and the search API.
-- Like the projection it is derived, never a second truth: event rows are written in
-- the same transaction as the append they come from, title rows whenever the stored
-- baseline changes; it can be rebuilt at any time (`honestcam db-reindex`) and is
-- checked against the log by `honestcam db-status --verify`. It is filled by the
-- application when the database is next opened (the rules of what is indexed live in
-- one place, not in SQL).
--
-- One row per indexed text. `rowid` is the event's `seq` for a note or an assignee
-- (an event gives at most one row), and minus the action's place in the baseline
-- (-1 for the first) for a title. `field` is `title`, `note` or `assignee`.
-- The tokenizer folds case and diacritics (`Grüne` is found by `grune`).
CREATE VIRTUAL TABLE search_index USING fts5(
    text,
    field UNINDEXED,
    action_id UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- How far into the log the index reaches (every event with seq <= this is in it),
-- and the SHA-256 of the stored baseline its title rows were taken from. No row: not
-- filled yet.
CREATE TABLE search_position (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    seq             INTEGER NOT NULL,
    baseline_sha256 TEXT
);
