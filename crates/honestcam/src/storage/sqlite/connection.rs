//! Opening honestcam's databases through `statekit`, migrated on first use.
//!
//! Two kinds: the per-property database (`migrations/property/`) and the global study
//! database (`migrations/study/`). [`Databases`] caches one `statekit::sqlite::Database`
//! per file and applies pending migrations the first time a file is opened.
//!
//! Opened read-only (`OpenOptions::read_only`, for the MCP server), [`Databases`]
//! migrates nothing and creates nothing: a database that needs a migration, or whose
//! projection or search index is behind its log, is refused with
//! [`DbError::NeedsMigration`], [`DbError::ProjectionBehind`] or
//! [`DbError::SearchIndexBehind`], which say which command brings it up to date.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use include_dir::{Dir, include_dir};
use rusqlite::Connection;
use statekit::fs::FileId;
use statekit::migrate::Migrations;
use statekit::sqlite::{Database, DatabaseCache, OpenOptions};

use super::DbError;

static PROPERTY_MIGRATIONS: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/property");
static STUDY_MIGRATIONS: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/study");

/// The embedded migrations of the per-property database.
pub fn property_migrations() -> Result<Migrations, DbError> {
    Ok(Migrations::from_dir(&PROPERTY_MIGRATIONS)?)
}

/// The embedded migrations of the global study database.
pub fn study_migrations() -> Result<Migrations, DbError> {
    Ok(Migrations::from_dir(&STUDY_MIGRATIONS)?)
}

/// Every database this process uses, opened once and migrated on first use.
#[derive(Debug)]
pub struct Databases {
    cache: DatabaseCache,
    /// Opened read-only: checked, never migrated.
    read_only: bool,
    property: Migrations,
    study: Migrations,
    migrated: Mutex<HashSet<(PathBuf, FileId)>>,
}

impl Databases {
    /// A cache opening files with `opts`.
    pub fn new(opts: OpenOptions) -> Result<Databases, DbError> {
        Databases::with_cache(DatabaseCache::new(opts))
    }

    /// A cache opening files with `opts` and keeping at most `max_open` open, the
    /// study database among them (see `statekit::sqlite::DatabaseCache::bounded`).
    pub fn bounded(opts: OpenOptions, max_open: usize) -> Result<Databases, DbError> {
        Databases::with_cache(DatabaseCache::bounded(opts, max_open))
    }

    fn with_cache(cache: DatabaseCache) -> Result<Databases, DbError> {
        Ok(Databases {
            read_only: cache.read_only(),
            cache,
            property: property_migrations()?,
            study: study_migrations()?,
            migrated: Mutex::new(HashSet::new()),
        })
    }

    /// Whether every database is opened read-only (nothing is created or migrated).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The property migrations.
    pub fn property_migrations(&self) -> &Migrations {
        &self.property
    }

    /// The study migrations.
    pub fn study_migrations(&self) -> &Migrations {
        &self.study
    }

    /// The per-property database at `path`, created and migrated if needed.
    pub fn property(&self, path: &Path) -> Result<Arc<Database>, DbError> {
        self.open(path, &self.property, Kind::Property)
    }

    /// The per-property database at `path` if it exists (migrated if needed); never
    /// creates one, so a property without a database stays on its legacy files.
    pub fn property_existing(&self, path: &Path) -> Result<Option<Arc<Database>>, DbError> {
        self.open_existing(path, &self.property, Kind::Property)
    }

    /// The global study database at `path`, created and migrated if needed.
    pub fn study(&self, path: &Path) -> Result<Arc<Database>, DbError> {
        self.open(path, &self.study, Kind::Study)
    }

    /// The global study database at `path` if it exists (migrated if needed).
    pub fn study_existing(&self, path: &Path) -> Result<Option<Arc<Database>>, DbError> {
        self.open_existing(path, &self.study, Kind::Study)
    }

    /// How many databases are open now.
    pub fn open_count(&self) -> usize {
        self.cache.open_count()
    }

    /// Forgets the database at `path`, so it can be moved. Its connections close when
    /// the last handle is dropped.
    pub fn evict(&self, path: &Path) {
        self.cache.evict(path);
    }

    fn open(
        &self,
        path: &Path,
        migrations: &Migrations,
        kind: Kind,
    ) -> Result<Arc<Database>, DbError> {
        let db = self.cache.get(path)?;
        self.migrated(db, migrations, kind)
    }

    fn open_existing(
        &self,
        path: &Path,
        migrations: &Migrations,
        kind: Kind,
    ) -> Result<Option<Arc<Database>>, DbError> {
        match self.cache.get_existing(path)? {
            Some(db) => self.migrated(db, migrations, kind).map(Some),
            None => Ok(None),
        }
    }

    /// Applies pending migrations the first time this process sees this file (by
    /// identity: a replaced file is checked again); a property database's projection
    /// and search index are then filled, or caught up with the log, in their own
    /// transaction.
    fn migrated(
        &self,
        db: Arc<Database>,
        migrations: &Migrations,
        kind: Kind,
    ) -> Result<Arc<Database>, DbError> {
        let key = (db.path().to_path_buf(), db.file_id());
        let done = self
            .migrated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key);
        if !done && self.read_only {
            let migrations = migrations.clone();
            db.read(|conn| up_to_date(conn, &migrations, kind))?;
            self.migrated
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key);
        } else if !done {
            // Migrations run their own transactions: alone on the writer's connection.
            let migrations = migrations.clone();
            db.exclusive(move |conn| {
                migrations.apply(conn)?;
                if kind == Kind::Property {
                    let tx = conn.transaction()?;
                    super::projection_repo::catch_up(&tx)?;
                    super::search_repo::catch_up(&tx)?;
                    tx.commit()?;
                }
                Ok::<_, DbError>(())
            })?;
            self.migrated
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key);
        }
        Ok(db)
    }
}

/// Checks, reading only, that the database needs no migration and (a property's)
/// that its projection and search index cover its whole log: what opening it
/// read-write would otherwise do first.
fn up_to_date(conn: &Connection, migrations: &Migrations, kind: Kind) -> Result<(), DbError> {
    let path = || {
        conn.path()
            .map_or_else(|| "(in memory)".to_string(), str::to_string)
    };
    let pending = migrations.pending(conn)?;
    if !pending.is_empty() {
        return Err(DbError::NeedsMigration {
            path: path(),
            current: migrations.current_version(conn)?,
            latest: migrations.latest(),
            fix: match kind {
                Kind::Property => {
                    "open it read-write once: `honestcam db-reindex SLUG --execute` migrates it (so does a page of the property in `honestcam serve`)"
                }
                Kind::Study => {
                    "open it read-write once: `honestcam token list` migrates it (so does `honestcam serve` at its first request)"
                }
            },
        });
    }
    if kind == Kind::Property {
        let covered = super::projection_repo::position(conn)?;
        let last = super::compliance_repo::last_seq(conn)?;
        if covered.is_none_or(|covered| covered < last) {
            return Err(DbError::ProjectionBehind {
                path: path(),
                covered: covered.unwrap_or(0),
                last,
            });
        }
        let indexed = super::search_repo::covered(conn)?;
        if indexed.is_none_or(|indexed| indexed < last) {
            return Err(DbError::SearchIndexBehind {
                path: path(),
                covered: indexed.unwrap_or(0),
                last,
            });
        }
    }
    Ok(())
}

/// Which kind of database a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Property,
    Study,
}

/// Opens an existing database read-only without changing anything on disk; see
/// [`statekit::sqlite::open_read_only`].
pub fn open_read_only(path: &Path) -> Result<Connection, DbError> {
    Ok(statekit::sqlite::open_read_only(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_load() {
        assert!(property_migrations().unwrap().latest() >= 1);
        assert!(study_migrations().unwrap().latest() >= 1);
    }

    #[test]
    fn databases_are_migrated_on_first_open() {
        let dir = tempfile::tempdir().unwrap();
        let dbs = Databases::new(OpenOptions::default()).unwrap();
        let db = dbs.property(&dir.path().join("p/honestcam.db")).unwrap();
        let v = db
            .read(|c| {
                dbs.property_migrations()
                    .current_version(c)
                    .map_err(DbError::from)
            })
            .unwrap();
        assert_eq!(v, dbs.property_migrations().latest());
        let study = dbs.study(&dir.path().join("honestcam-study.db")).unwrap();
        let n: i64 = study
            .read(|c| c.query_row("SELECT count(*) FROM study_users", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn read_only_open_leaves_a_closed_database_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("honestcam.db");
        {
            let dbs = Databases::new(OpenOptions::default()).unwrap();
            dbs.property(&path).unwrap();
        }
        let before: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let bytes = std::fs::read(&path).unwrap();
        let conn = open_read_only(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM compliance_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        drop(conn);
        let after: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(before, after);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
