//! Durable JSON files: atomic replace on write, strict parse on read.
//!
//! A write goes to a temp file in the same directory (`.{name}.tmp-{pid}-{n}`), is
//! fsynced, renamed over the target, and the directory is fsynced so the rename itself
//! survives power loss. A crash at any point leaves either the old or the new content,
//! never a mix; at worst a temp file is left behind, which readers never look at.
//! The first process to take a directory's lock (see [`crate::lock`]) removes the temp
//! files there whose writer is dead ([`sweep_orphaned_temp_files`]), once per directory
//! per process.
//!
//! A read distinguishes "missing" (`Ok(None)`) from "corrupt" (an error naming the file,
//! line and column): a corrupt file is never mistaken for an empty one, so a
//! load-modify-save cycle cannot overwrite it.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("state.json");
//! assert_eq!(statekit::json::read_json::<Vec<u32>>(&path).unwrap(), None);
//! statekit::json::write_json_atomic(&path, &vec![1, 2, 3]).unwrap();
//! assert_eq!(statekit::json::read_json::<Vec<u32>>(&path).unwrap(), Some(vec![1, 2, 3]));
//! ```
//!
//! This module knows nothing of locking: callers that load, modify and save serialise
//! that cycle themselves (see [`crate::lock`]).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use serde::de::{DeserializeOwned, DeserializeSeed};

/// Why a JSON file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The file system refused an operation on `path`.
    #[error("cannot access {path}")]
    Io {
        /// The file or directory at fault.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file exists but does not hold the JSON the caller expects.
    #[error("malformed JSON in {path} at line {line}, column {column}")]
    Malformed {
        /// The file at fault.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser said.
        source: serde_json::Error,
    },
    /// The value could not be turned into JSON (e.g. a map with non-string keys).
    #[error("cannot serialise JSON for {path}")]
    Serialize {
        /// The file that was to be written.
        path: PathBuf,
        /// What the serialiser said.
        source: serde_json::Error,
    },
}

impl JsonError {
    fn io(path: &Path, source: io::Error) -> Self {
        JsonError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Marker inside temp file names; see [`is_temp_file`].
const TEMP_MARKER: &str = ".tmp-";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Serialises `value` as pretty JSON (with a trailing newline) and atomically replaces
/// `path` with it. Creates the parent directory if it is missing.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), JsonError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| JsonError::Serialize {
        path: path.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    write_bytes_atomic(path, &bytes)
}

/// Atomically replaces `path` with `bytes`: temp file, fsync, rename, fsync of the
/// directory. Creates the parent directory if it is missing.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), JsonError> {
    let temp = write_temp(path, bytes)?;
    commit_temp(&temp, path)
}

/// First half of an atomic write: the full content, durable, under a temp name beside
/// `path`. Until [`commit_temp`] runs, readers of `path` see the old content.
pub(crate) fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, JsonError> {
    let dir = parent_dir(path);
    ensure_dir(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| {
            JsonError::io(
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
            )
        })?
        .to_string_lossy();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}{TEMP_MARKER}{}-{n}", std::process::id()));

    let result = (|| {
        let mut file = crate::fs::private_file_options()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(source) = result {
        let _ = fs::remove_file(&temp);
        return Err(JsonError::io(&temp, source));
    }
    Ok(temp)
}

/// Second half of an atomic write: rename the temp file over `path` and make the
/// rename durable.
pub(crate) fn commit_temp(temp: &Path, path: &Path) -> Result<(), JsonError> {
    if let Err(source) = fs::rename(temp, path) {
        let _ = fs::remove_file(temp);
        return Err(JsonError::io(path, source));
    }
    let dir = parent_dir(path);
    fsync_dir(dir).map_err(|source| JsonError::io(dir, source))
}

/// Reads and parses `path`. `Ok(None)` when the file does not exist; an error naming
/// the file, line and column when it holds anything but the expected JSON.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, JsonError> {
    read_json_seed(path, PhantomData::<T>)
}

/// [`read_json`] with a [`DeserializeSeed`]: the seed sees the values as they are
/// parsed, so a large file's items can be handled one at a time instead of all being
/// held at once. The whole file must still be valid JSON with nothing after the value.
pub fn read_json_seed<S, T>(path: &Path, seed: S) -> Result<Option<T>, JsonError>
where
    S: for<'de> DeserializeSeed<'de, Value = T>,
{
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(JsonError::io(path, source)),
    };
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    seed.deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value))
        .map(Some)
        .map_err(|source| JsonError::Malformed {
            path: path.to_path_buf(),
            line: source.line(),
            column: source.column(),
            source,
        })
}

/// True for the names this module gives its temp files. Directory scans should skip
/// them.
pub fn is_temp_file(file_name: &str) -> bool {
    file_name.starts_with('.') && file_name.contains(TEMP_MARKER)
}

/// Removes temp files left in `dir` by interrupted writes; returns how many it removed.
/// Only call this while no writer is active in `dir` (e.g. under its [`crate::lock::DirLock`]).
pub fn sweep_temp_files(dir: &Path) -> Result<usize, JsonError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(JsonError::io(dir, source)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|source| JsonError::io(dir, source))?;
        if is_temp_file(&entry.file_name().to_string_lossy()) {
            let path = entry.path();
            fs::remove_file(&path).map_err(|source| JsonError::io(&path, source))?;
            removed += 1;
        }
    }
    if removed > 0 {
        fsync_dir(dir).map_err(|source| JsonError::io(dir, source))?;
    }
    Ok(removed)
}

/// The writer's pid in a temp file name of exactly the form this module gives them,
/// `.{name}.tmp-{pid}-{n}` (a non-empty name, decimal pid and counter); `None` for any
/// other name.
pub fn temp_file_pid(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?;
    let at = rest.rfind(TEMP_MARKER)?;
    if at == 0 {
        return None;
    }
    let (pid, n) = rest[at + TEMP_MARKER.len()..].split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the temp files in `dir` whose writer is no longer running: names of
/// exactly the form [`temp_file_pid`] accepts, whose pid is not this process and not a
/// live process. Another live process's files (and this one's) are kept, so this is
/// safe while other processes write in `dir`. Returns how many it removed.
///
/// Whether a pid is alive: on Linux `/proc/{pid}` exists; on other Unix systems
/// `ps -p {pid}` finds it. When that cannot be told (no `/proc`, no `ps`), the file
/// is kept.
pub fn sweep_orphaned_temp_files(dir: &Path) -> Result<usize, JsonError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(JsonError::io(dir, source)),
    };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|source| JsonError::io(dir, source))?;
        let Some(pid) = temp_file_pid(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        if pid == me || process_may_be_alive(pid) {
            continue;
        }
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            // Another sweeper got there first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(JsonError::io(&path, source)),
        }
    }
    if removed > 0 {
        fsync_dir(dir).map_err(|source| JsonError::io(dir, source))?;
    }
    Ok(removed)
}

/// Directories this process has swept already (see [`sweep_orphans_once`]).
static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Forgotten all at once when reached, so the set stays bounded however many
/// directories a long-running process touches; a directory is then swept once more.
const SWEPT_KEPT: usize = 4096;

/// [`sweep_orphaned_temp_files`] the first time this process calls it for `dir`, a
/// no-op after that: one directory listing per directory per process, not per write.
/// `Ok(None)` when `dir` was swept already.
pub fn sweep_orphans_once(dir: &Path) -> Result<Option<usize>, JsonError> {
    {
        let mut swept = SWEPT.lock().unwrap_or_else(PoisonError::into_inner);
        let swept = swept.get_or_insert_with(HashSet::new);
        if swept.contains(dir) {
            return Ok(None);
        }
        if swept.len() >= SWEPT_KEPT {
            swept.clear();
        }
        swept.insert(dir.to_path_buf());
    }
    sweep_orphaned_temp_files(dir).map(Some)
}

/// False only when `pid` is known not to be running.
fn process_may_be_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        let proc_root = Path::new("/proc");
        if !matches!(proc_root.join("self").try_exists(), Ok(true)) {
            return true;
        }
        !matches!(proc_root.join(pid.to_string()).try_exists(), Ok(false))
    } else if cfg!(unix) {
        match std::process::Command::new("ps")
            .args(["-p", &pid.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
        {
            // `ps -p` fails when no such process exists.
            Ok(status) => status.success(),
            Err(_) => true,
        }
    } else {
        true
    }
}

pub use crate::fs::fsync_dir;

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates `dir` (and missing parents) durably: each new directory's parent is fsynced.
fn ensure_dir(dir: &Path) -> Result<(), JsonError> {
    if dir.is_dir() {
        return Ok(());
    }
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.is_dir())
        .collect();
    crate::fs::create_private_dir_all(dir).map_err(|source| JsonError::io(dir, source))?;
    for created in missing {
        let parent = parent_dir(created);
        fsync_dir(parent).map_err(|source| JsonError::io(parent, source))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        n: u32,
        items: Vec<String>,
    }

    fn doc(n: u32) -> Doc {
        Doc {
            n,
            items: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn missing_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let got: Option<Doc> = read_json(&dir.path().join("absent.json")).unwrap();
        assert_eq!(got, None);
    }

    #[test]
    fn write_then_read_round_trips_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        write_json_atomic(&path, &doc(1)).unwrap();
        write_json_atomic(&path, &doc(2)).unwrap();
        assert_eq!(read_json::<Doc>(&path).unwrap(), Some(doc(2)));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["doc.json"], "no temp file left after a write");
    }

    #[test]
    fn write_creates_missing_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/doc.json");
        write_json_atomic(&path, &doc(3)).unwrap();
        assert_eq!(read_json::<Doc>(&path).unwrap(), Some(doc(3)));
    }

    #[test]
    fn interrupted_write_leaves_old_content_readable_and_temp_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        write_json_atomic(&path, &doc(1)).unwrap();

        // The crash happens after the temp file is complete but before the rename.
        let new = serde_json::to_vec(&doc(2)).unwrap();
        let temp = write_temp(&path, &new).unwrap();
        assert!(temp.exists());
        assert!(is_temp_file(&temp.file_name().unwrap().to_string_lossy()));

        assert_eq!(read_json::<Doc>(&path).unwrap(), Some(doc(1)));
        assert_eq!(sweep_temp_files(dir.path()).unwrap(), 1);
        assert!(!temp.exists());
        assert_eq!(read_json::<Doc>(&path).unwrap(), Some(doc(1)));
    }

    #[test]
    fn interrupted_first_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        write_temp(&path, b"{\"n\":1,\"items\":[]}").unwrap();
        assert_eq!(read_json::<Doc>(&path).unwrap(), None);
    }

    #[test]
    fn malformed_json_error_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        fs::write(&path, "{\n  \"n\": 1,\n  \"items\": [\"a\",, ]\n}\n").unwrap();
        let err = read_json::<Doc>(&path).unwrap_err();
        match &err {
            JsonError::Malformed { line, column, .. } => {
                assert_eq!((*line, *column), (3, 17));
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("bad.json"), "{msg}");
        assert!(msg.contains("line 3, column 17"), "{msg}");
    }

    /// Sums a JSON array of numbers without collecting it.
    struct Sum;

    impl<'de> DeserializeSeed<'de> for Sum {
        type Value = (u64, usize);
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = (u64, usize);
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an array of numbers")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Self::Value, A::Error> {
                    let (mut sum, mut n) = (0, 0);
                    while let Some(x) = seq.next_element::<u64>()? {
                        sum += x;
                        n += 1;
                    }
                    Ok((sum, n))
                }
            }
            d.deserialize_seq(V)
        }
    }

    #[test]
    fn seeded_read_sees_each_item_and_reports_errors_like_read_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nums.json");
        assert_eq!(read_json_seed(&path, Sum).unwrap(), None);
        fs::write(&path, "[1, 2,\n 3]\n").unwrap();
        assert_eq!(read_json_seed(&path, Sum).unwrap(), Some((6, 3)));
        fs::write(&path, "[1, 2]\n[3]").unwrap();
        assert!(
            matches!(
                read_json_seed(&path, Sum),
                Err(JsonError::Malformed {
                    line: 2,
                    column: 1,
                    ..
                })
            ),
            "trailing content is refused"
        );
        fs::write(&path, "[1,\n \"x\"]").unwrap();
        assert!(matches!(
            read_json_seed(&path, Sum),
            Err(JsonError::Malformed { line: 2, .. })
        ));
    }

    #[test]
    fn wrong_shape_is_malformed_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shape.json");
        fs::write(&path, "{\"n\": \"one\", \"items\": []}").unwrap();
        assert!(matches!(
            read_json::<Doc>(&path),
            Err(JsonError::Malformed { line: 1, .. })
        ));
    }

    #[test]
    fn truncated_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.json");
        fs::write(&path, "").unwrap();
        assert!(matches!(
            read_json::<Doc>(&path),
            Err(JsonError::Malformed { .. })
        ));
    }

    #[test]
    fn temp_names_are_unique_and_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        let a = write_temp(&path, b"1").unwrap();
        let b = write_temp(&path, b"2").unwrap();
        assert_ne!(a, b);
        assert!(!is_temp_file("doc.json"));
        assert!(!is_temp_file(".lock"));
        assert_eq!(sweep_temp_files(dir.path()).unwrap(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn json_files_and_new_directories_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/doc.json");
        write_json_atomic(&path, &doc(1)).unwrap();
        let temp = write_temp(&path, b"{}").unwrap();
        for (p, want) in [
            (dir.path().join("a"), 0o700),
            (dir.path().join("a/b"), 0o700),
            (path, 0o600),
            (temp, 0o600),
        ] {
            assert_eq!(crate::fs::tests::mode(&p), want, "{}", p.display());
        }
    }

    #[test]
    fn only_exact_temp_names_carry_a_pid() {
        assert_eq!(temp_file_pid(".doc.json.tmp-123-0"), Some(123));
        assert_eq!(temp_file_pid(".a.tmp-b.tmp-7-12"), Some(7));
        for name in [
            "doc.json.tmp-123-0",
            "..tmp-123-0",
            ".tmp-123-0",
            ".doc.json.tmp-123",
            ".doc.json.tmp-123-",
            ".doc.json.tmp--0",
            ".doc.json.tmp-12x-0",
            ".doc.json.tmp-123-0.bak",
            ".doc.json.tmp-99999999999-0",
            ".lock",
        ] {
            assert_eq!(temp_file_pid(name), None, "{name}");
        }
    }

    #[test]
    fn orphan_sweep_removes_dead_writers_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".x.json.tmp-99999999-0");
        let mine = dir
            .path()
            .join(format!(".x.json.tmp-{}-0", std::process::id()));
        let init = dir.path().join(".x.json.tmp-1-0");
        let other = dir.path().join(".x.json.tmp-99999999-0.keep");
        for p in [&dead, &mine, &init, &other] {
            fs::write(p, "").unwrap();
        }
        assert_eq!(sweep_orphaned_temp_files(dir.path()).unwrap(), 1);
        assert!(!dead.exists(), "a dead writer's temp file is removed");
        assert!(mine.exists(), "this process's own temp file is kept");
        assert!(init.exists(), "a live process's temp file is kept");
        assert!(other.exists(), "a name of another form is kept");
    }

    #[test]
    fn orphan_sweep_runs_once_per_directory() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".x.json.tmp-99999999-0");
        fs::write(&dead, "").unwrap();
        assert_eq!(sweep_orphans_once(dir.path()).unwrap(), Some(1));
        fs::write(&dead, "").unwrap();
        assert_eq!(sweep_orphans_once(dir.path()).unwrap(), None);
        assert!(dead.exists(), "the second call does not list the directory");
    }
}
