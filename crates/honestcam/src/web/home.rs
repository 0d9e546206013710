//! `/`: every property of the data dir at a glance (counts by status, overdue, due
//! within 14 days), the most urgent first, each one click from its compliance page.
//!
//! Each property's line is kept ([`Summaries`]) and reused while the property's
//! version (`crate::storage::version`: `stat`s of its files and this process's
//! writes) and the day are the same, so a request reads (and folds) only the
//! properties that changed: none at all, most of the time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use jiff::civil::Date;

use super::auth::{Caller, SignedIn};
use super::compliance::{StatusCount, status_counts};
use super::{AppError, AppState};
use crate::domain::Role;
use crate::domain::urgency::Summary;
use crate::ops::drills::{self, Drill, DrillsError};
use crate::property::Slug;
use crate::service::snapshot::Snapshots;
use crate::storage::Storage;
use crate::storage::version::PropertyVersion;

/// One property's line.
#[derive(Debug, Clone)]
pub struct PropertyRow {
    slug: String,
    name: String,
    /// It could not be read (logged); only its slug is shown.
    error: bool,
    total: usize,
    counts: Vec<StatusCount>,
    overdue: usize,
    due_soon: usize,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Page {
    signed_in: SignedIn,
    rows: Vec<PropertyRow>,
    /// The footer's line on the last restore drill: admins only.
    drill: Option<DrillLine>,
}

/// The last restore drill, as the footer shows it to admins.
#[derive(Debug, Clone)]
struct DrillLine {
    /// Whether there was one at all.
    recorded: bool,
    ok: bool,
    /// When, in the portal's zone.
    when: String,
    /// How long ago, e.g. `3 h`.
    ago: String,
    source: String,
    /// Why it failed (or why the record cannot be read).
    error: String,
}

impl DrillLine {
    fn of(last: Result<Option<Drill>, DrillsError>, zone: &jiff::tz::TimeZone) -> DrillLine {
        let none = DrillLine {
            recorded: false,
            ok: false,
            when: String::new(),
            ago: String::new(),
            source: String::new(),
            error: String::new(),
        };
        match last {
            Ok(None) => none,
            Err(e) => DrillLine {
                error: format!(
                    "the drill record cannot be read: {}",
                    statekit::error::Chain(&e)
                ),
                ..none
            },
            Ok(Some(d)) => DrillLine {
                recorded: true,
                ok: d.ok,
                when: d
                    .at
                    .to_zoned(zone.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
                    .to_string(),
                ago: ago(d.age_secs(jiff::Timestamp::now())),
                source: d.source,
                error: d.error.unwrap_or_default(),
            },
        }
    }
}

/// `45 s`, `12 min`, `3 h`, `2 days`.
fn ago(secs: i64) -> String {
    match secs {
        ..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// Properties with the most overdue actions first, then the most due soon, then by
/// name; those that cannot be read last.
fn order(rows: &mut [PropertyRow]) {
    rows.sort_by(|a, b| {
        (
            a.error,
            std::cmp::Reverse(a.overdue),
            std::cmp::Reverse(a.due_soon),
        )
            .cmp(&(
                b.error,
                std::cmp::Reverse(b.overdue),
                std::cmp::Reverse(b.due_soon),
            ))
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.slug.cmp(&b.slug))
    });
}

/// Each property's line as last read, with the version and day it was read for. It
/// holds a line per property of the data dir (as the page does): lines of properties
/// no longer listed are dropped.
#[derive(Debug, Default)]
pub struct Summaries {
    rows: Mutex<HashMap<Slug, (PropertyVersion, Date, PropertyRow)>>,
    /// Lines read from storage (not reused) so far.
    read: AtomicU64,
}

impl Summaries {
    /// The line of every property in `slugs` (sorted, as listed) for `today`: kept
    /// lines where the property's version and the day are unchanged, the others read
    /// afresh (and kept, unless they failed).
    pub fn rows(
        &self,
        storage: &Storage,
        snapshots: &Snapshots,
        slugs: &[Slug],
        today: Date,
    ) -> Vec<PropertyRow> {
        let mut out = Vec::with_capacity(slugs.len());
        for slug in slugs {
            // Taken before reading: a write that lands meanwhile changes it again.
            let version = storage.version(&storage.data().property(slug));
            let kept = self
                .lock()
                .get(slug)
                .filter(|(v, day, _)| *v == version && *day == today)
                .map(|(_, _, row)| row.clone());
            let row = match kept {
                Some(row) => row,
                None => {
                    self.read.fetch_add(1, Ordering::Relaxed);
                    let row = read_row(storage, snapshots, slug, today);
                    if !row.error {
                        self.lock()
                            .insert(slug.clone(), (version, today, row.clone()));
                    }
                    row
                }
            };
            out.push(row);
        }
        self.lock()
            .retain(|slug, _| slugs.binary_search(slug).is_ok());
        out
    }

    /// Lines read from storage so far (the others were reused).
    pub fn read_count(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Lines kept now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no line is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Slug, (PropertyVersion, Date, PropertyRow)>> {
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The property's line, read from storage (a line marked `error` if it cannot be).
fn read_row(storage: &Storage, snapshots: &Snapshots, slug: &Slug, today: Date) -> PropertyRow {
    let current = storage
        .read(slug)
        .and_then(|store| snapshots.current(&store));
    match current {
        Ok((baseline, actions)) => {
            let summary = Summary::of(actions.iter(), today);
            PropertyRow {
                slug: slug.to_string(),
                name: baseline.property.name.clone(),
                error: false,
                total: summary.total,
                counts: status_counts(&summary),
                overdue: summary.overdue,
                due_soon: summary.due_soon,
            }
        }
        Err(e) => {
            tracing::warn!(
                "property {slug} cannot be shown on the home page: {}",
                statekit::error::Chain(&e)
            );
            PropertyRow {
                name: slug.to_string(),
                slug: slug.to_string(),
                error: true,
                total: 0,
                counts: Vec::new(),
                overdue: 0,
                due_soon: 0,
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Html<String>, AppError> {
    let today = state.today();
    let kept = state.clone();
    let admin = caller.role == Role::Admin;
    let (mut rows, last_drill) = state
        .run(move |storage, snapshots| {
            let slugs = storage
                .data()
                .properties()
                .map_err(|e| AppError::internal("cannot list the properties", e))?;
            let rows = kept.summaries().rows(storage, snapshots, &slugs, today);
            let drill = admin.then(|| drills::last(storage.data()));
            Ok((rows, drill))
        })
        .await?;
    order(&mut rows);
    let page = Page {
        signed_in: SignedIn::new(&caller, state.auth()),
        rows,
        drill: last_drill.map(|d| DrillLine::of(d, state.time_zone())),
    };
    Ok(Html(page.render().map_err(|e| {
        AppError::internal("cannot render the page", e)
    })?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DataDir;
    use crate::domain::{Event, Status};
    use crate::ops::demo::{DemoOptions, write_demo};
    use crate::ops::{NoProgress, Run, import::db_migrate};
    use crate::storage::Wait;
    use statekit::sqlite::OpenOptions;

    const TODAY: Date = jiff::civil::date(2026, 4, 10);

    /// Two demo properties migrated to SQLite, and storage over them.
    fn two_properties(dir: &std::path::Path) -> (Storage, Vec<Slug>) {
        let data = DataDir::new(dir);
        let slugs: Vec<Slug> = ["alpha", "beta"]
            .iter()
            .map(|s| Slug::parse(s).unwrap())
            .collect();
        let storage = Storage::open(data.clone(), OpenOptions::default()).unwrap();
        for slug in &slugs {
            write_demo(
                &data.property(slug),
                slug.as_str(),
                &DemoOptions::dated(TODAY),
            )
            .unwrap();
            let lock = storage
                .lock_property(slug, "test", Wait::Block, |_| {})
                .unwrap();
            db_migrate(&storage, slug, Run::Execute(&lock), &NoProgress).unwrap();
        }
        (storage, slugs)
    }

    /// Marks every action of `slug` done through `storage`.
    fn finish_all(storage: &Storage, snapshots: &Snapshots, slug: &Slug) {
        let store = storage.write(slug).unwrap();
        let (_, actions) = snapshots.current(&store).unwrap();
        let events: Vec<Event> = actions
            .iter()
            .map(|a| Event {
                event_id: crate::service::compliance::new_event_id(),
                action_id: a.id.clone(),
                kind: "status_changed".into(),
                payload: serde_json::json!({ "status": "done" }),
                actor: "test".into(),
                at: "2026-04-10T12:00:00Z".into(),
                extra: Default::default(),
            })
            .collect();
        assert!(store.append(&events).unwrap() > 0);
    }

    fn done(row: &PropertyRow) -> usize {
        row.counts
            .iter()
            .find(|c| c.value == Status::Done.as_str())
            .map_or(0, |c| c.count)
    }

    #[test]
    fn kept_lines_are_reused_until_the_property_or_the_day_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, slugs) = two_properties(dir.path());
        let (snapshots, summaries) = (Snapshots::new(), Summaries::default());
        let first = summaries.rows(&storage, &snapshots, &slugs, TODAY);
        assert_eq!(first.len(), 2);
        assert_eq!(summaries.read_count(), 2);
        assert!(
            first
                .iter()
                .all(|r| !r.error && r.total > 0 && done(r) < r.total)
        );

        let again = summaries.rows(&storage, &snapshots, &slugs, TODAY);
        assert_eq!(summaries.read_count(), 2, "nothing changed: nothing read");
        assert_eq!(again.len(), 2);

        // A write made by this process: only that property is read again, and its
        // line shows the write.
        finish_all(&storage, &snapshots, &slugs[0]);
        let after = summaries.rows(&storage, &snapshots, &slugs, TODAY);
        assert_eq!(summaries.read_count(), 3);
        assert_eq!(done(&after[0]), after[0].total);

        // Another day: overdue and due soon may differ, so every line is read.
        summaries.rows(&storage, &snapshots, &slugs, TODAY.tomorrow().unwrap());
        assert_eq!(summaries.read_count(), 5);
    }

    #[test]
    fn a_write_by_another_process_is_seen_without_this_process_writing() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, slugs) = two_properties(dir.path());
        let (snapshots, summaries) = (Snapshots::new(), Summaries::default());
        summaries.rows(&storage, &snapshots, &slugs, TODAY);
        assert_eq!(summaries.read_count(), 2);
        // Another process: storage of its own (its own connections and counters).
        let other = Storage::open(DataDir::new(dir.path()), OpenOptions::default()).unwrap();
        finish_all(&other, &Snapshots::new(), &slugs[1]);
        let after = summaries.rows(&storage, &snapshots, &slugs, TODAY);
        assert_eq!(
            summaries.read_count(),
            3,
            "only the written property is read"
        );
        assert_eq!(done(&after[1]), after[1].total);
    }

    #[test]
    fn lines_of_properties_that_vanished_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, slugs) = two_properties(dir.path());
        let (snapshots, summaries) = (Snapshots::new(), Summaries::default());
        summaries.rows(&storage, &snapshots, &slugs, TODAY);
        assert_eq!(summaries.len(), 2);
        summaries.rows(&storage, &snapshots, &slugs[1..], TODAY);
        assert_eq!(summaries.len(), 1);
    }
}
