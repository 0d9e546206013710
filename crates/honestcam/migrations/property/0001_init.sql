-- Per-property database: the append-only log of compliance events.
-- `seq` orders events as they were appended; `event_id` makes re-imports idempotent.
CREATE TABLE compliance_events (
    seq       INTEGER PRIMARY KEY,
    event_id  TEXT NOT NULL,
    action_id TEXT NOT NULL,
    type      TEXT NOT NULL,
    payload   TEXT NOT NULL,              -- JSON value, stored verbatim
    actor     TEXT NOT NULL,
    at        TEXT NOT NULL,              -- RFC 3339, as written by the source
    extra     TEXT NOT NULL DEFAULT '{}'  -- any other fields of a legacy event, verbatim
);

CREATE UNIQUE INDEX compliance_events_event_id ON compliance_events (event_id);

-- The log is append-only: the database itself refuses changes and deletions.
CREATE TRIGGER compliance_events_no_update
BEFORE UPDATE ON compliance_events
BEGIN
    SELECT RAISE(ABORT, 'compliance_events is append-only: UPDATE refused');
END;

CREATE TRIGGER compliance_events_no_delete
BEFORE DELETE ON compliance_events
BEGIN
    SELECT RAISE(ABORT, 'compliance_events is append-only: DELETE refused');
END;

-- INSERT OR REPLACE deletes the conflicting row without firing DELETE triggers, so
-- conflicts are settled before the insert: a known event_id is skipped (re-imports
-- are no-ops), an explicit seq that is taken is refused.
CREATE TRIGGER compliance_events_known_id
BEFORE INSERT ON compliance_events
WHEN EXISTS (SELECT 1 FROM compliance_events WHERE event_id = NEW.event_id)
BEGIN
    SELECT RAISE(IGNORE);
END;

CREATE TRIGGER compliance_events_taken_seq
BEFORE INSERT ON compliance_events
WHEN EXISTS (SELECT 1 FROM compliance_events WHERE seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'compliance_events is append-only: seq already used');
END;
