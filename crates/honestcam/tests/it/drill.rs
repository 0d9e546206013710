//! Losing the machine, with local snapshots: `backup --to` taken while the portal takes
//! writes, then every process killed, the data dir deleted, `restore` into a fresh
//! one and the portal started again.

use std::fs;

use crate::overlap::{Load, assert_integrity, command};
use crate::support::{SLUG, assert_acked_present, assert_serves, migrated};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snapshot_taken_under_load_brings_every_property_back() {
    let f = migrated();
    f.ok(&["demo-data", "harbor", "--name", "Harbor Point"]);
    f.plan(&["db-migrate", "harbor", "--execute"]);
    let backups = f.tmp.path().join("backups");
    let backups_arg = backups.to_string_lossy().into_owned();

    let mut app = f.spawn_app(&[], &[]);
    let load = Load::start(&app, "drill");
    load.until_more(40).await;
    let before: Vec<String> = load.acked_so_far();
    let report = command(&f, &["backup", "--to", &backups_arg, "--json"]).await;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["manifest"]["databases"].as_array().unwrap().len(), 3);
    load.until_more(20).await;
    load.finish().await;

    // The machine is lost.
    app.child.kill().unwrap();
    app.child.wait().unwrap();
    // Already dead: nothing left for its drop to stop.
    std::mem::forget(app);
    fs::remove_dir_all(f.dir()).unwrap();
    fs::create_dir_all(f.dir()).unwrap();

    let dry = f.plan(&["restore", "--from", &backups_arg]);
    assert_eq!(crate::support::count(&dry, "restore property databases"), 2);
    assert!(
        f.dir().read_dir().unwrap().next().is_none(),
        "a dry run restores nothing"
    );
    f.plan(&["restore", "--from", &backups_arg, "--execute"]);
    assert_integrity(&f);
    for slug in [SLUG, "harbor"] {
        assert!(
            f.dir().join(slug).join("compliance.json").is_file(),
            "{slug}"
        );
    }

    let app = f.spawn_app(&[], &[]);
    assert_serves(&app, &[(SLUG, "Bamboo House"), ("harbor", "Harbor Point")]).await;
    // Every write acknowledged before the snapshot was taken.
    assert_acked_present(&f.dir(), SLUG, &before);

    // A data dir that holds data is never restored over.
    let out = f.run(&["restore", "--from", &backups_arg, "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds data"));
}

#[test]
fn a_damaged_snapshot_is_refused_before_anything_is_copied() {
    let f = migrated();
    let backups = f.tmp.path().join("backups");
    let arg = backups.to_string_lossy().into_owned();
    f.ok(&["backup", "--to", &arg, "--keep", "2"]);
    f.ok(&["backup", "--to", &arg, "--keep", "2"]);
    f.ok(&["backup", "--to", &arg, "--keep", "2"]);
    let snapshots: Vec<_> = fs::read_dir(&backups).unwrap().collect();
    assert_eq!(snapshots.len(), 2, "--keep 2");
    let newest = fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let db = newest.join(SLUG).join("honestcam.db");
    let mut bytes = fs::read(&db).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&db, bytes).unwrap();
    fs::remove_dir_all(f.dir()).unwrap();
    let out = f.run(&["restore", "--from", &arg, "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match the manifest"), "{err}");
    let left = fs::read_dir(f.dir()).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "nothing restored");
}

#[test]
fn backup_verify_reports_lag_and_missing_properties() {
    let f = migrated();
    let backups = f.tmp.path().join("backups");
    let arg = backups.to_string_lossy().into_owned();
    f.ok(&["backup", "--to", &arg]);
    let rows: serde_json::Value =
        serde_json::from_str(&f.ok(&["backup-verify", "--from", &arg, "--json"])).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows.len(),
        2,
        "the property and the study database: {rows:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r["ok"] == true && r["integrity"] == "ok"),
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| r["lag_events"] == 0));

    // A write after the snapshot: behind by one event, within a minute.
    honestcam::service::compliance::record_change(
        &f.storage(),
        &f.slug(),
        "ACT-001",
        &honestcam::domain::Change::Note("after the backup".into()),
        "kim",
    )
    .unwrap();
    let out = f.ok(&["backup-verify", "--from", &arg]);
    assert!(out.contains(SLUG) && !out.contains("FAIL"), "{out}");
    let strict = f.run(&["backup-verify", "--from", &arg, "--max-lag", "0s"]);
    assert_eq!(strict.status.code(), Some(1), "behind by more than 0 s");
    let text = String::from_utf8_lossy(&strict.stdout).into_owned();
    let line = text.lines().find(|l| l.starts_with(SLUG)).unwrap();
    assert!(line.contains("FAIL"), "{text}");

    // A property the snapshot does not hold.
    f.ok(&["demo-data", "harbor"]);
    f.plan(&["db-migrate", "harbor", "--execute"]);
    let missing = f.run(&["backup-verify", "--from", &arg, "--json"]);
    assert_eq!(missing.status.code(), Some(1));
    let rows: serde_json::Value = serde_json::from_slice(&missing.stdout).unwrap();
    let harbor = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["property"] == "harbor")
        .unwrap();
    assert_eq!(harbor["integrity"], "missing");
    let bad = f.run(&["backup-verify", "--from", &arg, "--max-lag", "soon"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a bad --max-lag is a usage error"
    );
}

#[test]
fn two_backups_at_once_make_two_good_snapshots_and_two_restores_at_once_make_one() {
    let f = migrated();
    let backups = f.tmp.path().join("backups");
    let arg = backups.to_string_lossy().into_owned();
    let run = |args: Vec<String>| {
        let dir = f.dir();
        std::thread::spawn(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_honestcam"))
                .args(&args)
                .env("HONESTCAM_DATA_DIR", dir)
                .output()
                .unwrap()
        })
    };
    let backup = || run(vec!["backup".into(), "--to".into(), arg.clone()]);
    let (a, b) = (backup(), backup());
    assert!(a.join().unwrap().status.success() && b.join().unwrap().status.success());
    let snapshots: Vec<_> = fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(snapshots.len(), 2, "{snapshots:?}");
    for s in &snapshots {
        f.ok(&["backup-verify", "--from", &s.to_string_lossy()]);
    }

    fs::remove_dir_all(f.dir()).unwrap();
    let restore = || {
        run(vec![
            "restore".into(),
            "--from".into(),
            arg.clone(),
            "--execute".into(),
        ])
    };
    let (a, b) = (restore(), restore());
    let outs = [a.join().unwrap(), b.join().unwrap()];
    let won = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "exactly one restore runs");
    let lost = outs.iter().find(|o| !o.status.success()).unwrap();
    assert!(
        String::from_utf8_lossy(&lost.stderr).contains("already holds data"),
        "{}",
        String::from_utf8_lossy(&lost.stderr)
    );
    assert_integrity(&f);
}

#[test]
fn a_restore_stopped_half_way_is_finished_by_running_it_again() {
    let f = migrated();
    f.ok(&["demo-data", "harbor"]);
    f.plan(&["db-migrate", "harbor", "--execute"]);
    let backups = f.tmp.path().join("backups");
    let arg = backups.to_string_lossy().into_owned();
    let other = f.tmp.path().join("other");
    let other_arg = other.to_string_lossy().into_owned();
    f.ok(&["backup", "--to", &arg]);
    f.ok(&["backup", "--to", &other_arg]);
    let events = crate::support::event_rows(&f);
    fs::remove_dir_all(f.dir()).unwrap();

    // Stopped after the first database, as a crash or a failed download would.
    let crashed = f.run_env(
        &["restore", "--from", &arg, "--execute"],
        &[("HONESTCAM_TEST_ABORT_AFTER", "restored-database")],
    );
    assert!(!crashed.status.success());
    assert!(f.dir().join(".restore-in-progress").is_file());
    assert!(
        f.prop().join("honestcam.db").is_file(),
        "the first is in place"
    );
    assert!(
        !f.dir().join("honestcam-study.db").exists(),
        "the rest is not"
    );

    // Nothing else works on the half-restored dir, and no other restore mixes in.
    let status = f.run(&["db-status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("unfinished restore"),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mixed = f.run(&["restore", "--from", &other_arg, "--execute"]);
    assert_eq!(mixed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("unfinished restore from"));

    // The same restore again finishes the job.
    let dry = f.plan(&["restore", "--from", &arg]);
    assert!(
        dry.to_string().contains("finishes an unfinished restore"),
        "{dry}"
    );
    f.plan(&["restore", "--from", &arg, "--execute"]);
    assert!(!f.dir().join(".restore-in-progress").exists());
    assert_eq!(crate::support::event_rows(&f), events);
    assert_integrity(&f);
    let status: serde_json::Value = serde_json::from_str(&f.ok(&["db-status", "--json"])).unwrap();
    assert_eq!(status.as_array().map(Vec::len), Some(2), "{status}");
    assert!(f.dir().join("harbor").join("compliance.json").is_file());
}

/// The rows of `backup-verify --from <arg> --json`, which must fail.
fn failing_verify(f: &crate::support::Fixture, arg: &str) -> Vec<serde_json::Value> {
    let out = f.run(&["backup-verify", "--from", arg, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    rows.as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [serde_json::Value], property: Option<&str>) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["property"].as_str() == property)
        .unwrap_or_else(|| panic!("no row for {property:?}: {rows:?}"))
}

#[test]
fn backup_verify_tells_a_diverged_a_stale_and_a_missing_copy() {
    let f = migrated();
    let early = f.tmp.path().join("early");
    let late = f.tmp.path().join("late");
    let (early_arg, late_arg) = (
        early.to_string_lossy().into_owned(),
        late.to_string_lossy().into_owned(),
    );
    f.ok(&["backup", "--to", &early_arg]);
    honestcam::service::compliance::record_change(
        &f.storage(),
        &f.slug(),
        "ACT-001",
        &honestcam::domain::Change::Note("only in the late backup".into()),
        "kim",
    )
    .unwrap();
    f.ok(&["backup", "--to", &late_arg]);

    // The live data went back to the early backup: the late one holds an event the
    // live log lacks.
    fs::remove_dir_all(f.dir()).unwrap();
    f.plan(&["restore", "--from", &early_arg, "--execute"]);
    let rows = failing_verify(&f, &late_arg);
    assert_eq!(row(&rows, Some(SLUG))["integrity"], "diverged");

    // Rolled back to the legacy files: the backup's database is from before.
    f.plan(&["db-rollback", SLUG, "--execute"]);
    let rows = failing_verify(&f, &early_arg);
    assert_eq!(row(&rows, Some(SLUG))["integrity"], "stale");
    assert_eq!(row(&rows, None)["ok"], true, "the study database is fine");

    // A backup without the study database the live data has.
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let (snapshot, mut manifest) = honestcam::ops::backup::find_snapshot(&early).unwrap();
    manifest.databases.retain(|e| e.property.is_some());
    fs::remove_file(snapshot.join("honestcam-study.db")).unwrap();
    statekit::json::write_json_atomic(&snapshot.join("manifest.json"), &manifest).unwrap();
    let rows = failing_verify(&f, &early_arg);
    assert_eq!(row(&rows, None)["integrity"], "missing");
}
