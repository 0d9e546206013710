//! Group commit: many callers' small write transactions made durable by one commit.
//!
//! With `synchronous=FULL` every commit waits for an fsync, so writers that each commit
//! their own transaction are capped by the disk's fsync rate however many they are. A
//! [`GroupWriter`] owns a database's writer connection and a thread that writes with
//! it; callers hand it units of work, and it commits every unit waiting at that moment
//! in one transaction, with one fsync.
//!
//! # Guarantee
//!
//! A unit's caller is answered only after the `COMMIT` that holds the unit has
//! returned, fsync included (with the connection's `synchronous`, `FULL` by default):
//! an `Ok` answer means the unit's changes are durable. Isolation is that of one
//! writer: a unit sees the committed database plus the changes of the units before it
//! in its batch, and nothing else writes in between.
//!
//! # Batching rule
//!
//! The writer blocks on its queue; when it wakes it takes the unit that woke it and
//! every unit already queued behind it, up to [`GroupOptions::max_batch`], and runs
//! them in arrival order in one `BEGIN IMMEDIATE ... COMMIT`, each inside its own
//! `SAVEPOINT`. It never waits for company: a lone writer's unit is committed at once
//! (and a batch of one runs without a savepoint, exactly like a plain transaction).
//! Units that arrive while a batch commits form the next batch.
//!
//! A lone writer does not even pay for the hand-over to the writer thread: when
//! [`GroupWriter::write`] finds nothing queued or running, it takes the connection
//! and commits its unit on its own thread, as a batch of one. Units that arrive
//! meanwhile queue for the writer thread, which waits for the connection and then
//! commits them together; so under load every unit still goes through the batches.
//! The writer thread is started the first time a unit has to queue, so a database
//! that is only ever written by one caller at a time costs no thread.
//!
//! # Idle writer thread
//!
//! A writer thread that has had nothing to do for [`GroupOptions::idle`] ends, and the
//! next unit that has to queue starts a new one: a program holding many databases
//! open (one per property) keeps threads only for those written lately. No unit is
//! lost or reordered by this: the ending thread first takes its queue away from the
//! writer (under the lock callers take to reach the queue), then commits whatever
//! was handed to it before that, and only stops when the last caller holding its queue
//! has let go. A unit handed over after that starts a new thread, which waits for the
//! old one to end before it runs anything, so units handed over from one thread still
//! commit in the order handed over.
//!
//! The queue holds at most [`GroupOptions::queue`] units; beyond that
//! [`GroupWriter::submit`] blocks, so callers slow down to the disk's pace instead of
//! piling up memory.
//!
//! # Failure
//!
//! - A unit that returns `Err` (or panics) is rolled back to its savepoint alone; its
//!   caller gets its own error ([`WriteError::Unit`], [`WriteError::Panicked`]) and
//!   the other units of the batch commit. The writer survives a panic.
//! - If `BEGIN`, a savepoint or the `COMMIT` fails, the batch is rolled back and every
//!   caller of that batch whose unit succeeded gets the batch's error
//!   ([`WriteError::Begin`], [`WriteError::Savepoint`], [`WriteError::Commit`]);
//!   nothing of the batch is committed. A deferred constraint (a `DEFERRABLE
//!   INITIALLY DEFERRED` foreign key) that a unit leaves violated is only checked at
//!   `COMMIT`, so it fails the whole batch: keep constraints immediate (SQLite's
//!   default) on tables written through group commit.
//! - A unit must not end the transaction it runs in (`COMMIT`, `ROLLBACK`, or
//!   `RELEASE` of a savepoint it did not open). When the transaction has ended after a
//!   unit (that, or SQLite rolling it back after an I/O error or a full disk), the
//!   units of the batch so far that succeeded get [`WriteError::TransactionEnded`]
//!   (their outcome is unknown), those that failed their own error, and the units
//!   after it run in a fresh transaction.
//! - A unit must not submit work to its own writer: it would wait for itself.
//!
//! Work that needs the connection outside any transaction (migrations, bulk loads that
//! commit as they go) is handed over with [`GroupWriter::exclusive`]: it runs alone, in
//! its turn between two batches.
//!
//! [`super::Database`] hosts one writer per database file, and is how the
//! applications write; a bare [`GroupWriter`] is for a program that needs nothing else.
//!
//! Dropping the [`GroupWriter`] stops taking work, finishes every queued unit, joins
//! the thread and closes the connection.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use statekit::sqlite::OpenOptions;
//! use statekit::sqlite::group::{GroupOptions, GroupWriter};
//!
//! let dir = tempfile::tempdir()?;
//! let writer = GroupWriter::open(
//!     &dir.path().join("app.db"),
//!     &OpenOptions::default(),
//!     GroupOptions::default(),
//! )?;
//! writer.write(|conn| conn.execute_batch("CREATE TABLE notes (text TEXT NOT NULL)"))?;
//! let rows = writer.write(|conn| conn.execute("INSERT INTO notes VALUES ('durable')", []))?;
//! assert_eq!(rows, 1);
//! # Ok(())
//! # }
//! ```

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::{OpenOptions, SqliteError, open_connection};

/// The savepoint each unit of a shared batch runs in; unusual, so that a unit's own
/// savepoints never take its name.
const SAVEPOINT: &str = "SAVEPOINT statekit_group_unit";
const RELEASE: &str = "RELEASE statekit_group_unit";
const ROLLBACK_TO: &str = "ROLLBACK TO statekit_group_unit";

/// Bounds of a [`GroupWriter`].
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// Most units committed in one transaction; 256 by default.
    pub max_batch: usize,
    /// Most units waiting for the writer before [`GroupWriter::submit`] blocks; 1,024
    /// by default.
    pub queue: usize,
    /// How long the writer thread waits for work before it ends (a new one starts
    /// when a unit has to queue again); 5 s by default.
    pub idle: Duration,
    /// Hears of every batch the writer ends (for metrics); none by default.
    pub observer: Option<Arc<dyn BatchObserver>>,
}

/// Hears of each batch a [`GroupWriter`] ends, on the thread that ran it: for metrics
/// (batch sizes, how long a durable commit takes). Keep it quick: the writer waits
/// for it.
pub trait BatchObserver: Send + Sync + std::fmt::Debug {
    /// A batch of `units` units ended after `elapsed` (from `BEGIN` to the end of
    /// `COMMIT`, its sync included); `committed` is false when one of the writer's own
    /// statements failed (`BEGIN`, a savepoint, `COMMIT`) or a unit ended the
    /// transaction (a lone unit's own error, rolled back, still counts as ended well).
    fn batch_ended(&self, units: usize, committed: bool, elapsed: Duration);
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            max_batch: 256,
            queue: 1024,
            idle: Duration::from_secs(5),
            observer: None,
        }
    }
}

/// Why a unit of work was not committed. `E` is the unit's own error type.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<E> {
    /// The unit returned this error; its changes were rolled back, the other units of
    /// its batch were not affected.
    #[error(transparent)]
    Unit(E),
    /// The unit panicked; its changes were rolled back, the other units of its batch
    /// were not affected.
    #[error("a unit of work on {path} panicked: {message}")]
    Panicked {
        /// The database file.
        path: PathBuf,
        /// The panic's message, when it had one.
        message: String,
    },
    /// The batch's transaction could not begin; the unit did not run.
    #[error("cannot begin a write transaction on {path}")]
    Begin {
        /// The database file.
        path: PathBuf,
        /// What SQLite said (shared by every caller of the batch).
        source: Arc<rusqlite::Error>,
    },
    /// The writer could not set, release or roll back a unit's savepoint; the batch
    /// was rolled back, nothing of it is committed.
    #[error("cannot manage a savepoint on {path}, the batch was rolled back")]
    Savepoint {
        /// The database file.
        path: PathBuf,
        /// What SQLite said (shared by every caller of the batch).
        source: Arc<rusqlite::Error>,
    },
    /// The batch's `COMMIT` failed; the batch was rolled back, nothing of it is
    /// committed.
    #[error("cannot commit on {path}, the batch was rolled back")]
    Commit {
        /// The database file.
        path: PathBuf,
        /// What SQLite said (shared by every caller of the batch).
        source: Arc<rusqlite::Error>,
    },
    /// The batch's transaction ended inside a unit of the batch (this one or one
    /// before it): the unit ended it, or SQLite rolled it back after an error such as
    /// a full disk. Whether this unit's changes were committed is unknown.
    #[error(
        "the write transaction on {path} ended inside a unit of work; whether this unit was committed is unknown"
    )]
    TransactionEnded {
        /// The database file.
        path: PathBuf,
    },
    /// The writer has stopped (its thread died, or could not be started); the unit
    /// may not have run.
    #[error("the writer of {path} has stopped")]
    Stopped {
        /// The database file.
        path: PathBuf,
    },
}

/// A [`WriteError`] that is not the unit's own error: the unit panicked, its batch
/// failed, or the writer stopped. [`WriteError::into_unit`] splits it off, so that an
/// application error type can hold it (`#[from] WriteFailure`) beside its own.
pub type WriteFailure = WriteError<std::convert::Infallible>;

impl<E> WriteError<E> {
    /// The unit's own error as `Ok`, every other error as a [`WriteFailure`].
    pub fn into_unit(self) -> Result<E, WriteFailure> {
        Err(match self {
            WriteError::Unit(e) => return Ok(e),
            WriteError::Panicked { path, message } => WriteFailure::Panicked { path, message },
            WriteError::Begin { path, source } => WriteFailure::Begin { path, source },
            WriteError::Savepoint { path, source } => WriteFailure::Savepoint { path, source },
            WriteError::Commit { path, source } => WriteFailure::Commit { path, source },
            WriteError::TransactionEnded { path } => WriteFailure::TransactionEnded { path },
            WriteError::Stopped { path } => WriteFailure::Stopped { path },
        })
    }

    /// The unit's own error, or the [`WriteFailure`] converted into the unit's error
    /// type: one error type for the caller.
    pub fn flatten(self) -> E
    where
        E: From<WriteFailure>,
    {
        self.into_unit().unwrap_or_else(E::from)
    }
}

/// Counters of a [`GroupWriter`]'s work since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Transactions begun (one per batch).
    pub batches: u64,
    /// Units run.
    pub units: u64,
    /// Batches that held more than one unit.
    pub shared_batches: u64,
    /// Units in the largest batch.
    pub largest_batch: u64,
    /// Units [`GroupWriter::write`] committed on its caller's thread because the
    /// writer was idle (each also counts as a batch of one).
    pub on_caller: u64,
    /// Writer threads started (one more each time work arrives after the thread
    /// ended for being idle).
    pub threads_started: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    units: AtomicU64,
    shared_batches: AtomicU64,
    largest_batch: AtomicU64,
    on_caller: AtomicU64,
    threads_started: AtomicU64,
}

impl Counters {
    fn record(&self, units: usize) {
        let units = units as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.units.fetch_add(units, Ordering::Relaxed);
        if units > 1 {
            self.shared_batches.fetch_add(1, Ordering::Relaxed);
        }
        self.largest_batch.fetch_max(units, Ordering::Relaxed);
    }
}

/// A database's single writer: commits the units of work callers hand it in groups
/// (see the module docs).
#[derive(Debug)]
pub struct GroupWriter {
    shared: Arc<Shared>,
    group: GroupOptions,
}

/// The writer thread and its queue: started the first time work is handed over (a
/// database only ever written by one caller at a time never needs it), and again
/// after it ended for being idle.
#[derive(Debug, Default)]
struct WriterThread {
    /// The running thread's queue; `None` when no thread takes work (never started,
    /// ended for being idle, or the writer is being dropped).
    queue: Option<SyncSender<Message>>,
    /// The last thread started (it may have ended); a new thread joins it first.
    handle: Option<JoinHandle<()>>,
}

/// Where the writer thread is as it ends for being idle, for tests to act in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retire {
    /// It waited `idle` for nothing and is about to take its queue away.
    Deciding,
    /// It took its queue away and is about to finish what was handed to it.
    Draining,
}

/// A test's callback at the [`Retire`] points.
#[cfg(test)]
type RetireFn = Box<dyn FnMut(Retire) + Send>;

#[cfg(test)]
#[derive(Default)]
struct RetireHook(Mutex<Option<RetireFn>>);

#[cfg(test)]
impl std::fmt::Debug for RetireHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetireHook")
    }
}

/// What the writer thread and the callers share.
#[derive(Debug)]
struct Shared {
    /// The writer connection: the writer thread holds it for a batch or a job run
    /// alone, a lone caller of [`GroupWriter::write`] for its own unit.
    conn: Mutex<Connection>,
    path: PathBuf,
    counters: Counters,
    observer: Option<Arc<dyn BatchObserver>>,
    /// Units and jobs handed to the writer thread and not yet committed (or failed):
    /// while there are any, [`GroupWriter::write`] queues behind them.
    in_writer: AtomicUsize,
    /// The writer thread; callers reach its queue under this lock, and the thread
    /// takes the queue away under it when it ends.
    thread: Mutex<WriterThread>,
    #[cfg(test)]
    retire_hook: RetireHook,
}

impl Shared {
    /// The connection, also after a panic while it was held: every batch starts by
    /// rolling back a transaction left open.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection if nobody holds it (as [`Shared::lock`] after a panic).
    fn try_lock(&self) -> Option<MutexGuard<'_, Connection>> {
        match self.conn.try_lock() {
            Ok(conn) => Some(conn),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn thread(&self) -> MutexGuard<'_, WriterThread> {
        self.thread.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn retiring(&self, at: Retire) {
        let mut hook = self
            .retire_hook
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(hook) = hook.as_mut() {
            hook(at);
        }
    }

    #[cfg(not(test))]
    fn retiring(&self, _at: Retire) {}
}

impl GroupWriter {
    /// Opens (creating if needed) the database at `path` with [`open_connection`] and
    /// makes it a writer.
    pub fn open(
        path: &Path,
        opts: &OpenOptions,
        group: GroupOptions,
    ) -> Result<GroupWriter, SqliteError> {
        Ok(GroupWriter::start(open_connection(path, opts)?, group))
    }

    /// Makes `conn` a writer, which owns it from now on. Open it with
    /// [`open_connection`] (WAL, `synchronous=FULL`) and apply migrations before. The
    /// writer thread starts the first time a unit has to queue.
    pub fn start(conn: Connection, group: GroupOptions) -> GroupWriter {
        let path = PathBuf::from(conn.path().unwrap_or(""));
        GroupWriter {
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                path,
                counters: Counters::default(),
                observer: group.observer.clone(),
                in_writer: AtomicUsize::new(0),
                thread: Mutex::new(WriterThread::default()),
                #[cfg(test)]
                retire_hook: RetireHook::default(),
            }),
            group,
        }
    }

    /// The database file the writer writes (empty for an in-memory database).
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs `unit` in the writer's next batch and waits until it is committed (or
    /// failed). `unit` runs inside a transaction: it must not commit, roll back, or
    /// hand work to this writer.
    ///
    /// When the writer is idle (nothing queued, nothing running), the unit is
    /// committed on the calling thread, as a batch of one, without waking the writer
    /// thread.
    pub fn write<T, E, F>(&self, unit: F) -> Result<T, WriteError<E>>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        // Nothing handed to the writer thread is still uncommitted, so no unit this
        // thread submitted before can be overtaken; the connection being free means
        // no batch and no exclusive job is running.
        if self.shared.in_writer.load(Ordering::SeqCst) == 0
            && let Some(conn) = self.shared.try_lock()
        {
            let (job, answer) = Unit::boxed(unit);
            let mut batch = VecDeque::from([job]);
            let (answered, end) = self.shared.commit_batch(&conn, &mut batch);
            drop(conn);
            self.shared
                .counters
                .on_caller
                .fetch_add(1, Ordering::Relaxed);
            for job in answered {
                job.answer(&end, &self.shared.path);
            }
            return Pending {
                path: self.shared.path.clone(),
                answer,
            }
            .wait();
        }
        self.submit(unit).wait()
    }

    /// Queues `unit` (blocking while the queue is full) and returns at once; the
    /// answer comes from [`Pending::wait`]. Units submitted from one thread run in the
    /// order submitted. Dropping the [`Pending`] does not cancel the unit.
    pub fn submit<T, E, F>(&self, unit: F) -> Pending<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (job, answer) = Unit::boxed(unit);
        self.hand_over(Message::Unit(job));
        Pending {
            path: self.shared.path.clone(),
            answer,
        }
    }

    /// Runs `job` on the writer's connection alone, between two batches and outside
    /// any transaction, and waits for it: for work that manages its own transactions,
    /// such as migrations or a bulk load. It runs in its turn among the queued units;
    /// the units queued after it wait until it returns. An error or a panic is
    /// reported to the caller only ([`WriteError::Unit`], [`WriteError::Panicked`]);
    /// a transaction `job` leaves open is rolled back.
    pub fn exclusive<T, E, F>(&self, job: F) -> Result<T, WriteError<E>>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (reply, answer) = sync_channel(1);
        self.hand_over(Message::Alone(Box::new(Alone {
            work: Some(job),
            reply,
        })));
        Pending {
            path: self.shared.path.clone(),
            answer,
        }
        .wait()
    }

    /// Queues `message` for the writer thread (starting it if need be), counted until
    /// it is answered. This fails only when the thread is gone or cannot start; the
    /// message (and its reply sender) is then dropped, so its caller's `wait` reports
    /// `Stopped`.
    fn hand_over(&self, message: Message) {
        self.shared.in_writer.fetch_add(1, Ordering::SeqCst);
        // Sent outside the thread's lock: a full queue blocks this caller only, and
        // the thread can still take its lock (to end) while callers wait for room.
        let sent = match self.queue() {
            Some(queue) => queue.send(message).is_ok(),
            None => false,
        };
        if !sent {
            self.shared.in_writer.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The writer thread's queue, starting a thread if none takes work; `None` if
    /// the thread cannot be started. A new thread first joins the one before it,
    /// which finishes everything handed to it before it ends.
    fn queue(&self) -> Option<SyncSender<Message>> {
        let mut thread = self.shared.thread();
        if thread.queue.is_none() {
            let (queue, incoming) = sync_channel(self.group.queue.max(1));
            let batcher = Batcher {
                shared: Arc::clone(&self.shared),
                max_batch: self.group.max_batch.max(1),
                idle: self.group.idle,
            };
            let previous = thread.handle.take();
            let handle = std::thread::Builder::new()
                .name("statekit-writer".into())
                .spawn(move || {
                    if let Some(previous) = previous {
                        // It panicked only if a batch's own code did; its callers
                        // were told (their reply senders dropped).
                        let _ = previous.join();
                    }
                    batcher.run(incoming);
                })
                .ok()?;
            self.shared
                .counters
                .threads_started
                .fetch_add(1, Ordering::Relaxed);
            thread.queue = Some(queue);
            thread.handle = Some(handle);
        }
        thread.queue.clone()
    }

    /// Whether a writer thread is running now (it ends after [`GroupOptions::idle`]
    /// without work).
    pub fn has_thread(&self) -> bool {
        self.shared
            .thread()
            .handle
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }

    /// The writer's counters so far.
    pub fn stats(&self) -> GroupStats {
        let c = &self.shared.counters;
        GroupStats {
            batches: c.batches.load(Ordering::Relaxed),
            units: c.units.load(Ordering::Relaxed),
            shared_batches: c.shared_batches.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
            on_caller: c.on_caller.load(Ordering::Relaxed),
            threads_started: c.threads_started.load(Ordering::Relaxed),
        }
    }
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        let WriterThread { queue, handle } = std::mem::take(&mut *self.shared.thread());
        // Closing the queue lets the writer finish what is queued, then stop. A
        // writer thread that died has already dropped its units' reply senders, so
        // their callers were told; there is nothing left to report here. The last
        // thread started joins the one before it, so this joins them all.
        drop(queue);
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

/// A submitted unit's answer, to wait for.
#[derive(Debug)]
pub struct Pending<T, E> {
    path: PathBuf,
    answer: Receiver<Result<T, WriteError<E>>>,
}

impl<T, E> Pending<T, E> {
    /// Waits until the unit's batch is committed (or failed) and returns the unit's
    /// result.
    pub fn wait(self) -> Result<T, WriteError<E>> {
        self.answer
            .recv()
            .unwrap_or(Err(WriteError::Stopped { path: self.path }))
    }
}

/// How a batch ended, for the units that succeeded in it.
#[derive(Debug, Clone)]
enum BatchEnd {
    Committed,
    Begin(Arc<rusqlite::Error>),
    Savepoint(Arc<rusqlite::Error>),
    Commit(Arc<rusqlite::Error>),
    TransactionEnded,
}

impl BatchEnd {
    fn error<E>(&self, path: &Path) -> Option<WriteError<E>> {
        let path = path.to_path_buf();
        match self {
            BatchEnd::Committed => None,
            BatchEnd::Begin(e) => Some(WriteError::Begin {
                path,
                source: Arc::clone(e),
            }),
            BatchEnd::Savepoint(e) => Some(WriteError::Savepoint {
                path,
                source: Arc::clone(e),
            }),
            BatchEnd::Commit(e) => Some(WriteError::Commit {
                path,
                source: Arc::clone(e),
            }),
            BatchEnd::TransactionEnded => Some(WriteError::TransactionEnded { path }),
        }
    }
}

/// What callers hand the writer thread.
enum Message {
    /// A unit of work, for the next batch.
    Unit(Box<dyn Job>),
    /// Work that runs alone, outside any transaction.
    Alone(Box<dyn AloneJob>),
}

/// Work run alone ([`GroupWriter::exclusive`]), its types erased.
trait AloneJob: Send {
    /// Runs the work (catching a panic) and answers the caller.
    fn run(self: Box<Self>, conn: &mut Connection, path: &Path);
}

struct Alone<T, E, F> {
    work: Option<F>,
    reply: SyncSender<Result<T, WriteError<E>>>,
}

impl<T, E, F> AloneJob for Alone<T, E, F>
where
    F: FnOnce(&mut Connection) -> Result<T, E> + Send,
    T: Send,
    E: Send,
{
    fn run(mut self: Box<Self>, conn: &mut Connection, path: &Path) {
        let Some(work) = self.work.take() else {
            return;
        };
        let outcome = run_caught(path, || work(conn));
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        // The caller may have gone; nobody to tell.
        let _ = self.reply.send(outcome);
    }
}

/// A unit of work with its caller's reply channel, its types erased.
trait Job: Send {
    /// Runs the unit (catching a panic) and keeps its outcome; true if it succeeded.
    fn run(&mut self, conn: &Connection, path: &Path) -> bool;
    /// Answers the caller: a unit that failed gets its own error, one that succeeded
    /// gets its value if the batch committed and the batch's error otherwise.
    fn answer(self: Box<Self>, end: &BatchEnd, path: &Path);
}

struct Unit<T, E, F> {
    work: Option<F>,
    outcome: Option<Result<T, WriteError<E>>>,
    reply: SyncSender<Result<T, WriteError<E>>>,
}

/// The receiving end of a unit's answer.
type Answer<T, E> = Receiver<Result<T, WriteError<E>>>;

impl<T, E, F> Unit<T, E, F>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    /// `work` as a job for a batch, and where its answer will come.
    fn boxed(work: F) -> (Box<dyn Job>, Answer<T, E>) {
        let (reply, answer) = sync_channel(1);
        let job = Box::new(Unit {
            work: Some(work),
            outcome: None,
            reply,
        });
        (job, answer)
    }
}

impl<T, E, F> Job for Unit<T, E, F>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send,
    E: Send,
{
    fn run(&mut self, conn: &Connection, path: &Path) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let outcome = run_caught(path, || work(conn));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, end: &BatchEnd, path: &Path) {
        let answer = match self.outcome {
            Some(Err(own)) => Err(own),
            Some(Ok(value)) => match end.error(path) {
                None => Ok(value),
                Some(e) => Err(e),
            },
            // Never ran: the batch failed before it.
            None => Err(end.error(path).unwrap_or(WriteError::TransactionEnded {
                path: path.to_path_buf(),
            })),
        };
        // The caller may have stopped waiting (dropped its `Pending`); nobody to tell.
        let _ = self.reply.send(answer);
    }
}

/// Runs `work`, turning its error into [`WriteError::Unit`] and a panic into
/// [`WriteError::Panicked`].
fn run_caught<T, E>(path: &Path, work: impl FnOnce() -> Result<T, E>) -> Result<T, WriteError<E>> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(WriteError::Unit(e)),
        Err(payload) => Err(WriteError::Panicked {
            path: path.to_path_buf(),
            message: panic_message(payload.as_ref()),
        }),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// The writer thread's state.
struct Batcher {
    shared: Arc<Shared>,
    max_batch: usize,
    idle: Duration,
}

/// Why a batch stopped before its end.
enum Broken {
    /// A savepoint statement failed (the transaction may still be open).
    Savepoint(rusqlite::Error),
    /// The unit just run ended the transaction itself.
    TransactionEnded,
}

impl Batcher {
    /// The next message; `None` when the thread is to stop: its queue is closed
    /// (the writer dropped, or this thread ended for being idle) and empty.
    fn next(&self, incoming: &Receiver<Message>, retired: &mut bool) -> Option<Message> {
        // `recv` hands out every queued unit before it reports the queue closed, so
        // the writer finishes its work before it stops.
        if *retired {
            return incoming.recv().ok();
        }
        match incoming.recv_timeout(self.idle) {
            Ok(message) => Some(message),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                self.shared.retiring(Retire::Deciding);
                // From now on callers start a new thread (which waits for this one);
                // what they handed over before is still queued here, and this thread
                // drains it until the last caller holding the queue has let go.
                let queue = self.shared.thread().queue.take();
                drop(queue);
                *retired = true;
                self.shared.retiring(Retire::Draining);
                incoming.recv().ok()
            }
        }
    }

    fn run(self, incoming: Receiver<Message>) {
        let shared = &*self.shared;
        let mut batch = VecDeque::with_capacity(self.max_batch);
        // Work that runs alone, met while gathering a batch: it runs after that batch.
        let mut alone_next: Option<Box<dyn AloneJob>> = None;
        let mut retired = false;
        loop {
            let first = match alone_next.take() {
                Some(alone) => Message::Alone(alone),
                None => match self.next(&incoming, &mut retired) {
                    Some(message) => message,
                    None => return,
                },
            };
            match first {
                Message::Alone(alone) => {
                    alone.run(&mut shared.lock(), &shared.path);
                    shared.in_writer.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
                Message::Unit(job) => batch.push_back(job),
            }
            while batch.len() < self.max_batch {
                match incoming.try_recv() {
                    Ok(Message::Unit(job)) => batch.push_back(job),
                    Ok(Message::Alone(alone)) => {
                        alone_next = Some(alone);
                        break;
                    }
                    Err(_) => break,
                }
            }
            while !batch.is_empty() {
                let conn = shared.lock();
                let (answered, end) = shared.commit_batch(&conn, &mut batch);
                drop(conn);
                shared.in_writer.fetch_sub(answered.len(), Ordering::SeqCst);
                for job in answered {
                    job.answer(&end, &shared.path);
                }
            }
        }
    }
}

impl Shared {
    /// Runs units from the front of `batch` in one transaction on `conn`; returns the
    /// units run and how their batch ended, to answer them. It returns with units
    /// left only when one of them ended the transaction: those after it belong in a
    /// fresh one.
    fn commit_batch(
        &self,
        conn: &Connection,
        batch: &mut VecDeque<Box<dyn Job>>,
    ) -> (Vec<Box<dyn Job>>, BatchEnd) {
        let Some(observer) = &self.observer else {
            return self.run_batch(conn, batch);
        };
        let began = std::time::Instant::now();
        let (ran, end) = self.run_batch(conn, batch);
        let committed = matches!(end, BatchEnd::Committed);
        observer.batch_ended(ran.len(), committed, began.elapsed());
        (ran, end)
    }

    /// [`Shared::commit_batch`], unobserved.
    fn run_batch(
        &self,
        conn: &Connection,
        batch: &mut VecDeque<Box<dyn Job>>,
    ) -> (Vec<Box<dyn Job>>, BatchEnd) {
        // A transaction left open by an earlier failure is rolled back first.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
            return (batch.drain(..).collect(), BatchEnd::Begin(Arc::new(e)));
        }
        let shared = batch.len() > 1;
        let mut ran: Vec<Box<dyn Job>> = Vec::with_capacity(batch.len());
        let mut lone_failure = false;
        let mut broken = None;
        while let Some(mut job) = batch.pop_front() {
            match self.run_unit(conn, job.as_mut(), shared) {
                Ok(ok) => {
                    lone_failure = !shared && !ok;
                    ran.push(job);
                }
                Err(why) => {
                    broken = Some((job, why));
                    break;
                }
            }
        }
        self.counters
            .record(ran.len() + usize::from(broken.is_some()));

        let end = match broken {
            Some((job, Broken::TransactionEnded)) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                ran.push(job);
                return (ran, BatchEnd::TransactionEnded);
            }
            Some((job, Broken::Savepoint(e))) => {
                // Nothing of the batch may commit: all of it is rolled back, and the
                // units not yet run are answered with the same error.
                let _ = conn.execute_batch("ROLLBACK");
                ran.push(job);
                ran.extend(batch.drain(..));
                BatchEnd::Savepoint(Arc::new(e))
            }
            // A lone unit runs without a savepoint: when it fails, its transaction is
            // rolled back and it gets its own error.
            None if lone_failure => {
                let _ = conn.execute_batch("ROLLBACK");
                BatchEnd::Committed
            }
            None => match exec(conn, "COMMIT") {
                Ok(()) => BatchEnd::Committed,
                Err(e) => {
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    BatchEnd::Commit(Arc::new(e))
                }
            },
        };
        (ran, end)
    }

    /// Runs one unit, inside its own savepoint when the batch is shared; returns
    /// whether the unit succeeded (a failed unit's changes are rolled back).
    fn run_unit(&self, conn: &Connection, job: &mut dyn Job, shared: bool) -> Result<bool, Broken> {
        if shared {
            exec(conn, SAVEPOINT).map_err(Broken::Savepoint)?;
        }
        let ok = job.run(conn, &self.path);
        if conn.is_autocommit() {
            return Err(Broken::TransactionEnded);
        }
        if shared {
            if !ok {
                exec(conn, ROLLBACK_TO).map_err(Broken::Savepoint)?;
            }
            exec(conn, RELEASE).map_err(Broken::Savepoint)?;
        }
        Ok(ok)
    }
}

/// Runs one of the writer's own statements, prepared once.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests;
