//! Storage benchmark: prints a table.
//!
//! - legacy import rate: `db-migrate --execute` of a 1,000,000-event legacy log
//!   (parse, derive ids, one transaction with a prepared statement, archive);
//!   with the time of each step;
//! - durable single-event append rate with `synchronous=FULL`, next to the raw fsync
//!   rate of the same disk (append 4 KiB + fsync), measured in alternating rounds.
//!
//! `cargo bench -p honestcam` (set HONESTCAM_BENCH_EVENTS to change the log size).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::fs::OpenOptions;
use std::io::Write;
use std::time::Instant;

use honestcam::compliance::Change;
use honestcam::compliance::loader::record_change;
use honestcam::config::DataDir;
use honestcam::demo::{DemoOptions, write_demo};
use honestcam::migrate::{NoProgress, import::db_migrate_timed};
use honestcam::property::Slug;
use honestcam::storage::Storage;
use statekit::plan::Mode;
use statekit::sqlite::OpenOptions as DbOptions;

const APPENDS: u32 = 1000;

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
    let data = DataDir::new(tmp.path().join("data"));
    let slug = Slug::parse("bench").unwrap();
    write_demo(
        &data.property(&slug),
        "Bench",
        &DemoOptions {
            events,
            with_event_ids: false,
        },
    )
    .unwrap();
    let log_bytes = std::fs::metadata(data.property(&slug).legacy_log())
        .unwrap()
        .len();

    let storage = Storage::open(data.clone(), DbOptions::default()).unwrap();
    let start = Instant::now();
    let (plan, timings) = db_migrate_timed(&storage, &slug, Mode::Execute, &NoProgress).unwrap();
    let import_secs = start.elapsed().as_secs_f64();
    assert_eq!(plan.count(honestcam::migrate::import::EVENTS), Some(events));

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
    let rounds = 5;
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
        "| legacy import, {events} events ({:.0} MB log) | {:.2} s, {:.0} events/s | >= 300000 events/s |",
        log_bytes as f64 / 1e6,
        import_secs,
        events as f64 / import_secs
    );
    println!(
        "| of which: read and parse {:.2} s; events load (one transaction, prepared statement) {:.2} s = {:.0} events/s; archive {:.2} s | | |",
        timings.read.as_secs_f64(),
        timings.events.as_secs_f64(),
        events as f64 / timings.events.as_secs_f64(),
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
