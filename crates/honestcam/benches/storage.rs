//! Storage benchmark: prints a table.
//!
//! - legacy import rate: `db-migrate --execute` of a 1,000,000-event legacy log
//!   (parse, derive ids, one transaction with a prepared statement, archive), run
//!   [`IMPORT_RUNS`] times on fresh copies of the same data; the median run is
//!   reported, with the range and the time of each step;
//! - durable single-event append rate with `synchronous=FULL`, next to the raw fsync
//!   rate of the same disk (append 4 KiB + fsync), measured in [`ROUNDS`] alternating
//!   rounds.
//!
//! `cargo bench -p honestcam` (set HONESTCAM_BENCH_EVENTS to change the log size).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use honestcam::config::DataDir;
use honestcam::domain::Change;
use honestcam::ops::demo::{DemoOptions, write_demo};
use honestcam::ops::{NoProgress, Run, import::db_migrate_timed};
use honestcam::property::Slug;
use honestcam::service::compliance::record_change;
use honestcam::storage::{Storage, Wait};
use statekit::sqlite::OpenOptions as DbOptions;

const APPENDS: u32 = 2000;

/// Rounds the appends and the raw fsyncs alternate in: short rounds, so both see the
/// same disk weather.
const ROUNDS: u32 = 40;

/// Imports timed per benchmark run (the median is reported: this disk and CPU are
/// shared, and single runs vary by 20% and more).
const IMPORT_RUNS: usize = 5;

/// Copies the regular files under `from` to `to`, keeping relative paths.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let events: u64 = std::env::var("HONESTCAM_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2_000 } else { 1_000_000 });
    let appends = if quick { 25 } else { APPENDS };

    let tmp =
        tempfile::tempdir_in(std::env::var_os("HONESTCAM_BENCH_DIR").unwrap_or_else(|| ".".into()))
            .unwrap();
    let slug = Slug::parse("bench").unwrap();
    let pristine = DataDir::new(tmp.path().join("pristine"));
    write_demo(
        &pristine.property(&slug),
        "Bench",
        &DemoOptions {
            events,
            ..DemoOptions::dated(jiff::civil::date(2026, 4, 10))
        },
    )
    .unwrap();
    let log_bytes = std::fs::metadata(pristine.property(&slug).legacy_log())
        .unwrap()
        .len();

    let runs = if quick { 1 } else { IMPORT_RUNS };
    let mut imports = Vec::new();
    let mut data = pristine.clone();
    for run in 0..runs {
        data = DataDir::new(tmp.path().join(format!("run-{run}")));
        copy_tree(pristine.path(), data.path());
        let storage = Storage::open(data.clone(), DbOptions::default()).unwrap();
        let start = Instant::now();
        let lock = storage
            .lock_property(&slug, "bench", Wait::No, |_| {})
            .unwrap();
        let (plan, timings) =
            db_migrate_timed(&storage, &slug, Run::Execute(&lock), &NoProgress).unwrap();
        drop(lock);
        imports.push((start.elapsed().as_secs_f64(), timings));
        assert_eq!(plan.count(honestcam::ops::import::EVENTS), Some(events));
        if run + 1 < runs {
            drop(storage);
            std::fs::remove_dir_all(data.path()).unwrap();
        }
    }
    imports.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (import_secs, timings) = imports[imports.len() / 2];
    let (fastest, slowest) = (imports[0].0, imports[imports.len() - 1].0);
    let storage = Storage::open(data.clone(), DbOptions::default()).unwrap();

    // Durable appends (one event, one transaction, one commit each) and the raw fsync
    // rate of the same disk (append 4 KiB, fsync), alternated in rounds so that both
    // see the same disk weather.
    let raw_path = tmp.path().join("raw-fsync");
    let mut raw = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&raw_path)
        .unwrap();
    let block = [7u8; 4096];
    let (mut append_secs, mut fsync_secs) = (0.0, 0.0);
    let rounds = ROUNDS.min(appends);
    let per_round = appends / rounds;
    for round in 0..rounds {
        let start = Instant::now();
        for i in 0..per_round {
            record_change(
                &storage,
                &slug,
                "ACT-001",
                &Change::Note(format!("note {round}-{i}")),
                "bench",
            )
            .unwrap();
        }
        append_secs += start.elapsed().as_secs_f64();
        let start = Instant::now();
        for _ in 0..per_round {
            raw.write_all(&block).unwrap();
            raw.sync_all().unwrap();
        }
        fsync_secs += start.elapsed().as_secs_f64();
    }
    let done = f64::from(per_round * rounds);
    let append_rate = done / append_secs;
    let fsync_rate = done / fsync_secs;

    println!(
        "honestcam storage benchmark{}",
        if quick {
            " (quick mode: pass --bench for full size)"
        } else {
            ""
        }
    );
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| legacy import, {events} events ({:.0} MB log), median of {runs} | {import_secs:.2} s, {:.0} events/s (runs {fastest:.2}–{slowest:.2} s) | >= 300000 events/s |",
        log_bytes as f64 / 1e6,
        events as f64 / import_secs,
    );
    println!(
        "| of which: reading the study files {:.2} s; parsing the log and loading it (two threads, one transaction, prepared statement, indexes built after) {:.2} s; study data {:.2} s; archive {:.2} s | | |",
        timings.read.as_secs_f64(),
        timings.events.as_secs_f64(),
        timings.study.as_secs_f64(),
        timings.archive.as_secs_f64()
    );
    println!(
        "| durable append (synchronous=FULL), {appends} events | {append_rate:.0} appends/s | |"
    );
    println!("| raw fsync (4 KiB append + fsync), same disk | {fsync_rate:.0} fsyncs/s | |");
    println!(
        "| append / raw fsync | {:.0}% | >= 80% |",
        100.0 * append_rate / fsync_rate
    );
}
