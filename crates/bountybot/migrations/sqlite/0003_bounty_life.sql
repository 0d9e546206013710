-- A bounty's life: open or done, claimed by one user at a time; and display names.

ALTER TABLE bounties ADD COLUMN status TEXT NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'done'));
ALTER TABLE bounties ADD COLUMN claimed_by_user_id INTEGER;
ALTER TABLE bounties ADD COLUMN done_at INTEGER;

-- Display names the bot has seen, per chat (a group's members, a private chat's owner).
CREATE TABLE names (
    chat_id INTEGER NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    name    TEXT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
