//! PostgreSQL as a backend of the binary, and `migrate-storage` through all three
//! backends: round trips exact, a database in use refused, a database whose data moved
//! away refused, a crash finished by running again. Needs a throwaway PostgreSQL
//! server (skipped, loudly, without one; a failure under CI).

use std::process::Output;

use bountybot::store::postgres::{DatabaseUrl, PostgresStore};
use bountybot::store::prelude::*;

use crate::storage::{db_export, seed, snapshot};
use crate::support::Data;
use crate::support::postgres::fresh_database;

/// `bountybot args...` on `d`'s data dir with the database `url`.
fn with_db(d: &Data, url: &str, args: &[&str]) -> Output {
    d.cmd()
        .env("BOUNTYBOT_DATABASE_URL", url)
        .args(args)
        .output()
        .unwrap()
}

/// A `migrate-storage ... --json` report, asserting success.
fn moved(d: &Data, url: &str, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = with_db(d, url, &args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn pg_export(url: &str) -> Vec<bountybot::store::ChatData> {
    let mut data = PostgresStore::open(&DatabaseUrl::new(url.to_string()))
        .unwrap()
        .export()
        .unwrap();
    for chat in &mut data {
        for b in &mut chat.bounties {
            b.created_at = 0;
        }
    }
    data
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn json_to_sqlite_to_postgres_to_json_gives_back_the_same_files() {
    let Some(url) = fresh_database() else { return };
    let d = Data::new();
    seed(&d);
    let original = snapshot(&d.dir());
    moved(
        &d,
        &url,
        &["migrate-storage", "--to", "sqlite", "--execute"],
    );
    let in_sqlite = db_export(&d);
    let p = moved(
        &d,
        &url,
        &["migrate-storage", "--to", "postgres", "--execute"],
    );
    assert_eq!(p["changes"], true);
    assert!(
        !d.dir().join("bountybot.db").exists(),
        "database moved aside"
    );
    assert_eq!(
        pg_export(&url),
        in_sqlite,
        "PostgreSQL holds what SQLite held"
    );
    let p = moved(&d, &url, &["migrate-storage", "--to", "json", "--execute"]);
    assert_eq!(p["changes"], true);
    assert_eq!(snapshot(&d.dir()), original, "same files, byte for byte");
}

#[test]
fn postgres_round_trips_with_each_other_backend_are_exact() {
    let Some(url) = fresh_database() else { return };
    // JSON -> PostgreSQL -> JSON.
    let d = Data::new();
    seed(&d);
    let original = snapshot(&d.dir());
    moved(
        &d,
        &url,
        &["migrate-storage", "--to", "postgres", "--execute"],
    );
    assert!(!d.dir().join("-100200").exists(), "JSON folders archived");
    moved(&d, &url, &["migrate-storage", "--to", "json", "--execute"]);
    assert_eq!(snapshot(&d.dir()), original);
    // SQLite -> PostgreSQL -> SQLite, on a database whose last data moved away.
    let d = Data::new();
    seed(&d);
    moved(
        &d,
        &url,
        &["migrate-storage", "--to", "sqlite", "--execute"],
    );
    let before = db_export(&d);
    moved(
        &d,
        &url,
        &["migrate-storage", "--to", "postgres", "--execute"],
    );
    moved(
        &d,
        &url,
        &["migrate-storage", "--to", "sqlite", "--execute"],
    );
    assert_eq!(db_export(&d), before);
    let again = moved(
        &d,
        &url,
        &["migrate-storage", "--to", "sqlite", "--execute"],
    );
    assert_eq!(again["changes"], false, "nothing left to move");
}

#[test]
fn the_bot_works_on_postgres_and_stats_count_it() {
    let Some(url) = fresh_database() else { return };
    let d = Data::new();
    seed(&d);
    moved(
        &d,
        &url,
        &["migrate-storage", "--to", "postgres", "--execute"],
    );
    let send = |chat: &str, user: &str, text: &str| {
        let out = with_db(&d, &url, &["send", "--chat", chat, "--user", user, text]);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        send("-100200", "2", "/add Fourth"),
        "Added bounty #4: Fourth\n",
        "ids continue, 3 stays retired"
    );
    assert!(
        send("-100200", "3", "/my").contains("First"),
        "bookmarks moved"
    );
    let stats: serde_json::Value =
        serde_json::from_slice(&with_db(&d, &url, &["stats", "--json"]).stdout).unwrap();
    assert_eq!(
        stats,
        serde_json::json!([{"backend": "postgres", "chats": 4, "bounties": 5, "tracked": 3}])
    );
    // The URL alone chooses PostgreSQL; asking for it without one is a usage error.
    let out = d
        .cmd()
        .args([
            "--storage",
            "postgres",
            "send",
            "--chat",
            "1",
            "--user",
            "1",
            "/help",
        ])
        .env_remove("BOUNTYBOT_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("set BOUNTYBOT_DATABASE_URL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn migrate_storage_refuses_while_a_bot_uses_the_database() {
    let Some(url) = fresh_database() else { return };
    let d = Data::new();
    seed(&d);
    moved(
        &d,
        &url,
        &["migrate-storage", "--to", "postgres", "--execute"],
    );
    let bot = PostgresStore::open(&DatabaseUrl::new(url.clone())).unwrap();
    let out = with_db(&d, &url, &["migrate-storage", "--to", "json", "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is in use"), "{}", stderr(&out));
    assert!(!d.dir().join("-100200").exists(), "nothing was written");
    drop(bot);
    moved(&d, &url, &["migrate-storage", "--to", "json", "--execute"]);
    // And the other way: a bot cannot start while migrate-storage holds the database.
    let lock = bountybot::store::postgres::lock_exclusive(&DatabaseUrl::new(url.clone())).unwrap();
    let e = PostgresStore::open(&DatabaseUrl::new(url.clone())).unwrap_err();
    assert!(e.to_string().contains("is in use"), "{e}");
    drop(lock);
}

#[test]
fn a_database_whose_data_moved_away_is_refused_not_started_afresh() {
    let Some(url) = fresh_database() else { return };
    let d = Data::new();
    seed(&d);
    moved(
        &d,
        &url,
        &["migrate-storage", "--to", "postgres", "--execute"],
    );
    moved(&d, &url, &["migrate-storage", "--to", "json", "--execute"]);
    // A replica elsewhere, still configured for PostgreSQL, with an empty data dir.
    let elsewhere = Data::new();
    let out = with_db(
        &elsewhere,
        &url,
        &["send", "--chat", "-100200", "--user", "1", "/add lost?"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("was moved to json on")
            && stderr(&out).contains("bountybot_archive_"),
        "{}",
        stderr(&out)
    );
    // Moving the data back clears the marker.
    moved(
        &d,
        &url,
        &["migrate-storage", "--to", "postgres", "--execute"],
    );
    let out = with_db(
        &elsewhere,
        &url,
        &["send", "--chat", "-100200", "--user", "1", "/bounty"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("First"));
}

#[test]
fn a_crash_moving_to_postgres_is_finished_by_running_again() {
    let Some(url) = fresh_database() else { return };
    let d = Data::new();
    seed(&d);
    let want = {
        let reference = Data::new();
        seed(&reference);
        moved(
            &reference,
            &url,
            &["migrate-storage", "--to", "sqlite", "--execute"],
        );
        db_export(&reference)
    };
    let out = d
        .cmd()
        .env("BOUNTYBOT_DATABASE_URL", &url)
        .env("BOUNTYBOT_TEST_ABORT_AFTER", "written")
        .args(["migrate-storage", "--to", "postgres", "--execute"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "died after writing");
    assert!(
        d.dir().join("-100200").exists(),
        "the source is still there"
    );
    let p = moved(
        &d,
        &url,
        &["migrate-storage", "--to", "postgres", "--execute"],
    );
    assert_eq!(p["changes"], true);
    assert!(!d.dir().join("-100200").exists());
    assert_eq!(pg_export(&url), want);
}

#[test]
fn a_dry_run_changes_nothing_on_either_side() {
    let Some(url) = fresh_database() else { return };
    let d = Data::new();
    seed(&d);
    let before = snapshot(&d.dir());
    let p = moved(&d, &url, &["migrate-storage", "--to", "postgres"]);
    assert_eq!(p["mode"], "dry-run");
    assert_eq!(p["actions"][1]["count"], 4, "four bounties");
    assert_eq!(snapshot(&d.dir()), before);
    assert!(pg_export(&url).is_empty());
}

#[test]
fn diverged_json_and_postgres_are_refused_unless_a_side_is_preferred() {
    let Some(url) = fresh_database() else { return };
    let d = Data::new();
    seed(&d);
    moved(
        &d,
        &url,
        &["migrate-storage", "--to", "postgres", "--execute"],
    );
    // A bot left on JSON meanwhile: the data dir holds new JSON data, PostgreSQL the
    // old chats; each lacks what the other has.
    d.send(-100_300, 1, "/add Written to JSON after the move");
    let out = with_db(
        &d,
        &url,
        &["migrate-storage", "--to", "postgres", "--execute"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("both backends hold data the other lacks")
            && stderr(&out).contains("chat -100300: only in the JSON files"),
        "{}",
        stderr(&out)
    );
    assert!(d.dir().join("-100300").exists(), "nothing changed");
    assert_eq!(pg_export(&url).len(), 4, "nothing changed");
    let p = moved(
        &d,
        &url,
        &[
            "migrate-storage",
            "--to",
            "postgres",
            "--prefer",
            "json",
            "--execute",
        ],
    );
    assert_eq!(p["changes"], true);
    let now: Vec<i64> = pg_export(&url).iter().map(|c| c.chat.get()).collect();
    assert_eq!(
        now,
        vec![-100_300],
        "the JSON side kept; the old tables archived"
    );
}
