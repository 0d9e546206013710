//! The PostgreSQL backend: one database shared by any number of bot processes, with the
//! other backends' semantics.
//!
//! Connections come from an `r2d2` pool of synchronous `postgres` clients (the store's
//! methods are blocking, like the other backends'). Every change is one transaction
//! that first takes the chat's advisory lock (`pg_advisory_xact_lock(chat_id)`, released
//! at commit), so all changes of a chat, from any process, run one at a time in the
//! order they got the lock; a move of a chat locks both chats, lower id first. A commit
//! returns once PostgreSQL made it durable (its `synchronous_commit`, on by default).
//!
//! Migrations (`migrations/postgres/`) are applied at open, all pending files in one
//! transaction under a migration advisory lock, so replicas starting together apply
//! each once; each file's checksum is recorded and checked like statekit's.
//!
//! Why `postgres` and `r2d2` rather than `tokio-postgres` with an async pool, or `sqlx`:
//! [`BountyStore`] is a blocking trait (the JSON and SQLite backends block, and the bot
//! already calls the store from `spawn_blocking`), so a synchronous client fits without
//! a second hand-off between runtimes, and `r2d2_postgres` is its usual pool. The
//! queries are plain SQL strings like the SQLite backend's, checked by the conformance
//! suite against a real server rather than at compile time (`sqlx`'s checked macros
//! would need a database to build).

mod error;

pub use error::{BadValue, Error, SchemaError};

use std::sync::Mutex;
use std::time::Duration;

use error::Fail;
use include_dir::{Dir, include_dir};
use jiff::civil::Date;
use postgres::{GenericClient, NoTls, Row, Transaction};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use sql::{IntSql, Rows, RowsMut, export_rows, import_rows};
use statekit::migrate::Migrations;

use super::{
    Bounties, ChatData, ChatSettingsStore, LeaderHold, Leadership, Ledger, Origin, Portable,
    ReminderChat, Scope, StoreError, sql,
};
use crate::domain::{
    Bounty, BountyId, BountyPatch, ChatId, ChatMove, ChatSettings, DigestClaim, DigestRecord,
    IdError, NewBounty, ReminderTime, SettingsPatch, Status, UpdateId, UserId, ZoneName,
    decide_claim, digests_kept_from,
};

/// The first key of bountybot's own advisory locks (two-key form, which never collides
/// with the one-key chat locks): "bb".
pub const LOCK_CLASS: i32 = 0x6262;

/// The second key of the lock held while migrations are applied.
pub const MIGRATION_LOCK: i32 = 1;

/// The second key of the lock every process using the database holds shared for as
/// long as it runs, and `migrate-storage` takes exclusively (or refuses).
pub const USE_LOCK: i32 = 2;

/// The table a move away from PostgreSQL leaves behind, so that no bot starts afresh
/// on the emptied database.
const MOVED_MARKER: &str = "bountybot_moved";

/// Every table of the schema, moved together when the data is archived.
const TABLES: [&str; 12] = [
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

/// The second key of the lock held by the replica that polls Telegram.
pub const LEADER_LOCK: i32 = 3;

/// How far back (in update ids) a missing predecessor is looked for.
const ORDER_WINDOW: i64 = 1000;

/// Inbox rows older than this (seconds) are pruned.
const INBOX_KEPT_SECS: i64 = 24 * 3600;

/// Most connections the pool opens.
pub const POOL_SIZE: u32 = 16;

/// How long a caller waits for a free connection (or for the server) before failing.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATIONS: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/postgres");

/// The history table of applied migrations.
const HISTORY: &str = "bountybot_migrations";

type Manager = PostgresConnectionManager<NoTls>;

/// A database URL whose password is never shown: `Debug` and `Display` print it with
/// the password replaced.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a `postgres://` URL or a `key=value` connection string.
    pub fn new(url: String) -> DatabaseUrl {
        DatabaseUrl(url)
    }

    /// The URL as given, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What to show of the URL: rebuilt from what it says (user, hosts, ports,
    /// database), never echoed, so no spelling of a password can leak; `***` marks
    /// that it has one.
    pub fn redacted(&self) -> String {
        let Ok(config) = self.0.parse::<postgres::Config>() else {
            return "(a database URL that does not parse)".to_string();
        };
        let user = config.get_user().unwrap_or("");
        let password = if config.get_password().is_some() {
            ":***"
        } else {
            ""
        };
        let at = if user.is_empty() && password.is_empty() {
            ""
        } else {
            "@"
        };
        let ports = config.get_ports();
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let host = match h {
                    postgres::config::Host::Tcp(name) => name.clone(),
                    postgres::config::Host::Unix(path) => path.display().to_string(),
                };
                match ports.get(i).or(ports.first()) {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            })
            .collect();
        let db = config.get_dbname().unwrap_or("");
        format!("postgres://{user}{password}{at}{}/{db}", hosts.join(","))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool<Manager>,
    url: DatabaseUrl,
    /// The connection holding [`USE_LOCK`] shared; `None` for the store
    /// `migrate-storage` opens while it holds the lock exclusively.
    _in_use: Option<Mutex<postgres::Client>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The inbox's `chat_id` of an update for no chat (Telegram's chat ids are never 0).
const NO_CHAT: i64 = 0;

/// The connection settings of `url`, with TCP keepalives so that a connection to a
/// machine that died is noticed within about half a minute, not hours.
fn config_of(url: &DatabaseUrl) -> Result<postgres::Config, StoreError> {
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
fn server_keepalives(conn: &mut postgres::Client) -> Result<(), StoreError> {
    conn.batch_execute(
        "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;
         SET tcp_keepalives_count = 3; SET tcp_user_timeout = 30000",
    )?;
    Ok(())
}

/// One connection outside the pool.
fn connect(url: &DatabaseUrl) -> Result<postgres::Client, StoreError> {
    let mut config = config_of(url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config.connect(NoTls).map_err(|source| Error::Connect {
        url: url.redacted(),
        source,
    })?)
}

/// Where the data went, if a move away from PostgreSQL left its marker.
fn moved_to(c: &mut postgres::Client) -> Result<Option<String>, StoreError> {
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

/// The polling leader's hold: the session lock lives as long as this connection.
struct LeaderConnection(postgres::Client);

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
const USE_LOCK_WAIT: &str = "5s";

/// Takes the use lock with `function` (shared or exclusive), waiting at most
/// [`USE_LOCK_WAIT`]; busy when it is not free by then.
fn take_use_lock(
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

impl PostgresStore {
    /// Connects to `url`, refuses a database whose data was moved to another backend,
    /// applies the pending migrations, and holds the database's use lock shared while
    /// the store lives (so `migrate-storage` cannot run meanwhile).
    pub fn open(url: &DatabaseUrl) -> Result<PostgresStore, StoreError> {
        let mut in_use = connect(url)?;
        server_keepalives(&mut in_use)?;
        take_use_lock(&mut in_use, url, "pg_advisory_lock_shared")?;
        if let Some(moved) = moved_to(&mut in_use)? {
            return Err(Error::Moved {
                url: url.redacted(),
                moved,
            }
            .into());
        }
        let mut store = PostgresStore::unlocked(url)?;
        store._in_use = Some(Mutex::new(in_use));
        Ok(store)
    }

    /// The store `migrate-storage` uses while it holds `lock`: no use lock, no check
    /// for a move marker.
    pub fn open_for_move(
        url: &DatabaseUrl,
        _lock: &ExclusiveUse,
    ) -> Result<PostgresStore, StoreError> {
        PostgresStore::unlocked(url)
    }

    fn unlocked(url: &DatabaseUrl) -> Result<PostgresStore, StoreError> {
        let config = config_of(url)?;
        let pool = Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(0))
            .connection_timeout(CONNECT_TIMEOUT)
            .build(PostgresConnectionManager::new(config, NoTls))
            .map_err(|source| Error::Pool {
                url: url.redacted(),
                source,
            })?;
        let store = PostgresStore {
            pool,
            url: url.clone(),
            _in_use: None,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The database this store uses, without its password.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        Ok(self.pool.get().map_err(|source| Error::Pool {
            url: self.url.redacted(),
            source,
        })?)
    }

    /// Applies the pending migrations in one transaction under the migration lock.
    fn migrate(&self) -> Result<(), StoreError> {
        let migrations = Migrations::from_dir(&MIGRATIONS).map_err(Error::from)?;
        let mut c = self.conn()?;
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

    fn write<R>(
        &self,
        chat: ChatId,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, Fail>,
    ) -> Result<R, StoreError> {
        self.write_for(chat, &Origin::NONE, f)
    }

    /// One transaction holding `chat`'s lock, running `f` and storing `w` (the update
    /// recorded as processed, the sender's name): all commit together, or nothing does.
    fn write_for<R>(
        &self,
        chat: ChatId,
        w: &Origin,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, Fail>,
    ) -> Result<R, StoreError> {
        let (update, name) = (w.update, w.name_in(chat));
        let mut c = self.conn()?;
        let run = || -> Result<Result<R, UpdateId>, Fail> {
            let mut tx = c.transaction()?;
            // Every write also holds the use lock shared: a move of the data
            // (migrate-storage, holding it exclusively) and a write never overlap,
            // even if this process lost its session lock (a server restart).
            tx.execute(
                "SELECT pg_advisory_xact_lock_shared($2, $3), pg_advisory_xact_lock($1)",
                &[&chat.get(), &LOCK_CLASS, &USE_LOCK],
            )?;
            if let Some(u) = update
                && sql::processed(&mut tx, u)?
            {
                return Ok(Err(u));
            }
            let r = f(&mut tx)?;
            if let Some((user, name)) = &name {
                put_name(&mut tx, chat, *user, name)?;
            }
            if let Some(u) = update {
                sql::record(&mut tx, chat, u)?;
            }
            tx.commit()?;
            Ok(Ok(r))
        };
        match run().map_err(|f| f.within(chat.into()))? {
            Ok(r) => Ok(r),
            Err(update) => Err(StoreError::AlreadyProcessed { update }),
        }
    }

    fn read<R>(
        &self,
        scope: impl Into<Scope>,
        f: impl FnOnce(&mut postgres::Client) -> Result<R, Fail>,
    ) -> Result<R, StoreError> {
        let mut c = self.conn()?;
        Ok(f(&mut c).map_err(|f| f.within(scope.into()))?)
    }

    /// Notes in the inbox that `update` arrived, for the chat `chat_id` of the inbox
    /// ([`NO_CHAT`] for none).
    fn receive(&self, scope: Scope, chat_id: i64, update: UpdateId) -> Result<(), StoreError> {
        let id = i64::from(update.get());
        let now = jiff::Timestamp::now().as_second();
        let mut c = self.conn()?;
        let mut run = || -> Result<(), postgres::Error> {
            let mut tx = c.transaction()?;
            // Ordering data, not data a user wrote: no need to wait for the disk.
            tx.batch_execute("SET LOCAL synchronous_commit = off")?;
            tx.execute(
                "INSERT INTO inbox (update_id, chat_id, received_at) VALUES ($1, $2, $3)
             ON CONFLICT (update_id) DO NOTHING",
                &[&id, &chat_id, &now],
            )?;
            // The first update ever seen, or ids that started again lower (Telegram picks
            // a new start after a week without updates): nothing below it is waited for.
            tx.execute(
                "INSERT INTO inbox_floor (id, floor) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET floor = $1 WHERE inbox_floor.floor > $1 + $2",
                &[&id, &ORDER_WINDOW],
            )?;
            if update.get().is_multiple_of(sql::PRUNE_EVERY) {
                // Pruned ids are not waited for either.
                tx.execute(
                "WITH gone AS (DELETE FROM inbox WHERE received_at < $1 RETURNING update_id)
                 UPDATE inbox_floor SET floor = greatest(floor, (SELECT max(update_id) + 1 FROM gone))
                 WHERE id = 1 AND EXISTS (SELECT 1 FROM gone)",
                &[&(now - INBOX_KEPT_SECS)],
            )?;
            }
            tx.commit()
        };
        Ok(run().map_err(|source| Error::Statement { scope, source })?)
    }

    /// Marks `update` done in the inbox.
    fn mark_done(&self, scope: Scope, update: UpdateId) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let mut run = || -> Result<(), postgres::Error> {
            let mut tx = c.transaction()?;
            tx.batch_execute("SET LOCAL synchronous_commit = off")?;
            let sql = "UPDATE inbox SET done = true WHERE update_id = $1";
            tx.execute(sql, &[&i64::from(update.get())])?;
            tx.commit()
        };
        Ok(run().map_err(|source| Error::Statement { scope, source })?)
    }
}

/// A stored chat id.
fn chat_of(id: i64) -> Result<ChatId, Fail> {
    Ok(ChatId::try_from(id)?)
}

/// A stored user id.
fn user_of(id: i64) -> Result<UserId, Fail> {
    Ok(UserId::try_from(id)?)
}

fn row_to_bounty(r: &Row) -> Result<Bounty, Fail> {
    let status: String = r.try_get(6)?;
    let status = Status::from_stored(&status).ok_or_else(|| BadValue::Status(status.clone()))?;
    Ok(Bounty {
        id: BountyId::try_from(r.try_get::<_, i64>(0)?)?,
        created_by_user_id: user_of(r.try_get(1)?)?,
        text: r.try_get(2)?,
        link: r.try_get(3)?,
        due_date_ts: r.try_get(4)?,
        created_at: r.try_get(5)?,
        status,
        claimed_by_user_id: r.try_get::<_, Option<i64>>(7)?.map(user_of).transpose()?,
        done_at: r.try_get(8)?,
    })
}

const BOUNTY_COLUMNS: &str = "id, created_by_user_id, text, link, due_date_ts, created_at, status, claimed_by_user_id, done_at";

fn names_in(c: &mut impl GenericClient, chat: ChatId) -> Result<Vec<(UserId, String)>, Fail> {
    c.query(
        "SELECT user_id, name FROM names WHERE chat_id = $1 ORDER BY user_id",
        &[&chat.get()],
    )?
    .iter()
    .map(|r| Ok((user_of(r.get(0))?, r.get(1))))
    .collect()
}

fn list_in(c: &mut impl GenericClient, chat: ChatId) -> Result<Vec<Bounty>, Fail> {
    c.query(
        &format!("SELECT {BOUNTY_COLUMNS} FROM bounties WHERE chat_id = $1 ORDER BY id"),
        &[&chat.get()],
    )?
    .iter()
    .map(row_to_bounty)
    .collect()
}

fn get_in(c: &mut impl GenericClient, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, Fail> {
    c.query_opt(
        &format!("SELECT {BOUNTY_COLUMNS} FROM bounties WHERE chat_id = $1 AND id = $2"),
        &[&chat.get(), &(id.get() as i64)],
    )?
    .as_ref()
    .map(row_to_bounty)
    .transpose()
}

fn settings_in(c: &mut impl GenericClient, chat: ChatId) -> Result<ChatSettings, Fail> {
    let Some(row) = c.query_opt(
        "SELECT time_zone, remind_at FROM chat_settings WHERE chat_id = $1",
        &[&chat.get()],
    )?
    else {
        return Ok(ChatSettings::default());
    };
    settings_of(row.get(0), row.get(1))
}

fn settings_of(tz: Option<String>, at: Option<String>) -> Result<ChatSettings, Fail> {
    let time_zone = tz.map(|t| ZoneName::parse(&t)).transpose()?;
    let remind_at = at.map(|a| ReminderTime::parse(&a)).transpose()?;
    Ok(ChatSettings {
        time_zone,
        remind_at,
    })
}

fn put_settings(c: &mut impl GenericClient, chat: ChatId, s: &ChatSettings) -> Result<(), Fail> {
    if *s == ChatSettings::default() {
        c.execute(
            "DELETE FROM chat_settings WHERE chat_id = $1",
            &[&chat.get()],
        )?;
        return Ok(());
    }
    c.execute(
        "INSERT INTO chat_settings (chat_id, time_zone, remind_at) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id) DO UPDATE SET time_zone = excluded.time_zone, remind_at = excluded.remind_at",
        &[
            &chat.get(),
            &s.time_zone.as_ref().map(ZoneName::as_str),
            &s.remind_at.map(|t| t.to_string()),
        ],
    )?;
    Ok(())
}

fn row_to_digest(r: &Row) -> Result<DigestRecord, Fail> {
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

const DIGEST_COLUMNS: &str = "local_date::text, claimed_at, message_id";

fn digests_in(c: &mut impl GenericClient, chat: ChatId) -> Result<Vec<DigestRecord>, Fail> {
    c.query(
        &format!("SELECT {DIGEST_COLUMNS} FROM digests WHERE chat_id = $1 ORDER BY local_date"),
        &[&chat.get()],
    )?
    .iter()
    .map(row_to_digest)
    .collect()
}

fn put_digest(c: &mut impl GenericClient, chat: ChatId, d: &DigestRecord) -> Result<(), Fail> {
    c.execute(
        "INSERT INTO digests (chat_id, local_date, claimed_at, message_id) VALUES ($1, $2::text::date, $3, $4)
         ON CONFLICT (chat_id, local_date) DO UPDATE
           SET claimed_at = excluded.claimed_at, message_id = excluded.message_id",
        &[&chat.get(), &d.date.to_string(), &d.claimed_at, &d.message_id],
    )?;
    Ok(())
}

/// Claims (or re-claims) inside the chat's locked transaction.
fn claim_tx(
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

/// Remembers `user`'s (cleaned) `name` in `chat`; a named user is a member.
fn put_name(c: &mut Transaction<'_>, chat: ChatId, user: UserId, name: &str) -> Result<(), Fail> {
    sql::ensure_member(c, chat, user)?;
    c.execute(
        "INSERT INTO names (chat_id, user_id, name) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id, user_id) DO UPDATE SET name = excluded.name",
        &[&chat.get(), &user.get(), &name],
    )?;
    Ok(())
}

impl Bounties for PostgresStore {
    fn ensure_user(&self, chat: ChatId, user: UserId) -> Result<(), StoreError> {
        self.write(chat, |tx| sql::ensure_member(tx, chat, user))
    }

    fn add(&self, chat: ChatId, new: NewBounty, w: &Origin) -> Result<Bounty, StoreError> {
        super::injected_failure("add", chat)?;
        self.write_for(chat, w, |tx| sql::add(tx, chat, new))
    }

    fn get(&self, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, StoreError> {
        self.read(chat, |c| get_in(c, chat, id))
    }

    fn list(&self, chat: ChatId) -> Result<Vec<Bounty>, StoreError> {
        self.read(chat, |c| list_in(c, chat))
    }

    fn update(
        &self,
        chat: ChatId,
        id: BountyId,
        patch: &BountyPatch,
        w: &Origin,
    ) -> Result<Option<Bounty>, StoreError> {
        self.write_for(chat, w, |tx| sql::update(tx, chat, id, patch))
    }

    fn delete(&self, chat: ChatId, id: BountyId, w: &Origin) -> Result<bool, StoreError> {
        self.write_for(chat, w, |tx| sql::delete(tx, chat, id))
    }

    fn track(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError> {
        let user = chat.bookmark_owner(user);
        self.write_for(chat, w, |tx| sql::track(tx, chat, user, id))
    }

    fn untrack(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError> {
        let user = chat.bookmark_owner(user);
        self.write_for(chat, w, |tx| sql::untrack(tx, chat, user, id))
    }

    fn tracked(&self, chat: ChatId, user: UserId) -> Result<Vec<BountyId>, StoreError> {
        let user = chat.bookmark_owner(user);
        self.read(chat, |c| sql::tracked(c, chat, user))
    }

    fn remember_name(&self, chat: ChatId, user: UserId, name: &str) -> Result<(), StoreError> {
        let Some(name) = super::name_kept(chat, user, name) else {
            return Ok(());
        };
        let known: Option<String> = self.read(chat, |c| {
            Ok(c.query_opt(
                "SELECT name FROM names WHERE chat_id = $1 AND user_id = $2",
                &[&chat.get(), &user.get()],
            )?
            .map(|r| r.get(0)))
        })?;
        if known.as_deref() == Some(name.as_str()) {
            return Ok(());
        }
        self.write(chat, |tx| put_name(tx, chat, user, &name))
    }

    fn trackers(&self, chat: ChatId, id: BountyId) -> Result<Vec<UserId>, StoreError> {
        self.read(chat, |c| sql::trackers(c, chat, id))
    }

    fn names(&self, chat: ChatId) -> Result<Vec<(UserId, String)>, StoreError> {
        self.read(chat, |c| names_in(c, chat))
    }
}

impl ChatSettingsStore for PostgresStore {
    fn settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError> {
        self.read(chat, |c| settings_in(c, chat))
    }

    fn update_settings(
        &self,
        chat: ChatId,
        patch: &SettingsPatch,
        w: &Origin,
    ) -> Result<ChatSettings, StoreError> {
        self.write_for(chat, w, |tx| sql::update_settings(tx, chat, patch))
    }

    fn claim_digest(&self, chat: ChatId, date: Date, now: i64) -> Result<DigestClaim, StoreError> {
        self.write(chat, |tx| claim_tx(tx, chat, date, now, None))
    }

    fn reclaim_digest(
        &self,
        chat: ChatId,
        date: Date,
        now: i64,
        older_than: i64,
    ) -> Result<DigestClaim, StoreError> {
        self.write(chat, |tx| claim_tx(tx, chat, date, now, Some(older_than)))
    }

    fn digest_sent(&self, chat: ChatId, date: Date, message_id: i32) -> Result<bool, StoreError> {
        self.write(chat, |tx| {
            let n = tx.execute(
                "UPDATE digests SET message_id = $3
                 WHERE chat_id = $1 AND local_date = $2::text::date AND message_id IS NULL",
                &[&chat.get(), &date.to_string(), &message_id],
            )?;
            Ok(n == 1)
        })
    }

    fn digests(&self, chat: ChatId) -> Result<Vec<DigestRecord>, StoreError> {
        self.read(chat, |c| digests_in(c, chat))
    }

    fn reminder_chats(&self) -> Result<Vec<ReminderChat>, StoreError> {
        self.read(Scope::Store, |c| {
            let sql = "SELECT chat_id, time_zone, remind_at FROM chat_settings
                       WHERE remind_at IS NOT NULL ORDER BY chat_id";
            c.query(sql, &[])?
                .iter()
                .map(|r| {
                    let chat = chat_of(r.try_get(0)?)?;
                    let settings = settings_of(r.try_get(1)?, r.try_get(2)?);
                    Ok((chat, settings.map_err(|f| f.within(chat.into()).into())))
                })
                .collect()
        })
    }
}

impl Ledger for PostgresStore {
    fn processed(
        &self,
        _chat: ChatId,
        _user: UserId,
        update: UpdateId,
    ) -> Result<bool, StoreError> {
        self.read(Scope::Store, |c| sql::processed(c, update))
    }

    fn note(&self, chat: ChatId, w: &Origin) -> Result<(), StoreError> {
        match (w.update, w.name_in(chat)) {
            (None, None) => Ok(()),
            (None, Some((user, name))) => self.remember_name(chat, user, &name),
            (Some(_), _) => self.write_for(chat, w, |_| Ok(())),
        }
    }

    fn migrate_chat(&self, from: ChatId, to: ChatId) -> Result<ChatMove, StoreError> {
        super::check_migration(from, to)?;
        // One transaction holding both chats' locks, lower id first (two moves at once
        // cannot deadlock): all of it moves, or nothing does.
        self.write(from.min(to), |tx| {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&from.max(to).get()])?;
            sql::migrate_chat(tx, from, to)
        })
    }

    fn moved_to(&self, chat: ChatId) -> Result<ChatId, StoreError> {
        self.read(chat, |c| sql::moved_to(c, chat))
    }

    fn update_received(&self, chat: ChatId, update: UpdateId) -> Result<(), StoreError> {
        self.receive(chat.into(), chat.get(), update)
    }

    fn await_turn(
        &self,
        chat: ChatId,
        update: UpdateId,
        limit: Duration,
    ) -> Result<bool, StoreError> {
        let id = i64::from(update.get());
        let deadline = std::time::Instant::now() + limit;
        let mut pause = Duration::from_millis(2);
        loop {
            // A connection per look: a waiting update holds none of the pool's.
            let in_chat = |source| Error::Statement {
                scope: chat.into(),
                source,
            };
            let row = self.conn()?.query_one(
                "WITH f AS (SELECT greatest(coalesce((SELECT floor FROM inbox_floor WHERE id = 1), $2), $2 - $3) AS lo)
                 SELECT
                   EXISTS (SELECT 1 FROM inbox WHERE chat_id = $1 AND update_id < $2
                             AND update_id >= $2 - $3 AND NOT done),
                   (SELECT count(*) FROM inbox WHERE update_id >= (SELECT lo FROM f) AND update_id < $2),
                   $2 - (SELECT lo FROM f)",
                &[&chat.get(), &id, &ORDER_WINDOW],
            ).map_err(in_chat)?;
            // An earlier update of the chat in work anywhere, within the window; and
            // earlier ids (above the floor) that have not arrived at all.
            let (pending, received, expected): (bool, i64, i64) =
                (row.get(0), row.get(1), row.get(2));
            if !pending && received >= expected {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                // Give up on ids that never came: later updates do not wait for them
                // again. (A pending update of the chat is not skipped for others: it
                // is done or redelivered soon, and each waits for it on its own.)
                if received < expected {
                    self.conn()?
                        .execute(
                            "UPDATE inbox_floor SET floor = greatest(floor, $1) WHERE id = 1",
                            &[&id],
                        )
                        .map_err(in_chat)?;
                }
                return Ok(false);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    fn update_done(&self, chat: ChatId, update: UpdateId) -> Result<(), StoreError> {
        self.mark_done(chat.into(), update)
    }

    fn update_ignored(&self, update: UpdateId) -> Result<(), StoreError> {
        self.receive(Scope::Store, NO_CHAT, update)?;
        self.mark_done(Scope::Store, update)
    }

    fn try_lead(&self) -> Result<Option<Leadership>, StoreError> {
        let mut conn = connect(&self.url)?;
        server_keepalives(&mut conn)?;
        let got: bool = conn
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&LOCK_CLASS, &LEADER_LOCK],
            )?
            .get(0);
        Ok(got.then(|| Leadership::held(Box::new(LeaderConnection(conn)))))
    }
}

impl Portable for PostgresStore {
    fn export(&self) -> Result<Vec<ChatData>, StoreError> {
        // One snapshot of the whole database.
        let mut c = self.conn()?;
        let mut tx = c
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let out = export_rows(&mut tx).map_err(|f| f.within(Scope::Store))?;
        tx.commit()?;
        Ok(out)
    }

    fn import(&self, chats: &[ChatData]) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        import_rows(&mut tx, chats).map_err(|f| f.within(Scope::Store))?;
        tx.commit()?;
        Ok(())
    }
}

impl PostgresStore {
    /// Writes `chats` into the empty database and reads everything back in the same
    /// transaction: it commits (and the move marker goes) only if the copy equals
    /// `chats`; otherwise nothing is written and the answer is false.
    pub fn import_verified(&self, chats: &[ChatData]) -> Result<bool, StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        tx.batch_execute(&format!("DROP TABLE IF EXISTS {MOVED_MARKER}"))?;
        let copy = import_rows(&mut tx, chats).and_then(|()| export_rows(&mut tx));
        if copy.map_err(|f| f.within(Scope::Store))? != chats {
            tx.rollback()?;
            return Ok(false);
        }
        tx.commit()?;
        Ok(true)
    }
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

impl IntSql for Transaction<'_> {
    type Error = Fail;

    fn exec(&mut self, sql: &str, params: &[i64]) -> Result<u64, Fail> {
        pg_exec(self, sql, params)
    }

    fn ints(&mut self, sql: &str, params: &[i64]) -> Result<Vec<Vec<i64>>, Fail> {
        pg_ints(self, sql, params)
    }

    fn bad_id(_col: usize, e: IdError) -> Fail {
        Fail::Data(e.into())
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

    fn bad_id(_col: usize, e: IdError) -> Fail {
        Fail::Data(e.into())
    }
}

impl Rows for Transaction<'_> {
    fn bounties(&mut self, chat: ChatId) -> Result<Vec<Bounty>, Fail> {
        list_in(self, chat)
    }

    fn bounty(&mut self, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, Fail> {
        get_in(self, chat, id)
    }

    fn names(&mut self, chat: ChatId) -> Result<Vec<(UserId, String)>, Fail> {
        names_in(self, chat)
    }

    fn settings(&mut self, chat: ChatId) -> Result<ChatSettings, Fail> {
        settings_in(self, chat)
    }

    fn digests(&mut self, chat: ChatId) -> Result<Vec<DigestRecord>, Fail> {
        digests_in(self, chat)
    }
}

impl RowsMut for Transaction<'_> {
    fn put_bounty(&mut self, chat: ChatId, b: &Bounty) -> Result<(), Fail> {
        self.execute(
            "INSERT INTO bounties (chat_id, id, created_by_user_id, text, link, due_date_ts,
               created_at, status, claimed_by_user_id, done_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (chat_id, id) DO UPDATE SET text = excluded.text, link = excluded.link,
               due_date_ts = excluded.due_date_ts, status = excluded.status,
               claimed_by_user_id = excluded.claimed_by_user_id, done_at = excluded.done_at",
            &[
                &chat.get(),
                &(b.id.get() as i64),
                &b.created_by_user_id.get(),
                &b.text,
                &b.link,
                &b.due_date_ts,
                &b.created_at,
                &b.status.as_str(),
                &b.claimed_by_user_id.map(|u| u.get()),
                &b.done_at,
            ],
        )?;
        Ok(())
    }

    fn put_name(&mut self, chat: ChatId, user: UserId, name: &str) -> Result<(), Fail> {
        put_name(self, chat, user, name)
    }

    fn put_settings(&mut self, chat: ChatId, s: &ChatSettings) -> Result<(), Fail> {
        put_settings(self, chat, s)
    }

    fn put_digest(&mut self, chat: ChatId, d: &DigestRecord) -> Result<(), Fail> {
        put_digest(self, chat, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_never_shows_its_password() {
        let shown = |u: &str| DatabaseUrl::new(u.to_string()).redacted();
        assert_eq!(
            shown("postgres://bot:s3cret@db.example:5432/bounties"),
            "postgres://bot:***@db.example:5432/bounties"
        );
        assert_eq!(
            shown("host=db user=bot password=s3cret dbname=b"),
            "postgres://bot:***@db/b"
        );
        assert_eq!(
            shown("postgres://bot@localhost/b"),
            "postgres://bot@localhost:5432/b"
        );
        for leaky in [
            "postgres://bot:pa/ss@h/db",
            "postgres://bot@h/db?password=s3cret",
            "host=h password='two words' dbname=d",
            "postgresql://bot:p@ss:w@rd@[::1/x",
            "s3cret garbage",
        ] {
            let url = DatabaseUrl::new(leaky.to_string());
            let out = format!("{} {url} {url:?}", url.redacted());
            for secret in ["s3cret", "pa/ss", "two words", "words", "w@rd", "ss:w"] {
                assert!(!out.contains(secret), "{leaky} shown as {out}");
            }
        }
    }
}
