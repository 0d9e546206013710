//! [`PropertyStore`]: one property for one unit of work, its lock held and its backend
//! resolved once under it. Every operation is one line handing over to the backend
//! (see [`super::backend`]), plus what both backends share: the property's version
//! bumped after a write, a user's owner checked before an insert, a caller's typed
//! outcome kept across the backend's boxed closure.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use super::backend::SearchRow;
use super::backend::{Backend, LogVersion, PropertyBackend};
use super::lock_policy::Held;
use super::record::EventRecord;
use super::sqlite::{DbError, StudyDb};
use super::{Storage, StoreError, version};
use crate::domain::search::SearchQuery;
use crate::domain::{ActionChanges, Baseline, Event, Progress, Projection, StudyUser, UserId};
use crate::property::{PropertyPaths, Slug};

/// One property for one unit of work: its lock held, its backend resolved once.
/// Every method works on whichever backend that is. Drop it to release the lock.
#[derive(Debug)]
pub struct PropertyStore<'s> {
    storage: &'s Storage,
    kind: Backend,
    backend: Box<dyn PropertyBackend + 's>,
    // Last: the lock is released after the backend's handles are dropped.
    _held: Held<'s>,
}

impl<'s> PropertyStore<'s> {
    /// The unit of work on `backend` (of `kind`), holding the property as `held`.
    pub(super) fn new(
        storage: &'s Storage,
        kind: Backend,
        backend: Box<dyn PropertyBackend + 's>,
        held: Held<'s>,
    ) -> PropertyStore<'s> {
        PropertyStore {
            storage,
            kind,
            backend,
            _held: held,
        }
    }

    /// Whether its backend orders concurrent writers itself (see
    /// [`super::lock_policy`]).
    pub(super) fn orders_its_writers(&self) -> bool {
        self.backend.orders_its_writers()
    }

    /// The backend this unit of work uses.
    pub fn backend(&self) -> Backend {
        self.kind
    }

    /// The property's paths.
    pub fn paths(&self) -> &PropertyPaths {
        self.backend.paths()
    }

    /// The property.
    pub fn slug(&self) -> &Slug {
        &self.paths().slug
    }

    /// The property's baseline.
    pub fn baseline(&self) -> Result<Arc<Baseline>, StoreError> {
        self.storage.baseline(self.paths())
    }

    /// Writes a consistent copy of the property's database to `target` (see
    /// `statekit::sqlite::Database::snapshot_to`); `Ok(false)` for a property on the
    /// JSON files, which has no database.
    pub fn snapshot_to(&self, target: &std::path::Path) -> Result<bool, StoreError> {
        self.backend.snapshot_to(target)
    }

    /// Where the stored log stands now.
    pub fn log_version(&self) -> Result<LogVersion, StoreError> {
        self.backend.log_version()
    }

    /// How far into the log the property database's projection reaches (its last
    /// event's position); 0 on JSON, which has none.
    pub fn projection_position(&self) -> Result<i64, StoreError> {
        self.backend.projection_position()
    }

    /// The property database's projection: what each action's events changed, one
    /// row per action, read in one transaction with the position it covers; on JSON
    /// the fold of the log.
    pub fn projection(&self) -> Result<Projection, StoreError> {
        self.backend.projection()
    }

    /// Every event, oldest first.
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        self.backend.events()
    }

    /// The events stored after position `seq`, with their positions: the database's
    /// `seq` on SQLite, the index in the log (from 1) on JSON.
    pub fn events_after(&self, seq: i64) -> Result<Vec<(i64, Event)>, StoreError> {
        self.backend.events_after(seq)
    }

    /// At most `limit` events stored after position `after` (positions as in
    /// [`PropertyStore::events_after`]), oldest first, with their positions: one short
    /// read, for paging through the log. On JSON the log is parsed up to the page.
    pub fn events_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Event)>, StoreError> {
        self.backend.events_page(after, limit)
    }

    /// The position of the last event stored, 0 for an empty log.
    pub fn last_position(&self) -> Result<i64, StoreError> {
        self.backend.last_position()
    }

    /// The events about `action_id`, oldest first.
    pub fn action_events(&self, action_id: &str) -> Result<Vec<Event>, StoreError> {
        self.backend.action_events(action_id)
    }

    /// What the events about `action_id` at or before position `seq` changed (positions
    /// as in [`PropertyStore::events_after`]): the action's state at that position,
    /// laid over its baseline entry. On SQLite a few indexed reads whatever the
    /// action's history; on JSON the log is folded.
    pub fn changes_through(&self, action_id: &str, seq: i64) -> Result<ActionChanges, StoreError> {
        self.backend.changes_through(action_id, seq)
    }

    /// At most `limit` hits of `query` in the property's search index after the first
    /// `offset`, best first (see `storage/sqlite/search_repo.rs`); on the legacy JSON
    /// files, which keep no index, [`StoreError::NoSearchIndex`].
    pub fn search(
        &self,
        query: &SearchQuery,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<SearchRow>, StoreError> {
        self.backend.search(query, limit, offset)
    }

    /// The ids of the actions with every term of `query` somewhere in their title,
    /// notes or assignees given, sorted, by the search index; `None` on the legacy JSON
    /// files, which keep none (the caller looks through the fold).
    pub fn matching_actions(&self, query: &SearchQuery) -> Result<Option<Vec<String>>, StoreError> {
        self.backend.matching_actions(query)
    }

    /// Throws the property database's search index away and builds it again from the
    /// log and the stored baseline, as one unit of work on its writer; returns how
    /// many events that can add text (notes, assignees) were read.
    pub fn rebuild_search(&self) -> Result<u64, StoreError> {
        self.backend.rebuild_search()
    }

    /// Shows `decide` what the events about `action_id` stored so far changed (the
    /// action's projection) and appends the events it returns, as one unit: nothing
    /// else is appended to the log between the read and the write (one unit of work on
    /// the database's writer, see `statekit::sqlite::Database::write`; the property's
    /// exclusive lock and one file replacement on JSON), and nothing is stored when
    /// `decide` fails or returns no events. Events with known ids are skipped. On
    /// SQLite the projection is one row, whatever the action's history, and `decide`
    /// runs on the writer's thread, so it owns what it uses; on JSON the action's
    /// events are folded.
    pub fn append_for_action<E: Send + 'static>(
        &self,
        action_id: &str,
        decide: impl FnOnce(&ActionChanges) -> Result<Vec<Event>, E> + Send + 'static,
    ) -> Result<Result<Vec<Event>, E>, StoreError> {
        let _bump = self.bump_when_done();
        // The backend knows no `E`: a refusal stays here, and nothing is appended.
        let (refuse, refused) = mpsc::channel();
        let began = Instant::now();
        let events = self.backend.append_for_action(
            action_id,
            Box::new(move |prior| {
                decide(prior).unwrap_or_else(|e| {
                    // The receiver lives until this call returns.
                    let _ = refuse.send(e);
                    Vec::new()
                })
            }),
        )?;
        if !events.is_empty() {
            self.storage
                .metrics()
                .appended(self.kind, events.len() as u64, began.elapsed());
        }
        Ok(match refused.try_recv() {
            Ok(e) => Err(e),
            Err(_) => Ok(events),
        })
    }

    /// Appends the events whose ids are not stored yet, in order and all in one unit
    /// (one transaction, or one file replacement); returns how many were new.
    pub fn append(&self, events: &[Event]) -> Result<u64, StoreError> {
        let _bump = self.bump_when_done();
        let began = Instant::now();
        let appended = self.backend.append(events)?;
        if appended > 0 {
            self.storage
                .metrics()
                .appended(self.kind, appended, began.elapsed());
        }
        Ok(appended)
    }

    /// Throws the property database's projection away and folds it again from the
    /// log, as one unit of work on its writer; returns how many events were folded.
    pub fn rebuild_projection(&self) -> Result<u64, StoreError> {
        let _bump = self.bump_when_done();
        self.backend.rebuild_projection()
    }

    /// Appends records already encoded (an import into an existing database), as one
    /// unit of work, known ids skipped; returns how many were new. `on_progress`
    /// hears the count so far on the caller's thread.
    pub fn append_records(
        &self,
        records: Vec<EventRecord>,
        mut on_progress: impl FnMut(u64),
    ) -> Result<u64, StoreError> {
        let _bump = self.bump_when_done();
        self.backend.append_records(records, &mut on_progress)
    }

    /// Runs `f` as one unit of work on the global study database's writer (created if
    /// missing), holding the study database's lock shared: for writes that span
    /// several rows. `f` runs inside the writer's transaction (it opens none).
    pub fn with_study_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, StoreError> {
        StudyDb::new(self.storage.databases(), self.storage.data()).write(f)
    }

    /// The property's study users, oldest first (then by id).
    pub fn users(&self) -> Result<Vec<StudyUser>, StoreError> {
        self.backend.users()
    }

    /// The property's study user with id `user`, if any.
    pub fn user(&self, user: &UserId) -> Result<Option<StudyUser>, StoreError> {
        self.backend.user(user)
    }

    /// The property's study user that `owner` owns, if any.
    pub fn owned_user(&self, owner: &str) -> Result<Option<StudyUser>, StoreError> {
        self.backend.owned_user(owner)
    }

    /// The study user that `user.owner` owns: `user` stored if the owner has none yet,
    /// else the one stored, unchanged. One unit: concurrent calls for one owner store
    /// one user (the unique index on SQLite, the exclusive lock on JSON).
    pub fn insert_owned_user(&self, user: &StudyUser) -> Result<StudyUser, StoreError> {
        if user.owner.is_none() {
            return Err(DbError::NoOwner(user.user_id.clone()).into());
        }
        self.backend.insert_owned_user(user)
    }

    /// Changes the display name of `user`; returns whether it exists.
    pub fn rename_user(&self, user: &UserId, name: &str) -> Result<bool, StoreError> {
        self.backend.rename_user(user, name)
    }

    /// Adds a study user, or replaces the one with its id (every field, the owner too):
    /// for imports, commands and tests; the portal inserts and renames only.
    pub fn upsert_user(&self, user: &StudyUser) -> Result<(), StoreError> {
        self.backend.upsert_user(user)
    }

    /// `user`'s progress blob, if saved.
    pub fn progress(&self, user: &UserId) -> Result<Option<Progress>, StoreError> {
        self.backend.progress(user)
    }

    /// Every saved progress blob of the property, by user id.
    pub fn all_progress(&self) -> Result<Vec<(UserId, Progress)>, StoreError> {
        self.backend.all_progress()
    }

    /// Reads `user`'s progress, lets `change` edit it, and saves it, as one unit: no
    /// other change to that blob can land in between (one unit of work on the study
    /// database's writer; the property's exclusive lock on JSON). Nothing is saved if
    /// `change` fails. On SQLite `change` runs on the writer's thread, so it owns what
    /// it uses.
    pub fn update_progress<T: Send + 'static, E: Send + 'static>(
        &self,
        user: &UserId,
        change: impl FnOnce(&mut Progress) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, StoreError> {
        // The backend knows neither `T` nor `E`: the outcome comes back here.
        let (tell, told) = mpsc::channel();
        self.backend.update_progress(
            user,
            Box::new(move |blob| {
                let out = change(blob);
                let save = out.is_ok();
                // The receiver lives until this call returns.
                let _ = tell.send(out);
                save
            }),
        )?;
        told.try_recv()
            .map_err(|_| StoreError::ChangeNotRun(self.slug().clone()))
    }

    /// Replaces `user`'s whole progress blob (last write wins).
    pub fn save_progress(&self, user: &UserId, progress: &Progress) -> Result<(), StoreError> {
        let progress = progress.clone();
        self.update_progress(user, move |blob| {
            *blob = progress;
            Ok::<_, std::convert::Infallible>(())
        })
        .map(|r| match r {
            Ok(()) => (),
            Err(never) => match never {},
        })
    }

    /// Marks the property written when dropped (see [`version`]).
    fn bump_when_done(&self) -> version::BumpOnDrop<'_> {
        version::BumpOnDrop::new(&self.storage.generations, self.slug())
    }
}
