//! `migrate-storage` when things overlap or were left half-done: never overwriting
//! newer data, never replaying a stray `-wal`, never running beside the bot.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};

use bountybot::domain::NewBounty;
use bountybot::domain::{ChatId, UserId};
use bountybot::store::json::JsonStore;
use bountybot::store::prelude::*;
use bountybot::store::sqlite::SqliteStore;

use crate::support::{Data, files};

const GROUP: i64 = -700;

fn run(d: &Data, args: &[&str]) -> std::process::Output {
    d.cmd().args(args).output().unwrap()
}

fn ok(d: &Data, args: &[&str]) -> String {
    let out = run(d, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn bounty(text: &str) -> NewBounty {
    NewBounty {
        created_by_user_id: UserId::new(1),
        text: text.into(),
        link: None,
        due_date_ts: None,
        created_at: 0,
    }
}

fn texts(store: &dyn BountyStore) -> Vec<String> {
    store
        .list(ChatId::new(GROUP))
        .unwrap()
        .into_iter()
        .map(|b| b.text)
        .collect()
}

/// Puts the JSON chat folder archived by `--to sqlite` back in the data dir, as if a
/// bot had gone on writing JSON after the move.
fn restore_archived_json(dir: &Path) {
    let legacy = dir.join("_legacy");
    let archive = std::fs::read_dir(&legacy)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join(GROUP.to_string()).is_dir())
        .expect("an archive with the chat folder");
    std::fs::rename(archive.join(GROUP.to_string()), dir.join(GROUP.to_string())).unwrap();
}

#[test]
fn moving_to_json_keeps_json_that_is_newer_than_the_database() {
    let d = Data::new();
    d.send(GROUP, 1, "/add A");
    ok(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    restore_archived_json(&d.dir());
    JsonStore::new(d.dir())
        .add(ChatId::new(GROUP), bounty("B"), &Origin::NONE)
        .unwrap();

    let out = ok(&d, &["migrate-storage", "--to", "json", "--execute"]);
    assert!(out.contains("more in the JSON files"), "{out}");
    assert_eq!(texts(&JsonStore::new(d.dir())), ["A", "B"], "B survives");
    assert!(
        !d.dir().join("bountybot.db").exists(),
        "the database went aside"
    );
    assert!(
        files(&d.dir().join("_legacy"))
            .iter()
            .any(|f| f.ends_with("bountybot.db")),
        "archived, not deleted"
    );
}

#[test]
fn diverged_backends_are_reported_and_kept_until_a_side_is_chosen() {
    let d = Data::new();
    d.send(GROUP, 1, "/add A");
    ok(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    restore_archived_json(&d.dir());
    JsonStore::new(d.dir())
        .add(ChatId::new(GROUP), bounty("only in json"), &Origin::NONE)
        .unwrap();
    {
        let db = SqliteStore::open(&d.dir().join("bountybot.db")).unwrap();
        db.add(ChatId::new(GROUP), bounty("only in sqlite"), &Origin::NONE)
            .unwrap();
    }
    let before = files(&d.dir());
    for to in ["json", "sqlite"] {
        for mode in ["--dry-run", "--execute"] {
            let out = run(&d, &["migrate-storage", "--to", to, mode]);
            assert_eq!(out.status.code(), Some(1), "--to {to} {mode}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("both backends hold data the other lacks"),
                "{err}"
            );
            assert!(err.contains("bounty 2 differs"), "{err}");
            assert!(err.contains("--prefer"), "{err}");
        }
    }
    assert_eq!(files(&d.dir()), before, "nothing changed");

    ok(
        &d,
        &[
            "migrate-storage",
            "--to",
            "json",
            "--prefer",
            "json",
            "--execute",
        ],
    );
    assert_eq!(texts(&JsonStore::new(d.dir())), ["A", "only in json"]);
    // The losing side is archived with its data.
    let archived = files(&d.dir().join("_legacy"))
        .into_iter()
        .find(|f| f.ends_with("bountybot.db"))
        .unwrap();
    let loser = SqliteStore::open(&d.dir().join("_legacy").join(archived)).unwrap();
    assert_eq!(texts(&loser), ["A", "only in sqlite"]);
}

/// Leaves `bountybot.db-wal` holding a committed write that is not in the database
/// file, as a process killed mid-run leaves them: the write is made in a copy that
/// stays open, and the database and its WAL are copied back while it is open.
fn unclean_stop_with(dir: &Path, text: &str) {
    let work = dir.parent().unwrap().join("crashed");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::copy(dir.join("bountybot.db"), work.join("bountybot.db")).unwrap();
    let store = SqliteStore::open(&work.join("bountybot.db")).unwrap();
    store
        .add(ChatId::new(GROUP), bounty(text), &Origin::NONE)
        .unwrap();
    for f in ["bountybot.db", "bountybot.db-wal"] {
        std::fs::copy(work.join(f), dir.join(f)).unwrap();
    }
    drop(store);
    assert!(
        std::fs::metadata(dir.join("bountybot.db-wal"))
            .unwrap()
            .len()
            > 0
    );
}

#[test]
fn a_stray_wal_is_never_replayed_onto_a_new_database() {
    let d = Data::new();
    d.send(GROUP, 1, "/add first");
    ok(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    unclean_stop_with(&d.dir(), "in the wal only");
    // Someone moves only the database away, and the bot runs on JSON again.
    std::fs::rename(d.dir().join("bountybot.db"), d.tmp.path().join("moved.db")).unwrap();
    JsonStore::new(d.dir())
        .add(ChatId::new(-800), bounty("new json"), &Origin::NONE)
        .unwrap();
    let before = files(&d.dir());
    for args in [
        &["migrate-storage", "--to", "sqlite", "--execute"][..],
        &["send", "--chat", "-800", "--user", "1", "/bounty"],
    ] {
        let out = run(&d, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bountybot.db-wal"), "{err}");
    }
    assert_eq!(files(&d.dir()), before, "nothing changed, nothing replayed");

    // Put back beside its database, the WAL is the database's again.
    std::fs::rename(d.tmp.path().join("moved.db"), d.dir().join("bountybot.db")).unwrap();
    std::fs::remove_dir_all(d.dir().join("-800")).unwrap();
    let out = ok(
        &d,
        &[
            "send",
            "--chat",
            &GROUP.to_string(),
            "--user",
            "1",
            "/bounty",
        ],
    );
    assert!(out.contains("in the wal only"), "{out}");
}

#[test]
fn a_move_to_json_interrupted_between_the_database_and_its_wal_is_finished() {
    let d = Data::new();
    d.send(GROUP, 1, "/add kept");
    ok(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    unclean_stop_with(&d.dir(), "from the wal");
    ok(&d, &["migrate-storage", "--to", "json", "--execute"]);
    assert_eq!(
        texts(&JsonStore::new(d.dir())),
        ["kept", "from the wal"],
        "the checkpoint brought the WAL's write along"
    );
    let live: Vec<_> = files(&d.dir())
        .into_iter()
        .filter(|f| f.starts_with("bountybot.db"))
        .collect();
    assert!(live.is_empty(), "{live:?}");

    // A crash right after the database moved leaves its -wal behind: the next run
    // moves it too.
    std::fs::write(d.dir().join("bountybot.db-wal"), b"left behind").unwrap();
    ok(&d, &["migrate-storage", "--to", "json", "--execute"]);
    assert!(!d.dir().join("bountybot.db-wal").exists());
    ok(
        &d,
        &[
            "send",
            "--chat",
            &GROUP.to_string(),
            "--user",
            "1",
            "/bounty",
        ],
    );
}

/// A REPL holding the data dir until its stdin closes.
fn repl_holding(d: &Data) -> Child {
    let mut child = d
        .cmd()
        .args(["repl", "--chat", &GROUP.to_string(), "--user", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its reply proves it has opened the store, so it holds the lock.
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"/add from the repl\n").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("Added bounty"), "{line}");
    child
}

#[test]
fn migrate_storage_refuses_while_the_bot_or_a_repl_uses_the_data_dir() {
    let d = Data::new();
    d.send(GROUP, 1, "/add A");
    let mut repl = repl_holding(&d);
    let before = files(&d.dir());
    let out = run(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is in use by") && err.contains("stop it first"),
        "{err}"
    );
    assert_eq!(files(&d.dir()), before);
    drop(repl.stdin.take());
    assert!(repl.wait().unwrap().success());
    ok(&d, &["migrate-storage", "--to", "sqlite", "--execute"]);
    let store = SqliteStore::open(&d.dir().join("bountybot.db")).unwrap();
    assert_eq!(texts(&store), ["A", "from the repl"]);
}
