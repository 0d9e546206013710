//! An action's history: each of its events told as what it changed, from what to
//! what, folding as it goes (so a due date change knows the date before it). The
//! words are the web layer's; this says what happened.

use super::compliance::{BaselineAction, Change, Event, Status};

/// What one event did to an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// `status_changed`.
    Status {
        /// The status before.
        from: Status,
        /// The status after.
        to: Status,
    },
    /// `assignee_changed`.
    Assignee {
        /// Who was on it before.
        from: Option<String>,
        /// Who is on it after.
        to: Option<String>,
    },
    /// `due_changed`.
    Due {
        /// The due date before.
        from: Option<String>,
        /// The due date after.
        to: Option<String>,
    },
    /// `note_added`.
    Note(String),
    /// An event of a type the fold does not know: kept, not applied.
    Unknown {
        /// Its type.
        kind: String,
    },
    /// A known type whose payload cannot be applied: kept, not applied.
    Invalid {
        /// Its type.
        kind: String,
        /// Why.
        reason: String,
    },
}

/// One event of an action's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The event's id.
    pub event_id: String,
    /// Who did it.
    pub actor: String,
    /// When (RFC 3339, as stored).
    pub at: String,
    /// What it did.
    pub what: What,
}

/// The history of `action`: one entry per event about it in `events`, oldest first
/// (events about other actions are left out).
pub fn history(action: &BaselineAction, events: &[Event]) -> Vec<Entry> {
    let mut status = action.status;
    let mut assignee: Option<String> = None;
    let mut due = action.due.clone();
    events
        .iter()
        .filter(|e| e.action_id == action.id)
        .map(|e| {
            let what = match Change::from_event(&e.kind, &e.payload) {
                Ok(Some(Change::Status(to))) => What::Status {
                    from: std::mem::replace(&mut status, to),
                    to,
                },
                Ok(Some(Change::Assignee(to))) => What::Assignee {
                    from: std::mem::replace(&mut assignee, to.clone()),
                    to,
                },
                Ok(Some(Change::Due(to))) => What::Due {
                    from: std::mem::replace(&mut due, to.clone()),
                    to,
                },
                Ok(Some(Change::Note(text))) => What::Note(text),
                Ok(None) => What::Unknown {
                    kind: e.kind.clone(),
                },
                Err(reason) => What::Invalid {
                    kind: e.kind.clone(),
                    reason: reason.to_string(),
                },
            };
            Entry {
                event_id: e.event_id.clone(),
                actor: e.actor.clone(),
                at: e.at.clone(),
                what,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn ev(n: u32, action: &str, kind: &str, payload: Value) -> Event {
        Event {
            event_id: format!("e{n}"),
            action_id: action.into(),
            kind: kind.into(),
            payload,
            actor: "maria".into(),
            at: format!("2026-04-0{n}T10:00:00Z"),
            extra: Default::default(),
        }
    }

    #[test]
    fn each_event_says_what_it_changed_from_what() {
        let action = BaselineAction {
            id: "A".into(),
            title: "t".into(),
            category: "c".into(),
            status: Status::Open,
            due: Some("2026-05-01".into()),
            source: None,
        };
        let events = [
            ev(1, "A", "status_changed", json!({"status": "in_progress"})),
            ev(2, "B", "status_changed", json!({"status": "done"})),
            ev(3, "A", "due_changed", json!({"due": "2026-06-01"})),
            ev(4, "A", "assignee_changed", json!({"assignee": "kim"})),
            ev(5, "A", "assignee_changed", json!({"assignee": null})),
            ev(6, "A", "note_added", json!({"note": "called"})),
            ev(7, "A", "photo_added", json!({})),
            ev(8, "A", "status_changed", json!({"status": "finished"})),
            ev(9, "A", "status_changed", json!({"status": "done"})),
        ];
        let whats: Vec<What> = history(&action, &events)
            .into_iter()
            .map(|e| e.what)
            .collect();
        assert_eq!(
            whats,
            [
                What::Status {
                    from: Status::Open,
                    to: Status::InProgress
                },
                What::Due {
                    from: Some("2026-05-01".into()),
                    to: Some("2026-06-01".into())
                },
                What::Assignee {
                    from: None,
                    to: Some("kim".into())
                },
                What::Assignee {
                    from: Some("kim".into()),
                    to: None
                },
                What::Note("called".into()),
                What::Unknown {
                    kind: "photo_added".into()
                },
                What::Invalid {
                    kind: "status_changed".into(),
                    reason: "invalid status \"finished\": expected one of open, in_progress, blocked, done, waived".into()
                },
                What::Status {
                    from: Status::InProgress,
                    to: Status::Done
                },
            ]
        );
    }
}
