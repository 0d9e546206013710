//! Moving the data away from PostgreSQL: every table into a schema of its own (kept,
//! never dropped), with a marker that keeps a bot from starting afresh on the emptied
//! database.

use super::connect::connect;
use super::locks::ExclusiveUse;
use super::migrations::HISTORY;
use super::url::DatabaseUrl;
use crate::store::StoreError;

/// The table a move away from PostgreSQL leaves behind, so that no bot starts afresh
/// on the emptied database.
pub(super) const MOVED_MARKER: &str = "bountybot_moved";

/// Every table of the schema, moved together when the data is archived.
pub(super) const TABLES: [&str; 12] = [
    "chat_moves",
    "inbox",
    "inbox_floor",
    "chats",
    "bounties",
    "members",
    "tracked",
    "names",
    "chat_settings",
    "digests",
    "processed_updates",
    HISTORY,
];

/// Where the data went, if a move away from PostgreSQL left its marker.
pub(super) fn moved_to(c: &mut postgres::Client) -> Result<Option<String>, StoreError> {
    let exists: bool = c
        .query_one(
            &format!("SELECT to_regclass('{MOVED_MARKER}') IS NOT NULL"),
            &[],
        )?
        .get(0);
    if !exists {
        return Ok(None);
    }
    Ok(c.query_opt(
        &format!(
            "SELECT moved_to || ' on ' || to_char(to_timestamp(moved_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC (old data kept in schema ' || archive_schema || ')'
             FROM {MOVED_MARKER} ORDER BY moved_at DESC LIMIT 1"
        ),
        &[],
    )?
    .map(|r| r.get(0)))
}

/// Whether the database holds any chat (false for an empty or archived one).
pub fn holds_data(url: &DatabaseUrl, _lock: &ExclusiveUse) -> Result<bool, StoreError> {
    let mut c = connect(url)?;
    let table: bool = c
        .query_one("SELECT to_regclass('chats') IS NOT NULL", &[])?
        .get(0);
    if !table {
        return Ok(false);
    }
    Ok(c.query_one("SELECT EXISTS (SELECT 1 FROM chats)", &[])?
        .get(0))
}

/// Moves every table of the store into a new schema `bountybot_archive_{ts}` (kept,
/// never dropped) and leaves the marker naming `moved_to`, in one transaction; the
/// next open finds an empty database and refuses while the marker is there. Returns
/// the schema's name.
pub fn archive(
    url: &DatabaseUrl,
    _lock: &ExclusiveUse,
    moved_to: &str,
    now: jiff::Timestamp,
) -> Result<String, StoreError> {
    let mut c = connect(url)?;
    let mut tx = c.transaction()?;
    let base = format!("bountybot_archive_{}", now.strftime("%Y%m%d_%H%M%S"));
    let mut schema = base.clone();
    for n in 2.. {
        let taken = tx
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])?
            .is_some();
        if !taken {
            break;
        }
        schema = format!("{base}_{n}");
    }
    tx.batch_execute(&format!("CREATE SCHEMA {schema}"))?;
    for table in TABLES {
        let exists: bool = tx
            .query_one(&format!("SELECT to_regclass('{table}') IS NOT NULL"), &[])?
            .get(0);
        if exists {
            tx.batch_execute(&format!("ALTER TABLE {table} SET SCHEMA {schema}"))?;
        }
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {MOVED_MARKER} (
           moved_to TEXT NOT NULL, moved_at BIGINT NOT NULL, archive_schema TEXT NOT NULL)"
    ))?;
    tx.execute(
        &format!(
            "INSERT INTO {MOVED_MARKER} (moved_to, moved_at, archive_schema) VALUES ($1, $2, $3)"
        ),
        &[&moved_to, &now.as_second(), &schema],
    )?;
    tx.commit()?;
    Ok(schema)
}
