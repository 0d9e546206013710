//! The ids of legacy events, and the check that no id is used for two events.
//!
//! An event keeps its own `event_id`. One without gets `legacy-` and 32 hex digits of
//! a SHA-256 over its content (each field length-prefixed; JSON parts compact, keys in
//! order), plus `-{n}` for the n-th identical event (n > 1): the same log always yields
//! the same ids, and genuinely repeated events each survive.
//!
//! Two events of one log with the same id are one event written twice when their
//! content is the same (the later is dropped), and an [`IdConflict`] when it differs:
//! keeping either would silently lose the other.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::BuildHasher;

use sha2::{Digest, Sha256};

use super::wire::LegacyEventRef;
use crate::storage::record::{EventRecord, set_text, write_extra, write_json};

/// Two events of one log share an `event_id` but differ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct IdConflict {
    /// The shared id.
    pub id: String,
    /// Position (1-based, in file order) of the earlier event, when it had the id
    /// itself; `None` when the id was derived for an earlier event without one.
    pub first: Option<u64>,
    /// Position of the later event.
    pub second: u64,
}

impl fmt::Display for IdConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let earlier = match self.first {
            Some(n) => format!("event #{n}"),
            None => "an earlier event without an event_id (whose derived id it is)".into(),
        };
        write!(
            f,
            "{earlier} and event #{} share event_id {:?} but differ; give one of them another id",
            self.second, self.id
        )
    }
}

/// Assigns ids to the events of one legacy log, which must be fed in log order, and
/// tells which events are the first with their id.
///
/// Derived ids are distinct by construction, so only the explicit ids are kept (with a
/// hash of their content, to tell a repeat from a conflict): an import of a log
/// without ids holds one small entry per distinct content, not every id.
#[derive(Debug, Default)]
pub struct LegacyIds {
    /// Per derived id prefix (the 128 bits of the digest that go into the id): events
    /// seen so far with that content, so the n-th gets `-{n}`.
    repeats: HashMap<u128, u32, foldhash::fast::RandomState>,
    /// The ids the log gave so far: a hash of the content and the position.
    explicit: HashMap<String, (u64, u64), foldhash::fast::RandomState>,
    /// Events fed so far.
    position: u64,
}

impl LegacyIds {
    /// The event with its id, encoded for storage; `Ok(None)` for a repeat of an
    /// earlier event.
    pub fn record(&mut self, e: LegacyEventRef<'_>) -> Result<Option<EventRecord>, IdConflict> {
        let mut record = EventRecord::default();
        Ok(self.fill(&mut record, e)?.then_some(record))
    }

    /// Overwrites `record` with the event and its id, reusing the record's buffers (an
    /// import that recycles its records allocates almost nothing per event); returns
    /// whether no earlier event of the log had this id (`false`: the same event again).
    /// Each JSON part is encoded once and serves both the digest and the record.
    pub fn fill(
        &mut self,
        record: &mut EventRecord,
        e: LegacyEventRef<'_>,
    ) -> Result<bool, IdConflict> {
        self.position += 1;
        let own_id = encode(record, e);
        if own_id {
            self.note_own(record)
        } else {
            self.derive(record)
        }
    }

    /// How many events were fed.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Records an id the log gave.
    fn note_own(&mut self, r: &EventRecord) -> Result<bool, IdConflict> {
        let content = content_hash(r);
        let conflict = |first| IdConflict {
            id: r.event_id.clone(),
            first,
            second: self.position,
        };
        if let Some(&(seen, at)) = self.explicit.get(r.event_id.as_str()) {
            return if seen == content {
                Ok(false)
            } else {
                Err(conflict(Some(at)))
            };
        }
        // An explicit id may spell an id derived earlier.
        if let Some((prefix, n)) = parse_derived_id(&r.event_id)
            && self.repeats.get(&prefix).is_some_and(|&seen| seen >= n)
        {
            return if derived_prefix(r) == prefix {
                Ok(false)
            } else {
                Err(conflict(None))
            };
        }
        self.explicit
            .insert(r.event_id.clone(), (content, self.position));
        Ok(true)
    }

    /// Writes the id derived from the record's content into its `event_id`.
    fn derive(&mut self, r: &mut EventRecord) -> Result<bool, IdConflict> {
        let prefix = derived_prefix(r);
        let n = self.repeats.entry(prefix).or_insert(0);
        *n += 1;
        write_derived_id(&mut r.event_id, prefix, *n);
        // Derived ids never repeat; an explicit id given earlier may equal this one.
        match self.explicit.get(r.event_id.as_str()) {
            None => Ok(true),
            Some(&(content, _)) if content == content_hash(r) => Ok(false),
            Some(&(_, at)) => Err(IdConflict {
                id: r.event_id.clone(),
                first: Some(at),
                second: self.position,
            }),
        }
    }
}

/// The 128 bits of the SHA-256 over an event's encoded content that name it.
fn derived_prefix(r: &EventRecord) -> u128 {
    let mut h = Sha256::new();
    let mut field = |text: &str| {
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    };
    for text in [&r.action_id, &r.kind, &r.payload, &r.actor, &r.at] {
        field(text);
    }
    if r.extra != "{}" {
        field(&r.extra);
    }
    let digest = h.finalize();
    let mut prefix = [0; 16];
    prefix.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(prefix)
}

/// A fast hash of an event's content (not its id), to tell a repeat from a conflict.
fn content_hash(r: &EventRecord) -> u64 {
    foldhash::quality::FixedState::with_seed(0x68_6f_6e_65_73_74).hash_one((
        &r.action_id,
        &r.kind,
        &r.payload,
        &r.actor,
        &r.at,
        &r.extra,
    ))
}

/// Overwrites `record` with the event, reusing the record's buffers; its id is left
/// to the caller. Returns whether the event has its own id (then already in
/// `record.event_id`).
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
    use serde_json::{Value, json};

    fn parse(v: &Value) -> LegacyEventRef<'static> {
        let text: &'static str = Box::leak(v.to_string().into_boxed_str());
        serde_json::from_str(text).unwrap()
    }

    fn note(id: Option<&str>, note: &str) -> Value {
        let mut e = json!({"action_id": "A", "type": "note_added", "payload": {"note": note}, "actor": "a", "at": "t"});
        if let Some(id) = id {
            e["event_id"] = json!(id);
        }
        e
    }

    #[test]
    fn derived_ids_are_stable_and_distinguish_repeats() {
        let mut ids = LegacyIds::default();
        let got: Vec<_> = [note(None, "x"), note(None, "x"), note(Some("given"), "y")]
            .iter()
            .map(|e| ids.record(parse(e)).unwrap().unwrap().event_id)
            .collect();
        // Pinned: ids stored by earlier imports must keep matching.
        assert_eq!(got[0], "legacy-77beb8ace7ffeec677dca37eb7d14753");
        assert_eq!(got[1], "legacy-77beb8ace7ffeec677dca37eb7d14753-2");
        assert_eq!(got[2], "given");
    }

    #[test]
    fn extra_fields_and_key_order_count_in_the_derived_id() {
        let with = |extra: Value| {
            let mut e = json!({"action_id": "A", "type": "x", "payload": {"b": 1, "a": 2}, "actor": "a", "at": "t"});
            e.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            LegacyIds::default().record(parse(&e)).unwrap().unwrap()
        };
        let plain = with(json!({}));
        assert_eq!(plain.payload, r#"{"a":2,"b":1}"#, "compact, keys in order");
        assert_eq!(plain.extra, "{}");
        let tagged = with(json!({"source": "ui"}));
        assert_eq!(tagged.extra, r#"{"source":"ui"}"#);
        assert_ne!(plain.event_id, tagged.event_id);
    }

    #[test]
    fn a_repeated_id_is_a_repeat_when_the_content_matches_and_a_conflict_otherwise() {
        let mut ids = LegacyIds::default();
        let mut r = EventRecord::default();
        let mut feed = |e: Value| {
            ids.fill(&mut r, parse(&e))
                .map(|first| (r.event_id.clone(), first))
        };
        let (derived, first) = feed(note(None, "x")).unwrap();
        assert!(first);
        assert_eq!(
            feed(note(None, "x")).unwrap(),
            (format!("{derived}-2"), true),
            "a repeat without ids is a new event"
        );
        assert_eq!(feed(note(Some("e1"), "y")).unwrap(), ("e1".into(), true));
        assert!(!feed(note(Some("e1"), "y")).unwrap().1, "written twice");
        let conflict = feed(note(Some("e1"), "z")).unwrap_err();
        assert_eq!(
            conflict,
            IdConflict {
                id: "e1".into(),
                first: Some(3),
                second: 5
            }
        );
        assert!(
            conflict.to_string().contains("event #3 and event #5"),
            "{conflict}"
        );
        // An explicit id spelling an earlier derived id: same content, or a conflict.
        assert!(!feed(note(Some(&derived), "x")).unwrap().1);
        let spelled = feed(note(Some(&format!("{derived}-2")), "other")).unwrap_err();
        assert_eq!(spelled.first, None);
        assert!(
            feed(note(Some(&format!("{derived}-3")), "w")).unwrap().1,
            "not derived yet"
        );
        // A derived id equal to an explicit one given before.
        let err = feed(note(None, "x")).unwrap_err();
        assert_eq!((err.first, err.second), (Some(8), 9), "{err}");
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
        ids.fill(&mut reused, parse(&rich)).unwrap();
        ids.fill(&mut reused, parse(&plain)).unwrap();
        let fresh = LegacyIds::default().record(parse(&plain)).unwrap().unwrap();
        assert_eq!(reused, fresh);
        assert_eq!(
            (reused.payload.as_str(), reused.extra.as_str()),
            ("null", "{}")
        );
    }
}
