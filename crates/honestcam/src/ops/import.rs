//! `db-migrate`: import a property's legacy JSON into SQLite, then archive the JSON.
//!
//! Runs under the property's exclusive lock ([`Run::Execute`]), so the portal's writes
//! wait for it and land in whichever backend the property is on once it is done.
//! Order of work, chosen so that a crash anywhere leaves a state from which a re-run
//! finishes the job with nothing lost or duplicated:
//!
//! 1. read and check every legacy file: the baseline, the study files, and the log
//!    (two events sharing an `event_id` but differing are an error naming both;
//!    events that can never apply are counted and listed, and imported verbatim). A
//!    property without a database gets it built here, under a staging name, while the
//!    log is read (see `staging.rs`); the staging file is private and removed on any
//!    error, so a bad file still changes nothing. A property that has a database gets
//!    the log read whole and checked first;
//! 2. write the study users and progress blobs into the global study database (one
//!    transaction). For a property getting its first database the JSON files are the
//!    current copy and overwrite what the study database holds (rows left by an
//!    earlier migration, before a rollback). For a property that already has a database
//!    the files are leftovers of an interrupted run (or rollback) and the portal may
//!    have changed the rows since: only missing rows are added, nothing is overwritten;
//! 3. put the events live: the staging database goes in place (the property switches
//!    to SQLite only once its database is complete), or the events go into the
//!    existing database in one transaction, known `event_id`s skipped;
//! 4. archive the legacy files to `_legacy/{ts}/`. A re-run after a crash here
//!    imports the files still in place (no-ops) and archives them.

mod staging;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use statekit::plan::Plan;

use super::{LISTED_UNAPPLIABLE, Progress, Run, crash_point};
use crate::domain::fold::read_change;
use crate::domain::{Baseline, Change, ComplianceState, Progress as Blob, StudyUser, UserId};
use crate::property::{PROPERTY_DB, PropertyPaths, Slug};
use crate::storage::legacy::{self, LegacyError, LegacyEventRef, LegacyIds};
use crate::storage::record::EventRecord;
use crate::storage::sqlite::connection::open_read_only;
use crate::storage::sqlite::{DbError, compliance_repo, study_repo};
use crate::storage::{Storage, StoreError};
use staging::build_staged_db;

/// Plan line: events to import.
pub const EVENTS: &str = "import compliance events";
/// Plan line: events imported that will never change an action.
pub const UNAPPLIABLE: &str = "events that cannot apply (imported as they are)";
/// Plan line: users to import.
pub const USERS: &str = "import study users";
/// Plan line: progress files to import.
pub const PROGRESS: &str = "import progress files";
/// Plan line: legacy files to archive.
pub const ARCHIVE: &str = "archive legacy files";
/// Plan line: property database to create.
pub const CREATE_DB: &str = "create property database";

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A legacy file is missing, malformed or inconsistent.
    #[error(transparent)]
    Legacy(#[from] LegacyError),
    /// A database operation failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Building or placing the new database failed.
    #[error(transparent)]
    Staged(#[from] statekit::staged::StagedError),
    /// A file operation failed.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Archiving failed (everything was imported; a re-run archives).
    #[error(transparent)]
    Archive(#[from] statekit::archive::ArchiveError),
}

impl From<rusqlite::Error> for ImportError {
    fn from(e: rusqlite::Error) -> Self {
        ImportError::Db(e.into())
    }
}

/// The check of each event against the baseline: which can never apply, and why.
#[derive(Debug)]
struct Checks {
    state: ComplianceState,
    /// Events that cannot apply.
    unappliable: u64,
    /// The first few of them: position, id and reason.
    listed: Vec<String>,
}

impl Checks {
    fn new(baseline: &Baseline) -> Checks {
        Checks {
            state: ComplianceState::from_baseline(baseline),
            unappliable: 0,
            listed: Vec::new(),
        }
    }

    /// Why `e` can never apply, if it cannot.
    fn reason(&self, e: &LegacyEventRef<'_>) -> Option<String> {
        self.verdict(e).1
    }

    /// The change `e` makes whatever its action (`None` for a type or payload the fold
    /// skips), and why it can never apply, if it cannot.
    fn verdict(&self, e: &LegacyEventRef<'_>) -> (Option<Change>, Option<String>) {
        match read_change(&e.kind, &e.payload) {
            Ok(change) => (Some(change), self.state.check_action(&e.action_id).err()),
            Err(reason) => (None, Some(reason)),
        }
    }

    /// Counts an event kept for import, with the reason it cannot apply if any.
    fn note(&mut self, position: u64, id: &str, reason: Option<String>) {
        if let Some(reason) = reason {
            self.unappliable += 1;
            if self.listed.len() < LISTED_UNAPPLIABLE {
                self.listed
                    .push(format!("event #{position} ({id}) cannot apply: {reason}"));
            }
        }
    }

    fn report(&self, plan: &mut Plan) {
        plan.push(UNAPPLIABLE, self.unappliable);
        for line in &self.listed {
            plan.note(line.clone());
        }
        if self.unappliable > self.listed.len() as u64 {
            plan.note(format!(
                "... and {} more events that cannot apply",
                self.unappliable - self.listed.len() as u64
            ));
        }
    }
}

/// The legacy study files, read and checked before anything changes.
struct StudyFiles {
    users: Vec<StudyUser>,
    progress: Vec<(UserId, Blob)>,
    /// Every mutable legacy file present (the log too): what gets archived.
    files: Vec<PathBuf>,
}

fn read_study_files(paths: &PropertyPaths) -> Result<StudyFiles, ImportError> {
    Ok(StudyFiles {
        users: legacy::read_users(paths)?.unwrap_or_default(),
        progress: legacy::read_all_progress(paths)?,
        files: legacy::mutable_files(paths)?,
    })
}

/// How long each step of an executed import took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Reading and checking the study files, and, when the property already has a
    /// database, the log.
    pub read: Duration,
    /// Upserting study users and progress.
    pub study: Duration,
    /// Loading the events: for a new database, parsing the log on one thread while
    /// another loads it (one transaction, prepared statement) and builds the indexes.
    pub events: Duration,
    /// Archiving the legacy files.
    pub archive: Duration,
}

/// Plans, and with [`Run::Execute`] performs, the import of `slug`'s legacy JSON.
pub fn db_migrate(
    storage: &Storage,
    slug: &Slug,
    run: Run<'_>,
    progress: &dyn Progress,
) -> Result<Plan, ImportError> {
    db_migrate_timed(storage, slug, run, progress).map(|(plan, _)| plan)
}

/// [`db_migrate`], also returning how long each step took.
pub fn db_migrate_timed(
    storage: &Storage,
    slug: &Slug,
    run: Run<'_>,
    progress: &dyn Progress,
) -> Result<(Plan, Timings), ImportError> {
    let paths = storage.property(slug)?;
    let mut timings = Timings::default();
    let mut step = Instant::now();
    let baseline = storage.baseline(&paths)?;
    let study = read_study_files(&paths)?;
    let mut plan = Plan::new(format!("db-migrate {slug}"), run.mode());
    let db_exists = paths.db().is_file();
    plan.push(CREATE_DB, u64::from(!db_exists));
    let counts = |plan: &mut Plan, events, checks: &Checks| {
        plan.push(EVENTS, events);
        checks.report(plan);
        plan.push(USERS, study.users.len() as u64);
        plan.push(PROGRESS, study.progress.len() as u64);
        plan.push(ARCHIVE, study.files.len() as u64);
    };

    let (lock, staged) = match run {
        Run::Execute(lock) if !db_exists => {
            // An interrupted rollback may have left a -wal/-shm behind its database:
            // SQLite would replay it onto the new one.
            if let Some(moved) = statekit::archive::archive_database(
                &paths.dir,
                PROPERTY_DB,
                "_rollback",
                jiff::Timestamp::now(),
            )? {
                plan.note(format!(
                    "moved files left by an earlier database to {}",
                    moved.display()
                ));
            }
            // No database yet: build it whole, under a staging name, while reading the log.
            timings.read = step.elapsed();
            step = Instant::now();
            let (staged, built) = build_staged_db(storage, &paths, &baseline, progress)?;
            timings.events = step.elapsed();
            crash_point("staged");
            counts(&mut plan, built.events, &built.checks);
            (lock, Some(staged))
        }
        _ => {
            // Count first; into a live database goes only what it lacks.
            let (new, records, checks) = read_new_events(&paths, &baseline, run)?;
            timings.read = step.elapsed();
            counts(&mut plan, new, &checks);
            let Run::Execute(lock) = run else {
                return Ok((plan, timings));
            };
            if !plan.changes() {
                return Ok((plan, timings));
            }
            let total = records.len() as u64;
            step = Instant::now();
            storage
                .under(lock)?
                .append_records(records, |done| progress.update(done, Some(total)))?;
            timings.events = step.elapsed();
            (lock, None)
        }
    };

    // Without a staged database the property was already on SQLite: the files are
    // older than the rows the portal has been writing.
    let overwrite = staged.is_some();
    upsert_study(storage, lock, slug, &study, overwrite, &mut timings)?;

    step = Instant::now();
    if let Some(staged) = staged {
        staged.put_in_place()?;
        if super::replica::litestream_follows(&paths.db()) {
            plan.note(super::replica::RESTART_LITESTREAM);
        }
    }
    // The database carries the baseline too, so it alone can bring the property back.
    storage.sync_baseline(&paths)?;
    crash_point("events");
    timings.events += step.elapsed();

    // Archive what was imported.
    step = Instant::now();
    let files: Vec<PathBuf> = study
        .files
        .into_iter()
        .filter(|f| paths.dir.join(f).exists())
        .collect();
    if !files.is_empty() {
        let archive = statekit::archive::archive_legacy(&paths.dir, &files)?;
        plan.note(format!("legacy files archived to {}", archive.display()));
    }
    timings.archive = step.elapsed();
    plan.note(format!(
        "took {:.1} s: reading {:.1} s, study data {:.1} s, events {:.1} s, archiving {:.1} s",
        (timings.read + timings.study + timings.events + timings.archive).as_secs_f64(),
        timings.read.as_secs_f64(),
        timings.study.as_secs_f64(),
        timings.events.as_secs_f64(),
        timings.archive.as_secs_f64()
    ));
    Ok((plan, timings))
}

/// Reads the whole log, checking every event; returns how many of its events are new
/// (ids not seen before in the log nor stored in the property's database), the events
/// themselves when executing, and the checks.
fn read_new_events(
    paths: &PropertyPaths,
    baseline: &Baseline,
    run: Run<'_>,
) -> Result<(u64, Vec<EventRecord>, Checks), ImportError> {
    let keep = matches!(run, Run::Execute(_));
    let conn = if paths.db().is_file() {
        Some(open_read_only(&paths.db())?)
    } else {
        None
    };
    let mut ids = LegacyIds::default();
    let mut checks = Checks::new(baseline);
    let (mut new, mut kept, mut failed) = (0, Vec::new(), None);
    let mut scratch = EventRecord::default();
    legacy::scan_log(paths, |e| {
        let reason = checks.reason(&e);
        let first = match ids.fill(&mut scratch, e) {
            Ok(first) => first,
            Err(source) => {
                failed = Some(ImportError::Legacy(LegacyError::IdConflict {
                    path: paths.legacy_log(),
                    source,
                }));
                return ControlFlow::Break(());
            }
        };
        if first {
            checks.note(ids.position(), &scratch.event_id, reason);
            let stored = match &conn {
                Some(conn) => match compliance_repo::contains(conn, &scratch.event_id) {
                    Ok(stored) => stored,
                    Err(e) => {
                        failed = Some(e.into());
                        return ControlFlow::Break(());
                    }
                },
                None => false,
            };
            new += u64::from(!stored);
            if keep {
                kept.push(scratch.clone());
            }
        }
        ControlFlow::Continue(())
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok((new, kept, checks)),
    }
}

/// Writes the study users and progress blobs in one transaction (idempotent): over
/// what is stored when `overwrite`, else only where nothing is stored yet.
fn upsert_study(
    storage: &Storage,
    lock: &crate::storage::ExclusiveLock,
    slug: &Slug,
    study: &StudyFiles,
    overwrite: bool,
    timings: &mut Timings,
) -> Result<(), ImportError> {
    let step = Instant::now();
    if !study.users.is_empty() || !study.progress.is_empty() {
        let now = jiff::Timestamp::now().to_string();
        // One unit of work on the study database's writer: all of it or nothing.
        let (slug, users, progress) = (slug.clone(), study.users.clone(), study.progress.clone());
        storage.under(lock)?.with_study_db(move |tx| {
            for u in &users {
                if overwrite {
                    study_repo::upsert_user(tx, &slug, u)?;
                } else {
                    study_repo::insert_user_if_missing(tx, &slug, u)?;
                }
            }
            for (user, blob) in &progress {
                if overwrite {
                    study_repo::save_progress(tx, &slug, user, blob, &now)?;
                } else {
                    study_repo::insert_progress_if_missing(tx, &slug, user, blob, &now)?;
                }
            }
            Ok::<_, DbError>(())
        })?;
    }
    crash_point("study");
    timings.study = step.elapsed();
    Ok(())
}
