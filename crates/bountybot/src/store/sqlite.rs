//! The SQLite backend: `{data}/bountybot.db`, opened through `statekit` (WAL, foreign
//! keys, numbered migrations from `migrations/sqlite/`), with the JSON backend's semantics.
//!
//! Every change is one unit of work on the database's writer (`statekit`'s group
//! commit): the changes of concurrent callers are committed together, each in a
//! savepoint of its own, in one `BEGIN IMMEDIATE` transaction, so writers in other
//! processes queue on the database lock instead of failing half-way; a change is
//! durable (`synchronous=FULL`) when the method returns, and one that fails is rolled
//! back alone.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use rusqlite::{Connection, OptionalExtension, params};
use statekit::migrate::Migrations;
use statekit::sqlite::group::{WriteError, WriteFailure};
use statekit::sqlite::{Database, OpenOptions};

use jiff::civil::Date;

use super::{
    Bounties, ChatData, ChatSettingsStore, LEDGER_CARRIED, Ledger, Origin, Portable, ReminderChat,
    Rows, RowsMut, Scope, StoreError, export_rows, import_rows,
};
use crate::domain::{
    Bounty, BountyId, BountyPatch, ChatId, ChatMove, ChatSettings, DigestClaim, DigestRecord,
    IdError, NewBounty, ReminderTime, SettingsPatch, Status, UpdateId, UserId, ZoneName,
    decide_claim, digests_kept_from, renumber,
};

/// How long a processed update is remembered (Telegram redelivers within a day).
const UPDATES_KEPT_SECS: i64 = 7 * 24 * 3600;

/// Old processed updates are pruned once every this many updates.
const PRUNE_EVERY: u32 = 128;

/// The database file name inside the data dir.
pub const DB_FILE: &str = "bountybot.db";

static MIGRATIONS: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/sqlite");

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    db: Database,
}

fn err(scope: impl Into<Scope>) -> impl Fn(rusqlite::Error) -> StoreError {
    let scope = scope.into();
    move |source| StoreError::Sqlite { scope, source }
}

/// A unit's own SQLite error, or the writer's failure, for `chat`.
fn write_error(scope: impl Into<Scope>, e: WriteError<rusqlite::Error>) -> StoreError {
    let scope = scope.into();
    match e.into_unit() {
        Ok(source) => StoreError::Sqlite { scope, source },
        Err(source) => StoreError::SqliteWrite { scope, source },
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
        let db = Database::open(path, OpenOptions::default())?;
        let migrations = Migrations::from_dir(&MIGRATIONS)?;
        db.exclusive(move |c| migrations.apply(c).map(|_| ()).map_err(StoreError::from))?;
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
            if let Some(u) = update {
                let seen: bool = tx.query_row(
                    "SELECT count(*) > 0 FROM processed_updates WHERE update_id = ?1",
                    [u.get()],
                    |r| r.get(0),
                )?;
                if seen {
                    return Ok(Err(u));
                }
            }
            let r = f(tx)?;
            if let Some((user, name)) = name {
                put_name(tx, chat, user, &name)?;
            }
            if let Some(u) = update {
                let now = jiff::Timestamp::now().as_second();
                tx.prepare_cached(
                    "INSERT INTO processed_updates (update_id, chat_id, at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![u.get(), chat.get(), now])?;
                if u.get() % PRUNE_EVERY == 0 {
                    tx.execute(
                        "DELETE FROM processed_updates WHERE at < ?1",
                        [now - UPDATES_KEPT_SECS],
                    )?;
                }
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

fn tracked_in(c: &Connection, chat: ChatId, user: UserId) -> rusqlite::Result<Vec<BountyId>> {
    let mut stmt = c.prepare_cached(
        "SELECT bounty_id FROM tracked WHERE chat_id = ?1 AND user_id = ?2 ORDER BY seq",
    )?;
    stmt.query_map([chat.get(), user.get()], |r| bounty_at(r, 0))?
        .collect()
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
        ensure_chat(tx, chat)?;
        put_digest(tx, chat, &record)?;
        tx.prepare_cached("DELETE FROM digests WHERE chat_id = ?1 AND local_date < ?2")?
            .execute(params![chat.get(), digests_kept_from(date).to_string()])?;
    }
    Ok(answer)
}

fn ensure_chat(tx: &Connection, chat: ChatId) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO chats (chat_id) VALUES (?1)")?
        .execute([chat.get()])?;
    Ok(())
}

/// The chat's row and, in a group, the user's membership.
fn ensure_member(tx: &Connection, chat: ChatId, user: UserId) -> rusqlite::Result<()> {
    ensure_chat(tx, chat)?;
    if chat.is_group() {
        tx.prepare_cached("INSERT OR IGNORE INTO members (chat_id, user_id) VALUES (?1, ?2)")?
            .execute([chat.get(), user.get()])?;
    }
    Ok(())
}

/// Remembers `user`'s (cleaned) `name` in `chat`; a named user is a member.
fn put_name(tx: &Connection, chat: ChatId, user: UserId, name: &str) -> rusqlite::Result<()> {
    ensure_member(tx, chat, user)?;
    tx.prepare_cached(
        "INSERT INTO names (chat_id, user_id, name) VALUES (?1, ?2, ?3)
         ON CONFLICT (chat_id, user_id) DO UPDATE SET name = excluded.name",
    )?
    .execute(params![chat.get(), user.get(), name])?;
    Ok(())
}

impl Bounties for SqliteStore {
    fn ensure_user(&self, chat: ChatId, user: UserId) -> Result<(), StoreError> {
        self.write(chat, move |tx| ensure_member(tx, chat, user))
    }

    fn add(&self, chat: ChatId, new: NewBounty, w: &Origin) -> Result<Bounty, StoreError> {
        super::injected_failure("add", chat)?;
        self.write_for(chat, w, move |tx| {
            ensure_chat(tx, chat)?;
            let id = tx.query_row(
                "SELECT max(next_id, coalesce((SELECT max(id) + 1 FROM bounties WHERE chat_id = ?1), 1))
                 FROM chats WHERE chat_id = ?1",
                [chat.get()],
                |r| bounty_at(r, 0),
            )?;
            let next = id.get() as i64;
            tx.prepare_cached(
                "INSERT INTO bounties (chat_id, id, created_by_user_id, text, link, due_date_ts, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![chat.get(), next, new.created_by_user_id.get(), new.text, new.link, new.due_date_ts, new.created_at])?;
            tx.prepare_cached("UPDATE chats SET next_id = ?2 WHERE chat_id = ?1")?.execute([chat.get(), next + 1])?;
            Ok(Bounty::from_new(id, new))
        })
    }

    fn get(&self, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, StoreError> {
        self.read(chat, |c| {
            c.prepare_cached(&format!(
                "SELECT {BOUNTY_COLUMNS} FROM bounties WHERE chat_id = ?1 AND id = ?2"
            ))?
            .query_row([chat.get(), id.get() as i64], row_to_bounty)
            .optional()
        })
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
        self.write_for(chat, w, move |tx| {
            let Some(mut b) = tx
                .prepare_cached(&format!(
                    "SELECT {BOUNTY_COLUMNS} FROM bounties WHERE chat_id = ?1 AND id = ?2"
                ))?
                .query_row([chat.get(), id.get() as i64], row_to_bounty)
                .optional()?
            else {
                return Ok(None);
            };
            if !patch.applies_to(&b) {
                return Ok(Some(b));
            }
            patch.apply_to(&mut b);
            tx.execute(
                "UPDATE bounties SET text = ?3, link = ?4, due_date_ts = ?5, status = ?6,
                   claimed_by_user_id = ?7, done_at = ?8
                 WHERE chat_id = ?1 AND id = ?2",
                params![
                    chat.get(),
                    id.get() as i64,
                    b.text,
                    b.link,
                    b.due_date_ts,
                    b.status.as_str(),
                    b.claimed_by_user_id.map(|u| u.get()),
                    b.done_at
                ],
            )?;
            Ok(Some(b))
        })
    }

    fn delete(&self, chat: ChatId, id: BountyId, w: &Origin) -> Result<bool, StoreError> {
        self.write_for(chat, w, move |tx| {
            // The counter already sits past every id handed out, so the id stays retired.
            let n = tx.execute(
                "DELETE FROM bounties WHERE chat_id = ?1 AND id = ?2",
                [chat.get(), id.get() as i64],
            )?;
            Ok(n > 0)
        })
    }

    fn track(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError> {
        let user = chat.bookmark_owner(user);
        self.write_for(chat, w, move |tx| {
            ensure_member(tx, chat, user)?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO tracked (chat_id, user_id, bounty_id, seq)
                 VALUES (?1, ?2, ?3, (SELECT coalesce(max(seq), 0) + 1 FROM tracked WHERE chat_id = ?1 AND user_id = ?2))",
                [chat.get(), user.get(), id.get() as i64],
            )?;
            Ok(n > 0)
        })
    }

    fn untrack(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError> {
        let user = chat.bookmark_owner(user);
        self.write_for(chat, w, move |tx| {
            let n = tx.execute(
                "DELETE FROM tracked WHERE chat_id = ?1 AND user_id = ?2 AND bounty_id = ?3",
                [chat.get(), user.get(), id.get() as i64],
            )?;
            Ok(n > 0)
        })
    }

    fn tracked(&self, chat: ChatId, user: UserId) -> Result<Vec<BountyId>, StoreError> {
        let user = chat.bookmark_owner(user);
        self.read(chat, |c| tracked_in(c, chat, user))
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
        self.read(chat, |c| {
            c.prepare_cached(
                "SELECT user_id FROM tracked WHERE chat_id = ?1 AND bounty_id = ?2 ORDER BY user_id",
            )?
            .query_map([chat.get(), id.get() as i64], |r| user_at(r, 0))?
            .collect()
        })
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
            ensure_chat(tx, chat)?;
            let mut s = settings_in(tx, chat)?;
            patch.apply_to(&mut s);
            put_settings(tx, chat, &s)?;
            Ok(s)
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
        self.read(Scope::Store, |c| {
            c.prepare_cached("SELECT count(*) > 0 FROM processed_updates WHERE update_id = ?1")?
                .query_row([update.get()], |r| r.get(0))
        })
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
        self.write(from, move |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO chat_moves (from_chat, to_chat) VALUES (?1, ?2)",
                [from.get(), to.get()],
            )?;
            // What the old group's anonymous administrators created or claimed (as the
            // group) is the supergroup's, so that its administrators may edit it.
            tx.execute(
                "UPDATE bounties SET created_by_user_id = ?2
                 WHERE chat_id IN (?1, ?2) AND created_by_user_id = ?1",
                [from.get(), to.get()],
            )?;
            tx.execute(
                "UPDATE bounties SET claimed_by_user_id = ?2
                 WHERE chat_id IN (?1, ?2) AND claimed_by_user_id = ?1",
                [from.get(), to.get()],
            )?;
            let next_of = |chat: ChatId| -> rusqlite::Result<Option<u64>> {
                tx.query_row(
                    "SELECT next_id FROM chats WHERE chat_id = ?1",
                    [chat.get()],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
                .map(|n| n.map(|n| n as u64))
            };
            let Some(from_next) = next_of(from)? else {
                return Ok(ChatMove::default());
            };
            let Some(to_next) = next_of(to)? else {
                tx.execute(
                    "UPDATE chats SET chat_id = ?2 WHERE chat_id = ?1",
                    [from.get(), to.get()],
                )?;
                return Ok(ChatMove {
                    moved: true,
                    ..ChatMove::default()
                });
            };
            let ids = |chat: ChatId| -> rusqlite::Result<Vec<BountyId>> {
                tx.prepare_cached("SELECT id FROM bounties WHERE chat_id = ?1 ORDER BY id")?
                    .query_map([chat.get()], |r| bounty_at(r, 0))?
                    .collect()
            };
            let (from_ids, to_ids) = (ids(from)?, ids(to)?);
            let floor = |ids: &[BountyId]| ids.iter().map(|b| b.get() + 1).max().unwrap_or(1);
            let (map, next) = renumber(
                &from_ids,
                from_next.max(floor(&from_ids)),
                &to_ids,
                to_next.max(floor(&to_ids)),
            );
            for (old, new) in &map {
                tx.execute(
                    "UPDATE bounties SET chat_id = ?3, id = ?4 WHERE chat_id = ?1 AND id = ?2",
                    params![from.get(), old.get() as i64, to.get(), new.get() as i64],
                )?;
            }
            tx.execute(
                "INSERT OR IGNORE INTO members (chat_id, user_id)
                 SELECT ?2, user_id FROM members WHERE chat_id = ?1",
                [from.get(), to.get()],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO names (chat_id, user_id, name)
                 SELECT ?2, user_id, name FROM names WHERE chat_id = ?1",
                [from.get(), to.get()],
            )?;
            // Settings the new chat lacks, and digest records of dates it has none for,
            // come along (so a moved chat gets no second digest that day).
            let (old, mut new) = (settings_in(tx, from)?, settings_in(tx, to)?);
            if new.time_zone.is_none() {
                new.time_zone = old.time_zone;
            }
            if new.remind_at.is_none() {
                new.remind_at = old.remind_at;
            }
            put_settings(tx, to, &new)?;
            tx.execute(
                "INSERT OR IGNORE INTO digests (chat_id, local_date, claimed_at, message_id)
                 SELECT ?2, local_date, claimed_at, message_id FROM digests WHERE chat_id = ?1",
                [from.get(), to.get()],
            )?;
            let marks: Vec<(i64, i64)> = tx
                .prepare("SELECT user_id, bounty_id FROM tracked WHERE chat_id = ?1 ORDER BY user_id, seq")?
                .query_map([from.get()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            for (user, old) in marks {
                let new = map
                    .iter()
                    .find(|(o, _)| o.get() as i64 == old)
                    .map_or(old, |(_, n)| n.get() as i64);
                tx.execute(
                    "INSERT OR IGNORE INTO tracked (chat_id, user_id, bounty_id, seq)
                     VALUES (?1, ?2, ?3,
                       (SELECT coalesce(max(seq), 0) + 1 FROM tracked WHERE chat_id = ?1 AND user_id = ?2))",
                    params![to.get(), user, new],
                )?;
            }
            tx.execute(
                "UPDATE chats SET next_id = ?2 WHERE chat_id = ?1",
                params![to.get(), next as i64],
            )?;
            tx.execute("DELETE FROM chats WHERE chat_id = ?1", [from.get()])?;
            Ok(ChatMove {
                moved: true,
                merged: !to_ids.is_empty(),
                renumbered: map.into_iter().filter(|(a, b)| a != b).collect(),
            })
        })
    }

    fn moved_to(&self, chat: ChatId) -> Result<ChatId, StoreError> {
        self.read(chat, |c| {
            let mut at = chat;
            for _ in 0..super::MOVES_FOLLOWED {
                let next: Option<i64> = c
                    .prepare_cached("SELECT to_chat FROM chat_moves WHERE from_chat = ?1")?
                    .query_row([at.get()], |r| r.get(0))
                    .optional()?;
                match next {
                    Some(to) => at = ChatId::try_from(to).map_err(|e| bad_id(0, e))?,
                    None => break,
                }
            }
            Ok(at)
        })
    }
}

/// Every chat's data from a connection (read-only use is fine).
pub fn export_conn(mut c: &Connection) -> rusqlite::Result<Vec<ChatData>> {
    export_rows(&mut c)
}

impl Rows for &Connection {
    type Error = rusqlite::Error;

    fn chats(&mut self) -> rusqlite::Result<Vec<(ChatId, u64)>> {
        self.prepare("SELECT chat_id, next_id FROM chats ORDER BY chat_id")?
            .query_map([], |r| {
                let chat = ChatId::try_from(r.get::<_, i64>(0)?).map_err(|e| bad_id(0, e))?;
                Ok((chat, r.get::<_, i64>(1)? as u64))
            })?
            .collect()
    }

    fn members(&mut self, chat: ChatId) -> rusqlite::Result<Vec<UserId>> {
        self.prepare_cached("SELECT user_id FROM members WHERE chat_id = ?1 ORDER BY user_id")?
            .query_map([chat.get()], |r| user_at(r, 0))?
            .collect()
    }

    fn tracked(&mut self, chat: ChatId, user: UserId) -> rusqlite::Result<Vec<BountyId>> {
        tracked_in(self, chat, user)
    }

    fn bounties(&mut self, chat: ChatId) -> rusqlite::Result<Vec<Bounty>> {
        list_in(self, chat)
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

    fn ledger(&mut self, chat: ChatId) -> rusqlite::Result<Vec<UpdateId>> {
        self.prepare_cached(
            "SELECT update_id FROM processed_updates WHERE chat_id = ?1
             ORDER BY update_id DESC LIMIT ?2",
        )?
        .query_map(params![chat.get(), LEDGER_CARRIED as i64], |r| {
            Ok(UpdateId::new(r.get(0)?))
        })?
        .collect()
    }

    fn moved_here(&mut self, chat: ChatId) -> rusqlite::Result<Vec<ChatId>> {
        self.prepare_cached("SELECT from_chat FROM chat_moves WHERE to_chat = ?1")?
            .query_map([chat.get()], |r| {
                ChatId::try_from(r.get::<_, i64>(0)?).map_err(|e| bad_id(0, e))
            })?
            .collect()
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
    type Error = rusqlite::Error;

    fn put_chat(&mut self, chat: ChatId, next_id: u64) -> rusqlite::Result<()> {
        self.execute(
            "INSERT INTO chats (chat_id, next_id) VALUES (?1, ?2)",
            [chat.get(), next_id as i64],
        )?;
        Ok(())
    }

    fn put_bounty(&mut self, chat: ChatId, b: &Bounty) -> rusqlite::Result<()> {
        self.prepare_cached(
            "INSERT INTO bounties (chat_id, id, created_by_user_id, text, link, due_date_ts, created_at,
               status, claimed_by_user_id, done_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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

    fn put_member(&mut self, chat: ChatId, user: UserId) -> rusqlite::Result<()> {
        ensure_member(self, chat, user)
    }

    fn put_tracked(
        &mut self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        seq: i64,
    ) -> rusqlite::Result<()> {
        self.prepare_cached(
            "INSERT INTO tracked (chat_id, user_id, bounty_id, seq) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute([chat.get(), user.get(), id.get() as i64, seq])?;
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

    fn put_update(&mut self, chat: ChatId, update: UpdateId, at: i64) -> rusqlite::Result<()> {
        self.prepare_cached(
            "INSERT OR IGNORE INTO processed_updates (update_id, chat_id, at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![update.get(), chat.get(), at])?;
        Ok(())
    }

    fn put_move(&mut self, from: ChatId, to: ChatId) -> rusqlite::Result<()> {
        self.execute(
            "INSERT OR REPLACE INTO chat_moves (from_chat, to_chat) VALUES (?1, ?2)",
            [from.get(), to.get()],
        )?;
        Ok(())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite {
            scope: Scope::Store,
            source: e,
        }
    }
}

impl From<WriteFailure> for StoreError {
    fn from(e: WriteFailure) -> Self {
        StoreError::SqliteWrite {
            scope: Scope::Store,
            source: e,
        }
    }
}
