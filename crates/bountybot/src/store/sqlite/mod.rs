//! The SQLite backend: `{data}/bountybot.db`, opened through `statekit` (WAL, foreign
//! keys, numbered migrations from `migrations/sqlite/`), with the JSON backend's semantics.
//!
//! Every change is one unit of work on the database's writer (`statekit`'s group
//! commit): the changes of concurrent callers are committed together, each in a
//! savepoint of its own, in one `BEGIN IMMEDIATE` transaction, so writers in other
//! processes queue on the database lock instead of failing half-way; a change is
//! durable (`synchronous=FULL`) when the method returns, and one that fails is rolled
//! back alone.

mod error;
mod rows;

pub use error::Error;

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use jiff::civil::Date;
use rusqlite::{Connection, params};
use statekit::migrate::Migrations;
use statekit::sqlite::group::WriteError;
use statekit::sqlite::{Database, OpenOptions};

use super::sql::{self, Rows, export_rows, import_rows};
use super::{
    Bounties, ChatData, ChatSettingsStore, Ledger, Origin, Portable, ReminderChat, Scope,
    StoreError,
};
use crate::domain::{
    Bounty, BountyId, BountyPatch, ChatId, ChatMove, ChatSettings, DigestClaim, DigestRecord,
    NewBounty, SettingsPatch, UpdateId, UserId,
};
use rows::{claim_tx, digests_in};

/// The database file name inside the data dir.
pub const DB_FILE: &str = "bountybot.db";

static MIGRATIONS: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/sqlite");

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    db: Database,
}

/// A statement's failure, in `scope`.
fn err(scope: impl Into<Scope>) -> impl Fn(rusqlite::Error) -> StoreError {
    let scope = scope.into();
    move |source| Error::Statement { scope, source }.into()
}

/// A unit's own SQLite error, or the writer's failure, in `scope`.
fn write_error(scope: impl Into<Scope>, e: WriteError<rusqlite::Error>) -> StoreError {
    let scope = scope.into();
    match e.into_unit() {
        Ok(source) => Error::Statement { scope, source }.into(),
        Err(source) => Error::Write { scope, source }.into(),
    }
}

impl SqliteStore {
    /// Opens (creating and migrating) `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let db = Database::open(path, OpenOptions::default()).map_err(Error::from)?;
        let migrations = Migrations::from_dir(&MIGRATIONS).map_err(Error::from)?;
        db.exclusive(move |c| migrations.apply(c).map(|_| ()).map_err(Error::from))?;
        Ok(SqliteStore { db })
    }

    /// `{data}/bountybot.db`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(DB_FILE)
    }

    fn write<R: Send + 'static>(
        &self,
        scope: impl Into<Scope>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let scope = scope.into();
        self.db.writer().write(f).map_err(|e| write_error(scope, e))
    }

    /// One unit of work on the writer running `f` and storing `w` (the update recorded
    /// as processed, the sender's name): all commit together, or nothing does (the
    /// unit runs in the writer's transaction, rolled back alone if it fails).
    fn write_for<R: Send + 'static>(
        &self,
        chat: ChatId,
        w: &Origin,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (update, name) = (w.update, w.name_in(chat));
        let outcome = self.db.writer().write(move |tx: &Connection| {
            if let Some(u) = update
                && sql::processed(&mut &*tx, u)?
            {
                return Ok(Err(u));
            }
            let r = f(tx)?;
            if let Some((user, name)) = name {
                sql::put_name(&mut &*tx, chat, user, &name)?;
            }
            if let Some(u) = update {
                sql::record(&mut &*tx, chat, u)?;
            }
            Ok(Ok(r))
        });
        match outcome {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(update)) => Err(StoreError::AlreadyProcessed { update }),
            Err(e) => Err(write_error(chat, e)),
        }
    }

    fn read<R>(
        &self,
        scope: impl Into<Scope>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        self.db.read(f).map_err(err(scope))
    }
}

impl Bounties for SqliteStore {
    fn ensure_user(&self, chat: ChatId, user: UserId) -> Result<(), StoreError> {
        self.write(chat, move |tx| sql::ensure_member(&mut &*tx, chat, user))
    }

    fn add(&self, chat: ChatId, new: NewBounty, w: &Origin) -> Result<Bounty, StoreError> {
        super::injected_failure("add", chat)?;
        self.write_for(chat, w, move |tx| sql::add(&mut &*tx, chat, new))
    }

    fn get(&self, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, StoreError> {
        self.read(chat, |mut c| c.bounty(chat, id))
    }

    fn list(&self, chat: ChatId) -> Result<Vec<Bounty>, StoreError> {
        self.read(chat, |mut c| c.bounties(chat))
    }

    fn update(
        &self,
        chat: ChatId,
        id: BountyId,
        patch: &BountyPatch,
        w: &Origin,
    ) -> Result<Option<Bounty>, StoreError> {
        // Read and write in one unit of work: no other writer in between.
        let patch = patch.clone();
        self.write_for(chat, w, move |tx| sql::update(&mut &*tx, chat, id, &patch))
    }

    fn delete(&self, chat: ChatId, id: BountyId, w: &Origin) -> Result<bool, StoreError> {
        self.write_for(chat, w, move |tx| sql::delete(&mut &*tx, chat, id))
    }

    fn track(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError> {
        let user = chat.bookmark_owner(user);
        self.write_for(chat, w, move |tx| sql::track(&mut &*tx, chat, user, id))
    }

    fn untrack(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError> {
        let user = chat.bookmark_owner(user);
        self.write_for(chat, w, move |tx| sql::untrack(&mut &*tx, chat, user, id))
    }

    fn tracked(&self, chat: ChatId, user: UserId) -> Result<Vec<BountyId>, StoreError> {
        let user = chat.bookmark_owner(user);
        self.read(chat, |mut c| c.tracked(chat, user))
    }

    fn remember_name(&self, chat: ChatId, user: UserId, name: &str) -> Result<(), StoreError> {
        let Some(name) = super::name_kept(chat, user, name) else {
            return Ok(());
        };
        let known = self.read(chat, |mut c| sql::names(&mut c, chat, Some(user)))?;
        if known.first().is_some_and(|(_, n)| *n == name) {
            return Ok(());
        }
        self.write(chat, move |tx| sql::put_name(&mut &*tx, chat, user, &name))
    }

    fn trackers(&self, chat: ChatId, id: BountyId) -> Result<Vec<UserId>, StoreError> {
        self.read(chat, |mut c| sql::trackers(&mut c, chat, id))
    }

    fn names(&self, chat: ChatId) -> Result<Vec<(UserId, String)>, StoreError> {
        self.read(chat, |mut c| c.names(chat))
    }
}

impl ChatSettingsStore for SqliteStore {
    fn settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError> {
        self.read(chat, |mut c| c.settings(chat))
    }

    fn update_settings(
        &self,
        chat: ChatId,
        patch: &SettingsPatch,
        w: &Origin,
    ) -> Result<ChatSettings, StoreError> {
        let patch = patch.clone();
        self.write_for(chat, w, move |tx| {
            sql::update_settings(&mut &*tx, chat, &patch)
        })
    }

    fn claim_digest(&self, chat: ChatId, date: Date, now: i64) -> Result<DigestClaim, StoreError> {
        self.write(chat, move |tx| claim_tx(tx, chat, date, now, None))
    }

    fn reclaim_digest(
        &self,
        chat: ChatId,
        date: Date,
        now: i64,
        older_than: i64,
    ) -> Result<DigestClaim, StoreError> {
        self.write(chat, move |tx| {
            claim_tx(tx, chat, date, now, Some(older_than))
        })
    }

    fn digest_sent(&self, chat: ChatId, date: Date, message_id: i32) -> Result<bool, StoreError> {
        self.write(chat, move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE digests SET message_id = ?3
                     WHERE chat_id = ?1 AND local_date = ?2 AND message_id IS NULL",
                )?
                .execute(params![chat.get(), date.to_string(), message_id])?;
            Ok(n == 1)
        })
    }

    fn digests(&self, chat: ChatId) -> Result<Vec<DigestRecord>, StoreError> {
        self.read(chat, |c| digests_in(c, chat))
    }

    fn reminder_chats(&self) -> Result<Vec<ReminderChat>, StoreError> {
        let chats = self.read(Scope::Store, |mut c| sql::reminder_chats(&mut c))?;
        let in_chat = |(chat, s): (ChatId, rusqlite::Result<_>)| (chat, s.map_err(err(chat)));
        Ok(chats.into_iter().map(in_chat).collect())
    }
}

impl Ledger for SqliteStore {
    fn processed(
        &self,
        _chat: ChatId,
        _user: UserId,
        update: UpdateId,
    ) -> Result<bool, StoreError> {
        self.read(Scope::Store, |mut c| sql::processed(&mut c, update))
    }

    fn note(&self, chat: ChatId, w: &Origin) -> Result<(), StoreError> {
        match (w.update, w.name_in(chat)) {
            (None, None) => Ok(()),
            (None, Some((user, name))) => self.remember_name(chat, user, &name),
            (Some(_), _) => self.write_for(chat, w, |_| Ok(())),
        }
    }

    fn migrate_chat(&self, from: ChatId, to: ChatId) -> Result<ChatMove, StoreError> {
        super::check_migration(from, to)?;
        // One transaction: all of it moves, or nothing does.
        self.write(from, move |tx| sql::migrate_chat(&mut &*tx, from, to))
    }

    fn moved_to(&self, chat: ChatId) -> Result<ChatId, StoreError> {
        self.read(chat, |mut c| sql::moved_to(&mut c, chat))
    }
}

/// Every chat's data from a connection (read-only use is fine).
pub fn export_conn(mut c: &Connection) -> rusqlite::Result<Vec<ChatData>> {
    export_rows(&mut c)
}

impl Portable for SqliteStore {
    fn export(&self) -> Result<Vec<ChatData>, StoreError> {
        self.read(Scope::Store, export_conn)
    }

    fn import(&self, chats: &[ChatData]) -> Result<(), StoreError> {
        let chats = chats.to_vec();
        self.write(Scope::Store, move |tx| import_conn(tx, &chats))
    }
}

/// The embedded migrations of `bountybot.db`.
pub fn migrations() -> Result<Migrations, statekit::migrate::MigrateError> {
    Migrations::from_dir(&MIGRATIONS)
}

/// Writes `chats` into an empty database through `c` (inside the caller's transaction).
pub fn import_conn(mut c: &Connection, chats: &[ChatData]) -> rusqlite::Result<()> {
    import_rows(&mut c, chats)
}
