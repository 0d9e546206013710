//! The projection (each action's state kept beside the log) is always the fold of the
//! log: after any changes through the service, after any import, after a rollback and
//! a new migration, after a kill in the middle of a write stream, after the migration
//! that adds it to an existing database; and when it is damaged, `db-status --verify`
//! finds it and `db-reindex` mends it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use honestcam::domain::{Change, Projection, Status};
use honestcam::ops::import::db_migrate;
use honestcam::ops::rollback::db_rollback;
use honestcam::ops::{NoProgress, Run};
use honestcam::service::compliance::{Unchanged, load_events, record_changes};
use honestcam::storage::sqlite::projection_repo;
use honestcam::storage::{Backend, Wait};
use proptest::prelude::*;
use serde_json::json;

use crate::support::{Fixture, SLUG, client, migrated};

/// How the stored projection of the fixture's property differs from its log.
fn differences(f: &Fixture) -> Vec<String> {
    let conn = rusqlite::Connection::open(f.prop().join("honestcam.db")).unwrap();
    projection_repo::verify(&conn).unwrap()
}

fn migrate(f: &Fixture) {
    let storage = f.storage();
    let lock = storage
        .lock_property(&f.slug(), "test", Wait::Block, |_| {})
        .unwrap();
    db_migrate(&storage, &f.slug(), Run::Execute(&lock), &NoProgress).unwrap();
}

fn rollback(f: &Fixture) {
    let storage = f.storage();
    let lock = storage
        .lock_property(&f.slug(), "test", Wait::Block, |_| {})
        .unwrap();
    db_rollback(&storage, &f.slug(), Run::Execute(&lock)).unwrap();
}

fn any_change() -> impl Strategy<Value = Change> {
    prop_oneof![
        prop_oneof![
            Just(Status::Open),
            Just(Status::InProgress),
            Just(Status::Done)
        ]
        .prop_map(Change::Status),
        "[a-z]{1,6}".prop_map(Change::Note),
        prop_oneof![
            Just(None),
            Just(Some("Kim".to_string())),
            Just(Some("Ana".to_string()))
        ]
        .prop_map(Change::Assignee),
        prop_oneof![Just(None), Just(Some("2026-06-01".to_string()))].prop_map(Change::Due),
    ]
}

/// One submit: an action, its changes, and whether unchanged values are left out.
fn any_submit() -> impl Strategy<Value = (String, Vec<Change>, bool)> {
    (
        prop_oneof![Just("ACT-001"), Just("ACT-002"), Just("ACT-003")].prop_map(String::from),
        proptest::collection::vec(any_change(), 1..4),
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// The same submits on SQLite and on the JSON files store the same events (the
    /// decision reads the projection on one and folds the log on the other), and the
    /// stored projection is the fold of the log afterwards.
    #[test]
    fn after_any_changes_through_the_service_the_projection_is_the_fold_of_the_log(
        submits in proptest::collection::vec(any_submit(), 1..24)
    ) {
        let on_json = Fixture::new();
        let on_sqlite = Fixture::new();
        migrate(&on_sqlite);
        let (json_storage, sqlite_storage) = (on_json.storage(), on_sqlite.storage());
        prop_assert_eq!(sqlite_storage.read(&on_sqlite.slug()).unwrap().backend(), Backend::Sqlite);
        for (i, (action, changes, skip)) in submits.iter().enumerate() {
            let unchanged = if *skip { Unchanged::Skip } else { Unchanged::Record };
            let actor = format!("editor-{}", i % 3);
            let stored = |f: &Fixture, storage| {
                record_changes(storage, &f.slug(), action, changes, &actor, unchanged)
                    .unwrap()
                    .iter()
                    .map(|e| (e.kind.clone(), e.payload.clone()))
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(
                stored(&on_sqlite, &sqlite_storage),
                stored(&on_json, &json_storage),
                "submit {} stored different events", i
            );
        }
        drop(sqlite_storage);
        prop_assert_eq!(differences(&on_sqlite), Vec::<String>::new());
    }
}

/// A legacy event as the importer reads it, valid or not.
fn any_legacy_event() -> impl Strategy<Value = serde_json::Value> {
    let action = prop_oneof![Just("ACT-001"), Just("ACT-002"), Just("NOT-LISTED")];
    let body = prop_oneof![
        prop_oneof![Just("done"), Just("blocked"), Just("bogus")]
            .prop_map(|s| json!({"type": "status_changed", "payload": {"status": s}})),
        "[a-z]{0,5}".prop_map(|n| json!({"type": "note_added", "payload": {"note": n}})),
        prop_oneof![Just(json!(null)), Just(json!("Kim"))]
            .prop_map(|a| json!({"type": "assignee_changed", "payload": {"assignee": a}})),
        prop_oneof![Just(json!("2026-07-01")), Just(json!("soon"))]
            .prop_map(|d| json!({"type": "due_changed", "payload": {"due": d}})),
        Just(json!({"type": "photo_added", "payload": {"url": "x"}})),
        Just(json!({"type": "status_changed"})),
    ];
    (action, body, 0u32..40, any::<bool>()).prop_map(|(action, mut e, n, with_id)| {
        e["action_id"] = json!(action);
        e["actor"] = json!("kim");
        e["at"] = json!(format!("2026-03-01T10:00:{:02}Z", n % 60));
        if with_id {
            // Few ids, so that some events repeat (and are imported once).
            e["event_id"] = json!(format!("legacy-{n}"));
        }
        e
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Whatever the legacy log holds (invalid events, unknown actions, repeated
    /// events), the imported database's projection is the fold of its log.
    #[test]
    fn after_any_import_the_projection_is_the_fold_of_the_log(
        events in proptest::collection::vec(any_legacy_event(), 0..80)
    ) {
        let f = Fixture::new();
        // Events repeated with one id and different content would be refused: keep
        // the first of each id.
        let mut seen = std::collections::HashSet::new();
        let events: Vec<_> = events
            .into_iter()
            .filter(|e| e.get("event_id").is_none_or(|id| seen.insert(id.clone())))
            .collect();
        std::fs::write(
            f.prop().join("compliance-log.json"),
            serde_json::to_vec(&json!({ "events": events })).unwrap(),
        )
        .unwrap();
        migrate(&f);
        prop_assert_eq!(differences(&f), Vec::<String>::new());
    }
}

#[test]
fn a_rollback_and_a_new_migration_keep_the_projection_equal_to_the_log() {
    let f = migrated();
    let storage = f.storage();
    let edit = |storage: &honestcam::storage::Storage, action: &str, changes: &[Change]| {
        record_changes(storage, &f.slug(), action, changes, "kim", Unchanged::Skip).unwrap()
    };
    edit(
        &storage,
        "ACT-001",
        &[
            Change::Status(Status::Done),
            Change::Note("on SQLite".into()),
        ],
    );
    drop(storage);
    rollback(&f);
    let storage = f.storage();
    assert_eq!(storage.read(&f.slug()).unwrap().backend(), Backend::Json);
    edit(
        &storage,
        "ACT-001",
        &[Change::Status(Status::Open), Change::Note("on JSON".into())],
    );
    edit(&storage, "ACT-002", &[Change::Assignee(Some("Ana".into()))]);
    drop(storage);
    migrate(&f);
    assert_eq!(differences(&f), Vec::<String>::new());
    let conn = rusqlite::Connection::open(f.prop().join("honestcam.db")).unwrap();
    let stored = projection_repo::load(&conn).unwrap().unwrap();
    let act1 = stored.action("ACT-001").unwrap();
    assert_eq!(act1.status, Some(Status::Open), "the change made on JSON");
    assert_eq!(
        act1.latest_notes.last().map(|n| n.text.as_str()),
        Some("on JSON")
    );
    assert_eq!(
        stored.action("ACT-002").unwrap().assignee,
        Some(Some("Ana".to_string()))
    );
}

/// A database as the version before the projection left it: migrations 4 and 5 (the
/// search index) and their tables gone.
fn make_it_predate_the_projection(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "DROP TABLE action_state; DROP TABLE action_state_position;
         DROP TABLE search_index; DROP TABLE search_position;
         DELETE FROM _statekit_migrations WHERE version IN (4, 5); PRAGMA user_version = 3;",
    )
    .unwrap();
}

#[test]
fn the_migration_fills_the_projection_of_an_existing_database() {
    let f = migrated();
    record_changes(
        &f.storage(),
        &f.slug(),
        "ACT-003",
        &[
            Change::Status(Status::Waived),
            Change::Note("before the upgrade".into()),
        ],
        "kim",
        Unchanged::Record,
    )
    .unwrap();
    let db = f.prop().join("honestcam.db");
    make_it_predate_the_projection(&db);
    // Read-only, the check says the projection is not there yet.
    let predates = differences(&f);
    assert_eq!(predates.len(), 1);
    assert!(
        predates[0].contains("predates the projection"),
        "{predates:?}"
    );

    // The next open migrates and fills it.
    let storage = f.storage();
    let store = storage.write(&f.slug()).unwrap();
    drop(store);
    drop(storage);
    assert_eq!(differences(&f), Vec::<String>::new());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored = projection_repo::load(&conn).unwrap().unwrap();
    let log = load_events(&f.storage(), &f.slug()).unwrap();
    assert!(log.len() > 1);
    assert_eq!(stored.position(), log.len() as i64, "covers the whole log");
    assert_eq!(
        stored.action("ACT-003").unwrap().status,
        Some(Status::Waived)
    );
    let expected = Projection::fold((1..).zip(&log));
    assert_eq!(stored, expected);
    let out = f.run(&["db-status", SLUG, "--verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_damaged_projection_is_found_by_verify_and_mended_by_reindex() {
    let f = migrated();
    let db = f.prop().join("honestcam.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let changed = conn
            .execute(
                "UPDATE action_state SET status = 'waived' WHERE action_id = 'ACT-001'",
                [],
            )
            .unwrap();
        assert_eq!(changed, 1, "the demo's ACT-001 has events");
        conn.execute(
            "INSERT INTO action_state (action_id, status, last_seq) VALUES ('GHOST', 'done', 1)",
            [],
        )
        .unwrap();
    }
    let out = f.run(&["db-status", "--verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("differs from the log"), "{stdout}");
    assert!(stdout.contains("\"ACT-001\""), "{stdout}");
    assert!(stdout.contains("\"GHOST\""), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("db-reindex"));

    let before = std::fs::read(&db).unwrap();
    let dry = f.plan(&["db-reindex", SLUG]);
    assert_eq!(
        crate::support::count(&dry, "differences from the log found"),
        2
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "a dry run changes nothing"
    );

    let done = f.plan(&["db-reindex", SLUG, "--execute"]);
    let events = crate::support::event_rows(&f) as u64;
    assert_eq!(
        crate::support::count(&done, "fold events into the projection"),
        events
    );
    assert_eq!(differences(&f), Vec::<String>::new());
    let out = f.run(&["db-status", "--verify", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["projection_differences"], json!([]));
}

#[test]
fn reindex_on_the_json_files_changes_nothing() {
    let f = Fixture::new();
    let before = crate::support::snapshot(&f.dir());
    let plan = f.plan(&["db-reindex", SLUG, "--execute"]);
    assert!(plan.to_string().contains("legacy JSON files"), "{plan}");
    let after = crate::support::snapshot(&f.dir());
    let changed: Vec<_> = after
        .keys()
        .filter(|p| before.get(*p) != after.get(*p) && !p.to_string_lossy().contains(".lock"))
        .collect();
    assert!(changed.is_empty(), "{changed:?}");
}

/// Clients submitting the edit form (a note, and a status or assignee in turn) to a
/// few actions until stopped; counts acknowledged submits.
struct FormLoad {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FormLoad {
    fn start(app: &crate::support::App) -> FormLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let tasks = (0..6)
            .map(|c| {
                let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
                let url = app.url(&format!("/compliance/actions/ACT-00{}", 1 + c % 3));
                tokio::spawn(async move {
                    let http = client();
                    let statuses = ["open", "in_progress", "done"];
                    for i in 0..5_000usize {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let note = format!("kill-{c}-{i}");
                        let status = statuses[i % 3];
                        let assignee = if i % 2 == 0 { "Kim" } else { "" };
                        let form = [
                            ("note", note.as_str()),
                            ("status", status),
                            ("assignee", assignee),
                        ];
                        match http.post(&url).form(&form).send().await {
                            Ok(r) if r.status() == 303 => {
                                acked.fetch_add(1, Ordering::Relaxed);
                            }
                            // The server was killed under the request.
                            _ => break,
                        }
                    }
                })
            })
            .collect();
        FormLoad { stop, acked, tasks }
    }

    async fn until(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acked.load(Ordering::Relaxed) < n {
            assert!(
                Instant::now() < deadline,
                "the portal stopped acknowledging writes"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn abandon(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_during_a_write_stream_leaves_the_projection_equal_to_the_log() {
    let f = migrated();
    let mut app = f.spawn_app(&[], &[]);
    let load = FormLoad::start(&app);
    // Well under way: writes are being acknowledged when the process dies.
    load.until(150).await;
    app.child.kill().unwrap();
    app.child.wait().unwrap();
    std::mem::forget(app);
    load.abandon().await;

    let out = f.run(&["db-status", SLUG, "--verify", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["projection_differences"], json!([]));
    assert!(rows[0]["events"].as_u64().unwrap() > 150);

    // And the restarted portal goes on from it.
    let app = f.spawn_app(&[], &[]);
    let r = client()
        .post(app.url("/compliance/actions/ACT-001"))
        .form(&[("note", "after the kill"), ("status", "blocked")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(app.stop());
    assert_eq!(differences(&f), Vec::<String>::new());
    let conn = rusqlite::Connection::open(f.prop().join("honestcam.db")).unwrap();
    let act1 = projection_repo::load_action(&conn, "ACT-001")
        .unwrap()
        .unwrap();
    assert_eq!(act1.status, Some(Status::Blocked));
}

#[test]
fn the_page_view_reads_the_projection_and_the_search_view_folds_the_log() {
    use honestcam::service::snapshot::Snapshots;
    let f = migrated();
    let storage = f.storage();
    let snapshots = Snapshots::new();
    for i in 0..5 {
        record_changes(
            &storage,
            &f.slug(),
            "ACT-002",
            &[Change::Note(format!("note {i}"))],
            "kim",
            Unchanged::Record,
        )
        .unwrap();
    }
    let store = storage.read(&f.slug()).unwrap();
    let (_, page) = snapshots.current(&store).unwrap();
    let (_, all) = snapshots.folded(&store).unwrap();
    drop(store);
    assert_eq!(page.len(), all.len());
    for (p, a) in page.iter().zip(all.iter()) {
        // The same state, but the page keeps only the latest notes.
        assert_eq!(p.note_count, a.note_count, "{}", p.id);
        assert_eq!(a.note_count as usize, a.notes.len());
        let skip = a.notes.len().saturating_sub(p.notes.len());
        assert_eq!(p.notes[..], a.notes[skip..], "{}", p.id);
        let mut p = p.clone();
        p.notes = a.notes.clone();
        assert_eq!(&p, a);
    }
    let act2 = page.iter().find(|a| a.id == "ACT-002").unwrap();
    assert_eq!(act2.notes.len(), honestcam::domain::projection::KEPT_NOTES);
    assert_eq!(act2.notes.last().unwrap().text, "note 4");

    // The page view is the projection's: a row changed behind the log's back shows
    // there (and nowhere in the fold) once the projection moves on.
    let conn = rusqlite::Connection::open(f.prop().join("honestcam.db")).unwrap();
    conn.execute(
        "UPDATE action_state SET status = 'waived' WHERE action_id = 'ACT-002'",
        [],
    )
    .unwrap();
    record_changes(
        &storage,
        &f.slug(),
        "ACT-003",
        &[Change::Note("moves the position".into())],
        "kim",
        Unchanged::Record,
    )
    .unwrap();
    let store = storage.read(&f.slug()).unwrap();
    let (_, page) = snapshots.current(&store).unwrap();
    let (_, all) = snapshots.folded(&store).unwrap();
    let status =
        |v: &[honestcam::domain::ActionState]| v.iter().find(|a| a.id == "ACT-002").unwrap().status;
    assert_eq!(status(&page), Status::Waived);
    assert_ne!(status(&all), Status::Waived);
    let act3 = page.iter().find(|a| a.id == "ACT-003").unwrap();
    assert_eq!(act3.notes.last().unwrap().text, "moves the position");
}

/// `db-reindex --execute` while the portal takes form writes: every write acknowledged
/// is stored once, and the rebuilt projection agrees with the log afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reindex_while_the_portal_takes_writes_loses_nothing() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let load = FormLoad::start(&app);
    load.until(50).await;
    let before = load.acked.load(Ordering::Relaxed);
    let dir = f.dir();
    let reindex = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_honestcam"))
            .args(["db-reindex", SLUG, "--execute", "--json"])
            .env("HONESTCAM_DATA_DIR", dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        reindex.status.success(),
        "{}",
        String::from_utf8_lossy(&reindex.stderr)
    );
    // Writes went on after the rebuild.
    load.until(before + 50).await;
    load.stop.store(true, Ordering::Relaxed);
    for t in load.tasks {
        t.await.unwrap();
    }
    let acked = load.acked.load(Ordering::Relaxed);
    assert!(app.stop());
    assert_eq!(differences(&f), Vec::<String>::new());
    let notes = load_events(&f.storage(), &f.slug())
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.payload["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("kill-"))
        })
        .count();
    assert_eq!(notes, acked, "every acknowledged write stored once");
}
