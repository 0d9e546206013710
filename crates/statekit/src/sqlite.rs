//! SQLite opened the right way, and shared per file.
//!
//! [`open_connection`] creates missing parent directories, sets `busy_timeout` first
//! (so the switch to WAL waits for other connections instead of failing), then
//! `journal_mode=WAL` (and checks that it took: WAL is what lets readers run while a
//! writer holds a transaction), `foreign_keys=ON` and `synchronous` (`FULL` by default,
//! so a committed transaction survives power loss). On Apple targets it also sets
//! `fullfsync` and `checkpoint_fullfsync` ([`FULL_FSYNC`]): there `fsync` does not
//! flush the drive's write cache, only `fcntl(F_FULLFSYNC)` does, and SQLite uses it
//! only when asked. (The file and directory syncs of this crate go through
//! `File::sync_all`, which the standard library already implements with
//! `F_FULLFSYNC` on Apple targets.)
//!
//! [`Database`] owns one writer and a small pool of read-only readers for one file.
//! The writer is a [`group::GroupWriter`]: a thread of its own with the database's
//! only writer connection in this process, which commits the units of work of every
//! caller waiting at that moment in one transaction (group commit), so concurrent
//! durable writes are not capped by the disk's fsync rate. Readers never wait for an
//! open write transaction. [`DatabaseCache`] hands out one [`Database`] per file, so
//! every part of a program shares the same writer, and different files have writers
//! of their own that never wait for each other; [`DatabaseCache::bounded`] keeps at
//! most a given number open (least recently used closed first, never one in use).
//!
//! Other processes writing the same file are ordered by SQLite's lock: each batch is
//! one `BEGIN IMMEDIATE` transaction, which waits for another process's write up to
//! the busy timeout.
//!
//! # Read-only databases
//!
//! With [`OpenOptions::read_only`], every connection of a [`Database`] (its writer's
//! too) is opened `SQLITE_OPEN_READ_ONLY` with `PRAGMA query_only` on: nothing creates
//! a database file or a directory, no journal mode is switched, and any write, a unit
//! of work handed to the writer as much as a statement run by a reader, fails in
//! SQLite with `SQLITE_READONLY`. For programs that must not change the data they
//! serve, whatever their code asks. (SQLite may still create a database's `-wal` and
//! `-shm` files when nobody has it open: they are how a reader shares the database
//! with writers safely, and take the database file's owner-only mode.)
//!
//! Nothing here checkpoints explicitly or vacuums in place (a snapshot is `VACUUM INTO`
//! a new file), which keeps the files safe to replicate with WAL-shipping tools;
//! SQLite's automatic checkpoints stay on.

pub mod group;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use crate::fs::FileId;
use group::{GroupOptions, GroupWriter, WriteError, WriteFailure};

/// Whether SQLite is told to sync with `F_FULLFSYNC` (`PRAGMA fullfsync` and
/// `checkpoint_fullfsync`): on Apple targets, where a plain `fsync` leaves a commit in
/// the drive's write cache, so a power cut could lose an acknowledged write. Elsewhere
/// `fsync` reaches the disk and the pragmas stay off.
pub const FULL_FSYNC: bool = cfg!(target_vendor = "apple");

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// No syncs: fast, loses recent commits on power loss. For throwaway data only.
    Off,
    /// Syncs at checkpoints: in WAL mode a power loss may roll back recent commits.
    Normal,
    /// Syncs every commit: an acknowledged commit survives power loss.
    #[default]
    Full,
    /// Like `Full`, and also syncs the directory after deleting journals.
    Extra,
}

impl Synchronous {
    fn pragma_value(self) -> i64 {
        match self {
            Synchronous::Off => 0,
            Synchronous::Normal => 1,
            Synchronous::Full => 2,
            Synchronous::Extra => 3,
        }
    }
}

/// How to open a database.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Durability of commits; `Full` by default.
    pub synchronous: Synchronous,
    /// How long a statement waits for another connection's lock; 5 s by default.
    pub busy_timeout: Duration,
    /// Most reader connections a [`Database`] has open at once; 4 by default.
    pub max_readers: usize,
    /// Most reader connections a [`Database`] keeps open while nobody reads: a reader
    /// handed back beyond these is closed. As many as `max_readers` by default.
    pub max_idle_readers: usize,
    /// Bounds of a [`Database`]'s writer (batch size, queue).
    pub group: GroupOptions,
    /// Opens every connection read-only (see "Read-only databases" in the module
    /// docs): nothing is created, and every write fails with `SQLITE_READONLY`.
    /// `false` by default.
    pub read_only: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            max_readers: 4,
            max_idle_readers: 4,
            group: GroupOptions::default(),
            read_only: false,
        }
    }
}

impl OpenOptions {
    /// The default options, read-only (see [`OpenOptions::read_only`]).
    pub fn read_only() -> OpenOptions {
        OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        }
    }
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    /// The database file could not be created owner-only before SQLite opened it.
    #[error("cannot create database file {path}")]
    CreateFile {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The parent directory could not be created.
    #[error("cannot create directory {path}")]
    CreateDir {
        /// The directory at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// SQLite refused to open or configure the file.
    #[error("cannot open database {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The opened file could not be identified on disk.
    #[error("cannot identify database file {path}")]
    Identity {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A pragma did not take the value asked for (e.g. WAL on a file system without
    /// shared memory).
    #[error("database {path}: PRAGMA {pragma} is {actual:?}, expected {expected:?}")]
    Pragma {
        /// The database file.
        path: PathBuf,
        /// The pragma's name.
        pragma: &'static str,
        /// What the database reports.
        actual: String,
        /// What was asked for.
        expected: String,
    },
}

/// Opens a configured read-write connection to `path` (see the module docs),
/// creating the file and its parent directories if missing. With
/// [`OpenOptions::read_only`] it is [`open_existing_connection`]: nothing is created.
pub fn open_connection(path: &Path, opts: &OpenOptions) -> Result<Connection, SqliteError> {
    if opts.read_only {
        return open_existing_connection(path, opts);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::fs::create_private_dir_all(parent).map_err(|source| SqliteError::CreateDir {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    // Owner-only before SQLite sees it: SQLite would create it with the umask's mode,
    // and gives the `-wal` and `-shm` files the database file's mode.
    crate::fs::create_private_file(path).map_err(|source| SqliteError::CreateFile {
        path: path.to_path_buf(),
        source,
    })?;
    configure(path, opts, Connection::open(path))
}

/// [`open_connection`] for a database that must exist already: a missing file is an
/// error, never a new empty database. With [`OpenOptions::read_only`] the connection
/// is opened `SQLITE_OPEN_READ_ONLY` with `query_only` on, and its journal mode is
/// left as it is.
pub fn open_existing_connection(
    path: &Path,
    opts: &OpenOptions,
) -> Result<Connection, SqliteError> {
    let opened = Connection::open_with_flags(path, connection_flags(opts));
    if opts.read_only {
        return configure_read_only(path, opts, opened);
    }
    configure(path, opts, opened)
}

/// How connections with `opts` are opened: read-write (never creating), or read-only.
fn connection_flags(opts: &OpenOptions) -> rusqlite::OpenFlags {
    let access = if opts.read_only {
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    access | rusqlite::OpenFlags::SQLITE_OPEN_URI | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// A read-only connection: the busy timeout (a reader may wait for a checkpoint) and
/// `query_only`, checked; nothing else is changed (a read-only connection cannot
/// change the journal mode, and leaves foreign keys to the writers).
fn configure_read_only(
    path: &Path,
    opts: &OpenOptions,
    opened: rusqlite::Result<Connection>,
) -> Result<Connection, SqliteError> {
    let open_err = |source| SqliteError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = opened.map_err(open_err)?;
    conn.busy_timeout(opts.busy_timeout).map_err(open_err)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(open_err)?;
    let on: i64 = conn
        .pragma_query_value(None, "query_only", |r| r.get(0))
        .map_err(open_err)?;
    expect_pragma(path, "query_only", &on.to_string(), "1")?;
    Ok(conn)
}

fn configure(
    path: &Path,
    opts: &OpenOptions,
    opened: rusqlite::Result<Connection>,
) -> Result<Connection, SqliteError> {
    let open_err = |source| SqliteError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = opened.map_err(open_err)?;
    conn.busy_timeout(opts.busy_timeout).map_err(open_err)?;

    let mode = switch_to_wal(&conn, opts.busy_timeout).map_err(open_err)?;
    expect_pragma(path, "journal_mode", &mode, "wal")?;

    conn.pragma_update(None, "foreign_keys", true)
        .map_err(open_err)?;
    let fk: i64 = conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .map_err(open_err)?;
    expect_pragma(path, "foreign_keys", &fk.to_string(), "1")?;

    let sync = opts.synchronous.pragma_value();
    conn.pragma_update(None, "synchronous", sync)
        .map_err(open_err)?;
    for pragma in ["fullfsync", "checkpoint_fullfsync"] {
        conn.pragma_update(None, pragma, FULL_FSYNC)
            .map_err(open_err)?;
    }
    Ok(conn)
}

/// Opens an existing database for reading without changing anything on disk: a
/// cleanly closed database (no `-wal` file) is opened `immutable`, so no `-wal`/`-shm`
/// files are created; otherwise some process has it open (or crashed) and a plain
/// read-only connection reads the WAL too. For dry runs, status and stats.
pub fn open_read_only(path: &Path) -> Result<Connection, SqliteError> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let mode = if Path::new(&wal).exists() {
        "mode=ro"
    } else {
        "immutable=1"
    };
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            '%' => uri.push_str("%25"),
            c => uri.push(c),
        }
    }
    uri.push('?');
    uri.push_str(mode);
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(uri, flags).map_err(|source| SqliteError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// Puts the database in WAL mode and returns the mode it ends in. The switch needs an
/// exclusive lock, and when several connections open a new file at once SQLite can
/// answer "database is locked" without waiting; so a file already in WAL is left
/// alone, and a busy switch is retried until `timeout` has passed.
fn switch_to_wal(conn: &Connection, timeout: Duration) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        let attempt = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .and_then(|mode| {
                if mode.eq_ignore_ascii_case("wal") {
                    Ok(mode)
                } else {
                    conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
                }
            });
        match attempt {
            Ok(mode) => return Ok(mode.to_ascii_lowercase()),
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn expect_pragma(
    path: &Path,
    pragma: &'static str,
    actual: &str,
    expected: &str,
) -> Result<(), SqliteError> {
    if actual == expected {
        return Ok(());
    }
    Err(SqliteError::Pragma {
        path: path.to_path_buf(),
        pragma,
        actual: actual.to_string(),
        expected: expected.to_string(),
    })
}

/// One database file: a writer (a [`GroupWriter`] owning the writer connection) and a
/// pool of read-only readers.
///
/// It stays bound to the file it opened: if that file is replaced or moved away (a
/// rollback, a restore), [`Database::is_current`] turns false and new readers refuse
/// to open, so nothing reads one file and writes another under the same name.
///
/// # Writes
///
/// [`Database::write`] hands a unit of work to the writer and waits for its answer.
/// The unit runs on the writer's thread, inside the transaction of its batch (in a
/// `SAVEPOINT` of its own when the batch is shared), so it is atomic without opening a
/// transaction itself, and it must not: no `BEGIN`, `COMMIT` or `ROLLBACK` in a unit.
/// Its caller is answered only after the `COMMIT` (and its fsync) returned; a unit
/// that fails is rolled back alone and its caller gets its error; units run in order
/// of arrival. Units are `'static`: they own what they use (clone or move it in). Work
/// that manages transactions itself (migrations, bulk loads) uses
/// [`Database::exclusive`]. See [`group`] for the details.
#[derive(Debug)]
pub struct Database {
    path: PathBuf,
    id: FileId,
    opts: OpenOptions,
    writer: GroupWriter,
    readers: Mutex<ReaderPool>,
    reader_free: Condvar,
}

#[derive(Debug)]
struct ReaderPool {
    idle: Vec<Connection>,
    open: usize,
}

impl Database {
    /// Opens (creating if needed) the database at `path`; with
    /// [`OpenOptions::read_only`], only if it exists.
    pub fn open(path: &Path, opts: OpenOptions) -> Result<Database, SqliteError> {
        let writer = open_connection(path, &opts)?;
        Database::with_writer(path, opts, writer)
    }

    /// Opens the database at `path`, which must exist.
    pub fn open_existing(path: &Path, opts: OpenOptions) -> Result<Database, SqliteError> {
        let writer = open_existing_connection(path, &opts)?;
        Database::with_writer(path, opts, writer)
    }

    fn with_writer(
        path: &Path,
        opts: OpenOptions,
        writer: Connection,
    ) -> Result<Database, SqliteError> {
        let id = FileId::of(path)
            .and_then(|id| id.ok_or_else(|| std::io::ErrorKind::NotFound.into()))
            .map_err(|source| SqliteError::Identity {
                path: path.to_path_buf(),
                source,
            })?;
        let writer = GroupWriter::start(writer, opts.group.clone());
        Ok(Database {
            path: path.to_path_buf(),
            id,
            opts,
            writer,
            readers: Mutex::new(ReaderPool {
                idle: Vec::new(),
                open: 0,
            }),
            reader_free: Condvar::new(),
        })
    }

    /// The file this database lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The identity of the file this database opened.
    pub fn file_id(&self) -> FileId {
        self.id
    }

    /// Writes a consistent copy of the database to `target` (which must not exist) with
    /// `VACUUM INTO`, and makes it durable. It reads one snapshot (a read transaction),
    /// so other processes go on writing meanwhile; never a file copy, which would not
    /// be consistent while the database is written to.
    pub fn snapshot_to(&self, target: &Path) -> Result<(), SqliteError> {
        let err = |source| SqliteError::Open {
            path: target.to_path_buf(),
            source,
        };
        let text = target.to_string_lossy().into_owned();
        // `VACUUM INTO` fills an empty file and keeps its mode: owner-only.
        crate::fs::create_private_file(target).map_err(|source| SqliteError::CreateFile {
            path: target.to_path_buf(),
            source,
        })?;
        // A connection of its own (readers are `query_only`, which refuses to write
        // even the copy): it only reads this database, so writes go on meanwhile.
        self.open_side_connection()
            .and_then(|conn| conn.execute("VACUUM INTO ?1", [text]))
            .map_err(err)?;
        let sync = |path: &Path| -> std::io::Result<()> {
            fs::File::open(path)?.sync_all()?;
            match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => crate::fs::fsync_dir(dir),
                _ => Ok(()),
            }
        };
        sync(target).map_err(|source| SqliteError::Identity {
            path: target.to_path_buf(),
            source,
        })
    }

    /// Whether [`Database::path`] still names the file this database opened (it was
    /// not replaced, moved or deleted since).
    pub fn is_current(&self) -> bool {
        FileId::of(&self.path).is_ok_and(|id| id == Some(self.id))
    }

    /// Runs `unit` on the writer, in its next batch, and waits until it is committed
    /// (durably) or failed: see "Writes" above. The unit's own error comes back as
    /// it is; a failure of the batch (or a panic of the unit) as `E::from`.
    pub fn write<T, E, F>(&self, unit: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<WriteFailure> + Send + 'static,
    {
        self.writer.write(unit).map_err(WriteError::flatten)
    }

    /// Runs `job` on the writer's connection alone, outside any transaction, and waits
    /// for it: for migrations and bulk loads, which manage their own transactions
    /// (see [`GroupWriter::exclusive`]).
    pub fn exclusive<T, E, F>(&self, job: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<WriteFailure> + Send + 'static,
    {
        self.writer.exclusive(job).map_err(WriteError::flatten)
    }

    /// The writer itself: to submit without waiting, to see the errors apart, or to
    /// read its counters.
    pub fn writer(&self) -> &GroupWriter {
        &self.writer
    }

    /// Runs `f` on a read-only connection from the pool. Readers see the last
    /// committed state and never wait for an open write transaction.
    pub fn read<R, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, E>,
    ) -> Result<R, E> {
        let conn = self.checkout_reader()?;
        let result = f(&conn);
        self.checkin_reader(conn);
        result
    }

    fn checkout_reader(&self) -> Result<Connection, rusqlite::Error> {
        let mut pool = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(conn);
            }
            if pool.open < self.opts.max_readers.max(1) {
                pool.open += 1;
                drop(pool);
                return self.open_reader().inspect_err(|_| {
                    let mut pool = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
                    pool.open -= 1;
                    self.reader_free.notify_one();
                });
            }
            pool = self
                .reader_free
                .wait(pool)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn checkin_reader(&self, conn: Connection) {
        let mut pool = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        let surplus = if pool.idle.len() < self.opts.max_idle_readers {
            pool.idle.push(conn);
            None
        } else {
            pool.open -= 1;
            Some(conn)
        };
        self.reader_free.notify_one();
        drop(pool);
        // Closed outside the pool's lock.
        drop(surplus);
    }

    /// Reader connections open now (idle or in use).
    pub fn open_readers(&self) -> usize {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
    }

    fn open_reader(&self) -> Result<Connection, rusqlite::Error> {
        let conn = self.open_side_connection()?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    /// A connection beside the writer, to this database's file only (read-only when
    /// the database is).
    fn open_side_connection(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(&self.path, connection_flags(&self.opts))?;
        // The name may lead to another file by now; never read that one as this one.
        if !self.is_current() {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!(
                    "database {} was replaced or moved since it was opened",
                    self.path.display()
                )),
            ));
        }
        conn.busy_timeout(self.opts.busy_timeout)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        Ok(conn)
    }
}

/// Shares one [`Database`] per file across a program, keeping at most a given number
/// open.
///
/// # One writer per file
///
/// The cache never opens a second [`Database`] for a file while a first one is alive,
/// so a process has one writer per file ([`DatabaseCache::evict`], for a file about to
/// be moved or replaced, is the exception it exists for).
///
/// # The bound
///
/// [`DatabaseCache::bounded`] keeps at most `max_open` databases open: opening one
/// more closes the least recently used ones nobody holds. A database someone holds
/// (an [`Arc`] handed out and not dropped) is never closed: closing it would let the
/// next user open a second writer for the same file beside it. So the bound is soft:
/// it is exceeded only while more than `max_open` databases are held at once, by as
/// many as are held, and the surplus is closed by the next open after they are let
/// go. A database closed for the bound finishes the units queued on its writer and
/// ends its writer thread before anyone may open that file again: a user asking for
/// it meanwhile waits for the close.
///
/// One open [`Database`] costs, in file descriptors: its writer connection's database
/// file and `-wal` (2), the `-shm` mapping, once per file (1), and 2 per reader
/// connection (database file and `-wal`), at most [`OpenOptions::max_readers`] while
/// reads run and [`OpenOptions::max_idle_readers`] once they are done; and at most one
/// writer thread, which ends when idle ([`GroupOptions::idle`]).
#[derive(Debug, Default)]
pub struct DatabaseCache {
    opts: OpenOptions,
    /// `None`: unbounded.
    max_open: Option<usize>,
    state: Mutex<CacheState>,
    /// Signalled when databases closed for the bound are closed.
    closed: Condvar,
}

#[derive(Debug, Default)]
struct CacheState {
    /// By canonical path.
    open: HashMap<PathBuf, Cached>,
    /// Each spelling asked for, to its canonical path.
    spellings: HashMap<PathBuf, PathBuf>,
    /// Bumped by every use, to tell the least recently used.
    clock: u64,
    /// Canonical paths of databases being closed for the bound: not reopened until
    /// they are.
    closing: std::collections::HashSet<PathBuf>,
}

#[derive(Debug)]
struct Cached {
    db: Arc<Database>,
    used: u64,
}

impl CacheState {
    fn touch(&mut self, key: &Path) -> Option<Arc<Database>> {
        self.clock += 1;
        let clock = self.clock;
        self.open.get_mut(key).map(|c| {
            c.used = clock;
            Arc::clone(&c.db)
        })
    }

    /// Forgets the database at canonical `key` and every spelling of it.
    fn forget(&mut self, key: &Path) -> Option<Arc<Database>> {
        let gone = self.open.remove(key)?;
        self.spellings.retain(|_, k| k != key);
        Some(gone.db)
    }

    /// Takes out the least recently used databases nobody holds until at most `max`
    /// are open (or none is left to take), marking them closing.
    fn trim(&mut self, max: usize) -> Vec<(PathBuf, Arc<Database>)> {
        let mut out = Vec::new();
        while self.open.len() > max {
            // Only this map holds it, and handing out a clone needs this lock.
            let victim = self
                .open
                .iter()
                .filter(|(_, c)| Arc::strong_count(&c.db) == 1)
                .min_by_key(|(_, c)| c.used)
                .map(|(k, _)| k.clone());
            let Some(key) = victim else { break };
            if let Some(db) = self.forget(&key) {
                self.closing.insert(key.clone());
                out.push((key, db));
            }
        }
        out
    }
}

impl DatabaseCache {
    /// An unbounded cache whose databases open with `opts`.
    pub fn new(opts: OpenOptions) -> Self {
        DatabaseCache {
            opts,
            ..DatabaseCache::default()
        }
    }

    /// A cache keeping at most `max_open` databases open (at least 1), least recently
    /// used closed first; see "The bound" above.
    pub fn bounded(opts: OpenOptions, max_open: usize) -> Self {
        DatabaseCache {
            opts,
            max_open: Some(max_open.max(1)),
            ..DatabaseCache::default()
        }
    }

    /// Whether its databases are opened read-only ([`OpenOptions::read_only`]).
    pub fn read_only(&self) -> bool {
        self.opts.read_only
    }

    /// The bound, if any.
    pub fn max_open(&self) -> Option<usize> {
        self.max_open
    }

    /// How many databases are open in the cache now.
    pub fn open_count(&self) -> usize {
        self.lock().open.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The database at `path`, opened (and created if missing, unless the cache opens
    /// databases read-only) on first use. Two spellings of one file give the same
    /// [`Database`]. A file replaced since it was
    /// opened (compared by device and inode) is opened afresh: a cached handle never
    /// writes to a file that is no longer at `path`.
    pub fn get(&self, path: &Path) -> Result<Arc<Database>, SqliteError> {
        self.lookup(path, true)?
            .ok_or_else(|| SqliteError::Identity {
                path: path.to_path_buf(),
                source: std::io::ErrorKind::NotFound.into(),
            })
    }

    /// [`DatabaseCache::get`] for a database that must exist: `Ok(None)` when there is
    /// no file at `path` (and nothing is created).
    pub fn get_existing(&self, path: &Path) -> Result<Option<Arc<Database>>, SqliteError> {
        self.lookup(path, false)
    }

    fn lookup(&self, path: &Path, create: bool) -> Result<Option<Arc<Database>>, SqliteError> {
        let create = create && !self.opts.read_only;
        // Handles let go of here (a replaced file's) close outside the lock.
        let mut stale = Vec::new();
        {
            let mut state = self.lock();
            if let Some(key) = state.spellings.get(path).cloned() {
                match state.touch(&key) {
                    Some(db) if db.is_current() => return Ok(Some(db)),
                    Some(_) => stale.extend(state.forget(&key)),
                    None => {}
                }
            }
        }
        stale.clear();
        if !create && !path.exists() {
            return Ok(None);
        }
        let key = cache_key(path)?;
        let mut state = self.lock();
        while state.closing.contains(&key) {
            state = self
                .closed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let cached = state.touch(&key);
        let db = match cached {
            Some(db) if db.is_current() => db,
            replaced => {
                // Opened under the lock: two users never open one file twice.
                let opened = if create {
                    Database::open(&key, self.opts.clone())
                } else {
                    match Database::open_existing(&key, self.opts.clone()) {
                        Err(_) if !key.exists() => return Ok(None),
                        other => other,
                    }
                };
                let db = Arc::new(opened?);
                stale.extend(replaced);
                stale.extend(state.forget(&key));
                state.clock += 1;
                let used = state.clock;
                state.open.insert(
                    key.clone(),
                    Cached {
                        db: Arc::clone(&db),
                        used,
                    },
                );
                db
            }
        };
        state.spellings.insert(key.clone(), key.clone());
        state.spellings.insert(path.to_path_buf(), key);
        let closing = match self.max_open {
            Some(max) => state.trim(max),
            None => Vec::new(),
        };
        drop(state);
        drop(stale);
        if !closing.is_empty() {
            let keys: Vec<PathBuf> = closing.iter().map(|(k, _)| k.clone()).collect();
            // Finishes their queued units and ends their writer threads.
            drop(closing);
            let mut state = self.lock();
            for key in &keys {
                state.closing.remove(key);
            }
            self.closed.notify_all();
        }
        Ok(Some(db))
    }

    /// Forgets the database at `path` (call before moving or deleting the file). Its
    /// connections close when the last user drops its handle.
    pub fn evict(&self, path: &Path) {
        let gone = {
            let mut state = self.lock();
            let key = state
                .spellings
                .get(path)
                .cloned()
                .or_else(|| cache_key(path).ok());
            key.and_then(|key| state.forget(&key))
        };
        drop(gone);
    }
}

/// The canonical spelling of `path`: canonical parent directory plus file name.
fn cache_key(path: &Path) -> Result<PathBuf, SqliteError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mkerr = |source| SqliteError::CreateDir {
        path: parent.to_path_buf(),
        source,
    };
    crate::fs::create_private_dir_all(parent).map_err(mkerr)?;
    let parent = parent.canonicalize().map_err(mkerr)?;
    Ok(match path.file_name() {
        Some(name) => parent.join(name),
        None => parent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Weak, mpsc};

    /// An application's error type: its own errors beside the writer's.
    #[derive(Debug, thiserror::Error)]
    enum TestError {
        #[error(transparent)]
        Sqlite(#[from] rusqlite::Error),
        #[error(transparent)]
        Write(#[from] WriteFailure),
    }

    fn pragma(conn: &Connection, name: &str) -> String {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| {
            r.get::<_, rusqlite::types::Value>(0)
        })
        .map(|v| match v {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
        .unwrap()
    }

    #[test]
    fn opens_in_wal_with_foreign_keys_full_sync_and_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/app.db");
        let conn = open_connection(&path, &OpenOptions::default()).unwrap();
        assert!(path.exists(), "parent directories are created");
        assert_eq!(pragma(&conn, "journal_mode"), "wal");
        assert_eq!(pragma(&conn, "foreign_keys"), "1");
        assert_eq!(pragma(&conn, "synchronous"), "2");
        assert_eq!(pragma(&conn, "busy_timeout"), "5000");
    }

    #[test]
    fn full_fsync_is_on_exactly_on_apple_targets() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("app.db"), &OpenOptions::default()).unwrap();
        let want = if cfg!(target_vendor = "apple") {
            "1"
        } else {
            "0"
        };
        assert_eq!(FULL_FSYNC, want == "1");
        assert_eq!(pragma(&conn, "fullfsync"), want);
        assert_eq!(pragma(&conn, "checkpoint_fullfsync"), want);
    }

    /// Whether SQLite refused with `SQLITE_READONLY`, here or in the error's causes
    /// (a batch's `BEGIN` that failed, say).
    fn is_read_only_error(e: &TestError) -> bool {
        let read_only =
            |e: &rusqlite::Error| e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly);
        if let TestError::Sqlite(e) = e {
            return read_only(e);
        }
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            // A batch's error is shared by its callers, in an `Arc`.
            let sqlite = c
                .downcast_ref::<rusqlite::Error>()
                .or_else(|| c.downcast_ref::<Arc<rusqlite::Error>>().map(|e| &**e));
            if sqlite.is_some_and(read_only) {
                return true;
            }
            cause = c.source();
        }
        false
    }

    /// A read-only database refuses every write at SQLite, through its writer as
    /// through its readers, and creates nothing: not a missing file, not its folder.
    #[test]
    fn a_write_through_a_read_only_database_fails_with_sqlite_readonly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro.db");
        Database::open(&path, OpenOptions::default())
            .unwrap()
            .write(|c| {
                Ok::<_, TestError>(
                    c.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)")?,
                )
            })
            .unwrap();

        let cache = DatabaseCache::new(OpenOptions::read_only());
        let db = cache.get(&path).unwrap();
        assert_eq!(count(&db, "t"), 1, "it reads");
        let through_writer = db
            .write(|c| Ok::<_, TestError>(c.execute("INSERT INTO t VALUES (2)", [])?))
            .unwrap_err();
        assert!(is_read_only_error(&through_writer), "{through_writer:?}");
        let through_exclusive = db
            .exclusive(|c| Ok::<_, TestError>(c.execute_batch("CREATE TABLE u (v INTEGER)")?))
            .unwrap_err();
        assert!(
            is_read_only_error(&through_exclusive),
            "{through_exclusive:?}"
        );
        let through_reader = db
            .read(|c| c.execute("DELETE FROM t", []).map_err(TestError::from))
            .unwrap_err();
        assert!(is_read_only_error(&through_reader), "{through_reader:?}");
        let direct = open_existing_connection(&path, &OpenOptions::read_only()).unwrap();
        assert_eq!(pragma(&direct, "query_only"), "1");
        let err = direct.execute("UPDATE t SET v = 3", []).unwrap_err();
        assert_eq!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::ReadOnly));
        assert_eq!(count(&db, "t"), 1, "nothing changed");

        let missing = dir.path().join("nested/missing.db");
        assert!(cache.get(&missing).is_err());
        assert!(cache.get_existing(&missing).unwrap().is_none());
        assert!(open_connection(&missing, &OpenOptions::read_only()).is_err());
        assert!(
            !dir.path().join("nested").exists(),
            "no file, no folder created"
        );
    }

    #[test]
    fn many_connections_can_open_a_new_file_at_once() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("race-{round}.db"));
            let barrier = std::sync::Barrier::new(8);
            std::thread::scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| {
                        barrier.wait();
                        let conn = open_connection(&path, &OpenOptions::default()).unwrap();
                        assert_eq!(pragma(&conn, "journal_mode"), "wal");
                    });
                }
            });
        }
    }

    #[test]
    fn synchronous_and_busy_timeout_are_configurable() {
        let dir = tempfile::tempdir().unwrap();
        let opts = OpenOptions {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_millis(250),
            ..OpenOptions::default()
        };
        let conn = open_connection(&dir.path().join("a.db"), &opts).unwrap();
        assert_eq!(pragma(&conn, "synchronous"), "1");
        assert_eq!(pragma(&conn, "busy_timeout"), "250");
    }

    #[test]
    fn foreign_keys_are_enforced_on_writer_and_readers() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("fk.db"), OpenOptions::default()).unwrap();
        db.writer()
            .write(|c| {
                c.execute_batch(
                    "CREATE TABLE p(id INTEGER PRIMARY KEY);
                 CREATE TABLE c(p INTEGER NOT NULL REFERENCES p(id));",
                )
            })
            .unwrap();
        let err = db
            .write(|c| Ok::<_, TestError>(c.execute("INSERT INTO c(p) VALUES (42)", [])?))
            .unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
        let fk: i64 = db
            .read(|c| c.query_row("PRAGMA foreign_keys", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn readers_are_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("ro.db"), OpenOptions::default()).unwrap();
        db.writer()
            .write(|c| c.execute_batch("CREATE TABLE t(x)"))
            .unwrap();
        assert!(
            db.read(|c| c.execute("INSERT INTO t VALUES (1)", []))
                .is_err()
        );
    }

    /// Holds a write transaction open on another thread while this one reads.
    #[test]
    fn readers_complete_while_a_write_transaction_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let db =
            Arc::new(Database::open(&dir.path().join("rw.db"), OpenOptions::default()).unwrap());
        db.writer()
            .write(|c| c.execute_batch("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1);"))
            .unwrap();

        let (in_tx_tx, in_tx_rx) = mpsc::channel();
        let (commit_tx, commit_rx) = mpsc::channel::<()>();
        let writer = {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                // The unit runs inside the writer's transaction: it holds the write
                // lock with its row uncommitted until it returns.
                db.writer().write(move |c| {
                    c.execute("INSERT INTO t VALUES (2)", [])?;
                    in_tx_tx.send(()).unwrap();
                    commit_rx.recv().unwrap();
                    Ok::<_, rusqlite::Error>(())
                })
            })
        };
        in_tx_rx.recv().unwrap();

        // The writer now holds RESERVED with an uncommitted row: readers still answer,
        // from the last committed state, on several pooled connections at once.
        let counts: Vec<i64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        db.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(counts, vec![1, 1, 1]);

        commit_tx.send(()).unwrap();
        writer.join().unwrap().unwrap();
        let after: i64 = db
            .read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(after, 2);
    }

    #[test]
    fn readers_on_another_connection_are_not_blocked_by_a_foreign_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let db = Database::open(&path, OpenOptions::default()).unwrap();
        db.writer()
            .write(|c| c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);"))
            .unwrap();
        let mut other = open_connection(&path, &OpenOptions::default()).unwrap();
        let tx = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .unwrap();
        tx.execute("INSERT INTO t VALUES (2)", []).unwrap();
        let n: i64 = db
            .read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 1);
        tx.rollback().unwrap();
    }

    #[test]
    fn read_only_open_leaves_a_closed_database_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd?name#%.db");
        {
            let db = Database::open(&path, OpenOptions::default()).unwrap();
            db.writer()
                .write(|c| c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (7);"))
                .unwrap();
        }
        let names = || {
            let mut n: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            n.sort();
            n
        };
        let (before, bytes) = (names(), fs::read(&path).unwrap());
        let conn = open_read_only(&path).unwrap();
        let x: i64 = conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 7);
        assert!(
            conn.execute("INSERT INTO t VALUES (8)", []).is_err(),
            "read-only"
        );
        drop(conn);
        assert_eq!(names(), before, "no -wal or -shm left behind");
        assert_eq!(fs::read(&path).unwrap(), bytes);
        assert!(open_read_only(&dir.path().join("missing.db")).is_err());
    }

    #[test]
    fn reader_pool_is_bounded_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let opts = OpenOptions {
            max_readers: 2,
            ..OpenOptions::default()
        };
        let db = Database::open(&dir.path().join("p.db"), opts).unwrap();
        for _ in 0..10 {
            db.read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
                .unwrap();
        }
        let pool = db.readers.lock().unwrap();
        assert_eq!(pool.open, 1, "sequential reads reuse one connection");
    }

    #[test]
    fn cache_returns_one_database_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DatabaseCache::new(OpenOptions::default());
        let a = cache.get(&dir.path().join("db/one.db")).unwrap();
        let b = cache.get(&dir.path().join("db/../db/./one.db")).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache.get(&dir.path().join("db/two.db")).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        cache.evict(&dir.path().join("db/one.db"));
        let d = cache.get(&dir.path().join("db/one.db")).unwrap();
        assert!(!Arc::ptr_eq(&a, &d), "evicted entries are reopened");
    }

    #[test]
    fn the_cache_closes_the_least_recently_used_database_beyond_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DatabaseCache::bounded(OpenOptions::default(), 2);
        let path = |n: &str| dir.path().join(format!("{n}.db"));
        let a = Arc::downgrade(&cache.get(&path("a")).unwrap());
        let b = Arc::downgrade(&cache.get(&path("b")).unwrap());
        assert_eq!(cache.open_count(), 2);
        // A used after B: B is the least recently used when C opens.
        let a_again = cache.get(&path("a")).unwrap();
        assert!(Weak::ptr_eq(&a, &Arc::downgrade(&a_again)));
        drop(a_again);
        let c = cache.get(&path("c")).unwrap();
        assert_eq!(cache.open_count(), 2);
        assert!(b.upgrade().is_none(), "B was closed");
        assert!(a.upgrade().is_some(), "A was kept");
        // B opens afresh, closing A (least recently used now; C is held).
        let b2 = cache.get(&path("b")).unwrap();
        assert!(a.upgrade().is_none());
        assert_eq!(cache.open_count(), 2);
        drop((b2, c));
    }

    #[test]
    fn a_held_database_is_never_closed_and_the_surplus_goes_once_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DatabaseCache::bounded(OpenOptions::default(), 2);
        let path = |n: &str| dir.path().join(format!("{n}.db"));
        let held: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|n| cache.get(&path(n)).unwrap())
            .collect();
        assert_eq!(cache.open_count(), 3, "all held: the bound is exceeded");
        let a = cache.get(&path("a")).unwrap();
        assert!(
            Arc::ptr_eq(&a, &held[0]),
            "one database per file, held or not"
        );
        let weak: Vec<_> = held.iter().map(Arc::downgrade).collect();
        drop(held);
        // A is still held; B and C are not: the next open trims to the bound.
        let d = cache.get(&path("d")).unwrap();
        assert_eq!(cache.open_count(), 2);
        assert!(weak[0].upgrade().is_some());
        assert!(weak[1].upgrade().is_none() && weak[2].upgrade().is_none());
        drop((a, d));
    }

    /// A database closed for the bound finishes the unit queued on its writer before
    /// the file is opened again: there is never a second writer beside it.
    #[test]
    fn a_database_closed_for_the_bound_is_reopened_only_once_closed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DatabaseCache::bounded(OpenOptions::default(), 1);
        let a_path = dir.path().join("a.db");
        let a = cache.get(&a_path).unwrap();
        a.write(|c| Ok::<_, TestError>(c.execute_batch("CREATE TABLE t (v INTEGER)")?))
            .unwrap();
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let queued = a.writer().submit(move |c: &Connection| {
            started_tx.send(()).unwrap();
            let _ = released.recv();
            c.execute("INSERT INTO t VALUES (1)", [])
        });
        started.recv().unwrap();
        let weak_a = Arc::downgrade(&a);
        drop(a);
        std::thread::scope(|s| {
            // Opening B closes A, which waits for its queued unit.
            let (cache, dir) = (&cache, &dir);
            let b = s.spawn(move || drop(cache.get(&dir.path().join("b.db")).unwrap()));
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while weak_a.upgrade().is_some() {
                assert!(std::time::Instant::now() < deadline, "A was never closed");
                std::thread::yield_now();
            }
            let (again_tx, again) = mpsc::channel();
            let a_path = &a_path;
            s.spawn(move || {
                let a = cache.get(a_path).unwrap();
                let n: i64 = a
                    .read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
                    .unwrap();
                again_tx.send(n).unwrap();
            });
            assert!(
                again.recv_timeout(Duration::from_millis(200)).is_err(),
                "A reopened while its closing writer still had a unit"
            );
            assert!(!b.is_finished(), "B's open is closing A");
            release.send(()).unwrap();
            assert_eq!(again.recv().unwrap(), 1, "the queued unit committed first");
        });
        queued.wait().unwrap();
    }

    #[test]
    fn idle_readers_beyond_their_bound_are_closed() {
        let dir = tempfile::tempdir().unwrap();
        let opts = OpenOptions {
            max_readers: 3,
            max_idle_readers: 1,
            ..OpenOptions::default()
        };
        let db = Database::open(&dir.path().join("r.db"), opts).unwrap();
        let barrier = std::sync::Barrier::new(3);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    db.read(|c| {
                        barrier.wait();
                        c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                    })
                    .unwrap();
                });
            }
        });
        assert_eq!(db.open_readers(), 1, "one reader kept, two closed");
    }

    /// What one open database costs in file descriptors: the database file and the
    /// `-wal` per connection, the `-shm` once.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_open_database_costs_two_descriptors_per_connection_and_one_for_shm() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fd.db");
        let fds = |suffix: &str| {
            let target = format!("{}{suffix}", path.display());
            fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| fs::read_link(e.unwrap().path()).ok())
                .filter(|l| l.to_string_lossy() == target)
                .count()
        };
        let opts = OpenOptions {
            max_idle_readers: 1,
            ..OpenOptions::default()
        };
        let db = Database::open(&path, opts).unwrap();
        db.write(|c| Ok::<_, TestError>(c.execute_batch("CREATE TABLE t (v INTEGER)")?))
            .unwrap();
        db.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)))
            .unwrap();
        assert_eq!(
            (fds(""), fds("-wal"), fds("-shm")),
            (2, 2, 1),
            "writer and one idle reader"
        );
        drop(db);
        assert_eq!((fds(""), fds("-wal"), fds("-shm")), (0, 0, 0));
    }

    #[test]
    fn the_cache_reopens_a_replaced_file_and_never_creates_an_existing_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let cache = DatabaseCache::new(OpenOptions::default());
        assert!(cache.get_existing(&path).unwrap().is_none());
        assert!(!path.exists(), "get_existing creates nothing");
        let first = cache.get(&path).unwrap();
        first
            .writer()
            .write(|c| c.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('old')"))
            .unwrap();
        // Another process moves the database aside with its sidecars (a rollback) and
        // puts a new one in its place (a re-migration), while this handle stays open.
        crate::archive::archive_database(dir.path(), "p.db", "_aside", jiff::Timestamp::now())
            .unwrap()
            .unwrap();
        let other = dir.path().join("new.db");
        let conn = open_connection(&other, &OpenOptions::default()).unwrap();
        conn.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('new')")
            .unwrap();
        drop(conn);
        std::fs::rename(&other, &path).unwrap();
        assert!(!first.is_current());
        let stale_read =
            first.read(|c| c.query_row("SELECT v FROM t", [], |r| r.get::<_, String>(0)));
        assert!(
            stale_read.unwrap_err().to_string().contains("replaced"),
            "a stale handle opens no reader on the new file"
        );
        let second = cache.get_existing(&path).unwrap().unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        second
            .writer()
            .write(|c| c.execute("INSERT INTO t VALUES ('after')", []))
            .unwrap();
        let rows: Vec<String> = second
            .read(|c| {
                let mut s = c.prepare("SELECT v FROM t ORDER BY rowid")?;
                s.query_map([], |r| r.get(0))?.collect()
            })
            .unwrap();
        assert_eq!(
            rows,
            ["new", "after"],
            "the write went to the file now at the path"
        );
        std::fs::remove_file(&path).unwrap();
        assert!(cache.get_existing(&path).unwrap().is_none());
    }

    #[test]
    fn a_snapshot_holds_what_was_committed_while_a_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("live.db"), OpenOptions::default()).unwrap();
        db.writer()
            .write(|c| c.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);"))
            .unwrap();
        // Another process is half-way through a write.
        let other = open_connection(&dir.path().join("live.db"), &OpenOptions::default()).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2);")
            .unwrap();
        let snap = dir.path().join("snap.db");
        db.snapshot_to(&snap).unwrap();
        other.execute_batch("COMMIT").unwrap();
        let copy = open_read_only(&snap).unwrap();
        let n: i64 = copy
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "the uncommitted row is not in the snapshot");
        assert!(
            db.snapshot_to(&snap).is_err(),
            "never over an existing file"
        );
    }

    fn count(db: &Database, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        db.read(|c| c.query_row(&sql, [], |r| r.get(0))).unwrap()
    }

    #[test]
    fn writes_to_two_databases_do_not_wait_for_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DatabaseCache::new(OpenOptions::default());
        let a = cache.get(&dir.path().join("a/p.db")).unwrap();
        let b = cache.get(&dir.path().join("b/p.db")).unwrap();
        for db in [&a, &b] {
            db.writer()
                .write(|c| c.execute_batch("CREATE TABLE t (v INTEGER)"))
                .unwrap();
        }
        // A unit of A blocks on A's writer thread, inside A's transaction...
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let held = a.writer().submit(move |c: &Connection| {
            c.execute("INSERT INTO t VALUES (1)", [])?;
            started_tx.send(()).unwrap();
            let _ = released.recv();
            Ok::<_, rusqlite::Error>(())
        });
        started.recv().unwrap();
        // ...while B's writes, from several threads, commit meanwhile.
        std::thread::scope(|s| {
            for v in 0..4 {
                let b = &b;
                s.spawn(move || {
                    b.write(move |c| {
                        Ok::<_, TestError>(c.execute("INSERT INTO t VALUES (?1)", [v])?)
                    })
                    .unwrap();
                });
            }
        });
        assert_eq!(count(&b, "t"), 4);
        assert_eq!(count(&a, "t"), 0, "A's unit is still open");
        release.send(()).unwrap();
        held.wait().unwrap();
        assert_eq!(count(&a, "t"), 1);
    }

    #[test]
    fn a_unit_runs_inside_the_writers_transaction_and_exclusive_work_outside() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("x.db"), OpenOptions::default()).unwrap();
        let in_tx = db
            .write(|c| Ok::<_, TestError>(!c.is_autocommit()))
            .unwrap();
        assert!(in_tx);
        let nested = db
            .write(|c| Ok::<_, TestError>(c.execute_batch("BEGIN")?))
            .unwrap_err();
        assert!(
            nested.to_string().contains("within a transaction"),
            "{nested}"
        );
        // Work that manages its own transactions (a migration) runs alone, outside.
        let created = db
            .exclusive(|c| {
                let tx = c.transaction()?;
                tx.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);")?;
                tx.commit()?;
                Ok::<_, TestError>(c.is_autocommit())
            })
            .unwrap();
        assert!(created);
        assert_eq!(count(&db, "t"), 1);
    }

    /// A writer elsewhere (another process's connection) holds the write lock for a
    /// while: the batch's `BEGIN IMMEDIATE` waits on the busy timeout, then commits.
    #[test]
    fn a_write_waits_for_a_writer_of_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let db = Database::open(&path, OpenOptions::default()).unwrap();
        db.writer()
            .write(|c| c.execute_batch("CREATE TABLE t (v INTEGER)"))
            .unwrap();
        let other = open_connection(&path, &OpenOptions::default()).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        let (done_tx, done) = mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let r =
                    db.write(|c| Ok::<_, TestError>(c.execute("INSERT INTO t VALUES (2)", [])?));
                done_tx.send(r.map_err(|e| e.to_string())).unwrap();
            });
            assert!(
                done.recv_timeout(Duration::from_millis(300)).is_err(),
                "the write waits while the other connection holds the lock"
            );
            other.execute_batch("COMMIT").unwrap();
            assert_eq!(done.recv().unwrap(), Ok(1));
        });
        assert_eq!(count(&db, "t"), 2);
    }

    const WRITER_CHILD_ENV: &str = "STATEKIT_SQLITE_WRITER_CHILD_DB";

    /// Writes `rows` rows from four threads through a `Database` of its own.
    fn write_rows(path: &Path, process: i64, rows: i64) {
        let db = Database::open(path, OpenOptions::default()).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let db = &db;
                s.spawn(move || {
                    for i in 0..rows / 4 {
                        let v = process * 1_000_000 + t * 10_000 + i;
                        db.write(move |c| {
                            Ok::<_, TestError>(c.execute("INSERT INTO t VALUES (?1)", [v])?)
                        })
                        .unwrap();
                    }
                });
            }
        });
    }

    /// Two processes, each with its own `Database` (its own writer thread), write the
    /// same file at once: SQLite's lock orders their batches, and every row lands.
    #[test]
    fn two_processes_write_one_file_at_once() {
        const ROWS: i64 = 400;
        if let Some(path) = std::env::var_os(WRITER_CHILD_ENV) {
            write_rows(Path::new(&path), 2, ROWS);
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        Database::open(&path, OpenOptions::default())
            .unwrap()
            .writer()
            .write(|c| c.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)"))
            .unwrap();
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "sqlite::tests::two_processes_write_one_file_at_once",
                "--exact",
                "--test-threads=1",
            ])
            .env(WRITER_CHILD_ENV, &path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        write_rows(&path, 1, ROWS);
        let status = child.wait_with_output().unwrap().status;
        assert!(status.success(), "the other process failed: {status:?}");
        let db = Database::open(&path, OpenOptions::default()).unwrap();
        assert_eq!(count(&db, "t"), 2 * ROWS);
    }
}
