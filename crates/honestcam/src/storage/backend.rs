//! What a backend is: the [`PropertyBackend`] trait that each backend implements in
//! its own folder (`sqlite/property.rs`, `json/`), and the small types it speaks in.
//!
//! Why a trait object and not an enum of the two backends: the property's backend is
//! resolved once per unit of work (`resolve.rs`, under the property's lock) into a
//! `Box<dyn PropertyBackend>`, and from then on nothing asks which backend it is. The
//! facade ([`super::PropertyStore`]) holds one line per operation, and removing a
//! backend means deleting its folder and its line in `resolve.rs`; an enum would need
//! a `match` arm per operation. The price is two operations that run a caller's
//! closure with caller-chosen types (`append_for_action`, `update_progress`): the
//! facade boxes the closure into a [`Decide`] or an [`Edit`] and keeps the typed
//! outcome itself.
//!
//! The trait stores and loads; it decides nothing. Logic both backends share (bumping
//! the property's version after a write, refusing a user without an owner, keeping a
//! refused decision's error) is written once in the facade.

use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;
use statekit::fs::FileId;

use super::StoreError;
use super::record::EventRecord;
use crate::domain::search::{Field, SearchQuery};
use crate::domain::{ActionChanges, Event, Progress, Projection, StudyUser, UserId};
use crate::property::PropertyPaths;

/// Where a property's mutable state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `honestcam.db` plus the global study database.
    Sqlite,
    /// The legacy JSON files.
    Json,
}

/// What [`PropertyBackend::append_for_action`] runs: shown what the action's events
/// so far changed, it returns the events to append (none: nothing is stored).
pub type Decide = Box<dyn FnOnce(&ActionChanges) -> Vec<Event> + Send>;

/// What [`PropertyBackend::update_progress`] runs on a user's progress blob: it edits
/// the blob and says whether to save it.
pub type Edit = Box<dyn FnOnce(&mut Progress) -> bool + Send>;

/// One property's storage for one unit of work, its backend already resolved under
/// the property's lock. Positions in the log count from 1 (0: before the first event).
///
/// Methods that write run as one unit: nothing else lands in the property's log, or
/// in the blob or users changed, between what they read and what they write.
pub trait PropertyBackend: std::fmt::Debug + Send + Sync {
    /// The property's paths.
    fn paths(&self) -> &PropertyPaths;

    /// Whether concurrent writers may hold the property's lock shared (the backend
    /// orders them itself); if not, each write needs it exclusively.
    fn orders_its_writers(&self) -> bool;

    /// Writes a consistent copy of the property's database to `target`; `Ok(false)`
    /// when the backend has no database.
    fn snapshot_to(&self, target: &Path) -> Result<bool, StoreError>;

    /// Where the stored log stands now.
    fn log_version(&self) -> Result<LogVersion, StoreError>;

    /// How far into the log the stored projection reaches; 0 without one.
    fn projection_position(&self) -> Result<i64, StoreError>;

    /// What each action's events changed, with the position it covers.
    fn projection(&self) -> Result<Projection, StoreError>;

    /// Every event, oldest first.
    fn events(&self) -> Result<Vec<Event>, StoreError>;

    /// The events after position `seq`, with their positions.
    fn events_after(&self, seq: i64) -> Result<Vec<(i64, Event)>, StoreError>;

    /// At most `limit` events after position `after`, with their positions.
    fn events_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Event)>, StoreError>;

    /// The position of the last event, 0 for an empty log.
    fn last_position(&self) -> Result<i64, StoreError>;

    /// The events about `action_id`, oldest first.
    fn action_events(&self, action_id: &str) -> Result<Vec<Event>, StoreError>;

    /// What the events about `action_id` at or before position `seq` changed (the
    /// fold of those events), without reading the whole history where the backend can.
    fn changes_through(&self, action_id: &str, seq: i64) -> Result<ActionChanges, StoreError>;

    /// At most `limit` hits of `query` in the property's search index after the first
    /// `offset`, best first. A backend without an index refuses
    /// ([`StoreError::NoSearchIndex`]).
    fn search(
        &self,
        query: &SearchQuery,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<SearchRow>, StoreError>;

    /// The ids of the actions that have every term of `query` somewhere in their
    /// indexed text (title, notes, assignees given), by the index; `None` from a
    /// backend without one (the caller then looks through the fold itself).
    fn matching_actions(&self, query: &SearchQuery) -> Result<Option<Vec<String>>, StoreError>;

    /// Throws the search index away and builds it again from the log and the stored
    /// baseline, as one unit; returns how many events were read. Only a backend that
    /// keeps an index can.
    fn rebuild_search(&self) -> Result<u64, StoreError>;

    /// Runs `decide` on what the action's events so far changed and appends the
    /// events it returns whose ids are not stored yet, as one unit; returns every
    /// event `decide` returned.
    fn append_for_action(&self, action_id: &str, decide: Decide) -> Result<Vec<Event>, StoreError>;

    /// Appends the events whose ids are not stored yet, as one unit; returns how many
    /// were new.
    fn append(&self, events: &[Event]) -> Result<u64, StoreError>;

    /// Folds the stored projection again from the log; returns how many events were
    /// folded. Only a backend that stores a projection can.
    fn rebuild_projection(&self) -> Result<u64, StoreError>;

    /// Appends records already encoded, known ids skipped, as one unit; `on_progress`
    /// hears the count so far on the caller's thread. Only a database can.
    fn append_records(
        &self,
        records: Vec<EventRecord>,
        on_progress: &mut dyn FnMut(u64),
    ) -> Result<u64, StoreError>;

    /// The property's study users, oldest first (then by id).
    fn users(&self) -> Result<Vec<StudyUser>, StoreError>;

    /// The study user with id `user`.
    fn user(&self, user: &UserId) -> Result<Option<StudyUser>, StoreError>;

    /// The study user that `owner` owns.
    fn owned_user(&self, owner: &str) -> Result<Option<StudyUser>, StoreError>;

    /// Stores `user`, which has an owner, unless its owner has a user already; returns
    /// the owner's user. One unit.
    fn insert_owned_user(&self, user: &StudyUser) -> Result<StudyUser, StoreError>;

    /// Changes the display name of `user`; returns whether it exists.
    fn rename_user(&self, user: &UserId, name: &str) -> Result<bool, StoreError>;

    /// Adds `user`, or replaces the one with its id.
    fn upsert_user(&self, user: &StudyUser) -> Result<(), StoreError>;

    /// `user`'s progress blob, if saved.
    fn progress(&self, user: &UserId) -> Result<Option<Progress>, StoreError>;

    /// Every saved progress blob, by user id.
    fn all_progress(&self) -> Result<Vec<(UserId, Progress)>, StoreError>;

    /// Reads `user`'s blob (empty if none), runs `edit` on it exactly once, and saves
    /// it if `edit` says so, as one unit.
    fn update_progress(&self, user: &UserId, edit: Edit) -> Result<(), StoreError>;
}

/// Where the stored log of a property stands, to tell whether it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogVersion(Stamp);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stamp {
    /// An append-only log in this file.
    File(FileId),
    /// A log rewritten whole: its modification time and length (`None` when absent).
    Content(Option<(SystemTime, u64)>),
}

impl LogVersion {
    /// The version of an append-only log kept in the file `id`: it stays the same
    /// while events are appended.
    pub fn of_file(id: FileId) -> LogVersion {
        LogVersion(Stamp::File(id))
    }

    /// The version of a log rewritten whole, from its file's modification time and
    /// length (`None` when there is no file): every write changes it.
    pub fn of_content(stamp: Option<(SystemTime, u64)>) -> LogVersion {
        LogVersion(Stamp::Content(stamp))
    }

    /// Whether the log only grows while its version stays: what was appended since a
    /// position is read with `events_after`, and a projection is kept beside it. When
    /// not, any change gives a new version and the log is read whole again.
    pub fn appends_in_place(&self) -> bool {
        matches!(self.0, Stamp::File(_))
    }
}

/// One hit of a search in a property's index, best first (see
/// [`PropertyBackend::search`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRow {
    /// The text found: a title, a note, an assignee.
    pub field: Field,
    /// The action it belongs to.
    pub action_id: String,
    /// The text around the words found, each found word between `**`, cut with `…`.
    pub snippet: String,
    /// How well it matches, by BM25 (higher is better; comparable within one search).
    pub score: f64,
    /// Whether the text holds the whole search as a phrase (such hits come first).
    pub exact: bool,
    /// The event that wrote the text (`None` for a title).
    pub event: Option<SearchRowEvent>,
}

/// The event a search hit comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRowEvent {
    /// Its position in the log.
    pub position: i64,
    /// Its id.
    pub event_id: String,
    /// When, as stored (RFC 3339).
    pub at: String,
    /// Who.
    pub actor: String,
}

/// What a property's storage holds, counted without changing anything (`db-status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Compliance events stored.
    pub events: u64,
    /// Study users.
    pub users: u64,
    /// Progress blobs.
    pub progress: u64,
    /// The property database's schema version (a backend with a database).
    pub schema: Option<u32>,
    /// When asked, how the stored projection differs from a fresh fold of the log
    /// (a backend that stores a projection; empty when they agree).
    pub projection_differences: Option<Vec<String>>,
    /// When asked, how the stored search index differs from the log and the baseline
    /// (a backend that keeps an index; empty when they agree).
    pub search_differences: Option<Vec<String>>,
}
