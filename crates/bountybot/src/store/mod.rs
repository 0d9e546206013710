//! Where bounties live: the [`BountyStore`] traits and their backends.
//!
//! The store is split by concern into small traits each backend implements:
//! [`Bounties`] (bounties, bookmarks, names), [`ChatSettingsStore`] (settings,
//! digests), [`Ledger`] (processed updates, their order across replicas, leadership,
//! chat moves) and [`Portable`] (whole-store export and import); [`BountyStore`] is all
//! four. The model they store ([`crate::domain::Bounty`] and friends) and the rules on
//! it live in [`crate::domain`]. The traits store and load; they decide nothing (who
//! may edit, what to reply is the command layer's business). Each method is one durable, serialised unit of work on
//! one chat: when it returns `Ok`, the change survives a crash, and two calls on the
//! same chat from two threads or two processes never lose each other's writes.

pub mod json;
pub mod migrate;
pub mod prelude {
    //! The store's traits, to call their methods on a backend: `use store::prelude::*`.
    pub use super::{Bounties, BountyStore, ChatSettingsStore, Ledger, Origin, Portable};
}
mod portable;
pub mod postgres;
mod sql;
pub mod sqlite;

pub(crate) use portable::carried;
pub use portable::{ChatData, LEDGER_CARRIED, Portable};

use jiff::civil::Date;

use crate::domain::{
    Bounty, BountyId, BountyPatch, ChatId, ChatMove, ChatSettings, DigestClaim, DigestRecord,
    NewBounty, SettingsPatch, UpdateId, UserId, clean_name,
};

/// What keeps a leadership ([`Ledger::try_lead`]) alive.
pub trait LeaderHold: Send {
    /// Whether it is still held (false once its connection is gone).
    fn still_held(&mut self) -> bool;
}

/// The right to poll Telegram, for as long as this value lives and
/// [`Leadership::still_held`] says so.
pub struct Leadership(Option<Box<dyn LeaderHold>>);

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Leadership(held)"
        } else {
            "Leadership(sole)"
        })
    }
}

impl Leadership {
    /// Nobody else could poll: nothing to hold.
    pub fn sole() -> Leadership {
        Leadership(None)
    }

    /// Held through `hold`.
    pub fn held(hold: Box<dyn LeaderHold>) -> Leadership {
        Leadership(Some(hold))
    }

    /// Whether this process may still poll.
    pub fn still_held(&mut self) -> bool {
        self.0.as_mut().is_none_or(|h| h.still_held())
    }
}

/// A chat listed by [`ChatSettingsStore::reminder_chats`]: its settings, or why they could
/// not be read.
pub type ReminderChat = (ChatId, Result<ChatSettings, StoreError>);

/// What a storage error concerns: one chat's data, or the store as a whole (listing
/// the chats, copying every chat, a statement about no one chat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One chat's data.
    Chat(ChatId),
    /// The whole store.
    Store,
}

impl From<ChatId> for Scope {
    fn from(chat: ChatId) -> Scope {
        Scope::Chat(chat)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Chat(chat) => write!(f, "chat {chat}"),
            Scope::Store => f.write_str("the whole store"),
        }
    }
}

/// Why a store operation failed: the store's own refusals, or a backend's error (its
/// cause kept).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The update's change is stored already (a redelivered update); nothing changed.
    #[error("update {update} was processed already")]
    AlreadyProcessed {
        /// The update.
        update: UpdateId,
    },
    /// A chat move that makes no sense (to itself, or not between groups).
    #[error("cannot move chat {from} to {to}: both must be distinct groups")]
    BadMove {
        /// The old chat.
        from: ChatId,
        /// The new chat.
        to: ChatId,
    },
    /// A failure made by a test ([`crate::crash::FAIL_ONCE_ENV`]), before anything
    /// changed; it passes, like a database restarting.
    #[error("storage error for {scope}: a failure injected by a test")]
    Injected {
        /// The chat.
        scope: Scope,
    },
    /// The JSON backend failed.
    #[error(transparent)]
    Json(#[from] json::Error),
    /// The SQLite backend failed.
    #[error(transparent)]
    Sqlite(#[from] sqlite::Error),
    /// The PostgreSQL backend failed (boxed: its errors are the largest).
    #[error(transparent)]
    Postgres(Box<postgres::Error>),
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        StoreError::Postgres(Box::new(e))
    }
}

impl StoreError {
    /// Whether the failure may pass by itself (a connection lost, a database busy or
    /// restarting, a disk full): the same unit of work, tried again later, may
    /// succeed, and nothing of it was stored. False for what stays wrong until someone
    /// mends it (a damaged file, a bad value, a schema this bountybot cannot use).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Injected { .. } => true,
            StoreError::Json(e) => e.is_transient(),
            StoreError::Sqlite(e) => e.is_transient(),
            StoreError::Postgres(e) => e.is_transient(),
            StoreError::AlreadyProcessed { .. } | StoreError::BadMove { .. } => false,
        }
    }
}

/// An I/O error that may pass: interrupted, timed out, busy, or a full disk.
fn io_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::Interrupted | K::TimedOut | K::WouldBlock | K::StorageFull | K::ResourceBusy
    )
}

/// Fails with [`StoreError::Injected`] when a test armed a failure of `step` for
/// `chat` ([`crate::crash::FAIL_ONCE_ENV`]).
pub(crate) fn injected_failure(step: &str, chat: ChatId) -> Result<(), StoreError> {
    if crate::crash::failure_due(step, chat.get()) {
        return Err(StoreError::Injected { scope: chat.into() });
    }
    Ok(())
}

/// What a change is made for, stored in the same unit of work as the change (one
/// transaction, or one file replace where the backend's layout allows): the Telegram
/// update it applies, so that the update delivered again is refused with
/// [`StoreError::AlreadyProcessed`] (see [`UpdateId`]); and the sender's display name,
/// remembered when new or changed ([`Bounties::remember_name`]'s rules).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The update applied, if any.
    pub update: Option<UpdateId>,
    /// The sender and the display name the front end saw, if any.
    pub sender: Option<(UserId, String)>,
}

impl Origin {
    /// A change for no update and with no name (the REPL, tests, tools).
    pub const NONE: Origin = Origin {
        update: None,
        sender: None,
    };

    /// A change for `update`, with no name.
    pub fn update(update: UpdateId) -> Origin {
        Origin {
            update: Some(update),
            sender: None,
        }
    }

    /// The sender's name as it is kept in `chat` ([`name_kept`]), if any.
    pub fn name_in(&self, chat: ChatId) -> Option<(UserId, String)> {
        let (user, name) = self.sender.as_ref()?;
        Some((*user, name_kept(chat, *user, name)?))
    }
}

/// `name` as it is remembered for `user` in `chat`: cleaned ([`clean_name`]); in a
/// private chat only its owner's. `None` when nothing is to be remembered.
pub fn name_kept(chat: ChatId, user: UserId, name: &str) -> Option<String> {
    if !chat.is_group() && user != chat.private_user() {
        return None;
    }
    clean_name(name)
}

/// Bounties, bookmarks and names: what a chat's commands read and change.
pub trait Bounties: Send + Sync {
    /// Creates the caller's files in this chat if missing; never deletes anything.
    fn ensure_user(&self, chat: ChatId, user: UserId) -> Result<(), StoreError>;
    /// Adds a bounty with the chat's next id, with `w` in the same unit.
    fn add(&self, chat: ChatId, bounty: NewBounty, w: &Origin) -> Result<Bounty, StoreError>;
    /// One bounty.
    fn get(&self, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, StoreError>;
    /// Every bounty of the chat, by id.
    fn list(&self, chat: ChatId) -> Result<Vec<Bounty>, StoreError>;
    /// Applies `patch` to the stored bounty `id` and returns the result; `None` if there
    /// is no such bounty. When the patch's condition does not hold, nothing changes and
    /// the stored bounty is returned unchanged.
    fn update(
        &self,
        chat: ChatId,
        id: BountyId,
        patch: &BountyPatch,
        w: &Origin,
    ) -> Result<Option<Bounty>, StoreError>;
    /// Deletes a bounty; false if there was none. Its id is never reused.
    fn delete(&self, chat: ChatId, id: BountyId, w: &Origin) -> Result<bool, StoreError>;
    /// Bookmarks a bounty for a user; false if it already was.
    fn track(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError>;
    /// Removes a bookmark; false if there was none.
    fn untrack(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError>;
    /// A user's bookmarks in a chat, in the order they were made.
    fn tracked(&self, chat: ChatId, user: UserId) -> Result<Vec<BountyId>, StoreError>;
    /// Remembers `user`'s display name in `chat` (a group member, or a private chat's
    /// owner; other senders in a private chat are not remembered). Writes only when
    /// the name is new or changed.
    fn remember_name(&self, chat: ChatId, user: UserId, name: &str) -> Result<(), StoreError>;
    /// Who tracks bounty `id` in `chat`, by user id.
    fn trackers(&self, chat: ChatId, id: BountyId) -> Result<Vec<UserId>, StoreError>;
    /// The display names remembered in `chat`, by user id.
    fn names(&self, chat: ChatId) -> Result<Vec<(UserId, String)>, StoreError>;
}

/// A chat's settings and its daily digest records.
pub trait ChatSettingsStore: Send + Sync {
    /// The chat's settings (defaults when none were set).
    fn settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError>;
    /// Applies `patch` to the chat's settings in one unit of work and returns them.
    fn update_settings(
        &self,
        chat: ChatId,
        patch: &SettingsPatch,
        w: &Origin,
    ) -> Result<ChatSettings, StoreError>;
    /// Claims the digest of (`chat`, `date`) at `now` (unix seconds) unless a record of
    /// it exists: [`DigestClaim::Got`] for exactly one caller, however many processes
    /// ask at once; everyone else is told the record's state. Records more than
    /// [`crate::domain::DIGESTS_KEPT_DAYS`] before `date` are pruned in the same unit.
    fn claim_digest(&self, chat: ChatId, date: Date, now: i64) -> Result<DigestClaim, StoreError>;
    /// Takes over a claim of (`chat`, `date`) that is still unsent and was made more
    /// than `older_than` seconds before `now` (a send that failed or was interrupted),
    /// as a compare-and-set: of two callers at once, one gets it. Without a record it
    /// claims as [`ChatSettingsStore::claim_digest`] does; otherwise it answers the
    /// state.
    fn reclaim_digest(
        &self,
        chat: ChatId,
        date: Date,
        now: i64,
        older_than: i64,
    ) -> Result<DigestClaim, StoreError>;
    /// Records that the digest of (`chat`, `date`) was sent as `message_id`. False when
    /// there is no record, or it was recorded as sent already (the first id is kept).
    fn digest_sent(&self, chat: ChatId, date: Date, message_id: i32) -> Result<bool, StoreError>;
    /// The chat's digest records, by date.
    fn digests(&self, chat: ChatId) -> Result<Vec<DigestRecord>, StoreError>;
    /// Every chat whose daily digest is on, with its settings, ordered by chat id. A
    /// chat whose settings cannot be read comes with its error (it may have the digest
    /// on), so one damaged chat does not keep the others from their digests.
    fn reminder_chats(&self) -> Result<Vec<ReminderChat>, StoreError>;
}

/// The record of Telegram's updates (processed, in order across replicas), the
/// polling leadership, and where a chat that moved lives now.
pub trait Ledger: Send + Sync {
    /// Whether the change of `update` is stored (for `user` in `chat`).
    fn processed(&self, chat: ChatId, user: UserId, update: UpdateId) -> Result<bool, StoreError>;
    /// Records `w` where it changed nothing else (a read-only command was answered):
    /// its update, so that it is answered once ([`StoreError::AlreadyProcessed`] when
    /// it was recorded before), and the sender's name when new. Writes nothing when
    /// neither is to be stored.
    fn note(&self, chat: ChatId, w: &Origin) -> Result<(), StoreError>;
    /// Moves everything of chat `from` to chat `to` (a group upgraded to a supergroup),
    /// whichever of the two Telegram messages about it came first: if `to` already has
    /// bounties, `from`'s join them, renumbered only where an id is taken (or was used)
    /// in `to`, bookmarks following. Idempotent, also after a crash half-way: a second
    /// call finds nothing to move.
    fn migrate_chat(&self, from: ChatId, to: ChatId) -> Result<ChatMove, StoreError>;
    /// Where `chat`'s data lives: the supergroup it moved to ([`Self::migrate_chat`]),
    /// or itself.
    fn moved_to(&self, chat: ChatId) -> Result<ChatId, StoreError>;
    /// Notes that Telegram's `update` of `chat` arrived, before it is processed, so
    /// that replicas sharing the store can keep a chat's updates in order
    /// ([`Ledger::await_turn`]). Nothing for a store used by one process.
    fn update_received(&self, _chat: ChatId, _update: UpdateId) -> Result<(), StoreError> {
        Ok(())
    }
    /// Waits, at most `limit`, until every earlier update of `chat` that arrived at any
    /// replica is done and no earlier update id is still missing; true when the order
    /// holds, false when it gave up waiting (the update then goes ahead, and later ones
    /// do not wait for the missing ids again). At once for a store used by one process.
    fn await_turn(
        &self,
        _chat: ChatId,
        _update: UpdateId,
        _limit: std::time::Duration,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Marks `update` done (processed, whatever it changed).
    fn update_done(&self, _chat: ChatId, _update: UpdateId) -> Result<(), StoreError> {
        Ok(())
    }
    /// Notes that `update`, which is for no chat the bot serves (an edited message, a
    /// role change), arrived and is done, so that no replica waits for it as missing.
    /// Nothing for a store used by one process.
    fn update_ignored(&self, _update: UpdateId) -> Result<(), StoreError> {
        Ok(())
    }
    /// Asks to be the one process polling Telegram: `None` while another holds it.
    /// A store used by one process always says yes.
    fn try_lead(&self) -> Result<Option<Leadership>, StoreError> {
        Ok(Some(Leadership::sole()))
    }
}

/// The storage behind the bot: every concern, as one object (`&dyn BountyStore`).
pub trait BountyStore: Bounties + ChatSettingsStore + Ledger + Portable {}

impl<T: Bounties + ChatSettingsStore + Ledger + Portable + ?Sized> BountyStore for T {}

/// Most moves followed from one chat to where its data lives (a supergroup never
/// moves again, so one is the most Telegram makes).
pub(crate) const MOVES_FOLLOWED: usize = 8;

/// The one chat move a backend accepts: from a group to a different group.
pub(crate) fn check_migration(from: ChatId, to: ChatId) -> Result<(), StoreError> {
    if from == to || !from.is_group() || !to.is_group() {
        return Err(StoreError::BadMove { from, to });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_that_may_pass_are_told_apart_from_damage() {
        let chat = ChatId::new(-5);
        let io = |kind| -> StoreError {
            json::Error::Fs {
                scope: Scope::Chat(chat),
                what: "writing",
                path: "x".into(),
                source: std::io::Error::from(kind),
            }
            .into()
        };
        let sqlite = |source| -> StoreError {
            sqlite::Error::Statement {
                scope: Scope::Store,
                source,
            }
            .into()
        };
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        // A postgres::Error without a server: a connection string that does not parse.
        let pg = || "port=x".parse::<::postgres::Config>().unwrap_err();
        let url = || "postgres://db".to_string();
        let transient = [
            StoreError::Injected { scope: chat.into() },
            io(std::io::ErrorKind::TimedOut),
            io(std::io::ErrorKind::StorageFull),
            sqlite(busy),
            postgres::Error::Connect {
                url: url(),
                source: pg(),
            }
            .into(),
            postgres::Error::Busy { url: url() }.into(),
        ];
        for e in &transient {
            assert!(e.is_transient(), "{e:?}");
        }
        let lasting = [
            json::Error::Corrupt {
                chat,
                file: "-5/group.json".into(),
                line: 1,
                column: 2,
            }
            .into(),
            json::Error::Shape {
                chat,
                what: "bounties",
            }
            .into(),
            io(std::io::ErrorKind::PermissionDenied),
            sqlite(rusqlite::Error::QueryReturnedNoRows),
            postgres::Error::Url {
                url: url(),
                source: pg(),
            }
            .into(),
            postgres::Error::Data {
                scope: chat.into(),
                source: postgres::BadValue::Status("lost".into()),
            }
            .into(),
            StoreError::BadMove {
                from: chat,
                to: chat,
            },
        ];
        for e in &lasting {
            assert!(!e.is_transient(), "{e:?}");
        }
    }
}
