//! A snapshot's manifest is input: whoever can write to the backup location can write
//! it. An entry whose path is not a database the snapshot holds (`../x`, an absolute
//! path, `a/../../x`, a folder that is no slug or not the entry's property, another
//! file name, a second entry for one database) refuses the whole snapshot, with its
//! SHA-256 and size made to match a planted file so that only the path is wrong:
//! `restore` (dry run or not) and `backup-verify` exit 1 naming the entry, and write
//! nothing outside their target.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{Fixture, SLUG, migrated, snapshot};

const PAYLOAD: &[u8] = b"planted by whoever can write to the backup disk\n";

/// A bad entry: its path, its property, and where (relative to the snapshot folder)
/// the old code would have read the file from, planted so the check passes.
struct Case {
    path: String,
    property: Option<&'static str>,
    /// The planted file, relative to the snapshot folder (none: the path is absolute).
    plant: Option<&'static str>,
    /// Folders the old code's path resolution needed in the snapshot.
    dirs: &'static [&'static str],
}

fn cases(abs: &Path) -> Vec<Case> {
    let case = |path: &str, property, plant, dirs| Case {
        path: path.to_string(),
        property,
        plant,
        dirs,
    };
    vec![
        case("../payload", None, Some("../payload"), &[]),
        case(&abs.to_string_lossy(), None, None, &[]),
        case("a/../../x", None, Some("../x"), &["a"]),
        case("./payload", None, Some("payload"), &[]),
        case(
            "Bad_Slug/honestcam.db",
            None,
            Some("Bad_Slug/honestcam.db"),
            &["Bad_Slug"],
        ),
        case(
            "harbor/honestcam.db",
            Some(SLUG),
            Some("harbor/honestcam.db"),
            &["harbor"],
        ),
        case(
            &format!("{SLUG}/compliance.json"),
            Some(SLUG),
            Some("bamboo-house/compliance.json"),
            &[],
        ),
        case(
            &format!("{SLUG}\\honestcam.db"),
            Some(SLUG),
            Some("bamboo-house\\honestcam.db"),
            &[],
        ),
        case("payload", None, Some("payload"), &[]),
    ]
}

fn sha256_hex(bytes: &[u8]) -> String {
    honestcam::storage::hex_sha256(bytes)
}

/// A fresh copy of a good snapshot in `root/backups/snap`, with `entry` added to its
/// manifest and its file planted. Returns the snapshot folder.
fn bad_snapshot(good: &Path, root: &Path, entry: serde_json::Value, case: &Case) -> PathBuf {
    let snap = root.join("backups").join("snap");
    copy_tree(good, &snap);
    for d in case.dirs {
        fs::create_dir_all(snap.join(d)).unwrap();
    }
    if let Some(plant) = case.plant {
        let at = snap.join(plant);
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        fs::write(at, PAYLOAD).unwrap();
    }
    add_entry(&snap, entry);
    snap
}

fn add_entry(snap: &Path, entry: serde_json::Value) {
    let path = snap.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    manifest["databases"].as_array_mut().unwrap().push(entry);
    fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn entry_of(path: &str, property: Option<&str>, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "path": path,
        "property": property,
        "bytes": bytes.len(),
        "sha256": sha256_hex(bytes),
        "events": null,
        "last_event_id": null,
    })
}

/// The one good snapshot every case starts from.
fn good_snapshot(f: &Fixture) -> PathBuf {
    let backups = f.tmp.path().join("good");
    f.ok(&["backup", "--to", &backups.to_string_lossy()]);
    let snap = fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("manifest.json").is_file())
        .unwrap();
    // The property and the study database: the cases add to a real snapshot.
    assert!(snap.join(SLUG).join("honestcam.db").is_file());
    snap
}

fn assert_refused(out: &std::process::Output, path: &str, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what} {path:?}: {err}");
    assert!(
        err.contains("manifest.json") && err.contains("entry"),
        "{what} {path:?}: {err}"
    );
    let quoted = format!("{path:?}");
    assert!(
        err.contains(&quoted),
        "{what} {path:?} names the entry: {err}"
    );
}

#[test]
fn restore_refuses_a_manifest_entry_outside_the_snapshot_and_writes_nothing() {
    let f = migrated();
    let good = good_snapshot(&f);
    let abs = f.tmp.path().join("abs-payload");
    fs::write(&abs, PAYLOAD).unwrap();
    let all = cases(&abs);
    assert!(!all.is_empty());
    for (n, case) in all.iter().enumerate() {
        // Its own tree: backups/snap, a data dir, and nothing else.
        let root = f.tmp.path().join(format!("case-{n}"));
        let data = root.join("place").join("data");
        fs::create_dir_all(&data).unwrap();
        let entry = entry_of(&case.path, case.property, PAYLOAD);
        let snap = bad_snapshot(&good, &root, entry, case);
        let before_root = snapshot(&root);
        let before_abs = fs::read(&abs).unwrap();
        let snap_arg = snap.to_string_lossy().into_owned();
        let data_env = [("HONESTCAM_DATA_DIR", data.to_str().unwrap())];
        for args in [
            vec!["restore", "--from", &snap_arg],
            vec!["restore", "--from", &snap_arg, "--execute"],
        ] {
            let out = f.run_env(&args, &data_env);
            assert_refused(&out, &case.path, &args.join(" "));
            assert_eq!(
                snapshot(&root),
                before_root,
                "{:?}: nothing written beside the data dir or the snapshot",
                case.path
            );
            assert!(
                fs::read_dir(&data).unwrap().next().is_none(),
                "{:?}: the data dir is still empty",
                case.path
            );
            assert_eq!(fs::read(&abs).unwrap(), before_abs);
        }
    }
}

#[test]
fn duplicate_entries_refuse_the_snapshot() {
    let f = migrated();
    let good = good_snapshot(&f);
    let db = fs::read(good.join(SLUG).join("honestcam.db")).unwrap();
    let study = fs::read(good.join("honestcam-study.db")).unwrap();
    let property_db = format!("{SLUG}/honestcam.db");
    let dups = [
        (property_db.as_str(), Some(SLUG), db),
        ("honestcam-study.db", None, study),
    ];
    for (n, (path, property, bytes)) in dups.into_iter().enumerate() {
        let root = f.tmp.path().join(format!("dup-{n}"));
        let data = root.join("data");
        fs::create_dir_all(&data).unwrap();
        let snap = root.join("snap");
        copy_tree(&good, &snap);
        add_entry(&snap, entry_of(path, property, &bytes));
        let before = snapshot(&root);
        let out = f.run_env(
            &["restore", "--from", &snap.to_string_lossy(), "--execute"],
            &[("HONESTCAM_DATA_DIR", data.to_str().unwrap())],
        );
        assert_refused(&out, path, "restore");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("the same database as entry"), "{err}");
        assert_eq!(snapshot(&root), before, "{path}: nothing restored");
    }
}

#[test]
fn backup_verify_refuses_a_bad_manifest_and_writes_only_in_its_temp_dir() {
    let f = migrated();
    let good = good_snapshot(&f);
    let abs = f.tmp.path().join("abs-payload");
    fs::write(&abs, PAYLOAD).unwrap();
    // The good snapshot verifies, and leaves its temp dir empty.
    let tmp_root = f.tmp.path().join("verify-good");
    let tmp = tmp_root.join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let tmp_env = [("TMPDIR", tmp.to_str().unwrap())];
    let out = f.run_env(
        &["backup-verify", "--from", &good.to_string_lossy()],
        &tmp_env,
    );
    assert!(
        out.status.success(),
        "the good snapshot verifies: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fs::read_dir(&tmp).unwrap().next().is_none());

    let live_before = snapshot(&f.dir());
    let all = cases(&abs);
    assert!(!all.is_empty());
    for (n, case) in all.iter().enumerate() {
        let root = f.tmp.path().join(format!("verify-{n}"));
        let tmp = root.join("place").join("tmp");
        fs::create_dir_all(&tmp).unwrap();
        let entry = entry_of(&case.path, case.property, PAYLOAD);
        let snap = bad_snapshot(&good, &root, entry, case);
        let before_root = snapshot(&root);
        let out = f.run_env(
            &["backup-verify", "--from", &snap.to_string_lossy()],
            &[("TMPDIR", tmp.to_str().unwrap())],
        );
        assert_refused(&out, &case.path, "backup-verify");
        assert_eq!(
            snapshot(&root),
            before_root,
            "{:?}: nothing written beside the temp dir",
            case.path
        );
        assert!(
            fs::read_dir(&tmp).unwrap().next().is_none(),
            "{:?}: the temp dir is left empty",
            case.path
        );
    }
    // The live data is untouched; only the drill record grew, one failed drill a case.
    let without_record = |mut tree: std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>| {
        tree.retain(|p, _| !p.starts_with(honestcam::ops::drills::OPS_DIR));
        tree
    };
    assert_eq!(
        without_record(snapshot(&f.dir())),
        without_record(live_before),
        "the live data is untouched"
    );
    let drills = honestcam::ops::drills::read(&f.data()).unwrap();
    let refused = &drills[drills.len() - all.len()..];
    assert!(
        refused.iter().all(|d| !d.ok && d.error.is_some()),
        "{refused:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_snapshot_file_that_is_a_link_is_refused() {
    let f = migrated();
    let good = good_snapshot(&f);
    let root = f.tmp.path().join("link");
    let snap = root.join("snap");
    copy_tree(&good, &snap);
    // The database moved out of the snapshot, a link left in its place: same bytes,
    // same SHA-256, but read from elsewhere.
    let db = snap.join(SLUG).join("honestcam.db");
    let outside = root.join("elsewhere.db");
    fs::rename(&db, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &db).unwrap();
    let data = root.join("data");
    fs::create_dir_all(&data).unwrap();
    let out = f.run_env(
        &["restore", "--from", &snap.to_string_lossy(), "--execute"],
        &[("HONESTCAM_DATA_DIR", data.to_str().unwrap())],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not a regular file"), "{err}");
    assert!(
        fs::read_dir(&data).unwrap().next().is_none(),
        "nothing restored"
    );
}

#[test]
fn a_manifest_beyond_its_bounds_is_refused() {
    let f = migrated();
    let good = good_snapshot(&f);
    let data = f.tmp.path().join("bounds").join("data");
    fs::create_dir_all(&data).unwrap();
    let restore = |snap: &Path| {
        f.run_env(
            &["restore", "--from", &snap.to_string_lossy()],
            &[("HONESTCAM_DATA_DIR", data.to_str().unwrap())],
        )
    };

    // A size no database has.
    let huge = f.tmp.path().join("bounds").join("huge");
    copy_tree(&good, &huge);
    let path = huge.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    manifest["databases"][0]["bytes"] = serde_json::json!(u64::MAX);
    let first = manifest["databases"][0]["path"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let out = restore(&huge);
    assert_refused(&out, &first, "restore");
    assert!(String::from_utf8_lossy(&out.stderr).contains("over the"));

    // More entries than a snapshot holds (each one well formed).
    let many = f.tmp.path().join("bounds").join("many");
    copy_tree(&good, &many);
    let path = many.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    manifest["databases"] = (0..20_000)
        .map(|i| entry_of(&format!("p{i}/honestcam.db"), None, b""))
        .collect();
    fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let out = restore(&many);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("entries, more than the"), "{err}");

    // A manifest file larger than any we write.
    let big = f.tmp.path().join("bounds").join("big");
    copy_tree(&good, &big);
    let mut text = fs::read(big.join("manifest.json")).unwrap();
    text.extend(std::iter::repeat_n(b' ', 17 << 20));
    fs::write(big.join("manifest.json"), text).unwrap();
    let out = restore(&big);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("larger than"), "{err}");
    assert!(
        fs::read_dir(&data).unwrap().next().is_none(),
        "nothing restored"
    );
}
