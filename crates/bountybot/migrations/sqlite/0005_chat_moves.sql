-- Groups that became supergroups: a late or redelivered update of the old chat is
-- handled in the new one.
CREATE TABLE chat_moves (
    from_chat INTEGER PRIMARY KEY,
    to_chat   INTEGER NOT NULL
);
