//! Several `bountybot run` processes on one throwaway PostgreSQL database: webhook
//! replicas behind a (simulated) load balancer apply each update once and each chat's
//! updates in `update_id` order, through duplicates and a replica killed half-way;
//! among polling replicas one polls, and another takes over when it dies.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bountybot::domain::ChatId;
use bountybot::store::postgres::{DatabaseUrl, PostgresStore};
use bountybot::store::prelude::*;
use tokio::sync::Semaphore;

use crate::support::fake_bot_api::{FakeBotApi, message};
use crate::support::postgres::fresh_database;
use crate::support::{BIN, Data};

const SECRET: &str = "replica-secret-0123456789";

/// A `bountybot run` process, killed when dropped.
struct Replica {
    child: Child,
    _data: Data,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    fn start(api: &FakeBotApi, url: &str, extra: &[&str]) -> Replica {
        let data = Data::new();
        let child = Command::new(BIN)
            .arg("run")
            .args(extra)
            .env("BOUNTYBOT_DATA_DIR", data.dir())
            .env("BOUNTYBOT_DATABASE_URL", url)
            .env("BOUNTYBOT_TOKEN", "123456:TEST")
            .env("BOUNTYBOT_API_URL", &api.url)
            .env("BOUNTYBOT_WEBHOOK_SECRET", SECRET)
            .env("RUST_LOG", "error")
            .env_remove("TELOXIDE_TOKEN")
            .env_remove("BOUNTYBOT_STORAGE")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Replica { child, _data: data }
    }

    /// SIGTERM, then whether it exited 0 (within 30 s).
    fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// `kill -9`.
    fn kill(&mut self) {
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

async fn wait_listening(port: u16) {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("replica on port {port} did not start");
}

/// `n` webhook replicas on `url`, each on a port of its own, listening.
async fn webhook_replicas(api: &FakeBotApi, url: &str, n: usize) -> (Vec<Replica>, Vec<u16>) {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let mut replicas = Vec::with_capacity(n);
    for p in &ports {
        let (hook, listen) = (
            format!("http://127.0.0.1:{p}/hook"),
            format!("127.0.0.1:{p}"),
        );
        let flags = [
            "--webhook",
            &hook,
            "--listen",
            &listen,
            "--max-connections",
            "40",
        ];
        replicas.push(Replica::start(api, url, &flags));
    }
    for p in &ports {
        wait_listening(*p).await;
    }
    (replicas, ports)
}

/// A small deterministic random source (xorshift), so a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Each chat's bounty texts in id order.
fn texts_by_chat(url: &str) -> BTreeMap<i64, Vec<String>> {
    let store = PostgresStore::open(&DatabaseUrl::new(url.to_string())).unwrap();
    store
        .export()
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.chat.get(),
                c.bounties.into_iter().map(|b| b.text).collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_webhook_replicas_apply_each_update_once_and_in_order_through_a_kill() {
    let Some(url) = tokio::task::block_in_place(fresh_database) else {
        return;
    };
    const UPDATES: i64 = 5_000;
    const CHATS: i64 = 50;
    let api = FakeBotApi::start().await;
    let (mut replicas, ports) = webhook_replicas(&api, &url, 3).await;
    // Telegram, as the test plays it: updates in id order, several in flight, each to
    // a replica the load balancer picks; a tenth delivered a second time later; an
    // update whose replica fails is delivered again to another.
    let alive: Arc<std::sync::Mutex<Vec<bool>>> = Arc::new(std::sync::Mutex::new(vec![true; 3]));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let in_flight = Arc::new(Semaphore::new(8));
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut tasks = tokio::task::JoinSet::new();
    let mut expected: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut deliveries: Vec<(i64, usize)> = Vec::new();
    for id in 1..=UPDATES {
        let chat = -1_000_000 - (dice.below(CHATS as usize) as i64);
        expected.entry(chat).or_default().push(format!("u{id}"));
        deliveries.push((id, dice.below(3)));
        if dice.below(10) == 0 {
            // The duplicate comes a little later, to any replica.
            deliveries.push((id, dice.below(3)));
        }
    }
    let chat_of: BTreeMap<i64, i64> = expected
        .iter()
        .flat_map(|(c, ts)| ts.iter().map(move |t| (t[1..].parse::<i64>().unwrap(), *c)))
        .collect();
    // Duplicates go out a few positions after the original.
    let mut order: Vec<(i64, usize)> = Vec::with_capacity(deliveries.len());
    let mut held: Vec<(usize, (i64, usize))> = Vec::new();
    for (i, d) in deliveries.into_iter().enumerate() {
        if order.iter().any(|(id, _)| *id == d.0) {
            held.push((i + 20, d));
        } else {
            order.push(d);
        }
        while let Some(pos) = held.iter().position(|(at, _)| *at <= i) {
            order.push(held.remove(pos).1);
        }
    }
    order.extend(held.into_iter().map(|(_, d)| d));
    let total = order.len();
    for (n, (id, first_choice)) in order.into_iter().enumerate() {
        if n == total / 2 {
            // Half-way: kill -9 one replica; what it had in flight is delivered again.
            alive.lock().unwrap()[1] = false;
            replicas[1].kill();
        }
        let permit = Arc::clone(&in_flight).acquire_owned().await.unwrap();
        let (client, alive, ports) = (client.clone(), Arc::clone(&alive), ports.clone());
        let body = message(id, chat_of[&id], 7, &format!("/add u{id}"));
        tasks.spawn(async move {
            let _permit = permit;
            let mut target = first_choice;
            for attempt in 0..20 {
                if !alive.lock().unwrap()[target] {
                    target = (target + 1) % 3;
                    continue;
                }
                let answer = client
                    .post(format!("http://127.0.0.1:{}/hook", ports[target]))
                    .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
                    .json(&body)
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status().is_success() => return,
                    _ => {
                        target = (target + 1 + attempt % 2) % 3;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            panic!("update {id} was never accepted");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    drop(replicas);
    let got = tokio::task::block_in_place(|| texts_by_chat(&url));
    assert_eq!(got.len(), expected.len());
    for (chat, want) in &expected {
        assert_eq!(
            got.get(chat),
            Some(want),
            "chat {chat}: each update once, numbered in update_id order"
        );
    }
}

#[test]
fn max_connections_is_for_webhook_mode_and_between_1_and_100() {
    for (args, ok) in [
        (vec!["--max-connections", "5"], false),
        (
            vec![
                "--webhook",
                "https://x.org/h",
                "--listen",
                "127.0.0.1:1",
                "--max-connections",
                "0",
            ],
            false,
        ),
        (
            vec![
                "--webhook",
                "https://x.org/h",
                "--listen",
                "127.0.0.1:1",
                "--max-connections",
                "101",
            ],
            false,
        ),
    ] {
        let out = Command::new(BIN)
            .arg("run")
            .args(&args)
            .env("BOUNTYBOT_TOKEN", "123456:TEST")
            .env("BOUNTYBOT_WEBHOOK_SECRET", SECRET)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(if ok { 0 } else { 2 }), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_polling_replica_dies_another_takes_over_and_applies_nothing_twice() {
    let Some(url) = tokio::task::block_in_place(fresh_database) else {
        return;
    };
    const GROUP: i64 = -4_200_100;
    let api = FakeBotApi::start().await;
    let mut first = Replica::start(&api, &url, &[]);
    // The first replica polls before the second starts.
    for _ in 0..400 {
        if api.calls().iter().any(|c| c == "getupdates") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let second = Replica::start(&api, &url, &[]);
    for id in 1..=40 {
        api.push(message(id, GROUP, 7, &format!("/add u{id}")));
    }
    api.wait_for_sent(40).await;
    first.kill();
    // What the dead replica fetched is delivered again, as Telegram does with updates
    // whose confirmation never came; the survivor takes over and goes on.
    api.redeliver_all();
    for id in 41..=80 {
        api.push(message(id, GROUP, 7, &format!("/add u{id}")));
    }
    api.wait_until("the survivor's replies", |sent, _| {
        sent.iter().any(|s| s.text.contains(": u80"))
    })
    .await;
    drop(second);
    let got = tokio::task::block_in_place(|| texts_by_chat(&url));
    let want: Vec<String> = (1..=80).map(|i| format!("u{i}")).collect();
    assert_eq!(got.get(&GROUP), Some(&want), "every update once, in order");
    let listed = tokio::task::block_in_place(|| {
        let store = PostgresStore::open(&DatabaseUrl::new(url)).unwrap();
        store.list(ChatId::new(GROUP)).unwrap().len()
    });
    assert_eq!(listed, 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_postgres_stop_cleanly_on_sigterm() {
    let Some(url) = tokio::task::block_in_place(fresh_database) else {
        return;
    };
    let api = FakeBotApi::start().await;
    // Polling, after it answered an update (it holds the leadership by then).
    let mut polling = Replica::start(&api, &url, &[]);
    api.push(message(1, -4_300_100, 7, "/add before the stop"));
    api.wait_for_sent(1).await;
    assert!(
        tokio::task::block_in_place(|| polling.terminate()),
        "polling replica exits 0"
    );
    // Webhook mode.
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let listen = format!("127.0.0.1:{port}");
    let mut webhook = Replica::start(&api, &url, &["--webhook", &hook, "--listen", &listen]);
    wait_listening(port).await;
    let answer = reqwest::Client::new()
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&message(2, -4_300_100, 7, "/add via the hook"))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    assert!(
        tokio::task::block_in_place(|| webhook.terminate()),
        "webhook replica exits 0"
    );
    let got = tokio::task::block_in_place(|| texts_by_chat(&url));
    assert_eq!(
        got.get(&-4_300_100),
        Some(&vec![
            "before the stop".to_string(),
            "via the hook".to_string()
        ])
    );
}

/// Counters the simulated Telegram keeps while PostgreSQL is killed under it.
#[derive(Default)]
struct Deliveries {
    /// Updates accepted (answered 2xx) at least once.
    accepted: std::sync::atomic::AtomicUsize,
    /// Deliveries refused (not 2xx) or failed, each delivered again later.
    refused: std::sync::atomic::AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_webhook_replicas_lose_nothing_and_apply_nothing_twice_when_postgres_is_killed() {
    use std::sync::atomic::Ordering::SeqCst;
    // A server of the test's own: it is killed half-way.
    let Some(server) =
        tokio::task::block_in_place(|| crate::support::postgres::Server::start(false))
    else {
        return;
    };
    let server = Arc::new(server);
    let url = tokio::task::block_in_place(|| server.fresh_database()).unwrap();
    const UPDATES: i64 = 600;
    const CHATS: i64 = 20;
    let api = FakeBotApi::start().await;
    let (replicas, ports) = webhook_replicas(&api, &url, 2).await;
    let counts = Arc::new(Deliveries::default());
    // The crash: once a third of the updates are in, every server process quits at
    // once; the server starts again once the replicas have refused 8 deliveries for it
    // (every one in flight: the outage was seen), while the stream goes on. A replica
    // answers 500 once its pool gives up waiting for the server.
    let outage = {
        let (server, counts) = (Arc::clone(&server), Arc::clone(&counts));
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
            while counts.accepted.load(SeqCst) < (UPDATES / 3) as usize {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "a third never came in"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let server_for_crash = Arc::clone(&server);
            tokio::task::spawn_blocking(move || server_for_crash.crash())
                .await
                .unwrap();
            let refused_at_crash = counts.refused.load(SeqCst);
            while counts.refused.load(SeqCst) < refused_at_crash + 8 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no delivery was refused while the database was down"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let accepted_while_down = counts.accepted.load(SeqCst);
            tokio::task::spawn_blocking(move || server.restart())
                .await
                .unwrap();
            accepted_while_down
        })
    };
    // Telegram, as the test plays it: updates in id order, 8 in flight, each to the
    // replica the load balancer picks; a refused or failed delivery is delivered again
    // after a backoff, to the other replica; a tenth delivered a second time once
    // accepted.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let in_flight = Arc::new(Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    let mut expected: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for id in 1..=UPDATES {
        let chat = -1_100_000 - id % CHATS;
        expected.entry(chat).or_default().push(format!("u{id}"));
        let permit = Arc::clone(&in_flight).acquire_owned().await.unwrap();
        let (client, ports, counts) = (client.clone(), ports.clone(), Arc::clone(&counts));
        let body = message(id, chat, 7, &format!("/add u{id}"));
        tasks.spawn(async move {
            let _permit = permit;
            let give_up = tokio::time::Instant::now() + Duration::from_secs(300);
            let mut target = id as usize % 2;
            let deliveries = if id % 10 == 0 { 2 } else { 1 };
            for delivery in 0..deliveries {
                let mut backoff = Duration::from_millis(50);
                loop {
                    let answer = client
                        .post(format!("http://127.0.0.1:{}/hook", ports[target]))
                        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
                        .json(&body)
                        .send()
                        .await;
                    if answer.is_ok_and(|r| r.status().is_success()) {
                        if delivery == 0 {
                            counts.accepted.fetch_add(1, SeqCst);
                        }
                        break;
                    }
                    counts.refused.fetch_add(1, SeqCst);
                    assert!(
                        tokio::time::Instant::now() < give_up,
                        "update {id} was never accepted"
                    );
                    target = 1 - target;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                target = 1 - target;
            }
        });
    }
    let mut lost = None;
    while let Some(done) = tasks.join_next().await {
        lost = lost.or(done.err());
    }
    // The outage's own failure first: it explains a lost update.
    let accepted_while_down = outage.await.unwrap();
    if let Some(e) = lost {
        panic!("a delivery failed: {e}");
    }
    assert!(
        accepted_while_down < UPDATES as usize,
        "the database was killed before the stream ended"
    );
    assert!(counts.refused.load(SeqCst) >= 8);
    drop(replicas);
    let got = tokio::task::block_in_place(|| texts_by_chat(&url));
    assert_eq!(got.len(), expected.len(), "every chat has its bounties");
    for (chat, want) in &expected {
        let mut have = got[chat].clone();
        have.sort_by_key(|t| t[1..].parse::<i64>().unwrap());
        assert_eq!(&have, want, "chat {chat}: every update applied, each once");
    }
}

/// Posts `update` to replica `first` (then the other ones, in turn, until one
/// accepts it), as Telegram retries a webhook delivery.
async fn deliver(
    client: reqwest::Client,
    ports: Vec<u16>,
    first: usize,
    update: serde_json::Value,
) {
    let mut target = first;
    for _ in 0..40 {
        let answer = client
            .post(format!("http://127.0.0.1:{}/hook", ports[target]))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .json(&update)
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => return,
            _ => {
                target = (target + 1) % ports.len();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    panic!("{update} was never accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taps_spread_over_two_replicas_apply_once_and_in_order() {
    use crate::support::fake_bot_api::callback;
    let Some(url) = tokio::task::block_in_place(fresh_database) else {
        return;
    };
    const CHAT: i64 = -1_001_000_000_888;
    const ANN: i64 = 7;
    const TAPS: i64 = 40;
    let api = FakeBotApi::start().await;
    let (_replicas, ports) = webhook_replicas(&api, &url, 2).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    deliver(
        client.clone(),
        ports.clone(),
        0,
        message(1, CHAT, ANN, "/add Back and forth"),
    )
    .await;
    // Ann taps Done, Reopen, Done... under one message: each tap is right only after
    // the one before it, so one out of order would be refused ("done already"). A
    // tenth are delivered twice, a little later; each goes to either replica, several
    // in flight.
    let mut dice = Dice(0x2545_F491_4F6C_DD1D);
    let mut order: Vec<(i64, usize)> = Vec::new();
    let mut again: Vec<(i64, usize)> = Vec::new();
    for id in 2..2 + TAPS {
        order.push((id, dice.below(2)));
        if dice.below(10) == 0 {
            again.push((id, dice.below(2)));
        }
        if id % 5 == 0 {
            order.append(&mut again);
        }
    }
    order.append(&mut again);
    let in_flight = Arc::new(Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    for (id, replica) in order {
        let data = if id % 2 == 0 { "d:1" } else { "r:1" };
        let tap = callback(id, CHAT, ANN, 77, data);
        let permit = Arc::clone(&in_flight).acquire_owned().await.unwrap();
        let (client, ports) = (client.clone(), ports.clone());
        tasks.spawn(async move {
            let _permit = permit;
            deliver(client, ports, replica, tap).await;
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    api.wait_for_taps("an answer to every tap", |_, answers| {
        answers.iter().filter(|a| a.text.is_some()).count() >= TAPS as usize
    })
    .await;
    let answers = api.answers();
    let said: Vec<_> = answers.iter().filter(|a| a.text.is_some()).collect();
    assert_eq!(said.len(), TAPS as usize, "one answer a tap: {said:#?}");
    for a in &said {
        assert!(!a.alert, "every tap applied, in order: {a:?}");
        let id: i64 = a.query_id[1..].parse().unwrap();
        let want = if id % 2 == 0 {
            "Done: bounty"
        } else {
            "Reopened bounty"
        };
        assert!(a.text.as_deref().unwrap_or("").starts_with(want), "{a:?}");
    }
    // Forty taps from open: open again.
    let b = tokio::task::block_in_place(|| {
        let store = PostgresStore::open(&DatabaseUrl::new(url.clone())).unwrap();
        store
            .get(ChatId::new(CHAT), bountybot::domain::BountyId::new(1))
            .unwrap()
            .unwrap()
    });
    assert_eq!(b.status, bountybot::domain::Status::Open);
}
