//! `bountybot doctor` (the real binary) against temp data dirs and the fake Bot API:
//! each check passing and failing, the JSON report's shape, the exit codes.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;

use crate::support::fake_bot_api::{BOT_USERNAME, FakeBotApi};
use crate::support::{BIN, Data};

const HOOK: &str = "https://bot.example.org/hook";

/// A data dir holding one JSON chat, owner-only.
fn json_data() -> Data {
    let d = Data::new();
    d.send(-4_100_300, 7, "/add Check the roof");
    private(&d);
    d
}

/// Makes the data dir and everything in it owner-only (as the bot's umask would).
fn private(d: &Data) {
    let mut stack = vec![d.dir()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).unwrap();
        let mode = if meta.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
}

fn doctor_cmd(d: &Data, api: &FakeBotApi, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("doctor")
        .args(args)
        .env("BOUNTYBOT_DATA_DIR", d.dir())
        .env("BOUNTYBOT_TOKEN", "123456:TEST")
        .env("BOUNTYBOT_API_URL", &api.url)
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("BOUNTYBOT_STORAGE")
        .env_remove("BOUNTYBOT_DATABASE_URL")
        .env_remove("BOUNTYBOT_MAX_OPEN_CONNECTIONS");
    c
}

/// Runs `doctor --json` with `args`: the exit code and the report.
async fn doctor(d: &Data, api: &FakeBotApi, args: &[&str]) -> (i32, Value) {
    let mut c = doctor_cmd(d, api, args);
    c.arg("--json");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

/// The check named `name` (the first, when several share it).
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

fn assert_check(report: &Value, name: &str, status: &str) {
    let c = check(report, name);
    assert_eq!(c["status"], status, "{name}: {report:#}");
}

fn detail(report: &Value, name: &str) -> String {
    check(report, name)["detail"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_json_deployment_passes_every_check_and_exits_0() {
    let api = FakeBotApi::start().await;
    let d = json_data();
    let (code, report) = doctor(&d, &api, &[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["failures"], 0);
    assert!(report["warnings"].is_u64());
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "data dir",
            "free space",
            "storage",
            "descriptor limit",
            "bot token",
            "webhook"
        ]
    );
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "{c:#}");
        assert!(c["detail"].is_string() && c["fix"].is_null(), "{c:#}");
    }
    assert!(
        detail(&report, "storage").contains("json: every chat's files read; 1 chat(s), 1 bounties"),
        "{report:#}"
    );
    assert!(detail(&report, "bot token").contains(BOT_USERNAME));
    assert_eq!(detail(&report, "webhook"), "none set (polling mode)");
    assert!(api.calls().contains(&"getwebhookinfo".to_string()));

    // The text report: a line per check, and the verdict.
    let out = doctor_cmd(&d, &api, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ok    bot token"), "{text}");
    assert!(text.trim_end().ends_with("all 6 checks passed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_fails_and_exits_1() {
    let api = FakeBotApi::start().await;
    let d = json_data();
    api.refuse_token();
    let (code, report) = doctor(&d, &api, &[]).await;
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["failures"], 1);
    assert_check(&report, "bot token", "fail");
    assert!(detail(&report, "bot token").contains("refused the token"));
    assert!(
        check(&report, "bot token")["fix"]
            .as_str()
            .unwrap()
            .contains("BotFather")
    );
    assert_check(&report, "storage", "ok");

    // No token at all: the same check fails, saying which variable to set.
    let mut c = doctor_cmd(&d, &api, &["--json"]);
    c.env_remove("BOUNTYBOT_TOKEN");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(detail(&report, "bot token").contains("BOUNTYBOT_TOKEN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_is_checked_against_the_configured_url_its_last_error_and_backlog() {
    let api = FakeBotApi::start().await;
    let d = json_data();
    // Webhook mode, but none set.
    let (code, report) = doctor(&d, &api, &["--webhook", HOOK]).await;
    assert_eq!(code, 1);
    assert_check(&report, "webhook", "fail");
    assert!(detail(&report, "webhook").starts_with("none set"));

    // Set as configured, nothing wrong.
    api.set_webhook_info(HOOK, 2, None);
    let (code, report) = doctor(&d, &api, &["--webhook", HOOK]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        detail(&report, "webhook"),
        format!("{HOOK}: no delivery error, 2 update(s) waiting")
    );

    // A last delivery error fails with its text and date.
    api.set_webhook_info(HOOK, 5, Some((1_795_000_000, "Connection refused")));
    let (code, report) = doctor(&d, &api, &["--webhook", HOOK]).await;
    assert_eq!(code, 1);
    assert_check(&report, "webhook", "fail");
    let text = detail(&report, "webhook");
    assert!(
        text.contains("Connection refused")
            && text.contains("2026-11-18T")
            && text.contains("5 update(s) waiting"),
        "{text}"
    );

    // Many updates waiting: a warning, exit 0.
    api.set_webhook_info(HOOK, 500, None);
    let (code, report) = doctor(&d, &api, &["--webhook", HOOK]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_check(&report, "webhook", "warn");
    assert_eq!(report["warnings"], 1);
    let (_, report) = doctor(&d, &api, &["--webhook", HOOK, "--max-pending", "1000"]).await;
    assert_check(&report, "webhook", "ok");

    // Set to another URL: fails; in polling mode a set webhook is a warning.
    api.set_webhook_info("https://elsewhere.example.org/x", 0, None);
    let (code, report) = doctor(&d, &api, &["--webhook", HOOK]).await;
    assert_eq!(code, 1);
    assert!(detail(&report, "webhook").contains("not https://bot.example.org/hook"));
    let (code, report) = doctor(&d, &api, &[]).await;
    assert_eq!(code, 0);
    assert_check(&report, "webhook", "warn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_json_chat_file_fails_naming_it() {
    let api = FakeBotApi::start().await;
    let d = json_data();
    let file = d.dir().join("-4100300/group.json");
    assert!(file.is_file());
    std::fs::write(&file, b"{\"bounties\": [").unwrap();
    let (code, report) = doctor(&d, &api, &[]).await;
    assert_eq!(code, 1, "{report:#}");
    assert_check(&report, "storage", "fail");
    let text = detail(&report, "storage");
    assert!(text.contains("group.json"), "{text}");
    assert_check(&report, "bot token", "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_storage_passes_quick_check_and_a_damaged_database_fails() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let adds: String = (0..200)
        .map(|i| format!("/add Bounty number {i} with a long enough text to fill pages\n"))
        .collect();
    let out = d.repl(&["--storage", "sqlite"], &adds);
    assert!(out.status.success(), "{out:?}");
    private(&d);
    let (code, report) = doctor(&d, &api, &[]).await;
    assert_eq!(code, 0, "{report:#}");
    let text = detail(&report, "storage");
    assert!(
        text.starts_with("sqlite: quick_check ok, schema "),
        "{text}"
    );
    assert_check(&report, "durability", "ok");

    // Pages in the middle overwritten.
    let db = d.dir().join("bountybot.db");
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 3 * 4096, "{} bytes", bytes.len());
    let middle = bytes.len() / 2 / 4096 * 4096;
    for b in &mut bytes[middle..middle + 4096] {
        *b = 0x5a;
    }
    std::fs::write(&db, bytes).unwrap();
    let (code, report) = doctor(&d, &api, &[]).await;
    assert_eq!(code, 1, "{report:#}");
    assert_check(&report, "storage", "fail");
    assert!(
        detail(&report, "storage").contains("bountybot.db"),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_others_may_read_fails() {
    let api = FakeBotApi::start().await;
    let d = json_data();
    std::fs::set_permissions(d.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, report) = doctor(&d, &api, &[]).await;
    assert_eq!(code, 1);
    assert_check(&report, "data dir", "fail");
    assert!(detail(&report, "data dir").contains("mode 755"));
    assert_check(&report, "storage", "ok");

    // A data dir that does not exist: its checks fail, storage is not opened.
    let gone = tempfile::tempdir().unwrap();
    let mut c = doctor_cmd(&d, &api, &["--json"]);
    c.env("BOUNTYBOT_DATA_DIR", gone.path().join("nothing"));
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(detail(&report, "storage").starts_with("not checked"));
    assert!(!gone.path().join("nothing").exists(), "nothing is created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descriptor_limit_below_what_run_may_use_fails() {
    let api = FakeBotApi::start().await;
    let d = json_data();
    let under = |limit: u32| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" doctor --json"))
            .arg(BIN)
            .env("BOUNTYBOT_DATA_DIR", d.dir())
            .env("BOUNTYBOT_TOKEN", "123456:TEST")
            .env("BOUNTYBOT_API_URL", &api.url)
            .env_remove("BOUNTYBOT_MAX_OPEN_CONNECTIONS");
        c
    };
    for (limit, status) in [(64, "fail"), (256, "ok")] {
        let mut c = under(limit);
        let out = tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_check(&report, "descriptor limit", status);
        if status == "fail" {
            assert_eq!(out.status.code(), Some(1));
            assert!(detail(&report, "descriptor limit").starts_with("64 descriptors"));
        }
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    let d = Data::new();
    for args in [
        &["doctor", "--max-pending", "many"][..],
        &["doctor", "--webhook", "not a url"],
        &["doctor", "--min-free-mib", "0"],
    ] {
        let out = d.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_storage_is_reached_with_its_schema_current_and_an_unreachable_one_fails() {
    let Some(url) = tokio::task::spawn_blocking(crate::support::postgres::fresh_database)
        .await
        .unwrap()
    else {
        return;
    };
    let api = FakeBotApi::start().await;
    let d = Data::new();
    std::fs::create_dir(d.dir()).unwrap();
    private(&d);
    let mut c = doctor_cmd(&d, &api, &["--json"]);
    c.env("BOUNTYBOT_DATABASE_URL", &url);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert!(
        detail(&report, "storage").starts_with("postgres: reachable, schema current"),
        "{report:#}"
    );
    assert!(!detail(&report, "storage").contains("password"));

    // A server nobody listens on: a failure naming the database without its password.
    let mut c = doctor_cmd(&d, &api, &["--json"]);
    c.env(
        "BOUNTYBOT_DATABASE_URL",
        "postgres://bot:s3cret-pw@127.0.0.1:1/nothing",
    );
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_check(&report, "storage", "fail");
    let text = detail(&report, "storage");
    assert!(
        text.contains("127.0.0.1") && !text.contains("s3cret-pw"),
        "{text}"
    );
}
