-- bountybot's PostgreSQL backend: the same data as the SQLite backend (whose four
-- migrations this one file matches), for several bot processes on one database.

-- One row per chat that has data; next_id is the chat's id counter (never reused).
CREATE TABLE chats (
    chat_id BIGINT PRIMARY KEY,
    next_id BIGINT NOT NULL DEFAULT 1 CHECK (next_id >= 1)
);

CREATE TABLE bounties (
    chat_id            BIGINT NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    id                 BIGINT NOT NULL CHECK (id >= 1),
    created_by_user_id BIGINT NOT NULL,
    text               TEXT NOT NULL,
    link               TEXT,
    due_date_ts        BIGINT,
    created_at         BIGINT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    claimed_by_user_id BIGINT,
    done_at            BIGINT,
    PRIMARY KEY (chat_id, id)
);

-- Group members known to the bot (a {user_id}.json file in the JSON layout).
CREATE TABLE members (
    chat_id BIGINT NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);

-- Bookmarks, in the order they were made (seq). In a private chat user_id is the chat's.
CREATE TABLE tracked (
    chat_id   BIGINT NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    user_id   BIGINT NOT NULL,
    bounty_id BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id, bounty_id)
);

-- Display names the bot has seen, per chat.
CREATE TABLE names (
    chat_id BIGINT NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    name    TEXT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);

-- One row per chat that changed a setting; NULL means the default (UTC; digest off).
CREATE TABLE chat_settings (
    chat_id   BIGINT PRIMARY KEY REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    time_zone TEXT,
    remind_at TEXT CHECK (remind_at IS NULL OR remind_at ~ '^[0-2][0-9]:[0-5][0-9]$')
);
CREATE INDEX chat_settings_remind_at ON chat_settings (chat_id) WHERE remind_at IS NOT NULL;

-- One row per chat and local date whose digest was claimed: the primary key makes a
-- second claim of the same day impossible; message_id is set once Telegram accepted it.
CREATE TABLE digests (
    chat_id    BIGINT NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    local_date DATE NOT NULL,
    claimed_at BIGINT NOT NULL,
    message_id INTEGER,
    PRIMARY KEY (chat_id, local_date)
);

-- Telegram updates whose change is stored, inserted in the same transaction as the
-- change, so a redelivered update is recognised by any replica and never applied twice.
CREATE TABLE processed_updates (
    update_id BIGINT PRIMARY KEY,
    chat_id   BIGINT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX processed_updates_at ON processed_updates (at);
