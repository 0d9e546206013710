//! honestcam's persistent state: where it lives, who may change it, and one handle per
//! unit of work that hides which backend a property is on.
//!
//! A property is on SQLite when `{data}/{slug}/honestcam.db` exists, and on the legacy
//! JSON files otherwise (before `db-migrate`, or after `db-rollback`). Commands that
//! replace a property's storage (`db-init`, `db-migrate`, `db-rollback`) hold the
//! property's lock exclusively for their whole run ([`Storage::lock_property`]); every
//! other use of a property goes through a [`PropertyStore`], which takes the same lock
//! shared (exclusive for a write on the JSON files, which are rewritten whole) and only
//! then looks at which backend the property is on. So a store never sees a backend
//! change under it, a command never replaces storage under a write, and a database
//! file that was replaced since it was last opened is opened afresh (see
//! `statekit::sqlite::DatabaseCache`), never written through a stale handle.
//!
//! The global study database has a lock of its own at the data dir, taken shared by
//! study writes, always after the property's lock; a command that replaces that
//! database will take it exclusively (none does yet).
//!
//! [`sqlite`] and [`legacy`] are the two backends, side by side, each owning its file
//! formats; [`record`] is the encoded event both use. [`lock_policy`] says what is
//! locked and how long one waits; [`baseline_cache`] keeps each property's baseline.

pub mod baseline_cache;
pub mod legacy;
pub mod lock_policy;
pub mod record;
pub mod sqlite;
pub mod version;

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use statekit::fs::FileId;
use statekit::lock::{Busy, LockError};
use statekit::sqlite::{Database, OpenOptions};

use crate::config::DataDir;
use crate::domain::{ActionChanges, Baseline, Event, Progress, Projection, StudyUser, UserId};
use crate::property::{PropertyPaths, Slug};
use baseline_cache::BaselineCache;
use legacy::LegacyError;
use lock_policy::Held;
use sqlite::{Databases, DbError, compliance_repo, projection_repo, study_repo};

pub use baseline_cache::BASELINES_KEPT;
pub use lock_policy::{ExclusiveLock, Wait};

/// Where a property's mutable state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `honestcam.db` plus the global study database.
    Sqlite,
    /// The legacy JSON files.
    Json,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such property folder.
    #[error("no property {slug} in {dir}")]
    UnknownProperty {
        /// The slug asked for.
        slug: Slug,
        /// The data dir.
        dir: String,
    },
    /// A database operation failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A legacy file could not be read or written.
    #[error(transparent)]
    Legacy(#[from] LegacyError),
    /// A lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The operation needs the property's database, and it has none.
    #[error("property {0} has no database")]
    NotOnSqlite(Slug),
    /// A write to the JSON files was attempted through a store opened for reading (a
    /// bug: JSON writes need the property's exclusive lock; see [`Storage::write`]).
    #[error("property {0}: a write to its JSON files without the exclusive lock")]
    NotExclusive(Slug),
    /// Someone else holds the lock and the caller would not wait.
    #[error(
        "{what} is locked by {}; try again when it is done",
        holder_text(holder)
    )]
    Busy {
        /// What is locked: `property x`, `the study database`.
        what: String,
        /// What the holder said about itself.
        holder: Option<String>,
    },
}

fn holder_text(holder: &Option<String>) -> &str {
    holder
        .as_deref()
        .unwrap_or("another process (the portal's writes, or a command)")
}

/// The data dir and its open databases.
#[derive(Debug)]
pub struct Storage {
    data: DataDir,
    dbs: Databases,
    baselines: BaselineCache,
    generations: version::Generations,
}

impl Storage {
    /// Storage over `data`, opening databases with `opts`.
    pub fn open(data: DataDir, opts: OpenOptions) -> Result<Storage, StoreError> {
        Storage::with(data, Databases::new(opts)?)
    }

    /// Storage over `data` keeping at most `max_open` databases open (the study
    /// database among them), the least recently used closed first.
    pub fn open_bounded(
        data: DataDir,
        opts: OpenOptions,
        max_open: usize,
    ) -> Result<Storage, StoreError> {
        Storage::with(data, Databases::bounded(opts, max_open)?)
    }

    fn with(data: DataDir, dbs: Databases) -> Result<Storage, StoreError> {
        Ok(Storage {
            data,
            dbs,
            baselines: BaselineCache::default(),
            generations: version::Generations::default(),
        })
    }

    /// The property's version now, from `stat`s alone (see [`version`]).
    pub fn version(&self, paths: &PropertyPaths) -> version::PropertyVersion {
        self.generations.version(paths)
    }

    /// The data dir.
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// The database cache.
    pub fn databases(&self) -> &Databases {
        &self.dbs
    }

    /// The paths of an existing property; an error if its folder holds no property
    /// data.
    pub fn property(&self, slug: &Slug) -> Result<PropertyPaths, StoreError> {
        let paths = self.data.property(slug);
        if !paths.holds_data() {
            return Err(StoreError::UnknownProperty {
                slug: slug.clone(),
                dir: self.data.path().display().to_string(),
            });
        }
        Ok(paths)
    }

    /// The property's baseline, parsed and checked once, re-read when the file changes.
    /// A property on SQLite keeps a copy in its database, refreshed whenever the file
    /// changes; without the file (a restored database alone) the copy is served.
    pub fn baseline(&self, paths: &PropertyPaths) -> Result<Arc<Baseline>, StoreError> {
        self.baselines.get(paths, &self.dbs, &self.generations)
    }

    /// Makes sure the property's database holds its current baseline (after a command
    /// created or replaced the database).
    pub fn sync_baseline(&self, paths: &PropertyPaths) -> Result<(), StoreError> {
        baseline_cache::sync(paths, &self.dbs, &self.generations)
    }

    /// Which backend the property is on right now (a hint: it can change as soon as
    /// this returns; units of work use [`Storage::read`] and [`Storage::write`]).
    pub fn backend(&self, paths: &PropertyPaths) -> Backend {
        if paths.db().is_file() {
            Backend::Sqlite
        } else {
            Backend::Json
        }
    }

    /// The property for reading: its lock held shared, its backend resolved under it.
    pub fn read(&self, slug: &Slug) -> Result<PropertyStore<'_>, StoreError> {
        let paths = self.property(slug)?;
        let held = lock_policy::property_shared(&paths)?;
        self.resolve(paths, held)
    }

    /// The property for a write: its lock held shared when it is on SQLite (SQLite
    /// orders writers itself), exclusive when it is on the JSON files (rewritten whole).
    pub fn write(&self, slug: &Slug) -> Result<PropertyStore<'_>, StoreError> {
        let store = self.read(slug)?;
        if store.backend() == Backend::Sqlite {
            return Ok(store);
        }
        let paths = store.paths.clone();
        drop(store);
        let held = lock_policy::property_exclusive_for_write(&paths)?;
        // It may have moved to SQLite while we waited; exclusive serves that too.
        self.resolve(paths, held)
    }

    /// The property under a lock the caller already holds exclusively (a command's).
    pub fn under<'s>(&'s self, lock: &'s ExclusiveLock) -> Result<PropertyStore<'s>, StoreError> {
        let paths = self.data.property(lock.slug());
        self.resolve(paths, Held::Caller(lock))
    }

    /// Holds the property exclusively, for a command that replaces or creates its
    /// storage. `holder` says who asks (kept in the lock file so that a second command
    /// can say what it waits for); with [`Wait::Block`], `on_wait` hears once who holds
    /// it before the wait begins. Creates the property folder if missing.
    pub fn lock_property(
        &self,
        slug: &Slug,
        holder: &str,
        wait: Wait,
        on_wait: impl FnOnce(&Busy),
    ) -> Result<ExclusiveLock, StoreError> {
        lock_policy::property_for_command(&self.data.property(slug), holder, wait, on_wait)
    }

    /// The global study database (created and migrated if missing).
    pub fn study_db(&self) -> Result<Arc<Database>, StoreError> {
        Ok(self.dbs.study(&self.data.study_db())?)
    }

    /// The global study database if it exists (nothing is created).
    pub fn study_db_existing(&self) -> Result<Option<Arc<Database>>, StoreError> {
        Ok(self.dbs.study_existing(&self.data.study_db())?)
    }

    fn resolve<'s>(
        &'s self,
        paths: PropertyPaths,
        held: Held<'s>,
    ) -> Result<PropertyStore<'s>, StoreError> {
        let kind = match self.dbs.property_existing(&paths.db())? {
            Some(db) => Kind::Sqlite(db),
            None => Kind::Json,
        };
        Ok(PropertyStore {
            storage: self,
            paths,
            kind,
            _held: held,
        })
    }
}

#[derive(Debug)]
enum Kind {
    Sqlite(Arc<Database>),
    Json,
}

/// Where the stored log of a property stands, to tell whether it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogVersion {
    /// This database file; events past a `seq` are read incrementally.
    Sqlite(FileId),
    /// The legacy log's modification time and length (`None` when absent).
    Json(Option<(SystemTime, u64)>),
}

/// One property for one unit of work: its lock held, its backend resolved once.
/// Every method works on whichever backend that is. Drop it to release the lock.
#[derive(Debug)]
pub struct PropertyStore<'s> {
    storage: &'s Storage,
    paths: PropertyPaths,
    kind: Kind,
    _held: Held<'s>,
}

impl PropertyStore<'_> {
    /// The backend this unit of work uses.
    pub fn backend(&self) -> Backend {
        match self.kind {
            Kind::Sqlite(_) => Backend::Sqlite,
            Kind::Json => Backend::Json,
        }
    }

    /// The property's paths.
    pub fn paths(&self) -> &PropertyPaths {
        &self.paths
    }

    /// The property.
    pub fn slug(&self) -> &Slug {
        &self.paths.slug
    }

    /// The property's baseline.
    pub fn baseline(&self) -> Result<Arc<Baseline>, StoreError> {
        self.storage.baseline(&self.paths)
    }

    /// Writes a consistent copy of the property's database to `target` (see
    /// `statekit::sqlite::Database::snapshot_to`); `Ok(false)` for a property on the
    /// JSON files, which has no database.
    pub fn snapshot_to(&self, target: &std::path::Path) -> Result<bool, StoreError> {
        match &self.kind {
            Kind::Sqlite(db) => {
                db.snapshot_to(target).map_err(DbError::from)?;
                Ok(true)
            }
            Kind::Json => Ok(false),
        }
    }

    /// Where the stored log stands now.
    pub fn log_version(&self) -> Result<LogVersion, StoreError> {
        match &self.kind {
            Kind::Sqlite(db) => Ok(LogVersion::Sqlite(db.file_id())),
            Kind::Json => {
                let file = self.paths.legacy_log();
                let io = |source| LegacyError::Io {
                    path: file.clone(),
                    source,
                };
                Ok(LogVersion::Json(match std::fs::metadata(&file) {
                    Ok(m) => Some((m.modified().map_err(io)?, m.len())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(io(e).into()),
                }))
            }
        }
    }

    /// How far into the log the property database's projection reaches (its last
    /// event's position); 0 on JSON, which has none.
    pub fn projection_position(&self) -> Result<i64, StoreError> {
        match &self.kind {
            Kind::Sqlite(db) => Ok(db.read(projection_repo::position)?.unwrap_or(0)),
            Kind::Json => Ok(0),
        }
    }

    /// The property database's projection: what each action's events changed, one
    /// row per action, read in one transaction with the position it covers; on JSON
    /// the fold of the log.
    pub fn projection(&self) -> Result<Projection, StoreError> {
        match &self.kind {
            Kind::Sqlite(db) => Ok(db
                .read(|c| {
                    let tx = c.unchecked_transaction()?;
                    let p = projection_repo::load(&tx);
                    tx.finish()?;
                    p
                })?
                .unwrap_or_default()),
            Kind::Json => {
                let log = legacy::read_events(&self.paths)?;
                Ok(Projection::fold((1..).zip(&log)))
            }
        }
    }

    /// Every event, oldest first.
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        match &self.kind {
            Kind::Sqlite(db) => Ok(db.read(compliance_repo::load_events)?),
            Kind::Json => Ok(legacy::read_events(&self.paths)?),
        }
    }

    /// The events stored after position `seq`, with their positions: the database's
    /// `seq` on SQLite, the index in the log (from 1) on JSON.
    pub fn events_after(&self, seq: i64) -> Result<Vec<(i64, Event)>, StoreError> {
        match &self.kind {
            Kind::Sqlite(db) => Ok(db.read(|c| compliance_repo::load_events_after(c, seq))?),
            Kind::Json => Ok(legacy::read_events(&self.paths)?
                .into_iter()
                .zip(1..)
                .map(|(e, i)| (i, e))
                .skip(usize::try_from(seq).unwrap_or(0))
                .collect()),
        }
    }

    /// At most `limit` events stored after position `after` (positions as in
    /// [`PropertyStore::events_after`]), oldest first, with their positions: one short
    /// read, for paging through the log. On JSON the log is parsed up to the page.
    pub fn events_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Event)>, StoreError> {
        match &self.kind {
            Kind::Sqlite(db) => {
                Ok(db.read(|c| compliance_repo::load_events_page(c, after, limit))?)
            }
            Kind::Json => {
                let after = u64::try_from(after).unwrap_or(0);
                Ok(legacy::read_events_page(&self.paths, after, limit)?
                    .into_iter()
                    .map(|(i, e)| (i64::try_from(i).unwrap_or(i64::MAX), e))
                    .collect())
            }
        }
    }

    /// The position of the last event stored, 0 for an empty log.
    pub fn last_position(&self) -> Result<i64, StoreError> {
        match &self.kind {
            Kind::Sqlite(db) => Ok(db.read(compliance_repo::last_seq)?),
            Kind::Json => Ok(i64::try_from(legacy::count_events(&self.paths)?).unwrap_or(i64::MAX)),
        }
    }

    /// The events about `action_id`, oldest first.
    pub fn action_events(&self, action_id: &str) -> Result<Vec<Event>, StoreError> {
        match &self.kind {
            Kind::Sqlite(db) => Ok(db.read(|c| compliance_repo::load_action_events(c, action_id))?),
            Kind::Json => Ok(legacy::read_events(&self.paths)?
                .into_iter()
                .filter(|e| e.action_id == action_id)
                .collect()),
        }
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
        match &self.kind {
            Kind::Sqlite(db) => {
                let action_id = action_id.to_string();
                Ok(db.write(move |c| {
                    let prior = projection_repo::load_action(c, &action_id)?.unwrap_or_default();
                    let out = decide(&prior);
                    if let Ok(events) = &out
                        && !events.is_empty()
                    {
                        compliance_repo::insert_events(c, events, |_| {})?;
                    }
                    Ok::<_, DbError>(out)
                })?)
            }
            Kind::Json => {
                self.check_exclusive()?;
                let log = legacy::read_events(&self.paths)?;
                let prior =
                    Projection::fold((1..).zip(&log).filter(|(_, e)| e.action_id == action_id));
                let out = decide(prior.action(action_id).unwrap_or(&ActionChanges::default()));
                if let Ok(events) = &out
                    && !events.is_empty()
                {
                    append_to_log(&self.paths, log, events)?;
                }
                Ok(out)
            }
        }
    }

    /// Appends the events whose ids are not stored yet, in order and all in one unit
    /// (one transaction, or one file replacement); returns how many were new.
    pub fn append(&self, events: &[Event]) -> Result<u64, StoreError> {
        let _bump = self.bump_when_done();
        match &self.kind {
            Kind::Sqlite(db) => {
                let events = events.to_vec();
                Ok(db.write(move |conn| compliance_repo::insert_events(conn, &events, |_| {}))?)
            }
            Kind::Json => {
                self.check_exclusive()?;
                let log = legacy::read_events(&self.paths)?;
                append_to_log(&self.paths, log, events)
            }
        }
    }

    /// Throws the property database's projection away and folds it again from the
    /// log, as one unit of work on its writer; returns how many events were folded.
    pub fn rebuild_projection(&self) -> Result<u64, StoreError> {
        let Kind::Sqlite(db) = &self.kind else {
            return Err(StoreError::NotOnSqlite(self.slug().clone()));
        };
        let _bump = self.bump_when_done();
        Ok(db.write(projection_repo::rebuild)?)
    }

    /// Appends records already encoded (an import into an existing database), as one
    /// unit of work, known ids skipped; returns how many were new. `on_progress`
    /// hears the count so far on the caller's thread.
    pub fn append_records(
        &self,
        records: Vec<record::EventRecord>,
        mut on_progress: impl FnMut(u64),
    ) -> Result<u64, StoreError> {
        let Kind::Sqlite(db) = &self.kind else {
            return Err(StoreError::NotOnSqlite(self.slug().clone()));
        };
        let _bump = self.bump_when_done();
        let (progress, heard) = std::sync::mpsc::channel();
        let pending = db.writer().submit(move |conn: &rusqlite::Connection| {
            compliance_repo::insert_records(conn, &records, |done| {
                // The caller stops listening only when it is gone.
                let _ = progress.send(done);
            })
        });
        // The unit drops its sender when it has run (or the writer drops it unrun).
        for done in heard {
            on_progress(done);
        }
        Ok(pending
            .wait()
            .map_err(statekit::sqlite::group::WriteError::flatten)?)
    }

    /// Runs `f` as one unit of work on the global study database's writer (created if
    /// missing), holding the study database's lock shared: for writes that span
    /// several rows. `f` runs inside the writer's transaction (it opens none).
    pub fn with_study_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _study = lock_policy::study_shared(&self.storage.data)?;
        Ok(self.storage.study_db()?.write(f)?)
    }

    /// The property's study users, oldest first (then by id).
    pub fn users(&self) -> Result<Vec<StudyUser>, StoreError> {
        match &self.kind {
            Kind::Sqlite(_) => match self.storage.study_db_existing()? {
                Some(db) => Ok(db.read(|c| study_repo::users(c, self.slug()))?),
                None => Ok(Vec::new()),
            },
            Kind::Json => {
                let mut users = legacy::read_users(&self.paths)?.unwrap_or_default();
                users.sort_by(|a, b| (&a.created_at, &a.user_id).cmp(&(&b.created_at, &b.user_id)));
                Ok(users)
            }
        }
    }

    /// The property's study user with id `user`, if any.
    pub fn user(&self, user: &UserId) -> Result<Option<StudyUser>, StoreError> {
        match &self.kind {
            Kind::Sqlite(_) => match self.storage.study_db_existing()? {
                Some(db) => Ok(db.read(|c| study_repo::user(c, self.slug(), user))?),
                None => Ok(None),
            },
            Kind::Json => Ok(legacy::read_users(&self.paths)?
                .unwrap_or_default()
                .into_iter()
                .find(|u| u.user_id == *user)),
        }
    }

    /// The property's study user that `owner` owns, if any.
    pub fn owned_user(&self, owner: &str) -> Result<Option<StudyUser>, StoreError> {
        match &self.kind {
            Kind::Sqlite(_) => match self.storage.study_db_existing()? {
                Some(db) => Ok(db.read(|c| study_repo::owned_user(c, self.slug(), owner))?),
                None => Ok(None),
            },
            Kind::Json => Ok(legacy::read_users(&self.paths)?
                .unwrap_or_default()
                .into_iter()
                .find(|u| u.owner.as_deref() == Some(owner))),
        }
    }

    /// The study user that `user.owner` owns: `user` stored if the owner has none yet,
    /// else the one stored, unchanged. One unit: concurrent calls for one owner store
    /// one user (the unique index on SQLite, the exclusive lock on JSON).
    pub fn insert_owned_user(&self, user: &StudyUser) -> Result<StudyUser, StoreError> {
        match &self.kind {
            Kind::Sqlite(_) => {
                let _study = lock_policy::study_shared(&self.storage.data)?;
                let (slug, user) = (self.slug().clone(), user.clone());
                Ok(self
                    .storage
                    .study_db()?
                    .write(move |c| study_repo::insert_owned_user(c, &slug, &user))?)
            }
            Kind::Json => {
                self.check_exclusive()?;
                let Some(owner) = user.owner.as_deref() else {
                    return Err(DbError::NoOwner(user.user_id.clone()).into());
                };
                Ok(legacy::update_users(&self.paths, |users| {
                    match users.iter().find(|u| u.owner.as_deref() == Some(owner)) {
                        Some(stored) => stored.clone(),
                        None => {
                            users.push(user.clone());
                            user.clone()
                        }
                    }
                })?)
            }
        }
    }

    /// Changes the display name of `user`; returns whether it exists.
    pub fn rename_user(&self, user: &UserId, name: &str) -> Result<bool, StoreError> {
        match &self.kind {
            Kind::Sqlite(_) => {
                let _study = lock_policy::study_shared(&self.storage.data)?;
                let (slug, user, name) = (self.slug().clone(), user.clone(), name.to_string());
                Ok(self
                    .storage
                    .study_db()?
                    .write(move |c| study_repo::rename_user(c, &slug, &user, &name))?)
            }
            Kind::Json => {
                self.check_exclusive()?;
                Ok(legacy::update_users(&self.paths, |users| {
                    match users.iter_mut().find(|u| u.user_id == *user) {
                        Some(found) => {
                            found.name = name.to_string();
                            true
                        }
                        None => false,
                    }
                })?)
            }
        }
    }

    /// Adds a study user, or replaces the one with its id (every field, the owner too):
    /// for imports, commands and tests; the portal inserts and renames only.
    pub fn upsert_user(&self, user: &StudyUser) -> Result<(), StoreError> {
        match &self.kind {
            Kind::Sqlite(_) => {
                let _study = lock_policy::study_shared(&self.storage.data)?;
                let (slug, user) = (self.slug().clone(), user.clone());
                Ok(self
                    .storage
                    .study_db()?
                    .write(move |c| study_repo::upsert_user(c, &slug, &user))?)
            }
            Kind::Json => {
                self.check_exclusive()?;
                Ok(legacy::update_users(&self.paths, |users| {
                    match users.iter_mut().find(|u| u.user_id == user.user_id) {
                        Some(existing) => *existing = user.clone(),
                        None => users.push(user.clone()),
                    }
                })?)
            }
        }
    }

    /// `user`'s progress blob, if saved.
    pub fn progress(&self, user: &UserId) -> Result<Option<Progress>, StoreError> {
        match &self.kind {
            Kind::Sqlite(_) => match self.storage.study_db_existing()? {
                Some(db) => Ok(db.read(|c| study_repo::progress(c, self.slug(), user))?),
                None => Ok(None),
            },
            Kind::Json => Ok(legacy::read_progress(&self.paths, user)?),
        }
    }

    /// Every saved progress blob of the property, by user id.
    pub fn all_progress(&self) -> Result<Vec<(UserId, Progress)>, StoreError> {
        match &self.kind {
            Kind::Sqlite(_) => match self.storage.study_db_existing()? {
                Some(db) => Ok(db.read(|c| study_repo::all_progress(c, self.slug()))?),
                None => Ok(Vec::new()),
            },
            Kind::Json => Ok(legacy::read_all_progress(&self.paths)?),
        }
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
        match &self.kind {
            Kind::Sqlite(_) => {
                let _study = lock_policy::study_shared(&self.storage.data)?;
                let now = jiff::Timestamp::now().to_string();
                let (slug, user) = (self.slug().clone(), user.clone());
                Ok(self.storage.study_db()?.write(move |c| {
                    let mut blob = study_repo::progress(c, &slug, &user)?.unwrap_or_default();
                    let out = change(&mut blob);
                    if out.is_ok() {
                        study_repo::save_progress(c, &slug, &user, &blob, &now)?;
                    }
                    Ok::<_, DbError>(out)
                })?)
            }
            Kind::Json => {
                self.check_exclusive()?;
                let mut blob = legacy::read_progress(&self.paths, user)?.unwrap_or_default();
                let out = change(&mut blob);
                if out.is_ok() {
                    legacy::write_progress(&self.paths, user, &blob)?;
                }
                Ok(out)
            }
        }
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

    /// JSON files are rewritten whole: only an exclusive holder may write them.
    fn check_exclusive(&self) -> Result<(), StoreError> {
        if self._held.is_exclusive() {
            Ok(())
        } else {
            Err(StoreError::NotExclusive(self.slug().clone()))
        }
    }
}

/// Appends to the legacy `log` (as read) the `events` whose ids it does not hold, and
/// replaces the file if any were new; returns how many were.
fn append_to_log(
    paths: &PropertyPaths,
    mut log: Vec<Event>,
    events: &[Event],
) -> Result<u64, StoreError> {
    let mut known: std::collections::HashSet<&str> =
        log.iter().map(|e| e.event_id.as_str()).collect();
    let new: Vec<Event> = events
        .iter()
        .filter(|e| known.insert(e.event_id.as_str()))
        .cloned()
        .collect();
    if new.is_empty() {
        return Ok(0);
    }
    let added = new.len() as u64;
    log.extend(new);
    legacy::write_log(paths, &log)?;
    Ok(added)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.into())
    }
}
