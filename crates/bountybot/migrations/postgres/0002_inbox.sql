-- Webhook replicas: every update is noted here when it arrives at any replica, and
-- marked done once processed (whatever it changed), so that an update of a chat waits
-- for the chat's earlier updates that arrived elsewhere and are still in work.
CREATE TABLE inbox (
    update_id   BIGINT PRIMARY KEY,
    chat_id     BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    done        BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX inbox_pending ON inbox (chat_id, update_id) WHERE NOT done;
CREATE INDEX inbox_received_at ON inbox (received_at);

-- Update ids below `floor` that never arrived are not waited for (a gap given up on,
-- or ids from before the inbox existed).
CREATE TABLE inbox_floor (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    floor BIGINT NOT NULL
);
