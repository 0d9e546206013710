//! A realistic demo property in the legacy JSON layout, for tests, benchmarks and the
//! portal's demo mode.
//!
//! Everything is dated relative to [`DemoOptions::today`], so the demo always shows a
//! realistic mix (with the eight named actions: two overdue, two due within 14 days,
//! two later, one blocked, one done), and the same options, `today` included, always
//! give the same files. The clock is never read here: callers pass the day.

use jiff::civil::Date;
use jiff::{SignedDuration, Span, Timestamp};
use serde_json::json;
use statekit::json::write_json_atomic;

use crate::domain::{Baseline, BaselineAction, PropertyInfo, Status, StudyUser, UserId};
use crate::property::PropertyPaths;
use crate::storage::legacy::{self, LegacyError};

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The day the demo is dated around: due dates and event times are relative to it.
    pub today: Date,
    /// Events in the legacy log: the story of the named actions (12 events), preceded
    /// by older generated events when more are asked for (large for benchmarks); fewer
    /// than 12 give the story's beginning.
    pub events: u64,
    /// Actions in the baseline: the eight named ones, then generated ones (at least one).
    pub actions: usize,
    /// Whether events carry an `event_id` (legacy writers did not always).
    pub with_event_ids: bool,
}

impl DemoOptions {
    /// The default demo (the named actions and their story) dated around `today`.
    pub fn dated(today: Date) -> DemoOptions {
        DemoOptions {
            today,
            events: STORY.len() as u64,
            actions: NAMED.len(),
            with_event_ids: false,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// Baseline actions.
    pub actions: u64,
    /// Log events.
    pub events: u64,
    /// Study users.
    pub users: u64,
    /// Progress files.
    pub progress_files: u64,
}

/// Why demo data could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The property already has data; nothing was written.
    #[error("{0} already holds a property; demo data goes into a new folder")]
    Exists(String),
    /// A date out of range (the demo is dated around a day near the end of time).
    #[error("cannot date the demo around {today}")]
    Date {
        /// The day asked for.
        today: Date,
        /// What jiff said.
        #[source]
        source: jiff::Error,
    },
    /// Writing failed.
    #[error(transparent)]
    Legacy(#[from] LegacyError),
    /// Writing failed.
    #[error(transparent)]
    Json(#[from] statekit::json::JsonError),
}

/// `(id, title, category, due in days from today, source)` of each named action.
type NamedAction = (
    &'static str,
    &'static str,
    &'static str,
    Option<i64>,
    Option<&'static str>,
);

const NAMED: &[NamedAction] = &[
    (
        "ACT-001",
        "Annual fire alarm inspection",
        "Fire safety",
        Some(9),
        Some("Lease 12.3"),
    ),
    (
        "ACT-002",
        "Replace emergency exit lighting batteries",
        "Fire safety",
        Some(-12),
        Some("Fire code 4.2"),
    ),
    (
        "ACT-003",
        "Elevator certificate renewal",
        "Elevators",
        Some(111),
        Some("State permit"),
    ),
    (
        "ACT-004",
        "Parking lot restriping",
        "Common areas",
        None,
        Some("Lease 8.1"),
    ),
    (
        "ACT-005",
        "Backflow preventer test",
        "Plumbing",
        Some(61),
        Some("Water utility"),
    ),
    ("ACT-006", "Roof drain inspection", "Roof", Some(4), None),
    (
        "ACT-007",
        "Insurance certificate from tenants",
        "Insurance",
        Some(-41),
        Some("Lease 15.2"),
    ),
    (
        "ACT-008",
        "CAM reconciliation statement",
        "Finance",
        Some(-3),
        Some("Lease 6.4"),
    ),
];

/// Titles and categories of generated actions (`ACT-009` on).
const GENERATED: &[(&str, &str)] = &[
    ("Check fire extinguisher tags", "Fire safety"),
    ("Test emergency generator", "Electrical"),
    ("Clean kitchen exhaust hoods", "Fire safety"),
    ("Inspect loading dock levelers", "Common areas"),
    ("Renew boiler operating permit", "Mechanical"),
    ("Service HVAC rooftop units", "Mechanical"),
    ("Sidewalk trip-hazard survey", "Common areas"),
    ("Tenant contact list update", "Administration"),
];

/// What a story event does.
#[derive(Debug, Clone, Copy)]
enum Step {
    Status(&'static str),
    Assignee(&'static str),
    Note(&'static str),
    /// The due date moves to so many days from today.
    DueIn(i64),
}

/// One event of the demo's story: days from today, hour (UTC), action, actor, step.
type StoryEvent = (i64, i64, &'static str, &'static str, Step);

/// What happened lately to the named actions, oldest first. After it: ACT-002 and
/// ACT-008 overdue, ACT-001 and ACT-006 due soon, ACT-003 and ACT-005 later, ACT-004
/// blocked, ACT-007 done.
const STORY: &[StoryEvent] = &[
    (-20, 9, "ACT-007", "dana", Step::Assignee("Dana")),
    (
        -18,
        14,
        "ACT-007",
        "dana",
        Step::Note("Two of five certificates received"),
    ),
    (-15, 10, "ACT-002", "lee", Step::Assignee("Sam")),
    (-12, 16, "ACT-008", "lee", Step::Status("in_progress")),
    (
        -9,
        11,
        "ACT-008",
        "lee",
        Step::Note("Waiting on the landlord's approval"),
    ),
    (
        -7,
        15,
        "ACT-007",
        "dana",
        Step::Note("All certificates received"),
    ),
    (-7, 15, "ACT-007", "dana", Step::Status("done")),
    (-5, 9, "ACT-001", "sam", Step::Assignee("Lee")),
    (
        -4,
        13,
        "ACT-001",
        "lee",
        Step::Note("Called the vendor, visit booked"),
    ),
    (-3, 10, "ACT-005", "sam", Step::DueIn(75)),
    (-2, 12, "ACT-004", "sam", Step::Status("blocked")),
    (
        -1,
        17,
        "ACT-002",
        "sam",
        Step::Note("Batteries ordered, delivery next week"),
    ),
];

const ACTORS: &[&str] = &["dana", "lee", "sam"];
const ASSIGNEES: &[&str] = &["Dana", "Lee", "Sam"];
const NOTES: &[&str] = &[
    "Called the vendor, visit booked",
    "Waiting on the landlord's approval",
    "Invoice received",
    "Inspector found two minor issues",
    "Photos uploaded to the shared drive",
];

/// A small deterministic generator (xorshift): the same seed gives the same draws.
struct Draws(u64);

impl Draws {
    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Dates and times relative to the demo's day.
struct Clock {
    today: Date,
    /// Midnight UTC at the start of `today`.
    midnight: Timestamp,
}

impl Clock {
    fn new(today: Date) -> Result<Clock, DemoError> {
        let midnight = today
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|source| DemoError::Date { today, source })?
            .timestamp();
        Ok(Clock { today, midnight })
    }

    /// `YYYY-MM-DD`, `days` from today.
    fn date(&self, days: i64) -> Result<String, DemoError> {
        self.today
            .checked_add(Span::new().days(days))
            .map(|d| d.to_string())
            .map_err(|source| DemoError::Date {
                today: self.today,
                source,
            })
    }

    /// The moment `seconds` after (or before, if negative) midnight UTC of today.
    fn at(&self, seconds: i64) -> Result<Timestamp, DemoError> {
        self.midnight
            .checked_add(SignedDuration::from_secs(seconds))
            .map_err(|source| DemoError::Date {
                today: self.today,
                source,
            })
    }
}

const DAY: i64 = 86_400;

/// The baseline: the named actions, then generated ones up to `count`.
fn actions(
    clock: &Clock,
    count: usize,
    draws: &mut Draws,
) -> Result<Vec<BaselineAction>, DemoError> {
    let mut out = Vec::with_capacity(count.max(1));
    for (id, title, category, due, source) in NAMED.iter().take(count.max(1)) {
        out.push(BaselineAction {
            id: id.to_string(),
            title: title.to_string(),
            category: category.to_string(),
            status: Status::Open,
            due: due.map(|d| clock.date(d)).transpose()?,
            source: source.map(str::to_string),
        });
    }
    for n in NAMED.len() + 1..=count {
        let (title, category) = GENERATED[n % GENERATED.len()];
        // Mostly later, some soon, a few overdue, some without a date.
        let due = match draws.below(10) {
            0 => Some(clock.date(-1 - draws.below(30) as i64)?),
            1 | 2 => Some(clock.date(draws.below(15) as i64)?),
            3 => None,
            _ => Some(clock.date(15 + draws.below(300) as i64)?),
        };
        out.push(BaselineAction {
            id: format!("ACT-{n:03}"),
            title: format!("{title} ({n})"),
            category: category.to_string(),
            status: Status::Open,
            due,
            source: None,
        });
    }
    Ok(out)
}

/// A story event's JSON (without id).
fn story_event(clock: &Clock, e: &StoryEvent) -> Result<serde_json::Value, DemoError> {
    let (days, hour, action, actor, step) = *e;
    let (kind, payload) = match step {
        Step::Status(s) => ("status_changed", json!({ "status": s })),
        Step::Assignee(a) => ("assignee_changed", json!({ "assignee": a })),
        Step::Note(n) => ("note_added", json!({ "note": n })),
        Step::DueIn(d) => ("due_changed", json!({ "due": clock.date(d)? })),
    };
    Ok(json!({
        "action_id": action,
        "type": kind,
        "payload": payload,
        "actor": actor,
        "at": clock.at(days * DAY + hour * 3600)?.to_string(),
    }))
}

/// A generated event on one of `actions`, at `at`: any kind, dates within a few
/// months of today.
fn generated_event(
    clock: &Clock,
    actions: &[BaselineAction],
    draws: &mut Draws,
    at: Timestamp,
) -> Result<serde_json::Value, DemoError> {
    let action = &actions[draws.below(actions.len())].id;
    let (kind, payload) = match draws.below(4) {
        0 => (
            "status_changed",
            json!({"status": Status::ALL[draws.below(Status::ALL.len())].as_str()}),
        ),
        1 => (
            "note_added",
            json!({"note": NOTES[draws.below(NOTES.len())]}),
        ),
        2 => (
            "assignee_changed",
            json!({"assignee": ASSIGNEES[draws.below(ASSIGNEES.len())]}),
        ),
        _ => (
            "due_changed",
            json!({"due": clock.date(draws.below(180) as i64 - 30)?}),
        ),
    };
    Ok(json!({
        "action_id": action,
        "type": kind,
        "payload": payload,
        "actor": ACTORS[draws.below(ACTORS.len())],
        "at": at.to_string(),
    }))
}

/// Writes a demo property into `paths.dir` (which must not hold a property yet).
pub fn write_demo(
    paths: &PropertyPaths,
    name: &str,
    opts: &DemoOptions,
) -> Result<DemoSummary, DemoError> {
    if paths.baseline().exists() || paths.db().exists() || paths.legacy_log().exists() {
        return Err(DemoError::Exists(paths.dir.display().to_string()));
    }
    let clock = Clock::new(opts.today)?;
    let mut draws = Draws(0x9e37_79b9_7f4a_7c15);
    let baseline = Baseline {
        property: PropertyInfo {
            slug: paths.slug.to_string(),
            name: name.to_string(),
        },
        actions: actions(&clock, opts.actions, &mut draws)?,
    };
    write_json_atomic(&paths.baseline(), &baseline)?;

    // Generated events first, a minute apart, ending a minute before the story
    // begins; then the story (of the named actions the baseline has).
    let story: Vec<&StoryEvent> = STORY
        .iter()
        .filter(|e| baseline.action(e.2).is_some())
        .take(usize::try_from(opts.events).unwrap_or(usize::MAX))
        .collect();
    let generated = opts.events - story.len() as u64;
    let story_start = STORY.first().map_or(0, |e| e.0 * DAY + e.1 * 3600);
    let mut events = Vec::with_capacity(usize::try_from(opts.events).unwrap_or(0));
    for i in 0..generated {
        let minutes_before = i64::try_from(generated - i).unwrap_or(i64::MAX);
        let at = clock.at(story_start.saturating_sub(minutes_before.saturating_mul(60)))?;
        events.push(generated_event(&clock, &baseline.actions, &mut draws, at)?);
    }
    for e in story {
        events.push(story_event(&clock, e)?);
    }
    if opts.with_event_ids {
        for (i, event) in events.iter_mut().enumerate() {
            event["event_id"] = json!(format!("demo-{i}"));
        }
    }
    write_json_atomic(&paths.legacy_log(), &json!({ "events": events }))?;

    let mut users: Vec<StudyUser> = Vec::new();
    for (i, (id, name)) in [
        ("u1", "Dana Ortiz"),
        ("u2", "Lee Park"),
        ("u3", "Sam Okafor"),
    ]
    .into_iter()
    .enumerate()
    {
        if let Ok(user_id) = UserId::parse(id) {
            users.push(StudyUser {
                user_id,
                name: name.to_string(),
                created_at: clock.at((i as i64 - 30) * DAY + 9 * 3600)?.to_string(),
                owner: None,
            });
        }
    }
    legacy::write_users(paths, &users)?;
    let answered_at = clock.at(-10 * DAY + 12 * 3600)?.to_string();
    for (i, u) in users.iter().enumerate() {
        let mut answers = serde_json::Map::new();
        for q in crate::domain::questions::QUESTIONS.iter().take(3 + i * 2) {
            let choice = if draws.below(3) == 0 {
                (q.answer + 1) % q.choices.len()
            } else {
                q.answer
            };
            answers.insert(
                q.id.to_string(),
                json!({"choice": choice, "correct": choice == q.answer, "at": answered_at}),
            );
        }
        let blob = json!({"quiz": {"answers": answers}});
        if let serde_json::Value::Object(map) = blob {
            legacy::write_progress(paths, &u.user_id, &map)?;
        }
    }
    Ok(DemoSummary {
        actions: baseline.actions.len() as u64,
        events: events.len() as u64,
        users: users.len() as u64,
        progress_files: users.len() as u64,
    })
}
