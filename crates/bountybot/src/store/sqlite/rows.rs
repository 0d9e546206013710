//! The shared SQL's primitives ([`crate::store::sql`]) on SQLite.

use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use crate::store::sql::{BadValue, Cell, IntSql, Param};

/// A stored text that does not parse, as a conversion error of its column (`why`
/// kept as its cause).
fn bad_column(col: usize, why: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(why))
}

/// SQLite's values of `params`.
fn values<'a>(params: &'a [Param<'_>]) -> impl Iterator<Item = Value> + 'a {
    params.iter().map(|p| match *p {
        Param::Int(v) => Value::from(v),
        Param::Text(t) => Value::from(t.map(str::to_string)),
    })
}

impl IntSql for &Connection {
    type Error = rusqlite::Error;
    const AS_DATE: &'static str = "";

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> rusqlite::Result<Vec<Vec<Cell>>> {
        let mut stmt = self.prepare_cached(&sql.replace('$', "?"))?;
        let n = stmt.column_count();
        stmt.query_map(rusqlite::params_from_iter(values(params)), |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => Cell::Null,
                        ValueRef::Integer(v) => Cell::Int(v),
                        ValueRef::Text(t) => {
                            Cell::Text(String::from_utf8(t.to_vec()).map_err(|e| bad_column(i, e))?)
                        }
                        ValueRef::Real(_) | ValueRef::Blob(_) => {
                            return Err(bad_column(i, BadValue::Type));
                        }
                    })
                })
                .collect()
        })?
        .collect()
    }

    fn exec_with(&mut self, sql: &str, params: &[Param<'_>]) -> rusqlite::Result<u64> {
        let mut stmt = self.prepare_cached(&sql.replace('$', "?"))?;
        Ok(stmt.execute(rusqlite::params_from_iter(values(params)))? as u64)
    }

    fn bad_value(col: usize, e: BadValue) -> rusqlite::Error {
        bad_column(col, e)
    }
}
