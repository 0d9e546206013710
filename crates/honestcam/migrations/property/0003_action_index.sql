-- An action's events, in order, without reading the whole log: the action's page
-- (its history) and a portal write (which compares with the action's current state).
CREATE INDEX compliance_events_action ON compliance_events (action_id, seq);
