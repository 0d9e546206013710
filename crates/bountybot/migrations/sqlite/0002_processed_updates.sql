-- Telegram updates whose change is stored: the row is inserted in the same transaction
-- as the change, so a redelivered update is recognised and never applied twice. Old
-- rows are pruned (Telegram redelivers within hours, not weeks).
CREATE TABLE processed_updates (
    update_id INTEGER PRIMARY KEY,
    chat_id   INTEGER NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX processed_updates_at ON processed_updates (at);
