//! bountybot's advisory locks on a database: the use lock (shared by every bot,
//! exclusive for `migrate-storage`), the migration lock and the polling leader's.

use super::connect::{connect, server_keepalives};
use super::error::Error;
use super::url::DatabaseUrl;
use crate::store::{LeaderHold, StoreError};

/// The first key of bountybot's own advisory locks (two-key form, which never collides
/// with the one-key chat locks): "bb".
pub const LOCK_CLASS: i32 = 0x6262;

/// The second key of the lock held while migrations are applied.
pub const MIGRATION_LOCK: i32 = 1;

/// The second key of the lock every process using the database holds shared for as
/// long as it runs, and `migrate-storage` takes exclusively (or refuses).
pub const USE_LOCK: i32 = 2;

/// The second key of the lock held by the replica that polls Telegram.
pub const LEADER_LOCK: i32 = 3;

/// The polling leader's hold: the session lock lives as long as this connection.
pub(super) struct LeaderConnection(pub(super) postgres::Client);

impl LeaderHold for LeaderConnection {
    fn still_held(&mut self) -> bool {
        // The lock is the session's: while the session answers, it is ours.
        self.0.simple_query("SELECT 1").is_ok()
    }
}

/// `migrate-storage`'s hold on a database: the use lock taken exclusively, so no bot
/// runs on it meanwhile; released when dropped.
pub struct ExclusiveUse {
    _conn: postgres::Client,
}

impl std::fmt::Debug for ExclusiveUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExclusiveUse")
    }
}

/// Takes `url`'s use lock exclusively, or says it is busy (a bot runs on it).
pub fn lock_exclusive(url: &DatabaseUrl) -> Result<ExclusiveUse, StoreError> {
    let mut conn = connect(url)?;
    server_keepalives(&mut conn)?;
    take_use_lock(&mut conn, url, "pg_advisory_lock")?;
    Ok(ExclusiveUse { _conn: conn })
}

/// How long taking the use lock waits for a process that holds it the other way (one
/// that is just exiting lets go a moment after it is gone).
pub(super) const USE_LOCK_WAIT: &str = "5s";

/// Takes the use lock with `function` (shared or exclusive), waiting at most
/// [`USE_LOCK_WAIT`]; busy when it is not free by then.
pub(super) fn take_use_lock(
    conn: &mut postgres::Client,
    url: &DatabaseUrl,
    function: &str,
) -> Result<(), StoreError> {
    conn.batch_execute(&format!("SET lock_timeout = '{USE_LOCK_WAIT}'"))?;
    let taken = conn.execute(
        &format!("SELECT {function}($1, $2)"),
        &[&LOCK_CLASS, &USE_LOCK],
    );
    match taken {
        Ok(_) => {}
        Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
            return Err(Error::Busy {
                url: url.redacted(),
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    }
    conn.batch_execute("SET lock_timeout = 0")?;
    Ok(())
}
