//! Small file-system mechanics shared by the other modules and both applications:
//! durable directory entries, sidecar names, a file's identity on disk, and
//! owner-only creation.
//!
//! Everything statekit creates is owner-only on Unix, whatever the umask: files 0600
//! ([`private_file_options`], [`create_private_file`]), directories 0700
//! ([`create_private_dir_all`]). The state holds password hashes and session ids; a
//! umask of 022 would otherwise leave them readable by every local user. Existing
//! files and directories keep the mode they have.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Mode of the files statekit creates (Unix): read and write for the owner only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of the directories statekit creates (Unix): the owner only.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// `OpenOptions` whose newly created file is owner-only ([`PRIVATE_FILE_MODE`] on
/// Unix; the umask can only take bits away, and none are left to take for others).
pub fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE);
    }
    options
}

/// Creates `path` as an empty owner-only file if nothing is there (`Ok(true)`), or
/// leaves an existing file alone (`Ok(false)`). For files another library creates
/// with its own mode, e.g. SQLite, which then keeps this one (and gives its `-wal`
/// and `-shm` files the database file's mode).
pub fn create_private_file(path: &Path) -> io::Result<bool> {
    match private_file_options()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates `dir` and its missing parents, each new one owner-only
/// ([`PRIVATE_DIR_MODE`] on Unix). Directories that exist keep their mode.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder.create(dir)
}

/// Creates the one directory `dir` owner-only; fails if it exists.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder.create(dir)
}

/// Makes the existing file `path` owner-only (a copy takes its source's mode).
pub fn make_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

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
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir_all(dir)?;
    }
    let tmp = sidecar(to, ".copying");
    std::fs::copy(from, &tmp)?;
    make_private(&tmp)?;
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
pub(crate) mod tests {
    use super::*;

    #[cfg(unix)]
    pub(crate) fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn created_files_and_directories_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_private_dir_all(&nested).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        let file = nested.join("f");
        assert!(create_private_file(&file).unwrap());
        assert!(
            !create_private_file(&file).unwrap(),
            "an existing file is kept"
        );
        assert_eq!(mode(&file), 0o600);
        let open = dir.path().join("open");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(&open, "x").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        copy_durably(&open, &dir.path().join("c/copy")).unwrap();
        assert_eq!(mode(&dir.path().join("c")), 0o700);
        assert_eq!(mode(&dir.path().join("c/copy")), 0o600);
    }

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
