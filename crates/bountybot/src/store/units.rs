//! The store's traits written once for the two SQL backends, over [`Units`]: how a
//! backend runs a read and a unit of work is its own; what runs inside them is
//! [`super::sql`]'s.

use jiff::civil::Date;

use super::sql::{self, IntSql};
use super::{Bounties, ChatSettingsStore, Origin, ReminderChat, Scope, StoreError};
use crate::domain::{
    Bounty, BountyId, BountyPatch, ChatId, ChatMove, ChatSettings, DigestClaim, DigestRecord,
    NewBounty, SettingsPatch, UserId,
};

/// How an SQL backend runs its reads and its units of work.
pub(crate) trait Units: Send + Sync {
    /// A connection for reading.
    type Read<'a>: IntSql<Error = Self::Error>;
    /// A transaction: one unit of work.
    type Conn<'a>: IntSql<Error = Self::Error>;
    /// What a statement fails with.
    type Error: Send + 'static;
    /// A statement's failure `e`, in `scope`.
    fn fail(scope: Scope, e: Self::Error) -> StoreError;
    /// Runs `f` on a connection for reading.
    fn read<R>(
        &self,
        scope: Scope,
        f: impl FnOnce(&mut Self::Read<'_>) -> Result<R, Self::Error>,
    ) -> Result<R, StoreError>;
    /// Runs `f` as one durable unit of work holding `chat`'s lock (SQLite: the
    /// database's): all of it commits when `f` succeeds, nothing of it when it fails.
    fn write<R: Send + 'static>(
        &self,
        chat: ChatId,
        f: impl FnOnce(&mut Self::Conn<'_>) -> Result<R, Self::Error> + Send + 'static,
    ) -> Result<R, StoreError>;
    /// Takes `chat`'s lock too, inside a unit of work (a chat move's second chat).
    fn lock(_tx: &mut Self::Conn<'_>, _chat: ChatId) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// One unit of work holding `chat`'s lock, running `f` and storing `w` (the update
/// recorded as processed, the sender's name): all commit together, or nothing does.
fn write_for<U: Units, R: Send + 'static>(
    u: &U,
    chat: ChatId,
    w: &Origin,
    f: impl FnOnce(&mut U::Conn<'_>) -> Result<R, U::Error> + Send + 'static,
) -> Result<R, StoreError> {
    let (update, name) = (w.update, w.name_in(chat));
    let outcome = u.write(chat, move |tx| {
        if let Some(u) = update
            && sql::processed(tx, u)?
        {
            return Ok(Err(u));
        }
        let r = f(tx)?;
        if let Some((user, name)) = &name {
            sql::put_name(tx, chat, *user, name)?;
        }
        if let Some(u) = update {
            sql::record(tx, chat, u)?;
        }
        Ok(Ok(r))
    })?;
    outcome.map_err(|update| StoreError::AlreadyProcessed { update })
}

impl<U: Units> Bounties for U {
    fn ensure_user(&self, chat: ChatId, user: UserId) -> Result<(), StoreError> {
        self.write(chat, move |tx| sql::ensure_member(tx, chat, user))
    }

    fn add(&self, chat: ChatId, new: NewBounty, w: &Origin) -> Result<Bounty, StoreError> {
        super::injected_failure("add", chat)?;
        write_for(self, chat, w, move |tx| sql::add(tx, chat, new))
    }

    fn get(&self, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, StoreError> {
        self.read(chat.into(), |c| Ok(sql::bounties(c, chat, Some(id))?.pop()))
    }

    fn list(&self, chat: ChatId) -> Result<Vec<Bounty>, StoreError> {
        self.read(chat.into(), |c| sql::bounties(c, chat, None))
    }

    fn update(
        &self,
        chat: ChatId,
        id: BountyId,
        patch: &BountyPatch,
        w: &Origin,
    ) -> Result<Option<Bounty>, StoreError> {
        super::injected_failure("update", chat)?;
        // Read and write in one unit of work: no other writer in between.
        let patch = patch.clone();
        write_for(self, chat, w, move |tx| sql::update(tx, chat, id, &patch))
    }

    fn delete(&self, chat: ChatId, id: BountyId, w: &Origin) -> Result<bool, StoreError> {
        write_for(self, chat, w, move |tx| sql::delete(tx, chat, id))
    }

    fn track(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError> {
        let user = chat.bookmark_owner(user);
        write_for(self, chat, w, move |tx| sql::track(tx, chat, user, id))
    }

    fn untrack(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError> {
        let user = chat.bookmark_owner(user);
        write_for(self, chat, w, move |tx| sql::untrack(tx, chat, user, id))
    }

    fn tracked(&self, chat: ChatId, user: UserId) -> Result<Vec<BountyId>, StoreError> {
        let user = chat.bookmark_owner(user);
        self.read(chat.into(), |c| sql::tracked(c, chat, user))
    }

    fn remember_name(&self, chat: ChatId, user: UserId, name: &str) -> Result<(), StoreError> {
        let Some(name) = super::name_kept(chat, user, name) else {
            return Ok(());
        };
        let known = self.read(chat.into(), |c| sql::names(c, chat, Some(user)))?;
        if known.first().is_some_and(|(_, n)| *n == name) {
            return Ok(());
        }
        self.write(chat, move |tx| sql::put_name(tx, chat, user, &name))
    }

    fn trackers(&self, chat: ChatId, id: BountyId) -> Result<Vec<UserId>, StoreError> {
        self.read(chat.into(), |c| sql::trackers(c, chat, id))
    }

    fn names(&self, chat: ChatId) -> Result<Vec<(UserId, String)>, StoreError> {
        self.read(chat.into(), |c| sql::names(c, chat, None))
    }
}

impl<U: Units> ChatSettingsStore for U {
    fn settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError> {
        self.read(chat.into(), |c| sql::settings(c, chat))
    }

    fn update_settings(
        &self,
        chat: ChatId,
        patch: &SettingsPatch,
        w: &Origin,
    ) -> Result<ChatSettings, StoreError> {
        let patch = patch.clone();
        write_for(self, chat, w, move |tx| {
            sql::update_settings(tx, chat, &patch)
        })
    }

    fn claim_digest(&self, chat: ChatId, date: Date, now: i64) -> Result<DigestClaim, StoreError> {
        self.write(chat, move |tx| sql::claim(tx, chat, date, now, None))
    }

    fn reclaim_digest(
        &self,
        chat: ChatId,
        date: Date,
        now: i64,
        older_than: i64,
    ) -> Result<DigestClaim, StoreError> {
        self.write(chat, move |tx| {
            sql::claim(tx, chat, date, now, Some(older_than))
        })
    }

    fn digest_sent(&self, chat: ChatId, date: Date, message_id: i32) -> Result<bool, StoreError> {
        self.write(chat, move |tx| sql::digest_sent(tx, chat, date, message_id))
    }

    fn digests(&self, chat: ChatId) -> Result<Vec<DigestRecord>, StoreError> {
        self.read(chat.into(), |c| sql::digests(c, chat, None))
    }

    fn reminder_chats(&self) -> Result<Vec<ReminderChat>, StoreError> {
        let chats = self.read(Scope::Store, |c| sql::reminder_chats(c))?;
        let in_chat = |(chat, s): (ChatId, Result<_, U::Error>)| {
            (chat, s.map_err(|e| U::fail(chat.into(), e)))
        };
        Ok(chats.into_iter().map(in_chat).collect())
    }
}

/// [`super::Ledger::note`]: records `w` alone.
pub(crate) fn note<U: Units>(u: &U, chat: ChatId, w: &Origin) -> Result<(), StoreError> {
    match (w.update, w.name_in(chat)) {
        (None, None) => Ok(()),
        (None, Some((user, name))) => u.remember_name(chat, user, &name),
        (Some(_), _) => write_for(u, chat, w, |_| Ok(())),
    }
}

/// [`super::Ledger::migrate_chat`]: one unit of work holding both chats' locks, lower
/// id first (two moves at once cannot deadlock): all of it moves, or nothing does.
pub(crate) fn migrate_chat<U: Units>(
    u: &U,
    from: ChatId,
    to: ChatId,
) -> Result<ChatMove, StoreError> {
    super::check_migration(from, to)?;
    u.write(from.min(to), move |tx| {
        U::lock(tx, from.max(to))?;
        sql::migrate_chat(tx, from, to)
    })
}
