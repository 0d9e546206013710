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

pub use error::Error;

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use rusqlite::{Connection, OptionalExtension, params};
use sql::{IntSql, Rows, RowsMut, export_rows, import_rows};
use statekit::migrate::Migrations;
use statekit::sqlite::group::WriteError;
use statekit::sqlite::{Database, OpenOptions};

use jiff::civil::Date;

use super::{
    Bounties, ChatData, ChatSettingsStore, Ledger, Origin, Portable, ReminderChat, Scope,
    StoreError, sql,
};
use crate::domain::{
    Bounty, BountyId, BountyPatch, ChatId, ChatMove, ChatSettings, DigestClaim, DigestRecord,
    IdError, NewBounty, ReminderTime, SettingsPatch, Status, UpdateId, UserId, ZoneName,
    decide_claim, digests_kept_from,
};

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

/// A stored number that is no id, as a conversion error of its column.
fn bad_id(col: usize, e: IdError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Integer, Box::new(e))
}

/// Column `col` of `r` as a user id.
fn user_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<UserId> {
    UserId::try_from(r.get::<_, i64>(col)?).map_err(|e| bad_id(col, e))
}

/// Column `col` of `r` as a bounty number.
fn bounty_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<BountyId> {
    BountyId::try_from(r.get::<_, i64>(col)?).map_err(|e| bad_id(col, e))
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
                put_name(tx, chat, user, &name)?;
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

fn row_to_bounty(r: &rusqlite::Row<'_>) -> rusqlite::Result<Bounty> {
    let status: String = r.get(6)?;
    let status = Status::from_stored(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            6,
            rusqlite::types::Type::Text,
            format!("unknown bounty status {status:?}").into(),
        )
    })?;
    Ok(Bounty {
        id: bounty_at(r, 0)?,
        created_by_user_id: user_at(r, 1)?,
        text: r.get(2)?,
        link: r.get(3)?,
        due_date_ts: r.get(4)?,
        created_at: r.get(5)?,
        status,
        claimed_by_user_id: match r.get::<_, Option<i64>>(7)? {
            Some(id) => Some(UserId::try_from(id).map_err(|e| bad_id(7, e))?),
            None => None,
        },
        done_at: r.get(8)?,
    })
}

const BOUNTY_COLUMNS: &str = "id, created_by_user_id, text, link, due_date_ts, created_at, status, claimed_by_user_id, done_at";

fn names_in(c: &Connection, chat: ChatId) -> rusqlite::Result<Vec<(UserId, String)>> {
    c.prepare_cached("SELECT user_id, name FROM names WHERE chat_id = ?1 ORDER BY user_id")?
        .query_map([chat.get()], |r| Ok((user_at(r, 0)?, r.get(1)?)))?
        .collect()
}

fn list_in(c: &Connection, chat: ChatId) -> rusqlite::Result<Vec<Bounty>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {BOUNTY_COLUMNS} FROM bounties WHERE chat_id = ?1 ORDER BY id"
    ))?;
    stmt.query_map([chat.get()], row_to_bounty)?.collect()
}

/// A stored text that does not parse, as a conversion error of its column.
fn bad_column(col: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, what.into())
}

fn settings_in(c: &Connection, chat: ChatId) -> rusqlite::Result<ChatSettings> {
    let row: Option<(Option<String>, Option<String>)> = c
        .prepare_cached("SELECT time_zone, remind_at FROM chat_settings WHERE chat_id = ?1")?
        .query_row([chat.get()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((tz, at)) = row else {
        return Ok(ChatSettings::default());
    };
    settings_of(tz, at)
}

fn settings_of(tz: Option<String>, at: Option<String>) -> rusqlite::Result<ChatSettings> {
    let time_zone = tz
        .map(|t| ZoneName::parse(&t).map_err(|e| bad_column(0, e.to_string())))
        .transpose()?;
    let remind_at = at
        .map(|a| ReminderTime::parse(&a).map_err(|e| bad_column(1, e.to_string())))
        .transpose()?;
    Ok(ChatSettings {
        time_zone,
        remind_at,
    })
}

fn put_settings(c: &Connection, chat: ChatId, s: &ChatSettings) -> rusqlite::Result<()> {
    if *s == ChatSettings::default() {
        c.prepare_cached("DELETE FROM chat_settings WHERE chat_id = ?1")?
            .execute([chat.get()])?;
        return Ok(());
    }
    c.prepare_cached(
        "INSERT INTO chat_settings (chat_id, time_zone, remind_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (chat_id) DO UPDATE SET time_zone = excluded.time_zone, remind_at = excluded.remind_at",
    )?
    .execute(params![
        chat.get(),
        s.time_zone.as_ref().map(ZoneName::as_str),
        s.remind_at.map(|t| t.to_string())
    ])?;
    Ok(())
}

fn row_to_digest(r: &rusqlite::Row<'_>) -> rusqlite::Result<DigestRecord> {
    let date: String = r.get(0)?;
    let date: Date = date
        .parse()
        .map_err(|e: jiff::Error| bad_column(0, format!("bad digest date {date:?}: {e}")))?;
    Ok(DigestRecord {
        date,
        claimed_at: r.get(1)?,
        message_id: r.get(2)?,
    })
}

fn digests_in(c: &Connection, chat: ChatId) -> rusqlite::Result<Vec<DigestRecord>> {
    c.prepare_cached(
        "SELECT local_date, claimed_at, message_id FROM digests WHERE chat_id = ?1 ORDER BY local_date",
    )?
    .query_map([chat.get()], row_to_digest)?
    .collect()
}

fn put_digest(c: &Connection, chat: ChatId, d: &DigestRecord) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO digests (chat_id, local_date, claimed_at, message_id) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (chat_id, local_date) DO UPDATE
           SET claimed_at = excluded.claimed_at, message_id = excluded.message_id",
    )?
    .execute(params![
        chat.get(),
        d.date.to_string(),
        d.claimed_at,
        d.message_id
    ])?;
    Ok(())
}

/// Claims (or re-claims) inside one unit of work: the row is read and written with
/// the database's write lock held, so no other claim interleaves.
fn claim_tx(
    tx: &Connection,
    chat: ChatId,
    date: Date,
    now: i64,
    older_than: Option<i64>,
) -> rusqlite::Result<DigestClaim> {
    let existing = tx
        .prepare_cached(
            "SELECT local_date, claimed_at, message_id FROM digests WHERE chat_id = ?1 AND local_date = ?2",
        )?
        .query_row(params![chat.get(), date.to_string()], row_to_digest)
        .optional()?;
    let (record, answer) = decide_claim(existing.as_ref(), date, now, older_than);
    if let Some(record) = record {
        sql::ensure_chat(&mut &*tx, chat)?;
        put_digest(tx, chat, &record)?;
        tx.prepare_cached("DELETE FROM digests WHERE chat_id = ?1 AND local_date < ?2")?
            .execute(params![chat.get(), digests_kept_from(date).to_string()])?;
    }
    Ok(answer)
}

/// Remembers `user`'s (cleaned) `name` in `chat`; a named user is a member.
fn put_name(tx: &Connection, chat: ChatId, user: UserId, name: &str) -> rusqlite::Result<()> {
    sql::ensure_member(&mut &*tx, chat, user)?;
    tx.prepare_cached(
        "INSERT INTO names (chat_id, user_id, name) VALUES (?1, ?2, ?3)
         ON CONFLICT (chat_id, user_id) DO UPDATE SET name = excluded.name",
    )?
    .execute(params![chat.get(), user.get(), name])?;
    Ok(())
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
        self.read(chat, |c| list_in(c, chat))
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
        let known: Option<String> = self.read(chat, |c| {
            c.prepare_cached("SELECT name FROM names WHERE chat_id = ?1 AND user_id = ?2")?
                .query_row([chat.get(), user.get()], |r| r.get(0))
                .optional()
        })?;
        if known.as_deref() == Some(name.as_str()) {
            return Ok(());
        }
        self.write(chat, move |tx| put_name(tx, chat, user, &name))
    }

    fn trackers(&self, chat: ChatId, id: BountyId) -> Result<Vec<UserId>, StoreError> {
        self.read(chat, |mut c| sql::trackers(&mut c, chat, id))
    }

    fn names(&self, chat: ChatId) -> Result<Vec<(UserId, String)>, StoreError> {
        self.read(chat, |c| names_in(c, chat))
    }
}

impl ChatSettingsStore for SqliteStore {
    fn settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError> {
        self.read(chat, |c| settings_in(c, chat))
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
        let rows: Vec<(i64, Option<String>, Option<String>)> = self.read(Scope::Store, |c| {
            c.prepare_cached(
                "SELECT chat_id, time_zone, remind_at FROM chat_settings
                 WHERE remind_at IS NOT NULL ORDER BY chat_id",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
        })?;
        rows.into_iter()
            .map(|(id, tz, at)| {
                let chat = ChatId::try_from(id).map_err(|e| err(Scope::Store)(bad_id(0, e)))?;
                Ok((chat, settings_of(tz, at).map_err(err(chat))))
            })
            .collect()
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

impl IntSql for &Connection {
    type Error = rusqlite::Error;

    fn exec(&mut self, sql: &str, params: &[i64]) -> rusqlite::Result<u64> {
        let mut stmt = self.prepare_cached(&sql.replace('$', "?"))?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn ints(&mut self, sql: &str, params: &[i64]) -> rusqlite::Result<Vec<Vec<i64>>> {
        let mut stmt = self.prepare_cached(&sql.replace('$', "?"))?;
        let n = stmt.column_count();
        stmt.query_map(rusqlite::params_from_iter(params), |r| {
            (0..n).map(|i| r.get(i)).collect()
        })?
        .collect()
    }

    fn bad_id(col: usize, e: IdError) -> rusqlite::Error {
        bad_id(col, e)
    }
}

impl Rows for &Connection {
    fn bounties(&mut self, chat: ChatId) -> rusqlite::Result<Vec<Bounty>> {
        list_in(self, chat)
    }

    fn bounty(&mut self, chat: ChatId, id: BountyId) -> rusqlite::Result<Option<Bounty>> {
        self.prepare_cached(&format!(
            "SELECT {BOUNTY_COLUMNS} FROM bounties WHERE chat_id = ?1 AND id = ?2"
        ))?
        .query_row([chat.get(), id.get() as i64], row_to_bounty)
        .optional()
    }

    fn names(&mut self, chat: ChatId) -> rusqlite::Result<Vec<(UserId, String)>> {
        names_in(self, chat)
    }

    fn settings(&mut self, chat: ChatId) -> rusqlite::Result<ChatSettings> {
        settings_in(self, chat)
    }

    fn digests(&mut self, chat: ChatId) -> rusqlite::Result<Vec<DigestRecord>> {
        digests_in(self, chat)
    }
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

impl RowsMut for &Connection {
    fn put_bounty(&mut self, chat: ChatId, b: &Bounty) -> rusqlite::Result<()> {
        self.prepare_cached(
            "INSERT INTO bounties (chat_id, id, created_by_user_id, text, link, due_date_ts, created_at,
               status, claimed_by_user_id, done_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (chat_id, id) DO UPDATE SET text = excluded.text, link = excluded.link,
               due_date_ts = excluded.due_date_ts, status = excluded.status,
               claimed_by_user_id = excluded.claimed_by_user_id, done_at = excluded.done_at",
        )?
        .execute(params![
            chat.get(),
            b.id.get() as i64,
            b.created_by_user_id.get(),
            b.text,
            b.link,
            b.due_date_ts,
            b.created_at,
            b.status.as_str(),
            b.claimed_by_user_id.map(|u| u.get()),
            b.done_at
        ])?;
        Ok(())
    }

    fn put_name(&mut self, chat: ChatId, user: UserId, name: &str) -> rusqlite::Result<()> {
        put_name(self, chat, user, name)
    }

    fn put_settings(&mut self, chat: ChatId, s: &ChatSettings) -> rusqlite::Result<()> {
        put_settings(self, chat, s)
    }

    fn put_digest(&mut self, chat: ChatId, d: &DigestRecord) -> rusqlite::Result<()> {
        put_digest(self, chat, d)
    }
}
