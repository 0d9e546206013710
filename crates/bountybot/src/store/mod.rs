//! Where bounties live: the [`BountyStore`] trait and its backends.
//!
//! The trait stores and loads; it decides nothing (who may edit, what to reply is the
//! command layer's business). Each method is one durable, serialised unit of work on
//! one chat: when it returns `Ok`, the change survives a crash, and two calls on the
//! same chat from two threads or two processes never lose each other's writes.

pub mod json;
pub mod migrate;
pub mod sqlite;

use serde::{Deserialize, Serialize};

use crate::domain::{BountyId, ChatId, UserId};

/// A Telegram update's id. A change made for an update is stored together with this
/// id, in the same atomic unit (one transaction, or one file replace), so that the
/// update, delivered again after a crash, is recognised and not applied twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UpdateId(pub u32);

impl std::fmt::Display for UpdateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored bounty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounty {
    /// Number within its chat.
    pub id: BountyId,
    /// Who added it (only they may edit or delete it).
    pub created_by_user_id: UserId,
    /// Description.
    pub text: String,
    /// Optional link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Optional due date: unix seconds of 00:00 UTC of the due day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date_ts: Option<i64>,
    /// When it was added (unix seconds).
    pub created_at: i64,
}

/// A bounty before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBounty {
    /// Who adds it.
    pub created_by_user_id: UserId,
    /// Description.
    pub text: String,
    /// Optional link.
    pub link: Option<String>,
    /// Optional due date (unix seconds).
    pub due_date_ts: Option<i64>,
    /// When (unix seconds).
    pub created_at: i64,
}

/// Field changes for [`BountyStore::update`]: `None` leaves a field as it is. The
/// store applies them to the stored bounty inside one unit of work, so two edits of
/// different fields that arrive at once both survive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BountyPatch {
    /// New description.
    pub text: Option<String>,
    /// New link, or `Some(None)` to clear it.
    pub link: Option<Option<String>>,
    /// New due date (unix seconds), or `Some(None)` to clear it.
    pub due_date_ts: Option<Option<i64>>,
}

impl BountyPatch {
    /// Writes the given fields into `b`; id, creator and creation time never change.
    pub fn apply_to(&self, b: &mut Bounty) {
        if let Some(text) = &self.text {
            b.text.clone_from(text);
        }
        if let Some(link) = &self.link {
            b.link.clone_from(link);
        }
        if let Some(due) = self.due_date_ts {
            b.due_date_ts = due;
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A chat's file is corrupt; it is left untouched.
    #[error(
        "stored data of chat {chat} is damaged ({file}, line {line}, column {column}); nothing was changed"
    )]
    Corrupt {
        /// The chat.
        chat: ChatId,
        /// The file name, relative to the data dir.
        file: String,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// The update's change is stored already (a redelivered update); nothing changed.
    #[error("update {update} was processed already")]
    AlreadyProcessed {
        /// The update.
        update: UpdateId,
    },
    /// Reading or writing a JSON file failed (other than a damaged file).
    #[error("storage error for chat {chat}: {source}")]
    Json {
        /// The chat.
        chat: ChatId,
        /// What failed, naming the file.
        source: statekit::json::JsonError,
    },
    /// A file-system operation failed.
    #[error("storage error for chat {chat}: {what} {}: {source}", .path.display())]
    Fs {
        /// The chat.
        chat: ChatId,
        /// What was being done.
        what: &'static str,
        /// The path at fault.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A chat folder could not be locked.
    #[error("storage error for chat {chat}: {source}")]
    Lock {
        /// The chat.
        chat: ChatId,
        /// What failed.
        source: statekit::lock::LockError,
    },
    /// An SQLite statement failed.
    #[error("storage error for chat {chat}: sqlite: {source}")]
    Sqlite {
        /// The chat (0 for the whole store).
        chat: ChatId,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database could not be opened.
    #[error(transparent)]
    Open(#[from] statekit::sqlite::SqliteError),
    /// The database's migrations could not be read or applied.
    #[error(transparent)]
    Migrations(#[from] statekit::migrate::MigrateError),
    /// A stored file holds well-formed JSON of the wrong shape.
    #[error("stored data of chat {chat} has the wrong shape: {what}")]
    Shape {
        /// The chat.
        chat: ChatId,
        /// What is wrong.
        what: &'static str,
    },
    /// A chat move that makes no sense (to itself, or not between groups).
    #[error("cannot move chat {from} to {to}: both must be distinct groups")]
    BadMove {
        /// The old chat.
        from: ChatId,
        /// The new chat.
        to: ChatId,
    },
}

/// The storage behind the bot.
pub trait BountyStore: Send + Sync {
    /// Creates the caller's files in this chat if missing; never deletes anything.
    fn ensure_user(&self, chat: ChatId, user: UserId) -> Result<(), StoreError>;
    /// Whether the change of `update` is stored (for `user` in `chat`).
    fn processed(&self, chat: ChatId, user: UserId, update: UpdateId) -> Result<bool, StoreError>;
    /// Adds a bounty with the chat's next id. With `update`, that update is recorded as
    /// processed in the same unit (see [`UpdateId`]); a second change for the same
    /// update is refused with [`StoreError::AlreadyProcessed`].
    fn add(
        &self,
        chat: ChatId,
        bounty: NewBounty,
        update: Option<UpdateId>,
    ) -> Result<Bounty, StoreError>;
    /// One bounty.
    fn get(&self, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, StoreError>;
    /// Every bounty of the chat, by id.
    fn list(&self, chat: ChatId) -> Result<Vec<Bounty>, StoreError>;
    /// Applies `patch` to the stored bounty `id` and returns the result; `None` if there
    /// is no such bounty.
    fn update(
        &self,
        chat: ChatId,
        id: BountyId,
        patch: &BountyPatch,
        update: Option<UpdateId>,
    ) -> Result<Option<Bounty>, StoreError>;
    /// Deletes a bounty; false if there was none. Its id is never reused.
    fn delete(
        &self,
        chat: ChatId,
        id: BountyId,
        update: Option<UpdateId>,
    ) -> Result<bool, StoreError>;
    /// Bookmarks a bounty for a user; false if it already was.
    fn track(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        update: Option<UpdateId>,
    ) -> Result<bool, StoreError>;
    /// Removes a bookmark; false if there was none.
    fn untrack(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        update: Option<UpdateId>,
    ) -> Result<bool, StoreError>;
    /// A user's bookmarks in a chat, in the order they were made.
    fn tracked(&self, chat: ChatId, user: UserId) -> Result<Vec<BountyId>, StoreError>;
    /// Moves everything of chat `from` to chat `to` (a group upgraded to a supergroup),
    /// whichever of the two Telegram messages about it came first: if `to` already has
    /// bounties, `from`'s join them, renumbered only where an id is taken (or was used)
    /// in `to`, bookmarks following. Idempotent, also after a crash half-way: a second
    /// call finds nothing to move.
    fn migrate_chat(&self, from: ChatId, to: ChatId) -> Result<ChatMove, StoreError>;
}

/// What [`BountyStore::migrate_chat`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatMove {
    /// Whether anything moved (false: `from` had nothing, e.g. already moved).
    pub moved: bool,
    /// Whether `to` had bounties already, so the two chats' bounties were merged.
    pub merged: bool,
    /// Bounties that got another id in `to`: (old id, new id).
    pub renumbered: Vec<(BountyId, BountyId)>,
}

/// New ids for `from`'s bounties joining a chat whose ids up to `to_next - 1` are
/// taken or were used (`to_ids` those still there): an id stays unless it collides;
/// colliding ones get fresh ids past both counters. Returns the id map (old, new) in
/// `from`'s order and the joined chat's next id.
pub(crate) fn renumber(
    from_ids: &[BountyId],
    from_next: u64,
    to_ids: &[BountyId],
    to_next: u64,
) -> (Vec<(BountyId, BountyId)>, u64) {
    let mut next = from_next.max(to_next).max(1);
    let mut map = Vec::with_capacity(from_ids.len());
    for &id in from_ids {
        let collides = id.0 < to_next || to_ids.contains(&id);
        let new = if collides {
            let fresh = BountyId(next);
            next += 1;
            fresh
        } else {
            id
        };
        map.push((id, new));
    }
    let highest = map.iter().map(|(_, n)| n.0 + 1).max().unwrap_or(1);
    (map, next.max(highest))
}

/// The one chat move a backend accepts: from a group to a different group.
pub(crate) fn check_migration(from: ChatId, to: ChatId) -> Result<(), StoreError> {
    if from == to || !from.is_group() || !to.is_group() {
        return Err(StoreError::BadMove { from, to });
    }
    Ok(())
}

/// Everything stored for one chat, in a backend-neutral form: what a storage migration
/// copies and compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatData {
    /// The chat.
    pub chat: ChatId,
    /// Its id counter.
    pub next_id: u64,
    /// Its bounties, by id.
    pub bounties: Vec<Bounty>,
    /// Per user (by user id), bookmarks in the order made. In a group, every member the
    /// bot knows, even with no bookmarks; in a private chat, the chat's owner.
    pub members: Vec<(UserId, Vec<BountyId>)>,
}

/// Whole-store export and import, for moving data between backends.
pub trait Portable {
    /// Every chat's data, ordered by chat id.
    fn export(&self) -> Result<Vec<ChatData>, StoreError>;
    /// Writes `chats` into this (empty) store.
    fn import(&self, chats: &[ChatData]) -> Result<(), StoreError>;
}
