//! Choosing a backend, and moving every chat between JSON and SQLite.
//!
//! A data dir holds one backend: `bountybot.db` means SQLite, chat folders with JSON
//! files mean JSON, nothing means JSON. A data dir holding both is refused until
//! `migrate-storage` resolves it, and so is a `bountybot.db-wal`/`-shm` without its
//! database (SQLite would replay it onto whatever database is put there next). The
//! caller holds the data dir exclusively (the binary's lock), so no bot writes
//! meanwhile.
//!
//! When both backends hold data, they are compared chat by chat, bounty by bounty
//! ([`compare`]): if one holds everything the other does, the move goes on from the
//! fuller side and the other is archived; if each holds something the other lacks, the
//! differences are reported and nothing changes, unless the caller names the side to
//! keep. Nothing is ever deleted: a losing side is archived to `_legacy/{ts}/`.
//!
//! JSON to SQLite: read every chat (any error stops here, nothing changed); build the
//! database under a fresh staging name (`statekit::staged`: no journal, no stale
//! `-wal`), verify it by exporting it again and comparing, then put it in place (never
//! over a file, never beside a stray `-wal`); then move each chat folder to
//! `_legacy/{ts}/` (one rename per chat, so a chat is never split). SQLite to JSON:
//! write every chat's files, verify them the same way, then checkpoint the database and
//! move it aside with its `-wal`/`-shm` to `_legacy/{ts}/`. A crash anywhere is finished
//! by running the command again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use statekit::plan::{Mode, Plan};

use super::json::JsonStore;
use super::sqlite::{DB_FILE, SqliteStore, export_conn, import_conn};
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
        "{} holds both bountybot.db and JSON chat files; run `bountybot migrate-storage --to <json|sqlite>`: it compares the two and keeps everything, or says what differs",
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
    /// A `-wal`/`-shm` file without its database.
    #[error(
        "{} is left from a database that was moved without it; move it back beside its bountybot.db, or out of the data dir if that database is gone for good",
        .0.display()
    )]
    StraySidecar(PathBuf),
    /// Each backend holds something the other lacks.
    #[error(
        "both backends hold data the other lacks; nothing was changed. Differences:\n  {}\nRe-run with --prefer json or --prefer sqlite to keep one side (the other is archived, not deleted)",
        .0.join("\n  ")
    )]
    Diverged(Vec<String>),
    /// The copy did not read back equal to the source.
    #[error("verification failed: the copy in {} differs from the source; the source is untouched", .0.display())]
    Verify(PathBuf),
    /// The database's `-wal` did not go away after a checkpoint: something still has
    /// it open.
    #[error("{} is still there after a checkpoint; is a bot still running on this data dir?", .0.display())]
    WalRemains(PathBuf),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Opening the database failed.
    #[error(transparent)]
    Sqlite(#[from] statekit::sqlite::SqliteError),
    /// A statement failed.
    #[error("sqlite: {0}")]
    Statement(#[from] rusqlite::Error),
    /// The embedded migrations could not be read or applied.
    #[error(transparent)]
    Migrations(#[from] statekit::migrate::MigrateError),
    /// Building the new database or putting it in place failed.
    #[error(transparent)]
    Staged(#[from] statekit::staged::StagedError),
    /// Moving files aside failed.
    #[error(transparent)]
    Archive(#[from] statekit::archive::ArchiveError),
}

/// What a data dir holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Present {
    /// Chat folders with JSON files.
    pub json: bool,
    /// `bountybot.db`.
    pub sqlite: bool,
}

/// A `-wal` or `-shm` file at `dir` with no `bountybot.db` beside it.
fn stray_sidecar(dir: &Path) -> Option<PathBuf> {
    if dir.join(DB_FILE).exists() {
        return None;
    }
    ["-wal", "-shm"]
        .iter()
        .map(|s| dir.join(format!("{DB_FILE}{s}")))
        .find(|p| p.exists())
}

/// Looks at `dir`.
pub fn detect(dir: &Path) -> Result<Present, MigrateError> {
    Ok(Present {
        json: !JsonStore::new(dir).chats()?.is_empty(),
        sqlite: dir.join(DB_FILE).exists(),
    })
}

/// The backend to use for `dir`: the one asked for, checked against what the dir
/// holds; else what it holds; JSON for an empty dir. Both present is refused, and so is
/// a stray `-wal`/`-shm`.
pub fn choose(dir: &Path, asked: Option<Backend>) -> Result<Backend, MigrateError> {
    if let Some(stray) = stray_sidecar(dir) {
        return Err(MigrateError::StraySidecar(stray));
    }
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

/// How two copies of the store relate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// They hold the same.
    Same,
    /// The first holds everything the second does, and more (listed).
    FirstCovers(Vec<String>),
    /// The second holds everything the first does, and more (listed).
    SecondCovers(Vec<String>),
    /// Each holds something the other lacks: what only the first has, then what only
    /// the second has (a bounty that differs counts on both sides).
    Diverged(Vec<String>, Vec<String>),
}

/// Compares two copies of the store, chat by chat: bounties by id (and content), id
/// counters, members, their bookmarks and display names, settings and digest records. `names` label the two sides in the lists.
pub fn compare(first: &[ChatData], second: &[ChatData], names: (&str, &str)) -> Relation {
    let index = |d: &[ChatData]| -> BTreeMap<i64, ChatData> {
        d.iter().map(|c| (c.chat.0, c.clone())).collect()
    };
    let (a, b) = (index(first), index(second));
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    let chats: std::collections::BTreeSet<i64> = a.keys().chain(b.keys()).copied().collect();
    for chat in chats {
        match (a.get(&chat), b.get(&chat)) {
            (Some(x), None) => only_a.push(format!(
                "chat {chat}: only in {} ({} bounties)",
                names.0,
                x.bounties.len()
            )),
            (None, Some(y)) => only_b.push(format!(
                "chat {chat}: only in {} ({} bounties)",
                names.1,
                y.bounties.len()
            )),
            (Some(x), Some(y)) => {
                chat_differences(chat, x, y, names.0, &mut only_a);
                chat_differences(chat, y, x, names.1, &mut only_b);
            }
            (None, None) => {}
        }
    }
    match (only_a.is_empty(), only_b.is_empty()) {
        (true, true) => Relation::Same,
        (false, true) => Relation::FirstCovers(only_a),
        (true, false) => Relation::SecondCovers(only_b),
        (false, false) => Relation::Diverged(only_a, only_b),
    }
}

/// What chat `x` (on side `name`) holds that `y` lacks.
fn chat_differences(chat: i64, x: &ChatData, y: &ChatData, name: &str, out: &mut Vec<String>) {
    for bx in &x.bounties {
        match y.bounties.iter().find(|by| by.id == bx.id) {
            None => out.push(format!("chat {chat}: bounty {} only in {name}", bx.id.0)),
            Some(by) if by != bx => out.push(format!(
                "chat {chat}: bounty {} differs ({name}: {:?})",
                bx.id.0, bx.text
            )),
            Some(_) => {}
        }
    }
    if x.next_id > y.next_id {
        out.push(format!(
            "chat {chat}: {name} has used ids up to {} (a bounty added, maybe deleted since)",
            x.next_id.saturating_sub(1)
        ));
    }
    for (user, tracked) in &x.members {
        let theirs = y.members.iter().find(|(u, _)| u == user).map(|(_, t)| t);
        match theirs {
            None => out.push(format!("chat {chat}: member {} only in {name}", user.0)),
            Some(t) if t != tracked => out.push(format!(
                "chat {chat}: member {}'s bookmarks differ ({name}: {:?})",
                user.0,
                tracked.iter().map(|b| b.0).collect::<Vec<_>>()
            )),
            Some(_) => {}
        }
    }
    for (user, n) in &x.names {
        let theirs = y.names.iter().find(|(u, _)| u == user).map(|(_, t)| t);
        if theirs != Some(n) {
            out.push(format!(
                "chat {chat}: user {}'s name differs ({name}: {n:?})",
                user.0
            ));
        }
    }
    let set = &x.settings;
    if (set.time_zone.is_some() || set.remind_at.is_some()) && *set != y.settings {
        out.push(format!(
            "chat {chat}: settings differ ({name}: time zone {}, reminder {})",
            set.zone(),
            set.remind_at.map_or("off".to_string(), |t| t.to_string())
        ));
    }
    for d in &x.digests {
        if !y.digests.contains(d) {
            out.push(format!(
                "chat {chat}: digest record of {} only in {name}",
                d.date
            ));
        }
    }
}

/// Plans, and with [`Mode::Execute`] performs, the move of every chat to `to`. When
/// both backends hold data, `prefer` names the side to keep if they diverge.
/// `progress` receives short phase descriptions.
pub fn migrate_storage(
    dir: &Path,
    to: Backend,
    prefer: Option<Backend>,
    mode: Mode,
    progress: &dyn Fn(&str),
) -> Result<Plan, MigrateError> {
    match to {
        Backend::Sqlite => to_sqlite(dir, prefer, mode, progress),
        Backend::Json => to_json(dir, prefer, mode, progress),
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

/// Which side wins when both hold data: `None` to refuse (the differences are in the
/// error).
fn winner(
    relation: Relation,
    prefer: Option<Backend>,
    plan: &mut Plan,
) -> Result<Option<Backend>, MigrateError> {
    match relation {
        Relation::Same => Ok(None),
        Relation::FirstCovers(more) => {
            plan.note(format!("the JSON files hold more: {}", more.join("; ")));
            Ok(Some(Backend::Json))
        }
        Relation::SecondCovers(more) => {
            plan.note(format!("bountybot.db holds more: {}", more.join("; ")));
            Ok(Some(Backend::Sqlite))
        }
        Relation::Diverged(a, b) => match prefer {
            Some(side) => {
                plan.note(format!(
                    "both sides hold data the other lacks; keeping {side} as asked (--prefer)"
                ));
                Ok(Some(side))
            }
            None => Err(MigrateError::Diverged(a.into_iter().chain(b).collect())),
        },
    }
}

fn to_sqlite(
    dir: &Path,
    prefer: Option<Backend>,
    mode: Mode,
    progress: &dyn Fn(&str),
) -> Result<Plan, MigrateError> {
    if let Some(stray) = stray_sidecar(dir) {
        return Err(MigrateError::StraySidecar(stray));
    }
    let json = JsonStore::new(dir);
    progress("reading the JSON files");
    let chats = json.chats()?;
    let source = json.export()?;
    let mut plan = plan_for(Backend::Sqlite, mode, counts(&source), chats.len() as u64);
    if chats.is_empty() {
        return Ok(plan);
    }
    let db = dir.join(DB_FILE);
    // With a database already there: compare; the fuller side wins.
    let rebuild = if db.exists() {
        let have = export_conn(&statekit::sqlite::open_read_only(&db)?)?;
        let relation = compare(&source, &have, ("the JSON files", "bountybot.db"));
        match winner(relation, prefer, &mut plan)? {
            // The database holds everything: only the JSON files go.
            None | Some(Backend::Sqlite) => false,
            Some(Backend::Json) => true,
        }
    } else {
        true
    };
    if !mode.is_execute() {
        return Ok(plan);
    }
    if rebuild {
        if db.exists() {
            progress("moving the older bountybot.db aside");
            let moved = move_database_aside(dir)?;
            plan.note(format!(
                "the older database was moved to {}",
                moved.display()
            ));
        }
        progress("writing bountybot.db");
        let migrations = super::sqlite::migrations()?;
        let (staged, ()) = statekit::staged::build(&db, |conn| {
            migrations.apply(conn)?;
            let tx = conn.transaction()?;
            import_conn(&tx, &source)?;
            tx.commit()?;
            progress("verifying");
            if export_conn(conn)? != source {
                return Err(MigrateError::Verify(db.clone()));
            }
            Ok::<_, MigrateError>(())
        })?;
        crash_point("staged");
        staged.put_in_place()?;
    }
    crash_point("renamed");
    progress("archiving the JSON files");
    let folders: Vec<PathBuf> = chats
        .iter()
        .map(|c| PathBuf::from(c.0.to_string()))
        .collect();
    let archive =
        statekit::archive::archive_files(dir, "_legacy", &folders, jiff::Timestamp::now())?;
    plan.note(format!(
        "JSON chat folders archived to {}",
        archive.display()
    ));
    Ok(plan)
}

fn to_json(
    dir: &Path,
    prefer: Option<Backend>,
    mode: Mode,
    progress: &dyn Fn(&str),
) -> Result<Plan, MigrateError> {
    let db = dir.join(DB_FILE);
    if !db.exists() {
        let mut plan = plan_for(Backend::Json, mode, Counts::default(), 0);
        // A run that stopped between moving the database and its -wal: move the rest.
        let resume = stray_sidecar(dir).is_some() && mode.is_execute();
        if resume
            && let Some(moved) = statekit::archive::archive_database(
                dir,
                DB_FILE,
                "_legacy",
                jiff::Timestamp::now(),
            )?
        {
            plan.note(format!(
                "the rest of the database was moved to {}",
                moved.display()
            ));
        }
        return Ok(plan);
    }
    progress("reading bountybot.db");
    let source = export_conn(&statekit::sqlite::open_read_only(&db)?)?;
    let mut plan = plan_for(Backend::Json, mode, counts(&source), 1);
    let json = JsonStore::new(dir);
    let existing = json.chats()?;
    // With JSON files already there: compare; the fuller side wins.
    let write_json = if existing.is_empty() {
        true
    } else {
        let have = json.export()?;
        let relation = compare(&have, &source, ("the JSON files", "bountybot.db"));
        match winner(relation, prefer, &mut plan)? {
            // The JSON files hold everything: only the database goes.
            None | Some(Backend::Json) => false,
            Some(Backend::Sqlite) => true,
        }
    };
    if !mode.is_execute() {
        return Ok(plan);
    }
    if write_json {
        if !existing.is_empty() {
            progress("archiving the older JSON files");
            let folders: Vec<PathBuf> = existing
                .iter()
                .map(|c| PathBuf::from(c.0.to_string()))
                .collect();
            let moved =
                statekit::archive::archive_files(dir, "_legacy", &folders, jiff::Timestamp::now())?;
            plan.note(format!(
                "the older JSON files were moved to {}",
                moved.display()
            ));
        }
        progress("writing the JSON files");
        json.import(&source)?;
        progress("verifying");
        if json.export()? != source {
            return Err(MigrateError::Verify(dir.to_path_buf()));
        }
    }
    crash_point("exported");
    progress("moving bountybot.db aside");
    let archive = move_database_aside(dir)?;
    plan.note(format!("database moved to {}", archive.display()));
    Ok(plan)
}

/// Checkpoints `bountybot.db` (so its content is in the one file), checks that its
/// `-wal` went away, and moves it with whatever sidecars remain to `_legacy/{ts}/`.
fn move_database_aside(dir: &Path) -> Result<PathBuf, MigrateError> {
    let db = dir.join(DB_FILE);
    let conn = statekit::sqlite::open_existing_connection(&db, &Default::default())?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    conn.close().map_err(|(_, e)| e)?;
    let wal = dir.join(format!("{DB_FILE}-wal"));
    if wal.exists() {
        return Err(MigrateError::WalRemains(wal));
    }
    let moved =
        statekit::archive::archive_database(dir, DB_FILE, "_legacy", jiff::Timestamp::now())?;
    // `db` exists, so something was moved.
    Ok(moved.unwrap_or_else(|| dir.join("_legacy")))
}
