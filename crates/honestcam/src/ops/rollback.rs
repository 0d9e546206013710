//! `db-rollback`: put a property back on the legacy JSON files.
//!
//! Runs under the property's exclusive lock, so no portal write can land in the
//! database after its export. Exports the database's current state (every event, with
//! its id; the property's study users and progress) to the legacy layout, then moves
//! `honestcam.db` with its `-wal`/`-shm` aside to `_rollback/{ts}/`. Because every
//! exported event keeps its id, a later `db-migrate` imports the JSON back with
//! nothing lost or duplicated. A re-run after a crash between the moves moves the
//! rest.
//!
//! The property's rows in the global study database stay: the next import upserts
//! them from the JSON, which is the newer copy by then.

use statekit::plan::Plan;

use super::{Run, crash_point};
use crate::property::{PROPERTY_DB, Slug};
use crate::storage::sqlite::connection::open_read_only;
use crate::storage::sqlite::{DbError, compliance_repo, study_repo};
use crate::storage::{Backend, Storage, StoreError, legacy};

/// Plan line: events to export.
pub const EVENTS: &str = "export compliance events";
/// Plan line: users to export.
pub const USERS: &str = "export study users";
/// Plan line: progress blobs to export.
pub const PROGRESS: &str = "export progress files";
/// Plan line: database to move aside.
pub const MOVE_DB: &str = "move database aside";

/// Why a rollback failed.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the legacy files failed.
    #[error(transparent)]
    Legacy(#[from] legacy::LegacyError),
    /// Reading the database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Moving the database aside failed (everything was exported; a re-run moves it).
    #[error(transparent)]
    Archive(#[from] statekit::archive::ArchiveError),
}

/// Plans, and with [`Run::Execute`] performs, the rollback of `slug` to JSON.
pub fn db_rollback(storage: &Storage, slug: &Slug, run: Run<'_>) -> Result<Plan, RollbackError> {
    let paths = storage.property(slug)?;
    let mut plan = Plan::new(format!("db-rollback {slug}"), run.mode());
    let lock = match run {
        Run::DryRun => return dry_run(storage, slug, plan),
        Run::Execute(lock) => lock,
    };
    let store = storage.under(lock)?;
    if store.backend() == Backend::Json {
        drop(store);
        plan.push(MOVE_DB, 0);
        plan.note("property is already on the legacy JSON files");
        // A crash between moving the database and its sidecars left these behind.
        if let Some(moved) = move_aside(&paths.dir)? {
            plan.note(format!(
                "moved the rest of the database to {}",
                moved.display()
            ));
        }
        return Ok(plan);
    }
    let events = store.events()?;
    let users = store.users()?;
    let progress = store.all_progress()?;
    drop(store);
    plan.push(EVENTS, events.len() as u64);
    plan.push(USERS, users.len() as u64);
    plan.push(PROGRESS, progress.len() as u64);
    plan.push(MOVE_DB, 1);

    legacy::write_log(&paths, &events)?;
    if !users.is_empty() {
        legacy::write_users(&paths, &users)?;
    }
    for (user, blob) in &progress {
        legacy::write_progress(&paths, user, blob)?;
    }
    crash_point("exported");

    storage.databases().evict(&paths.db());
    if let Some(moved) = move_aside(&paths.dir)? {
        plan.note(format!("database moved to {}", moved.display()));
        if super::replica::litestream_follows(&paths.db()) {
            plan.note(super::replica::RESTART_LITESTREAM);
        }
    }
    Ok(plan)
}

fn move_aside(dir: &std::path::Path) -> Result<Option<std::path::PathBuf>, RollbackError> {
    Ok(statekit::archive::archive_database(
        dir,
        PROPERTY_DB,
        "_rollback",
        jiff::Timestamp::now(),
    )?)
}

/// The counts, read without changing anything: read-only connections, no migrations.
fn dry_run(storage: &Storage, slug: &Slug, mut plan: Plan) -> Result<Plan, RollbackError> {
    let paths = storage.property(slug)?;
    if !paths.db().is_file() {
        plan.push(MOVE_DB, 0);
        plan.note("property is already on the legacy JSON files");
        return Ok(plan);
    }
    let conn = open_read_only(&paths.db())?;
    let events = compliance_repo::count_events(&conn)?;
    let study = storage.data().study_db();
    let (users, progress) = if study.is_file() {
        study_repo::counts(&open_read_only(&study)?, slug)?
    } else {
        (0, 0)
    };
    plan.push(EVENTS, events);
    plan.push(USERS, users);
    plan.push(PROGRESS, progress);
    plan.push(MOVE_DB, 1);
    Ok(plan)
}
