//! The digest rows (the one table whose dates the two SQL dialects store apart), and
//! the shared SQL's primitives ([`crate::store::sql`]) on SQLite.

use jiff::civil::Date;
use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::{ChatId, DigestClaim, DigestRecord, decide_claim, digests_kept_from};
use crate::store::sql::{self, BadValue, Cell, IntSql, Param, Rows, RowsMut};

/// A stored text that does not parse, as a conversion error of its column (`why`
/// kept as its cause).
fn bad_column(col: usize, why: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(why))
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

    fn cells(&mut self, sql: &str, params: &[i64]) -> rusqlite::Result<Vec<Vec<Cell>>> {
        use rusqlite::types::ValueRef as V;
        let mut stmt = self.prepare_cached(&sql.replace('$', "?"))?;
        let n = stmt.column_count();
        stmt.query_map(rusqlite::params_from_iter(params), |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        V::Null => Cell::Null,
                        V::Integer(v) => Cell::Int(v),
                        V::Text(t) => {
                            Cell::Text(String::from_utf8(t.to_vec()).map_err(|e| bad_column(i, e))?)
                        }
                        V::Real(_) | V::Blob(_) => return Err(bad_column(i, BadValue::Type)),
                    })
                })
                .collect()
        })?
        .collect()
    }

    fn exec_with(&mut self, sql: &str, params: &[Param<'_>]) -> rusqlite::Result<u64> {
        let values = params.iter().map(|p| match *p {
            Param::Int(v) => rusqlite::types::Value::from(v),
            Param::Text(t) => rusqlite::types::Value::from(t.map(str::to_string)),
        });
        let mut stmt = self.prepare_cached(&sql.replace('$', "?"))?;
        Ok(stmt.execute(rusqlite::params_from_iter(values))? as u64)
    }

    fn bad_value(col: usize, e: BadValue) -> rusqlite::Error {
        bad_column(col, e)
    }
}

impl Rows for &Connection {
    fn digests(&mut self, chat: ChatId) -> rusqlite::Result<Vec<DigestRecord>> {
        digests_in(self, chat)
    }
}

impl RowsMut for &Connection {
    fn put_digest(&mut self, chat: ChatId, d: &DigestRecord) -> rusqlite::Result<()> {
        put_digest(self, chat, d)
    }
}
