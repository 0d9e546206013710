//! Backends benchmark, through the door a person's message takes: `bountybot run
//! --webhook` (the real binary) receiving `/add` updates, on JSON, SQLite and PostgreSQL
//! (a throwaway server with `fsync` on, started from the installed binaries), with 1, 8
//! and 32 chats written at once: one sender per chat, each sending its next `/add` when
//! the previous one was answered, as people in different chats do. Then updates per
//! second through one and three webhook replicas on that PostgreSQL (50 chats, 8 in
//! flight). Telegram is played by this process.
//!
//! `cargo bench -p bountybot --bench backends`. With `BOUNTYBOT_BENCH_BASELINE` set to
//! another build of `bountybot` (for example the release binary of the commit before a
//! change), every `/add` figure is measured for both, alternating run by run, so the
//! reference is measured in the same run as the change. Prints Markdown tables: the
//! median of the rounds, and the range. Without the PostgreSQL server binaries only the
//! JSON and SQLite rows are printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../tests/it/support/fake_bot_api.rs"]
mod fake_bot_api;

#[allow(dead_code)]
#[path = "../tests/it/support/postgres.rs"]
mod pg;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use fake_bot_api::{FakeBotApi, message};

/// `/add`s each measurement sends, over all its chats.
const ADDS: i64 = 384;

/// Rounds per figure (each a fresh store), the builds alternating.
const ROUNDS: usize = 3;

const SECRET: &str = "bench-secret-0123456789";

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

/// Where a replica stores: the backend's name and, for PostgreSQL, the database URL.
#[derive(Clone)]
struct Storage {
    backend: &'static str,
    url: Option<String>,
}

async fn start_replica(api: &FakeBotApi, bin: &Path, storage: &Storage) -> (Replica, u16) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(bin);
    if let Some(url) = &storage.url {
        command.env("BOUNTYBOT_DATABASE_URL", url);
    }
    // Waited for when the Replica is dropped.
    #[allow(clippy::zombie_processes)]
    let child = command
        .args([
            "run",
            "--webhook",
            &format!("http://127.0.0.1:{port}/hook"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("BOUNTYBOT_DATA_DIR", dir.path())
        .env("BOUNTYBOT_STORAGE", storage.backend)
        .env("BOUNTYBOT_TOKEN", "123456:BENCH")
        .env("BOUNTYBOT_API_URL", &api.url)
        .env("BOUNTYBOT_WEBHOOK_SECRET", SECRET)
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
    let storage = Storage {
        backend: "postgres",
        url: tokio::task::block_in_place(|| server.fresh_database()),
    };
    let api = FakeBotApi::start().await;
    let mut running = Vec::new();
    for _ in 0..replicas {
        running.push(start_replica(&api, this_build(), &storage).await);
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
                .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
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

/// The `bountybot` of this build.
fn this_build() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_bountybot"))
}

/// `/add`s per second through one webhook replica of `bin` on a fresh store of
/// `backend`, [`ADDS`] of them over `chats` chats, one sender per chat.
async fn adds_per_second(
    bin: &Path,
    backend: &'static str,
    server: Option<&pg::Server>,
    chats: i64,
) -> f64 {
    let storage = Storage {
        backend,
        url: server.and_then(|s| tokio::task::block_in_place(|| s.fresh_database())),
    };
    let api = FakeBotApi::start().await;
    let (replica, port) = start_replica(&api, bin, &storage).await;
    let client = reqwest::Client::new();
    let next_id = Arc::new(AtomicI64::new(1));
    let mut senders = tokio::task::JoinSet::new();
    let start = Instant::now();
    for c in 0..chats {
        let (client, next_id) = (client.clone(), Arc::clone(&next_id));
        senders.spawn(async move {
            for k in 0..ADDS / chats {
                let id = next_id.fetch_add(1, Ordering::SeqCst);
                let body = message(id, -2_000_000 - c, 1000 + c, &format!("/add task {k}"));
                let r = client
                    .post(format!("http://127.0.0.1:{port}/hook"))
                    .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "update {id}: {}", r.status());
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    let rate = (ADDS / chats * chats) as f64 / start.elapsed().as_secs_f64();
    tokio::task::block_in_place(|| drop(replica));
    rate
}

/// The median of `xs` and its range, as a table cell.
fn cell(mut xs: Vec<f64>) -> String {
    xs.sort_by(f64::total_cmp);
    format!(
        "{:.0} ({:.0}–{:.0})",
        xs[xs.len() / 2],
        xs[0],
        xs[xs.len() - 1]
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = tokio::task::block_in_place(|| pg::Server::start(true));
    let baseline = std::env::var_os("BOUNTYBOT_BENCH_BASELINE").map(PathBuf::from);
    let mut builds: Vec<(&str, &Path)> = Vec::new();
    if let Some(b) = &baseline {
        builds.push(("baseline", b.as_path()));
    }
    builds.push(("this build", this_build()));
    let mut backends = vec!["json", "sqlite"];
    if server.is_some() {
        backends.push("postgres");
    }
    println!(
        "`/add` per second through one webhook replica, {ADDS} per figure, one sender per chat (median of {ROUNDS} rounds, range):"
    );
    println!("| backend | build | 1 chat | 8 chats | 32 chats |");
    println!("|---|---|---:|---:|---:|");
    for backend in backends {
        let mut figures = vec![vec![Vec::new(); 3]; builds.len()];
        for _ in 0..ROUNDS {
            for (i, chats) in [1, 8, 32].into_iter().enumerate() {
                for (b, (_, bin)) in builds.iter().enumerate() {
                    let s = server.as_ref().filter(|_| backend == "postgres");
                    figures[b][i].push(adds_per_second(bin, backend, s, chats).await);
                }
            }
        }
        for (b, (name, _)) in builds.iter().enumerate() {
            let [one, eight, many]: [Vec<f64>; 3] = figures[b].clone().try_into().unwrap();
            println!(
                "| {backend} | {name} | {} | {} | {} |",
                cell(one),
                cell(eight),
                cell(many)
            );
        }
    }
    let Some(server) = &server else {
        println!("\n(no PostgreSQL server binaries: PostgreSQL and webhook replicas not measured)");
        return;
    };
    let updates = 3_000;
    println!(
        "\nUpdates per second through webhook replicas of this build on PostgreSQL ({updates} `/add`s over 50 chats, 8 in flight):"
    );
    println!("| replicas | updates/s |");
    println!("|---:|---:|");
    for replicas in [1, 3] {
        let rate = webhook_rate(server, replicas, updates).await;
        println!("| {replicas} | {rate:.0} |");
    }
}
