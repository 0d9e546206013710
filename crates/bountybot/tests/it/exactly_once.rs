//! Exactly once per update: the bot is crashed (abort) at each step between receiving
//! an update and finishing it, restarted, and Telegram delivers the unconfirmed update
//! again. The change is never applied twice and never lost.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::fake_bot_api::{FakeBotApi, message};
use crate::support::{BIN, Data};

const GROUP: i64 = -4_300_200;
const ANN: i64 = 501;

fn spawn(d: &Data, api: &FakeBotApi, abort_after: Option<&str>) -> std::process::Child {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .args(d.storage_args())
        .env("BOUNTYBOT_DATA_DIR", d.dir())
        .env("BOUNTYBOT_TOKEN", "123456:TEST")
        .env("BOUNTYBOT_API_URL", &api.url)
        .env("RUST_LOG", "warn")
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("BOUNTYBOT_TEST_ABORT_AFTER")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(step) = abort_after {
        cmd.env("BOUNTYBOT_TEST_ABORT_AFTER", step);
    }
    cmd.spawn().unwrap()
}

fn bounties(d: &Data) -> Vec<String> {
    let path = d.dir().join(GROUP.to_string()).join("group.json");
    if path.exists() {
        let v = d.json(&format!("{GROUP}/group.json"));
        return v["bounties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["text"].as_str().unwrap().to_string())
            .collect();
    }
    let db = d.dir().join("bountybot.db");
    if !db.exists() {
        return Vec::new();
    }
    let c = statekit::sqlite::open_read_only(&db).unwrap();
    let mut s = c
        .prepare("SELECT text FROM bounties WHERE chat_id = ?1 ORDER BY id")
        .unwrap();
    s.query_map([GROUP], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Waits (up to 30 s) until `crashed` has aborted at `step`.
async fn aborted(crashed: &mut std::process::Child, step: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = crashed.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no crash at {step}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(!status.success(), "aborted at {step}");
}

async fn crash_then_redeliver(sqlite: bool) {
    for step in ["received", "stored", "sent"] {
        let api = FakeBotApi::start().await;
        let d = Data::new();
        if sqlite {
            d.use_sqlite();
        }
        let mut crashed = spawn(&d, &api, Some(step));
        api.push(message(1, GROUP, ANN, "/add Exactly once"));
        aborted(&mut crashed, step).await;
        let replies_before = api.sent().len();

        // Restarted: update 1 comes again (never confirmed), then a second one.
        let mut bot = spawn(&d, &api, None);
        api.push(message(2, GROUP, ANN, "/bounty"));
        let sent = api
            .wait_until("the list after the restart", |s, _| {
                s.iter()
                    .any(|m| m.text.contains("Exactly once") && !m.text.contains("Added"))
                    || s.iter().any(|m| m.text.contains("No bounties"))
            })
            .await;
        let _ = bot.kill();
        let _ = bot.wait();
        assert_eq!(
            bounties(&d),
            ["Exactly once"],
            "added once, after a crash at {step}"
        );
        let added = sent.iter().filter(|m| m.text.contains("Added")).count();
        let expected = match step {
            // Not processed before the crash: processed after the restart.
            "received" => 1,
            // Stored, reply not sent: skipped on redelivery (the reply is lost).
            "stored" => 0,
            // Stored and answered: skipped on redelivery.
            _ => 1,
        };
        assert_eq!(
            added, expected,
            "confirmations after a crash at {step}: {sent:?}"
        );
        assert!(sent.len() > replies_before, "the restarted bot answered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_step_then_redelivery_applies_the_update_once_on_json() {
    crash_then_redeliver(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_step_then_redelivery_applies_the_update_once_on_sqlite() {
    crash_then_redeliver(true).await;
}

/// Where a bot of [`crash_move_restart`] keeps its data.
#[derive(Clone, Copy, Debug)]
enum On {
    Json,
    Sqlite,
    Postgres,
}

impl On {
    fn name(self) -> &'static str {
        match self {
            On::Json => "json",
            On::Sqlite => "sqlite",
            On::Postgres => "postgres",
        }
    }
}

/// `bountybot <args>` on `d` and backend `on` (`url`: the PostgreSQL database).
fn bountybot(d: &Data, on: On, url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .args(["--storage", on.name()])
        .env("BOUNTYBOT_DATA_DIR", d.dir())
        .env("BOUNTYBOT_DATABASE_URL", url)
        .env("BOUNTYBOT_TOKEN", "123456:TEST")
        .env("RUST_LOG", "warn")
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("BOUNTYBOT_STORAGE")
        .env_remove("BOUNTYBOT_TEST_ABORT_AFTER")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// A bot crashes after storing `/add` and before confirming it; the data moves from
/// `from` to `to`; the bot restarts there and Telegram delivers the update again.
async fn crash_move_restart(from: On, to: On, url: &str) {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let mut crashed = bountybot(&d, from, url, &["run"])
        .env("BOUNTYBOT_API_URL", &api.url)
        .env("BOUNTYBOT_TEST_ABORT_AFTER", "stored")
        .spawn()
        .unwrap();
    api.push(message(1, GROUP, ANN, "/add Exactly once"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = crashed.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no crash on {from:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(!status.success(), "aborted after storing on {from:?}");

    let moved = bountybot(&d, to, url, &["migrate-storage", "--execute"])
        .args(["--to", to.name(), "--from", from.name()])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        moved.status.success(),
        "{from:?} -> {to:?}: {}",
        String::from_utf8_lossy(&moved.stderr)
    );

    let mut bot = bountybot(&d, to, url, &["run"])
        .env("BOUNTYBOT_API_URL", &api.url)
        .spawn()
        .unwrap();
    api.push(message(2, GROUP, ANN, "/bounty"));
    let sent = api
        .wait_until("the list after the move", |s, _| {
            s.iter().any(|m| m.text.contains("Exactly once"))
                || s.iter().any(|m| m.text.contains("No bounties"))
        })
        .await;
    let _ = bot.kill();
    let _ = bot.wait();
    let list = sent.last().unwrap();
    assert_eq!(
        list.text.matches("Exactly once").count(),
        1,
        "{from:?} -> {to:?}: applied once: {sent:?}"
    );
    assert!(!list.text.contains("#2"), "{from:?} -> {to:?}: {sent:?}");
    assert!(
        sent.iter().all(|m| !m.text.contains("Added")),
        "the redelivered update was skipped as processed: {sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_a_move_and_a_restart_apply_nothing_twice() {
    let url = tokio::task::spawn_blocking(crate::support::postgres::fresh_database)
        .await
        .unwrap();
    let mut moves = vec![(On::Json, On::Sqlite), (On::Sqlite, On::Json)];
    if url.is_some() {
        moves.extend([(On::Json, On::Postgres), (On::Postgres, On::Sqlite)]);
    }
    for (from, to) in moves {
        // A database of its own for each move, so each starts empty.
        let url = match &url {
            Some(_) => tokio::task::spawn_blocking(crate::support::postgres::fresh_database)
                .await
                .unwrap()
                .unwrap(),
            None => String::new(),
        };
        crash_move_restart(from, to, &url).await;
    }
}

/// A tap crashed at `received` or `stored`, then delivered again after a restart:
/// applied once, and never answered "already" (which a second application would say).
async fn tap_crash_then_redeliver(sqlite: bool) {
    use crate::support::fake_bot_api::callback;
    const BOB: i64 = 502;
    for step in ["received", "stored"] {
        let api = FakeBotApi::start().await;
        let d = Data::new();
        if sqlite {
            d.use_sqlite();
        }
        let added = d
            .cmd()
            .arg("send")
            .args(d.storage_args())
            .args(["--chat", &GROUP.to_string(), "--user", &ANN.to_string()])
            .arg("/add Tapped once")
            .output()
            .unwrap();
        assert!(added.status.success(), "{added:?}");
        let mut crashed = spawn(&d, &api, Some(step));
        // Bob taps Claim under a message of the bot's.
        api.push(callback(1, GROUP, BOB, 77, "c:1"));
        aborted(&mut crashed, step).await;

        // Restarted: the tap comes again (never confirmed), then a /show.
        let mut bot = spawn(&d, &api, None);
        api.push(message(2, GROUP, ANN, "/show 1"));
        let sent = api
            .wait_until("the view after the restart", |s, _| {
                s.iter().any(|m| m.text.starts_with("<b>Bounty #1</b>"))
            })
            .await;
        let _ = bot.kill();
        let _ = bot.wait();
        let view = sent
            .iter()
            .find(|m| m.text.starts_with("<b>Bounty #1</b>"))
            .unwrap();
        assert!(
            view.text.contains("Claimed by User502"),
            "claimed by the tapper after a crash at {step}: {}",
            view.text
        );
        let answers = api.answers();
        assert!(
            answers.iter().all(|a| !a.alert),
            "no 'already' after a crash at {step}: {answers:?}"
        );
        let toasts = answers.iter().filter(|a| a.text.is_some()).count();
        let expected = match step {
            // Not processed before the crash: processed, and answered, after it.
            "received" => 1,
            // Stored, not answered: skipped on redelivery.
            _ => 0,
        };
        assert_eq!(toasts, expected, "after a crash at {step}: {answers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_crashed_at_any_step_then_redelivered_is_applied_once_on_json() {
    tap_crash_then_redeliver(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_crashed_at_any_step_then_redelivered_is_applied_once_on_sqlite() {
    tap_crash_then_redeliver(true).await;
}
