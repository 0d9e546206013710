//! Telegram-path benchmark: updates per second through the real binary (`bountybot
//! run`, long polling) against the fake Bot API on loopback, many chats at once, on
//! the JSON and the SQLite backend. Each update is a `/add` in one of the chats; the
//! clock runs from queueing the updates until the last reply arrived.
//!
//! `cargo bench -p bountybot --bench telegram`. Prints a Markdown table. Set
//! BOUNTYBOT_BENCH_UPDATES to change the number of updates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../tests/it/support/fake_bot_api.rs"]
mod fake_bot_api;

use std::process::{Command, Stdio};
use std::time::Instant;

use fake_bot_api::{FakeBotApi, message};

const CHATS: i64 = 50;

async fn run_once(backend: &str, updates: i64) -> f64 {
    let api = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bountybot"))
        .args(["--storage", backend, "run"])
        .env("BOUNTYBOT_DATA_DIR", dir.path())
        .env("BOUNTYBOT_TOKEN", "123456:BENCH")
        .env("BOUNTYBOT_API_URL", &api.url)
        .env("RUST_LOG", "error")
        .env_remove("TELOXIDE_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Warm up: one update, so the bot is polling before the clock starts.
    api.push(message(1, -1, 1, "/start"));
    api.wait_for_sent(1).await;
    let start = Instant::now();
    for n in 0..updates {
        let chat = -(1_000 + n % CHATS);
        api.push(message(2 + n, chat, 7, &format!("/add task number {n}")));
    }
    api.wait_for_sent(1 + updates as usize).await;
    let secs = start.elapsed().as_secs_f64();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    updates as f64 / secs
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let updates: i64 = std::env::var("BOUNTYBOT_BENCH_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    println!("bountybot Telegram-path benchmark ({updates} updates over {CHATS} chats)");
    println!("| backend | updates/s (best of 3) | runs |");
    println!("|---|---|---|");
    for backend in ["json", "sqlite"] {
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(run_once(backend, updates).await);
        }
        let best = runs.iter().copied().fold(0.0, f64::max);
        let all: Vec<String> = runs.iter().map(|r| format!("{r:.0}")).collect();
        println!("| {backend} | {best:.0} | {} |", all.join(", "));
    }
}
