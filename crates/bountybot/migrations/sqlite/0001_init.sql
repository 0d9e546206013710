-- bountybot's SQLite backend: the same data as the per-chat JSON files.

-- One row per chat that has data; next_id is the chat's id counter (never reused).
CREATE TABLE chats (
    chat_id INTEGER PRIMARY KEY,
    next_id INTEGER NOT NULL DEFAULT 1 CHECK (next_id >= 1)
);

CREATE TABLE bounties (
    chat_id            INTEGER NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    id                 INTEGER NOT NULL CHECK (id >= 1),
    created_by_user_id INTEGER NOT NULL,
    text               TEXT NOT NULL,
    link               TEXT,
    due_date_ts        INTEGER,
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (chat_id, id)
) WITHOUT ROWID;

-- Group members known to the bot (a {user_id}.json file in the JSON layout).
CREATE TABLE members (
    chat_id INTEGER NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;

-- Bookmarks, in the order they were made (seq). In a private chat user_id is the chat's.
CREATE TABLE tracked (
    chat_id   INTEGER NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    user_id   INTEGER NOT NULL,
    bounty_id INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id, bounty_id)
) WITHOUT ROWID;
