//! The property's baseline kept in its database: one row, the file's JSON as read and
//! its SHA-256, replaced whenever the file changes. The file stays the ingest input;
//! the row is what a restored database serves when the file is gone.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;

/// The stored baseline JSON and its SHA-256, if any.
pub fn load(conn: &Connection) -> Result<Option<(String, String)>, DbError> {
    Ok(conn
        .prepare_cached("SELECT json, sha256 FROM baseline WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Stores `json` (with its `sha256`) unless the same is stored, and the search
/// index's titles with it; returns whether it wrote. Run it inside a transaction.
pub fn store(conn: &Connection, json: &str, sha256: &str, now: &str) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO baseline (id, json, sha256, stored_at) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET json = excluded.json, sha256 = excluded.sha256,
                 stored_at = excluded.stored_at
             WHERE baseline.sha256 <> excluded.sha256",
        )?
        .execute(params![json, sha256, now])?;
    if n > 0 {
        // The search index's titles come from the stored baseline.
        super::search_repo::catch_up(conn)?;
    }
    Ok(n > 0)
}
