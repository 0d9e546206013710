//! A reader-writer lock on a directory, across processes, that lets writers in.
//!
//! [`RwDirLock`] is held either shared (many holders at once: the short writes of a
//! running server) or exclusive (one holder: a command that replaces the directory's
//! storage). It uses two OS file locks:
//!
//! - `{dir}/.lock`, the lock itself: shared or exclusive. An exclusive holder writes a
//!   line saying who it is into the file, so a command that has to wait can say who
//!   it waits for; the line is cleared on release.
//! - `{dir}/.lock-gate`, a turnstile. A shared holder passes it (takes and releases
//!   it) on the way in; an exclusive holder keeps it for as long as it holds the lock.
//!   So once a command is waiting for the lock, new shared holders queue behind it
//!   and the ones inside drain: a steady stream of short writes cannot starve a
//!   command that needs the directory to itself.
//!
//! As with [`super::DirLock`], every acquisition opens its own handles, so the lock
//! also works between threads of one process, and the OS releases it when the holder
//! dies, even on `kill -9`.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{LOCK_FILE_NAME, LockError};

/// Name of the turnstile file next to [`LOCK_FILE_NAME`].
pub const GATE_FILE_NAME: &str = ".lock-gate";

/// How an [`RwDirLock`] is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// With other shared holders; excludes exclusive ones.
    Shared,
    /// Alone.
    Exclusive,
}

/// The lock is held by someone else (from the `try_` methods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    /// What the exclusive holder wrote about itself, if the holder is exclusive and
    /// said so; `None` when shared holders (or a holder that said nothing) have it.
    pub holder: Option<String>,
}

/// A shared or exclusive lock on a directory, held until dropped.
#[derive(Debug)]
pub struct RwDirLock {
    main: File,
    /// Held for the lifetime of an exclusive lock.
    gate: Option<File>,
    access: Access,
    path: PathBuf,
}

impl RwDirLock {
    /// Blocks until the lock can be held shared. Creates the directory if missing.
    pub fn shared(dir: &Path) -> Result<RwDirLock, LockError> {
        waited_for(
            dir,
            acquire(dir, Access::Shared, None, Some(&mut |_| Ok(()))),
        )
    }

    /// Holds the lock shared if that is possible right now.
    pub fn try_shared(dir: &Path) -> Result<Result<RwDirLock, Busy>, LockError> {
        acquire(dir, Access::Shared, None, None)
    }

    /// Blocks until the lock can be held exclusively, then writes `holder` (who is
    /// asking: a process id and a command line, say) into the lock file. If it has to
    /// wait, `on_wait` is called once first with what the current holder is, so the
    /// caller can say what it waits for.
    pub fn exclusive(
        dir: &Path,
        holder: &str,
        on_wait: impl FnOnce(&Busy),
    ) -> Result<RwDirLock, LockError> {
        let mut on_wait = Some(on_wait);
        let mut waited = |dir: &Path| -> Result<(), LockError> {
            if let Some(f) = on_wait.take() {
                f(&holder_of(dir)?);
            }
            Ok(())
        };
        waited_for(
            dir,
            acquire(dir, Access::Exclusive, Some(holder), Some(&mut waited)),
        )
    }

    /// Holds the lock exclusively if it is free right now (see [`RwDirLock::exclusive`]).
    pub fn try_exclusive(dir: &Path, holder: &str) -> Result<Result<RwDirLock, Busy>, LockError> {
        acquire(dir, Access::Exclusive, Some(holder), None)
    }

    /// How this lock is held.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_holder(&mut self, holder: &str) -> Result<(), LockError> {
        let err = |source| LockError {
            path: self.path.clone(),
            source,
        };
        self.main.set_len(0).map_err(err)?;
        self.main.seek(SeekFrom::Start(0)).map_err(err)?;
        self.main.write_all(holder.as_bytes()).map_err(err)?;
        Ok(())
    }
}

impl Drop for RwDirLock {
    fn drop(&mut self) {
        if self.access == Access::Exclusive {
            // Nobody holds it after us; a stale line would name the wrong holder.
            let _ = self.main.set_len(0);
        }
        let _ = self.main.unlock();
        if let Some(gate) = &self.gate {
            let _ = gate.unlock();
        }
    }
}

/// Called before a wait with the directory; may report whom it waits for.
type OnWait<'a> = &'a mut dyn FnMut(&Path) -> Result<(), LockError>;

/// The protocol, once for all four ways in: pass the turnstile (an exclusive lock on
/// the gate), take the lock itself as asked, then leave the turnstile, or keep it for
/// as long as an exclusive lock is held. With `wait`, a taken lock is waited for (after
/// `wait` hears of it); without, it is [`Busy`].
fn acquire(
    dir: &Path,
    access: Access,
    holder: Option<&str>,
    mut wait: Option<OnWait<'_>>,
) -> Result<Result<RwDirLock, Busy>, LockError> {
    let (gate, gate_path) = open(dir, GATE_FILE_NAME)?;
    if !take(&gate, &gate_path, Access::Exclusive, dir, &mut wait)? {
        return busy(dir);
    }
    let (main, path) = open(dir, LOCK_FILE_NAME)?;
    let taken = take(&main, &path, access, dir, &mut wait);
    let keep_gate = access == Access::Exclusive && matches!(taken, Ok(true));
    if !keep_gate {
        let _ = gate.unlock();
    }
    if !taken? {
        return busy(dir);
    }
    let mut lock = RwDirLock {
        main,
        gate: keep_gate.then_some(gate),
        access,
        path,
    };
    if let Some(holder) = holder {
        lock.write_holder(holder)?;
    }
    super::sweep_orphans(dir);
    Ok(Ok(lock))
}

/// Takes `file`'s OS lock as `access` asks; `Ok(false)` when it is taken and there is
/// no `wait`.
fn take(
    file: &File,
    path: &Path,
    access: Access,
    dir: &Path,
    wait: &mut Option<OnWait<'_>>,
) -> Result<bool, LockError> {
    let err = |source| LockError {
        path: path.to_path_buf(),
        source,
    };
    let tried = match access {
        Access::Shared => file.try_lock_shared(),
        Access::Exclusive => file.try_lock(),
    };
    match tried {
        Ok(()) => Ok(true),
        Err(TryLockError::Error(source)) => Err(err(source)),
        Err(TryLockError::WouldBlock) => match wait {
            None => Ok(false),
            Some(wait) => {
                wait(dir)?;
                match access {
                    Access::Shared => file.lock_shared(),
                    Access::Exclusive => file.lock(),
                }
                .map_err(err)?;
                Ok(true)
            }
        },
    }
}

/// The lock from an [`acquire`] that waited (so it is never [`Busy`]).
fn waited_for(
    dir: &Path,
    got: Result<Result<RwDirLock, Busy>, LockError>,
) -> Result<RwDirLock, LockError> {
    got?.map_err(|_| LockError {
        path: dir.join(LOCK_FILE_NAME),
        source: std::io::ErrorKind::WouldBlock.into(),
    })
}

/// What the lock file says about its holder, as a [`Busy`].
fn busy<T>(dir: &Path) -> Result<Result<T, Busy>, LockError> {
    holder_of(dir).map(Err)
}

fn holder_of(dir: &Path) -> Result<Busy, LockError> {
    let path = dir.join(LOCK_FILE_NAME);
    let mut text = String::new();
    match File::open(&path) {
        // The holder writes its line after it has the lock; an unreadable or
        // half-written line just says less.
        Ok(mut f) => {
            let _ = f.read_to_string(&mut text);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(LockError { path, source }),
    }
    let text = text.trim();
    Ok(Busy {
        holder: (!text.is_empty()).then(|| text.to_string()),
    })
}

fn open(dir: &Path, name: &str) -> Result<(File, PathBuf), LockError> {
    super::open_in(dir, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn shared_holders_coexist_and_exclude_an_exclusive_one() {
        let dir = tempfile::tempdir().unwrap();
        let a = RwDirLock::shared(dir.path()).unwrap();
        let b = RwDirLock::try_shared(dir.path()).unwrap().unwrap();
        assert_eq!(b.access(), Access::Shared);
        let refused = RwDirLock::try_exclusive(dir.path(), "cmd").unwrap();
        assert_eq!(refused.unwrap_err(), Busy { holder: None });
        drop((a, b));
        let x = RwDirLock::try_exclusive(dir.path(), "pid 7: migrate").unwrap();
        assert_eq!(x.unwrap().access(), Access::Exclusive);
    }

    #[test]
    fn an_exclusive_holder_is_named_to_whoever_waits_and_forgotten_on_release() {
        let dir = tempfile::tempdir().unwrap();
        let held = RwDirLock::exclusive(dir.path(), "pid 7: db-migrate x", |_| {
            panic!("the lock was free")
        })
        .unwrap();
        let busy = RwDirLock::try_shared(dir.path()).unwrap().unwrap_err();
        assert_eq!(busy.holder.as_deref(), Some("pid 7: db-migrate x"));
        let busy = RwDirLock::try_exclusive(dir.path(), "other")
            .unwrap()
            .unwrap_err();
        assert_eq!(busy.holder.as_deref(), Some("pid 7: db-migrate x"));
        drop(held);
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE_NAME)).unwrap();
        assert_eq!(text, "", "the holder's line is cleared on release");
    }

    #[test]
    fn a_waiting_exclusive_holder_stops_new_shared_holders_and_gets_in() {
        let dir = tempfile::tempdir().unwrap();
        let reader = RwDirLock::shared(dir.path()).unwrap();
        let (waiting_tx, waiting) = mpsc::channel();
        let (got_tx, got) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        let path = dir.path().to_path_buf();
        let writer = std::thread::spawn(move || {
            let lock = RwDirLock::exclusive(&path, "writer", |busy| {
                waiting_tx.send(busy.clone()).unwrap();
            })
            .unwrap();
            got_tx.send(()).unwrap();
            // Hold it until the main thread has checked that shared holders wait.
            let _ = release.recv();
            drop(lock);
        });
        let busy = waiting.recv().unwrap();
        assert_eq!(busy.holder, None, "shared holders write nothing");
        // The writer holds the turnstile now: a new shared holder must queue.
        assert!(RwDirLock::try_shared(dir.path()).unwrap().is_err());
        assert!(got.try_recv().is_err(), "the writer waits for the reader");
        drop(reader);
        got.recv().unwrap();
        assert!(RwDirLock::try_shared(dir.path()).unwrap().is_err());
        release_tx.send(()).unwrap();
        writer.join().unwrap();
        assert!(RwDirLock::try_shared(dir.path()).unwrap().is_ok());
    }
}
