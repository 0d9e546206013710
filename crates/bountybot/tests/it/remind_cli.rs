//! `bountybot remind` and the scheduler in `bountybot run` (the real binary) against
//! the fake Bot API: one digest per chat and day through real processes, two at once,
//! a crash between Telegram's answer and the record, 429, and the dry run.

use std::process::{Command, Output, Stdio};

use crate::support::Data;
use crate::support::fake_bot_api::{Failure, FakeBotApi};
use crate::telegram::{start, texts};

/// Private chats (a private chat's id is its owner's id): each owner turns the digest
/// on at 09:00 UTC and adds a bounty due on 23 November 2026.
fn private_chats(d: &Data, n: i64) -> Vec<i64> {
    let chats: Vec<i64> = (1..=n).map(|i| 7_000 + i).collect();
    for &chat in &chats {
        say(d, chat, "/remind 09:00");
        say(
            d,
            chat,
            &format!("/add Water the plants of {chat} 2026-11-23"),
        );
    }
    chats
}

/// `bountybot send` in private chat `chat` by its owner, on the data dir's backend.
fn say(d: &Data, chat: i64, text: &str) {
    let chat = chat.to_string();
    let out = d
        .cmd()
        .arg("send")
        .args(d.storage_args())
        .args(["--chat", &chat, "--user", &chat, text])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn remind(d: &Data, api: &FakeBotApi, args: &[&str], abort_after: Option<&str>) -> Command {
    let mut cmd = d.cmd();
    cmd.arg("remind")
        .args(args)
        .env("BOUNTYBOT_TOKEN", "123456:TEST")
        .env("BOUNTYBOT_API_URL", &api.url)
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("BOUNTYBOT_TEST_ABORT_AFTER")
        .stdin(Stdio::null());
    if let Some(step) = abort_after {
        cmd.env("BOUNTYBOT_TEST_ABORT_AFTER", step);
    }
    cmd
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remind_sends_each_due_digest_once_and_a_second_run_sends_nothing() {
    for sqlite in [false, true] {
        let api = FakeBotApi::start().await;
        let d = Data::new();
        if sqlite {
            d.use_sqlite();
        }
        let chats = private_chats(&d, 3);
        let args = [d.storage_args(), vec!["--now", "2026-11-24T09:00:00Z"]].concat();
        let before = output(remind(&d, &api, &["--now", "2026-11-24T08:59:59Z"], None)).await;
        assert!(before.status.success(), "{before:?}");
        assert!(stdout(&before).contains("0 sent"), "{}", stdout(&before));
        let first = output(remind(&d, &api, &args, None)).await;
        assert!(first.status.success(), "{first:?}");
        assert!(
            stdout(&first).contains("3 sent, 0 empty, 0 failed"),
            "{}",
            stdout(&first)
        );
        let sent = api.sent();
        for &chat in &chats {
            let t = texts(&sent, chat);
            assert_eq!(t.len(), 1, "{chat}: {t:?}");
            assert!(
                t[0].starts_with("<b>Daily digest</b> · 2026-11-24 (UTC)")
                    && t[0].contains("<b>Overdue</b>")
                    && t[0].contains(&format!("Water the plants of {chat}")),
                "{}",
                t[0]
            );
        }
        let again = output(remind(&d, &api, &args, None)).await;
        assert!(stdout(&again).contains("0 sent, 0 empty, 0 failed, 0 dropped, 3 done already"));
        assert_eq!(api.sent().len(), 3, "sqlite: {sqlite}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_prints_the_digests_and_claims_nothing() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    private_chats(&d, 2);
    let mut dry = remind(
        &d,
        &api,
        &["--dry-run", "--now", "2026-11-24T10:00:00Z"],
        None,
    );
    dry.env_remove("BOUNTYBOT_TOKEN");
    let out = output(dry).await;
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("chat 7001 (2026-11-24):\n<b>Daily digest</b>")
            && text.contains("dry run: 2 digest(s) due, nothing sent"),
        "{text}"
    );
    assert!(api.sent().is_empty());
    let real = output(remind(&d, &api, &["--now", "2026-11-24T10:00:00Z"], None)).await;
    assert!(stdout(&real).contains("2 sent"), "{}", stdout(&real));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_remind_processes_at_once_send_each_digest_once() {
    for sqlite in [false, true] {
        let api = FakeBotApi::start().await;
        let d = Data::new();
        if sqlite {
            d.use_sqlite();
        }
        let chats = private_chats(&d, 12);
        let args = [d.storage_args(), vec!["--now", "2026-11-24T09:30:00Z"]].concat();
        let (a, b) = tokio::join!(
            output(remind(&d, &api, &args, None)),
            output(remind(&d, &api, &args, None))
        );
        assert!(a.status.success() && b.status.success(), "{a:?} {b:?}");
        let sent = api.sent();
        for &chat in &chats {
            assert_eq!(texts(&sent, chat).len(), 1, "sqlite {sqlite}, chat {chat}");
        }
        assert_eq!(sent.len(), chats.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_telegram_accepted_the_digest_repeats_it_once_the_claim_is_stale() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    private_chats(&d, 1);
    let crashed = output(remind(
        &d,
        &api,
        &["--now", "2026-11-24T09:00:00Z"],
        Some("digest-sent"),
    ))
    .await;
    assert!(!crashed.status.success());
    assert_eq!(api.sent().len(), 1);
    // The claim is held, unsent, by the process that died: a pass soon after leaves it
    // (the sender might still be trying)...
    let soon = output(remind(&d, &api, &["--now", "2026-11-24T09:05:00Z"], None)).await;
    assert!(
        stdout(&soon).contains("1 done already"),
        "{}",
        stdout(&soon)
    );
    assert_eq!(api.sent().len(), 1);
    // ...and a pass after it went stale sends the digest again: the one window
    // Telegram's lack of an idempotency key leaves open.
    let later = output(remind(&d, &api, &["--now", "2026-11-24T09:11:00Z"], None)).await;
    assert!(stdout(&later).contains("1 sent"), "{}", stdout(&later));
    assert_eq!(api.sent().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remind_waits_out_a_429() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    private_chats(&d, 1);
    api.fail_next_send(Failure::RetryAfter(1));
    let out = output(remind(&d, &api, &["--now", "2026-11-24T09:00:00Z"], None)).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!((api.send_attempts(), api.sent().len()), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_that_cannot_be_sent_fails_the_command_and_stays_for_a_later_pass() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    private_chats(&d, 1);
    // Telegram asks for a wait longer than a digest may keep its claim.
    api.fail_next_send(Failure::RetryAfter(600));
    let out = output(remind(&d, &api, &["--now", "2026-11-24T09:00:00Z"], None)).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a later pass retries"),
        "{out:?}"
    );
    let later = output(remind(&d, &api, &["--now", "2026-11-24T09:20:00Z"], None)).await;
    assert!(later.status.success(), "{later:?}");
    assert_eq!((api.send_attempts(), api.sent().len()), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remind_refuses_a_bad_time_and_a_missing_token() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let bad = output(remind(&d, &api, &["--now", "tomorrow at nine"], None)).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not an RFC 3339 time"));
    let mut no_token = remind(&d, &api, &["--now", "2026-11-24T09:00:00Z"], None);
    no_token.env_remove("BOUNTYBOT_TOKEN");
    let out = output(no_token).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set BOUNTYBOT_TOKEN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sends_the_days_missed_digest_on_start_and_not_again_after_a_restart() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    // Midnight has always passed: the day's digest is due as soon as the bot starts.
    d.send(7_101, 7_101, "/remind 00:00");
    d.send(7_101, 7_101, "/add Pay the rent 2020-01-01");
    let bot = start(&d, &api, &[]);
    let sent = api
        .wait_until("the digest", |s, _| !texts(s, 7_101).is_empty())
        .await;
    assert!(bot.stop().await);
    let first = texts(&sent, 7_101);
    assert!(first[0].contains("Pay the rent"), "{first:?}");
    let bot = start(&d, &api, &[]);
    // The restarted bot answers a command only after its first pass... so ask one, and
    // wait for the answer, then stop.
    api.push(crate::support::fake_bot_api::message(
        1,
        7_101,
        7_101,
        "/settings",
    ));
    api.wait_until("the answer", |s, _| texts(s, 7_101).len() >= 2)
        .await;
    assert!(bot.stop().await);
    let digests: Vec<String> = texts(&api.sent(), 7_101)
        .into_iter()
        .filter(|t| t.starts_with("<b>Daily digest</b>"))
        .collect();
    // One per local date (a run that straddles midnight UTC may see two dates).
    let mut dates: Vec<&str> = digests.iter().map(|t| &t[23..33]).collect();
    dates.dedup();
    assert_eq!(dates.len(), digests.len(), "{digests:?}");
}
