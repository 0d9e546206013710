//! `db-rollback`: put a property back on the legacy JSON files.
//!
//! Exports the database's current state (every event, with its id; the property's
//! study users and progress) to the legacy layout, then moves `honestcam.db` (with any
//! `-wal`/`-shm`) aside to `_rollback/{ts}/`. Writes made after the migration are in
//! the export, and because every exported event keeps its id, a later `db-migrate`
//! imports the JSON back with nothing lost or duplicated.
//!
//! The property's rows in the global study database stay: the next import upserts
//! them from the JSON, which is the newer copy by then.

use std::path::PathBuf;

use statekit::plan::{Mode, Plan};

use super::crash_point;
use crate::compliance::ComplianceLog;
use crate::db::{DbError, compliance_repo, study_repo};
use crate::legacy;
use crate::property::{PROPERTY_DB, Slug};
use crate::storage::{Storage, StoreError};

/// Plan line: events to export.
pub const EVENTS: &str = "export compliance events";
/// Plan line: users to export.
pub const USERS: &str = "export study users";
/// Plan line: progress blobs to export.
pub const PROGRESS: &str = "export progress files";
/// Plan line: database to move aside.
pub const MOVE_DB: &str = "move database aside";

/// Plans, and with [`Mode::Execute`] performs, the rollback of `slug` to JSON.
pub fn db_rollback(storage: &Storage, slug: &Slug, mode: Mode) -> Result<Plan, StoreError> {
    let paths = storage.property(slug)?;
    let mut plan = Plan::new(format!("db-rollback {slug}"), mode);
    if !paths.on_sqlite() {
        plan.push(MOVE_DB, 0);
        plan.note("property is already on the legacy JSON files");
        return Ok(plan);
    }

    let events = storage
        .property_db(&paths)?
        .read(compliance_repo::load_events)?;
    let (users, progress) = if storage.data().study_db().exists() {
        storage.study_db()?.read(|c| {
            Ok::<_, DbError>((
                study_repo::users(c, slug)?,
                study_repo::all_progress(c, slug)?,
            ))
        })?
    } else {
        (Vec::new(), Vec::new())
    };
    plan.push(EVENTS, events.len() as u64);
    plan.push(USERS, users.len() as u64);
    plan.push(PROGRESS, progress.len() as u64);
    plan.push(MOVE_DB, 1);
    if !mode.is_execute() {
        return Ok(plan);
    }

    legacy::write_log(&paths, &ComplianceLog { events })?;
    if !users.is_empty() {
        legacy::write_users(&paths, &users)?;
    }
    for (user, blob) in &progress {
        legacy::write_progress(&paths, user, blob)?;
    }
    crash_point("exported");

    storage.databases().evict(&paths.db());
    let mut files = vec![PathBuf::from(PROPERTY_DB)];
    for suffix in ["-wal", "-shm"] {
        let name = format!("{PROPERTY_DB}{suffix}");
        if paths.dir.join(&name).exists() {
            files.push(PathBuf::from(name));
        }
    }
    let moved =
        statekit::archive::archive_files(&paths.dir, "_rollback", &files, jiff::Timestamp::now())
            .map_err(|e| {
            StoreError::Legacy(legacy::LegacyError::Io {
                path: paths.db(),
                source: std::io::Error::other(e.to_string()),
            })
        })?;
    plan.note(format!("database moved to {}", moved.display()));
    Ok(plan)
}
