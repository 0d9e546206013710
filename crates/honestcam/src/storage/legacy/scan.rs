//! Reading `compliance-log.json` one event at a time, as it is parsed.

use std::fmt;
use std::ops::ControlFlow;

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use statekit::json::read_json_seed;

use super::LegacyError;
use super::wire::LegacyEventRef;
use crate::property::PropertyPaths;

/// How a [`scan_log`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// There is no legacy log.
    NoFile,
    /// Every event was seen.
    Done,
    /// The callback asked to stop.
    Stopped,
}

/// Reads the legacy log one event at a time: `each` sees every event, in file order,
/// as soon as it is parsed (its text borrowed from the file's bytes where possible), so
/// a large log is never held whole. The file is still checked to the end (a malformed
/// one is an error naming the line and column) unless `each` returns
/// [`ControlFlow::Break`], which stops reading at once.
pub fn scan_log(
    p: &PropertyPaths,
    mut each: impl for<'e> FnMut(LegacyEventRef<'e>) -> ControlFlow<()>,
) -> Result<Scan, LegacyError> {
    let mut stopped = false;
    let seed = LogSeed {
        each: &mut each,
        stopped: &mut stopped,
    };
    match read_json_seed(&p.legacy_log(), seed) {
        Ok(None) => Ok(Scan::NoFile),
        Ok(Some(())) => Ok(Scan::Done),
        Err(_) if stopped => Ok(Scan::Stopped),
        Err(e) => Err(e.into()),
    }
}

/// Parses `{"events": [...]}`, handing each event to `each`; other keys are ignored.
struct LogSeed<'a, F> {
    each: &'a mut F,
    stopped: &'a mut bool,
}

impl<'de, F: for<'e> FnMut(LegacyEventRef<'e>) -> ControlFlow<()>> DeserializeSeed<'de>
    for LogSeed<'_, F>
{
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: for<'e> FnMut(LegacyEventRef<'e>) -> ControlFlow<()>> Visitor<'de> for LogSeed<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with an \"events\" array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut events = Some(EventsSeed {
            each: self.each,
            stopped: self.stopped,
        });
        while let Some(key) = map.next_key::<String>()? {
            if key != "events" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let seed = events
                .take()
                .ok_or_else(|| A::Error::duplicate_field("events"))?;
            map.next_value_seed(seed)?;
        }
        match events {
            Some(_) => Err(A::Error::missing_field("events")),
            None => Ok(()),
        }
    }
}

struct EventsSeed<'a, F> {
    each: &'a mut F,
    stopped: &'a mut bool,
}

impl<'de, F: for<'e> FnMut(LegacyEventRef<'e>) -> ControlFlow<()>> DeserializeSeed<'de>
    for EventsSeed<'_, F>
{
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: for<'e> FnMut(LegacyEventRef<'e>) -> ControlFlow<()>> Visitor<'de>
    for EventsSeed<'_, F>
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(event) = seq.next_element::<LegacyEventRef<'de>>()? {
            if (self.each)(event).is_break() {
                *self.stopped = true;
                return Err(A::Error::custom("stopped by the caller"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::property::Slug;
    use crate::storage::legacy::read_log;

    #[test]
    fn scanning_the_log_sees_each_event_in_order_and_can_stop() {
        let dir = tempfile::tempdir().unwrap();
        let p = PropertyPaths::new(dir.path(), Slug::parse("x").unwrap());
        let mut seen = Vec::new();
        let mut keep = |e: LegacyEventRef<'_>| {
            seen.push(e.action_id.into_owned());
            ControlFlow::Continue(())
        };
        assert_eq!(scan_log(&p, &mut keep).unwrap(), Scan::NoFile);
        fs::create_dir_all(&p.dir).unwrap();
        let event =
            |a: &str| format!(r#"{{"action_id": "{a}", "type": "x", "actor": "k", "at": "t"}}"#);
        fs::write(
            p.legacy_log(),
            format!(
                r#"{{"version": 1, "events": [{}, {}, {}]}}"#,
                event("A"),
                event("B"),
                event("C")
            ),
        )
        .unwrap();
        assert_eq!(scan_log(&p, &mut keep).unwrap(), Scan::Done);
        assert_eq!(seen, ["A", "B", "C"], "other keys are ignored");
        let mut n = 0;
        let stop_after_two = |_: LegacyEventRef<'_>| {
            n += 1;
            if n == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        assert_eq!(scan_log(&p, stop_after_two).unwrap(), Scan::Stopped);
        assert_eq!(n, 2);
        assert_eq!(read_log(&p).unwrap().unwrap().events.len(), 3);

        for (text, why) in [
            ("{}", "missing field `events`"),
            (
                r#"{"events": [], "events": []}"#,
                "duplicate field `events`",
            ),
            (r#"{"events": {}}"#, "invalid type"),
        ] {
            fs::write(p.legacy_log(), text).unwrap();
            let err = statekit::error::Chain(&read_log(&p).unwrap_err()).to_string();
            assert!(
                err.contains(why) && err.contains("compliance-log.json"),
                "{text}: {err}"
            );
        }
    }
}
