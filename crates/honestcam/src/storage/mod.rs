//! honestcam's persistent state: where it lives, who may change it, and one handle per
//! unit of work that hides which backend a property is on.
//!
//! - [`Storage`] (here): the data dir, its open databases and its parsed baselines;
//!   every unit of work starts from it.
//! - [`PropertyStore`] (`store.rs`): one property for one unit of work, its lock held
//!   and its backend resolved once under it; every storage operation is a method on it.
//! - `resolve.rs`: which backend a property is on, decided in that one place.
//! - [`backend`]: the [`PropertyBackend`](backend::PropertyBackend) trait that each
//!   backend implements, [`sqlite`] (`sqlite/property.rs`) and `json/`, side by side;
//!   neither uses the other.
//! - [`lock_policy`]: what is locked, by whom, and how long one waits.
//! - [`baseline_cache`]: each property's `compliance.json`, parsed once per change.
//! - [`legacy`]: the legacy JSON file formats (served by `json/`, read by `db-migrate`,
//!   written by `db-rollback`); [`record`]: the encoded event both backends use;
//!   [`version`]: whether a property changed, from `stat`s alone; [`metrics`]: what
//!   storage counts for `/metrics`.
//!
//! Commands that replace a property's storage (`db-init`, `db-migrate`, `db-rollback`)
//! hold the property's lock exclusively for their whole run
//! ([`Storage::lock_property`]); every other use of a property goes through a
//! [`PropertyStore`], which takes the same lock shared (exclusive for a write on the
//! JSON files, which are rewritten whole) and only then looks at which backend the
//! property is on. So a store never sees a backend change under it, a command never
//! replaces storage under a write, and a database file that was replaced since it was
//! last opened is opened afresh (see `statekit::sqlite::DatabaseCache`), never written
//! through a stale handle.

pub mod backend;
pub mod baseline_cache;
mod json;
pub mod legacy;
pub mod lock_policy;
pub mod metrics;
pub mod record;
mod resolve;
pub mod sqlite;
mod store;
pub mod version;

use std::sync::Arc;

use statekit::lock::{Busy, LockError};
use statekit::sqlite::{Database, OpenOptions};

use crate::config::DataDir;
use crate::domain::Baseline;
use crate::property::{PropertyPaths, Slug};
use baseline_cache::BaselineCache;
use legacy::LegacyError;
use lock_policy::Held;
use metrics::{LockKind, StorageMetrics};
use sqlite::{Databases, DbError};

pub use backend::{Backend, Holdings, LogVersion, SearchRow, SearchRowEvent};
pub use baseline_cache::BASELINES_KEPT;
pub use lock_policy::{ExclusiveLock, Wait};
pub use resolve::ALL_BACKENDS;
pub use store::PropertyStore;

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
    /// A change was asked of storage opened read-only ([`Storage::open_read_only`]).
    #[error("{0}: this storage is opened read-only (honestcam mcp and /mcp never write)")]
    ReadOnly(String),
    /// The operation needs the property's database, and it has none.
    #[error("property {0} has no database")]
    NotOnSqlite(Slug),
    /// A search through the index of a property that has none (it is still on the
    /// legacy JSON files).
    #[error(
        "property {0} is still on the legacy JSON files, which have no search index; run honestcam db-migrate {0}"
    )]
    NoSearchIndex(Slug),
    /// A write to the JSON files was attempted through a store opened for reading (a
    /// bug: JSON writes need the property's exclusive lock; see [`Storage::write`]).
    #[error("property {0}: a write to its JSON files without the exclusive lock")]
    NotExclusive(Slug),
    /// A backend returned from a read-modify-write without running the caller's change
    /// (a bug: each backend runs it exactly once when it succeeds).
    #[error("property {0}: its storage did not run the change it was given")]
    ChangeNotRun(Slug),
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
    metrics: Arc<StorageMetrics>,
}

impl Storage {
    /// Storage over `data`, opening databases with `opts`.
    pub fn open(data: DataDir, opts: OpenOptions) -> Result<Storage, StoreError> {
        let (opts, metrics) = observed(opts);
        Storage::with(data, Databases::new(opts)?, metrics)
    }

    /// Storage over `data` keeping at most `max_open` databases open (the study
    /// database among them), the least recently used closed first.
    pub fn open_bounded(
        data: DataDir,
        opts: OpenOptions,
        max_open: usize,
    ) -> Result<Storage, StoreError> {
        let (opts, metrics) = observed(opts);
        Storage::with(data, Databases::bounded(opts, max_open)?, metrics)
    }

    /// Storage over `data` that only reads, keeping at most `max_open` databases open:
    /// every SQLite connection is opened read-only (`statekit`'s
    /// `OpenOptions::read_only`: `SQLITE_OPEN_READ_ONLY` and `query_only`), so a write
    /// fails in SQLite whatever asks for it; no database is created or migrated (one
    /// that needs it is refused with the command to run), the baseline is not copied
    /// into the database, and [`Storage::write`], [`Storage::lock_property`] and
    /// [`Storage::study_db`] refuse at once (the legacy JSON files are then never
    /// written either). Reads still take each property's lock shared, as every reader
    /// does; its lock files are the one thing this may create.
    pub fn open_read_only(
        data: DataDir,
        opts: OpenOptions,
        max_open: usize,
    ) -> Result<Storage, StoreError> {
        let (opts, metrics) = observed(OpenOptions {
            read_only: true,
            ..opts
        });
        Storage::with(data, Databases::bounded(opts, max_open)?, metrics)
    }

    /// Whether this storage only reads (see [`Storage::open_read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.dbs.read_only()
    }

    /// Refuses `what` if this storage only reads.
    fn writable(&self, what: impl FnOnce() -> String) -> Result<(), StoreError> {
        if self.is_read_only() {
            return Err(StoreError::ReadOnly(what()));
        }
        Ok(())
    }

    fn with(
        data: DataDir,
        dbs: Databases,
        metrics: Arc<StorageMetrics>,
    ) -> Result<Storage, StoreError> {
        Ok(Storage {
            data,
            dbs,
            baselines: BaselineCache::default(),
            generations: version::Generations::default(),
            metrics,
        })
    }

    /// What this storage has counted (see [`metrics`]).
    pub fn metrics(&self) -> &StorageMetrics {
        &self.metrics
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
        resolve::kind(paths)
    }

    /// What the property's storage holds, counted without taking its lock or changing
    /// anything (for `db-status`): through a read-only connection of its own on SQLite,
    /// with the study counts from `study` if given; with `verify`, how the stored
    /// projection differs from a fresh fold of the log.
    pub fn holdings(
        &self,
        paths: &PropertyPaths,
        study: Option<&rusqlite::Connection>,
        verify: bool,
    ) -> Result<Holdings, StoreError> {
        resolve::holdings(self, paths, study, verify)
    }

    /// The property for reading: its lock held shared, its backend resolved under it.
    pub fn read(&self, slug: &Slug) -> Result<PropertyStore<'_>, StoreError> {
        let paths = self.property(slug)?;
        let held = self.metrics.waiting(LockKind::PropertyShared, || {
            lock_policy::property_shared(&paths)
        })?;
        resolve::open(self, paths, held)
    }

    /// The property for a write: its lock held shared when its backend orders writers
    /// itself (SQLite), exclusive when it rewrites files whole (JSON).
    pub fn write(&self, slug: &Slug) -> Result<PropertyStore<'_>, StoreError> {
        self.writable(|| format!("a write to property {slug}"))?;
        let store = self.read(slug)?;
        if store.orders_its_writers() {
            return Ok(store);
        }
        let paths = store.paths().clone();
        drop(store);
        let held = self.metrics.waiting(LockKind::PropertyExclusive, || {
            lock_policy::property_exclusive_for_write(&paths)
        })?;
        // It may have moved to SQLite while we waited; exclusive serves that too.
        resolve::open(self, paths, held)
    }

    /// The property under a lock the caller already holds exclusively (a command's).
    pub fn under<'s>(&'s self, lock: &'s ExclusiveLock) -> Result<PropertyStore<'s>, StoreError> {
        let paths = self.data.property(lock.slug());
        resolve::open(self, paths, Held::Caller(lock))
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
        self.writable(|| format!("a command on property {slug}"))?;
        lock_policy::property_for_command(&self.data.property(slug), holder, wait, on_wait)
    }

    /// The global study database (created and migrated if missing).
    pub fn study_db(&self) -> Result<Arc<Database>, StoreError> {
        self.writable(|| "opening the study database for writing".to_string())?;
        Ok(self.dbs.study(&self.data.study_db())?)
    }

    /// The global study database if it exists (nothing is created).
    pub fn study_db_existing(&self) -> Result<Option<Arc<Database>>, StoreError> {
        Ok(self.dbs.study_existing(&self.data.study_db())?)
    }
}

/// Which backend the property at `paths` is on right now, from its files alone (a
/// hint, as [`Storage::backend`], for code that holds no storage).
pub fn resolve_kind(paths: &PropertyPaths) -> Backend {
    resolve::kind(paths)
}

/// `opts` with a fresh [`StorageMetrics`] hearing every database writer's batches
/// (an observer the caller set is kept).
fn observed(mut opts: OpenOptions) -> (OpenOptions, Arc<StorageMetrics>) {
    let metrics = Arc::new(StorageMetrics::default());
    if opts.group.observer.is_none() {
        opts.group.observer = Some(metrics.clone());
    }
    (opts, metrics)
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
