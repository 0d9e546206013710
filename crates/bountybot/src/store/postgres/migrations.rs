//! bountybot's own migration runner for PostgreSQL: the files of `migrations/postgres/`
//! applied in one transaction under the migration lock, each checksum recorded and
//! checked like statekit's.

use include_dir::{Dir, include_dir};
use postgres::Transaction;
use statekit::migrate::Migrations;

use super::error::{Error, SchemaError};
use super::locks::{LOCK_CLASS, MIGRATION_LOCK};
use crate::store::StoreError;

static MIGRATIONS: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/postgres");

/// The history table of applied migrations.
pub(super) const HISTORY: &str = "bountybot_migrations";

/// Applies the pending migrations through `c` in one transaction under the migration
/// lock.
pub(super) fn migrate(c: &mut postgres::Client) -> Result<(), StoreError> {
    let migrations = Migrations::from_dir(&MIGRATIONS).map_err(Error::from)?;
    let mut tx = c.transaction()?;
    let run = |tx: &mut Transaction<'_>| -> Result<(), StoreError> {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&LOCK_CLASS, &MIGRATION_LOCK],
        )?;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {HISTORY} (
                   version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
                   applied_at BIGINT NOT NULL)"
        ))?;
        let applied: Vec<(i32, String, String)> = tx
            .query(
                &format!("SELECT version, name, checksum FROM {HISTORY} ORDER BY version"),
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        for (version, name, checksum) in &applied {
            let known = u32::try_from(*version).ok().and_then(|v| migrations.get(v));
            match known {
                None => {
                    let (version, name) = (*version, name.clone());
                    return Err(Error::Schema(SchemaError::Unknown { version, name }).into());
                }
                Some(m) if m.checksum != *checksum => {
                    let (version, name) = (*version, name.clone());
                    return Err(Error::Schema(SchemaError::Changed { version, name }).into());
                }
                Some(_) => {}
            }
        }
        let now = jiff::Timestamp::now().as_second();
        for m in migrations.list().iter().skip(applied.len()) {
            tx.batch_execute(&m.sql)?;
            let version = i32::try_from(m.version).unwrap_or(i32::MAX);
            tx.execute(
                    &format!(
                        "INSERT INTO {HISTORY} (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)"
                    ),
                    &[&version, &m.name, &m.checksum, &now],
                )?;
        }
        Ok(())
    };
    run(&mut tx)?;
    Ok(tx.commit()?)
}
