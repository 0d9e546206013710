//! Backends benchmark: `/add` per second through the command layer with 1, 8 and 32
//! chats written at once (one thread each) on SQLite and on PostgreSQL on the same
//! machine (a throwaway server with `fsync` on, started from the installed binaries);
//! then updates per second through the real binary in webhook mode, one replica and
//! three replicas on that PostgreSQL, Telegram played by this process (8 updates in
//! flight, each to a replica picked in turn).
//!
//! `cargo bench -p bountybot --bench backends`. Prints Markdown tables. Without the
//! PostgreSQL server binaries only the SQLite rows are printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../tests/it/support/fake_bot_api.rs"]
mod fake_bot_api;

#[allow(dead_code)]
#[path = "../tests/it/support/postgres.rs"]
mod pg;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bountybot::command::{Context, handle};
use bountybot::domain::{ChatId, UserId};
use bountybot::store::postgres::{DatabaseUrl, PostgresStore};
use bountybot::store::prelude::*;
use bountybot::store::sqlite::SqliteStore;
use fake_bot_api::{FakeBotApi, message};

/// How long each `/add` measurement runs.
const BUDGET: Duration = Duration::from_secs(3);

/// `/add`s per second with `chats` threads, each adding to its own chat until the
/// budget is spent.
fn adds_per_second(store: &Arc<dyn BountyStore>, chats: usize) -> f64 {
    let start = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..chats)
            .map(|i| {
                let store = Arc::clone(store);
                s.spawn(move || {
                    let chat = ChatId::new(-2_000_000 - i as i64);
                    let mut n = 0u64;
                    while start.elapsed() < BUDGET {
                        let ctx = Context {
                            chat,
                            user: UserId::new(1000 + i as i64),
                            now: jiff::Timestamp::now(),
                            bot_username: "bountybot",
                            update: None,
                            admin: false,
                            name: None,
                        };
                        handle(store.as_ref(), &ctx, &format!("/add task {n}")).unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    counts.iter().sum::<u64>() as f64 / start.elapsed().as_secs_f64()
}

/// A `bountybot run --webhook` process on `url`, killed when dropped.
struct Replica {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_replica(api: &FakeBotApi, url: &str) -> (Replica, u16) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    // Waited for when the Replica is dropped.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_bountybot"))
        .args([
            "run",
            "--webhook",
            &format!("http://127.0.0.1:{port}/hook"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("BOUNTYBOT_DATA_DIR", dir.path())
        .env("BOUNTYBOT_DATABASE_URL", url)
        .env("BOUNTYBOT_TOKEN", "123456:BENCH")
        .env("BOUNTYBOT_API_URL", &api.url)
        .env("BOUNTYBOT_WEBHOOK_SECRET", "bench-secret-0123456789")
        .env("RUST_LOG", "error")
        .env_remove("TELOXIDE_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (Replica { child, _dir: dir }, port);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("replica did not start");
}

/// Updates per second through `replicas` webhook replicas on a fresh database.
async fn webhook_rate(server: &pg::Server, replicas: usize, updates: i64) -> f64 {
    let url = tokio::task::block_in_place(|| server.fresh_database()).unwrap();
    let api = FakeBotApi::start().await;
    let mut running = Vec::new();
    for _ in 0..replicas {
        running.push(start_replica(&api, &url).await);
    }
    let ports: Vec<u16> = running.iter().map(|(_, p)| *p).collect();
    let client = reqwest::Client::new();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for id in 1..=updates {
        let permit = Arc::clone(&in_flight).acquire_owned().await.unwrap();
        let port = ports[id as usize % ports.len()];
        let body = message(id, -(3_000 + id % 50), 7, &format!("/add task {id}"));
        let client = client.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let r = client
                .post(format!("http://127.0.0.1:{port}/hook"))
                .header("X-Telegram-Bot-Api-Secret-Token", "bench-secret-0123456789")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
    updates as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = tokio::task::block_in_place(|| pg::Server::start(true));
    println!("`/add` per second through the command layer, chats written at once:");
    println!("| backend | 1 chat | 8 chats | 32 chats |");
    println!("|---|---:|---:|---:|");
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn BountyStore> =
        Arc::new(SqliteStore::open(&dir.path().join("bountybot.db")).unwrap());
    let mut backends = vec![("SQLite", sqlite)];
    if let Some(server) = &server {
        let url = tokio::task::block_in_place(|| server.fresh_database()).unwrap();
        let store =
            tokio::task::block_in_place(|| PostgresStore::open(&DatabaseUrl::new(url))).unwrap();
        backends.push(("PostgreSQL", Arc::new(store)));
    }
    for (name, store) in &backends {
        let rates: Vec<f64> = [1, 8, 32]
            .iter()
            .map(|&n| tokio::task::block_in_place(|| adds_per_second(store, n)))
            .collect();
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} |",
            rates[0], rates[1], rates[2]
        );
    }
    // A PostgreSQL client blocks as it closes: not on the runtime's threads.
    tokio::task::block_in_place(|| drop(backends));
    let Some(server) = &server else {
        println!("\n(no PostgreSQL server binaries: webhook replicas not measured)");
        return;
    };
    let updates = 3_000;
    println!(
        "\nUpdates per second through webhook replicas on PostgreSQL ({updates} `/add`s over 50 chats, 8 in flight):"
    );
    println!("| replicas | updates/s |");
    println!("|---:|---:|");
    for replicas in [1, 3] {
        let rate = webhook_rate(server, replicas, updates).await;
        println!("| {replicas} | {rate:.0} |");
    }
}
