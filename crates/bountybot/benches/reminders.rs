//! Reminder benchmark: one reminder pass over 10,000 chats with the daily digest on,
//! 100 of them due, on the JSON and the SQLite backend: the pass that sends (a sender
//! answering at once, so the store's share shows), the next minute's pass (everything
//! done already: what every idle minute costs), and 1,000 chats due at once through
//! the default pace (25 digests per second) with a sender that takes 30 ms per message
//! like a round trip to Telegram.
//!
//! `cargo bench -p bountybot --bench reminders`. Prints a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use bountybot::domain::ChatId;
use bountybot::reminder::pace::Pace;
use bountybot::reminder::{DigestSender, PassOptions, Report, SendError, remind_pass};
use bountybot::store::migrate::{self, Backend};
use bountybot::store::prelude::*;
use jiff::Timestamp;
use serde_json::json;
use statekit::plan::Mode;

const CHATS: i64 = 10_000;

/// Counts what it is asked to send; waits `latency` per message.
struct Sink {
    latency: Duration,
    sent: AtomicI32,
}

impl DigestSender for Sink {
    fn send(&self, _chat: ChatId, _html: &str) -> Result<i32, SendError> {
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
        Ok(self.sent.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// 10,000 group chats in JSON, each with three bounties (one overdue) and its digest
/// on: the first `due` at 08:30 UTC, the rest at 18:00.
fn seed(root: &Path, due: i64) {
    for i in 0..CHATS {
        let chat = -1_000_000 - i;
        let bounties: Vec<_> = (1..=3)
            .map(|b| {
                json!({
                    "id": b,
                    "created_by_user_id": 1000 + b,
                    "text": format!("Bounty {b} of chat {chat}: fix the thing in module {}", b * i % 13),
                    "due_date_ts": 1_790_000_000 + b * 30 * 86_400,
                    "created_at": 1_790_000_000 + b,
                })
            })
            .collect();
        let at = if i < due { "08:30" } else { "18:00" };
        let doc = json!({
            "group_id": chat, "next_id": 4, "bounties": bounties,
            "time_zone": "UTC", "remind_at": at,
        });
        statekit::json::write_json_atomic(&root.join(chat.to_string()).join("group.json"), &doc)
            .unwrap();
    }
}

fn prepare(root: &Path, backend: Backend, due: i64) -> std::sync::Arc<dyn BountyStore> {
    seed(root, due);
    if backend == Backend::Sqlite {
        let place = migrate::Place::dir(root);
        migrate::migrate_storage(&place, None, Backend::Sqlite, None, Mode::Execute, &|_| {})
            .unwrap();
    }
    migrate::open(&migrate::Place::dir(root), backend).unwrap()
}

fn timed(f: impl FnOnce() -> Report) -> (Duration, Report) {
    let start = Instant::now();
    let r = f();
    (start.elapsed(), r)
}

fn main() {
    let now: Timestamp = "2026-11-24T09:00:00Z".parse().unwrap();
    let next_minute: Timestamp = "2026-11-24T09:01:00Z".parse().unwrap();
    let no_stop = AtomicBool::new(false);
    println!(
        "| backend | chats | due | pass | sent | next minute's pass | 1,000 due at 25/s, 30 ms each | sent |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for backend in [Backend::Json, Backend::Sqlite] {
        let dir = tempfile::tempdir().unwrap();
        let store = prepare(dir.path(), backend, 100);
        let instant = Sink {
            latency: Duration::ZERO,
            sent: AtomicI32::new(0),
        };
        let unpaced = PassOptions {
            pace: Arc::new(Pace::per_second(1_000_000)),
            ..PassOptions::default()
        };
        let (first, r1) =
            timed(|| remind_pass(store.as_ref(), now, &instant, &unpaced, &no_stop).unwrap());
        assert_eq!(r1.sent.len(), 100, "{r1:?}");
        let (idle, r2) = timed(|| {
            remind_pass(store.as_ref(), next_minute, &instant, &unpaced, &no_stop).unwrap()
        });
        assert!(r2.sent.is_empty());
        drop(store);
        let dir2 = tempfile::tempdir().unwrap();
        let store = prepare(dir2.path(), backend, 1_000);
        let network = Sink {
            latency: Duration::from_millis(30),
            sent: AtomicI32::new(0),
        };
        let (burst, r3) = timed(|| {
            remind_pass(
                store.as_ref(),
                now,
                &network,
                &PassOptions::default(),
                &no_stop,
            )
            .unwrap()
        });
        println!(
            "| {backend} | {CHATS} | 100 | {:.0} ms | {} | {:.0} ms | {:.1} s | {} |",
            first.as_secs_f64() * 1e3,
            instant.sent.load(Ordering::SeqCst),
            idle.as_secs_f64() * 1e3,
            burst.as_secs_f64(),
            r3.sent.len(),
        );
    }
}
