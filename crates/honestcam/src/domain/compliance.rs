//! The compliance data model: baseline actions, events, statuses, changes and the
//! state of an action. Pure data and rules: no I/O, no clock, no logging; the legacy
//! wire format lives with the legacy storage, the row format with SQLite.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The state of a compliance action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not started.
    Open,
    /// Being worked on.
    InProgress,
    /// Waiting on something outside the team.
    Blocked,
    /// Finished.
    Done,
    /// Formally not required.
    Waived,
}

impl Status {
    /// Every status, in display order.
    pub const ALL: [Status; 5] = [
        Status::Open,
        Status::InProgress,
        Status::Blocked,
        Status::Done,
        Status::Waived,
    ];

    /// The wire name (`in_progress`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Blocked => "blocked",
            Status::Done => "done",
            Status::Waived => "waived",
        }
    }

    /// The name people read (`In progress`), on every page.
    pub fn label(self) -> &'static str {
        match self {
            Status::Open => "Open",
            Status::InProgress => "In progress",
            Status::Blocked => "Blocked",
            Status::Done => "Done",
            Status::Waived => "Waived",
        }
    }

    /// Whether the action still needs doing.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::InProgress | Status::Blocked)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text is not a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid status {0:?}: expected one of open, in_progress, blocked, done, waived")]
pub struct StatusError(pub String);

impl FromStr for Status {
    type Err = StatusError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| StatusError(s.to_string()))
    }
}

/// The property named in a baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyInfo {
    /// The property's slug as ingest wrote it.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// One action as ingest listed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineAction {
    /// Stable id, e.g. `ACT-001`.
    pub id: String,
    /// What must be done.
    pub title: String,
    /// Grouping, e.g. "Fire safety".
    pub category: String,
    /// Status at ingest.
    pub status: Status,
    /// Due date (`YYYY-MM-DD`), if any.
    #[serde(default)]
    pub due: Option<String>,
    /// Where the obligation comes from, e.g. "Lease 12.3".
    #[serde(default)]
    pub source: Option<String>,
}

/// `compliance.json`: the property and its baseline actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// The property.
    pub property: PropertyInfo,
    /// Its actions, in ingest order.
    pub actions: Vec<BaselineAction>,
}

impl Baseline {
    /// The action with this id.
    pub fn action(&self, id: &str) -> Option<&BaselineAction> {
        self.actions.iter().find(|a| a.id == id)
    }

    /// Checks what serde cannot: a property name, and actions with distinct,
    /// non-empty ids, titles and valid due dates. The error names the field at fault.
    pub fn validate(&self) -> Result<(), BaselineError> {
        let bad = |field: String, reason: &str| {
            Err(BaselineError {
                field,
                reason: reason.to_string(),
            })
        };
        if self.property.name.trim().is_empty() {
            return bad("property.name".into(), "must not be empty");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, a) in self.actions.iter().enumerate() {
            if a.id.trim().is_empty() {
                return bad(format!("actions[{i}].id"), "must not be empty");
            }
            if !seen.insert(a.id.as_str()) {
                return bad(
                    format!("actions[{i}].id"),
                    &format!("{:?} is used by an earlier action", a.id),
                );
            }
            if a.title.trim().is_empty() {
                return bad(format!("actions[{i}].title"), "must not be empty");
            }
            if let Some(due) = &a.due
                && due.parse::<jiff::civil::Date>().is_err()
            {
                return bad(
                    format!("actions[{i}].due"),
                    &format!("{due:?} is not a date (YYYY-MM-DD)"),
                );
            }
        }
        Ok(())
    }
}

/// Why a baseline is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct BaselineError {
    /// The field at fault, e.g. `actions[3].due`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

/// One entry of the compliance log. Unknown types and extra fields are kept verbatim.
///
/// The legacy JSON backend reads it field by field (its own `Deserialize`), so a large
/// log parses without buffering each event first, as `#[serde(flatten)]` would.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Unique id; re-importing an event with a known id is a no-op.
    pub event_id: String,
    /// The action it is about.
    pub action_id: String,
    /// `status_changed`, `note_added`, `assignee_changed`, `due_changed`, or anything
    /// else (kept, skipped by the fold).
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific data (`null` when absent).
    pub payload: Value,
    /// Who did it.
    pub actor: String,
    /// When (RFC 3339), kept as written.
    pub at: String,
    /// Any other fields, kept so that an export writes them back.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A known event's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `status_changed {"status": "..."}`.
    Status(Status),
    /// `note_added {"note": "..."}`.
    Note(String),
    /// `assignee_changed {"assignee": "..." | null}`.
    Assignee(Option<String>),
    /// `due_changed {"due": "YYYY-MM-DD" | null}`.
    Due(Option<String>),
}

/// Why a known event type carries an unusable payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// A required field is missing or has the wrong type.
    #[error("{kind} needs a {field:?} field of type {expected}")]
    Field {
        /// The event type.
        kind: &'static str,
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// The status is not one of the five.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The date is not `YYYY-MM-DD`.
    #[error("invalid due date {0:?}: expected YYYY-MM-DD")]
    Date(String),
    /// A note must say something.
    #[error("a note cannot be empty")]
    EmptyNote,
    /// A new note or assignee is longer than its bound ([`MAX_NOTE_CHARS`],
    /// [`MAX_ASSIGNEE_CHARS`]).
    #[error(transparent)]
    TooLong(#[from] TooLong),
}

pub use super::text::{MAX_ASSIGNEE_CHARS, MAX_NOTE_CHARS};
use super::text::{TooLong, check};

impl Change {
    /// Event type names the fold understands.
    pub const KINDS: [&'static str; 4] = [
        "status_changed",
        "note_added",
        "assignee_changed",
        "due_changed",
    ];

    /// The meaning of an event; `Ok(None)` for a type the fold does not know.
    pub fn from_event(kind: &str, payload: &Value) -> Result<Option<Change>, PayloadError> {
        let field = |name| payload.get(name);
        Ok(Some(match kind {
            "status_changed" => {
                let s = field("status")
                    .and_then(Value::as_str)
                    .ok_or(PayloadError::Field {
                        kind: "status_changed",
                        field: "status",
                        expected: "string",
                    })?;
                Change::Status(s.parse()?)
            }
            "note_added" => {
                let s = field("note")
                    .and_then(Value::as_str)
                    .ok_or(PayloadError::Field {
                        kind: "note_added",
                        field: "note",
                        expected: "string",
                    })?;
                if s.trim().is_empty() {
                    return Err(PayloadError::EmptyNote);
                }
                Change::Note(s.to_string())
            }
            "assignee_changed" => match field("assignee") {
                Some(Value::String(s)) if !s.trim().is_empty() => Change::Assignee(Some(s.clone())),
                Some(Value::String(_)) | Some(Value::Null) | None => Change::Assignee(None),
                Some(_) => {
                    return Err(PayloadError::Field {
                        kind: "assignee_changed",
                        field: "assignee",
                        expected: "string or null",
                    });
                }
            },
            "due_changed" => match field("due") {
                Some(Value::String(s)) => {
                    s.parse::<jiff::civil::Date>()
                        .map_err(|_| PayloadError::Date(s.clone()))?;
                    Change::Due(Some(s.clone()))
                }
                Some(Value::Null) | None => Change::Due(None),
                Some(_) => {
                    return Err(PayloadError::Field {
                        kind: "due_changed",
                        field: "due",
                        expected: "YYYY-MM-DD or null",
                    });
                }
            },
            _ => return Ok(None),
        }))
    }

    /// Checks a change someone is making now (the fold accepts more, so that old
    /// logs keep folding): a note within [`MAX_NOTE_CHARS`], an assignee within
    /// [`MAX_ASSIGNEE_CHARS`]. Values already in the log are kept whatever their
    /// length (and shortened where they are shown).
    pub fn check_new(&self) -> Result<(), PayloadError> {
        match self {
            Change::Note(n) => check("a note", n, MAX_NOTE_CHARS)?,
            Change::Assignee(Some(a)) => check("an assignee", a, MAX_ASSIGNEE_CHARS)?,
            Change::Status(_) | Change::Assignee(None) | Change::Due(_) => {}
        }
        Ok(())
    }

    /// The event type and payload that record this change.
    pub fn to_wire(&self) -> (&'static str, Value) {
        use serde_json::json;
        match self {
            Change::Status(s) => ("status_changed", json!({ "status": s.as_str() })),
            Change::Note(n) => ("note_added", json!({ "note": n })),
            Change::Assignee(a) => ("assignee_changed", json!({ "assignee": a })),
            Change::Due(d) => ("due_changed", json!({ "due": d })),
        }
    }
}

/// A note on an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// What was said.
    pub text: String,
    /// Who said it.
    pub actor: String,
    /// When.
    pub at: String,
}

/// An action's current state: the baseline with every event applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionState {
    /// Stable id.
    pub id: String,
    /// What must be done.
    pub title: String,
    /// Grouping.
    pub category: String,
    /// Current status.
    pub status: Status,
    /// Current due date (`YYYY-MM-DD`).
    pub due: Option<String>,
    /// Origin of the obligation.
    pub source: Option<String>,
    /// Who is on it.
    pub assignee: Option<String>,
    /// Notes, oldest first: every note when folded from the log, the latest
    /// [`crate::domain::projection::KEPT_NOTES`] when read from the projection.
    pub notes: Vec<Note>,
    /// How many notes the action has in all (`notes` may hold only the latest).
    pub note_count: u64,
    /// Time of the last event applied, if any.
    pub updated_at: Option<String>,
    /// Who made the last change applied, if any: the audit trail's actor.
    pub updated_by: Option<String>,
}

impl ActionState {
    /// The state before any event.
    pub fn from_baseline(a: &BaselineAction) -> ActionState {
        ActionState {
            id: a.id.clone(),
            title: a.title.clone(),
            category: a.category.clone(),
            status: a.status,
            due: a.due.clone(),
            source: a.source.clone(),
            assignee: None,
            notes: Vec::new(),
            note_count: 0,
            updated_at: None,
            updated_by: None,
        }
    }

    /// Whether recording `change` would change this action: a status, assignee or
    /// due date equal to the current one changes nothing; a note always adds.
    pub fn would_change(&self, change: &Change) -> bool {
        match change {
            Change::Status(s) => *s != self.status,
            Change::Note(_) => true,
            Change::Assignee(a) => *a != self.assignee,
            Change::Due(d) => *d != self.due,
        }
    }

    /// The due date, if there is one and it is a date.
    pub fn due_date(&self) -> Option<jiff::civil::Date> {
        self.due.as_deref().and_then(|d| d.parse().ok())
    }

    /// Whether the action is active and its due date is before `today`.
    pub fn is_overdue(&self, today: jiff::civil::Date) -> bool {
        self.status.is_active() && self.due_date().is_some_and(|d| d < today)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn baseline(json: Value) -> Baseline {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_baseline_names_the_field_at_fault() {
        let ok = json!({"property": {"slug": "p", "name": "P"}, "actions": [
            {"id": "A", "title": "a", "category": "c", "status": "open", "due": "2026-01-02"}]});
        assert_eq!(baseline(ok.clone()).validate(), Ok(()));
        let mut cases = Vec::new();
        let mut no_name = ok.clone();
        no_name["property"]["name"] = json!(" ");
        cases.push((no_name, "property.name"));
        let mut twice = ok.clone();
        twice["actions"] = json!([ok["actions"][0], ok["actions"][0]]);
        cases.push((twice, "actions[1].id"));
        let mut bad_due = ok.clone();
        bad_due["actions"][0]["due"] = json!("soon");
        cases.push((bad_due, "actions[0].due"));
        let mut no_title = ok;
        no_title["actions"][0]["title"] = json!("");
        cases.push((no_title, "actions[0].title"));
        for (b, field) in cases {
            let err = baseline(b).validate().unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn a_change_to_the_current_value_changes_nothing() {
        let a = ActionState::from_baseline(&BaselineAction {
            id: "A".into(),
            title: "t".into(),
            category: "c".into(),
            status: Status::Open,
            due: Some("2026-01-02".into()),
            source: None,
        });
        assert!(!a.would_change(&Change::Status(Status::Open)));
        assert!(a.would_change(&Change::Status(Status::Done)));
        assert!(!a.would_change(&Change::Assignee(None)));
        assert!(a.would_change(&Change::Assignee(Some("kim".into()))));
        assert!(!a.would_change(&Change::Due(Some("2026-01-02".into()))));
        assert!(a.would_change(&Change::Note("n".into())));
    }

    #[test]
    fn change_parses_known_types_and_ignores_unknown() {
        assert_eq!(
            Change::from_event("status_changed", &json!({"status": "in_progress"})).unwrap(),
            Some(Change::Status(Status::InProgress))
        );
        assert_eq!(Change::from_event("photo_added", &json!({})).unwrap(), None);
        assert!(matches!(
            Change::from_event("status_changed", &json!({"status": "finished"})),
            Err(PayloadError::Status(_))
        ));
        assert!(matches!(
            Change::from_event("due_changed", &json!({"due": "May 1"})),
            Err(PayloadError::Date(_))
        ));
        assert_eq!(Change::Note("x".repeat(MAX_NOTE_CHARS)).check_new(), Ok(()));
        for change in [
            Change::Status(Status::Done),
            Change::Note("n".into()),
            Change::Assignee(Some("kim".into())),
            Change::Assignee(None),
            Change::Due(Some("2026-05-01".into())),
            Change::Due(None),
        ] {
            let (kind, payload) = change.to_wire();
            assert_eq!(Change::from_event(kind, &payload).unwrap(), Some(change));
        }
    }

    #[test]
    fn a_new_note_or_assignee_beyond_its_bound_is_refused_naming_field_and_bound() {
        let note = Change::Note("x".repeat(MAX_NOTE_CHARS + 1)).check_new();
        assert_eq!(
            note.unwrap_err().to_string(),
            format!(
                "a note can have at most {MAX_NOTE_CHARS} characters, this one has {}",
                MAX_NOTE_CHARS + 1
            )
        );
        let assignee = Change::Assignee(Some("é".repeat(5_000))).check_new();
        assert_eq!(
            assignee.unwrap_err().to_string(),
            "an assignee can have at most 200 characters, this one has 5000"
        );
        // Exactly the bound is accepted (characters, not bytes).
        for ok in [
            Change::Note("é".repeat(MAX_NOTE_CHARS)),
            Change::Assignee(Some("é".repeat(MAX_ASSIGNEE_CHARS))),
            Change::Assignee(None),
            Change::Status(Status::Done),
            Change::Due(Some("2026-05-01".into())),
        ] {
            assert_eq!(ok.check_new(), Ok(()), "{ok:?}");
        }
        // The fold still reads a long assignee already in the log.
        let long = json!({"assignee": "x".repeat(5_000)});
        assert_eq!(
            Change::from_event("assignee_changed", &long).unwrap(),
            Some(Change::Assignee(Some("x".repeat(5_000))))
        );
    }
}
