//! `db-migrate`: import a property's legacy JSON into SQLite, then archive the JSON.
//!
//! Order of work, chosen so that a crash anywhere leaves a state from which a re-run
//! finishes the job with nothing lost or duplicated:
//!
//! 1. read and check every legacy file (any error stops here, nothing changed);
//! 2. upsert the study users and progress blobs into the global study database
//!    (one transaction; upserts are idempotent);
//! 3. insert the events into the property database (one transaction, prepared
//!    statement, known `event_id`s skipped). A property without a database gets it
//!    built under a staging name and renamed into place after the commit, so the
//!    property switches to SQLite only once its database is complete;
//! 4. archive the legacy files to `_legacy/{ts}/`. A re-run after a crash here
//!    imports the files still in place (no-ops) and archives them.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use statekit::plan::{Mode, Plan};

use super::{Progress, crash_point};
use crate::compliance::Event;
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

struct Legacy {
    events: Vec<Event>,
    users: Vec<StudyUser>,
    progress: Vec<(UserId, Blob)>,
    files: Vec<PathBuf>,
}

fn read_legacy(paths: &PropertyPaths) -> Result<Legacy, ImportError> {
    Ok(Legacy {
        events: legacy::read_log(paths)?.unwrap_or_default().into_events(),
        users: legacy::read_users(paths)?.unwrap_or_default(),
        progress: legacy::read_all_progress(paths)?,
        files: legacy::mutable_files(paths)?,
    })
}

/// How long each step of an executed import took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Reading and checking the legacy files.
    pub read: Duration,
    /// Upserting study users and progress.
    pub study: Duration,
    /// Loading the events (one transaction, prepared statement).
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
    let legacy = read_legacy(&paths)?;
    timings.read = step.elapsed();
    let db_exists = paths.on_sqlite();

    let new_events = if db_exists {
        let conn = open_read_only(&paths.db())?;
        let mut n = 0;
        let mut seen = HashSet::new();
        for e in &legacy.events {
            if seen.insert(e.event_id.as_str()) && !compliance_repo::contains(&conn, &e.event_id)? {
                n += 1;
            }
        }
        n
    } else {
        legacy
            .events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<HashSet<_>>()
            .len() as u64
    };

    let mut plan = Plan::new(format!("db-migrate {slug}"), mode);
    plan.push(CREATE_DB, u64::from(!db_exists));
    plan.push(EVENTS, new_events);
    plan.push(USERS, legacy.users.len() as u64);
    plan.push(PROGRESS, legacy.progress.len() as u64);
    plan.push(ARCHIVE, legacy.files.len() as u64);
    if !mode.is_execute() || !plan.changes() {
        return Ok((plan, timings));
    }

    // 2. Study users and progress: idempotent upserts in one transaction.
    step = Instant::now();
    if !legacy.users.is_empty() || !legacy.progress.is_empty() {
        let now = jiff::Timestamp::now().to_string();
        storage.study_db()?.write(|conn| {
            let tx = conn.transaction()?;
            for u in &legacy.users {
                study_repo::upsert_user(&tx, slug, u)?;
            }
            for (user, blob) in &legacy.progress {
                study_repo::save_progress(&tx, slug, user, blob, &now)?;
            }
            tx.commit()?;
            Ok::<_, DbError>(())
        })?;
    }
    crash_point("study");
    timings.study = step.elapsed();

    // 3. Events, into the live database or a staging one renamed into place.
    step = Instant::now();
    let total = legacy.events.len() as u64;
    let report = |done| progress.update(done, total);
    if db_exists {
        let db = storage.property_db(&paths)?;
        db.write(|conn| insert_all(conn, &legacy.events, &report))?;
    } else {
        build_staged_db(storage, &paths, &legacy.events, &report)?;
    }
    crash_point("events");
    timings.events = step.elapsed();

    // 4. Archive what was imported.
    step = Instant::now();
    let files: Vec<PathBuf> = legacy
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

/// Page cache for an import connection (negative: KiB), so the indexes of a large log
/// stay in memory during the one big transaction.
const IMPORT_CACHE_KIB: i64 = -262_144;

fn insert_all(
    conn: &mut rusqlite::Connection,
    events: &[Event],
    report: &dyn Fn(u64),
) -> Result<u64, DbError> {
    let tx = conn.transaction()?;
    let n = compliance_repo::insert_events(&tx, events, report)?;
    tx.commit()?;
    Ok(n)
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn build_staged_db(
    storage: &Storage,
    paths: &PropertyPaths,
    events: &[Event],
    report: &dyn Fn(u64),
) -> Result<(), ImportError> {
    let target = paths.db();
    let staging = sidecar(&target, ".importing");
    for stale in [
        staging.clone(),
        sidecar(&staging, "-wal"),
        sidecar(&staging, "-shm"),
    ] {
        match fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ImportError::Io {
                    what: "cannot remove stale staging file",
                    path: stale,
                    source,
                });
            }
        }
    }
    {
        // The staging file is private until renamed, and discarded by a re-run if the
        // process dies, so it is built without a journal (each page written once) and
        // made durable as a whole before it goes live.
        let mut conn = rusqlite::Connection::open(&staging)?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON;",
        )?;
        conn.pragma_update(None, "cache_size", IMPORT_CACHE_KIB)?;
        storage.databases().property_migrations().apply(&mut conn)?;
        let tx = conn.transaction()?;
        compliance_repo::bulk_load_into_empty(&tx, events, report)?;
        tx.commit()?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(ImportError::StagingNotClean(staging));
        }
        conn.close().map_err(|(_, e)| DbError::from(e))?;
        fs::File::open(&staging)
            .and_then(|f| f.sync_all())
            .map_err(|source| ImportError::Io {
                what: "cannot sync",
                path: staging.clone(),
                source,
            })?;
    }
    if sidecar(&staging, "-wal").exists() {
        return Err(ImportError::StagingNotClean(staging));
    }
    fs::rename(&staging, &target).map_err(|source| ImportError::Io {
        what: "cannot move staging database into place at",
        path: target.clone(),
        source,
    })?;
    statekit::json::fsync_dir(&paths.dir).map_err(|source| ImportError::Io {
        what: "cannot sync directory",
        path: paths.dir.clone(),
        source,
    })?;
    Ok(())
}

impl From<statekit::migrate::MigrateError> for ImportError {
    fn from(e: statekit::migrate::MigrateError) -> Self {
        ImportError::Db(e.into())
    }
}
