//! An event in the form the database stores it, and the ids given to legacy events.
//!
//! [`EventRecord`] holds an event's JSON parts already encoded as compact text, so an
//! import encodes each payload once and can drop the parsed value at once.
//! [`LegacyIds`] gives each legacy event without an `event_id` one derived from its
//! content, so re-importing the same log never duplicates anything.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::event_json::LegacyEventRef;
use super::model::{Event, LegacyEvent};

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
fn write_json(out: &mut String, value: &Value) {
    out.clear();
    // Writing to a String cannot fail.
    let _ = write!(out, "{value}");
}

/// Replaces `out` with `extra` as stored: a compact JSON object, keys in order.
fn write_extra(out: &mut String, extra: BTreeMap<String, Value>) {
    if extra.is_empty() {
        out.clear();
        out.push_str("{}");
    } else {
        write_json(out, &Value::Object(extra.into_iter().collect()));
    }
}

fn set_text(out: &mut String, text: &str) {
    out.clear();
    out.push_str(text);
}

/// Assigns ids to the events of one legacy log, which must be fed in log order, and
/// tells which events are the first with their id.
///
/// An event keeps its own `event_id`. One without gets `legacy-` and 32 hex digits of
/// a SHA-256 over its content (each field length-prefixed; JSON parts compact, keys in
/// order), plus `-{n}` for the n-th identical event (n > 1): the same log always yields
/// the same ids, and genuinely repeated events each survive.
///
/// Derived ids are distinct by construction, so only the explicit ids need keeping to
/// spot a repeated id: an import of a log without ids holds one small entry per
/// distinct content, not every id.
#[derive(Debug, Default)]
pub struct LegacyIds {
    /// Events seen so far per derived id prefix (the 128 bits of the digest that go
    /// into the id), so the n-th gets `-{n}`.
    repeats: HashMap<u128, u32, foldhash::fast::RandomState>,
    /// The ids the log gave so far.
    explicit: HashSet<String, foldhash::fast::RandomState>,
}

impl LegacyIds {
    /// The event with its id. Keeps no note of the ids given (it does not say which
    /// event is the first with its id), so reading a log that has ids builds no set of
    /// them; do not mix it with [`LegacyIds::fill`] on one `LegacyIds`.
    pub fn event(&mut self, mut e: LegacyEvent) -> Event {
        let event_id = match e.event_id.take() {
            Some(id) => id,
            None => {
                let (mut payload, mut extra, mut id) =
                    (String::new(), String::new(), String::new());
                write_json(&mut payload, &e.payload);
                write_extra(&mut extra, e.extra.clone());
                self.derive(
                    &mut id,
                    [&e.action_id, &e.kind, &payload, &e.actor, &e.at],
                    &extra,
                );
                id
            }
        };
        e.with_id(event_id)
    }

    /// The event with its id, encoded for storage.
    pub fn record(&mut self, e: LegacyEventRef<'_>) -> EventRecord {
        let mut record = EventRecord::default();
        self.fill(&mut record, e);
        record
    }

    /// Overwrites `record` with the event and its id, reusing the record's buffers (an
    /// import that recycles its records allocates almost nothing per event); returns
    /// whether no earlier event of the log had this id. Each JSON part is encoded once
    /// and serves both the digest and the record.
    pub fn fill(&mut self, record: &mut EventRecord, e: LegacyEventRef<'_>) -> bool {
        let own_id = encode(record, e);
        self.assign(record, own_id)
    }

    /// Gives a record made by [`encode`] its id: its own (`own_id`, as `encode`
    /// returned) or one derived from its content. Returns whether no earlier event of
    /// the log had this id.
    fn assign(&mut self, record: &mut EventRecord, own_id: bool) -> bool {
        let EventRecord {
            event_id,
            action_id,
            kind,
            payload,
            actor,
            at,
            extra,
        } = record;
        if own_id {
            return self.note_own(event_id);
        }
        self.derive(event_id, [action_id, kind, payload, actor, at], extra)
    }

    /// Records an id the log gave; returns whether it is the first of its kind.
    fn note_own(&mut self, id: &str) -> bool {
        if self.explicit.contains(id) {
            return false;
        }
        // An explicit id may spell an id derived earlier.
        if let Some((prefix, n)) = parse_derived_id(id)
            && self.repeats.get(&prefix).is_some_and(|&seen| seen >= n)
        {
            return false;
        }
        self.explicit.insert(id.to_owned());
        true
    }

    /// Writes the id derived from the encoded fields (action, type, payload, actor,
    /// time) and extra fields into `out`; returns whether it is the first of its kind.
    fn derive(&mut self, out: &mut String, fields: [&str; 5], extra: &str) -> bool {
        let mut h = Sha256::new();
        let mut field = |text: &str| {
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        };
        fields.into_iter().for_each(&mut field);
        if extra != "{}" {
            field(extra);
        }
        let digest = h.finalize();
        let mut prefix = [0; 16];
        prefix.copy_from_slice(&digest[..16]);
        let prefix = u128::from_be_bytes(prefix);
        let n = self.repeats.entry(prefix).or_insert(0);
        *n += 1;
        write_derived_id(out, prefix, *n);
        // Derived ids never repeat; an explicit id given earlier may equal this one.
        self.explicit.is_empty() || !self.explicit.contains(out.as_str())
    }
}

/// Overwrites `record` with the event, reusing the record's buffers; its id is left
/// to [`LegacyIds::assign`]. Returns whether the event has its own id (then already
/// in `record.event_id`).
fn encode(record: &mut EventRecord, e: LegacyEventRef<'_>) -> bool {
    set_text(&mut record.action_id, &e.action_id);
    set_text(&mut record.kind, &e.kind);
    write_json(&mut record.payload, &e.payload);
    set_text(&mut record.actor, &e.actor);
    set_text(&mut record.at, &e.at);
    write_extra(&mut record.extra, e.extra);
    match e.event_id {
        Some(id) => {
            set_text(&mut record.event_id, &id);
            true
        }
        None => false,
    }
}

fn write_derived_id(out: &mut String, prefix: u128, occurrence: u32) {
    out.clear();
    out.push_str("legacy-");
    // Writing to a String cannot fail.
    let _ = write!(out, "{prefix:032x}");
    if occurrence > 1 {
        let _ = write!(out, "-{occurrence}");
    }
}

/// The prefix and occurrence of an id spelled as [`write_derived_id`] spells them.
fn parse_derived_id(id: &str) -> Option<(u128, u32)> {
    let rest = id.strip_prefix("legacy-")?;
    let (hex, n) = match rest.split_once('-') {
        None => (rest, 1),
        Some((hex, n)) => {
            let parsed: u32 = n.parse().ok()?;
            // Only the spelling the writer uses: no sign, no leading zero, never 1.
            if parsed < 2 || parsed.to_string() != n {
                return None;
            }
            (hex, parsed)
        }
    };
    if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Some((u128::from_str_radix(hex, 16).ok()?, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::model::LegacyLog;
    use serde_json::json;

    fn legacy(v: Value) -> Vec<LegacyEvent> {
        serde_json::from_value::<LegacyLog>(v).unwrap().events
    }

    fn as_ref(e: &LegacyEvent) -> LegacyEventRef<'_> {
        LegacyEventRef {
            event_id: e.event_id.as_deref().map(Into::into),
            action_id: e.action_id.as_str().into(),
            kind: e.kind.as_str().into(),
            payload: e.payload.clone(),
            actor: e.actor.as_str().into(),
            at: e.at.as_str().into(),
            extra: e.extra.clone(),
        }
    }

    #[test]
    fn derived_ids_are_stable_and_distinguish_repeats() {
        let log = json!({"events": [
            {"action_id": "A", "type": "note_added", "payload": {"note": "x"}, "actor": "a", "at": "t"},
            {"action_id": "A", "type": "note_added", "payload": {"note": "x"}, "actor": "a", "at": "t"},
            {"event_id": "given", "action_id": "A", "type": "note_added", "payload": {"note": "y"}, "actor": "a", "at": "t"}
        ]});
        let mut ids = LegacyIds::default();
        let first: Vec<_> = legacy(log.clone())
            .into_iter()
            .map(|e| ids.event(e).event_id)
            .collect();
        let mut ids = LegacyIds::default();
        let second: Vec<_> = legacy(log)
            .into_iter()
            .map(|e| ids.record(as_ref(&e)).event_id)
            .collect();
        assert_eq!(first, second, "events and records get the same ids");
        // Pinned: ids stored by earlier imports must keep matching.
        assert_eq!(first[0], "legacy-77beb8ace7ffeec677dca37eb7d14753");
        assert_eq!(first[1], "legacy-77beb8ace7ffeec677dca37eb7d14753-2");
        assert_eq!(first[2], "given");
    }

    #[test]
    fn extra_fields_and_key_order_count_in_the_derived_id() {
        let with = |extra: Value| {
            let mut e = json!({"action_id": "A", "type": "x", "payload": {"b": 1, "a": 2}, "actor": "a", "at": "t"});
            e.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let mut ids = LegacyIds::default();
            ids.record(as_ref(&serde_json::from_value(e).unwrap()))
        };
        let plain = with(json!({}));
        assert_eq!(plain.payload, r#"{"a":2,"b":1}"#, "compact, keys in order");
        assert_eq!(plain.extra, "{}");
        let tagged = with(json!({"source": "ui"}));
        assert_eq!(tagged.extra, r#"{"source":"ui"}"#);
        assert_ne!(plain.event_id, tagged.event_id);
    }

    #[test]
    fn only_the_first_event_with_an_id_counts_as_new() {
        let event = |id: Option<&str>, note: &str| {
            let mut e = json!({"action_id": "A", "type": "note_added", "payload": {"note": note}, "actor": "a", "at": "t"});
            if let Some(id) = id {
                e["event_id"] = json!(id);
            }
            serde_json::from_value::<LegacyEvent>(e).unwrap()
        };
        let mut ids = LegacyIds::default();
        let mut r = EventRecord::default();
        let mut feed = |e: LegacyEvent| {
            let first = ids.fill(&mut r, as_ref(&e));
            (r.event_id.clone(), first)
        };
        let (derived, first) = feed(event(None, "x"));
        assert!(first);
        let (again, first) = feed(event(None, "x"));
        assert_eq!(
            (again, first),
            (format!("{derived}-2"), true),
            "a repeat is new"
        );
        assert!(
            !feed(event(Some(&derived), "y")).1,
            "spells an earlier derived id"
        );
        assert!(!feed(event(Some(&format!("{derived}-2")), "y")).1);
        assert!(
            feed(event(Some(&format!("{derived}-3")), "y")).1,
            "not derived yet"
        );
        assert!(!feed(event(None, "x")).1, "derived now, but given before");
        assert!(
            feed(event(Some(&format!("{derived}-1")), "y")).1,
            "never derived"
        );
        assert!(feed(event(Some("e1"), "y")).1);
        assert!(!feed(event(Some("e1"), "z")).1);
    }

    #[test]
    fn derived_ids_parse_back_only_as_written() {
        let prefix = 0x0123_4567_89ab_cdef_0011_2233_4455_6677_u128;
        for n in [1, 2, 10, u32::MAX] {
            let mut id = String::new();
            write_derived_id(&mut id, prefix, n);
            assert_eq!(parse_derived_id(&id), Some((prefix, n)), "{id}");
        }
        let hex = "0123456789abcdef0011223344556677";
        for not_derived in [
            format!("legacy-{hex}-1"),
            format!("legacy-{hex}-02"),
            format!("legacy-{hex}-+2"),
            format!("legacy-{hex}-"),
            format!("legacy-{}", hex.to_uppercase()),
            format!("legacy-{}", &hex[1..]),
            format!("legacy-{hex}0"),
            format!("other-{hex}"),
        ] {
            assert_eq!(parse_derived_id(&not_derived), None, "{not_derived}");
        }
    }

    #[test]
    fn a_refilled_record_holds_nothing_of_the_previous_event() {
        let rich = json!({"event_id": "given-id-that-is-long", "action_id": "ACT-0001",
            "type": "assignee_changed", "payload": {"assignee": "someone"}, "actor": "lee",
            "at": "2026-03-01T00:00:00Z", "channel": "sms"});
        let plain = json!({"action_id": "A", "type": "x", "actor": "a", "at": "t"});
        let mut ids = LegacyIds::default();
        let mut reused = EventRecord::default();
        ids.fill(&mut reused, as_ref(&serde_json::from_value(rich).unwrap()));
        ids.fill(
            &mut reused,
            as_ref(&serde_json::from_value(plain.clone()).unwrap()),
        );
        let fresh = LegacyIds::default().record(as_ref(&serde_json::from_value(plain).unwrap()));
        assert_eq!(reused, fresh);
        assert_eq!(
            (reused.payload.as_str(), reused.extra.as_str()),
            ("null", "{}")
        );
    }

    #[test]
    fn a_record_of_an_event_encodes_its_json_parts() {
        let e: Event = serde_json::from_value(json!({
            "event_id": "e1", "action_id": "A", "type": "note_added",
            "payload": {"note": "hi"}, "actor": "kim", "at": "t", "channel": "sms"
        }))
        .unwrap();
        let r = EventRecord::from(&e);
        assert_eq!(r.payload, r#"{"note":"hi"}"#);
        assert_eq!(r.extra, r#"{"channel":"sms"}"#);
        assert_eq!(r.event_id, "e1");
    }
}
