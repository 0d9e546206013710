//! `db-migrate`: import a property's legacy JSON into SQLite, then archive the JSON.
//!
//! Order of work, chosen so that a crash anywhere leaves a state from which a re-run
//! finishes the job with nothing lost or duplicated:
//!
//! 1. read and check every legacy file. A property without a database gets it built
//!    here, under a staging name, while the log is read: one thread parses the log
//!    and gives each event its id, the other loads the events (one transaction,
//!    prepared statement, indexes built once at the end). The staging file is private
//!    and removed on any error, so a malformed file still changes nothing. A property
//!    that has a database gets the log read whole and checked first;
//! 2. upsert the study users and progress blobs into the global study database
//!    (one transaction; upserts are idempotent);
//! 3. put the events live: rename the staging database into place (the property
//!    switches to SQLite only once its database is complete), or insert them into
//!    the existing database in one transaction, known `event_id`s skipped;
//! 4. archive the legacy files to `_legacy/{ts}/`. A re-run after a crash here
//!    imports the files still in place (no-ops) and archives them.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use statekit::plan::{Mode, Plan};

use super::staging::{Staged, build_staged_db};
use super::{Progress, crash_point};
use crate::compliance::record::{EventRecord, LegacyIds};
use crate::db::connection::open_read_only;
use crate::db::{DbError, compliance_repo, study_repo};
use crate::legacy;
use crate::property::{PropertyPaths, Slug};
use crate::storage::{Storage, StoreError};
use crate::study::{Progress as Blob, StudyUser, UserId};

/// Plan line: events to import.
pub const EVENTS: &str = "import compliance events";
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
    /// A database operation failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
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
    /// A staging database kept a WAL file after closing.
    #[error("staging database {0} did not close cleanly; re-run db-migrate")]
    StagingNotClean(PathBuf),
}

impl From<crate::legacy::LegacyError> for ImportError {
    fn from(e: crate::legacy::LegacyError) -> Self {
        ImportError::Store(e.into())
    }
}

impl From<rusqlite::Error> for ImportError {
    fn from(e: rusqlite::Error) -> Self {
        ImportError::Db(e.into())
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

/// Plans, and with [`Mode::Execute`] performs, the import of `slug`'s legacy JSON.
pub fn db_migrate(
    storage: &Storage,
    slug: &Slug,
    mode: Mode,
    progress: &dyn Progress,
) -> Result<Plan, ImportError> {
    db_migrate_timed(storage, slug, mode, progress).map(|(plan, _)| plan)
}

/// [`db_migrate`], also returning how long each step took.
pub fn db_migrate_timed(
    storage: &Storage,
    slug: &Slug,
    mode: Mode,
    progress: &dyn Progress,
) -> Result<(Plan, Timings), ImportError> {
    let paths = storage.property(slug)?;
    let mut timings = Timings::default();
    let mut step = Instant::now();
    let study = read_study_files(&paths)?;
    let mut plan = Plan::new(format!("db-migrate {slug}"), mode);
    let db_exists = paths.on_sqlite();
    plan.push(CREATE_DB, u64::from(!db_exists));
    let counts = |plan: &mut Plan, events| {
        plan.push(EVENTS, events);
        plan.push(USERS, study.users.len() as u64);
        plan.push(PROGRESS, study.progress.len() as u64);
        plan.push(ARCHIVE, study.files.len() as u64);
    };

    let events = if !db_exists && mode.is_execute() {
        // No database yet: build it whole, under a staging name, while reading the log.
        timings.read = step.elapsed();
        step = Instant::now();
        let staged = build_staged_db(storage, &paths, progress)?;
        timings.events = step.elapsed();
        crash_point("staged");
        counts(&mut plan, staged.events);
        NewEvents::Staged(staged)
    } else {
        // Count first; into a live database goes only what it lacks.
        let (new, records) = read_new_events(&paths, mode.is_execute())?;
        timings.read = step.elapsed();
        counts(&mut plan, new);
        if !mode.is_execute() || !plan.changes() {
            return Ok((plan, timings));
        }
        NewEvents::Live(records)
    };

    upsert_study(storage, slug, &study, &mut timings)?;

    step = Instant::now();
    match events {
        NewEvents::Staged(staged) => staged.put_in_place(&paths)?,
        NewEvents::Live(records) => {
            let total = records.len() as u64;
            storage.property_db(&paths)?.write(|conn| {
                let tx = conn.transaction()?;
                compliance_repo::insert_records(&tx, &records, |done| {
                    progress.update(done, Some(total))
                })?;
                tx.commit()?;
                Ok::<_, DbError>(())
            })?;
        }
    }
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

/// The events to import, ready to go live.
enum NewEvents {
    /// A complete database under its staging name.
    Staged(Staged),
    /// Every event of the log, for the property's existing database (which skips the
    /// ids it knows).
    Live(Vec<EventRecord>),
}

/// Reads the whole log; returns how many of its events are new (ids not seen before in
/// the log nor stored in the property's database), and, if `keep`, every event.
fn read_new_events(
    paths: &PropertyPaths,
    keep: bool,
) -> Result<(u64, Vec<EventRecord>), ImportError> {
    let conn = if paths.on_sqlite() {
        Some(open_read_only(&paths.db())?)
    } else {
        None
    };
    let mut ids = LegacyIds::default();
    let (mut new, mut kept, mut failed) = (0, Vec::new(), None);
    let mut scratch = EventRecord::default();
    legacy::scan_log(paths, |e| {
        let first = ids.fill(&mut scratch, e);
        if first {
            let stored = match &conn {
                Some(conn) => match compliance_repo::contains(conn, &scratch.event_id) {
                    Ok(stored) => stored,
                    Err(e) => {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                },
                None => false,
            };
            new += u64::from(!stored);
        }
        if keep {
            kept.push(scratch.clone());
        }
        ControlFlow::Continue(())
    })?;
    match failed {
        Some(e) => Err(e.into()),
        None => Ok((new, kept)),
    }
}

/// Upserts the study users and progress blobs in one transaction (idempotent).
fn upsert_study(
    storage: &Storage,
    slug: &Slug,
    study: &StudyFiles,
    timings: &mut Timings,
) -> Result<(), ImportError> {
    let step = Instant::now();
    if !study.users.is_empty() || !study.progress.is_empty() {
        let now = jiff::Timestamp::now().to_string();
        storage.study_db()?.write(|conn| {
            let tx = conn.transaction()?;
            for u in &study.users {
                study_repo::upsert_user(&tx, slug, u)?;
            }
            for (user, blob) in &study.progress {
                study_repo::save_progress(&tx, slug, user, blob, &now)?;
            }
            tx.commit()?;
            Ok::<_, DbError>(())
        })?;
    }
    crash_point("study");
    timings.study = step.elapsed();
    Ok(())
}

impl From<statekit::migrate::MigrateError> for ImportError {
    fn from(e: statekit::migrate::MigrateError) -> Self {
        ImportError::Db(e.into())
    }
}
