//! A storage failure that may pass (a database restarting) is not confirmed to
//! Telegram: the update is delivered again, applied once and answered once, and the
//! chat is told of the failure once. The failure is injected with
//! `BOUNTYBOT_TEST_FAIL_ONCE` on each backend. Updates of a group that became a
//! supergroup, late or delivered again, go to the supergroup on each backend; a
//! read-only command delivered again is not answered again.

use std::process::{Command, Stdio};

use bountybot::command::handle::RETRY_NOTICE;
use bountybot::crash::FAIL_ONCE_ENV;

use crate::support::fake_bot_api::{FakeBotApi, Sent, message, migrated_to};
use crate::support::{BIN, Data};

const GROUP: i64 = -4_500_300;
const ANN: i64 = 501;
const SECRET: &str = "retry-secret-0123456789";

#[derive(Clone)]
enum Backend {
    Json,
    Sqlite,
    /// On this database.
    Postgres(String),
}

/// A fresh PostgreSQL database, made off the async runtime; `None` when PostgreSQL
/// cannot be had here (binaries missing and not required).
async fn postgres() -> Option<Backend> {
    tokio::task::spawn_blocking(crate::support::postgres::fresh_database)
        .await
        .unwrap()
        .map(Backend::Postgres)
}

/// A `bountybot run` process, killed when dropped.
struct Bot(std::process::Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the bot with the first `/add` of [`GROUP`] failing once.
fn start(d: &Data, api: &FakeBotApi, backend: Backend, extra: &[&str]) -> Bot {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .args(extra)
        .env("BOUNTYBOT_DATA_DIR", d.dir())
        .env("BOUNTYBOT_TOKEN", "123456:TEST")
        .env("BOUNTYBOT_API_URL", &api.url)
        .env("RUST_LOG", "error")
        .env(FAIL_ONCE_ENV, format!("add:{GROUP}"))
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("BOUNTYBOT_STORAGE")
        .env_remove("BOUNTYBOT_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    match backend {
        Backend::Json => {}
        Backend::Sqlite => {
            cmd.args(["--storage", "sqlite"]);
        }
        Backend::Postgres(url) => {
            cmd.env("BOUNTYBOT_DATABASE_URL", url);
        }
    }
    Bot(cmd.spawn().unwrap())
}

fn count(sent: &[Sent], pred: impl Fn(&str) -> bool) -> usize {
    sent.iter().filter(|m| pred(&m.text)).count()
}

/// Long polling: `/add` fails once, then `/bounty` of the same chat waits behind it.
async fn polling_delivers_a_failed_update_again(backend: Backend) {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, backend, &[]);
    api.push(message(1, GROUP, ANN, "/add Outlasts a failure"));
    api.push(message(2, GROUP, ANN, "/bounty"));
    let sent = api
        .wait_until("the list after the retried /add", |s, _| {
            s.iter()
                .any(|m| m.text.contains("Outlasts a failure") && !m.text.contains("Added"))
        })
        .await;
    assert_eq!(
        count(&sent, |t| t == RETRY_NOTICE),
        1,
        "told once: {sent:?}"
    );
    assert_eq!(
        count(&sent, |t| t.starts_with("Added bounty <b>#1</b>")),
        1,
        "answered once: {sent:?}"
    );
    let list = sent.last().unwrap();
    assert_eq!(
        list.text.matches("Outlasts a failure").count(),
        1,
        "applied once: {list:?}"
    );
    assert!(!list.text.contains("#2"), "applied once: {list:?}");
    assert_eq!(sent.len(), 3, "nothing else was sent: {sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_passes_is_polled_again_and_applied_once_on_json() {
    polling_delivers_a_failed_update_again(Backend::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_passes_is_polled_again_and_applied_once_on_sqlite() {
    polling_delivers_a_failed_update_again(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_passes_is_polled_again_and_applied_once_on_postgres() {
    if let Some(backend) = postgres().await {
        polling_delivers_a_failed_update_again(backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_update_that_fails_in_storage_is_answered_500_then_applied_once() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let listen = format!("127.0.0.1:{port}");
    let _bot = start(
        &d,
        &api,
        Backend::Json,
        &[
            "--webhook",
            &hook,
            "--listen",
            &listen,
            "--secret-token",
            SECRET,
        ],
    );
    let mut up = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "webhook listener did not start");
    let client = reqwest::Client::new();
    let update = message(7, GROUP, ANN, "/add Via a retried webhook");
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
    assert_eq!(statuses, [500, 200, 200], "confirmed once stored");
    let sent = api
        .wait_until("the confirmation", |s, _| {
            s.iter().any(|m| m.text.starts_with("Added"))
        })
        .await;
    assert_eq!(
        count(&sent, |t| t == RETRY_NOTICE),
        1,
        "told once: {sent:?}"
    );
    assert_eq!(count(&sent, |t| t.starts_with("Added")), 1, "{sent:?}");
    let doc = d.json(&format!("{GROUP}/group.json"));
    assert_eq!(crate::support::ids(&doc), [1], "applied once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_chat_file_is_told_and_confirmed_so_later_updates_go_on() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let chat_dir = d.dir().join(GROUP.to_string());
    std::fs::create_dir_all(&chat_dir).unwrap();
    std::fs::write(
        chat_dir.join("group.json"),
        format!("{{\"group_id\": {GROUP},\n \"next_id\": oops}}"),
    )
    .unwrap();
    // No failure armed for this chat's /bounty; the damaged file fails every time.
    let _bot = start(&d, &api, Backend::Json, &[]);
    api.push(message(1, GROUP, ANN, "/bounty"));
    api.push(message(2, GROUP, ANN, "/bounty done"));
    api.push(message(3, ANN, ANN, "/add Elsewhere"));
    let sent = api
        .wait_until("both damaged answers and the other chat's", |s, _| {
            count(s, |t| t.contains("is damaged")) >= 2 && count(s, |t| t.starts_with("Added")) >= 1
        })
        .await;
    assert_eq!(
        count(&sent, |t| t == RETRY_NOTICE),
        0,
        "a damaged file is not tried again: {sent:?}"
    );
    let damaged: Vec<&Sent> = sent.iter().filter(|m| m.chat_id == GROUP).collect();
    assert_eq!(damaged.len(), 2, "each update told once: {damaged:?}");
    assert!(
        damaged.iter().all(|m| m.text.contains("is damaged")),
        "{damaged:?}"
    );
}

/// A group moves to a supergroup; a late message of the old group and every update
/// delivered again go to the supergroup, applied once.
async fn updates_of_a_moved_group_go_to_the_supergroup(backend: Backend) {
    const OLD: i64 = -4_556;
    const NEW: i64 = -1_000_000_004_556;
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, backend, &[]);
    api.push(message(1, OLD, ANN, "/add Before the move"));
    api.wait_until("the first answer", |s, _| !s.is_empty())
        .await;
    api.push(migrated_to(2, OLD, NEW));
    api.push(message(3, OLD, ANN, "/add After the move"));
    api.wait_until("the late message's answer", |s, _| {
        s.iter().any(|m| m.text.contains("After the move"))
    })
    .await;
    // Telegram delivers all three again (a lost confirmation).
    api.redeliver_all();
    api.push(message(4, NEW, ANN, "/bounty"));
    let sent = api
        .wait_until("the supergroup's list", |s, _| {
            s.iter().any(|m| {
                m.chat_id == NEW
                    && m.text.contains("Before the move")
                    && m.text.contains("After the move")
            })
        })
        .await;
    let late: Vec<&Sent> = sent
        .iter()
        .filter(|m| m.text.contains("Added") && m.text.contains("After the move"))
        .collect();
    assert_eq!(late.len(), 1, "answered once: {sent:?}");
    assert_eq!(late[0].chat_id, NEW, "in the supergroup: {sent:?}");
    assert_eq!(late[0].text, "Added bounty <b>#2</b>: After the move");
    let list = sent.last().unwrap();
    assert_eq!(list.chat_id, NEW);
    assert_eq!(list.text.matches("After the move").count(), 1, "{list:?}");
    assert!(!list.text.contains("#3"), "applied once: {list:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_of_a_moved_group_go_to_the_supergroup_on_json() {
    updates_of_a_moved_group_go_to_the_supergroup(Backend::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_of_a_moved_group_go_to_the_supergroup_on_sqlite() {
    updates_of_a_moved_group_go_to_the_supergroup(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_of_a_moved_group_go_to_the_supergroup_on_postgres() {
    if let Some(backend) = postgres().await {
        updates_of_a_moved_group_go_to_the_supergroup(backend).await;
    }
}

/// A group moves to a supergroup; then `migrate-storage` carries the data from JSON to
/// SQLite, to PostgreSQL (when it can be had here) and back to JSON. On each backend
/// in turn, the old group's first `/add` delivered again is not applied again, and a
/// late message of the old group goes to the supergroup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_group_stays_moved_through_migrate_storage_to_each_backend() {
    const OLD: i64 = -4_557;
    const NEW: i64 = -1_000_000_004_557;
    let d = Data::new();
    let mut chain = vec![Backend::Json, Backend::Sqlite];
    chain.extend(postgres().await);
    chain.push(Backend::Json);
    let url = chain.iter().find_map(|b| match b {
        Backend::Postgres(url) => Some(url.clone()),
        _ => None,
    });
    {
        let api = FakeBotApi::start().await;
        let _bot = start(&d, &api, Backend::Json, &[]);
        api.push(message(1, OLD, ANN, "/add Before the move"));
        api.wait_until("the first answer", |s, _| !s.is_empty())
            .await;
        // The old group's updates are handled in order: the move, then this one.
        api.push(migrated_to(2, OLD, NEW));
        api.push(message(3, OLD, ANN, "/add After the move"));
        api.wait_until("the answer in the supergroup", |s, _| {
            s.iter()
                .any(|m| m.chat_id == NEW && m.text.contains("After the move"))
        })
        .await;
    }
    for (round, to) in (1..).zip(&chain[1..]) {
        let name = match to {
            Backend::Json => "json",
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        };
        let mut migrate = d.cmd();
        migrate.args(["migrate-storage", "--to", name, "--execute"]);
        if let Some(url) = &url {
            migrate.env("BOUNTYBOT_DATABASE_URL", url);
        }
        let out = migrate.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let api = FakeBotApi::start().await;
        let _bot = start(&d, &api, to.clone(), &[]);
        let late = format!("Late {round} on {name}");
        api.push(message(1, OLD, ANN, "/add Before the move"));
        api.push(message(10 * round, OLD, ANN, &format!("/add {late}")));
        api.wait_until("the late message's answer", |s, _| {
            s.iter().any(|m| m.text.contains(&late))
        })
        .await;
        api.push(message(10 * round + 1, NEW, ANN, "/bounty all"));
        let sent = api
            .wait_until("the supergroup's list", |s, _| {
                s.iter()
                    .any(|m| m.text.starts_with("<b>All bounties") && m.text.contains(&late))
            })
            .await;
        let added: Vec<&Sent> = sent.iter().filter(|m| m.text.contains("Added")).collect();
        assert_eq!(
            added.len(),
            1,
            "{name}: only the late message is added: {sent:?}"
        );
        assert_eq!(added[0].chat_id, NEW, "{name}: in the supergroup: {sent:?}");
        let list = sent.last().unwrap();
        assert_eq!(list.chat_id, NEW);
        assert_eq!(
            list.text.matches("Before the move").count(),
            1,
            "{name}: {list:?}"
        );
    }
}

/// `/bounty` delivered twice (a lost confirmation) is answered once; the update after
/// it, in the same chat, shows the redelivery was handled.
async fn a_read_only_command_delivered_twice_is_answered_once(backend: Backend) {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, backend, &[]);
    api.push(message(1, ANN, ANN, "/bounty"));
    api.wait_until("the first answer", |s, _| !s.is_empty())
        .await;
    api.redeliver_all();
    api.push(message(2, ANN, ANN, "/help"));
    let sent = api
        .wait_until("the answer to /help", |s, _| s.len() >= 2)
        .await;
    assert_eq!(
        count(&sent, |t| t.contains("No bounties yet")),
        1,
        "answered once: {sent:?}"
    );
    assert_eq!(sent.len(), 2, "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_command_delivered_twice_is_answered_once_on_json() {
    a_read_only_command_delivered_twice_is_answered_once(Backend::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_command_delivered_twice_is_answered_once_on_sqlite() {
    a_read_only_command_delivered_twice_is_answered_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_command_delivered_twice_is_answered_once_on_postgres() {
    if let Some(backend) = postgres().await {
        a_read_only_command_delivered_twice_is_answered_once(backend).await;
    }
}
