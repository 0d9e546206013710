//! Choosing a backend, and moving every chat between any two of JSON, SQLite and
//! PostgreSQL.
//!
//! A data dir holds one local backend: `bountybot.db` means SQLite, chat folders with
//! JSON files mean JSON, nothing means JSON (or PostgreSQL when a database URL is
//! given). A data dir holding both is refused until `migrate-storage` resolves it, and
//! so is a `bountybot.db-wal`/`-shm` without its database (SQLite would replay it onto
//! whatever database is put there next). The caller holds the data dir exclusively
//! (the binary's lock), and a PostgreSQL database through its use lock
//! ([`postgres::lock_exclusive`]), so no bot writes meanwhile.
//!
//! Every move is the same five steps ([`migrate_storage`]): read the source (any error
//! stops here, nothing changed); when the target holds data too, compare the two chat
//! by chat, bounty by bounty ([`compare`]): if one holds everything the other does,
//! the move goes on from the fuller side; if each holds something the other lacks, the
//! differences are reported and nothing changes, unless the caller names the side to
//! keep; set the target's old data aside; write the target and verify it by reading it
//! back; set the source aside. Nothing is ever deleted: JSON chat folders and a
//! database file go to `_legacy/{ts}/`, PostgreSQL's tables to a schema
//! `bountybot_archive_{ts}` with a marker that stops bots from starting afresh on the
//! emptied database.
//!
//! Writing: JSON writes every chat's files; SQLite builds the database under a fresh
//! staging name (`statekit::staged`: no journal, no stale `-wal`) and puts it in place
//! (never over a file, never beside a stray `-wal`); PostgreSQL writes and reads back
//! in one transaction. Each is verified by exporting it again and comparing. A crash
//! anywhere is finished by running the command again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use statekit::plan::{Mode, Plan};

use super::json::JsonStore;
use super::postgres::{self, DatabaseUrl, ExclusiveUse, PostgresStore};
use super::sqlite::{DB_FILE, SqliteStore, export_conn, import_conn};
use super::{BountyStore, ChatData, Portable, StoreError};
use crate::crash::crash_point;

/// Plan line: chats to copy.
pub const CHATS: &str = "copy chats";
/// Plan line: bounties to copy.
pub const BOUNTIES: &str = "copy bounties";
/// Plan line: bookmarks to copy.
pub const TRACKED: &str = "copy tracked entries";
/// Plan line: source items archived.
pub const ARCHIVE: &str = "archive the source";

/// A storage backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Per-chat JSON files.
    Json,
    /// `bountybot.db`.
    Sqlite,
    /// A PostgreSQL database (`--database-url`).
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Json => "json",
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
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
    /// PostgreSQL was asked for without a database URL.
    #[error(
        "--storage postgres needs the database: set BOUNTYBOT_DATABASE_URL (or --database-url) to postgres://user:password@host/database"
    )]
    NoDatabaseUrl,
    /// Several backends hold data and the source of a move is not clear.
    #[error(
        "{0} hold data; say which to move from with --from (the other is compared with the target first)"
    )]
    AmbiguousSource(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Opening the database failed.
    #[error(transparent)]
    Sqlite(#[from] statekit::sqlite::SqliteError),
    /// A statement failed.
    #[error("sqlite")]
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

/// Where the data lives: the data dir (JSON chat folders or `bountybot.db`), and the
/// PostgreSQL database when one is configured.
#[derive(Debug, Clone)]
pub struct Place {
    /// The data dir.
    pub dir: PathBuf,
    /// The PostgreSQL database, if any.
    pub database: Option<DatabaseUrl>,
}

impl Place {
    /// Just a data dir.
    pub fn dir(dir: &Path) -> Place {
        Place {
            dir: dir.to_path_buf(),
            database: None,
        }
    }

    fn database(&self) -> Result<&DatabaseUrl, MigrateError> {
        self.database.as_ref().ok_or(MigrateError::NoDatabaseUrl)
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

/// The backend to use: the one asked for (PostgreSQL when only a database URL is
/// given), checked against what the data dir holds; else what it holds; JSON for an
/// empty dir. Both local backends present is refused, and so is a stray `-wal`/`-shm`.
pub fn choose(place: &Place, asked: Option<Backend>) -> Result<Backend, MigrateError> {
    let dir = &place.dir;
    if let Some(stray) = stray_sidecar(dir) {
        return Err(MigrateError::StraySidecar(stray));
    }
    let asked = asked.or(place.database.as_ref().map(|_| Backend::Postgres));
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

/// Opens the chosen backend (PostgreSQL: holding its use lock shared).
pub fn open(place: &Place, backend: Backend) -> Result<Arc<dyn BountyStore>, MigrateError> {
    let dir = &place.dir;
    Ok(match backend {
        Backend::Json => Arc::new(JsonStore::new(dir)),
        Backend::Sqlite => Arc::new(SqliteStore::open(&SqliteStore::path_in(dir))?),
        Backend::Postgres => Arc::new(PostgresStore::open(place.database()?)?),
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

/// Counts per backend holding data, without changing anything (PostgreSQL only when
/// a database is given; it is read in one snapshot).
pub fn stats(place: &Place) -> Result<Vec<(Backend, Counts)>, MigrateError> {
    let dir = &place.dir;
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
    if let Some(url) = &place.database {
        match PostgresStore::open(url) {
            // Its data was moved to another backend: nothing there to count.
            Err(StoreError::Postgres(e)) if matches!(*e, postgres::Error::Moved { .. }) => {}
            store => {
                let data = store?.export()?;
                if !data.is_empty() {
                    out.push((Backend::Postgres, counts(&data)));
                }
            }
        }
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
/// counters, members, their bookmarks and display names, settings, digest records and
/// the groups that moved in. `names` label the two sides in the lists.
pub fn compare(first: &[ChatData], second: &[ChatData], names: (&str, &str)) -> Relation {
    let index = |d: &[ChatData]| -> BTreeMap<i64, ChatData> {
        d.iter().map(|c| (c.chat.get(), c.clone())).collect()
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
            None => out.push(format!(
                "chat {chat}: bounty {} only in {name}",
                bx.id.get()
            )),
            Some(by) if by != bx => out.push(format!(
                "chat {chat}: bounty {} differs ({name}: {:?})",
                bx.id.get(),
                bx.text
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
            None => out.push(format!("chat {chat}: member {} only in {name}", user.get())),
            Some(t) if t != tracked => out.push(format!(
                "chat {chat}: member {}'s bookmarks differ ({name}: {:?})",
                user.get(),
                tracked.iter().map(|b| b.get()).collect::<Vec<_>>()
            )),
            Some(_) => {}
        }
    }
    for (user, n) in &x.names {
        let theirs = y.names.iter().find(|(u, _)| u == user).map(|(_, t)| t);
        if theirs != Some(n) {
            out.push(format!(
                "chat {chat}: user {}'s name differs ({name}: {n:?})",
                user.get()
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
    for from in &x.moved_here {
        if !y.moved_here.contains(from) {
            out.push(format!(
                "chat {chat}: the move of group {from} into it only in {name}"
            ));
        }
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

/// Plans, and with [`Mode::Execute`] performs, the move of every chat to `to` from
/// `from`, or from the one other backend holding data. When the target holds data
/// too, `prefer` names the side to keep if the two diverge. `progress` receives short
/// phase descriptions.
pub fn migrate_storage(
    place: &Place,
    from: Option<Backend>,
    to: Backend,
    prefer: Option<Backend>,
    mode: Mode,
    progress: &dyn Fn(&str),
) -> Result<Plan, MigrateError> {
    if let Some(stray) = stray_sidecar(&place.dir) {
        // A run that stopped between moving the database and its -wal: move the rest.
        if to == Backend::Sqlite || !mode.is_execute() {
            return Err(MigrateError::StraySidecar(stray));
        }
        let mut plan = plan_for(to, mode, Counts::default(), 0);
        if let Some(moved) = statekit::archive::archive_database(
            &place.dir,
            DB_FILE,
            "_legacy",
            jiff::Timestamp::now(),
        )? {
            plan.note(format!(
                "the rest of the database was moved to {}",
                moved.display()
            ));
        }
        return Ok(plan);
    }
    // The database's use lock, held for the whole move when PostgreSQL takes part.
    let pg_lock = match (
        &place.database,
        from == Some(Backend::Postgres) || to == Backend::Postgres,
    ) {
        (Some(url), _) => Some(postgres::lock_exclusive(url)?),
        (None, true) => return Err(MigrateError::NoDatabaseUrl),
        (None, false) => None,
    };
    let side = Sides {
        place,
        pg_lock: pg_lock.as_ref(),
    };
    let source = match from {
        Some(b) if b == to => return Ok(plan_for(to, mode, Counts::default(), 0)),
        Some(b) => Some(b),
        None => {
            let mut holding = Vec::new();
            for b in [Backend::Json, Backend::Sqlite, Backend::Postgres] {
                if b != to && side.holds(b)? {
                    holding.push(b);
                }
            }
            match holding.as_slice() {
                [] => None,
                [one] => Some(*one),
                many => {
                    let names: Vec<String> = many.iter().map(ToString::to_string).collect();
                    return Err(MigrateError::AmbiguousSource(names.join(" and ")));
                }
            }
        }
    };
    let Some(source) = source else {
        return Ok(plan_for(to, mode, Counts::default(), 0));
    };
    progress(&format!("reading {}", side.name(source)));
    let data = side.export(source)?;
    let mut plan = plan_for(to, mode, counts(&data), side.archive_count(source)?);
    if !side.holds(source)? {
        return Ok(plan_for(to, mode, Counts::default(), 0));
    }
    // With data in the target already: compare; the fuller side wins.
    let target_has = side.holds(to)?;
    let rewrite = if target_has {
        let have = side.export(to)?;
        let relation = compare(&data, &have, (side.name(source), side.name(to)));
        match winner(relation, source, to, prefer, &mut plan, &side)? {
            // The target holds everything: only the source goes.
            None => false,
            Some(keep) => keep == source,
        }
    } else {
        true
    };
    if !mode.is_execute() {
        return Ok(plan);
    }
    if rewrite {
        if target_has {
            progress(&format!("moving the older {} aside", side.name(to)));
            let note = side.set_aside(to, "replaced")?;
            plan.note(format!("the older {} {note}", side.name(to)));
        }
        progress(&format!("writing {}", side.name(to)));
        side.write(to, &data, progress)?;
    }
    crash_point("written");
    progress(&format!("moving {} aside", side.name(source)));
    let note = side.set_aside(source, &to.to_string())?;
    plan.note(format!("{} {note}", side.name(source)));
    Ok(plan)
}

fn plan_for(to: Backend, mode: Mode, c: Counts, archive: u64) -> Plan {
    let mut plan = Plan::new(format!("migrate-storage --to {to}"), mode);
    plan.push(CHATS, c.chats);
    plan.push(BOUNTIES, c.bounties);
    plan.push(TRACKED, c.tracked);
    plan.push(ARCHIVE, archive);
    plan
}

/// Which side wins when both hold data: `None` when they hold the same, and an error
/// when they diverge and `prefer` does not say (the differences are in the error).
fn winner(
    relation: Relation,
    source: Backend,
    target: Backend,
    prefer: Option<Backend>,
    plan: &mut Plan,
    side: &Sides<'_>,
) -> Result<Option<Backend>, MigrateError> {
    match relation {
        Relation::Same => Ok(None),
        Relation::FirstCovers(more) => {
            plan.note(format!(
                "more in {}: {}",
                side.name(source),
                more.join("; ")
            ));
            Ok(Some(source))
        }
        Relation::SecondCovers(more) => {
            plan.note(format!(
                "more in {}: {}",
                side.name(target),
                more.join("; ")
            ));
            Ok(Some(target))
        }
        Relation::Diverged(a, b) => match prefer {
            Some(keep) if keep == source || keep == target => {
                plan.note(format!(
                    "both sides hold data the other lacks; keeping {keep} as asked (--prefer)"
                ));
                Ok(Some(keep))
            }
            _ => Err(MigrateError::Diverged(a.into_iter().chain(b).collect())),
        },
    }
}

/// The backends of one place, as a move sees them.
struct Sides<'a> {
    place: &'a Place,
    pg_lock: Option<&'a ExclusiveUse>,
}

impl Sides<'_> {
    fn name(&self, b: Backend) -> &'static str {
        match b {
            Backend::Json => "the JSON files",
            Backend::Sqlite => "bountybot.db",
            Backend::Postgres => "the PostgreSQL database",
        }
    }

    fn pg(&self) -> Result<(&DatabaseUrl, &ExclusiveUse), MigrateError> {
        match (&self.place.database, self.pg_lock) {
            (Some(url), Some(lock)) => Ok((url, lock)),
            _ => Err(MigrateError::NoDatabaseUrl),
        }
    }

    fn holds(&self, b: Backend) -> Result<bool, MigrateError> {
        let dir = &self.place.dir;
        Ok(match b {
            Backend::Json => !JsonStore::new(dir).chats()?.is_empty(),
            Backend::Sqlite => dir.join(DB_FILE).exists(),
            Backend::Postgres => match self.pg() {
                Ok((url, lock)) => postgres::holds_data(url, lock)?,
                Err(_) => false,
            },
        })
    }

    /// How many items setting `b` aside moves (chat folders, or one database).
    fn archive_count(&self, b: Backend) -> Result<u64, MigrateError> {
        Ok(match b {
            Backend::Json => JsonStore::new(&self.place.dir).chats()?.len() as u64,
            Backend::Sqlite | Backend::Postgres => 1,
        })
    }

    fn export(&self, b: Backend) -> Result<Vec<ChatData>, MigrateError> {
        let dir = &self.place.dir;
        Ok(match b {
            Backend::Json => JsonStore::new(dir).export()?,
            Backend::Sqlite => {
                let db = dir.join(DB_FILE);
                if !db.exists() {
                    return Ok(Vec::new());
                }
                export_conn(&statekit::sqlite::open_read_only(&db)?)?
            }
            Backend::Postgres => {
                let (url, lock) = self.pg()?;
                PostgresStore::open_for_move(url, lock)?.export()?
            }
        })
    }

    /// Writes `data` into `b`, which holds nothing now, and verifies it.
    fn write(
        &self,
        b: Backend,
        data: &[ChatData],
        progress: &dyn Fn(&str),
    ) -> Result<(), MigrateError> {
        let dir = &self.place.dir;
        match b {
            Backend::Json => {
                let json = JsonStore::new(dir);
                json.import(data)?;
                progress("verifying");
                if json.export()? != data {
                    return Err(MigrateError::Verify(dir.to_path_buf()));
                }
            }
            Backend::Sqlite => {
                let db = dir.join(DB_FILE);
                let migrations = super::sqlite::migrations()?;
                let (staged, ()) = statekit::staged::build(&db, |conn| {
                    migrations.apply(conn)?;
                    let tx = conn.transaction()?;
                    import_conn(&tx, data)?;
                    tx.commit()?;
                    progress("verifying");
                    if export_conn(conn)? != data {
                        return Err(MigrateError::Verify(db.clone()));
                    }
                    Ok::<_, MigrateError>(())
                })?;
                crash_point("staged");
                staged.put_in_place()?;
            }
            Backend::Postgres => {
                let (url, lock) = self.pg()?;
                let store = PostgresStore::open_for_move(url, lock)?;
                if !store.import_verified(data)? {
                    return Err(MigrateError::Verify(PathBuf::from(url.redacted())));
                }
            }
        }
        Ok(())
    }

    /// Moves `b`'s data out of the way (archived, never deleted); says where.
    fn set_aside(&self, b: Backend, why: &str) -> Result<String, MigrateError> {
        let dir = &self.place.dir;
        let now = jiff::Timestamp::now();
        Ok(match b {
            Backend::Json => {
                // The chats' folders, and those left behind by a chat's move.
                let json = JsonStore::new(dir);
                let moved = json.moves()?.into_iter().map(|(from, _)| from);
                let mut folders: Vec<PathBuf> = (json.chats()?.into_iter().chain(moved))
                    .map(|c| PathBuf::from(c.get().to_string()))
                    .collect();
                folders.sort();
                folders.dedup();
                let to = statekit::archive::archive_files(dir, "_legacy", &folders, now)?;
                format!("archived to {}", to.display())
            }
            Backend::Sqlite => {
                format!("moved to {}", move_database_aside(dir)?.display())
            }
            Backend::Postgres => {
                let (url, lock) = self.pg()?;
                let schema = postgres::archive(url, lock, why, now)?;
                format!("moved to the schema {schema} of {url}")
            }
        })
    }
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
