//! An event encoded as the stores keep it: [`EventRecord`] holds an event's JSON
//! parts as compact text (object keys in order), one column each. SQLite stores it as
//! its row; the legacy log derives the ids of events without one from this encoding,
//! and an import hands records from one to the other, encoding each payload once.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::domain::Event;

/// An event with its JSON parts encoded as text, one column each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventRecord {
    /// Unique id.
    pub event_id: String,
    /// The action it is about.
    pub action_id: String,
    /// The event type.
    pub kind: String,
    /// The payload as compact JSON.
    pub payload: String,
    /// Who did it.
    pub actor: String,
    /// When (RFC 3339), as written.
    pub at: String,
    /// The other fields as a compact JSON object (`{}` when none).
    pub extra: String,
}

impl From<&Event> for EventRecord {
    fn from(e: &Event) -> Self {
        let mut extra = String::new();
        write_extra(&mut extra, e.extra.clone());
        EventRecord {
            event_id: e.event_id.clone(),
            action_id: e.action_id.clone(),
            kind: e.kind.clone(),
            payload: e.payload.to_string(),
            actor: e.actor.clone(),
            at: e.at.clone(),
            extra,
        }
    }
}

/// Replaces `out` with `value` as compact JSON (object keys in order: canonical).
pub(crate) fn write_json(out: &mut String, value: &Value) {
    out.clear();
    // Writing to a String cannot fail.
    let _ = write!(out, "{value}");
}

/// Replaces `out` with `extra` as stored: a compact JSON object, keys in order.
pub(crate) fn write_extra(out: &mut String, extra: BTreeMap<String, Value>) {
    if extra.is_empty() {
        out.clear();
        out.push_str("{}");
    } else {
        write_json(out, &Value::Object(extra.into_iter().collect()));
    }
}

pub(crate) fn set_text(out: &mut String, text: &str) {
    out.clear();
    out.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_of_an_event_encodes_its_json_parts() {
        let e = Event {
            event_id: "e1".into(),
            action_id: "A".into(),
            kind: "note_added".into(),
            payload: json!({"note": "hi"}),
            actor: "kim".into(),
            at: "t".into(),
            extra: [("channel".to_string(), json!("sms"))]
                .into_iter()
                .collect(),
        };
        let r = EventRecord::from(&e);
        assert_eq!(r.payload, r#"{"note":"hi"}"#);
        assert_eq!(r.extra, r#"{"channel":"sms"}"#);
        assert_eq!(r.event_id, "e1");
    }
}
