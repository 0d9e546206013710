//! Numbered SQL migrations, embedded in the binary at build time.
//!
//! Each database kind keeps its migrations in one directory of `.sql` files named
//! `NNNN_description.sql`, numbered from 1 without gaps, and embeds it with
//! [`include_dir::include_dir!`]:
//!
//! ```text
//! static PROPERTY: include_dir::Dir = include_dir::include_dir!("$CARGO_MANIFEST_DIR/migrations/property");
//! let migrations = Migrations::from_dir(&PROPERTY)?;
//! ```
//!
//! ```
//! use statekit::migrate::Migrations;
//! let migrations = Migrations::from_files([
//!     ("0001_init.sql".to_string(), "CREATE TABLE t(x);".to_string()),
//! ]).unwrap();
//! let mut conn = rusqlite::Connection::open_in_memory().unwrap();
//! assert_eq!(migrations.apply(&mut conn).unwrap(), vec![1]);
//! assert!(migrations.apply(&mut conn).unwrap().is_empty());
//! ```
//!
//! Guarantees:
//! - each file and the row recording it (in `_statekit_migrations`: version, name,
//!   SHA-256 of the file, time) commit in one transaction, so a failing file leaves
//!   the database at the previous version and a crash never leaves a file applied but
//!   unrecorded; `PRAGMA user_version` mirrors the version for quick inspection;
//! - a database at a version this binary does not know is refused before anything is
//!   written;
//! - an applied file whose content changed since is refused (checksum mismatch).
//!
//! Why not a crate: `rusqlite_migration` runs all pending files in one transaction and
//! keeps no checksums; `refinery` commits a file and its history row separately. The
//! glue here is small enough to own.
//!
//! A migration must not change `PRAGMA foreign_keys` (it cannot inside a transaction).

use std::fmt::Write as _;

use include_dir::Dir;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

/// The table that records applied migrations.
pub const HISTORY_TABLE: &str = "_statekit_migrations";

/// Why migrations could not be loaded or applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A file in the migrations directory is not named `NNNN_name.sql`.
    #[error("migration file {name:?} is not named NNNN_description.sql")]
    BadFileName {
        /// The file's name.
        name: String,
    },
    /// The versions are not 1, 2, 3... without gaps or repeats.
    #[error(
        "migration versions must run 1..N without gaps: expected {expected}, found {found} ({name})"
    )]
    BadSequence {
        /// The version expected at this place.
        expected: u32,
        /// The version found.
        found: u32,
        /// The file found.
        name: String,
    },
    /// A migration file is not UTF-8.
    #[error("migration {name} is not valid UTF-8")]
    NotUtf8 {
        /// The file's name.
        name: String,
    },
    /// The database was migrated by a newer build.
    #[error(
        "database {db} is at schema version {found}, newer than this build knows (up to {known}); refusing to touch it: upgrade the program"
    )]
    NewerDatabase {
        /// The database file.
        db: String,
        /// The database's version.
        found: u32,
        /// The newest version this build has.
        known: u32,
    },
    /// An applied migration's file changed since it was applied.
    #[error(
        "database {db}: migration {version} ({name}) was edited after it was applied (checksum {recorded} recorded, {current} now); add a new migration instead"
    )]
    Edited {
        /// The database file.
        db: String,
        /// The migration's version.
        version: u32,
        /// The migration's file name.
        name: String,
        /// Checksum stored in the database.
        recorded: String,
        /// Checksum of the embedded file.
        current: String,
    },
    /// A migration's SQL failed; the database stays at the previous version.
    #[error(
        "database {db}: migration {version} ({name}) failed, database left at version {version_before}"
    )]
    Failed {
        /// The database file.
        db: String,
        /// The failing migration's version.
        version: u32,
        /// The failing migration's file name.
        name: String,
        /// The version the database remains at.
        version_before: u32,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// Reading or writing the migration history failed.
    #[error("database {db}: migration history")]
    Sqlite {
        /// The database file.
        db: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
}

/// One embedded migration file.
#[derive(Debug, Clone)]
pub struct Migration {
    /// Its number, from 1.
    pub version: u32,
    /// Its file name.
    pub name: String,
    /// Its SQL.
    pub sql: String,
    /// Hex SHA-256 of its bytes.
    pub checksum: String,
}

/// The ordered set of migrations for one kind of database.
#[derive(Debug, Clone)]
pub struct Migrations {
    list: Vec<Migration>,
}

impl Migrations {
    /// Loads and checks the `.sql` files of an embedded directory.
    pub fn from_dir(dir: &Dir<'_>) -> Result<Migrations, MigrateError> {
        let mut files = Vec::new();
        for file in dir.files() {
            let name = file
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !name.ends_with(".sql") {
                continue;
            }
            let sql = file
                .contents_utf8()
                .ok_or_else(|| MigrateError::NotUtf8 { name: name.clone() })?;
            files.push((name, sql.to_string()));
        }
        Migrations::from_files(files)
    }

    /// Builds the set from `(file name, SQL)` pairs in any order.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Migrations, MigrateError> {
        let mut list = Vec::new();
        for (name, sql) in files {
            let version = parse_version(&name)?;
            let checksum = hex_sha256(sql.as_bytes());
            list.push(Migration {
                version,
                name,
                sql,
                checksum,
            });
        }
        list.sort_by_key(|m| m.version);
        for (i, m) in list.iter().enumerate() {
            let expected = i as u32 + 1;
            if m.version != expected {
                return Err(MigrateError::BadSequence {
                    expected,
                    found: m.version,
                    name: m.name.clone(),
                });
            }
        }
        Ok(Migrations { list })
    }

    /// The migrations, in order.
    pub fn list(&self) -> &[Migration] {
        &self.list
    }

    /// The migration numbered `version`.
    pub fn get(&self, version: u32) -> Option<&Migration> {
        self.list.get((version as usize).checked_sub(1)?)
    }

    /// The newest version this set brings a database to.
    pub fn latest(&self) -> u32 {
        self.list.len() as u32
    }

    /// The version the database is at (0 for a database never migrated).
    pub fn current_version(&self, conn: &Connection) -> Result<u32, MigrateError> {
        let applied = read_history(conn)?;
        Ok(applied.iter().map(|(v, _)| *v).max().unwrap_or(0))
    }

    /// The versions `apply` would run, after refusing a newer database or an edited
    /// applied file. Reads only.
    pub fn pending(&self, conn: &Connection) -> Result<Vec<u32>, MigrateError> {
        let applied = read_history(conn)?;
        self.check_history(conn, &applied)?;
        Ok(self
            .list
            .iter()
            .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
            .map(|m| m.version)
            .collect())
    }

    /// Brings the database to [`Migrations::latest`], one transaction per file.
    /// Returns the versions applied (empty when it was up to date).
    pub fn apply(&self, conn: &mut Connection) -> Result<Vec<u32>, MigrateError> {
        let db = db_name(conn);
        let mut applied = Vec::new();
        for version in self.pending(conn)? {
            let Some(m) = self.get(version) else {
                continue;
            };
            let sqlite = |source| MigrateError::Sqlite {
                db: db.clone(),
                source,
            };
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite)?;
            tx.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
                    version    INTEGER PRIMARY KEY,
                    name       TEXT NOT NULL,
                    checksum   TEXT NOT NULL,
                    applied_at TEXT NOT NULL
                 )"
            ))
            .map_err(sqlite)?;
            // Another process may have applied it since `pending` looked.
            let done: Option<i64> = tx
                .query_row(
                    &format!("SELECT version FROM {HISTORY_TABLE} WHERE version = ?1"),
                    [version],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sqlite)?;
            if done.is_some() {
                continue;
            }
            tx.execute_batch(&m.sql)
                .map_err(|source| MigrateError::Failed {
                    db: db.clone(),
                    version,
                    name: m.name.clone(),
                    version_before: version - 1,
                    source,
                })?;
            tx.execute(
                &format!(
                    "INSERT INTO {HISTORY_TABLE} (version, name, checksum, applied_at)
                     VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
                ),
                rusqlite::params![version, m.name, m.checksum],
            )
            .map_err(sqlite)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(sqlite)?;
            tx.commit().map_err(sqlite)?;
            applied.push(version);
        }
        Ok(applied)
    }

    fn check_history(
        &self,
        conn: &Connection,
        applied: &[(u32, String)],
    ) -> Result<(), MigrateError> {
        let db = db_name(conn);
        if let Some(found) = applied.iter().map(|(v, _)| *v).max()
            && found > self.latest()
        {
            return Err(MigrateError::NewerDatabase {
                db,
                found,
                known: self.latest(),
            });
        }
        for (version, recorded) in applied {
            let Some(m) = self.get(*version) else {
                continue; // version 0 or below: never written by `apply`
            };
            if &m.checksum != recorded {
                return Err(MigrateError::Edited {
                    db,
                    version: *version,
                    name: m.name.clone(),
                    recorded: recorded.clone(),
                    current: m.checksum.clone(),
                });
            }
        }
        Ok(())
    }
}

/// `(version, checksum)` of every applied migration; empty for a fresh database.
fn read_history(conn: &Connection) -> Result<Vec<(u32, String)>, MigrateError> {
    let sqlite = |source| MigrateError::Sqlite {
        db: db_name(conn),
        source,
    };
    let exists: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [HISTORY_TABLE],
            |r| r.get(0),
        )
        .map_err(sqlite)?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare(&format!(
            "SELECT version, checksum FROM {HISTORY_TABLE} ORDER BY version"
        ))
        .map_err(sqlite)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))
        .map_err(sqlite)?;
    rows.collect::<Result<_, _>>().map_err(sqlite)
}

fn parse_version(name: &str) -> Result<u32, MigrateError> {
    let bad = || MigrateError::BadFileName {
        name: name.to_string(),
    };
    let stem = name.strip_suffix(".sql").ok_or_else(bad)?;
    let (digits, rest) = stem.split_once('_').ok_or_else(bad)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || rest.is_empty() {
        return Err(bad());
    }
    digits.parse().map_err(|_| bad())
}

fn hex_sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn db_name(conn: &Connection) -> String {
    match conn.path() {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => ":memory:".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{OpenOptions, open_connection};

    fn set(files: &[(&str, &str)]) -> Migrations {
        Migrations::from_files(files.iter().map(|(n, s)| (n.to_string(), s.to_string()))).unwrap()
    }

    const ONE: (&str, &str) = ("0001_init.sql", "CREATE TABLE a(x INTEGER);");
    const TWO: (&str, &str) = ("0002_more.sql", "CREATE TABLE b(y INTEGER);");

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("m.db"), &OpenOptions::default()).unwrap();
        (dir, conn)
    }

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn user_version(conn: &Connection) -> u32 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn embedded_directory_loads_in_order() {
        static DIR: Dir = include_dir::include_dir!("$CARGO_MANIFEST_DIR/tests/migrations/sample");
        let m = Migrations::from_dir(&DIR).unwrap();
        let names: Vec<_> = m.list().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["0001_init.sql", "0002_add_note.sql"]);
        let (_dir, mut conn) = db();
        assert_eq!(m.apply(&mut conn).unwrap(), vec![1, 2]);
    }

    #[test]
    fn applies_pending_files_and_records_versions() {
        let (_dir, mut conn) = db();
        let m = set(&[ONE, TWO]);
        assert_eq!(m.current_version(&conn).unwrap(), 0);
        assert_eq!(m.apply(&mut conn).unwrap(), vec![1, 2]);
        assert_eq!(m.current_version(&conn).unwrap(), 2);
        assert_eq!(user_version(&conn), 2);
        assert_eq!(tables(&conn), ["_statekit_migrations", "a", "b"]);
        assert!(
            m.apply(&mut conn).unwrap().is_empty(),
            "second run is a no-op"
        );
    }

    #[test]
    fn new_files_apply_on_top_of_old_ones() {
        let (_dir, mut conn) = db();
        set(&[ONE]).apply(&mut conn).unwrap();
        assert_eq!(set(&[ONE, TWO]).apply(&mut conn).unwrap(), vec![2]);
        assert_eq!(user_version(&conn), 2);
    }

    #[test]
    fn failing_file_leaves_version_unchanged() {
        let (_dir, mut conn) = db();
        set(&[ONE]).apply(&mut conn).unwrap();
        let broken = set(&[
            ONE,
            (
                "0002_broken.sql",
                "CREATE TABLE half(z INTEGER); INSERT INTO nowhere VALUES (1);",
            ),
        ]);
        let err = broken.apply(&mut conn).unwrap_err();
        assert!(
            matches!(
                err,
                MigrateError::Failed {
                    version: 2,
                    version_before: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("0002_broken.sql"), "{err}");
        assert_eq!(broken.current_version(&conn).unwrap(), 1);
        assert_eq!(user_version(&conn), 1);
        assert!(
            !tables(&conn).contains(&"half".to_string()),
            "the failing file's first statement was rolled back"
        );
    }

    #[test]
    fn failing_first_file_leaves_a_fresh_database_empty() {
        let (_dir, mut conn) = db();
        let err = set(&[("0001_bad.sql", "CREATE TABLE ok(x); SELEC nonsense;")])
            .apply(&mut conn)
            .unwrap_err();
        assert!(matches!(err, MigrateError::Failed { version: 1, .. }));
        assert!(tables(&conn).is_empty());
    }

    #[test]
    fn newer_database_is_refused_and_untouched() {
        let (dir, mut conn) = db();
        set(&[ONE, TWO]).apply(&mut conn).unwrap();
        drop(conn);
        let path = dir.path().join("m.db");
        let before = std::fs::read(&path).unwrap();

        let mut conn = open_connection(&path, &OpenOptions::default()).unwrap();
        let old = set(&[ONE]);
        let err = old.apply(&mut conn).unwrap_err();
        assert!(
            matches!(
                err,
                MigrateError::NewerDatabase {
                    found: 2,
                    known: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("newer than this build"), "{err}");
        assert_eq!(old.current_version(&conn).unwrap(), 2);
        drop(conn);
        assert_eq!(std::fs::read(&path).unwrap(), before, "file is untouched");
    }

    #[test]
    fn edited_applied_migration_is_refused() {
        let (_dir, mut conn) = db();
        set(&[ONE, TWO]).apply(&mut conn).unwrap();
        let edited = set(&[ONE, ("0002_more.sql", "CREATE TABLE b(y TEXT);")]);
        let err = edited.pending(&conn).unwrap_err();
        assert!(
            matches!(err, MigrateError::Edited { version: 2, .. }),
            "{err}"
        );
        assert!(edited.apply(&mut conn).is_err());
        assert!(err.to_string().contains("0002_more.sql"), "{err}");
    }

    #[test]
    fn file_names_and_sequence_are_checked() {
        let bad_name = Migrations::from_files([("init.sql".to_string(), String::new())]);
        assert!(matches!(bad_name, Err(MigrateError::BadFileName { .. })));
        let gap = Migrations::from_files([
            ("0001_a.sql".to_string(), String::new()),
            ("0003_c.sql".to_string(), String::new()),
        ]);
        assert!(matches!(
            gap,
            Err(MigrateError::BadSequence {
                expected: 2,
                found: 3,
                ..
            })
        ));
        let dup = Migrations::from_files([
            ("0001_a.sql".to_string(), String::new()),
            ("0001_b.sql".to_string(), String::new()),
        ]);
        assert!(matches!(dup, Err(MigrateError::BadSequence { .. })));
    }
}
