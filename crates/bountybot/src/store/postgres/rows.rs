//! Rows and values: stored rows read into the model and written from it, and the
//! shared SQL's primitives ([`crate::store::sql`]) on PostgreSQL.

use jiff::civil::Date;
use postgres::{GenericClient, Row, Transaction};

use super::error::{BadValue, Fail};
use crate::domain::{
    Bounty, BountyId, ChatId, ChatSettings, DigestClaim, DigestRecord, IdError, ReminderTime,
    Status, UserId, ZoneName, decide_claim, digests_kept_from,
};
use crate::store::sql::{self, IntSql, Rows, RowsMut};

/// A stored chat id.
pub(super) fn chat_of(id: i64) -> Result<ChatId, Fail> {
    Ok(ChatId::try_from(id)?)
}

/// A stored user id.
pub(super) fn user_of(id: i64) -> Result<UserId, Fail> {
    Ok(UserId::try_from(id)?)
}

pub(super) fn row_to_bounty(r: &Row) -> Result<Bounty, Fail> {
    let status: String = r.try_get(6)?;
    let status = Status::from_stored(&status).ok_or_else(|| BadValue::Status(status.clone()))?;
    Ok(Bounty {
        id: BountyId::try_from(r.try_get::<_, i64>(0)?)?,
        created_by_user_id: user_of(r.try_get(1)?)?,
        text: r.try_get(2)?,
        link: r.try_get(3)?,
        due_date_ts: r.try_get(4)?,
        created_at: r.try_get(5)?,
        status,
        claimed_by_user_id: r.try_get::<_, Option<i64>>(7)?.map(user_of).transpose()?,
        done_at: r.try_get(8)?,
    })
}

pub(super) const BOUNTY_COLUMNS: &str = "id, created_by_user_id, text, link, due_date_ts, created_at, status, claimed_by_user_id, done_at";

pub(super) fn names_in(
    c: &mut impl GenericClient,
    chat: ChatId,
) -> Result<Vec<(UserId, String)>, Fail> {
    c.query(
        "SELECT user_id, name FROM names WHERE chat_id = $1 ORDER BY user_id",
        &[&chat.get()],
    )?
    .iter()
    .map(|r| Ok((user_of(r.get(0))?, r.get(1))))
    .collect()
}

pub(super) fn list_in(c: &mut impl GenericClient, chat: ChatId) -> Result<Vec<Bounty>, Fail> {
    c.query(
        &format!("SELECT {BOUNTY_COLUMNS} FROM bounties WHERE chat_id = $1 ORDER BY id"),
        &[&chat.get()],
    )?
    .iter()
    .map(row_to_bounty)
    .collect()
}

pub(super) fn get_in(
    c: &mut impl GenericClient,
    chat: ChatId,
    id: BountyId,
) -> Result<Option<Bounty>, Fail> {
    c.query_opt(
        &format!("SELECT {BOUNTY_COLUMNS} FROM bounties WHERE chat_id = $1 AND id = $2"),
        &[&chat.get(), &(id.get() as i64)],
    )?
    .as_ref()
    .map(row_to_bounty)
    .transpose()
}

pub(super) fn settings_in(c: &mut impl GenericClient, chat: ChatId) -> Result<ChatSettings, Fail> {
    let Some(row) = c.query_opt(
        "SELECT time_zone, remind_at FROM chat_settings WHERE chat_id = $1",
        &[&chat.get()],
    )?
    else {
        return Ok(ChatSettings::default());
    };
    settings_of(row.get(0), row.get(1))
}

pub(super) fn settings_of(tz: Option<String>, at: Option<String>) -> Result<ChatSettings, Fail> {
    let time_zone = tz.map(|t| ZoneName::parse(&t)).transpose()?;
    let remind_at = at.map(|a| ReminderTime::parse(&a)).transpose()?;
    Ok(ChatSettings {
        time_zone,
        remind_at,
    })
}

pub(super) fn put_settings(
    c: &mut impl GenericClient,
    chat: ChatId,
    s: &ChatSettings,
) -> Result<(), Fail> {
    if *s == ChatSettings::default() {
        c.execute(
            "DELETE FROM chat_settings WHERE chat_id = $1",
            &[&chat.get()],
        )?;
        return Ok(());
    }
    c.execute(
        "INSERT INTO chat_settings (chat_id, time_zone, remind_at) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id) DO UPDATE SET time_zone = excluded.time_zone, remind_at = excluded.remind_at",
        &[
            &chat.get(),
            &s.time_zone.as_ref().map(ZoneName::as_str),
            &s.remind_at.map(|t| t.to_string()),
        ],
    )?;
    Ok(())
}

pub(super) fn row_to_digest(r: &Row) -> Result<DigestRecord, Fail> {
    let date: String = r.try_get(0)?;
    let date: Date = date.parse().map_err(|source| BadValue::Date {
        date: date.clone(),
        source,
    })?;
    Ok(DigestRecord {
        date,
        claimed_at: r.try_get(1)?,
        message_id: r.try_get(2)?,
    })
}

pub(super) const DIGEST_COLUMNS: &str = "local_date::text, claimed_at, message_id";

pub(super) fn digests_in(
    c: &mut impl GenericClient,
    chat: ChatId,
) -> Result<Vec<DigestRecord>, Fail> {
    c.query(
        &format!("SELECT {DIGEST_COLUMNS} FROM digests WHERE chat_id = $1 ORDER BY local_date"),
        &[&chat.get()],
    )?
    .iter()
    .map(row_to_digest)
    .collect()
}

pub(super) fn put_digest(
    c: &mut impl GenericClient,
    chat: ChatId,
    d: &DigestRecord,
) -> Result<(), Fail> {
    c.execute(
        "INSERT INTO digests (chat_id, local_date, claimed_at, message_id) VALUES ($1, $2::text::date, $3, $4)
         ON CONFLICT (chat_id, local_date) DO UPDATE
           SET claimed_at = excluded.claimed_at, message_id = excluded.message_id",
        &[&chat.get(), &d.date.to_string(), &d.claimed_at, &d.message_id],
    )?;
    Ok(())
}

/// Claims (or re-claims) inside the chat's locked transaction.
pub(super) fn claim_tx(
    tx: &mut Transaction<'_>,
    chat: ChatId,
    date: Date,
    now: i64,
    older_than: Option<i64>,
) -> Result<DigestClaim, Fail> {
    let existing = tx
        .query_opt(
            &format!(
                "SELECT {DIGEST_COLUMNS} FROM digests WHERE chat_id = $1 AND local_date = $2::text::date"
            ),
            &[&chat.get(), &date.to_string()],
        )?
        .as_ref()
        .map(row_to_digest)
        .transpose()?;
    let (record, answer) = decide_claim(existing.as_ref(), date, now, older_than);
    if let Some(record) = record {
        sql::ensure_chat(tx, chat)?;
        put_digest(tx, chat, &record)?;
        tx.execute(
            "DELETE FROM digests WHERE chat_id = $1 AND local_date < $2::text::date",
            &[&chat.get(), &digests_kept_from(date).to_string()],
        )?;
    }
    Ok(answer)
}

/// Remembers `user`'s (cleaned) `name` in `chat`; a named user is a member.
pub(super) fn put_name(
    c: &mut Transaction<'_>,
    chat: ChatId,
    user: UserId,
    name: &str,
) -> Result<(), Fail> {
    sql::ensure_member(c, chat, user)?;
    c.execute(
        "INSERT INTO names (chat_id, user_id, name) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id, user_id) DO UPDATE SET name = excluded.name",
        &[&chat.get(), &user.get(), &name],
    )?;
    Ok(())
}

/// `sql` with integer `params` through `c`.
fn pg_params(params: &[i64]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params.iter().map(|p| p as _).collect()
}

fn pg_exec(c: &mut impl GenericClient, sql: &str, params: &[i64]) -> Result<u64, Fail> {
    Ok(c.execute(sql, &pg_params(params))?)
}

fn pg_ints(c: &mut impl GenericClient, sql: &str, params: &[i64]) -> Result<Vec<Vec<i64>>, Fail> {
    c.query(sql, &pg_params(params))?
        .iter()
        .map(|r| (0..r.len()).map(|i| Ok(r.try_get(i)?)).collect())
        .collect()
}

impl IntSql for Transaction<'_> {
    type Error = Fail;

    fn exec(&mut self, sql: &str, params: &[i64]) -> Result<u64, Fail> {
        pg_exec(self, sql, params)
    }

    fn ints(&mut self, sql: &str, params: &[i64]) -> Result<Vec<Vec<i64>>, Fail> {
        pg_ints(self, sql, params)
    }

    fn bad_id(_col: usize, e: IdError) -> Fail {
        Fail::Data(e.into())
    }
}

impl IntSql for postgres::Client {
    type Error = Fail;

    fn exec(&mut self, sql: &str, params: &[i64]) -> Result<u64, Fail> {
        pg_exec(self, sql, params)
    }

    fn ints(&mut self, sql: &str, params: &[i64]) -> Result<Vec<Vec<i64>>, Fail> {
        pg_ints(self, sql, params)
    }

    fn bad_id(_col: usize, e: IdError) -> Fail {
        Fail::Data(e.into())
    }
}

impl Rows for Transaction<'_> {
    fn bounties(&mut self, chat: ChatId) -> Result<Vec<Bounty>, Fail> {
        list_in(self, chat)
    }

    fn bounty(&mut self, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, Fail> {
        get_in(self, chat, id)
    }

    fn names(&mut self, chat: ChatId) -> Result<Vec<(UserId, String)>, Fail> {
        names_in(self, chat)
    }

    fn settings(&mut self, chat: ChatId) -> Result<ChatSettings, Fail> {
        settings_in(self, chat)
    }

    fn digests(&mut self, chat: ChatId) -> Result<Vec<DigestRecord>, Fail> {
        digests_in(self, chat)
    }
}

impl RowsMut for Transaction<'_> {
    fn put_bounty(&mut self, chat: ChatId, b: &Bounty) -> Result<(), Fail> {
        self.execute(
            "INSERT INTO bounties (chat_id, id, created_by_user_id, text, link, due_date_ts,
               created_at, status, claimed_by_user_id, done_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (chat_id, id) DO UPDATE SET text = excluded.text, link = excluded.link,
               due_date_ts = excluded.due_date_ts, status = excluded.status,
               claimed_by_user_id = excluded.claimed_by_user_id, done_at = excluded.done_at",
            &[
                &chat.get(),
                &(b.id.get() as i64),
                &b.created_by_user_id.get(),
                &b.text,
                &b.link,
                &b.due_date_ts,
                &b.created_at,
                &b.status.as_str(),
                &b.claimed_by_user_id.map(|u| u.get()),
                &b.done_at,
            ],
        )?;
        Ok(())
    }

    fn put_name(&mut self, chat: ChatId, user: UserId, name: &str) -> Result<(), Fail> {
        put_name(self, chat, user, name)
    }

    fn put_settings(&mut self, chat: ChatId, s: &ChatSettings) -> Result<(), Fail> {
        put_settings(self, chat, s)
    }

    fn put_digest(&mut self, chat: ChatId, d: &DigestRecord) -> Result<(), Fail> {
        put_digest(self, chat, d)
    }
}
