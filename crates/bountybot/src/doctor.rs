//! `bountybot doctor`'s storage checks: the configured backend opened and read as
//! `run` would, each problem with what to do about it. The report type and the
//! generic checks (a private data dir, free space, the descriptor limit, an SQLite
//! database's integrity and settings) are `statekit::doctor`'s; the Bot API checks
//! (the token, the webhook) are [`crate::telegram::doctor`]'s.
//!
//! What each backend is asked:
//!
//! - **JSON**: every chat folder's files read and parsed, as `run` reads them (a
//!   damaged file fails, naming it);
//! - **SQLite**: `bountybot.db` opened as the bot opens it, `PRAGMA quick_check`, its
//!   durability settings, and its schema version against this build's migrations
//!   (nothing is created: a missing database is a warning, `run` creates it);
//! - **PostgreSQL**: the database reached and opened as `run` opens it (which applies
//!   this build's pending migrations, so its schema is current after a pass), and
//!   every chat's rows read.

use std::path::Path;

use statekit::doctor::{Check, database_health};
use statekit::error::Chain;

use crate::store::migrate::{self, Backend, Place};
use crate::store::sqlite::{SqliteStore, migrations};

/// The name of the storage check in the report.
pub const STORAGE: &str = "storage";

/// What to do about storage that cannot be read.
const RESTORE: &str = "stop the bot, restore the damaged data from a backup (or fix the file by hand), and run doctor again";

/// The storage checks: which backend is used, and whether it opens and reads whole.
pub fn storage(place: &Place, asked: Option<Backend>) -> Vec<Check> {
    let backend = match migrate::choose(place, asked) {
        Ok(b) => b,
        Err(e) => {
            return vec![Check::fail(
                STORAGE,
                Chain(&e).to_string(),
                "give the --storage (or BOUNTYBOT_STORAGE) the bot runs with; with two backends in the data dir, finish or undo the move with `bountybot migrate-storage`",
            )];
        }
    };
    match backend {
        Backend::Json => vec![read_whole(place, backend)],
        Backend::Sqlite => sqlite(&SqliteStore::path_in(&place.dir)),
        Backend::Postgres => vec![read_whole(place, backend)],
    }
}

/// Opens the backend as `run` does and reads every chat's data.
fn read_whole(place: &Place, backend: Backend) -> Check {
    let store = match migrate::open(place, backend) {
        Ok(s) => s,
        Err(e) => {
            let fix = match backend {
                Backend::Postgres => {
                    "check that the server runs and that BOUNTYBOT_DATABASE_URL names it, its user and password"
                }
                _ => RESTORE,
            };
            return Check::fail(
                STORAGE,
                format!("{backend} storage cannot be opened: {}", Chain(&e)),
                fix,
            );
        }
    };
    let read = store.export();
    // A PostgreSQL client closes by blocking: drop it here, off any runtime.
    drop(store);
    match read {
        Ok(chats) => {
            let bounties: usize = chats.iter().map(|c| c.bounties.len()).sum();
            let how = match backend {
                Backend::Postgres => "reachable, schema current",
                _ => "every chat's files read",
            };
            Check::ok(
                STORAGE,
                format!(
                    "{backend}: {how}; {} chat(s), {bounties} bounties",
                    chats.len()
                ),
            )
        }
        Err(e) => Check::fail(
            STORAGE,
            format!("{backend} storage cannot be read: {}", Chain(&e)),
            RESTORE,
        ),
    }
}

/// `bountybot.db`'s integrity, settings and schema.
fn sqlite(path: &Path) -> Vec<Check> {
    if !path.exists() {
        return vec![Check::warn(
            STORAGE,
            format!("sqlite: {} does not exist yet", path.display()),
            "`bountybot run` creates it; if the bot ran before, the data dir is not the one it used",
        )];
    }
    let (health, conn) = match database_health(path) {
        Ok(h) => h,
        Err(e) => {
            return vec![Check::fail(
                STORAGE,
                format!("sqlite: {} cannot be opened: {}", path.display(), Chain(&e)),
                RESTORE,
            )];
        }
    };
    let mut out = Vec::new();
    if health.quick_check != "ok" {
        out.push(Check::fail(
            STORAGE,
            format!(
                "sqlite: {} is damaged: quick_check says {}",
                path.display(),
                health.quick_check
            ),
            RESTORE,
        ));
    } else {
        let schema = migrations()
            .map_err(|e| Chain(&e).to_string())
            .and_then(|m| {
                let current = m
                    .current_version(&conn)
                    .map_err(|e| Chain(&e).to_string())?;
                let pending = m.pending(&conn).map_err(|e| Chain(&e).to_string())?;
                Ok((current, m.latest(), pending.len()))
            });
        out.push(match schema {
            Ok((current, latest, 0)) => Check::ok(
                STORAGE,
                format!("sqlite: quick_check ok, schema {current} of {latest}"),
            ),
            Ok((current, latest, pending)) => Check::warn(
                STORAGE,
                format!(
                    "sqlite: quick_check ok, schema {current} of {latest}: {pending} migration(s) pending"
                ),
                "they are applied when the bot next starts",
            ),
            Err(why) => Check::fail(
                STORAGE,
                format!("sqlite: schema: {why}"),
                "run the bountybot release that wrote it, or restore from a backup",
            ),
        });
    }
    let problems = health.durability_problems();
    out.push(if problems.is_empty() {
        Check::ok("durability", health.settings())
    } else {
        Check::fail(
            "durability",
            problems.join("; "),
            "a database not opened as bountybot opens it: stop whatever else writes it",
        )
    });
    out
}
