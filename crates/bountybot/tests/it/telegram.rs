//! `bountybot run` (the real binary) against the fake Bot API on loopback.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::fake_bot_api::{
    BOT_USERNAME, Failure, FakeBotApi, message, migrated_from, migrated_to, sticker,
};
use crate::support::{BIN, Data, ids};

const GROUP: i64 = -4_100_200;
const ANN: i64 = 501;
const BOB: i64 = 502;

pub struct Running {
    child: Option<Child>,
}

impl Running {
    /// Sends SIGTERM and returns whether the bot exited 0.
    pub async fn stop(mut self) -> bool {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        tokio::task::spawn_blocking(move || child.wait().map(|s| s.success()).unwrap_or(false))
            .await
            .unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn start(d: &Data, api: &FakeBotApi, extra: &[&str]) -> Running {
    start_with(d, api, Command::new(BIN), extra)
}

/// [`start`] with more environment variables.
pub fn start_with_env(d: &Data, api: &FakeBotApi, extra: &[&str], env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(BIN);
    cmd.envs(env.iter().copied());
    start_with(d, api, cmd, extra)
}

/// Starts `bountybot run` under `ulimit -n 256`.
pub fn start_under_256_descriptors(d: &Data, api: &FakeBotApi, extra: &[&str]) -> Running {
    let mut sh = Command::new("sh");
    sh.args(["-c", "ulimit -n 256 && exec \"$0\" \"$@\"", BIN]);
    start_with(d, api, sh, extra)
}

fn start_with(d: &Data, api: &FakeBotApi, mut cmd: Command, extra: &[&str]) -> Running {
    let child = cmd
        .arg("run")
        .args(extra)
        .env("BOUNTYBOT_DATA_DIR", d.dir())
        .env("BOUNTYBOT_TOKEN", "123456:TEST")
        .env("BOUNTYBOT_API_URL", &api.url)
        .env("RUST_LOG", "warn")
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("BOUNTYBOT_HEADER_READ_TIMEOUT")
        .env_remove("BOUNTYBOT_IDLE_TIMEOUT")
        .env_remove("BOUNTYBOT_MAX_OPEN_CONNECTIONS")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Running { child: Some(child) }
}

pub fn texts(sent: &[crate::support::fake_bot_api::Sent], chat: i64) -> Vec<String> {
    sent.iter()
        .filter(|s| s.chat_id == chat)
        .map(|s| s.text.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_conversation_gets_the_right_replies_in_order() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let bot = start(&d, &api, &[]);
    let script = [
        (GROUP, ANN, "/start".to_string()),
        (
            GROUP,
            ANN,
            "/add Fix the login bug https://x.org/1 +3d".into(),
        ),
        (GROUP, BOB, "just chatting".into()),
        (GROUP, BOB, format!("/add@{BOT_USERNAME} Write docs")),
        (GROUP, BOB, "/edit 1 text=mine".into()),
        (ANN, ANN, "/add Personal errand".into()),
        (GROUP, ANN, "/bounty".into()),
        (ANN, ANN, "/my".into()),
    ];
    for (i, (chat, user, text)) in script.iter().enumerate() {
        api.push(message(i as i64 + 1, *chat, *user, text));
    }
    api.push(sticker(50, GROUP, ANN));
    let sent = api.wait_for_sent(7).await;
    let group = texts(&sent, GROUP);
    assert!(group[0].contains("for this group"), "{group:?}");
    assert!(
        group[1].starts_with(
            "Added bounty <b>#1</b>: Fix the login bug\nLink: <a href=\"https://x.org/1\">"
        ) && group[1].ends_with("(due in 3 days)"),
        "{group:?}"
    );
    assert_eq!(group[2], "Added bounty <b>#2</b>: Write docs");
    assert_eq!(group[3], "Only the creator of #1 can edit it.");
    assert!(group[4].contains("Fix the login bug") && group[4].contains("Write docs"));
    let private = texts(&sent, ANN);
    assert_eq!(
        private,
        [
            "Added bounty <b>#1</b>: Personal errand",
            "You track no bounties here. Use /track &lt;id&gt; to bookmark one."
        ]
    );
    assert!(api.calls().contains(&"setmycommands".to_string()));
    assert!(bot.stop().await);
    assert_eq!(api.sent().len(), 7, "chatter and the sticker got no reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_for_another_bot_are_ignored() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    api.push(message(1, GROUP, ANN, "/add@OtherBot not for us"));
    api.push(message(2, GROUP, ANN, "/bounty@OtherBot"));
    api.push(message(3, GROUP, ANN, "/bounty"));
    let sent = api.wait_for_sent(1).await;
    assert!(sent[0].text.contains("No bounties yet"), "{sent:?}");
    // The answered /bounty is recorded (so that it is answered once); nothing was added.
    let group = d.json(&format!("{GROUP}/group.json"));
    assert_eq!(ids(&group), Vec::<u64>::new(), "{group}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_retry_after() {
    let api = FakeBotApi::start().await;
    api.fail_next_send(Failure::RetryAfter(1));
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    api.push(message(1, ANN, ANN, "/add Rate limited"));
    let sent = api.wait_for_sent(1).await;
    assert_eq!(sent[0].text, "Added bounty <b>#1</b>: Rate limited");
    assert_eq!(
        api.send_attempts(),
        2,
        "one refused attempt, then the retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_does_not_stop_the_bot() {
    let api = FakeBotApi::start().await;
    api.fail_next_send(Failure::Forbidden);
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    api.push(message(1, GROUP, ANN, "/add From a chat that kicked us"));
    api.wait_until("the refused send", |_, attempts| attempts >= 1)
        .await;
    api.push(message(2, BOB, BOB, "/bounty"));
    let sent = api.wait_for_sent(1).await;
    assert_eq!(sent[0].chat_id, BOB);
    assert_eq!(
        ids(&d.json(&format!("{GROUP}/group.json"))),
        [1],
        "the write itself was kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_does_not_reprocess_updates() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let bot = start(&d, &api, &[]);
    api.push(message(1, GROUP, ANN, "/add Only once"));
    api.wait_for_sent(1).await;
    assert!(bot.stop().await);

    // Telegram delivers the same update again (the confirmation was lost).
    api.redeliver_all();
    let bot = start(&d, &api, &[]);
    api.push(message(2, GROUP, ANN, "/bounty"));
    let sent = api.wait_for_sent(2).await;
    assert!(sent[1].text.contains("Only once"), "{sent:?}");
    assert_eq!(
        ids(&d.json(&format!("{GROUP}/group.json"))),
        [1],
        "no duplicate bounty"
    );
    assert!(bot.stop().await);
    assert_eq!(api.sent().len(), 2, "the replayed /add got no second reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supergroup_migration_keeps_every_bounty_under_the_new_id() {
    const OLD: i64 = -4_555;
    const NEW: i64 = -1_000_000_004_555;
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    api.push(message(1, OLD, ANN, "/add First"));
    api.push(message(2, OLD, BOB, "/add Second"));
    api.push(message(3, OLD, BOB, "/track 1"));
    api.wait_for_sent(3).await;
    // Both service messages, in the "wrong" order and one of them twice.
    api.push(migrated_from(4, NEW, OLD));
    api.push(migrated_to(5, OLD, NEW));
    api.push(migrated_from(6, NEW, OLD));
    api.push(message(7, NEW, BOB, "/bounty"));
    api.push(message(8, NEW, BOB, "/my"));
    api.push(message(9, NEW, ANN, "/add Third"));
    let sent = api.wait_for_sent(6).await;
    let new = texts(&sent, NEW);
    assert!(
        new[0].contains("First") && new[0].contains("Second"),
        "{new:?}"
    );
    assert!(
        new[1].contains("First") && !new[1].contains("Second"),
        "bookmarks moved too: {new:?}"
    );
    assert_eq!(new[2], "Added bounty <b>#3</b>: Third", "ids continue");
    let group = d.json(&format!("{NEW}/group.json"));
    assert_eq!(group["group_id"], json!(NEW));
    assert_eq!(ids(&group), [1, 2, 3]);
    assert!(!d.dir().join(OLD.to_string()).join("group.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_0_with_the_in_flight_reply_sent() {
    let api = FakeBotApi::start().await;
    api.set_send_delay(Duration::from_millis(800));
    let d = Data::new();
    let bot = start(&d, &api, &[]);
    api.push(message(1, ANN, ANN, "/add In flight"));
    // The reply is on the wire (the fake holds its answer): now ask the bot to stop.
    api.wait_until("the send to start", |_, attempts| attempts >= 1)
        .await;
    assert!(bot.stop().await, "exit code 0");
    assert_eq!(api.sent()[0].text, "Added bounty <b>#1</b>: In flight");
    assert_eq!(ids(&d.json(&format!("{ANN}/user.json"))), [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_takes_updates_and_refuses_a_wrong_secret() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = format!("http://127.0.0.1:{port}/telegram-hook");
    let listen = format!("127.0.0.1:{port}");
    let _bot = start(
        &d,
        &api,
        &[
            "--webhook",
            &hook,
            "--listen",
            &listen,
            "--secret-token",
            "s3cret-0123456789",
        ],
    );
    let client = reqwest::Client::new();
    // Wait (bounded) for the listener to come up.
    let mut up = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "webhook listener did not start");
    let wrong = client
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", "guess")
        .json(&message(1, ANN, ANN, "/add Forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let missing = client
        .post(&hook)
        .json(&message(2, ANN, ANN, "/add Forged too"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    let right = client
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-0123456789")
        .json(&message(3, ANN, ANN, "/add Via webhook"))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    let sent = api.wait_for_sent(1).await;
    assert_eq!(sent[0].text, "Added bounty <b>#1</b>: Via webhook");
    assert_eq!(
        ids(&d.json(&format!("{ANN}/user.json"))),
        [1],
        "forged updates changed nothing"
    );
    assert!(api.calls().contains(&"setwebhook".to_string()));
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until something listens on `port`.
async fn wait_for_listener(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("webhook listener did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_closes_half_sent_requests_and_still_answers_under_256_descriptors() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/telegram-hook");
    let listen = format!("127.0.0.1:{port}");
    let _bot = start_under_256_descriptors(
        &d,
        &api,
        &[
            "--webhook",
            &hook,
            "--listen",
            &listen,
            "--secret-token",
            "s3cret-0123456789",
            "--header-read-timeout",
            "1",
        ],
    );
    wait_for_listener(port).await;
    let half = format!("POST /telegram-hook HTTP/1.1\r\nHost: {listen}\r\nContent-Ty");
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(&listen).await.unwrap();
        s.write_all(half.as_bytes()).await.unwrap();
        held.push(s);
    }
    // Meanwhile the listener answers (here: refuses a wrong secret), each time
    // within a second.
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    for i in 0..6 {
        let res = quick
            .post(&hook)
            .header("X-Telegram-Bot-Api-Secret-Token", "guess")
            .json(&message(i, ANN, ANN, "/add Forged"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("webhook poll {i} failed: {e}"));
        assert_eq!(res.status(), 401);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every half-sent connection is closed by the bot.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut waits = tokio::task::JoinSet::new();
    for mut s in held {
        waits.spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                    Err(_) => return false,
                    Ok(Ok(0) | Err(_)) => return true,
                    Ok(Ok(_)) => {}
                }
            }
        });
    }
    let mut open = 0;
    while let Some(closed) = waits.join_next().await {
        open += usize::from(!closed.unwrap());
    }
    assert_eq!(open, 0, "half-sent connections still open after 20 s");
    let right = quick
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-0123456789")
        .json(&message(10, ANN, ANN, "/add After the flood"))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
}

#[test]
fn out_of_range_webhook_connection_bounds_are_usage_errors() {
    let d = Data::new();
    for args in [
        ["--header-read-timeout", "0"],
        ["--idle-timeout", "3601"],
        ["--max-open-connections", "0"],
    ] {
        let out = d
            .cmd()
            .arg("run")
            .args(args)
            .env("BOUNTYBOT_TOKEN", "123456:TEST")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("invalid value") && err.contains(args[0]),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_missing_token_is_a_usage_error() {
    let d = Data::new();
    let out = d
        .cmd()
        .arg("run")
        .env_remove("BOUNTYBOT_TOKEN")
        .env_remove("TELOXIDE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BOUNTYBOT_TOKEN"));
}
