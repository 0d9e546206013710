//! "As of": every action of a property as it stood at the end of a given day in the
//! property's time zone (or at an instant), folded from the log.
//!
//! The state is the fold of the events whose time (`at`) is at or before the instant,
//! in log order, over the current baseline (titles, categories and the first status
//! are today's `compliance.json`; only events are dated). An event whose time cannot
//! be read is left out, and counted. The view is read in pages of the log under the
//! property's shared lock, its memory bounded by the number of actions, not events;
//! events appended while it is read (after the position it started at) are not in it.
//!
//! The time zone is the portal's (`honestcam serve --timezone`): "the end of
//! 2026-11-30" in Europe/Berlin is the instant before midnight there, 23:00 UTC.
//!
//! ```
//! use honestcam::service::as_of::AsOf;
//!
//! let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
//! let day: AsOf = "2026-11-30".parse().unwrap();
//! assert_eq!(day.instant(&tz).unwrap().to_string(), "2026-11-30T22:59:59.999999999Z");
//! let instant: AsOf = "2026-11-30T12:00:00+01:00".parse().unwrap();
//! assert_eq!(instant.instant(&tz).unwrap().to_string(), "2026-11-30T11:00:00Z");
//! assert!("30/11/2026".parse::<AsOf>().is_err());
//! ```

use std::str::FromStr;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::domain::{ActionChanges, ActionState, Projection};
use crate::property::Slug;
use crate::storage::{Storage, StoreError};

/// Events read per page while folding.
const PAGE: usize = 10_000;

/// When to show a property as of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// The end of this day in the property's time zone (its last instant).
    EndOfDay(Date),
    /// This instant.
    Instant(Timestamp),
}

/// Why an "as of" is refused.
#[derive(Debug, thiserror::Error)]
pub enum AsOfError {
    /// Neither a date nor an instant.
    #[error(
        "as_of {0:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 instant (2026-11-30T17:00:00Z)"
    )]
    Parse(String),
    /// The day has no end in that zone (the end of time).
    #[error("the end of {day} in {zone} cannot be told")]
    Range {
        /// The day.
        day: Date,
        /// The zone's name.
        zone: String,
        /// What jiff said.
        #[source]
        source: jiff::Error,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FromStr for AsOf {
    type Err = AsOfError;

    /// `YYYY-MM-DD` is the end of that day; an RFC 3339 instant (with its offset) is
    /// that instant. At most 64 characters.
    fn from_str(text: &str) -> Result<AsOf, AsOfError> {
        let text = text.trim();
        let refuse = || AsOfError::Parse(crate::domain::text::shortened(text, 64));
        if text.len() > 64 {
            return Err(refuse());
        }
        if let Ok(day) = text.parse::<Date>()
            && text.len() == 10
        {
            return Ok(AsOf::EndOfDay(day));
        }
        text.parse::<Timestamp>()
            .map(AsOf::Instant)
            .map_err(|_| refuse())
    }
}

impl AsOf {
    /// The last instant this view includes: for a day, the instant before the next
    /// day begins in `tz`.
    pub fn instant(&self, tz: &TimeZone) -> Result<Timestamp, AsOfError> {
        match *self {
            AsOf::Instant(t) => Ok(t),
            AsOf::EndOfDay(day) => {
                let range = |source| AsOfError::Range {
                    day,
                    zone: zone_name(tz),
                    source,
                };
                let next = day.tomorrow().map_err(range)?;
                let start = next.to_zoned(tz.clone()).map_err(range)?;
                start
                    .timestamp()
                    .checked_sub(SignedDuration::from_nanos(1))
                    .map_err(range)
            }
        }
    }

    /// The day the view is of, in `tz`: the date given, or the instant's date there.
    /// Overdue and due soon are reckoned from it.
    pub fn day(&self, tz: &TimeZone) -> Date {
        match *self {
            AsOf::EndOfDay(day) => day,
            AsOf::Instant(t) => tz.to_datetime(t).date(),
        }
    }
}

/// The zone's IANA name, or its offset when it has none.
fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:?}", tz.to_offset(Timestamp::now())))
}

/// Every action of a property as of an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AsOfState {
    /// The last instant included: events at or before it are folded in.
    pub at: Timestamp,
    /// The day of the view in `time_zone` (overdue is reckoned from it).
    pub day: Date,
    /// The time zone the day is in (an IANA name).
    pub time_zone: String,
    /// The property's name.
    pub property_name: String,
    /// The log position the view looked up to (events appended later are not in it).
    pub position: i64,
    /// Events folded in (their time at or before `at`).
    pub events: u64,
    /// Events left out because their time could not be read.
    pub undated: u64,
    /// Every action of the baseline, in baseline order, as it stood: its latest notes
    /// then ([`crate::domain::projection::KEPT_NOTES`]) and a count of all.
    pub actions: Vec<ActionState>,
}

/// The property `slug` as of `as_of` (a day's end in `tz`, or an instant): every
/// action's state folded from the events at or before then.
pub fn compliance_as_of(
    storage: &Storage,
    slug: &Slug,
    as_of: AsOf,
    tz: &TimeZone,
) -> Result<AsOfState, AsOfError> {
    let at = as_of.instant(tz)?;
    let store = storage.read(slug)?;
    let baseline = store.baseline()?;
    let end = store.last_position()?;
    let mut projection = Projection::new();
    let (mut after, mut events, mut undated) = (0, 0, 0);
    while after < end {
        let page = store.events_page(after, PAGE)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = *last;
        for (seq, e) in page.iter().filter(|(seq, _)| *seq <= end) {
            match e.at.parse::<Timestamp>() {
                Ok(t) if t <= at => {
                    projection.apply_event(
                        *seq,
                        &e.action_id,
                        &e.kind,
                        &e.payload,
                        &e.actor,
                        &e.at,
                    );
                    events += 1;
                }
                Ok(_) => {}
                Err(_) => undated += 1,
            }
        }
    }
    let none = ActionChanges::default();
    let actions = baseline
        .actions
        .iter()
        .map(|a| projection.action(&a.id).unwrap_or(&none).state(a))
        .collect();
    Ok(AsOfState {
        at,
        day: as_of.day(tz),
        time_zone: zone_name(tz),
        property_name: baseline.property.name.clone(),
        position: end,
        events,
        undated,
        actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_ends_at_the_zones_midnight_and_an_instant_is_itself() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let day = AsOf::EndOfDay("2026-07-01".parse().unwrap());
        assert_eq!(
            day.instant(&berlin).unwrap().to_string(),
            "2026-07-01T21:59:59.999999999Z",
            "summer time"
        );
        assert_eq!(
            day.instant(&TimeZone::UTC).unwrap().to_string(),
            "2026-07-01T23:59:59.999999999Z"
        );
        // The day the clocks go back has 25 hours.
        let long = AsOf::EndOfDay("2026-10-25".parse().unwrap());
        assert_eq!(
            long.instant(&berlin).unwrap().to_string(),
            "2026-10-25T22:59:59.999999999Z"
        );
        let instant: AsOf = "2026-11-30T23:30:00+01:00".parse().unwrap();
        assert_eq!(instant.day(&berlin).to_string(), "2026-11-30");
        assert_eq!(instant.day(&TimeZone::UTC).to_string(), "2026-11-30");
        let late: AsOf = "2026-11-30T23:30:00Z".parse().unwrap();
        assert_eq!(late.day(&berlin).to_string(), "2026-12-01");
    }

    #[test]
    fn anything_else_is_refused_naming_the_parameter() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-30T12:00",
            "1",
            &"9".repeat(100),
        ] {
            let err = bad.parse::<AsOf>().unwrap_err().to_string();
            assert!(err.starts_with("as_of "), "{bad:?}: {err}");
            assert!(err.len() < 200, "{err}");
        }
        let end = AsOf::EndOfDay(Date::MAX);
        assert!(end.instant(&TimeZone::UTC).is_err());
    }
}
