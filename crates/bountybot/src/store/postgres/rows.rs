//! The digest rows (the one table whose dates the two SQL dialects store apart), and
//! the shared SQL's primitives ([`crate::store::sql`]) on PostgreSQL.

use jiff::civil::Date;
use postgres::{GenericClient, Row, Transaction};

use super::error::Fail;
use crate::domain::{ChatId, DigestClaim, DigestRecord, decide_claim, digests_kept_from};
use crate::store::sql::{self, BadValue, Cell, IntSql, Param, Rows, RowsMut};

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

/// The cells of a row, by the type of each column (integers and texts).
fn pg_cells(c: &mut impl GenericClient, sql: &str, params: &[i64]) -> Result<Vec<Vec<Cell>>, Fail> {
    use postgres::types::Type;
    let cell = |r: &Row, i: usize| -> Result<Cell, Fail> {
        let ty = r.columns()[i].type_();
        Ok(if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?
                .map_or(Cell::Null, Cell::Int)
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map_or(Cell::Null, |v| Cell::Int(v.into()))
        } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
            r.try_get::<_, Option<String>>(i)?
                .map_or(Cell::Null, Cell::Text)
        } else {
            return Err(Fail::Data(BadValue::Type));
        })
    };
    c.query(sql, &pg_params(params))?
        .iter()
        .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
        .collect()
}

fn pg_exec_with(c: &mut impl GenericClient, sql: &str, params: &[Param<'_>]) -> Result<u64, Fail> {
    let values: Vec<Box<dyn postgres::types::ToSql + Sync + '_>> = params
        .iter()
        .map(|p| -> Box<dyn postgres::types::ToSql + Sync + '_> {
            match *p {
                Param::Int(v) => Box::new(v),
                Param::Text(t) => Box::new(t),
            }
        })
        .collect();
    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
        values.iter().map(|v| &**v as _).collect();
    Ok(c.execute(sql, &refs)?)
}

impl IntSql for Transaction<'_> {
    type Error = Fail;

    fn exec(&mut self, sql: &str, params: &[i64]) -> Result<u64, Fail> {
        pg_exec(self, sql, params)
    }

    fn ints(&mut self, sql: &str, params: &[i64]) -> Result<Vec<Vec<i64>>, Fail> {
        pg_ints(self, sql, params)
    }

    fn cells(&mut self, sql: &str, params: &[i64]) -> Result<Vec<Vec<Cell>>, Fail> {
        pg_cells(self, sql, params)
    }

    fn exec_with(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, Fail> {
        pg_exec_with(self, sql, params)
    }

    fn bad_value(_col: usize, e: BadValue) -> Fail {
        Fail::Data(e)
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

    fn cells(&mut self, sql: &str, params: &[i64]) -> Result<Vec<Vec<Cell>>, Fail> {
        pg_cells(self, sql, params)
    }

    fn exec_with(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, Fail> {
        pg_exec_with(self, sql, params)
    }

    fn bad_value(_col: usize, e: BadValue) -> Fail {
        Fail::Data(e)
    }
}

impl Rows for Transaction<'_> {
    fn digests(&mut self, chat: ChatId) -> Result<Vec<DigestRecord>, Fail> {
        digests_in(self, chat)
    }
}

impl RowsMut for Transaction<'_> {
    fn put_digest(&mut self, chat: ChatId, d: &DigestRecord) -> Result<(), Fail> {
        put_digest(self, chat, d)
    }
}
