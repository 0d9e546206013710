//! A realistic demo property in the legacy JSON layout, for tests, benchmarks and the
//! portal's demo mode.

use serde_json::json;
use statekit::json::write_json_atomic;

use crate::domain::{Baseline, BaselineAction, PropertyInfo, Status, StudyUser, UserId};
use crate::property::PropertyPaths;
use crate::storage::legacy::{self, LegacyError};

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Events in the legacy log (a handful by default; large for benchmarks).
    pub events: u64,
    /// Whether events carry an `event_id` (legacy writers did not always).
    pub with_event_ids: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            events: 12,
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
    /// Writing failed.
    #[error(transparent)]
    Legacy(#[from] LegacyError),
    /// Writing failed.
    #[error(transparent)]
    Json(#[from] statekit::json::JsonError),
}

/// `(id, title, category, due, source)` of each demo action.
type DemoAction = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const ACTIONS: &[DemoAction] = &[
    (
        "ACT-001",
        "Annual fire alarm inspection",
        "Fire safety",
        Some("2026-05-01"),
        Some("Lease 12.3"),
    ),
    (
        "ACT-002",
        "Replace emergency exit lighting batteries",
        "Fire safety",
        Some("2026-03-15"),
        Some("Fire code 4.2"),
    ),
    (
        "ACT-003",
        "Elevator certificate renewal",
        "Elevators",
        Some("2026-07-30"),
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
        Some("2026-06-10"),
        Some("Water utility"),
    ),
    (
        "ACT-006",
        "Roof drain inspection",
        "Roof",
        Some("2026-04-20"),
        None,
    ),
    (
        "ACT-007",
        "Insurance certificate from tenants",
        "Insurance",
        Some("2026-02-28"),
        Some("Lease 15.2"),
    ),
    (
        "ACT-008",
        "CAM reconciliation statement",
        "Finance",
        Some("2026-04-30"),
        Some("Lease 6.4"),
    ),
];

const ACTORS: &[&str] = &["dana", "lee", "sam"];
const NOTES: &[&str] = &[
    "Called the vendor, visit booked",
    "Waiting on the landlord's approval",
    "Invoice received",
    "Inspector found two minor issues",
    "Photos uploaded to the shared drive",
];

/// Writes a demo property into `paths.dir` (which must not hold a property yet).
pub fn write_demo(
    paths: &PropertyPaths,
    name: &str,
    opts: &DemoOptions,
) -> Result<DemoSummary, DemoError> {
    if paths.baseline().exists() || paths.db().exists() || paths.legacy_log().exists() {
        return Err(DemoError::Exists(paths.dir.display().to_string()));
    }
    let baseline = Baseline {
        property: PropertyInfo {
            slug: paths.slug.to_string(),
            name: name.to_string(),
        },
        actions: ACTIONS
            .iter()
            .map(|(id, title, category, due, source)| BaselineAction {
                id: id.to_string(),
                title: title.to_string(),
                category: category.to_string(),
                status: Status::Open,
                due: due.map(str::to_string),
                source: source.map(str::to_string),
            })
            .collect(),
    };
    write_json_atomic(&paths.baseline(), &baseline)?;

    // A small deterministic generator: the same options give the same files.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let start = jiff::Timestamp::from_second(1_767_225_600).unwrap_or(jiff::Timestamp::UNIX_EPOCH); // 2026-01-01
    let mut events = Vec::with_capacity(opts.events as usize);
    for i in 0..opts.events {
        let action = ACTIONS[next(ACTIONS.len())].0;
        let (kind, payload) = match next(4) {
            0 => (
                "status_changed",
                json!({"status": Status::ALL[next(Status::ALL.len())].as_str()}),
            ),
            1 => ("note_added", json!({"note": NOTES[next(NOTES.len())]})),
            2 => (
                "assignee_changed",
                json!({"assignee": ACTORS[next(ACTORS.len())]}),
            ),
            _ => (
                "due_changed",
                json!({"due": format!("2026-{:02}-{:02}", 1 + next(12), 1 + next(28))}),
            ),
        };
        let at = start
            .checked_add(jiff::SignedDuration::from_secs(i as i64 * 60))
            .unwrap_or(start)
            .to_string();
        let mut event = json!({
            "action_id": action,
            "type": kind,
            "payload": payload,
            "actor": ACTORS[next(ACTORS.len())],
            "at": at,
        });
        if opts.with_event_ids {
            event["event_id"] = json!(format!("demo-{i}"));
        }
        events.push(event);
    }
    write_json_atomic(&paths.legacy_log(), &json!({ "events": events }))?;

    let users: Vec<StudyUser> = [
        ("u1", "Dana Ortiz"),
        ("u2", "Lee Park"),
        ("u3", "Sam Okafor"),
    ]
    .iter()
    .enumerate()
    .filter_map(|(i, (id, name))| {
        Some(StudyUser {
            user_id: UserId::parse(id).ok()?,
            name: name.to_string(),
            created_at: format!("2026-01-0{}T09:00:00Z", i + 1),
            owner: None,
        })
    })
    .collect();
    legacy::write_users(paths, &users)?;
    for (i, u) in users.iter().enumerate() {
        let mut answers = serde_json::Map::new();
        for q in crate::domain::questions::QUESTIONS.iter().take(3 + i * 2) {
            let choice = if next(3) == 0 {
                (q.answer + 1) % q.choices.len()
            } else {
                q.answer
            };
            answers.insert(
                q.id.to_string(),
                json!({"choice": choice, "correct": choice == q.answer, "at": "2026-01-10T12:00:00Z"}),
            );
        }
        let blob = json!({"quiz": {"answers": answers}});
        if let serde_json::Value::Object(map) = blob {
            legacy::write_progress(paths, &u.user_id, &map)?;
        }
    }
    Ok(DemoSummary {
        actions: ACTIONS.len() as u64,
        events: opts.events,
        users: users.len() as u64,
        progress_files: users.len() as u64,
    })
}
