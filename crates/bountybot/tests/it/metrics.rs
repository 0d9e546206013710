//! `GET /metrics` on the webhook listener of `bountybot run` (the real binary): who
//! may read it, that `promtool check metrics` accepts it, and that its counters move
//! with updates (one failing once, then redelivered twice), a sticker, a 429, and a
//! reply to a chat that removed the bot.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use bountybot::crash::FAIL_ONCE_ENV;

use crate::support::fake_bot_api::{Failure, FakeBotApi, message, sticker};
use crate::support::{BIN, Data};

const GROUP: i64 = -4_600_100;
const ANN: i64 = 601;
const SECRET: &str = "metrics-secret-0123456789";
const TOKEN: &str = "scrape-token-0123456789abcdef";

/// A `bountybot run` process, killed when dropped.
struct Bot(std::process::Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `promtool`, or `None` (said loudly) when it is missing and not required.
fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    let required = std::env::var("BOUNTYBOT_REQUIRE_PROMTOOL").is_ok_and(|v| v == "1");
    match found {
        Some(p) => Some(p),
        None if required => panic!("BOUNTYBOT_REQUIRE_PROMTOOL=1 but promtool is not installed"),
        None => {
            eprintln!(
                "\n!!!! SKIPPED promtool check of the bot's metrics: promtool not found; install Debian's prometheus package !!!!\n"
            );
            None
        }
    }
}

/// Asserts that `promtool check metrics` accepts `text` (lint included).
fn assert_promtool_accepts(text: &str) {
    use std::io::Write;
    let Some(promtool) = promtool() else { return };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused the output:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the sample line `series` (e.g. `name{label="v"}`), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_local_or_token_only_pass_promtool_and_count_updates_replies_and_429s() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let token_file = d.tmp.path().join("metrics-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let listen = format!("127.0.0.1:{port}");
    let _bot = Bot(Command::new(BIN)
        .args(["run", "--webhook", &hook, "--listen", &listen])
        .args(["--secret-token", SECRET])
        .arg("--metrics-token-file")
        .arg(&token_file)
        .env("BOUNTYBOT_DATA_DIR", d.dir())
        .env("BOUNTYBOT_TOKEN", "123456:TEST")
        .env("BOUNTYBOT_API_URL", &api.url)
        .env("RUST_LOG", "error")
        .env(FAIL_ONCE_ENV, format!("add:{GROUP}"))
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("BOUNTYBOT_STORAGE")
        .env_remove("BOUNTYBOT_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "webhook listener did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = reqwest::Client::new();
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let scrape = || async {
        let answer = client.get(&metrics_url).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let kind = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        answer.text().await.unwrap()
    };
    let before = scrape().await;
    assert_promtool_accepts(&before);
    assert_eq!(
        value(&before, "bountybot_updates_total{outcome=\"done\"}"),
        Some(0.0)
    );

    // The first reply (the notice that the update will be tried again) meets a 429.
    api.fail_next_send(Failure::RetryAfter(1));
    let update = message(7, GROUP, ANN, "/add Counted once");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let answer = client
            .post(&hook)
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .json(&update)
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(
        statuses,
        [500, 200, 200],
        "failed once, applied, then a duplicate"
    );
    let answer = client
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&sticker(8, GROUP, ANN))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    api.wait_until("the notice and the confirmation", |s, _| {
        s.iter().any(|m| m.text.starts_with("Added")) && s.len() >= 2
    })
    .await;

    // The counters, once the outbox and the first reminder pass are done.
    let want = [
        ("bountybot_updates_total{outcome=\"done\"}", 1.0),
        ("bountybot_updates_total{outcome=\"retried\"}", 1.0),
        ("bountybot_updates_total{outcome=\"duplicate\"}", 1.0),
        ("bountybot_updates_total{outcome=\"ignored\"}", 1.0),
        ("bountybot_replies_queued_total", 2.0),
        ("bountybot_replies_given_up_total{reason=\"attempts\"}", 0.0),
        ("bountybot_telegram_rate_limited_total", 1.0),
        ("bountybot_digests_sent_total", 0.0),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = scrape().await;
        let passes = value(&text, "bountybot_reminder_passes_total{result=\"ok\"}");
        if want.iter().all(|(s, v)| value(&text, s) == Some(*v)) && passes >= Some(1.0) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counters did not reach {want:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_promtool_accepts(&text);

    // A reply to a chat that removed the bot is given up.
    api.fail_next_send(Failure::Forbidden);
    let answer = client
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&message(9, ANN, ANN, "/add Never told"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape().await;
        let want = [
            ("bountybot_updates_total{outcome=\"done\"}", 2.0),
            ("bountybot_replies_queued_total", 3.0),
            ("bountybot_replies_given_up_total{reason=\"gone\"}", 1.0),
        ];
        if want.iter().all(|(s, v)| value(&text, s) == Some(*v)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counters did not reach {want:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Through a proxy or tunnel, or by a public name: as if there were no such page.
    let refused = [
        ("host", "bot.example.org"),
        ("x-forwarded-for", "203.0.113.9"),
        ("cf-connecting-ip", "203.0.113.9"),
        ("authorization", "Bearer wrong-token-wrong-token"),
    ];
    for (name, v) in refused {
        let answer = client
            .get(&metrics_url)
            .header(name, v)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{name}: {v}");
    }
    // The token opens it from anywhere.
    let answer = client
        .get(&metrics_url)
        .header("host", "bot.example.org")
        .header("x-forwarded-for", "203.0.113.9")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("bountybot_updates_total")
    );
}

#[test]
fn a_metrics_token_file_others_may_read_is_refused() {
    let d = Data::new();
    let token_file = d.tmp.path().join("metrics-token");
    std::fs::write(&token_file, TOKEN).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = d
        .cmd()
        .args([
            "run",
            "--webhook",
            "https://bot.example.org/hook",
            "--listen",
            "127.0.0.1:1",
            "--secret-token",
            SECRET,
        ])
        .arg("--metrics-token-file")
        .arg(&token_file)
        .env("BOUNTYBOT_TOKEN", "123456:TEST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
}
