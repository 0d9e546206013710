//! The shared SQL's primitives ([`crate::store::sql`]) on PostgreSQL.

use postgres::types::{ToSql, Type};
use postgres::{GenericClient, Row, Transaction};

use super::error::Fail;
use crate::store::sql::{BadValue, Cell, IntSql, Param};

/// PostgreSQL's values of `params`.
fn values<'a>(params: &'a [Param<'_>]) -> Vec<Box<dyn ToSql + Sync + 'a>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync + 'a> {
            match *p {
                Param::Int(v) => Box::new(v),
                Param::Text(t) => Box::new(t),
            }
        })
        .collect()
}

/// One cell of `r`, by the type of its column (integers and texts).
fn cell(r: &Row, i: usize) -> Result<Cell, Fail> {
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
}

/// [`IntSql`] on a pooled client (a read) and on a transaction (a unit of work).
macro_rules! int_sql {
    ($($t:ty),*) => {$(
        impl IntSql for $t {
            type Error = Fail;
            const AS_DATE: &'static str = "::text::date";

            fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Cell>>, Fail> {
                let values = values(params);
                let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as _).collect();
                GenericClient::query(self, sql, &refs)?
                    .iter()
                    .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
                    .collect()
            }

            fn exec_with(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, Fail> {
                let values = values(params);
                let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as _).collect();
                Ok(GenericClient::execute(self, sql, &refs)?)
            }

            fn bad_value(_col: usize, e: BadValue) -> Fail {
                Fail::Data(e)
            }
        }
    )*};
}

int_sql!(postgres::Client, Transaction<'_>);
