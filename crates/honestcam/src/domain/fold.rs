//! Folding events over the baseline: one small function per event type.
//!
//! [`ComplianceState`] is the fold's accumulator and can be kept and fed new events
//! one by one (the portal does, so a request never refolds the whole history);
//! [`apply_events`] is the one-shot form. Events of unknown types, events for actions
//! the baseline does not list, and known types with unusable payloads are skipped
//! with a warning: they stay in the log, they just do not change state.

use std::collections::HashMap;

use serde_json::Value;

use super::compliance::{ActionState, Baseline, BaselineAction, Change, Event, Note, Status};

/// What the fold did with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The event changed an action.
    Applied,
    /// The event was skipped, for this reason.
    Skipped(String),
}

/// Every action's current state, in baseline order.
#[derive(Debug, Clone)]
pub struct ComplianceState {
    actions: Vec<ActionState>,
    index: HashMap<String, usize>,
    events_seen: u64,
}

impl ComplianceState {
    /// The state before any event.
    pub fn from_baseline(baseline: &Baseline) -> ComplianceState {
        let actions: Vec<ActionState> = baseline
            .actions
            .iter()
            .map(ActionState::from_baseline)
            .collect();
        let index = actions
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        ComplianceState {
            actions,
            index,
            events_seen: 0,
        }
    }

    /// Applies one event; says why when it is skipped (the caller decides whether
    /// to tell anyone).
    pub fn apply(&mut self, event: &Event) -> Applied {
        self.events_seen += 1;
        let (i, change) = match self.resolve(&event.action_id, &event.kind, &event.payload) {
            Ok(found) => found,
            Err(reason) => return Applied::Skipped(reason),
        };
        apply_change(&mut self.actions[i], change, event);
        Applied::Applied
    }

    /// Why an event with these parts would be skipped, if it would: an unknown type,
    /// an unusable payload, or an action the baseline does not list. Changes nothing.
    pub fn check(&self, action_id: &str, kind: &str, payload: &Value) -> Result<(), String> {
        self.resolve(action_id, kind, payload).map(drop)
    }

    /// Why an event about `action_id` would be skipped for its action, if it would:
    /// the baseline does not list it.
    pub fn check_action(&self, action_id: &str) -> Result<(), String> {
        match self.index.get(action_id) {
            Some(_) => Ok(()),
            None => Err(format!("unknown action {action_id:?}")),
        }
    }

    fn resolve(
        &self,
        action_id: &str,
        kind: &str,
        payload: &Value,
    ) -> Result<(usize, Change), String> {
        let change = read_change(kind, payload)?;
        self.check_action(action_id)?;
        match self.index.get(action_id) {
            Some(&i) => Ok((i, change)),
            None => Err(format!("unknown action {action_id:?}")),
        }
    }

    /// The actions, in baseline order.
    pub fn actions(&self) -> &[ActionState] {
        &self.actions
    }

    /// One action by id.
    pub fn action(&self, id: &str) -> Option<&ActionState> {
        self.index.get(id).map(|&i| &self.actions[i])
    }

    /// How many events were fed in (applied or skipped).
    pub fn events_seen(&self) -> u64 {
        self.events_seen
    }

    /// The actions, in baseline order.
    pub fn into_actions(self) -> Vec<ActionState> {
        self.actions
    }
}

/// The change an event of type `kind` with `payload` makes, or why the fold skips it
/// (an unknown type, an unusable payload), whatever action it is about.
pub fn read_change(kind: &str, payload: &Value) -> Result<Change, String> {
    match Change::from_event(kind, payload) {
        Ok(Some(change)) => Ok(change),
        Ok(None) => Err(format!("unknown event type {kind:?}")),
        Err(e) => Err(e.to_string()),
    }
}

fn apply_change(action: &mut ActionState, change: Change, event: &Event) {
    match change {
        Change::Status(s) => apply_status(action, s),
        Change::Note(text) => apply_note(action, text, event),
        Change::Assignee(a) => apply_assignee(action, a),
        Change::Due(d) => apply_due(action, d),
    }
    action.updated_at = Some(event.at.clone());
    action.updated_by = Some(event.actor.clone());
}

fn apply_status(action: &mut ActionState, status: Status) {
    action.status = status;
}

fn apply_note(action: &mut ActionState, text: String, event: &Event) {
    action.note_count += 1;
    action.notes.push(Note {
        text,
        actor: event.actor.clone(),
        at: event.at.clone(),
    });
}

fn apply_assignee(action: &mut ActionState, assignee: Option<String>) {
    action.assignee = assignee;
}

fn apply_due(action: &mut ActionState, due: Option<String>) {
    action.due = due;
}

/// The current state of every action: `events` folded over `baseline`, in order.
pub fn apply_events(baseline: &Baseline, events: &[Event]) -> Vec<ActionState> {
    let mut state = ComplianceState::from_baseline(baseline);
    for e in events {
        state.apply(e);
    }
    state.into_actions()
}

/// One action's current state: the events about it folded over its baseline, in
/// order (events about other actions, and those the fold skips, change nothing).
pub fn action_state(action: &BaselineAction, events: &[Event]) -> ActionState {
    let mut state = ActionState::from_baseline(action);
    for e in events.iter().filter(|e| e.action_id == action.id) {
        if let Ok(Some(change)) = Change::from_event(&e.kind, &e.payload) {
            apply_change(&mut state, change, e);
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::compliance::{BaselineAction, PropertyInfo};
    use serde_json::json;

    fn baseline() -> Baseline {
        let action = |id: &str, status| BaselineAction {
            id: id.into(),
            title: format!("Title {id}"),
            category: "Fire".into(),
            status,
            due: Some("2026-05-01".into()),
            source: Some("Lease 12.3".into()),
        };
        Baseline {
            property: PropertyInfo {
                slug: "p".into(),
                name: "P".into(),
            },
            actions: vec![
                action("ACT-001", Status::Open),
                action("ACT-002", Status::Blocked),
            ],
        }
    }

    fn ev(n: u32, action: &str, kind: &str, payload: Value) -> Event {
        Event {
            event_id: format!("e{n}"),
            action_id: action.into(),
            kind: kind.into(),
            payload,
            actor: "kim".into(),
            at: format!("2026-04-0{n}T10:00:00Z"),
            extra: Default::default(),
        }
    }

    #[test]
    fn no_events_gives_the_baseline() {
        let actions = apply_events(&baseline(), &[]);
        assert_eq!(actions[0].status, Status::Open);
        assert_eq!(actions[1].status, Status::Blocked);
        assert_eq!(actions[0].updated_at, None);
    }

    #[test]
    fn status_changed_sets_the_status() {
        let a = apply_events(
            &baseline(),
            &[
                ev(
                    1,
                    "ACT-001",
                    "status_changed",
                    json!({"status": "in_progress"}),
                ),
                ev(2, "ACT-001", "status_changed", json!({"status": "done"})),
            ],
        );
        assert_eq!(a[0].status, Status::Done);
        assert_eq!(a[0].updated_at.as_deref(), Some("2026-04-02T10:00:00Z"));
        assert_eq!(
            a[0].updated_by.as_deref(),
            Some("kim"),
            "the last change's actor"
        );
        assert_eq!(a[1].status, Status::Blocked, "other actions untouched");
    }

    #[test]
    fn note_added_appends_notes_in_order() {
        let a = apply_events(
            &baseline(),
            &[
                ev(1, "ACT-002", "note_added", json!({"note": "called vendor"})),
                ev(2, "ACT-002", "note_added", json!({"note": "vendor booked"})),
            ],
        );
        let notes: Vec<_> = a[1].notes.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(notes, ["called vendor", "vendor booked"]);
        assert_eq!(a[1].notes[0].actor, "kim");
    }

    #[test]
    fn assignee_changed_sets_and_clears() {
        let set = [ev(
            1,
            "ACT-001",
            "assignee_changed",
            json!({"assignee": "lee"}),
        )];
        assert_eq!(
            apply_events(&baseline(), &set)[0].assignee.as_deref(),
            Some("lee")
        );
        let cleared = [
            set[0].clone(),
            ev(2, "ACT-001", "assignee_changed", json!({"assignee": null})),
        ];
        assert_eq!(apply_events(&baseline(), &cleared)[0].assignee, None);
    }

    #[test]
    fn due_changed_sets_and_clears() {
        let a = apply_events(
            &baseline(),
            &[ev(
                1,
                "ACT-001",
                "due_changed",
                json!({"due": "2026-07-01"}),
            )],
        );
        assert_eq!(a[0].due.as_deref(), Some("2026-07-01"));
        let a = apply_events(
            &baseline(),
            &[ev(1, "ACT-001", "due_changed", json!({"due": null}))],
        );
        assert_eq!(a[0].due, None);
    }

    #[test]
    fn unknown_types_bad_payloads_and_unknown_actions_are_skipped() {
        let mut state = ComplianceState::from_baseline(&baseline());
        assert!(matches!(
            state.apply(&ev(1, "ACT-001", "photo_added", json!({"url": "x"}))),
            Applied::Skipped(r) if r.contains("unknown event type")
        ));
        assert!(matches!(
            state.apply(&ev(
                2,
                "ACT-001",
                "status_changed",
                json!({"status": "finished"})
            )),
            Applied::Skipped(_)
        ));
        assert!(matches!(
            state.apply(&ev(3, "ACT-999", "status_changed", json!({"status": "done"}))),
            Applied::Skipped(r) if r.contains("unknown action")
        ));
        assert_eq!(
            state.apply(&ev(
                4,
                "ACT-001",
                "status_changed",
                json!({"status": "waived"})
            )),
            Applied::Applied
        );
        assert_eq!(state.events_seen(), 4);
        assert_eq!(state.action("ACT-001").unwrap().status, Status::Waived);
        assert_eq!(
            state.action("ACT-001").unwrap().updated_at.as_deref(),
            Some("2026-04-04T10:00:00Z")
        );
    }

    #[test]
    fn one_actions_state_is_the_whole_folds_state_of_it() {
        let events = [
            ev(1, "ACT-001", "status_changed", json!({"status": "blocked"})),
            ev(2, "ACT-002", "note_added", json!({"note": "not mine"})),
            ev(3, "ACT-001", "photo_added", json!({})),
            ev(4, "ACT-001", "assignee_changed", json!({"assignee": "lee"})),
            ev(5, "ACT-001", "note_added", json!({"note": "mine"})),
        ];
        let b = baseline();
        let whole = apply_events(&b, &events);
        assert_eq!(action_state(&b.actions[0], &events), whole[0]);
        assert_eq!(action_state(&b.actions[1], &events), whole[1]);
    }

    #[test]
    fn overdue_means_active_and_past_due() {
        let today: jiff::civil::Date = "2026-06-01".parse().unwrap();
        let a = apply_events(&baseline(), &[]);
        assert!(a[0].is_overdue(today));
        let done = apply_events(
            &baseline(),
            &[ev(
                1,
                "ACT-001",
                "status_changed",
                json!({"status": "done"}),
            )],
        );
        assert!(!done[0].is_overdue(today));
        assert!(!a[0].is_overdue("2026-04-01".parse().unwrap()));
    }
}
