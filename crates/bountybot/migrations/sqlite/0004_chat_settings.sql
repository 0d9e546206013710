-- Chat settings (time zone, daily digest time) and the record of each day's digest.

-- One row per chat that changed a setting; NULL means the default (UTC; digest off).
CREATE TABLE chat_settings (
    chat_id   INTEGER PRIMARY KEY REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    time_zone TEXT,
    remind_at TEXT CHECK (remind_at IS NULL OR remind_at GLOB '[0-2][0-9]:[0-5][0-9]')
);

-- One row per chat and local date whose digest was claimed: the primary key makes a
-- second claim of the same day impossible. message_id is set once Telegram accepted
-- the message. Rows older than a few days are pruned when a digest is claimed.
CREATE TABLE digests (
    chat_id    INTEGER NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    local_date TEXT NOT NULL CHECK (local_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    claimed_at INTEGER NOT NULL,
    message_id INTEGER,
    PRIMARY KEY (chat_id, local_date)
) WITHOUT ROWID;
