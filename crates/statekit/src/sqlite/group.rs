//! Group commit: many callers' small write transactions made durable by one commit.
//!
//! With `synchronous=FULL` every commit waits for an fsync, so writers that each commit
//! their own transaction are capped by the disk's fsync rate however many they are. A
//! [`GroupWriter`] owns a database's writer connection on a thread of its own; callers
//! hand it units of work, and it commits every unit waiting at that moment in one
//! transaction, with one fsync.
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
//! Units that arrive while a batch commits form the next batch. The queue holds at
//! most [`GroupOptions::queue`] units; beyond that [`GroupWriter::submit`] blocks, so
//! callers slow down to the disk's pace instead of piling up memory.
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
//! Dropping the [`GroupWriter`] stops taking work, finishes every queued unit, closes
//! the connection and joins the thread.
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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

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
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            max_batch: 256,
            queue: 1024,
        }
    }
}

/// Why a [`GroupWriter`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error(transparent)]
    Open(#[from] SqliteError),
    /// The writer thread could not be started.
    #[error("cannot start the writer thread of {path}: {source}")]
    Spawn {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
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
    #[error("cannot begin a write transaction on {path}: {source}")]
    Begin {
        /// The database file.
        path: PathBuf,
        /// What SQLite said (shared by every caller of the batch).
        source: Arc<rusqlite::Error>,
    },
    /// The writer could not set, release or roll back a unit's savepoint; the batch
    /// was rolled back, nothing of it is committed.
    #[error("cannot manage a savepoint on {path}, the batch was rolled back: {source}")]
    Savepoint {
        /// The database file.
        path: PathBuf,
        /// What SQLite said (shared by every caller of the batch).
        source: Arc<rusqlite::Error>,
    },
    /// The batch's `COMMIT` failed; the batch was rolled back, nothing of it is
    /// committed.
    #[error("cannot commit on {path}, the batch was rolled back: {source}")]
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
    /// The writer has stopped (its thread died); the unit may not have run.
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
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    units: AtomicU64,
    shared_batches: AtomicU64,
    largest_batch: AtomicU64,
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
    path: PathBuf,
    queue: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl GroupWriter {
    /// Opens (creating if needed) the database at `path` with [`open_connection`] and
    /// starts its writer.
    pub fn open(
        path: &Path,
        opts: &OpenOptions,
        group: GroupOptions,
    ) -> Result<GroupWriter, StartError> {
        let conn = open_connection(path, opts)?;
        GroupWriter::start(conn, group)
    }

    /// Starts a writer on `conn`, which it owns from now on. Open it with
    /// [`open_connection`] (WAL, `synchronous=FULL`) and apply migrations before.
    pub fn start(conn: Connection, group: GroupOptions) -> Result<GroupWriter, StartError> {
        let path = PathBuf::from(conn.path().unwrap_or(""));
        let (queue, incoming) = sync_channel(group.queue.max(1));
        let counters = Arc::new(Counters::default());
        let batcher = Batcher {
            conn,
            path: path.clone(),
            max_batch: group.max_batch.max(1),
            counters: Arc::clone(&counters),
        };
        let thread = std::thread::Builder::new()
            .name("statekit-writer".into())
            .spawn(move || batcher.run(incoming))
            .map_err(|source| StartError::Spawn {
                path: path.clone(),
                source,
            })?;
        Ok(GroupWriter {
            path,
            queue: Some(queue),
            thread: Some(thread),
            counters,
        })
    }

    /// The database file the writer writes (empty for an in-memory database).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `unit` in the writer's next batch and waits until it is committed (or
    /// failed). `unit` runs inside a transaction: it must not commit, roll back, or
    /// hand work to this writer.
    pub fn write<T, E, F>(&self, unit: F) -> Result<T, WriteError<E>>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
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
        let (reply, answer) = sync_channel(1);
        let job = Box::new(Unit {
            work: Some(unit),
            outcome: None,
            reply,
        });
        if let Some(queue) = &self.queue {
            // A send fails only when the writer's thread is gone; the job (and its
            // reply sender) is dropped with the error, so `wait` reports `Stopped`.
            let _ = queue.send(Message::Unit(job));
        }
        Pending {
            path: self.path.clone(),
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
        if let Some(queue) = &self.queue {
            // As in `submit`: a failed send drops the reply sender, so `wait` reports
            // `Stopped`.
            let _ = queue.send(Message::Alone(Box::new(Alone {
                work: Some(job),
                reply,
            })));
        }
        Pending {
            path: self.path.clone(),
            answer,
        }
        .wait()
    }

    /// The writer's counters so far.
    pub fn stats(&self) -> GroupStats {
        let c = &self.counters;
        GroupStats {
            batches: c.batches.load(Ordering::Relaxed),
            units: c.units.load(Ordering::Relaxed),
            shared_batches: c.shared_batches.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
        }
    }
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued, then stop.
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // A writer thread that died has already dropped its units' reply senders,
            // so their callers were told; there is nothing left to report here.
            let _ = thread.join();
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
        let outcome = match catch_unwind(AssertUnwindSafe(|| work(conn))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(WriteError::Unit(e)),
            Err(payload) => Err(WriteError::Panicked {
                path: path.to_path_buf(),
                message: panic_message(payload.as_ref()),
            }),
        };
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
        let outcome = match catch_unwind(AssertUnwindSafe(|| work(conn))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(WriteError::Unit(e)),
            Err(payload) => Err(WriteError::Panicked {
                path: path.to_path_buf(),
                message: panic_message(payload.as_ref()),
            }),
        };
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
    conn: Connection,
    path: PathBuf,
    max_batch: usize,
    counters: Arc<Counters>,
}

/// Why a batch stopped before its end.
enum Broken {
    /// A savepoint statement failed (the transaction may still be open).
    Savepoint(rusqlite::Error),
    /// The unit just run ended the transaction itself.
    TransactionEnded,
}

impl Batcher {
    fn run(mut self, incoming: Receiver<Message>) {
        let mut batch = VecDeque::with_capacity(self.max_batch);
        // Work that runs alone, met while gathering a batch: it runs after that batch.
        let mut alone_next: Option<Box<dyn AloneJob>> = None;
        loop {
            let first = match alone_next.take() {
                Some(alone) => Message::Alone(alone),
                // `recv` hands out every queued unit before it reports the queue
                // closed, so the writer finishes its work before it stops.
                None => match incoming.recv() {
                    Ok(message) => message,
                    Err(_) => return,
                },
            };
            match first {
                Message::Alone(alone) => {
                    alone.run(&mut self.conn, &self.path);
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
                self.commit_batch(&mut batch);
            }
        }
    }

    /// Runs units from the front of `batch` in one transaction and answers them. It
    /// returns with units left only when one of them ended the transaction: those
    /// after it belong in a fresh one.
    fn commit_batch(&mut self, batch: &mut VecDeque<Box<dyn Job>>) {
        // A transaction left open by an earlier failure is rolled back first.
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = self.exec("BEGIN IMMEDIATE") {
            let end = BatchEnd::Begin(Arc::new(e));
            for job in batch.drain(..) {
                job.answer(&end, &self.path);
            }
            return;
        }
        let shared = batch.len() > 1;
        let mut ran: Vec<Box<dyn Job>> = Vec::with_capacity(batch.len());
        let mut lone_failure = false;
        let mut broken = None;
        while let Some(mut job) = batch.pop_front() {
            match self.run_unit(job.as_mut(), shared) {
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
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                let end = BatchEnd::TransactionEnded;
                job.answer(&end, &self.path);
                for job in ran {
                    job.answer(&end, &self.path);
                }
                return;
            }
            Some((job, Broken::Savepoint(e))) => {
                // Nothing of the batch may commit: all of it is rolled back, and the
                // units not yet run are answered with the same error.
                let _ = self.conn.execute_batch("ROLLBACK");
                ran.push(job);
                ran.extend(batch.drain(..));
                BatchEnd::Savepoint(Arc::new(e))
            }
            // A lone unit runs without a savepoint: when it fails, its transaction is
            // rolled back and it gets its own error.
            None if lone_failure => {
                let _ = self.conn.execute_batch("ROLLBACK");
                BatchEnd::Committed
            }
            None => match self.exec("COMMIT") {
                Ok(()) => BatchEnd::Committed,
                Err(e) => {
                    if !self.conn.is_autocommit() {
                        let _ = self.conn.execute_batch("ROLLBACK");
                    }
                    BatchEnd::Commit(Arc::new(e))
                }
            },
        };
        for job in ran {
            job.answer(&end, &self.path);
        }
    }

    /// Runs one unit, inside its own savepoint when the batch is shared; returns
    /// whether the unit succeeded (a failed unit's changes are rolled back).
    fn run_unit(&mut self, job: &mut dyn Job, shared: bool) -> Result<bool, Broken> {
        if shared {
            self.exec(SAVEPOINT).map_err(Broken::Savepoint)?;
        }
        let ok = job.run(&self.conn, &self.path);
        if self.conn.is_autocommit() {
            return Err(Broken::TransactionEnded);
        }
        if shared {
            if !ok {
                self.exec(ROLLBACK_TO).map_err(Broken::Savepoint)?;
            }
            self.exec(RELEASE).map_err(Broken::Savepoint)?;
        }
        Ok(ok)
    }

    /// Runs one of the writer's own statements, prepared once.
    fn exec(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
