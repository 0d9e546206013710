-- An action's latest event of one type at or before a position, and how many notes it
-- had then, without reading its history: what the change feed needs to tell an
-- action's state at the position a reader resumes from (`projection_repo::
-- changes_through`). Also serves "the last status change of this action".
CREATE INDEX compliance_events_action_type ON compliance_events (action_id, type, seq);
