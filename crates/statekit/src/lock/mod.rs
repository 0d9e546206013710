//! Mutual exclusion for state on disk: across processes and within one.
//!
//! - [`DirLock`] holds an exclusive lock on `{dir}/.lock` (an OS file lock taken with
//!   [`std::fs::File::lock`]). It excludes other processes and, because every
//!   acquisition opens its own file handle, other threads of this process too. The OS
//!   drops the lock when the holder exits, even on `kill -9`, so no stale lock survives
//!   a crash.
//! - [`KeyedMutex`] serialises async work per key (a chat, a property) inside one
//!   process without blocking threads; FIFO-fair, so work on one key runs in the order
//!   it asked for the lock.
//!
//! - [`RwDirLock`] is a reader-writer version of [`DirLock`] across processes: many
//!   short shared holders (a server's writes) or one exclusive holder (a command that
//!   replaces the storage), with waiting writers let in first.
//!
//! Whoever takes a directory's lock (either kind) first in this process also removes
//! the temp files that dead writers left there
//! ([`crate::json::sweep_orphans_once`]): once per directory per process, and never a
//! file of a live process, so it is safe under a shared lock too.
//!
//! A typical async caller takes the [`KeyedMutex`] first (cheap, in-process ordering)
//! and then the [`DirLock`] inside a blocking task (the cross-process guarantee).

use std::collections::HashMap;
use std::fs::{File, TryLockError};
use std::hash::Hash;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

mod rw;
pub use rw::{Access, Busy, GATE_FILE_NAME, RwDirLock};

/// Name of the lock file created inside a locked directory.
pub const LOCK_FILE_NAME: &str = ".lock";

/// Why a directory lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[error("cannot lock {path}")]
pub struct LockError {
    /// The lock file at fault.
    pub path: PathBuf,
    /// The underlying error.
    pub source: io::Error,
}

/// An exclusive lock on a directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
}

impl DirLock {
    /// Blocks until the directory's lock is free, then takes it. Creates the directory
    /// if it is missing.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let (file, path) = open_lock_file(dir)?;
        file.lock().map_err(|source| LockError {
            path: path.clone(),
            source,
        })?;
        sweep_orphans(dir);
        Ok(DirLock { file, path })
    }

    /// Takes the lock if it is free; `Ok(None)` if someone else holds it.
    pub fn try_acquire(dir: &Path) -> Result<Option<DirLock>, LockError> {
        let (file, path) = open_lock_file(dir)?;
        match file.try_lock() {
            Ok(()) => {
                sweep_orphans(dir);
                Ok(Some(DirLock { file, path }))
            }
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(LockError { path, source }),
        }
    }

    /// The lock file this guard holds.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Closing the handle would release it too; unlocking first makes it explicit.
        let _ = self.file.unlock();
    }
}

/// Housekeeping after a lock is taken: a failure to sweep must not fail the write
/// the lock is for, and the next process will try again.
pub(crate) fn sweep_orphans(dir: &Path) {
    let _ = crate::json::sweep_orphans_once(dir);
}

fn open_lock_file(dir: &Path) -> Result<(File, PathBuf), LockError> {
    open_in(dir, LOCK_FILE_NAME)
}

/// Opens (creating it and its directory if missing) the lock file `{dir}/{name}`.
pub(crate) fn open_in(dir: &Path, name: &str) -> Result<(File, PathBuf), LockError> {
    let path = dir.join(name);
    let err = |source| LockError {
        path: path.clone(),
        source,
    };
    crate::fs::create_private_dir_all(dir).map_err(err)?;
    let file = crate::fs::private_file_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(err)?;
    Ok((file, path))
}

/// An in-process async mutex per key. Entries for keys nobody holds are dropped, so
/// the map does not grow with every key ever seen.
#[derive(Debug)]
pub struct KeyedMutex<K> {
    inner: Mutex<Slots<K>>,
}

#[derive(Debug)]
struct Slots<K> {
    map: HashMap<K, Weak<AsyncMutex<()>>>,
    prune_at: usize,
}

/// Holds one key of a [`KeyedMutex`] until dropped.
#[derive(Debug)]
pub struct KeyedGuard<K> {
    key: K,
    _guard: OwnedMutexGuard<()>,
}

impl<K> KeyedGuard<K> {
    /// The key this guard holds.
    pub fn key(&self) -> &K {
        &self.key
    }
}

const MIN_PRUNE_AT: usize = 64;

impl<K: Eq + Hash + Clone> Default for KeyedMutex<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash + Clone> KeyedMutex<K> {
    /// An empty keyed mutex.
    pub fn new() -> Self {
        KeyedMutex {
            inner: Mutex::new(Slots {
                map: HashMap::new(),
                prune_at: MIN_PRUNE_AT,
            }),
        }
    }

    /// Waits for `key` to be free, then holds it. Waiters on one key are served in
    /// the order they arrived.
    pub async fn lock(&self, key: K) -> KeyedGuard<K> {
        let slot = self.slot(&key);
        KeyedGuard {
            key,
            _guard: slot.lock_owned().await,
        }
    }

    /// Holds `key` if it is free right now.
    pub fn try_lock(&self, key: K) -> Option<KeyedGuard<K>> {
        let slot = self.slot(&key);
        let guard = slot.try_lock_owned().ok()?;
        Some(KeyedGuard { key, _guard: guard })
    }

    /// How many keys currently have a live slot (held or waited on).
    pub fn live_keys(&self) -> usize {
        let slots = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        slots.map.values().filter(|w| w.strong_count() > 0).count()
    }

    fn slot(&self, key: &K) -> Arc<AsyncMutex<()>> {
        let mut slots = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.map.get(key).and_then(Weak::upgrade) {
            return slot;
        }
        // Nobody holds or awaits this key, so a fresh mutex is as good as the old one.
        if slots.map.len() >= slots.prune_at {
            slots.map.retain(|_, w| w.strong_count() > 0);
            slots.prune_at = (slots.map.len() * 2).max(MIN_PRUNE_AT);
        }
        let slot = Arc::new(AsyncMutex::new(()));
        slots.map.insert(key.clone(), Arc::downgrade(&slot));
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};

    const CHILD_ENV: &str = "STATEKIT_LOCK_CHILD_DIR";

    /// Runs the named test of this binary in a child process that takes the lock on
    /// `dir`, says "locked", and holds the lock until its stdin closes.
    fn spawn_lock_holder(test_name: &str, dir: &Path) -> std::process::Child {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines.next().expect("child exited before locking").unwrap();
            if line.ends_with("locked") {
                break;
            }
        }
        // Keep reading so the child's last lines never hit a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        child
    }

    /// Child side of the cross-process tests; returns true when running as the child.
    fn act_as_lock_holder_if_child() -> bool {
        let Some(dir) = std::env::var_os(CHILD_ENV) else {
            return false;
        };
        let _lock = DirLock::acquire(Path::new(&dir)).unwrap();
        println!("locked");
        std::io::stdout().flush().unwrap();
        let mut rest = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut rest);
        true
    }

    #[test]
    fn dir_lock_excludes_a_second_process() {
        if act_as_lock_holder_if_child() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut child = spawn_lock_holder(
            "lock::tests::dir_lock_excludes_a_second_process",
            dir.path(),
        );

        assert!(
            DirLock::try_acquire(dir.path()).unwrap().is_none(),
            "the lock must be refused while another process holds it"
        );

        drop(child.stdin.take()); // tell the child to release and exit
        assert!(child.wait().unwrap().success());
        let lock = DirLock::try_acquire(dir.path()).unwrap();
        assert!(lock.is_some(), "free once the other process released it");
    }

    #[test]
    fn dir_lock_is_released_when_the_holder_is_killed() {
        if act_as_lock_holder_if_child() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut child = spawn_lock_holder(
            "lock::tests::dir_lock_is_released_when_the_holder_is_killed",
            dir.path(),
        );
        assert!(DirLock::try_acquire(dir.path()).unwrap().is_none());
        child.kill().unwrap();
        child.wait().unwrap();
        // Blocking acquire: returns only because the OS released the dead holder's lock.
        let lock = DirLock::acquire(dir.path()).unwrap();
        assert!(lock.path().ends_with(LOCK_FILE_NAME));
    }

    #[test]
    fn dir_lock_excludes_another_handle_in_the_same_process() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        assert!(DirLock::try_acquire(dir.path()).unwrap().is_none());
        drop(first);
        assert!(DirLock::try_acquire(dir.path()).unwrap().is_some());
    }

    #[test]
    fn dir_lock_creates_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let lock = DirLock::acquire(&nested).unwrap();
        assert_eq!(lock.path(), nested.join(LOCK_FILE_NAME));
    }

    #[tokio::test]
    async fn keyed_mutex_excludes_same_key_only() {
        let keyed = KeyedMutex::new();
        let a = keyed.lock(1).await;
        assert_eq!(*a.key(), 1);
        assert!(keyed.try_lock(1).is_none());
        let b = keyed.try_lock(2).expect("other keys are independent");
        drop(a);
        assert!(keyed.try_lock(1).is_some());
        drop(b);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keyed_mutex_serialises_read_modify_write() {
        let keyed = Arc::new(KeyedMutex::new());
        let value = Arc::new(Mutex::new(0u32));
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let keyed = Arc::clone(&keyed);
            let value = Arc::clone(&value);
            tasks.push(tokio::spawn(async move {
                let _g = keyed.lock("chat").await;
                let read = *value.lock().unwrap();
                tokio::task::yield_now().await; // give others a chance to interleave
                *value.lock().unwrap() = read + 1;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*value.lock().unwrap(), 200);
    }

    #[tokio::test]
    async fn keyed_mutex_forgets_released_keys() {
        let keyed = KeyedMutex::new();
        for k in 0..1000 {
            let _g = keyed.lock(k).await;
        }
        let held = keyed.lock(5000).await;
        assert_eq!(keyed.live_keys(), 1);
        let slots = keyed.inner.lock().unwrap().map.len();
        assert!(
            slots <= 2 * MIN_PRUNE_AT,
            "map was pruned, has {slots} slots"
        );
        drop(held);
    }
}
