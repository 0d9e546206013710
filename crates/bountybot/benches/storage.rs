//! Storage benchmark: `/add` and `/bounty` per second through the real command layer,
//! on the JSON and the SQLite backend, for groups of 10, 1,000 and 10,000 bounties,
//! next to the raw atomic-write rate of the same disk (statekit's write_json_atomic
//! of a small file), in one run.
//!
//! `cargo bench -p bountybot`. Prints a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::time::{Duration, Instant};

use bountybot::command::{Context, handle};
use bountybot::domain::{ChatId, UserId};
use bountybot::store::json::JsonStore;
use bountybot::store::prelude::*;
use bountybot::store::sqlite::SqliteStore;
use serde_json::json;

const GROUP: ChatId = ChatId::new(-100_200_300);
const SIZES: [u64; 3] = [10, 1_000, 10_000];

/// Runs `op` until `budget` of timed work has passed (at least `min` times), calling
/// `reset` untimed every `reset_every` ops; returns timed ops per second.
fn rate(
    budget: Duration,
    min: u32,
    reset_every: u32,
    mut reset: impl FnMut(),
    mut op: impl FnMut(u32),
) -> f64 {
    let mut timed = Duration::ZERO;
    let mut n = 0;
    while n < min || timed < budget {
        if n > 0 && n % reset_every == 0 {
            reset();
        }
        let start = Instant::now();
        op(n);
        timed += start.elapsed();
        n += 1;
    }
    f64::from(n) / timed.as_secs_f64()
}

/// Writes a group file holding `n` bounties directly (building it with n adds would
/// take as long as the benchmark itself).
fn seed_group(root: &Path, n: u64) {
    let bounties: Vec<_> = (1..=n)
        .map(|i| {
            json!({
                "id": i,
                "created_by_user_id": 1000 + i % 7,
                "text": format!("Bounty number {i}: fix the thing that broke in module {}", i % 13),
                "link": format!("https://example.org/issues/{i}"),
                "due_date_ts": 1_796_083_200 + (i as i64 % 90) * 86_400,
                "created_at": 1_795_000_000 + i as i64,
            })
        })
        .collect();
    let doc = json!({"group_id": GROUP.get(), "next_id": n + 1, "bounties": bounties});
    statekit::json::write_json_atomic(&root.join(GROUP.get().to_string()).join("group.json"), &doc)
        .unwrap();
}

/// Puts `n` bounties into the group in the SQLite database (replacing what it held).
fn seed_sqlite(root: &Path, n: u64) {
    let mut conn = statekit::sqlite::open_connection(
        &root.join("bountybot.db"),
        &statekit::sqlite::OpenOptions::default(),
    )
    .unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute("DELETE FROM bounties WHERE chat_id = ?1", [GROUP.get()])
        .unwrap();
    tx.execute(
        "INSERT OR REPLACE INTO chats (chat_id, next_id) VALUES (?1, ?2)",
        [GROUP.get(), n as i64 + 1],
    )
    .unwrap();
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO bounties (chat_id, id, created_by_user_id, text, link, due_date_ts, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .unwrap();
        for i in 1..=n as i64 {
            stmt.execute(rusqlite::params![
                GROUP.get(),
                i,
                1000 + i % 7,
                format!(
                    "Bounty number {i}: fix the thing that broke in module {}",
                    i % 13
                ),
                format!("https://example.org/issues/{i}"),
                1_796_083_200 + (i % 90) * 86_400,
                1_795_000_000 + i,
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

/// Drops the bounties added past the first `n` (cheap, unlike rewriting a JSON file).
fn trim_sqlite(root: &Path, n: u64) {
    let conn = statekit::sqlite::open_connection(
        &root.join("bountybot.db"),
        &statekit::sqlite::OpenOptions::default(),
    )
    .unwrap();
    conn.execute(
        "DELETE FROM bounties WHERE chat_id = ?1 AND id > ?2",
        [GROUP.get(), n as i64],
    )
    .unwrap();
}

fn say(store: &dyn BountyStore, text: &str) -> usize {
    let ctx = Context {
        chat: GROUP,
        user: UserId::new(1000),
        now: jiff::Timestamp::now(),
        bot_username: "bountybot",
        update: None,
        admin: false,
        name: None,
    };
    handle(store, &ctx, text).map_or(0, |r| r.messages.len())
}

struct Row {
    size: u64,
    add: f64,
    list: f64,
}

fn measure(
    make: &dyn Fn(&Path) -> Box<dyn BountyStore>,
    seed: &dyn Fn(&Path, &dyn BountyStore, u64),
    reset: &dyn Fn(&Path, &dyn BountyStore, u64),
    budget: Duration,
) -> Vec<Row> {
    SIZES
        .iter()
        .map(|&size| {
            let tmp = tempfile::tempdir_in(".").unwrap();
            let store = make(tmp.path());
            seed(tmp.path(), store.as_ref(), size);
            // The group is put back to `size` bounties every 10 adds (untimed), so every
            // measured /add sees between `size` and `size + 10`.
            let add = rate(
                budget,
                5,
                10,
                || reset(tmp.path(), store.as_ref(), size),
                |i| {
                    assert_eq!(
                        say(
                            store.as_ref(),
                            &format!("/add benchmark task {i} https://example.org/b/{i} +3d")
                        ),
                        1
                    );
                },
            );
            seed(tmp.path(), store.as_ref(), size);
            let list = rate(
                budget,
                5,
                u32::MAX,
                || {},
                |_| {
                    assert!(say(store.as_ref(), "/bounty") >= 1);
                },
            );
            Row { size, add, list }
        })
        .collect()
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let budget = Duration::from_millis(if quick { 50 } else { 2_000 });

    let tmp = tempfile::tempdir_in(".").unwrap();
    let small = json!({"group_id": GROUP.get(), "next_id": 11, "bounties": vec![json!({"id": 1, "text": "x".repeat(100)}); 10]});
    let raw_path = tmp.path().join("raw.json");
    let raw = rate(
        budget,
        5,
        u32::MAX,
        || {},
        |_| statekit::json::write_json_atomic(&raw_path, &small).unwrap(),
    );

    let json_rows = measure(
        &|root| Box::new(JsonStore::new(root.to_path_buf())),
        &|root, _, n| seed_group(root, n),
        &|root, _, n| seed_group(root, n),
        budget,
    );
    let sqlite_rows = measure(
        &|root| Box::new(SqliteStore::open(&root.join("bountybot.db")).unwrap()),
        &|root, _, n| seed_sqlite(root, n),
        &|root, _, n| trim_sqlite(root, n),
        budget,
    );

    println!(
        "bountybot storage benchmark{}",
        if quick {
            " (quick mode: pass --bench for real numbers)"
        } else {
            ""
        }
    );
    println!();
    println!("raw atomic write (temp file, fsync, rename, fsync dir) of a small file: {raw:.0}/s");
    println!();
    println!(
        "| bounties in group | JSON /add per s | JSON /bounty per s | SQLite /add per s | SQLite /bounty per s |"
    );
    println!("|---|---|---|---|---|");
    for (j, s) in json_rows.iter().zip(&sqlite_rows) {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            j.size, j.add, j.list, s.add, s.list
        );
    }
    println!();
    // The ratio that has a target is measured in alternating rounds, so both sides
    // see the same disk weather.
    let tmp = tempfile::tempdir_in(".").unwrap();
    let store = JsonStore::new(tmp.path().to_path_buf());
    seed_group(tmp.path(), 10);
    let (mut raw_total, mut add_total) = (0.0, 0.0);
    for round in 0..5u32 {
        raw_total += rate(
            budget / 5,
            5,
            u32::MAX,
            || {},
            |_| statekit::json::write_json_atomic(&raw_path, &small).unwrap(),
        );
        add_total += rate(
            budget / 5,
            5,
            10,
            || seed_group(tmp.path(), 10),
            |i| {
                assert_eq!(say(&store, &format!("/add round {round} task {i}")), 1);
            },
        );
    }
    println!(
        "JSON /add at 10 bounties = {:.0}% of the raw atomic-write rate, alternating rounds: {:.0}/s vs {:.0}/s (target >= 70%)",
        100.0 * add_total / raw_total,
        add_total / 5.0,
        raw_total / 5.0
    );
    let (small, large) = (&sqlite_rows[0], &sqlite_rows[sqlite_rows.len() - 1]);
    println!(
        "SQLite /add: {:.0}/s at {} bounties, {:.0}/s at {}: cost ratio {:.2} (target <= 2)",
        small.add,
        small.size,
        large.add,
        large.size,
        small.add / large.add
    );
    let crossover = json_rows
        .iter()
        .zip(&sqlite_rows)
        .find(|(j, s)| s.add > j.add)
        .map(|(j, _)| j.size);
    match crossover {
        Some(size) => println!(
            "SQLite /add overtakes JSON from {size} bounties per group (of the sizes measured)"
        ),
        None => println!("JSON /add is faster at every size measured"),
    }
}
