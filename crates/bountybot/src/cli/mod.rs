//! One module per subcommand: its arguments and its `run`; shared options and the
//! data dir's lock here.

pub mod doctor;
pub mod migrate_storage;
pub mod remind;
pub mod repl;
pub mod run;
pub mod send;
pub mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use bountybot::store::BountyStore;
use bountybot::store::migrate::{self, Backend, MigrateError, Place};
use bountybot::store::postgres::DatabaseUrl;
use statekit::lock::RwDirLock;

/// Options every subcommand takes.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// Data directory: one folder per chat (or bountybot.db).
    #[arg(
        long,
        global = true,
        env = "BOUNTYBOT_DATA_DIR",
        default_value = "data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,

    /// Storage backend. Default: what the data dir holds (bountybot.db means sqlite),
    /// postgres when a database URL is given, json for an empty dir. A data dir holding
    /// both json and sqlite is refused (see migrate-storage).
    #[arg(long, global = true, env = "BOUNTYBOT_STORAGE", value_enum)]
    pub storage: Option<Backend>,

    /// The PostgreSQL database for --storage postgres, as
    /// postgres://user:password@host:port/database (better set in the environment,
    /// which other users cannot read, than on the command line). Never printed with its
    /// password.
    #[arg(
        long,
        global = true,
        env = "BOUNTYBOT_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// The bot's username, so that /cmd@<username> is answered and other bots' commands are not.
    #[arg(
        long,
        global = true,
        env = "BOUNTYBOT_USERNAME",
        default_value = "bountybot"
    )]
    pub bot_username: String,
}

/// A usage error: bad input rather than a failure of the work (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code for an error: 2 for bad input, 1 for anything else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| {
        c.is::<UsageError>()
            || c.downcast_ref::<MigrateError>().is_some_and(|m| {
                matches!(
                    m,
                    MigrateError::BothPresent(_)
                        | MigrateError::Mismatch { .. }
                        | MigrateError::StraySidecar(_)
                        | MigrateError::NoDatabaseUrl
                        | MigrateError::AmbiguousSource(_)
                )
            })
    }) {
        2
    } else {
        1
    }
}

/// Holds the data dir shared for as long as the store is used: any number of bots,
/// REPLs and `send`s at once, but no `migrate-storage` meanwhile.
pub fn use_data_dir(dir: &Path) -> anyhow::Result<RwDirLock> {
    RwDirLock::shared(dir).with_context(|| format!("locking {}", dir.display()))
}

/// Where the data lives: the data dir, and the database if one is given.
pub fn place(g: &Global) -> Place {
    Place {
        dir: g.data_dir.clone(),
        database: g.database_url.clone().map(DatabaseUrl::new),
    }
}

/// The store the data dir holds (or the one asked for), under the caller's lock.
pub fn open_store(g: &Global) -> anyhow::Result<Arc<dyn BountyStore>> {
    let place = place(g);
    let backend = migrate::choose(&place, g.storage)?;
    let store = migrate::open(&place, backend);
    match (&place.database, backend) {
        (Some(url), migrate::Backend::Postgres) => {
            store.with_context(|| format!("opening postgres storage at {url}"))
        }
        _ => {
            store.with_context(|| format!("opening {backend} storage in {}", g.data_dir.display()))
        }
    }
}
