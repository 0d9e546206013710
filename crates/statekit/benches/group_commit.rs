//! Group commit benchmark: durable (`synchronous=FULL`) single-row transactions per
//! second with 1, 8, 32 and 128 concurrent writer threads, three ways, next to the raw
//! fsync rate of the same disk, in one run:
//!
//! - group commit: every thread hands its insert to one [`GroupWriter`];
//! - one transaction per writer (the plain path): each thread its own connection, one
//!   `BEGIN IMMEDIATE` transaction per row, waiting on the busy timeout (120 s here, so
//!   none fails; SQLite's busy handler sleeps 1 to 100 ms between tries, which is what
//!   caps this way with many writers, and what makes the run last: each thread
//!   finishes its last transaction after the round's end);
//! - `Database::write`: every thread through a [`Database`], the applications' path,
//!   which hands each insert to the database's own [`GroupWriter`] (so it should match
//!   group commit).
//!
//! The raw fsync rate is measured two ways (append 4 KiB + fsync, as the other
//! benchmarks of this workspace do; overwrite 4 KiB at the start of a small file +
//! fdatasync), and the faster one is the reference. Every measure runs in [`ROUNDS`]
//! short rounds, alternated (and the three ways in a rotating order) so that all see
//! the same disk weather; a rate is all of a measure's writes over all its time.
//!
//! `cargo bench -p statekit`. Prints a Markdown table. Files go to a temp dir under
//! the target dir (`CARGO_TARGET_TMPDIR`), or under `STATEKIT_BENCH_DIR` if set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};
use statekit::sqlite::group::{GroupOptions, GroupWriter};
use statekit::sqlite::{Database, OpenOptions, open_connection};

const WRITERS: [usize; 4] = [1, 8, 32, 128];
/// Rounds every measure runs in; short and many, so that all measures see the same
/// disk weather (on a shared VM it changes by the second).
const ROUNDS: usize = 6;
/// How long each measure runs in each round.
const SPAN: Duration = Duration::from_millis(250);

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, writer INTEGER, seq INTEGER, payload TEXT)";
const INSERT: &str = "INSERT INTO rows (writer, seq, payload) VALUES (?1, ?2, ?3)";
const PAYLOAD: &str =
    "a single durable row of about a hundred bytes, much like a note appended to a log.";

/// The three ways of writing compared.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Way {
    Group,
    PerWriter,
    SharedWriter,
}

const WAYS: [Way; 3] = [Way::Group, Way::PerWriter, Way::SharedWriter];

fn opts() -> OpenOptions {
    OpenOptions {
        // 128 writers queueing on the busy handler must not time out.
        busy_timeout: Duration::from_secs(120),
        ..OpenOptions::default()
    }
}

/// What a measure did, summed over its rounds: completed and failed writes, seconds,
/// and the group writer's units and batches (group commit only).
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    done: u64,
    failed: u64,
    secs: f64,
    units: u64,
    batches: u64,
    on_caller: u64,
}

impl Tally {
    fn add(&mut self, (done, failed, secs): (u64, u64, f64)) {
        self.done += done;
        self.failed += failed;
        self.secs += secs;
    }

    fn rate(&self) -> f64 {
        self.done as f64 / self.secs
    }
}

/// Runs `write(thread, seq)` on `threads` threads for [`SPAN`]; returns the writes
/// completed, the writes failed, and the seconds until the last thread finished.
fn drive(threads: usize, write: impl Fn(usize, u64) -> bool + Sync) -> (u64, u64, f64) {
    let done = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let barrier = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (done, failed, barrier, write) = (&done, &failed, &barrier, &write);
                s.spawn(move || {
                    barrier.wait();
                    let deadline = Instant::now() + SPAN;
                    let mut seq = 0;
                    while Instant::now() < deadline {
                        let counter = if write(t, seq) { done } else { failed };
                        counter.fetch_add(1, Ordering::Relaxed);
                        seq += 1;
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    });
    (
        done.into_inner(),
        failed.into_inner(),
        elapsed.as_secs_f64(),
    )
}

fn insert_row(conn: &Connection, t: usize, seq: u64) -> rusqlite::Result<usize> {
    conn.prepare_cached(INSERT)?
        .execute((t as i64, seq as i64, PAYLOAD))
}

/// One single-row `BEGIN IMMEDIATE` transaction, as the plain path writes.
fn one_transaction(conn: &mut Connection, t: usize, seq: u64) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    insert_row(&tx, t, seq)?;
    tx.commit()
}

fn measure(way: Way, threads: usize, db: &Path, tally: &mut Tally) {
    open_connection(db, &opts())
        .unwrap()
        .execute_batch(SCHEMA)
        .unwrap();
    match way {
        Way::Group => {
            let writer = GroupWriter::open(db, &opts(), GroupOptions::default()).unwrap();
            tally.add(drive(threads, |t, seq| {
                writer.write(move |c| insert_row(c, t, seq)).is_ok()
            }));
            let stats = writer.stats();
            tally.units += stats.units;
            tally.batches += stats.batches;
            tally.on_caller += stats.on_caller;
        }
        Way::PerWriter => {
            // Connection is not Sync: each thread locks its own, uncontended.
            let conns: Vec<Mutex<Connection>> = (0..threads)
                .map(|_| Mutex::new(open_connection(db, &opts()).unwrap()))
                .collect();
            tally.add(drive(threads, |t, seq| {
                one_transaction(&mut conns[t].lock().unwrap(), t, seq).is_ok()
            }));
        }
        Way::SharedWriter => {
            let database = Database::open(db, opts()).unwrap();
            tally.add(drive(threads, |t, seq| {
                database
                    .writer()
                    .write(move |c| insert_row(c, t, seq))
                    .is_ok()
            }));
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

/// Raw fsyncs per second: append 4 KiB to a file and fsync it, for [`SPAN`].
fn raw_fsync_append(path: &Path) -> (u64, u64, f64) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let block = [7u8; 4096];
    raw_loop(|| {
        file.write_all(&block).unwrap();
        file.sync_all().unwrap();
    })
}

/// Raw fsyncs per second: overwrite the 4 KiB of a small file and fdatasync it, for
/// [`SPAN`] (no size change, so no metadata to sync: the cheapest durable write).
fn raw_fsync_overwrite(path: &Path) -> (u64, u64, f64) {
    let mut file = File::create(path).unwrap();
    let block = [7u8; 4096];
    file.write_all(&block).unwrap();
    file.sync_all().unwrap();
    raw_loop(|| {
        file.seek(SeekFrom::Start(0)).unwrap();
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
    })
}

fn raw_loop(mut op: impl FnMut()) -> (u64, u64, f64) {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < SPAN {
        op();
        n += 1;
    }
    (n, 0, start.elapsed().as_secs_f64())
}

/// `12345.6` as `12,346`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() {
    let base = std::env::var_os("STATEKIT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let tmp = tempfile::tempdir_in(base).unwrap();
    let started = Instant::now();

    let mut tallies: HashMap<(Way, usize), Tally> = HashMap::new();
    let (mut append, mut overwrite) = (Tally::default(), Tally::default());
    for round in 0..ROUNDS {
        append.add(raw_fsync_append(&tmp.path().join("raw-append")));
        overwrite.add(raw_fsync_overwrite(&tmp.path().join("raw-overwrite")));
        for &threads in &WRITERS {
            for i in 0..WAYS.len() {
                let way = WAYS[(round + i) % WAYS.len()];
                let db = tmp.path().join(format!("{way:?}-{threads}-{round}.db"));
                measure(
                    way,
                    threads,
                    &db,
                    tallies.entry((way, threads)).or_default(),
                );
            }
        }
    }

    let append = append.rate();
    let overwrite = overwrite.rate();
    let raw = append.max(overwrite);
    let rate = |way, threads| tallies[&(way, threads)].rate();

    println!(
        "Durable (synchronous=FULL) single-row transactions per second, {ROUNDS} alternated rounds of {} ms each:\n",
        SPAN.as_millis()
    );
    println!(
        "| writers | group commit | one transaction per writer | `Database::write` | group / one per writer | group / raw fsync | units per batch | on the caller's thread |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &threads in &WRITERS {
        let group = rate(Way::Group, threads);
        let per_writer = rate(Way::PerWriter, threads);
        let shared = rate(Way::SharedWriter, threads);
        let group_tally = tallies[&(Way::Group, threads)];
        println!(
            "| {threads} | {} | {} | {} | {:.2}x | {:.2}x | {:.1} | {:.0}% |",
            thousands(group),
            thousands(per_writer),
            thousands(shared),
            group / per_writer,
            group / raw,
            group_tally.units as f64 / group_tally.batches.max(1) as f64,
            100.0 * group_tally.on_caller as f64 / group_tally.units.max(1) as f64,
        );
    }
    println!();
    println!(
        "Raw fsync rate of the same disk: {}/s appending 4 KiB + fsync, {}/s overwriting 4 KiB + fdatasync; the reference is the faster, {}/s.",
        thousands(append),
        thousands(overwrite),
        thousands(raw)
    );
    let at32 = rate(Way::Group, 32) / raw;
    let at1 = rate(Way::Group, 1) / rate(Way::PerWriter, 1);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "Targets: 32 writers at least 3x the raw fsync rate: {at32:.2}x, {}; 1 writer at least 0.9x one transaction per writer: {at1:.2}x, {}.",
        verdict(at32 >= 3.0),
        verdict(at1 >= 0.9)
    );
    for ((way, threads), tally) in &tallies {
        if tally.failed > 0 {
            println!(
                "{way:?} with {threads} writers: {} writes failed (not counted)",
                tally.failed
            );
        }
    }
    println!("(whole run: {:.0} s)", started.elapsed().as_secs_f64());
}
