//! Building a whole SQLite database under a staging name, then putting it in place.
//!
//! A database that is built in one go (an import) is written where nobody looks
//! (`{target}.staging`), without a journal, and becomes visible only complete:
//! [`build`] runs the caller's work on a private connection, switches the finished
//! file to WAL, closes it cleanly and syncs it; [`Staged::put_in_place`] then links it
//! to the target name (refusing to replace anything there) and syncs the directory.
//! A failure, or a crash, before that leaves the target untouched: the staging file is
//! removed on error, and a leftover from a crash is removed by the next [`build`].
//!
//! The staging name belongs to whoever holds the lock that guards the target: callers
//! hold it for the whole build, so two builds never share a staging file.

use std::io;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::fs::{fsync_dir, remove_if_exists, sidecar};

/// Suffix of the staging name.
pub const STAGING_SUFFIX: &str = ".staging";

/// Why a staged build could not start, finish or go live.
#[derive(Debug, thiserror::Error)]
pub enum StagedError {
    /// A file operation failed.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path at fault.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// SQLite refused to open, configure or close the staging database.
    #[error("staging database {path}")]
    Sqlite {
        /// The staging file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The finished database did not close cleanly (a `-wal` remained).
    #[error("staging database {0} did not close cleanly; run the command again")]
    NotClean(PathBuf),
    /// Something is already at the target name.
    #[error("cannot put the new database in place: {0} exists")]
    TargetExists(PathBuf),
    /// A `-wal` or `-shm` file is at the target name without its database: SQLite
    /// would replay it onto the new database.
    #[error(
        "cannot put the new database in place: {0} is left from an earlier database; move it away first"
    )]
    StraySidecar(PathBuf),
}

/// A complete, durable database under its staging name, not yet live.
#[derive(Debug)]
pub struct Staged {
    staging: PathBuf,
    target: PathBuf,
}

/// The staging name of `target`.
pub fn staging_path(target: &Path) -> PathBuf {
    sidecar(target, STAGING_SUFFIX)
}

/// Builds a database for `target` under its staging name: removes any leftover of an
/// earlier build, opens a private connection (no journal, no syncs, foreign keys on),
/// runs `work`, then turns the file to WAL, closes it and syncs it. On error the
/// staging files are removed and `work`'s error is returned.
pub fn build<T, E>(
    target: &Path,
    work: impl FnOnce(&mut Connection) -> Result<T, E>,
) -> Result<(Staged, T), E>
where
    E: From<StagedError>,
{
    let staging = staging_path(target);
    let files = [
        staging.clone(),
        sidecar(&staging, "-wal"),
        sidecar(&staging, "-shm"),
        sidecar(&staging, "-journal"),
    ];
    remove_all(&files)?;
    let result = open_bulk(&staging).map_err(E::from).and_then(|mut conn| {
        let value = work(&mut conn)?;
        finish(conn, &staging)?;
        Ok(value)
    });
    match result {
        Ok(value) => Ok((
            Staged {
                staging,
                target: target.to_path_buf(),
            },
            value,
        )),
        Err(e) => {
            // The error is what matters; a leftover is removed by the next build.
            let _ = remove_all(&files);
            Err(e)
        }
    }
}

fn remove_all(files: &[PathBuf]) -> Result<(), StagedError> {
    for file in files {
        remove_if_exists(file).map_err(|source| StagedError::Io {
            what: "cannot remove stale staging file",
            path: file.clone(),
            source,
        })?;
    }
    Ok(())
}

fn open_bulk(staging: &Path) -> Result<Connection, StagedError> {
    let err = |source| StagedError::Sqlite {
        path: staging.to_path_buf(),
        source,
    };
    crate::fs::create_private_file(staging).map_err(|source| StagedError::Io {
        what: "cannot create",
        path: staging.to_path_buf(),
        source,
    })?;
    let conn = Connection::open(staging).map_err(err)?;
    // Each page is written once; the file is synced as a whole before it goes live.
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON;",
    )
    .map_err(err)?;
    Ok(conn)
}

fn finish(conn: Connection, staging: &Path) -> Result<(), StagedError> {
    let err = |source| StagedError::Sqlite {
        path: staging.to_path_buf(),
        source,
    };
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StagedError::NotClean(staging.to_path_buf()));
    }
    conn.close().map_err(|(_, e)| err(e))?;
    std::fs::File::open(staging)
        .and_then(|f| f.sync_all())
        .map_err(|source| StagedError::Io {
            what: "cannot sync",
            path: staging.to_path_buf(),
            source,
        })?;
    if sidecar(staging, "-wal").exists() {
        return Err(StagedError::NotClean(staging.to_path_buf()));
    }
    remove_if_exists(&sidecar(staging, "-shm")).map_err(|source| StagedError::Io {
        what: "cannot remove",
        path: sidecar(staging, "-shm"),
        source,
    })?;
    Ok(())
}

impl Staged {
    /// The staging file.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Makes the database live under its target name, durably. Refuses to replace a
    /// file at the target, or to go live beside a `-wal`/`-shm` left from another
    /// database; the staging file then stays for the next build to remove.
    pub fn put_in_place(self) -> Result<(), StagedError> {
        for suffix in ["-wal", "-shm"] {
            let stray = sidecar(&self.target, suffix);
            if std::fs::symlink_metadata(&stray).is_ok() {
                return Err(StagedError::StraySidecar(stray));
            }
        }
        // A hard link fails if the target exists, where a rename would replace it.
        match std::fs::hard_link(&self.staging, &self.target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StagedError::TargetExists(self.target.clone()));
            }
            Err(source) => {
                return Err(StagedError::Io {
                    what: "cannot put the new database in place at",
                    path: self.target.clone(),
                    source,
                });
            }
        }
        let io_err = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| StagedError::Io { what, path, source }
        };
        std::fs::remove_file(&self.staging).map_err(io_err("cannot remove", &self.staging))?;
        let dir = match self.target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fsync_dir(dir).map_err(io_err("cannot sync directory", dir))
    }

    /// Removes the staging file without putting it in place.
    pub fn discard(self) -> Result<(), StagedError> {
        remove_if_exists(&self.staging)
            .map(drop)
            .map_err(|source| StagedError::Io {
                what: "cannot remove",
                path: self.staging.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum TestError {
        #[error(transparent)]
        Staged(#[from] StagedError),
        #[error(transparent)]
        Sqlite(#[from] rusqlite::Error),
    }

    fn fill(conn: &mut Connection) -> Result<i64, TestError> {
        conn.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2);")?;
        Ok(conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
    }

    #[test]
    fn a_built_database_goes_live_whole_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.db");
        std::fs::write(staging_path(&target), "leftover of a crashed run").unwrap();
        let (staged, n) = build(&target, fill).unwrap();
        assert_eq!(n, 2);
        assert!(!target.exists(), "nothing is live before put_in_place");
        staged.put_in_place().unwrap();
        assert!(!staging_path(&target).exists());
        let conn = crate::sqlite::open_connection(&target, &Default::default()).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn a_failed_build_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.db");
        let err = build(&target, |c| {
            fill(c)?;
            c.execute_batch("NOT SQL")?;
            Ok::<_, TestError>(())
        })
        .unwrap_err();
        assert!(matches!(err, TestError::Sqlite(_)), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn put_in_place_replaces_nothing_and_refuses_a_stray_wal() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.db");
        std::fs::write(crate::fs::sidecar(&target, "-wal"), "old wal").unwrap();
        let (staged, _) = build(&target, fill).unwrap();
        let err = staged.put_in_place().unwrap_err();
        assert!(matches!(err, StagedError::StraySidecar(_)), "{err}");
        assert!(!target.exists());
        std::fs::remove_file(crate::fs::sidecar(&target, "-wal")).unwrap();
        std::fs::write(&target, "someone else's database").unwrap();
        let (staged, _) = build(&target, fill).unwrap();
        let err = staged.put_in_place().unwrap_err();
        assert!(matches!(err, StagedError::TargetExists(_)), "{err}");
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "someone else's database"
        );
    }
}
