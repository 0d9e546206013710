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
use rusqlite::Connection;
use statekit::migrate::Migrations;
use statekit::sqlite::group::WriteError;
use statekit::sqlite::{Database, OpenOptions};

use super::sql::{self, export_rows, import_rows};
use super::units::{self, Units};
use super::{ChatData, Ledger, Origin, Portable, Scope, StoreError};
use crate::domain::{ChatId, ChatMove, UpdateId, UserId};

/// The database file name inside the data dir.
pub const DB_FILE: &str = "bountybot.db";

static MIGRATIONS: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/sqlite");

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    db: Database,
}

/// A unit's own SQLite error, or the writer's failure, in `scope`.
fn write_error(scope: Scope, e: WriteError<rusqlite::Error>) -> StoreError {
    match e.into_unit() {
        Ok(source) => Error::Statement { scope, source }.into(),
        Err(source) => Error::Write { scope, source }.into(),
    }
}

impl SqliteStore {
    /// Opens (creating and migrating) `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let db = Database::open(path, OpenOptions::default()).map_err(Error::from)?;
        let migrations = migrations().map_err(Error::from)?;
        db.exclusive(move |c| migrations.apply(c).map(|_| ()).map_err(Error::from))?;
        Ok(SqliteStore { db })
    }

    /// `{data}/bountybot.db`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(DB_FILE)
    }
}

impl Units for SqliteStore {
    type Read<'a> = &'a Connection;
    type Conn<'a> = &'a Connection;
    type Error = rusqlite::Error;

    fn fail(scope: Scope, source: rusqlite::Error) -> StoreError {
        Error::Statement { scope, source }.into()
    }

    fn read<R>(
        &self,
        scope: Scope,
        f: impl FnOnce(&mut &Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        self.db
            .read(|c| f(&mut &*c))
            .map_err(|e| Self::fail(scope, e))
    }

    fn write<R: Send + 'static>(
        &self,
        chat: ChatId,
        f: impl FnOnce(&mut &Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let write = self.db.writer().write(move |tx: &Connection| f(&mut &*tx));
        write.map_err(|e| write_error(chat.into(), e))
    }
}

impl Ledger for SqliteStore {
    fn processed(
        &self,
        _chat: ChatId,
        _user: UserId,
        update: UpdateId,
    ) -> Result<bool, StoreError> {
        self.read(Scope::Store, |c| sql::processed(c, update))
    }

    fn note(&self, chat: ChatId, w: &Origin) -> Result<(), StoreError> {
        units::note(self, chat, w)
    }

    fn migrate_chat(&self, from: ChatId, to: ChatId) -> Result<ChatMove, StoreError> {
        units::migrate_chat(self, from, to)
    }

    fn moved_to(&self, chat: ChatId) -> Result<ChatId, StoreError> {
        self.read(chat.into(), |c| sql::moved_to(c, chat))
    }
}

/// Every chat's data from a connection (read-only use is fine).
pub fn export_conn(mut c: &Connection) -> rusqlite::Result<Vec<ChatData>> {
    export_rows(&mut c)
}

impl Portable for SqliteStore {
    fn export(&self) -> Result<Vec<ChatData>, StoreError> {
        self.read(Scope::Store, |c| export_rows(c))
    }

    fn import(&self, chats: &[ChatData]) -> Result<(), StoreError> {
        let chats = chats.to_vec();
        let write = self
            .db
            .writer()
            .write(move |mut tx| import_rows(&mut tx, &chats));
        write.map_err(|e| write_error(Scope::Store, e))
    }
}

/// The embedded migrations of `bountybot.db`.
pub fn migrations() -> Result<Migrations, statekit::migrate::MigrateError> {
    Migrations::from_dir(&MIGRATIONS)
}
