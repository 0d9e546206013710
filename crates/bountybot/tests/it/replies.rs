//! How replies travel, through the real binary and the fake Bot API: in the command's
//! forum topic, as replies to it, link previews off; a 5xx retried; a slow send never
//! holding up the chat's next command; a reply given up is logged.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::fake_bot_api::{Failure, FakeBotApi, message, message_with};
use crate::support::{BIN, Data};
use crate::telegram::{start, texts};

const FORUM: i64 = -1_002_000_000_001;
const ANN: i64 = 501;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_go_to_the_topic_answer_the_command_and_show_no_preview() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    let topic = json!({"message_thread_id": 77, "is_topic_message": true});
    api.push(message_with(
        10,
        FORUM,
        ANN,
        "/add In a topic https://x.org/1",
        topic,
    ));
    api.push(message(11, FORUM, ANN, "/bounty"));
    let sent = api.wait_for_sent(2).await;
    assert_eq!(sent[0].thread, Some(77), "{sent:?}");
    assert_eq!(sent[0].reply_to, Some(10), "answers message 10");
    assert!(sent[0].preview_off && sent[1].preview_off);
    assert_eq!(sent[1].thread, None, "a command outside topics gets none");
    assert_eq!(sent[1].reply_to, Some(11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_retried() {
    let api = FakeBotApi::start().await;
    api.fail_next_send(Failure::ServerError);
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    api.push(message(1, ANN, ANN, "/add Despite a 500"));
    let sent = api
        .wait_until("the retried reply", |s, _| !s.is_empty())
        .await;
    assert!(sent[0].text.contains("Despite a 500"), "{sent:?}");
    assert_eq!(api.send_attempts(), 2, "one 500, then the retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_still_in_flight_does_not_hold_up_the_chat() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    api.hold_sends();
    api.push(message(1, FORUM, ANN, "/add first"));
    api.push(message(2, FORUM, ANN, "/add second"));
    // The second command is stored while the first reply cannot be delivered.
    let file = d.dir().join(FORUM.to_string()).join("group.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = std::fs::read_to_string(&file).unwrap_or_default();
        if stored.contains("second") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the chat waited for its reply: {stored}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(api.sent().is_empty());
    api.release_sends();
    let sent = api.wait_for_sent(2).await;
    let replies = texts(&sent, FORUM);
    assert!(
        replies[0].contains("first") && replies[1].contains("second"),
        "in order: {replies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_given_up_is_logged_with_its_chat_and_update() {
    let api = FakeBotApi::start().await;
    for _ in 0..6 {
        api.fail_next_send(Failure::RetryAfter(0));
    }
    let d = Data::new();
    let mut child = Command::new(BIN)
        .arg("run")
        .env("BOUNTYBOT_DATA_DIR", d.dir())
        .env("BOUNTYBOT_TOKEN", "123456:TEST")
        .env("BOUNTYBOT_API_URL", &api.url)
        .env("RUST_LOG", "error")
        .env("NO_COLOR", "1")
        .env_remove("TELOXIDE_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    api.push(message(4242, ANN, ANN, "/add Never delivered"));
    let line = tokio::task::spawn_blocking(move || {
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("no give-up line");
            if line.contains("giving up on a reply") {
                return line;
            }
        }
    })
    .await
    .unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains(&ANN.to_string()) && line.contains("4242"),
        "{line}"
    );
    assert_eq!(api.send_attempts(), 6);
    let _ = child.kill();
    let _ = child.wait();
}
