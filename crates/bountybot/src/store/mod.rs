//! Where bounties live: the [`BountyStore`] trait and its backends.
//!
//! The trait stores and loads; it decides nothing (who may edit, what to reply is the
//! command layer's business). Each method is one durable, serialised unit of work on
//! one chat: when it returns `Ok`, the change survives a crash, and two calls on the
//! same chat from two threads or two processes never lose each other's writes.

pub mod json;
pub mod migrate;
pub mod postgres;
pub mod sqlite;

use serde::{Deserialize, Serialize};

use jiff::civil::Date;

use crate::domain::{BountyId, ChatId, ReminderTime, UpdateId, UserId, ZoneName};

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
    /// Open or done; absent in JSON means open.
    #[serde(default, skip_serializing_if = "Status::is_open")]
    pub status: Status,
    /// Who works on it now, if anyone (one claimer at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by_user_id: Option<UserId>,
    /// When it was marked done (unix seconds); `None` while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<i64>,
}

/// Where a bounty is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Still to do (the default, and what an absent `status` means).
    #[default]
    Open,
    /// Finished.
    Done,
}

impl Status {
    /// True for [`Status::Open`].
    pub fn is_open(&self) -> bool {
        *self == Status::Open
    }

    /// The word stored in SQLite and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Done => "done",
        }
    }

    /// Reads a stored word; `None` for anything else.
    pub fn from_stored(s: &str) -> Option<Status> {
        match s {
            "open" => Some(Status::Open),
            "done" => Some(Status::Done),
            _ => None,
        }
    }
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
    /// New claimer, or `Some(None)` to release the claim.
    pub claimed_by_user_id: Option<Option<UserId>>,
    /// New status with its time (`done_at`: `Some` for done, `None` for open).
    pub status: Option<(Status, Option<i64>)>,
    /// A condition: apply the patch only when the stored claimer is this one (`Some(None)`:
    /// only when unclaimed). When it does not hold, nothing changes and the stored
    /// bounty is returned as it is, so a caller sees who got there first.
    pub if_claimed_by: Option<Option<UserId>>,
    /// A condition: apply the patch only when the stored status is this one (a claim
    /// needs an open bounty, also when it is being marked done at the same moment).
    pub if_status: Option<Status>,
}

impl BountyPatch {
    /// Whether the patch's conditions hold for `b`.
    pub fn applies_to(&self, b: &Bounty) -> bool {
        self.if_claimed_by
            .is_none_or(|want| want == b.claimed_by_user_id)
            && self.if_status.is_none_or(|want| want == b.status)
    }

    /// Writes the given fields into `b`; id, creator and creation time never change.
    /// The condition is the caller's to check first ([`BountyPatch::applies_to`]).
    pub fn apply_to(&self, b: &mut Bounty) {
        if let Some(claimer) = self.claimed_by_user_id {
            b.claimed_by_user_id = claimer;
        }
        if let Some((status, at)) = self.status {
            b.status = status;
            b.done_at = at;
        }
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

/// What keeps a leadership ([`BountyStore::try_lead`]) alive.
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

/// A chat listed by [`BountyStore::reminder_chats`]: its settings, or why they could
/// not be read.
pub type ReminderChat = (ChatId, Result<ChatSettings, StoreError>);

/// A chat's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatSettings {
    /// The chat's time zone; `None` means the default, UTC.
    pub time_zone: Option<ZoneName>,
    /// The local time of the daily digest; `None` means off (the default).
    pub remind_at: Option<ReminderTime>,
}

impl ChatSettings {
    /// The time zone in effect: the chosen one, or UTC.
    pub fn zone(&self) -> ZoneName {
        self.time_zone.clone().unwrap_or_else(ZoneName::utc)
    }
}

/// Changes for [`BountyStore::update_settings`]: `None` leaves a setting as it is,
/// `Some(None)` clears it back to its default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    /// New time zone, or `Some(None)` for the default (UTC).
    pub time_zone: Option<Option<ZoneName>>,
    /// New reminder time, or `Some(None)` to turn the digest off.
    pub remind_at: Option<Option<ReminderTime>>,
}

impl SettingsPatch {
    /// Writes the given settings into `s`.
    pub fn apply_to(&self, s: &mut ChatSettings) {
        if let Some(tz) = &self.time_zone {
            s.time_zone.clone_from(tz);
        }
        if let Some(at) = self.remind_at {
            s.remind_at = at;
        }
    }
}

/// The record of one chat's digest for one local date: claimed (by whichever pass is
/// about to send it) and, once Telegram accepted it, sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestRecord {
    /// The chat's local date the digest is for.
    pub date: Date,
    /// When the current claim was made (unix seconds).
    pub claimed_at: i64,
    /// Telegram's id of the sent message; `None` while claimed and not sent.
    pub message_id: Option<i32>,
}

/// What [`BountyStore::claim_digest`] and [`BountyStore::reclaim_digest`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestClaim {
    /// This caller holds the claim now: it sends, then calls
    /// [`BountyStore::digest_sent`].
    Got,
    /// Someone else claimed it at `since` (unix seconds) and has not recorded a send.
    Pending {
        /// When that claim was made.
        since: i64,
    },
    /// Sent already, as message `message_id`.
    Sent {
        /// Telegram's message id.
        message_id: i32,
    },
}

impl DigestRecord {
    /// The record as seen by a caller that did not get the claim.
    pub fn state(&self) -> DigestClaim {
        match self.message_id {
            Some(message_id) => DigestClaim::Sent { message_id },
            None => DigestClaim::Pending {
                since: self.claimed_at,
            },
        }
    }
}

/// Digest records are kept for this many days before the date being claimed; older
/// ones are pruned when a digest is claimed.
pub const DIGESTS_KEPT_DAYS: i32 = 7;

/// The oldest date kept when `date` is claimed.
pub(crate) fn digests_kept_from(date: Date) -> Date {
    date.checked_sub(jiff::Span::new().days(DIGESTS_KEPT_DAYS))
        .unwrap_or(date)
}

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
    #[error("storage error for chat {chat}")]
    Json {
        /// The chat.
        chat: ChatId,
        /// What failed, naming the file.
        source: statekit::json::JsonError,
    },
    /// A file-system operation failed.
    #[error("storage error for {scope}: {what} {}", .path.display())]
    Fs {
        /// The chat, or the whole store.
        scope: Scope,
        /// What was being done.
        what: &'static str,
        /// The path at fault.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A chat folder could not be locked.
    #[error("storage error for chat {chat}")]
    Lock {
        /// The chat.
        chat: ChatId,
        /// What failed.
        source: statekit::lock::LockError,
    },
    /// An SQLite statement failed.
    #[error("storage error for {scope}: sqlite")]
    Sqlite {
        /// The chat, or the whole store.
        scope: Scope,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The SQLite writer did not commit a change: its batch's transaction failed (the
    /// change was rolled back with it), or the writer stopped.
    #[error("storage error for {scope}")]
    SqliteWrite {
        /// The chat, or the whole store.
        scope: Scope,
        /// What failed.
        source: statekit::sqlite::group::WriteFailure,
    },
    /// A PostgreSQL statement failed (or the connection did).
    #[error("storage error for {scope}: postgres")]
    Postgres {
        /// The chat, or the whole store.
        scope: Scope,
        /// What PostgreSQL (or the connection) said.
        source: ::postgres::Error,
    },
    /// A value stored in PostgreSQL does not parse.
    #[error("storage error for {scope}: postgres holds {what}")]
    PostgresData {
        /// The chat, or the whole store.
        scope: Scope,
        /// What is wrong.
        what: String,
    },
    /// The database URL does not parse (shown without its password).
    #[error("bad database URL {url}")]
    PostgresUrl {
        /// The URL, password hidden.
        url: String,
        /// Why.
        source: ::postgres::Error,
    },
    /// No connection to the database could be had.
    #[error("cannot connect to {url}: {reason}")]
    PostgresPool {
        /// The URL, password hidden.
        url: String,
        /// Why.
        reason: String,
    },
    /// Another process holds the database in a way that excludes this one: a bot
    /// runs on it (for `migrate-storage`), or `migrate-storage` does (for a bot).
    #[error("{url} is in use: a bot runs on it, or migrate-storage does; stop it first")]
    PostgresBusy {
        /// The URL, password hidden.
        url: String,
    },
    /// The database's data was moved to another backend by `migrate-storage`.
    #[error(
        "the data in {url} was moved to {moved}; run the bot with that backend, or `migrate-storage --to postgres` to move it back"
    )]
    PostgresMoved {
        /// The URL, password hidden.
        url: String,
        /// Where and when, and the schema holding the old tables.
        moved: String,
    },
    /// The database's schema is not one this bountybot can use.
    #[error("postgres schema: {0}")]
    PostgresSchema(String),
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
    /// A failure made by a test ([`crate::crash::FAIL_ONCE_ENV`]), before anything
    /// changed; it passes, like a database restarting.
    #[error("storage error for {scope}: a failure injected by a test")]
    Injected {
        /// The chat.
        scope: Scope,
    },
}

impl StoreError {
    /// Whether the failure may pass by itself (a connection lost, a database busy or
    /// restarting, a disk full): the same unit of work, tried again later, may
    /// succeed, and nothing of it was stored. False for what stays wrong until someone
    /// mends it (a damaged file, a bad value, a schema this bountybot cannot use).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Injected { .. }
            | StoreError::SqliteWrite { .. }
            | StoreError::Lock { .. }
            | StoreError::PostgresPool { .. }
            | StoreError::PostgresBusy { .. } => true,
            StoreError::Postgres { source, .. } => postgres_transient(source),
            StoreError::Sqlite { source, .. } => sqlite_transient(source),
            StoreError::Fs { source, .. }
            | StoreError::Json {
                source: statekit::json::JsonError::Io { source, .. },
                ..
            } => io_transient(source),
            _ => false,
        }
    }
}

/// A lost or refused connection, or a server shutting down, out of resources or
/// asking for a retry (SQLSTATE classes 08, 40, 53, 57).
fn postgres_transient(e: &::postgres::Error) -> bool {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return ["08", "40", "53", "57"].iter().any(|c| code.starts_with(c));
    }
    e.is_closed()
        || std::error::Error::source(e)
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
}

/// A database busy or locked, an I/O error or a full disk.
fn sqlite_transient(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    e.sqlite_error_code().is_some_and(|c| {
        matches!(
            c,
            C::DatabaseBusy | C::DatabaseLocked | C::SystemIoFailure | C::DiskFull
        )
    })
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
    /// Records `update` as processed where it changed nothing (a read-only command
    /// was answered), so that it is answered once; [`StoreError::AlreadyProcessed`]
    /// when it was recorded before.
    fn note_processed(&self, chat: ChatId, update: UpdateId) -> Result<(), StoreError>;
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
    /// Where `chat`'s data lives: the supergroup it moved to ([`Self::migrate_chat`]),
    /// or itself.
    fn moved_to(&self, chat: ChatId) -> Result<ChatId, StoreError>;
    /// Remembers `user`'s display name in `chat` (a group member, or a private chat's
    /// owner; other senders in a private chat are not remembered). Writes only when
    /// the name is new or changed.
    fn remember_name(&self, chat: ChatId, user: UserId, name: &str) -> Result<(), StoreError>;
    /// Who tracks bounty `id` in `chat`, by user id.
    fn trackers(&self, chat: ChatId, id: BountyId) -> Result<Vec<UserId>, StoreError>;
    /// The display names remembered in `chat`, by user id.
    fn names(&self, chat: ChatId) -> Result<Vec<(UserId, String)>, StoreError>;
    /// The chat's settings (defaults when none were set).
    fn settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError>;
    /// Applies `patch` to the chat's settings in one unit of work and returns them.
    fn update_settings(
        &self,
        chat: ChatId,
        patch: &SettingsPatch,
        update: Option<UpdateId>,
    ) -> Result<ChatSettings, StoreError>;
    /// Claims the digest of (`chat`, `date`) at `now` (unix seconds) unless a record of
    /// it exists: [`DigestClaim::Got`] for exactly one caller, however many processes
    /// ask at once; everyone else is told the record's state. Records more than
    /// [`DIGESTS_KEPT_DAYS`] before `date` are pruned in the same unit.
    fn claim_digest(&self, chat: ChatId, date: Date, now: i64) -> Result<DigestClaim, StoreError>;
    /// Takes over a claim of (`chat`, `date`) that is still unsent and was made more
    /// than `older_than` seconds before `now` (a send that failed or was interrupted),
    /// as a compare-and-set: of two callers at once, one gets it. Without a record it
    /// claims as [`BountyStore::claim_digest`] does; otherwise it answers the state.
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
    /// Notes that Telegram's `update` of `chat` arrived, before it is processed, so
    /// that replicas sharing the store can keep a chat's updates in order
    /// ([`BountyStore::await_turn`]). Nothing for a store used by one process.
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
    /// Every chat whose daily digest is on, with its settings, ordered by chat id. A
    /// chat whose settings cannot be read comes with its error (it may have the digest
    /// on), so one damaged chat does not keep the others from their digests.
    fn reminder_chats(&self) -> Result<Vec<ReminderChat>, StoreError>;
}

/// The decision of [`BountyStore::claim_digest`] (`older_than: None`) and
/// [`BountyStore::reclaim_digest`] over the stored record, for the backends: the new
/// record to store, if the caller gets the claim, and the answer.
pub(crate) fn decide_claim(
    existing: Option<&DigestRecord>,
    date: Date,
    now: i64,
    older_than: Option<i64>,
) -> (Option<DigestRecord>, DigestClaim) {
    let fresh = DigestRecord {
        date,
        claimed_at: now,
        message_id: None,
    };
    match (existing, older_than) {
        (None, _) => (Some(fresh), DigestClaim::Got),
        (Some(r), Some(age))
            if r.message_id.is_none() && now.saturating_sub(r.claimed_at) > age.max(0) =>
        {
            (Some(fresh), DigestClaim::Got)
        }
        (Some(r), _) => (None, r.state()),
    }
}

/// Longest display name kept, in characters (Telegram's first and last name together
/// stay below it).
pub const MAX_NAME_CHARS: usize = 128;

/// `name` trimmed and cut to [`MAX_NAME_CHARS`]; `None` when nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let t: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
    let t = t.trim_end().to_string();
    (!t.is_empty()).then_some(t)
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
    let mut next = BountyId::try_from(from_next.max(to_next)).unwrap_or(BountyId::FIRST);
    let mut map = Vec::with_capacity(from_ids.len());
    for &id in from_ids {
        let collides = id.get() < to_next || to_ids.contains(&id);
        let new = if collides {
            let fresh = next;
            next = next.next();
            fresh
        } else {
            id
        };
        map.push((id, new));
    }
    let highest = map.iter().map(|(_, n)| n.next().get()).max().unwrap_or(1);
    (map, next.get().max(highest))
}

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
    /// Remembered display names, by user id. In a group each named user is among
    /// `members`; in a private chat only the owner is named.
    pub names: Vec<(UserId, String)>,
    /// The chat's settings.
    pub settings: ChatSettings,
    /// Its digest records, by date.
    pub digests: Vec<DigestRecord>,
    /// The Telegram updates of the chat recorded as processed: the highest
    /// [`LEDGER_CARRIED`] ids, ascending. Carried by a move so that an update stored
    /// before it and delivered again after it is not applied twice.
    pub updates: Vec<UpdateId>,
}

/// Processed updates carried per chat by a move ([`ChatData::updates`]): as many as
/// the JSON backend keeps per file, far more than Telegram redelivers.
pub const LEDGER_CARRIED: usize = 256;

/// `ids` sorted, each once, and cut to the highest [`LEDGER_CARRIED`].
pub(crate) fn carried(mut ids: Vec<UpdateId>) -> Vec<UpdateId> {
    ids.sort_unstable();
    ids.dedup();
    let cut = ids.len().saturating_sub(LEDGER_CARRIED);
    ids.split_off(cut)
}

/// Whole-store export and import, for moving data between backends.
pub trait Portable {
    /// Every chat's data, ordered by chat id.
    fn export(&self) -> Result<Vec<ChatData>, StoreError>;
    /// Writes `chats` into this (empty) store.
    fn import(&self, chats: &[ChatData]) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_that_may_pass_are_told_apart_from_damage() {
        let chat = ChatId::new(-5);
        let io = |kind| StoreError::Fs {
            scope: Scope::Chat(chat),
            what: "writing",
            path: "x".into(),
            source: std::io::Error::from(kind),
        };
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let transient = [
            StoreError::Injected { scope: chat.into() },
            io(std::io::ErrorKind::TimedOut),
            io(std::io::ErrorKind::StorageFull),
            StoreError::Sqlite {
                scope: Scope::Store,
                source: busy,
            },
            StoreError::PostgresPool {
                url: "postgres://db".into(),
                reason: "refused".into(),
            },
        ];
        for e in &transient {
            assert!(e.is_transient(), "{e:?}");
        }
        let lasting = [
            StoreError::Corrupt {
                chat,
                file: "-5/group.json".into(),
                line: 1,
                column: 2,
            },
            StoreError::Shape {
                chat,
                what: "bounties",
            },
            io(std::io::ErrorKind::PermissionDenied),
            StoreError::Sqlite {
                scope: Scope::Store,
                source: rusqlite::Error::QueryReturnedNoRows,
            },
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
