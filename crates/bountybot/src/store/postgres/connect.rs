//! Connecting: the connection settings of a URL (with TCP keepalives both ways), one
//! connection of its own, and the pool's bounds.

use std::time::Duration;

use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

use super::error::Error;
use super::url::DatabaseUrl;
use crate::store::StoreError;

/// Most connections the pool opens.
pub const POOL_SIZE: u32 = 16;

/// How long a caller waits for a free connection (or for the server) before failing.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) type Manager = PostgresConnectionManager<NoTls>;

/// The connection settings of `url`, with TCP keepalives so that a connection to a
/// machine that died is noticed within about half a minute, not hours.
pub(super) fn config_of(url: &DatabaseUrl) -> Result<postgres::Config, StoreError> {
    let mut config: postgres::Config = url.expose().parse().map_err(|source| Error::Url {
        url: url.redacted(),
        source,
    })?;
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(30));
    Ok(config)
}

/// Makes the server drop this session within about half a minute of its client's
/// machine going silent, so the session's locks (the polling leader's, a bot's use
/// lock) do not outlive it by hours.
pub(super) fn server_keepalives(conn: &mut postgres::Client) -> Result<(), StoreError> {
    conn.batch_execute(
        "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;
         SET tcp_keepalives_count = 3; SET tcp_user_timeout = 30000",
    )?;
    Ok(())
}

/// One connection outside the pool.
pub(super) fn connect(url: &DatabaseUrl) -> Result<postgres::Client, StoreError> {
    let mut config = config_of(url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config.connect(NoTls).map_err(|source| Error::Connect {
        url: url.redacted(),
        source,
    })?)
}
