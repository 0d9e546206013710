//! Small file-system mechanics shared by the other modules and both applications:
//! durable directory entries, sidecar names, and a file's identity on disk.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Flushes a directory's entries (creations, renames, removals) to disk.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// `path` with `suffix` appended to its file name: `honestcam.db` + `-wal`.
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// Removes `path`; `Ok(false)` if it did not exist.
pub fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Copies `from` to `to` durably and never half-way: into a temporary name beside
/// `to`, then [`rename_durably`]. Refuses to replace `to`.
pub fn copy_durably(from: &Path, to: &Path) -> io::Result<()> {
    refuse_existing(to)?;
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = sidecar(to, ".copying");
    std::fs::copy(from, &tmp)?;
    rename_durably(&tmp, to)
}

/// Puts the complete file `from` at `to` durably: its data synced, renamed, the
/// directory synced. Refuses to replace `to`.
pub fn rename_durably(from: &Path, to: &Path) -> io::Result<()> {
    refuse_existing(to)?;
    std::fs::File::open(from)?.sync_all()?;
    std::fs::rename(from, to)?;
    match to.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fsync_dir(dir),
        _ => Ok(()),
    }
}

fn refuse_existing(to: &Path) -> io::Result<()> {
    if to.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists", to.display()),
        ));
    }
    Ok(())
}

/// Which file a path names right now: device and inode. A file replaced by a rename
/// has another identity under the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file at `path`; `Ok(None)` if there is none.
    pub fn of(path: &Path) -> io::Result<Option<FileId>> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(FileId {
                dev: m.dev(),
                ino: m.ino(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_over_file_has_another_identity() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, "1").unwrap();
        std::fs::write(&b, "2").unwrap();
        let first = FileId::of(&a).unwrap().unwrap();
        assert_eq!(FileId::of(&a).unwrap(), Some(first));
        std::fs::rename(&b, &a).unwrap();
        assert_ne!(FileId::of(&a).unwrap(), Some(first));
        assert!(remove_if_exists(&a).unwrap());
        assert!(!remove_if_exists(&a).unwrap());
        assert_eq!(FileId::of(&a).unwrap(), None);
        assert_eq!(sidecar(&a, "-wal"), dir.path().join("a-wal"));
    }

    #[test]
    fn a_durable_rename_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        std::fs::write(&a, "new").unwrap();
        std::fs::write(&b, "kept").unwrap();
        assert_eq!(
            rename_durably(&a, &b).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "kept");
        rename_durably(&a, &c).unwrap();
        assert_eq!(std::fs::read_to_string(&c).unwrap(), "new");
        assert!(!a.exists());
    }

    #[test]
    fn a_durable_copy_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("sub/b"));
        std::fs::write(&a, "x").unwrap();
        copy_durably(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "x");
        assert_eq!(
            copy_durably(&a, &b).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
    }
}
