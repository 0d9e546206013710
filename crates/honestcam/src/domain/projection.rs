//! The projection: what the events of each action changed, folded, so that the
//! current state of an action is one row instead of its whole history.
//!
//! Every event type the fold knows replaces one field (status, assignee, due date)
//! or adds a note, so what the log did to an action is, per field, the value the
//! last valid event set, plus the notes. [`ActionChanges`] keeps exactly that (the
//! latest [`KEPT_NOTES`] notes and a count of all of them) and nothing from the
//! baseline: laid over any baseline entry ([`ActionChanges::state`]) it gives the
//! fold of the same events over that entry, so a changed `compliance.json` never
//! makes the projection stale. Events the fold skips for their type or payload
//! change nothing here either; events about an action the baseline does not list are
//! kept per action id, as the fold would apply them if the baseline gained it.
//!
//! The log stays the only source of truth: [`Projection::fold`] rebuilds the whole
//! projection from it, and the stored one is checked against that fold.

use std::collections::BTreeMap;

use serde_json::Value;

use super::compliance::{ActionState, BaselineAction, Change, Event, Note, Status};

/// Notes an action's projection keeps (newest last), as many as its card shows.
pub const KEPT_NOTES: usize = 3;

/// What the events about one action changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionChanges {
    /// The status the last status event set, if any.
    pub status: Option<Status>,
    /// The assignee the last assignee event set (`Some(None)`: removed), if any.
    pub assignee: Option<Option<String>>,
    /// The due date the last due event set (`Some(None)`: removed), if any.
    pub due: Option<Option<String>>,
    /// Every note added.
    pub note_count: u64,
    /// The latest notes, oldest first, at most [`KEPT_NOTES`].
    pub latest_notes: Vec<Note>,
    /// When the last applied event was written.
    pub updated_at: Option<String>,
    /// Who wrote the last applied event.
    pub updated_by: Option<String>,
    /// The log position of the last applied event.
    pub last_seq: i64,
}

impl ActionChanges {
    /// Applies `change`, made by `actor` at `at` and stored at log position `seq`.
    pub fn apply(&mut self, seq: i64, change: Change, actor: &str, at: &str) {
        match change {
            Change::Status(s) => self.status = Some(s),
            Change::Assignee(a) => self.assignee = Some(a),
            Change::Due(d) => self.due = Some(d),
            Change::Note(text) => {
                self.note_count += 1;
                if self.latest_notes.len() == KEPT_NOTES {
                    self.latest_notes.remove(0);
                }
                self.latest_notes.push(Note {
                    text,
                    actor: actor.to_string(),
                    at: at.to_string(),
                });
            }
        }
        set_text(&mut self.updated_at, at);
        set_text(&mut self.updated_by, actor);
        self.last_seq = seq;
    }

    /// `action` with these changes laid over it: its current state, except that only
    /// the latest notes are there ([`ActionChanges::note_count`] counts them all).
    pub fn state(&self, action: &BaselineAction) -> ActionState {
        let mut state = ActionState::from_baseline(action);
        if let Some(s) = self.status {
            state.status = s;
        }
        if let Some(a) = &self.assignee {
            state.assignee.clone_from(a);
        }
        if let Some(d) = &self.due {
            state.due.clone_from(d);
        }
        state.notes.clone_from(&self.latest_notes);
        state.note_count = self.note_count;
        state.updated_at.clone_from(&self.updated_at);
        state.updated_by.clone_from(&self.updated_by);
        state
    }
}

fn set_text(field: &mut Option<String>, text: &str) {
    match field {
        Some(s) => {
            s.clear();
            s.push_str(text);
        }
        None => *field = Some(text.to_string()),
    }
}

/// Every action's changes, by action id, and the log position they cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    actions: BTreeMap<String, ActionChanges>,
    /// Every event at or before this log position is folded in.
    position: i64,
}

impl Projection {
    /// The projection of no events.
    pub fn new() -> Projection {
        Projection::default()
    }

    /// The projection of `events`, each with its log position, in order.
    pub fn fold<'a>(events: impl IntoIterator<Item = (i64, &'a Event)>) -> Projection {
        let mut p = Projection::new();
        for (seq, e) in events {
            p.apply_event(seq, &e.action_id, &e.kind, &e.payload, &e.actor, &e.at);
        }
        p
    }

    /// Folds in one event stored at `seq` (after every event folded so far). An event
    /// the fold would skip for its type or payload moves only the position.
    pub fn apply_event(
        &mut self,
        seq: i64,
        action_id: &str,
        kind: &str,
        payload: &Value,
        actor: &str,
        at: &str,
    ) {
        if let Ok(Some(change)) = Change::from_event(kind, payload) {
            self.apply(seq, action_id, change, actor, at);
        }
        self.position = self.position.max(seq);
    }

    /// Folds in a change already read from an event stored at `seq`.
    pub fn apply(&mut self, seq: i64, action_id: &str, change: Change, actor: &str, at: &str) {
        match self.actions.get_mut(action_id) {
            Some(a) => a.apply(seq, change, actor, at),
            None => {
                let mut a = ActionChanges::default();
                a.apply(seq, change, actor, at);
                self.actions.insert(action_id.to_string(), a);
            }
        }
        self.position = self.position.max(seq);
    }

    /// Moves the covered position to `seq` (events there changed nothing).
    pub fn cover(&mut self, seq: i64) {
        self.position = self.position.max(seq);
    }

    /// The changes of one action (`None`: no event changed it).
    pub fn action(&self, action_id: &str) -> Option<&ActionChanges> {
        self.actions.get(action_id)
    }

    /// Every action that some event changed, by id.
    pub fn actions(&self) -> impl ExactSizeIterator<Item = (&String, &ActionChanges)> {
        self.actions.iter()
    }

    /// The last log position folded in (0 for none).
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Builds a projection from stored parts.
    pub fn from_parts(
        actions: impl IntoIterator<Item = (String, ActionChanges)>,
        position: i64,
    ) -> Projection {
        Projection {
            actions: actions.into_iter().collect(),
            position,
        }
    }

    /// How `self` (stored) differs from `expected` (a fresh fold), one line per
    /// difference; empty when they are equal.
    pub fn differences(&self, expected: &Projection) -> Vec<String> {
        let mut out = Vec::new();
        if self.position != expected.position {
            out.push(format!(
                "covers the log up to position {}, the log ends at {}",
                self.position, expected.position
            ));
        }
        for (id, want) in &expected.actions {
            match self.actions.get(id) {
                None => out.push(format!("action {id:?} is missing")),
                Some(got) if got != want => {
                    out.push(format!("action {id:?} is {got:?}, the log says {want:?}"))
                }
                Some(_) => {}
            }
        }
        for id in self.actions.keys() {
            if !expected.actions.contains_key(id) {
                out.push(format!("action {id:?} has changes no event made"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::compliance::{Baseline, PropertyInfo};
    use crate::domain::fold::apply_events;
    use proptest::prelude::*;
    use serde_json::json;

    fn baseline() -> Baseline {
        let action = |id: &str, status, due: Option<&str>| BaselineAction {
            id: id.into(),
            title: format!("Title {id}"),
            category: "Fire".into(),
            status,
            due: due.map(Into::into),
            source: None,
        };
        Baseline {
            property: PropertyInfo {
                slug: "p".into(),
                name: "P".into(),
            },
            actions: vec![
                action("A", Status::Open, Some("2026-05-01")),
                action("B", Status::Blocked, None),
            ],
        }
    }

    /// An event of any kind the log may hold, valid or not, about A, B or an action
    /// the baseline does not list.
    fn any_event() -> impl Strategy<Value = (String, String, Value)> {
        let action = prop_oneof![Just("A"), Just("B"), Just("Z")].prop_map(String::from);
        let kind_payload = prop_oneof![
            prop_oneof![Just("open"), Just("done"), Just("waived"), Just("nonsense")]
                .prop_map(|s| ("status_changed".to_string(), json!({ "status": s }))),
            "[a-z ]{0,8}".prop_map(|n| ("note_added".to_string(), json!({ "note": n }))),
            prop_oneof![Just(json!(null)), Just(json!("kim")), Just(json!("ana"))]
                .prop_map(|a| ("assignee_changed".to_string(), json!({ "assignee": a }))),
            prop_oneof![
                Just(json!(null)),
                Just(json!("2026-06-01")),
                Just(json!("June"))
            ]
            .prop_map(|d| ("due_changed".to_string(), json!({ "due": d }))),
            Just(("photo_added".to_string(), json!({"url": "x"}))),
            Just(("status_changed".to_string(), json!({}))),
        ];
        (action, kind_payload).prop_map(|(a, (k, p))| (a, k, p))
    }

    fn events(parts: &[(String, String, Value)]) -> Vec<Event> {
        parts
            .iter()
            .enumerate()
            .map(|(i, (action, kind, payload))| Event {
                event_id: format!("e{i}"),
                action_id: action.clone(),
                kind: kind.clone(),
                payload: payload.clone(),
                actor: format!("actor{}", i % 3),
                at: format!("2026-04-01T10:{:02}:{:02}Z", i / 60 % 60, i % 60),
                extra: Default::default(),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn laid_over_the_baseline_it_is_the_fold_of_the_log(
            parts in proptest::collection::vec(any_event(), 0..60)
        ) {
            let base = baseline();
            let events = events(&parts);
            let p = Projection::fold(events.iter().enumerate().map(|(i, e)| (i as i64 + 1, e)));
            prop_assert_eq!(p.position(), events.len() as i64);
            for (folded, action) in apply_events(&base, &events).into_iter().zip(&base.actions) {
                let projected = p.action(&action.id).cloned().unwrap_or_default();
                let mut state = projected.state(action);
                // Only the latest notes are kept; all of them are counted.
                prop_assert_eq!(projected.note_count as usize, folded.notes.len());
                prop_assert_eq!(folded.note_count as usize, folded.notes.len());
                let skip = folded.notes.len().saturating_sub(KEPT_NOTES);
                prop_assert_eq!(&state.notes[..], &folded.notes[skip..]);
                state.notes = folded.notes.clone();
                prop_assert_eq!(state, folded);
            }
        }
    }

    #[test]
    fn an_action_the_baseline_does_not_list_is_kept_by_id() {
        let e = events(&[(
            "Z".into(),
            "status_changed".into(),
            json!({"status": "done"}),
        )]);
        let p = Projection::fold([(7, &e[0])]);
        assert_eq!(p.action("Z").and_then(|a| a.status), Some(Status::Done));
        assert_eq!(p.action("Z").map(|a| a.last_seq), Some(7));
        assert_eq!(p.position(), 7);
    }

    #[test]
    fn differences_name_each_action_that_differs() {
        let e = events(&[
            (
                "A".into(),
                "status_changed".into(),
                json!({"status": "done"}),
            ),
            ("B".into(), "note_added".into(), json!({"note": "hi"})),
        ]);
        let good = Projection::fold(e.iter().enumerate().map(|(i, e)| (i as i64 + 1, e)));
        assert!(good.differences(&good).is_empty());
        let mut bad = good.clone();
        bad.actions.get_mut("A").unwrap().status = Some(Status::Open);
        bad.actions.remove("B");
        bad.actions.insert("Q".into(), ActionChanges::default());
        bad.position = 1;
        let diff = bad.differences(&good);
        assert_eq!(diff.len(), 4, "{diff:?}");
        assert!(
            diff.iter()
                .any(|d| d.contains("\"A\"") && d.contains("Open"))
        );
        assert!(diff.iter().any(|d| d.contains("\"B\" is missing")));
        assert!(diff.iter().any(|d| d.contains("\"Q\"")));
        assert!(diff.iter().any(|d| d.contains("position 1")));
    }
}
