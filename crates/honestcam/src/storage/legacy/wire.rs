//! The legacy log's wire format: `{"events": [...]}` with events whose `event_id`
//! may be missing, read field by field; and the study users file's entries
//! ([`LegacyUser`]), unknown fields kept.
//!
//! An event object is read in one pass: the known keys into their fields, every other
//! key verbatim into `extra` (what `#[serde(flatten)]` would do, without buffering the
//! whole object first). [`LegacyEventRef`] borrows its text fields from the input
//! where it can, so an import can copy them into reused buffers instead of allocating
//! for each event.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use serde::{Deserialize as DeriveDeserialize, Serialize};

use crate::domain::{Event, StudyUser, UserId};

/// A legacy event as parsed: text borrowed from the input where it holds no escapes.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyEventRef<'de> {
    /// The id, if the writer gave one (`null` reads as none).
    pub event_id: Option<Cow<'de, str>>,
    /// The action it is about.
    pub action_id: Cow<'de, str>,
    /// The event type.
    pub kind: Cow<'de, str>,
    /// Type-specific data (`null` when absent).
    pub payload: Value,
    /// Who did it.
    pub actor: Cow<'de, str>,
    /// When (RFC 3339).
    pub at: Cow<'de, str>,
    /// Any other fields.
    pub extra: BTreeMap<String, Value>,
}

impl LegacyEventRef<'_> {
    /// The event, owning its text.
    pub fn into_owned(self) -> LegacyEvent {
        LegacyEvent {
            event_id: self.event_id.map(Cow::into_owned),
            action_id: self.action_id.into_owned(),
            kind: self.kind.into_owned(),
            payload: self.payload,
            actor: self.actor.into_owned(),
            at: self.at.into_owned(),
            extra: self.extra,
        }
    }
}

impl<'de> Deserialize<'de> for LegacyEventRef<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EventFields)
    }
}

impl<'de> Deserialize<'de> for LegacyEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        LegacyEventRef::deserialize(d).map(LegacyEventRef::into_owned)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut e = LegacyEventRef::deserialize(d)?.into_owned();
        let id = e
            .event_id
            .take()
            .ok_or_else(|| de::Error::missing_field("event_id"))?;
        Ok(e.with_id(id))
    }
}

/// A string, borrowed from the input when it can be.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

/// The keys of an event object; any other key is kept in `extra`.
enum EventKey {
    EventId,
    ActionId,
    Type,
    Payload,
    Actor,
    At,
    Other(String),
}

impl<'de> Deserialize<'de> for EventKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = EventKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<EventKey, E> {
                Ok(match key {
                    "event_id" => EventKey::EventId,
                    "action_id" => EventKey::ActionId,
                    "type" => EventKey::Type,
                    "payload" => EventKey::Payload,
                    "actor" => EventKey::Actor,
                    "at" => EventKey::At,
                    other => EventKey::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// Reads an event object. A repeated key is an error, as is a missing one (except
/// `event_id`, optional in legacy logs, and `payload`, `null` when absent).
struct EventFields;

impl<'de> Visitor<'de> for EventFields {
    type Value = LegacyEventRef<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LegacyEventRef<'de>, A::Error> {
        use de::Error;
        fn set<T, E: Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
            match slot.replace(value) {
                Some(_) => Err(E::duplicate_field(name)),
                None => Ok(()),
            }
        }
        let text = |t: Option<Text<'de>>, name| {
            t.map(|t| t.0).ok_or_else(|| A::Error::missing_field(name))
        };
        let (mut event_id, mut action_id, mut kind, mut payload, mut actor, mut at) =
            (None::<Option<Text<'de>>>, None, None, None, None, None);
        let mut extra = BTreeMap::new();
        while let Some(key) = map.next_key::<EventKey>()? {
            match key {
                EventKey::EventId => set(&mut event_id, map.next_value()?, "event_id")?,
                EventKey::ActionId => set(&mut action_id, map.next_value()?, "action_id")?,
                EventKey::Type => set(&mut kind, map.next_value()?, "type")?,
                EventKey::Payload => set(&mut payload, map.next_value()?, "payload")?,
                EventKey::Actor => set(&mut actor, map.next_value()?, "actor")?,
                EventKey::At => set(&mut at, map.next_value()?, "at")?,
                EventKey::Other(name) => {
                    let value = map.next_value()?;
                    if extra.insert(name, value).is_some() {
                        return Err(A::Error::custom("duplicate field in event"));
                    }
                }
            }
        }
        Ok(LegacyEventRef {
            event_id: event_id.flatten().map(|t| t.0),
            action_id: text(action_id, "action_id")?,
            kind: text(kind, "type")?,
            payload: payload.unwrap_or(Value::Null),
            actor: text(actor, "actor")?,
            at: text(at, "at")?,
            extra,
        })
    }
}

/// A legacy log entry, whose `event_id` may be missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyEvent {
    /// The id, if the writer gave one.
    pub event_id: Option<String>,
    /// The action it is about.
    pub action_id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific data (`null` when absent).
    pub payload: Value,
    /// Who did it.
    pub actor: String,
    /// When (RFC 3339).
    pub at: String,
    /// Any other fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl LegacyEvent {
    /// The event with `event_id` as its id (whatever it had).
    pub fn with_id(self, event_id: String) -> Event {
        Event {
            event_id,
            action_id: self.action_id,
            kind: self.kind,
            payload: self.payload,
            actor: self.actor,
            at: self.at,
            extra: self.extra,
        }
    }
}

/// `compliance-log.json` as the legacy writer kept it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, DeriveDeserialize)]
pub struct LegacyLog {
    /// The events, oldest first.
    pub events: Vec<LegacyEvent>,
}

/// The whole log of one property, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, DeriveDeserialize)]
pub struct ComplianceLog {
    /// The events.
    pub events: Vec<Event>,
}

/// An entry of `study/users.json`: the known fields, `owner` only when it has one (so
/// files without owners read and write as before), and any other field kept verbatim.
#[derive(Debug, Clone, PartialEq, Serialize, DeriveDeserialize)]
pub struct LegacyUser {
    /// Stable id.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// When the user was created (RFC 3339).
    pub created_at: String,
    /// The identity that owns it; absent for users from before identities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Any other fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl LegacyUser {
    /// The entry for `user`, with `extra` fields.
    pub fn new(user: StudyUser, extra: BTreeMap<String, Value>) -> LegacyUser {
        LegacyUser {
            user_id: user.user_id,
            name: user.name,
            created_at: user.created_at,
            owner: user.owner,
            extra,
        }
    }

    /// The study user, and the fields it does not know.
    pub fn split(self) -> (StudyUser, BTreeMap<String, Value>) {
        (
            StudyUser {
                user_id: self.user_id,
                name: self.name,
                created_at: self.created_at,
                owner: self.owner,
            },
            self.extra,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_borrowed_unless_it_holds_escapes() {
        let json = r#"{"action_id": "A\n1", "type": "x", "actor": "kim", "at": "t", "n": 1}"#;
        let e: LegacyEventRef<'_> = serde_json::from_str(json).unwrap();
        assert!(matches!(e.actor, Cow::Borrowed("kim")));
        assert!(matches!(&e.action_id, Cow::Owned(s) if s == "A\n1"));
        assert_eq!(e.extra["n"], 1);
        assert_eq!(e.clone().into_owned().actor, "kim");
    }

    #[test]
    fn event_fields_are_checked_one_by_one() {
        let parse =
            |text: &str| serde_json::from_str::<LegacyEvent>(text).map_err(|e| e.to_string());
        let e =
            parse(r#"{"event_id": null, "action_id": "A", "type": "x", "actor": "a", "at": "t"}"#)
                .unwrap();
        assert_eq!(
            (e.event_id, e.payload),
            (None, Value::Null),
            "null id, no payload"
        );
        let missing = parse(r#"{"action_id": "A", "type": "x", "at": "t"}"#).unwrap_err();
        assert!(missing.contains("missing field `actor`"), "{missing}");
        let twice =
            parse(r#"{"action_id": "A", "action_id": "B", "type": "x", "actor": "a", "at": "t"}"#)
                .unwrap_err();
        assert!(twice.contains("duplicate field `action_id`"), "{twice}");
        let wrong = parse(r#"{"action_id": 7, "type": "x", "actor": "a", "at": "t"}"#).unwrap_err();
        assert!(wrong.contains("invalid type"), "{wrong}");
        let no_id = serde_json::from_str::<Event>(
            r#"{"action_id": "A", "type": "x", "actor": "a", "at": "t"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(no_id.contains("missing field `event_id`"), "{no_id}");
        let from_value: Event = serde_json::from_value(serde_json::json!({
            "event_id": "e", "action_id": "A", "type": "x", "actor": "a", "at": "t"
        }))
        .unwrap();
        assert_eq!(from_value.action_id, "A", "owned input works too");
    }

    #[test]
    fn users_keep_unknown_fields_and_write_an_owner_only_when_they_have_one() {
        let text = r#"{"user_id": "u1", "name": "Ann", "created_at": "t", "team": "north"}"#;
        let entry: LegacyUser = serde_json::from_str(text).unwrap();
        let (user, extra) = entry.clone().split();
        assert_eq!(user.owner, None);
        assert_eq!(extra["team"], "north");
        let back = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<Value>(text).unwrap(),
            "as read"
        );
        let owned = StudyUser {
            owner: Some("kim@example.org".into()),
            ..user
        };
        let written = serde_json::to_value(LegacyUser::new(owned.clone(), extra)).unwrap();
        assert_eq!(written["owner"], "kim@example.org");
        assert_eq!(written["team"], "north");
        let read: LegacyUser = serde_json::from_value(written).unwrap();
        assert_eq!(read.split().0, owned);
    }
}
