//! The entry point to honestcam's persistent state, whichever backend a property uses.
//!
//! A property is on SQLite when `{data}/{slug}/honestcam.db` exists, and on the legacy
//! JSON files otherwise (before `db-migrate`, or after `db-rollback`). Callers use
//! [`crate::compliance::loader`] and [`crate::study::store`], which pick the backend
//! per call, so a server restarted after a rollback keeps working unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::Serialize;
use statekit::sqlite::{Database, OpenOptions};

use crate::compliance::model::{Baseline, PayloadError};
use crate::config::DataDir;
use crate::db::{Databases, DbError};
use crate::legacy::LegacyError;
use crate::property::{PropertyPaths, Slug};

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
    #[error("no property {slug:?} in {dir}")]
    UnknownProperty {
        /// The slug asked for.
        slug: String,
        /// The data dir.
        dir: String,
    },
    /// The action is not in the property's baseline.
    #[error("property {slug} has no action {action:?}")]
    UnknownAction {
        /// The property.
        slug: String,
        /// The action id asked for.
        action: String,
    },
    /// The change is not valid.
    #[error(transparent)]
    InvalidChange(#[from] PayloadError),
    /// A database operation failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A legacy file could not be read or written.
    #[error(transparent)]
    Legacy(#[from] LegacyError),
    /// A property directory could not be locked.
    #[error(transparent)]
    Lock(#[from] statekit::lock::LockError),
}

/// The data dir and its open databases.
#[derive(Debug)]
pub struct Storage {
    data: DataDir,
    dbs: Databases,
    baselines: Mutex<HashMap<Slug, (SystemTime, Arc<Baseline>)>>,
}

impl Storage {
    /// Storage over `data`, opening databases with `opts`.
    pub fn open(data: DataDir, opts: OpenOptions) -> Result<Storage, StoreError> {
        Ok(Storage {
            data,
            dbs: Databases::new(opts)?,
            baselines: Mutex::new(HashMap::new()),
        })
    }

    /// The property's baseline, parsed once and re-read only when the file changes.
    pub fn baseline(&self, paths: &PropertyPaths) -> Result<Arc<Baseline>, StoreError> {
        let file = paths.baseline();
        let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
        let mut cache = self
            .baselines
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let (Some(modified), Some((seen, baseline))) = (modified, cache.get(&paths.slug))
            && *seen == modified
        {
            return Ok(Arc::clone(baseline));
        }
        let baseline = Arc::new(crate::legacy::read_baseline(paths)?);
        if let Some(modified) = modified {
            cache.insert(paths.slug.clone(), (modified, Arc::clone(&baseline)));
        }
        Ok(baseline)
    }

    /// The data dir.
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// The database cache.
    pub fn databases(&self) -> &Databases {
        &self.dbs
    }

    /// The paths of an existing property; an error if its folder does not exist.
    pub fn property(&self, slug: &Slug) -> Result<PropertyPaths, StoreError> {
        let paths = self.data.property(slug);
        if !paths.dir.is_dir() {
            return Err(StoreError::UnknownProperty {
                slug: slug.to_string(),
                dir: self.data.path().display().to_string(),
            });
        }
        Ok(paths)
    }

    /// Which backend the property uses right now.
    pub fn backend(&self, paths: &PropertyPaths) -> Backend {
        if paths.on_sqlite() {
            Backend::Sqlite
        } else {
            Backend::Json
        }
    }

    /// The property's database (created and migrated if missing).
    pub fn property_db(&self, paths: &PropertyPaths) -> Result<Arc<Database>, StoreError> {
        Ok(self.dbs.property(&paths.db())?)
    }

    /// The global study database (created and migrated if missing).
    pub fn study_db(&self) -> Result<Arc<Database>, StoreError> {
        Ok(self.dbs.study(&self.data.study_db())?)
    }
}
