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
//! [`crate::store::BountyStore`] is a blocking trait (the JSON and SQLite backends block, and the bot
//! already calls the store from `spawn_blocking`), so a synchronous client fits without
//! a second hand-off between runtimes, and `r2d2_postgres` is its usual pool. The
//! queries are plain SQL strings like the SQLite backend's, checked by the conformance
//! suite against a real server rather than at compile time (`sqlx`'s checked macros
//! would need a database to build).

mod archive;
mod connect;
mod error;
mod inbox;
mod locks;
mod migrations;
mod rows;
mod url;

pub use archive::{archive, holds_data};
pub use connect::{CONNECT_TIMEOUT, POOL_SIZE};
pub use error::{BadValue, Error, SchemaError};
pub use locks::{ExclusiveUse, LEADER_LOCK, LOCK_CLASS, MIGRATION_LOCK, USE_LOCK, lock_exclusive};
pub use url::DatabaseUrl;

use std::sync::Mutex;
use std::time::Duration;

use error::Fail;
use jiff::civil::Date;
use postgres::{NoTls, Transaction};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use sql::{export_rows, import_rows};

use connect::{Manager, config_of, connect, server_keepalives};
use inbox::NO_CHAT;
use locks::{LeaderConnection, take_use_lock};
use rows::{claim_tx, digests_in};

use super::{
    Bounties, ChatData, ChatSettingsStore, Leadership, Ledger, Origin, Portable, ReminderChat,
    Scope, StoreError, sql,
};
use crate::domain::{
    Bounty, BountyId, BountyPatch, ChatId, ChatMove, ChatSettings, DigestClaim, DigestRecord,
    NewBounty, SettingsPatch, UpdateId, UserId,
};

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

impl PostgresStore {
    /// Connects to `url`, refuses a database whose data was moved to another backend,
    /// applies the pending migrations, and holds the database's use lock shared while
    /// the store lives (so `migrate-storage` cannot run meanwhile).
    pub fn open(url: &DatabaseUrl) -> Result<PostgresStore, StoreError> {
        let mut in_use = connect(url)?;
        server_keepalives(&mut in_use)?;
        take_use_lock(&mut in_use, url, "pg_advisory_lock_shared")?;
        if let Some(moved) = archive::moved_to(&mut in_use)? {
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
        migrations::migrate(&mut *store.conn()?)?;
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
                sql::put_name(&mut tx, chat, *user, name)?;
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
        self.read(chat, |c| Ok(sql::bounties(c, chat, Some(id))?.pop()))
    }

    fn list(&self, chat: ChatId) -> Result<Vec<Bounty>, StoreError> {
        self.read(chat, |c| sql::bounties(c, chat, None))
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
        let known = self.read(chat, |c| sql::names(c, chat, Some(user)))?;
        if known.first().is_some_and(|(_, n)| *n == name) {
            return Ok(());
        }
        self.write(chat, |tx| sql::put_name(tx, chat, user, &name))
    }

    fn trackers(&self, chat: ChatId, id: BountyId) -> Result<Vec<UserId>, StoreError> {
        self.read(chat, |c| sql::trackers(c, chat, id))
    }

    fn names(&self, chat: ChatId) -> Result<Vec<(UserId, String)>, StoreError> {
        self.read(chat, |c| sql::names(c, chat, None))
    }
}

impl ChatSettingsStore for PostgresStore {
    fn settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError> {
        self.read(chat, |c| sql::settings(c, chat))
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
        let chats = self.read(Scope::Store, sql::reminder_chats)?;
        let in_chat = |(chat, s): (ChatId, Result<_, Fail>)| {
            (chat, s.map_err(|f| f.within(chat.into()).into()))
        };
        Ok(chats.into_iter().map(in_chat).collect())
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
        self.wait_turn(chat, update, limit)
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
        tx.batch_execute(&format!("DROP TABLE IF EXISTS {}", archive::MOVED_MARKER))?;
        let copy = import_rows(&mut tx, chats).and_then(|()| export_rows(&mut tx));
        if copy.map_err(|f| f.within(Scope::Store))? != chats {
            tx.rollback()?;
            return Ok(false);
        }
        tx.commit()?;
        Ok(true)
    }
}
