//! The db CLI: migrate, re-run, crash and re-run, rollback, init, status, bad input.

use std::fs;
use std::process::{Command, Stdio};

use honestcam::domain::Change;
use honestcam::domain::Status;
use honestcam::domain::UserId;
use honestcam::ops::demo::DemoOptions;
use honestcam::ops::import;
use honestcam::service::compliance::{load_events, record_change};
use honestcam::service::study;
use serde_json::json;

use crate::support::{Fixture, SLUG, count, live_files, snapshot, state};

#[test]
fn dry_run_is_the_default_and_leaves_the_data_dir_byte_identical() {
    let f = Fixture::new();
    let before = snapshot(&f.dir());
    let plan = f.plan(&["db-migrate", SLUG]);
    assert_eq!(plan["mode"], "dry-run");
    assert_eq!(count(&plan, import::EVENTS), 12);
    assert_eq!(count(&plan, import::USERS), 3);
    assert_eq!(count(&plan, import::PROGRESS), 3);
    assert_eq!(plan["changes"], true);
    f.plan(&["db-migrate", SLUG, "--dry-run"]);
    f.ok(&["db-migrate", SLUG]); // text output
    assert_eq!(snapshot(&f.dir()), before);
}

#[test]
fn dry_run_after_a_migration_is_byte_identical_too() {
    let f = Fixture::new();
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let before = snapshot(&f.dir());
    let plan = f.plan(&["db-migrate", SLUG]);
    assert_eq!(plan["changes"], false);
    f.ok(&["db-status"]);
    f.plan(&["db-rollback", SLUG]);
    assert_eq!(snapshot(&f.dir()), before);
}

#[test]
fn execute_imports_the_exact_counts_and_archives_the_legacy_files() {
    let f = Fixture::with(DemoOptions {
        events: 250,
        ..DemoOptions::dated(crate::support::TODAY)
    });
    let legacy_log = fs::read(f.prop().join("compliance-log.json")).unwrap();
    let plan = f.plan(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(plan["mode"], "execute");
    assert_eq!(count(&plan, import::EVENTS), 250);

    let status: serde_json::Value =
        serde_json::from_str(&f.ok(&["db-status", SLUG, "--json"])).unwrap();
    assert_eq!(status[0]["backend"], "sqlite");
    assert_eq!(status[0]["events"], 250);
    assert_eq!(status[0]["users"], 3);
    assert_eq!(status[0]["progress"], 3);

    assert_eq!(
        live_files(&f.dir()),
        [
            "bamboo-house/compliance.json",
            "bamboo-house/honestcam.db",
            "honestcam-study.db"
        ]
    );
    let archives: Vec<_> = fs::read_dir(f.prop().join("_legacy")).unwrap().collect();
    assert_eq!(archives.len(), 1);
    let archive = archives[0].as_ref().unwrap().path();
    assert_eq!(
        fs::read(archive.join("compliance-log.json")).unwrap(),
        legacy_log
    );
    for file in [
        "study/users.json",
        "study/progress/u1.json",
        "study/progress/u2.json",
        "study/progress/u3.json",
    ] {
        assert!(archive.join(file).is_file(), "{file} archived");
    }
    let notes = plan["notes"].to_string();
    assert!(notes.contains("_legacy"), "{notes}");
}

#[test]
fn second_execute_is_a_no_op() {
    let f = Fixture::new();
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let before = snapshot(&f.dir());
    let again = f.plan(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(again["changes"], false);
    for a in again["actions"].as_array().unwrap() {
        assert_eq!(a["count"], 0, "{a}");
    }
    let after = snapshot(&f.dir());
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        fs::read_dir(f.prop().join("_legacy")).unwrap().count(),
        1,
        "no second archive"
    );
}

#[test]
fn migrated_events_keep_their_content_and_fold_the_same() {
    let f = Fixture::with(DemoOptions {
        events: 80,
        ..DemoOptions::dated(crate::support::TODAY)
    });
    let storage = f.storage();
    let before = load_events(&storage, &f.slug()).unwrap();
    let baseline = storage
        .baseline(&storage.property(&f.slug()).unwrap())
        .unwrap();
    let folded_before = honestcam::domain::apply_events(&baseline, &before);
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let after = load_events(&f.storage(), &f.slug()).unwrap();
    assert_eq!(before, after);
    assert_eq!(
        folded_before,
        honestcam::domain::apply_events(&baseline, &after)
    );
}

/// The final state of a property after an uninterrupted migration of the same data.
fn reference_state(
    opts: &DemoOptions,
) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let f = Fixture::with(opts.clone());
    f.plan(&["db-migrate", SLUG, "--execute"]);
    state(&f.storage(), &f.slug())
}

#[test]
fn a_crash_at_any_step_then_re_run_equals_an_uninterrupted_run() {
    let opts = DemoOptions {
        events: 500,
        ..DemoOptions::dated(crate::support::TODAY)
    };
    let reference = reference_state(&opts);
    for step in ["staged", "study", "events"] {
        let f = Fixture::with(opts.clone());
        let out = f.run_env(
            &["db-migrate", SLUG, "--execute"],
            &[("HONESTCAM_TEST_ABORT_AFTER", step)],
        );
        assert!(
            !out.status.success(),
            "the process must have died after {step}"
        );
        let plan = f.plan(&["db-migrate", SLUG, "--execute"]);
        assert_eq!(
            state(&f.storage(), &f.slug()),
            reference,
            "after a crash at {step}"
        );
        assert_eq!(
            live_files(&f.dir()).len(),
            3,
            "legacy files archived after {step}: {plan}"
        );
        let again = f.plan(&["db-migrate", SLUG, "--execute"]);
        assert_eq!(again["changes"], false);
    }
}

#[test]
fn a_re_run_after_a_crash_keeps_what_the_portal_wrote_in_between() {
    let f = Fixture::new();
    let out = f.run_env(
        &["db-migrate", SLUG, "--execute"],
        &[("HONESTCAM_TEST_ABORT_AFTER", "events")],
    );
    assert!(!out.status.success(), "died after the database went live");
    assert!(f.prop().join("honestcam.db").exists());
    assert!(
        f.prop().join("study/users.json").exists(),
        "not archived yet"
    );
    // The portal now runs on SQLite and takes writes.
    let storage = f.storage();
    let slug = f.slug();
    let kim = honestcam::domain::Identity::new("kim@example.org", honestcam::domain::Role::Editor);
    let user = study::rename_own_user(&storage, &slug, &kim, "Named on the portal")
        .unwrap()
        .user_id;
    let q = honestcam::domain::questions::QUESTIONS[24].id;
    study::answer(&storage, &slug, &kim, None, q, 1).unwrap();
    drop(storage);

    f.plan(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(live_files(&f.dir()).len(), 3, "archived now");
    let storage = f.storage();
    let blob = study::progress(&storage, &slug, &user).unwrap().unwrap();
    assert!(
        blob["quiz"]["answers"][q].is_object(),
        "the answer given after the crash survives the re-run: {blob:?}"
    );
    let own = study::own_user(&storage, &slug, &kim).unwrap().unwrap();
    assert_eq!(
        (own.user_id, own.name.as_str()),
        (user, "Named on the portal"),
        "the user created after the crash survives, still kim's"
    );
    assert_eq!(study::users(&storage, &slug).unwrap().len(), 4);
}

#[test]
fn kill_9_during_the_event_import_then_re_run_equals_an_uninterrupted_run() {
    let opts = DemoOptions {
        events: 100_000,
        ..DemoOptions::dated(crate::support::TODAY)
    };
    let reference = reference_state(&opts);
    let f = Fixture::with(opts);
    // The import stops, half-loaded, at its pause point; it is killed there.
    let mut child = Command::new(env!("CARGO_BIN_EXE_honestcam"))
        .args(["db-migrate", SLUG, "--execute"])
        .env("HONESTCAM_DATA_DIR", f.dir())
        .env("HONESTCAM_TEST_PAUSE_AT", "loading")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let staging = f.prop().join("honestcam.db.staging");
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let paused = std::io::BufRead::lines(stderr)
        .map_while(Result::ok)
        .any(|l| l.contains("paused at loading"));
    assert!(paused, "the import reached its pause point");
    assert!(staging.exists(), "killed while building its database");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !f.prop().join("honestcam.db").exists(),
        "property not switched to a half-built database"
    );
    f.plan(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(state(&f.storage(), &f.slug()), reference);
    assert!(!staging.exists(), "staging file cleaned up");
}

#[test]
fn migrate_write_rollback_write_migrate_loses_and_duplicates_nothing() {
    let f = Fixture::new();
    let slug = f.slug();
    f.plan(&["db-migrate", SLUG, "--execute"]);

    // Writes on SQLite after the migration.
    let storage = f.storage();
    let on_sqlite = record_change(
        &storage,
        &slug,
        "ACT-001",
        &Change::Status(Status::Done),
        "kim",
    )
    .unwrap();
    let u1 = UserId::parse("u1").unwrap();
    let blob = json!({"quiz": {"answers": {}}, "written": "on sqlite"})
        .as_object()
        .unwrap()
        .clone();
    study::save_progress(&storage, &slug, &u1, &blob).unwrap();
    let kim = honestcam::domain::Identity::new("kim@example.org", honestcam::domain::Role::Editor);
    let kims = study::rename_own_user(&storage, &slug, &kim, "Kim").unwrap();
    drop(storage);

    let plan = f.plan(&["db-rollback", SLUG, "--execute"]);
    assert_eq!(count(&plan, "export compliance events"), 13);
    assert!(!f.prop().join("honestcam.db").exists());
    assert_eq!(fs::read_dir(f.prop().join("_rollback")).unwrap().count(), 1);

    // Back on JSON: the SQLite-era writes are there, and new writes land in JSON.
    let storage = f.storage();
    let log = load_events(&storage, &slug).unwrap();
    assert_eq!(log.len(), 13);
    assert!(log.contains(&on_sqlite));
    assert_eq!(
        study::progress(&storage, &slug, &u1).unwrap().unwrap()["written"],
        "on sqlite"
    );
    assert_eq!(
        study::own_user(&storage, &slug, &kim).unwrap().as_ref(),
        Some(&kims),
        "a study user keeps its owner on JSON"
    );
    let users_file = fs::read_to_string(f.prop().join("study/users.json")).unwrap();
    assert_eq!(users_file.matches("\"owner\"").count(), 1, "{users_file}");
    let on_json = record_change(
        &storage,
        &slug,
        "ACT-002",
        &Change::Note("after rollback".into()),
        "lee",
    )
    .unwrap();
    let blob = json!({"written": "on json"}).as_object().unwrap().clone();
    study::save_progress(&storage, &slug, &u1, &blob).unwrap();
    drop(storage);

    let plan = f.plan(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(count(&plan, import::EVENTS), 14);
    let storage = f.storage();
    let log = load_events(&storage, &slug).unwrap();
    assert_eq!(log.len(), 14, "nothing duplicated");
    let ids: std::collections::HashSet<_> = log.iter().map(|e| &e.event_id).collect();
    assert_eq!(ids.len(), 14);
    assert!(log.contains(&on_sqlite) && log.contains(&on_json));
    assert_eq!(
        study::progress(&storage, &slug, &u1).unwrap().unwrap()["written"],
        "on json"
    );
    assert_eq!(study::users(&storage, &slug).unwrap().len(), 4);
    assert_eq!(
        study::own_user(&storage, &slug, &kim).unwrap(),
        Some(kims),
        "and back on SQLite"
    );
}

#[test]
fn rollback_crash_after_export_then_re_run_completes() {
    let f = Fixture::new();
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let reference = state(&f.storage(), &f.slug());
    let out = f.run_env(
        &["db-rollback", SLUG, "--execute"],
        &[("HONESTCAM_TEST_ABORT_AFTER", "exported")],
    );
    assert!(!out.status.success());
    assert!(
        f.prop().join("honestcam.db").exists(),
        "still on SQLite after the crash"
    );
    f.plan(&["db-rollback", SLUG, "--execute"]);
    assert!(!f.prop().join("honestcam.db").exists());
    assert_eq!(state(&f.storage(), &f.slug()), reference);
}

#[test]
fn update_and_delete_fail_at_the_database() {
    let f = Fixture::new();
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let conn = rusqlite::Connection::open(f.prop().join("honestcam.db")).unwrap();
    let upd = conn
        .execute("UPDATE compliance_events SET actor = 'x'", [])
        .unwrap_err();
    assert!(upd.to_string().contains("append-only"), "{upd}");
    let del = conn
        .execute("DELETE FROM compliance_events WHERE seq = 1", [])
        .unwrap_err();
    assert!(del.to_string().contains("append-only"), "{del}");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM compliance_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 12);
}

#[test]
fn a_bad_slug_is_a_usage_error_and_touches_nothing() {
    let f = Fixture::new();
    let before = snapshot(&f.dir());
    for bad in ["../x", "Bamboo", "a/b", ""] {
        let out = f.run(&["db-migrate", bad, "--execute"]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid property slug"), "{bad}: {err}");
    }
    assert_eq!(snapshot(&f.dir()), before);
    assert!(!f.tmp.path().join("x").exists());
}

#[test]
fn a_malformed_legacy_file_is_named_with_its_position_and_nothing_changes() {
    let f = Fixture::new();
    fs::write(
        f.prop().join("study/users.json"),
        "[\n  {\"user_id\": \"u1\",\n   \"name\": }\n]\n",
    )
    .unwrap();
    let before = snapshot(&f.dir());
    let out = f.run(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("study/users.json"), "{err}");
    assert!(err.contains("line 3, column"), "{err}");
    assert_eq!(snapshot(&f.dir()), before);
}

#[test]
fn a_log_malformed_after_many_events_stops_the_import_and_changes_nothing() {
    // Enough events that several batches are loaded into the staging database before
    // the parser reaches the fault.
    let f = Fixture::with(DemoOptions {
        events: 20_000,
        ..DemoOptions::dated(crate::support::TODAY)
    });
    let log_path = f.prop().join("compliance-log.json");
    let text = fs::read_to_string(&log_path).unwrap();
    let cut = text.rfind("\"actor\"").unwrap();
    let broken = format!("{}\"actor\": ,{}", &text[..cut], &text[cut + 7..]);
    let line = broken[..cut].lines().count();
    fs::write(&log_path, broken).unwrap();
    let before = snapshot(&f.dir());
    let out = f.run(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("compliance-log.json"), "{err}");
    assert!(err.contains(&format!("line {line},")), "line {line}: {err}");
    assert_eq!(snapshot(&f.dir()), before, "no staging file, no study rows");
}

#[test]
fn events_written_twice_in_the_log_are_imported_once() {
    let f = Fixture::new();
    let event = |id: Option<&str>, note: &str| {
        let mut e = json!({"action_id": "ACT-001", "type": "note_added",
            "payload": {"note": note}, "actor": "kim", "at": "2026-02-01T00:00:00Z"});
        if let Some(id) = id {
            e["event_id"] = json!(id);
        }
        e
    };
    // The id an id-less "twin" event gets, given first by an explicit event with the
    // same content: one event written twice.
    let twin = event(None, "twin");
    let twin_text = twin.to_string();
    let twin_id = honestcam::storage::legacy::LegacyIds::default()
        .record(serde_json::from_str(&twin_text).unwrap())
        .unwrap()
        .unwrap()
        .event_id;
    let mut claimed = twin.clone();
    claimed["event_id"] = json!(twin_id);
    let write = |events: Vec<serde_json::Value>| {
        fs::write(
            f.prop().join("compliance-log.json"),
            serde_json::to_vec_pretty(&json!({ "events": events })).unwrap(),
        )
        .unwrap()
    };
    write(vec![
        event(Some("e1"), "first"),
        event(Some("e1"), "first"),
        claimed,
        twin,
        event(None, "same"),
        event(None, "same"),
    ]);
    let dry = f.plan(&["db-migrate", SLUG]);
    assert_eq!(count(&dry, import::EVENTS), 4);
    let done = f.plan(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(
        count(&done, import::EVENTS),
        4,
        "the plan and the import agree"
    );
    let stored = load_events(&f.storage(), &f.slug()).unwrap();
    let notes: Vec<_> = stored
        .iter()
        .map(|e| (e.event_id.as_str(), e.payload["note"].as_str().unwrap()))
        .collect();
    assert_eq!(notes.len(), 4);
    assert_eq!(notes[0], ("e1", "first"));
    assert_eq!(notes[1], (twin_id.as_str(), "twin"));
    assert_eq!(notes[2].1, "same");
    assert_eq!(notes[3], (format!("{}-2", notes[2].0).as_str(), "same"));
}

#[test]
fn two_different_events_sharing_an_id_are_an_error_naming_both_and_nothing_changes() {
    let f = Fixture::new();
    let event = |note: &str, status: &str| {
        json!({"event_id": "dup", "action_id": "ACT-001", "type": "status_changed",
            "payload": {"status": status}, "actor": note, "at": "2026-02-01T00:00:00Z"})
    };
    let log = json!({"events": [event("a", "blocked"), event("b", "open"), event("a", "done")]});
    fs::write(
        f.prop().join("compliance-log.json"),
        serde_json::to_vec_pretty(&log).unwrap(),
    )
    .unwrap();
    let before = snapshot(&f.dir());
    for args in [
        &["db-migrate", SLUG][..],
        &["db-migrate", SLUG, "--execute"],
    ] {
        let out = f.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("event #1 and event #2"), "{err}");
        assert!(err.contains("\"dup\""), "{err}");
        assert!(err.contains("compliance-log.json"), "{err}");
    }
    assert_eq!(snapshot(&f.dir()), before, "nothing changed");
}

#[test]
fn an_unknown_action_is_refused_and_nothing_changes() {
    let f = Fixture::new();
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let storage = f.storage();
    let before = load_events(&storage, &f.slug()).unwrap();
    let err = record_change(
        &storage,
        &f.slug(),
        "ACT-999",
        &Change::Status(Status::Done),
        "kim",
    )
    .unwrap_err();
    assert!(err.to_string().contains("ACT-999"), "{err}");
    assert_eq!(load_events(&storage, &f.slug()).unwrap(), before);
}

#[test]
fn unknown_event_types_are_kept_through_import_and_rollback() {
    let f = Fixture::new();
    let log_path = f.prop().join("compliance-log.json");
    let mut log: serde_json::Value = serde_json::from_slice(&fs::read(&log_path).unwrap()).unwrap();
    log["events"].as_array_mut().unwrap().push(json!({
        "event_id": "odd-1", "action_id": "ACT-001", "type": "photo_added",
        "payload": {"url": "p.jpg"}, "actor": "kim", "at": "2026-02-01T00:00:00Z", "device": "phone"
    }));
    fs::write(&log_path, serde_json::to_vec(&log).unwrap()).unwrap();
    f.plan(&["db-migrate", SLUG, "--execute"]);
    f.plan(&["db-rollback", SLUG, "--execute"]);
    let back: serde_json::Value = serde_json::from_slice(&fs::read(&log_path).unwrap()).unwrap();
    let odd = back["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_id"] == "odd-1")
        .unwrap();
    assert_eq!(odd["type"], "photo_added");
    assert_eq!(odd["device"], "phone");
    assert_eq!(odd["payload"]["url"], "p.jpg");
}

#[test]
fn db_init_creates_fresh_databases_once_and_refuses_legacy_properties() {
    let f = Fixture::new();
    // A mistyped slug: refused as bad input, and no folder appears for it.
    for args in [
        &["db-init", "fresh-one"][..],
        &["db-init", "fresh-one", "--execute"],
    ] {
        let out = f.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no compliance.json") && err.contains("--create"),
            "{err}"
        );
        assert!(
            !f.dir().join("fresh-one").exists(),
            "{args:?} created a stray folder"
        );
    }
    let dry = f.plan(&["db-init", "fresh-one", "--create"]);
    assert_eq!(dry["changes"], true);
    assert!(
        !f.dir().join("fresh-one").exists(),
        "dry run creates nothing"
    );
    let done = f.plan(&[
        "db-init",
        "fresh-one",
        "--create",
        "--name",
        "Fresh One",
        "--execute",
    ]);
    assert_eq!(count(&done, honestcam::ops::init::CREATE_PROPERTY_DB), 1);
    assert_eq!(count(&done, honestcam::ops::init::CREATE_BASELINE), 1);
    assert!(f.dir().join("fresh-one/honestcam.db").is_file());
    let baseline = f
        .storage()
        .baseline(
            &f.data()
                .property(&honestcam::property::Slug::parse("fresh-one").unwrap()),
        )
        .unwrap();
    assert_eq!(baseline.property.name, "Fresh One");
    assert!(f.dir().join("honestcam-study.db").is_file());
    let again = f.plan(&["db-init", "fresh-one", "--execute"]);
    assert_eq!(again["changes"], false);

    let out = f.run(&["db-init", SLUG, "--execute"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("db-migrate"));
}

#[test]
fn every_command_explains_itself() {
    let f = Fixture::new();
    let top = f.ok(&["--help"]);
    for cmd in [
        "db-init",
        "db-migrate",
        "db-rollback",
        "db-status",
        "demo-data",
    ] {
        assert!(top.contains(cmd), "{cmd} listed");
        let help = f.ok(&[cmd, "--help"]);
        assert!(help.contains("Usage: honestcam"), "{cmd}: {help}");
    }
    assert!(f.ok(&["db-migrate", "--help"]).contains("--execute"));
}

/// Every file and directory under `root` (and `root` itself), with its permission bits.
#[cfg(unix)]
pub fn modes_under(root: &std::path::Path) -> Vec<(std::path::PathBuf, bool, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        out.push((p.clone(), meta.is_dir(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
    }
    out
}

#[cfg(unix)]
#[test]
fn db_init_creates_only_owner_only_files_and_directories_whatever_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "umask 022; exec \"$0\" db-init fresh-one --create --execute",
            env!("CARGO_BIN_EXE_honestcam"),
        ])
        .env("HONESTCAM_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = modes_under(&data);
    assert!(
        made.iter()
            .any(|(p, _, _)| p.ends_with("fresh-one/honestcam.db")),
        "{made:?}"
    );
    assert!(made.len() >= 4, "{made:?}");
    for (path, is_dir, mode) in made {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}

/// Runs `honestcam <args>` against `f`'s data dir under umask 022; must succeed.
#[cfg(unix)]
fn run_with_umask_022(f: &Fixture, args: &[&str]) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_honestcam"))
        .args(args)
        .env("HONESTCAM_DATA_DIR", f.dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(unix)]
#[test]
fn migrate_and_restore_create_only_owner_only_files_whatever_the_umask() {
    let f = Fixture::new();
    // The legacy files are the test's, with whatever mode it gave them: only what the
    // commands create (or move into the data dir's archive) is checked.
    let given: std::collections::HashSet<_> = modes_under(&f.dir())
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    run_with_umask_022(&f, &["db-migrate", SLUG, "--execute"]);
    let made: Vec<_> = modes_under(&f.dir())
        .into_iter()
        .filter(|(p, _, _)| !given.contains(p))
        .collect();
    assert!(
        made.iter().any(|(p, _, _)| p.ends_with("honestcam.db")),
        "{made:?}"
    );
    for (path, is_dir, mode) in &made {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(
            *mode,
            want,
            "after db-migrate, {} is {mode:o}",
            path.display()
        );
    }

    let backups = f.tmp.path().join("backups");
    let arg = backups.to_string_lossy().into_owned();
    run_with_umask_022(&f, &["backup", "--to", &arg]);
    for (path, is_dir, mode) in modes_under(&backups) {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "after backup, {} is {mode:o}", path.display());
    }
    std::fs::remove_dir_all(f.dir()).unwrap();
    run_with_umask_022(&f, &["restore", "--from", &arg, "--execute"]);
    let restored = modes_under(&f.dir());
    assert!(
        restored
            .iter()
            .any(|(p, _, _)| p.ends_with("honestcam-study.db")),
        "{restored:?}"
    );
    for (path, is_dir, mode) in restored {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "after restore, {} is {mode:o}", path.display());
    }
}
