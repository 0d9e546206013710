//! No lost updates across processes and tasks; nothing acknowledged lost on kill -9.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::Arc;

use bountybot::command::{Context, handle};
use bountybot::domain::{ChatId, UserId};
use bountybot::store::json::JsonStore;
use bountybot::store::prelude::*;
use statekit::lock::KeyedMutex;

use crate::support::{Data, files, ids, read_json};

const GROUP: i64 = -100_777;

#[test]
fn eight_processes_adding_at_once_lose_nothing() {
    let d = Data::new();
    eight_processes_add_to_one_group(&d, &[]);
    check_group_of_800(&d);
}

/// Starts 8 `repl` processes at once, each adding 100 bounties to one group, and
/// checks that each got 100 acknowledgements.
pub fn eight_processes_add_to_one_group(d: &Data, extra: &[&str]) {
    let script: String = (0..100).map(|i| format!("/add task {i}\n")).collect();
    let children: Vec<_> = (1..=8)
        .map(|p| {
            let mut child = d
                .cmd()
                .args(extra)
                .args([
                    "repl",
                    "--chat",
                    &GROUP.to_string(),
                    "--user",
                    &p.to_string(),
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let script = script.clone();
            // Feed from threads so all eight run at the same time.
            std::thread::spawn(move || stdin.write_all(script.as_bytes()).unwrap());
            child
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .filter(|l| l.starts_with("Added"))
                .count(),
            100
        );
    }
}

fn check_group_of_800(d: &Data) {
    let group = d.json(&format!("{GROUP}/group.json"));
    let mut got = ids(&group);
    got.sort_unstable();
    assert_eq!(got, (1..=800).collect::<Vec<_>>());
    assert_eq!(group["next_id"], 801);
    for p in 1..=8 {
        let mine = group["bounties"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["created_by_user_id"] == p)
            .count();
        assert_eq!(mine, 100, "process {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_adding_at_once_lose_nothing() {
    let d = Data::new();
    let store: Arc<dyn BountyStore> = Arc::new(JsonStore::new(d.dir()));
    let chats = Arc::new(KeyedMutex::new());
    let mut tasks = Vec::new();
    for t in 1..=8i64 {
        let store = Arc::clone(&store);
        let chats = Arc::clone(&chats);
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                // The async front ends' pattern: order per chat in-process, then the
                // blocking store work off the async threads.
                let _turn = chats.lock(ChatId::new(GROUP)).await;
                let store = Arc::clone(&store);
                let reply = tokio::task::spawn_blocking(move || {
                    let ctx = Context {
                        chat: ChatId::new(GROUP),
                        user: UserId::new(t),
                        now: jiff::Timestamp::now(),
                        bot_username: "bountybot",
                        update: None,
                        admin: false,
                        name: None,
                    };
                    handle(store.as_ref(), &ctx, &format!("/add task {t}-{i}"))
                })
                .await
                .unwrap();
                assert!(reply.unwrap().messages[0].starts_with("Added"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ids: Vec<u64> = store
        .list(ChatId::new(GROUP))
        .unwrap()
        .iter()
        .map(|b| b.id.get())
        .collect();
    assert_eq!(ids, (1..=800).collect::<Vec<_>>());
}

#[test]
fn kill_9_mid_stream_keeps_every_acknowledged_bounty_and_every_file_parseable() {
    let d = Data::new();
    let mut child = d
        .cmd()
        .args(["repl", "--chat", &GROUP.to_string(), "--user", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // Keep writing until the pipe breaks: the process dies mid-stream.
        for i in 0.. {
            if writeln!(stdin, "/add streamed {i}").is_err() {
                break;
            }
        }
    });
    let mut acked = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < 150 {
        let line = lines.next().unwrap().unwrap();
        let id: u64 = line
            .strip_prefix("Added bounty #")
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected reply {line:?}"));
        acked.push(id);
    }
    child.kill().unwrap(); // SIGKILL, while writes are in flight
    child.wait().unwrap();
    drop(lines);
    writer.join().unwrap();

    for f in files(&d.dir()) {
        if f.ends_with(".json") && !f.contains(".tmp-") {
            read_json(&d.dir().join(&f));
        }
    }
    let stored = ids(&d.json(&format!("{GROUP}/group.json")));
    for id in &acked {
        assert!(stored.contains(id), "acknowledged #{id} is stored");
    }
    assert_eq!(
        stored,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "no gaps, no duplicates"
    );
    // The bot keeps working on the same files after the crash.
    assert!(
        d.send(GROUP, 5, "/add after crash")
            .contains(&format!("#{}", stored.len() + 1))
    );
}
