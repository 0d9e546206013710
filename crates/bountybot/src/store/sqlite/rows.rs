//! Rows and values: stored rows read into the model and written from it, and the
//! shared SQL's primitives ([`crate::store::sql`]) on SQLite.

use jiff::civil::Date;
use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::{
    Bounty, BountyId, ChatId, ChatSettings, DigestClaim, DigestRecord, IdError, ReminderTime,
    Status, UserId, ZoneName, decide_claim, digests_kept_from,
};
use crate::store::sql::{self, IntSql, Rows, RowsMut};

/// A stored number that is no id, as a conversion error of its column.
pub(super) fn bad_id(col: usize, e: IdError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Integer, Box::new(e))
}

/// Column `col` of `r` as a user id.
pub(super) fn user_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<UserId> {
    UserId::try_from(r.get::<_, i64>(col)?).map_err(|e| bad_id(col, e))
}

/// Column `col` of `r` as a bounty number.
pub(super) fn bounty_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<BountyId> {
    BountyId::try_from(r.get::<_, i64>(col)?).map_err(|e| bad_id(col, e))
}

pub(super) fn row_to_bounty(r: &rusqlite::Row<'_>) -> rusqlite::Result<Bounty> {
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

pub(super) const BOUNTY_COLUMNS: &str = "id, created_by_user_id, text, link, due_date_ts, created_at, status, claimed_by_user_id, done_at";

pub(super) fn names_in(c: &Connection, chat: ChatId) -> rusqlite::Result<Vec<(UserId, String)>> {
    c.prepare_cached("SELECT user_id, name FROM names WHERE chat_id = ?1 ORDER BY user_id")?
        .query_map([chat.get()], |r| Ok((user_at(r, 0)?, r.get(1)?)))?
        .collect()
}

pub(super) fn list_in(c: &Connection, chat: ChatId) -> rusqlite::Result<Vec<Bounty>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {BOUNTY_COLUMNS} FROM bounties WHERE chat_id = ?1 ORDER BY id"
    ))?;
    stmt.query_map([chat.get()], row_to_bounty)?.collect()
}

/// A stored text that does not parse, as a conversion error of its column (`why`
/// kept as its cause).
fn bad_column(col: usize, why: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(why))
}

pub(super) fn settings_in(c: &Connection, chat: ChatId) -> rusqlite::Result<ChatSettings> {
    let row: Option<(Option<String>, Option<String>)> = c
        .prepare_cached("SELECT time_zone, remind_at FROM chat_settings WHERE chat_id = ?1")?
        .query_row([chat.get()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((tz, at)) = row else {
        return Ok(ChatSettings::default());
    };
    settings_of(tz, at)
}

pub(super) fn settings_of(
    tz: Option<String>,
    at: Option<String>,
) -> rusqlite::Result<ChatSettings> {
    let time_zone = tz
        .map(|t| ZoneName::parse(&t).map_err(|e| bad_column(0, e)))
        .transpose()?;
    let remind_at = at
        .map(|a| ReminderTime::parse(&a).map_err(|e| bad_column(1, e)))
        .transpose()?;
    Ok(ChatSettings {
        time_zone,
        remind_at,
    })
}

pub(super) fn put_settings(c: &Connection, chat: ChatId, s: &ChatSettings) -> rusqlite::Result<()> {
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

pub(super) fn row_to_digest(r: &rusqlite::Row<'_>) -> rusqlite::Result<DigestRecord> {
    let date: String = r.get(0)?;
    let date: Date = date.parse().map_err(|e: jiff::Error| bad_column(0, e))?;
    Ok(DigestRecord {
        date,
        claimed_at: r.get(1)?,
        message_id: r.get(2)?,
    })
}

pub(super) fn digests_in(c: &Connection, chat: ChatId) -> rusqlite::Result<Vec<DigestRecord>> {
    c.prepare_cached(
        "SELECT local_date, claimed_at, message_id FROM digests WHERE chat_id = ?1 ORDER BY local_date",
    )?
    .query_map([chat.get()], row_to_digest)?
    .collect()
}

pub(super) fn put_digest(c: &Connection, chat: ChatId, d: &DigestRecord) -> rusqlite::Result<()> {
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
pub(super) fn claim_tx(
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
pub(super) fn put_name(
    tx: &Connection,
    chat: ChatId,
    user: UserId,
    name: &str,
) -> rusqlite::Result<()> {
    sql::ensure_member(&mut &*tx, chat, user)?;
    tx.prepare_cached(
        "INSERT INTO names (chat_id, user_id, name) VALUES (?1, ?2, ?3)
         ON CONFLICT (chat_id, user_id) DO UPDATE SET name = excluded.name",
    )?
    .execute(params![chat.get(), user.get(), name])?;
    Ok(())
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
