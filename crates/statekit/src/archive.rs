//! Moving files out of the way without losing them.
//!
//! [`archive_files`] moves a set of files (paths relative to a base directory) into
//! `{dir}/{folder}/{UTC YYYYMMDDTHHMMSS}/`, keeping their relative paths, and returns
//! that archive directory. An existing archive is never reused or overwritten: a
//! second archive within the same second gets a `-1`, `-2`... suffix. Moves are
//! renames within one file system, made durable by fsyncing the directories touched.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use jiff::Timestamp;

use crate::json::fsync_dir;

/// The folder [`archive_legacy`] uses.
pub const LEGACY_FOLDER: &str = "_legacy";

/// Why files could not be archived.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Nothing was given to archive.
    #[error("nothing to archive in {dir}")]
    Empty {
        /// The base directory.
        dir: PathBuf,
    },
    /// A path was absolute or climbed out of the base directory.
    #[error("cannot archive {path}: not a plain path inside {dir}")]
    OutsideDir {
        /// The offending path.
        path: PathBuf,
        /// The base directory.
        dir: PathBuf,
    },
    /// A file to archive does not exist.
    #[error("cannot archive {path}: no such file")]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// The file system refused an operation.
    #[error("cannot archive into {path}")]
    Io {
        /// The path at fault.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Moves the SQLite database `{dir}/{name}` aside into a new `{dir}/{folder}/{now}/`
/// together with its `-wal` and `-shm` files, so that the three are never separated
/// (a `-wal` left behind would be replayed onto whatever database is later put under
/// that name). Moves whichever of the three exist, the database first; `Ok(None)` when
/// none does. Re-running it after a crash between two moves moves the rest into the
/// same archive: the newest one that holds the database but not that sidecar.
///
/// Any process that still has the database open keeps reading and writing the moved
/// file; callers make sure no writer can use it (a lock) before moving it.
pub fn archive_database(
    dir: &Path,
    name: &str,
    folder: &str,
    now: Timestamp,
) -> Result<Option<PathBuf>, ArchiveError> {
    let present: Vec<PathBuf> = database_files(name)
        .into_iter()
        .filter(|f| fs::symlink_metadata(dir.join(f)).is_ok())
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    if !present.iter().any(|p| p.as_os_str() == name)
        && let Some(earlier) = unfinished_archive(&dir.join(folder), name, &present)?
    {
        for file in &present {
            let target = earlier.join(file);
            fs::rename(dir.join(file), &target).map_err(|source| ArchiveError::Io {
                path: target.clone(),
                source,
            })?;
        }
        for d in [&earlier, dir] {
            fsync_dir(d).map_err(|source| ArchiveError::Io {
                path: d.to_path_buf(),
                source,
            })?;
        }
        return Ok(Some(earlier));
    }
    archive_files(dir, folder, &present, now).map(Some)
}

/// The newest archive under `base` holding the database `name` but none of `rest`.
fn unfinished_archive(
    base: &Path,
    name: &str,
    rest: &[PathBuf],
) -> Result<Option<PathBuf>, ArchiveError> {
    let entries = match fs::read_dir(base) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ArchiveError::Io {
                path: base.to_path_buf(),
                source,
            });
        }
    };
    let mut candidates: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(name).exists() && rest.iter().all(|r| !p.join(r).exists()))
        .collect();
    // Archive names are UTC timestamps (with -N for a second in the same second):
    // the newest sorts last, comparing the timestamp and then N.
    candidates.sort_by_key(|p| {
        let n = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (stamp, seq) = match n.split_once('-') {
            Some((stamp, seq)) => (stamp.to_string(), seq.parse::<u32>().unwrap_or(0)),
            None => (n, 0),
        };
        (stamp, seq)
    });
    Ok(candidates.pop())
}

/// The database `name` and its two sidecars, relative to their directory.
pub fn database_files(name: &str) -> [PathBuf; 3] {
    [
        PathBuf::from(name),
        PathBuf::from(format!("{name}-wal")),
        PathBuf::from(format!("{name}-shm")),
    ]
}

/// Moves `files` (relative to `dir`) into `{dir}/_legacy/{now}/`; see [`archive_files`].
pub fn archive_legacy(dir: &Path, files: &[PathBuf]) -> Result<PathBuf, ArchiveError> {
    archive_files(dir, LEGACY_FOLDER, files, Timestamp::now())
}

/// Moves `files` (relative to `dir`) into a new `{dir}/{folder}/{timestamp}[-N]/`,
/// keeping their relative paths, and returns that directory. Checks every file before
/// moving any.
pub fn archive_files(
    dir: &Path,
    folder: &str,
    files: &[PathBuf],
    now: Timestamp,
) -> Result<PathBuf, ArchiveError> {
    if files.is_empty() {
        return Err(ArchiveError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    for file in files {
        let plain = file.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(ArchiveError::OutsideDir {
                path: file.clone(),
                dir: dir.to_path_buf(),
            });
        }
        let source = dir.join(file);
        if fs::symlink_metadata(&source).is_err() {
            return Err(ArchiveError::Missing { path: source });
        }
    }

    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { path, source }
    };
    let base = dir.join(folder);
    let base_existed = base.is_dir();
    crate::fs::create_private_dir_all(&base).map_err(io_err(&base))?;
    if !base_existed {
        fsync_dir(dir).map_err(io_err(dir))?;
    }
    let archive = create_unique_dir(&base, &now.strftime("%Y%m%dT%H%M%S").to_string())?;

    let mut dirs_to_sync = vec![archive.clone(), base];
    for file in files {
        let source = dir.join(file);
        let target = archive.join(file);
        if let Some(parent) = target.parent() {
            crate::fs::create_private_dir_all(parent).map_err(io_err(parent))?;
            dirs_to_sync.push(parent.to_path_buf());
        }
        fs::rename(&source, &target).map_err(io_err(&source))?;
        if let Some(parent) = source.parent() {
            dirs_to_sync.push(parent.to_path_buf());
        }
    }
    dirs_to_sync.sort();
    dirs_to_sync.dedup();
    // Deepest first, so each directory's new entries are durable before its parent's.
    for d in dirs_to_sync.iter().rev() {
        fsync_dir(d).map_err(io_err(d))?;
    }
    Ok(archive)
}

/// Creates a new, empty `{base}/{UTC YYYYMMDDTHHMMSS}[-N]/` (creating `base` if
/// needed) and returns it: a timestamped folder that no earlier call returned.
pub fn new_dated_dir(base: &Path, now: Timestamp) -> Result<PathBuf, ArchiveError> {
    crate::fs::create_private_dir_all(base).map_err(|source| ArchiveError::Io {
        path: base.to_path_buf(),
        source,
    })?;
    create_unique_dir(base, &now.strftime("%Y%m%dT%H%M%S").to_string())
}

/// Removes all but the `keep` newest folders of `base` that hold a file named
/// `marker` (folders made by [`new_dated_dir`]: their names sort by time); returns the
/// folders removed.
pub fn prune_dated_dirs(
    base: &Path,
    marker: &str,
    keep: usize,
) -> Result<Vec<PathBuf>, ArchiveError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { path, source }
    };
    let mut dirs: Vec<PathBuf> = fs::read_dir(base)
        .map_err(io(base))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(marker).is_file())
        .collect();
    dirs.sort_by_key(|p| dated_key(p));
    let cut = dirs.len().saturating_sub(keep);
    let old: Vec<PathBuf> = dirs.drain(..cut).collect();
    for d in &old {
        fs::remove_dir_all(d).map_err(io(d))?;
    }
    if !old.is_empty() {
        fsync_dir(base).map_err(io(base))?;
    }
    Ok(old)
}

/// Sort key of a dated folder: its timestamp, then its `-N`.
fn dated_key(p: &Path) -> (String, u32) {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match n.split_once('-') {
        Some((stamp, seq)) => (stamp.to_string(), seq.parse().unwrap_or(0)),
        None => (n, 0),
    }
}

/// Creates `{base}/{stem}`, or `{stem}-1`, `{stem}-2`... if taken; never reuses one.
fn create_unique_dir(base: &Path, stem: &str) -> Result<PathBuf, ArchiveError> {
    for n in 0u32.. {
        let name = if n == 0 {
            stem.to_string()
        } else {
            format!("{stem}-{n}")
        };
        let candidate = base.join(name);
        match crate::fs::create_private_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(ArchiveError::Io {
                    path: candidate,
                    source,
                });
            }
        }
    }
    unreachable!("u32 range exhausted while naming an archive")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, rel: &str, content: &str) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn moves_files_keeping_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "log.json", "L");
        touch(dir.path(), "study/progress/u1.json", "P");
        let files = vec![
            PathBuf::from("log.json"),
            PathBuf::from("study/progress/u1.json"),
        ];
        let archive =
            archive_files(dir.path(), "_legacy", &files, at("2026-04-07T14:36:50Z")).unwrap();
        assert_eq!(archive, dir.path().join("_legacy/20260407T143650"));
        assert_eq!(fs::read_to_string(archive.join("log.json")).unwrap(), "L");
        assert_eq!(
            fs::read_to_string(archive.join("study/progress/u1.json")).unwrap(),
            "P"
        );
        assert!(!dir.path().join("log.json").exists());
        assert!(!dir.path().join("study/progress/u1.json").exists());
    }

    #[test]
    fn never_overwrites_an_archive_from_the_same_second() {
        let dir = tempfile::tempdir().unwrap();
        let now = at("2026-04-07T14:36:50Z");
        let mut archives = Vec::new();
        for content in ["first", "second", "third"] {
            touch(dir.path(), "log.json", content);
            archives.push(
                archive_files(dir.path(), "_legacy", &[PathBuf::from("log.json")], now).unwrap(),
            );
        }
        let names: Vec<_> = archives
            .iter()
            .map(|a| a.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["20260407T143650", "20260407T143650-1", "20260407T143650-2"]
        );
        for (archive, content) in archives.iter().zip(["first", "second", "third"]) {
            assert_eq!(
                fs::read_to_string(archive.join("log.json")).unwrap(),
                content
            );
        }
    }

    #[test]
    fn missing_file_is_refused_before_anything_moves() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "a.json", "A");
        let err = archive_files(
            dir.path(),
            "_legacy",
            &[PathBuf::from("a.json"), PathBuf::from("b.json")],
            Timestamp::now(),
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::Missing { .. }), "{err}");
        assert!(dir.path().join("a.json").exists());
        assert!(!dir.path().join("_legacy").exists());
    }

    #[test]
    fn paths_outside_the_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x.json", "/etc/passwd", "a/../../b"] {
            let err = archive_files(
                dir.path(),
                "_legacy",
                &[PathBuf::from(bad)],
                Timestamp::now(),
            )
            .unwrap_err();
            assert!(
                matches!(err, ArchiveError::OutsideDir { .. }),
                "{bad}: {err}"
            );
        }
        assert!(matches!(
            archive_files(dir.path(), "_legacy", &[], Timestamp::now()),
            Err(ArchiveError::Empty { .. })
        ));
    }

    #[test]
    fn legacy_archive_uses_the_legacy_folder() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "x.json", "X");
        let archive = archive_legacy(dir.path(), &[PathBuf::from("x.json")]).unwrap();
        assert_eq!(archive.parent().unwrap(), dir.path().join(LEGACY_FOLDER));
        let name = archive.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name.len(), "YYYYMMDDTHHMMSS".len());
        assert_eq!(&name[8..9], "T");
    }

    #[test]
    fn a_database_moves_with_its_sidecars_and_a_rerun_moves_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in ["x.db", "x.db-wal", "x.db-shm", "other"] {
            fs::write(d.join(f), f).unwrap();
        }
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let moved = archive_database(d, "x.db", "_rollback", now)
            .unwrap()
            .unwrap();
        for f in ["x.db", "x.db-wal", "x.db-shm"] {
            assert_eq!(fs::read_to_string(moved.join(f)).unwrap(), f);
            assert!(!d.join(f).exists());
        }
        assert!(d.join("other").exists());
        assert_eq!(archive_database(d, "x.db", "_rollback", now).unwrap(), None);
        // A crash after the database moved but before its WAL did.
        fs::write(d.join("x.db-wal"), "stray").unwrap();
        let second = archive_database(d, "x.db", "_rollback", now)
            .unwrap()
            .unwrap();
        assert_ne!(second, moved);
        assert_eq!(
            fs::read_to_string(second.join("x.db-wal")).unwrap(),
            "stray"
        );
    }

    #[test]
    fn dated_dirs_are_new_and_pruned_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let made: Vec<PathBuf> = (0..4)
            .map(|_| {
                let d = new_dated_dir(dir.path(), now).unwrap();
                fs::write(d.join("manifest.json"), "{}").unwrap();
                d
            })
            .collect();
        fs::create_dir(dir.path().join("not-a-snapshot")).unwrap();
        let removed = prune_dated_dirs(dir.path(), "manifest.json", 2).unwrap();
        assert_eq!(removed, made[..2].to_vec());
        assert!(made[2].exists() && made[3].exists());
        assert!(dir.path().join("not-a-snapshot").exists());
    }
}
