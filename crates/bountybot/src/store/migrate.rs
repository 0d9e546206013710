//! Choosing a backend, and moving every chat between JSON and SQLite.
//!
//! A data dir holds one backend: `bountybot.db` means SQLite, chat folders with JSON
//! files mean JSON, nothing means JSON. A data dir holding both is refused until
//! `migrate-storage` finishes. Stop the bot before migrating.
//!
//! JSON to SQLite: read every chat (any error stops here, nothing changed); build the
//! database under `bountybot.db.importing`, verify it by exporting it again and
//! comparing, then rename it into place; then move each chat folder to
//! `_legacy/{ts}/` (one rename per chat, so a chat is never split). SQLite to JSON:
//! write every chat's files, verify them the same way, then move the database aside
//! to `_legacy/{ts}/`. A crash anywhere is finished by running the command again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use statekit::plan::{Mode, Plan};

use super::json::JsonStore;
use super::sqlite::{DB_FILE, SqliteStore, export_conn};
use super::{BountyStore, ChatData, Portable, StoreError};

/// Plan line: chats to copy.
pub const CHATS: &str = "copy chats";
/// Plan line: bounties to copy.
pub const BOUNTIES: &str = "copy bounties";
/// Plan line: bookmarks to copy.
pub const TRACKED: &str = "copy tracked entries";
/// Plan line: source items archived.
pub const ARCHIVE: &str = "archive the source";

/// Environment variable making a migration abort after the named step (crash tests).
pub const ABORT_AFTER_ENV: &str = "BOUNTYBOT_TEST_ABORT_AFTER";

fn crash_point(step: &str) {
    statekit::crash::crash_point(ABORT_AFTER_ENV, step);
}

/// A storage backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Per-chat JSON files.
    Json,
    /// `bountybot.db`.
    Sqlite,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Json => "json",
            Backend::Sqlite => "sqlite",
        })
    }
}

/// Why a backend could not be chosen or a migration not done.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Both backends hold data.
    #[error(
        "{} holds both bountybot.db and JSON chat files; finish the move with `bountybot migrate-storage --to <json|sqlite> --execute`, or move one of them away",
        .0.display()
    )]
    BothPresent(PathBuf),
    /// The requested backend is not the one holding the data.
    #[error(
        "{dir} holds {found} data, but --storage {asked} was asked for; convert it with `bountybot migrate-storage --to {asked} --execute`"
    )]
    Mismatch {
        /// The data dir.
        dir: PathBuf,
        /// What it holds.
        found: Backend,
        /// What was asked for.
        asked: Backend,
    },
    /// A database exists but does not match the JSON data being imported.
    #[error("{} already exists and differs from the JSON data; resolve by hand", .0.display())]
    Conflict(PathBuf),
    /// The copy did not read back equal to the source.
    #[error("verification failed: the copy in {} differs from the source; the source is untouched", .0.display())]
    Verify(PathBuf),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Opening or reading the database failed.
    #[error(transparent)]
    Sqlite(#[from] statekit::sqlite::SqliteError),
    /// A file operation failed.
    #[error("{0}")]
    Io(String),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Io(format!("sqlite: {e}"))
    }
}

/// What a data dir holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Present {
    /// Chat folders with JSON files.
    pub json: bool,
    /// `bountybot.db`.
    pub sqlite: bool,
}

/// Looks at `dir`.
pub fn detect(dir: &Path) -> Result<Present, MigrateError> {
    Ok(Present {
        json: !JsonStore::new(dir).chats()?.is_empty(),
        sqlite: dir.join(DB_FILE).exists(),
    })
}

/// The backend to use for `dir`: the one asked for, checked against what the dir
/// holds; else what it holds; JSON for an empty dir. Both present is refused.
pub fn choose(dir: &Path, asked: Option<Backend>) -> Result<Backend, MigrateError> {
    let p = detect(dir)?;
    let found = match (p.json, p.sqlite) {
        (true, true) => return Err(MigrateError::BothPresent(dir.to_path_buf())),
        (false, true) => Some(Backend::Sqlite),
        (true, false) => Some(Backend::Json),
        (false, false) => None,
    };
    match (asked, found) {
        (Some(asked), Some(found)) if asked != found => Err(MigrateError::Mismatch {
            dir: dir.to_path_buf(),
            found,
            asked,
        }),
        (Some(b), _) | (None, Some(b)) => Ok(b),
        (None, None) => Ok(Backend::Json),
    }
}

/// Opens the chosen backend.
pub fn open(dir: &Path, backend: Backend) -> Result<Arc<dyn BountyStore>, MigrateError> {
    Ok(match backend {
        Backend::Json => Arc::new(JsonStore::new(dir)),
        Backend::Sqlite => Arc::new(SqliteStore::open(&SqliteStore::path_in(dir))?),
    })
}

/// Counts of a backend's data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Chats with data.
    pub chats: u64,
    /// Bounties.
    pub bounties: u64,
    /// Bookmarks.
    pub tracked: u64,
}

fn counts(data: &[ChatData]) -> Counts {
    Counts {
        chats: data.len() as u64,
        bounties: data.iter().map(|d| d.bounties.len() as u64).sum(),
        tracked: data
            .iter()
            .flat_map(|d| &d.members)
            .map(|(_, t)| t.len() as u64)
            .sum(),
    }
}

/// Counts per backend present in `dir`, without changing anything.
pub fn stats(dir: &Path) -> Result<Vec<(Backend, Counts)>, MigrateError> {
    let mut out = Vec::new();
    let json = JsonStore::new(dir);
    if !json.chats()?.is_empty() {
        out.push((Backend::Json, counts(&json.export()?)));
    }
    let db = dir.join(DB_FILE);
    if db.exists() {
        let c = statekit::sqlite::open_read_only(&db)?;
        let one = |sql: &str| -> Result<u64, MigrateError> {
            Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        out.push((
            Backend::Sqlite,
            Counts {
                chats: one("SELECT count(*) FROM chats")?,
                bounties: one("SELECT count(*) FROM bounties")?,
                tracked: one("SELECT count(*) FROM tracked")?,
            },
        ));
    }
    Ok(out)
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn remove_if_exists(path: &Path) -> Result<(), MigrateError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(MigrateError::Io(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
    }
}

/// Plans, and with [`Mode::Execute`] performs, the move of every chat to `to`.
/// `progress` receives short phase descriptions.
pub fn migrate_storage(
    dir: &Path,
    to: Backend,
    mode: Mode,
    progress: &dyn Fn(&str),
) -> Result<Plan, MigrateError> {
    match to {
        Backend::Sqlite => to_sqlite(dir, mode, progress),
        Backend::Json => to_json(dir, mode, progress),
    }
}

fn plan_for(to: Backend, mode: Mode, c: Counts, archive: u64) -> Plan {
    let mut plan = Plan::new(format!("migrate-storage --to {to}"), mode);
    plan.push(CHATS, c.chats);
    plan.push(BOUNTIES, c.bounties);
    plan.push(TRACKED, c.tracked);
    plan.push(ARCHIVE, archive);
    plan
}

fn to_sqlite(dir: &Path, mode: Mode, progress: &dyn Fn(&str)) -> Result<Plan, MigrateError> {
    let json = JsonStore::new(dir);
    progress("reading the JSON files");
    let chats = json.chats()?;
    let source = json.export()?;
    let mut plan = plan_for(Backend::Sqlite, mode, counts(&source), chats.len() as u64);
    if !mode.is_execute() || chats.is_empty() {
        return Ok(plan);
    }
    let db = dir.join(DB_FILE);
    if db.exists() {
        // A run that stopped after the rename: the database must hold exactly what
        // is still in JSON (chats already archived are in it too).
        let have = export_conn(&statekit::sqlite::open_read_only(&db)?)?;
        if !source.iter().all(|d| have.contains(d)) {
            return Err(MigrateError::Conflict(db));
        }
    } else {
        let staging = sidecar(&db, ".importing");
        for stale in [
            staging.clone(),
            sidecar(&staging, "-wal"),
            sidecar(&staging, "-shm"),
        ] {
            remove_if_exists(&stale)?;
        }
        progress("writing bountybot.db");
        {
            let store = SqliteStore::open(&staging)?;
            store.import(&source)?;
            progress("verifying");
            if store.export()? != source {
                drop(store);
                remove_if_exists(&staging)?;
                return Err(MigrateError::Verify(staging));
            }
        } // closed: the WAL is checkpointed and removed
        if sidecar(&staging, "-wal").exists() {
            return Err(MigrateError::Io(format!(
                "{} did not close cleanly; run again",
                staging.display()
            )));
        }
        std::fs::File::open(&staging)
            .and_then(|f| f.sync_all())
            .map_err(|e| MigrateError::Io(format!("cannot sync {}: {e}", staging.display())))?;
        crash_point("staged");
        std::fs::rename(&staging, &db).map_err(|e| {
            MigrateError::Io(format!("cannot move {} into place: {e}", staging.display()))
        })?;
        statekit::json::fsync_dir(dir).map_err(|e| MigrateError::Io(e.to_string()))?;
    }
    crash_point("renamed");
    progress("archiving the JSON files");
    let folders: Vec<PathBuf> = chats
        .iter()
        .map(|c| PathBuf::from(c.0.to_string()))
        .collect();
    let archive =
        statekit::archive::archive_files(dir, "_legacy", &folders, jiff::Timestamp::now())
            .map_err(|e| MigrateError::Io(e.to_string()))?;
    plan.note(format!(
        "JSON chat folders archived to {}",
        archive.display()
    ));
    Ok(plan)
}

fn to_json(dir: &Path, mode: Mode, progress: &dyn Fn(&str)) -> Result<Plan, MigrateError> {
    let db = dir.join(DB_FILE);
    if !db.exists() {
        return Ok(plan_for(Backend::Json, mode, Counts::default(), 0));
    }
    progress("reading bountybot.db");
    let source = export_conn(&statekit::sqlite::open_read_only(&db)?)?;
    let mut plan = plan_for(Backend::Json, mode, counts(&source), 1);
    if !mode.is_execute() {
        return Ok(plan);
    }
    let json = JsonStore::new(dir);
    progress("writing the JSON files");
    json.import(&source)?;
    progress("verifying");
    if json.export()? != source {
        return Err(MigrateError::Verify(dir.to_path_buf()));
    }
    crash_point("exported");
    progress("moving bountybot.db aside");
    let mut files = vec![PathBuf::from(DB_FILE)];
    for suffix in ["-wal", "-shm"] {
        if dir.join(format!("{DB_FILE}{suffix}")).exists() {
            files.push(PathBuf::from(format!("{DB_FILE}{suffix}")));
        }
    }
    let archive = statekit::archive::archive_files(dir, "_legacy", &files, jiff::Timestamp::now())
        .map_err(|e| MigrateError::Io(e.to_string()))?;
    plan.note(format!("database moved to {}", archive.display()));
    Ok(plan)
}
