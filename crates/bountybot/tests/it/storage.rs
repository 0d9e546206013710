//! Backend choice and `migrate-storage` between JSON and SQLite, through the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bountybot::store::prelude::*;
use bountybot::store::sqlite::{SqliteStore, export_conn};

use crate::support::{Data, ids};

/// Every file under `dir` with its bytes (lock files and archives left out).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                if e.file_name() != "_legacy" {
                    stack.push(p);
                }
            } else if e.file_name() != ".lock" {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// A varied data set: groups with members and bookmarks, private chats, a deleted id,
/// optional fields set and unset.
pub fn seed(d: &Data) {
    let script = [
        (-100_200, 1, "/start"),
        (-100_200, 1, "/add First https://x.org/1 2026-12-01"),
        (-100_200, 2, "/add Second"),
        (-100_200, 2, "/add Third +1w"),
        (-100_200, 2, "/delete 3"),
        (-100_200, 3, "/track 2"),
        (-100_200, 3, "/track 1"),
        (-100_200, 4, "/start"),
        (-1_000_000_000_777, 9, "/add In a supergroup"),
        (55, 55, "/add Private thing"),
        (55, 55, "/track 1"),
        (66, 66, "/start"),
    ];
    for (chat, user, text) in script {
        d.send(chat, user, text);
    }
}

pub fn run(d: &Data, args: &[&str]) -> std::process::Output {
    d.cmd().args(args).output().unwrap()
}

pub fn plan(d: &Data, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = run(d, &args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The database's content, with creation times zeroed so two data sets seeded a moment
/// apart compare equal.
pub fn db_export(d: &Data) -> Vec<bountybot::store::ChatData> {
    let mut data =
        export_conn(&statekit::sqlite::open_read_only(&d.dir().join("bountybot.db")).unwrap())
            .unwrap();
    for chat in &mut data {
        for b in &mut chat.bounties {
            b.created_at = 0;
        }
    }
    data
}

#[test]
fn round_trip_json_sqlite_json_gives_the_same_files() {
    let d = Data::new();
    seed(&d);
    let original = snapshot(&d.dir());
    assert_eq!(
        plan(&d, &["migrate-storage", "--to", "sqlite", "--execute"])["changes"],
        true
    );
    assert!(d.dir().join("bountybot.db").is_file());
    assert!(
        !d.dir().join("-100200").exists(),
        "JSON chat folders archived"
    );
    assert_eq!(
        plan(&d, &["migrate-storage", "--to", "json", "--execute"])["changes"],
        true
    );
    assert!(
        !d.dir().join("bountybot.db").exists(),
        "database moved aside"
    );
    assert_eq!(snapshot(&d.dir()), original, "same files, byte for byte");
}

#[test]
fn the_bot_keeps_working_on_sqlite_after_the_move() {
    let d = Data::new();
    seed(&d);
    plan(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    assert_eq!(
        d.send(-100_200, 2, "/add Fourth"),
        "Added bounty #4: Fourth\n",
        "ids continue, 3 stays retired"
    );
    assert!(
        d.send(-100_200, 3, "/my").contains("First"),
        "bookmarks moved"
    );
    assert!(d.send(55, 55, "/my").contains("Private thing"));
}

#[test]
fn dry_runs_change_nothing() {
    let d = Data::new();
    seed(&d);
    let before = snapshot(&d.dir());
    let p = plan(&d, &["migrate-storage", "--to", "sqlite"]);
    assert_eq!(p["mode"], "dry-run");
    assert_eq!(p["actions"][0]["count"], 4, "four chats");
    assert_eq!(
        p["actions"][1]["count"], 4,
        "four bounties (one was deleted)"
    );
    assert_eq!(p["actions"][2]["count"], 3, "three bookmarks");
    plan(&d, &["migrate-storage", "--to", "json"]);
    assert_eq!(snapshot(&d.dir()), before);

    plan(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    let before = snapshot(&d.dir());
    let p = plan(&d, &["migrate-storage", "--to", "json", "--dry-run"]);
    assert_eq!(p["changes"], true);
    run(&d, &["stats"]);
    assert_eq!(
        snapshot(&d.dir()),
        before,
        "dry run and stats leave the database untouched"
    );
}

#[test]
fn execute_twice_is_a_no_op_both_ways() {
    let d = Data::new();
    seed(&d);
    plan(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    let again = plan(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    assert_eq!(again["changes"], false);
    plan(&d, &["migrate-storage", "--to", "json", "--execute"]);
    let again = plan(&d, &["migrate-storage", "--to", "json", "--execute"]);
    assert_eq!(again["changes"], false);
}

#[test]
fn a_crash_at_any_step_then_re_run_equals_an_uninterrupted_run() {
    let reference = Data::new();
    seed(&reference);
    plan(
        &reference,
        &["migrate-storage", "--to", "sqlite", "--execute"],
    );
    let want_db = db_export(&reference);
    for step in ["staged", "written"] {
        let d = Data::new();
        seed(&d);
        let out = d
            .cmd()
            .args(["migrate-storage", "--to", "sqlite", "--execute"])
            .env("BOUNTYBOT_TEST_ABORT_AFTER", step)
            .output()
            .unwrap();
        assert!(!out.status.success(), "died after {step}");
        plan(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
        assert_eq!(db_export(&d), want_db, "after a crash at {step}");
        assert!(
            !d.dir().join("-100200").exists() && !d.dir().join("bountybot.db.importing").exists()
        );
    }
    // And back: a crash after writing the JSON, before moving the database.
    let d = Data::new();
    seed(&d);
    let original = snapshot(&d.dir());
    plan(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    let out = d
        .cmd()
        .args(["migrate-storage", "--to", "json", "--execute"])
        .env("BOUNTYBOT_TEST_ABORT_AFTER", "written")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let refused = run(&d, &["send", "--chat", "55", "--user", "55", "/bounty"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "both backends present: refused"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("holds both"));
    plan(&d, &["migrate-storage", "--to", "json", "--execute"]);
    assert_eq!(snapshot(&d.dir()), original);
}

#[test]
fn a_data_dir_with_both_backends_is_refused() {
    let d = Data::new();
    d.send(-5, 1, "/add json bounty");
    SqliteStore::open(&d.dir().join("bountybot.db")).unwrap();
    for args in [
        vec!["send", "--chat", "-5", "--user", "1", "/bounty"],
        vec!["repl"],
    ] {
        let out = run(&d, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("holds both") && err.contains("migrate-storage"),
            "{err}"
        );
    }
}

#[test]
fn the_backend_is_chosen_from_the_flag_or_the_data_dir() {
    let d = Data::new();
    d.send(-5, 1, "/add on json");
    let out = run(
        &d,
        &[
            "--storage",
            "sqlite",
            "send",
            "--chat",
            "-5",
            "--user",
            "1",
            "/bounty",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "asking for sqlite on a JSON dir is refused"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--to sqlite"));
    let fresh = Data::new();
    let out = run(
        &fresh,
        &[
            "--storage",
            "sqlite",
            "send",
            "--chat",
            "-5",
            "--user",
            "1",
            "/add on sqlite",
        ],
    );
    assert!(out.status.success());
    assert!(fresh.dir().join("bountybot.db").is_file());
    assert!(!fresh.dir().join("-5").exists());
    assert!(
        fresh.send(-5, 1, "/bounty").contains("on sqlite"),
        "detected without the flag"
    );
    let stats: serde_json::Value =
        serde_json::from_slice(&run(&fresh, &["stats", "--json"]).stdout).unwrap();
    assert_eq!(
        stats,
        serde_json::json!([{"backend": "sqlite", "chats": 1, "bounties": 1, "tracked": 0}])
    );
}

#[test]
fn eight_processes_adding_at_once_lose_nothing_on_sqlite() {
    let d = Data::new();
    crate::concurrency::eight_processes_add_to_one_group(&d, &["--storage", "sqlite"]);
    let store = SqliteStore::open(&d.dir().join("bountybot.db")).unwrap();
    let data = store.export().unwrap();
    let mut got: Vec<u64> = data[0].bounties.iter().map(|b| b.id.get()).collect();
    got.sort_unstable();
    assert_eq!(got, (1..=800).collect::<Vec<_>>());
    assert_eq!(data[0].next_id, 801);
    let _ = ids;
}

#[test]
fn round_trip_carries_claims_done_bounties_and_names_exactly() {
    use bountybot::domain::Status;
    use bountybot::domain::{ChatId, UserId};
    use bountybot::store::prelude::*;
    let d = Data::new();
    seed(&d);
    d.send(-100_200, 3, "/claim 1");
    d.send(-100_200, 2, "/claim 2");
    d.send(-100_200, 2, "/done 2");
    d.send(55, 55, "/done 1");
    {
        let json = bountybot::store::json::JsonStore::new(d.dir());
        json.remember_name(ChatId::new(-100_200), UserId::new(3), "Cat \"C\" <3>")
            .unwrap();
        json.remember_name(ChatId::new(-100_200), UserId::new(5), "Eve, new here")
            .unwrap();
        json.remember_name(ChatId::new(55), UserId::new(55), "Émile")
            .unwrap();
    }
    let original = snapshot(&d.dir());
    plan(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    let db = db_export(&d);
    let group = db.iter().find(|c| c.chat.get() == -100_200).unwrap();
    let b1 = &group.bounties[0];
    assert_eq!(
        (b1.status, b1.claimed_by_user_id),
        (Status::Open, Some(UserId::new(3)))
    );
    let b2 = &group.bounties[1];
    assert_eq!(b2.status, Status::Done);
    assert!(b2.done_at.is_some());
    assert_eq!(
        group.names,
        vec![
            (UserId::new(3), "Cat \"C\" <3>".to_string()),
            (UserId::new(5), "Eve, new here".to_string())
        ]
    );
    assert!(group.members.iter().any(|(u, _)| *u == UserId::new(5)));
    let private = db.iter().find(|c| c.chat.get() == 55).unwrap();
    assert_eq!(private.names, vec![(UserId::new(55), "Émile".to_string())]);
    assert_eq!(private.bounties[0].status, Status::Done);
    plan(&d, &["migrate-storage", "--to", "json", "--execute"]);
    assert_eq!(snapshot(&d.dir()), original, "same files, byte for byte");
}

#[test]
fn round_trip_carries_settings_and_digest_records_exactly() {
    use bountybot::domain::{ChatId, ReminderTime, ZoneName};
    use bountybot::domain::{DigestClaim, SettingsPatch};
    use bountybot::store::prelude::*;
    let d = Data::new();
    seed(&d);
    let day = jiff::civil::date(2026, 11, 20);
    {
        let json = bountybot::store::json::JsonStore::new(d.dir());
        let patch = SettingsPatch {
            time_zone: Some(Some(ZoneName::parse("Europe/Berlin").unwrap())),
            remind_at: Some(Some(ReminderTime::parse("09:00").unwrap())),
        };
        json.update_settings(ChatId::new(-100_200), &patch, &Origin::NONE)
            .unwrap();
        let only_time = SettingsPatch {
            remind_at: Some(Some(ReminderTime::parse("18:45").unwrap())),
            ..SettingsPatch::default()
        };
        json.update_settings(ChatId::new(55), &only_time, &Origin::NONE)
            .unwrap();
        assert_eq!(
            json.claim_digest(ChatId::new(-100_200), day, 1_795_000_000)
                .unwrap(),
            DigestClaim::Got
        );
        json.digest_sent(ChatId::new(-100_200), day, 4242).unwrap();
        json.claim_digest(
            ChatId::new(-100_200),
            day.tomorrow().unwrap(),
            1_795_086_400,
        )
        .unwrap();
        json.claim_digest(ChatId::new(55), day, 1_795_000_100)
            .unwrap();
    }
    let original = snapshot(&d.dir());
    plan(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    let db = db_export(&d);
    let group = db.iter().find(|c| c.chat.get() == -100_200).unwrap();
    assert_eq!(group.settings.zone().as_str(), "Europe/Berlin");
    assert_eq!(group.digests.len(), 2);
    assert_eq!(group.digests[0].message_id, Some(4242));
    let private = db.iter().find(|c| c.chat.get() == 55).unwrap();
    assert_eq!(private.settings.time_zone, None);
    assert_eq!(
        private.settings.remind_at.map(|t| t.to_string()).as_deref(),
        Some("18:45")
    );
    assert_eq!(private.digests.len(), 1);
    plan(&d, &["migrate-storage", "--to", "json", "--execute"]);
    assert_eq!(snapshot(&d.dir()), original, "same files, byte for byte");
}
