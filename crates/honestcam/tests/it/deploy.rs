//! The files in `deploy/` that run honestcam, Litestream and cloudflared: the launchd
//! plists parse (with Python's `plistlib`, as `plutil` is not on Linux), name binaries
//! that exist and flags those binaries take, raise the descriptor limit, and log; the
//! systemd units do the same, and the drill runs daily.

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Python 3 (the drill tools' venv has one), or `None` after a loud notice (a failure
/// when the drill tools are required).
fn python() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs: Vec<PathBuf> = std::env::var_os("HONESTCAM_DRILL_TOOLS")
        .map(|d| vec![workspace.join(d)])
        .unwrap_or_default();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let found = dirs
        .into_iter()
        .map(|d| d.join("python3"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !std::env::var("HONESTCAM_REQUIRE_DRILL").is_ok_and(|v| v == "1"),
            "HONESTCAM_REQUIRE_DRILL=1 but python3 is not installed"
        );
        eprintln!("\n!!!! SKIPPED deploy plist check: python3 not found !!!!\n");
    }
    found
}

/// The plist at `path`, as JSON.
fn plist(python: &Path, path: &Path) -> serde_json::Value {
    let out = Command::new(python)
        .args([
            "-c",
            "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb')), default=str))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} does not parse: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts that `honestcam <args>` names a subcommand and only flags it takes.
fn assert_honestcam_takes(args: &[String], file: &str) {
    let sub = &args[0];
    let help = Command::new(env!("CARGO_BIN_EXE_honestcam"))
        .args([sub.as_str(), "--help"])
        .output()
        .unwrap();
    assert!(help.status.success(), "{file}: no subcommand {sub}");
    let help = String::from_utf8_lossy(&help.stdout);
    let flags: Vec<&String> = args.iter().filter(|a| a.starts_with("--")).collect();
    assert!(!flags.is_empty() || args.len() == 1, "{file}: {args:?}");
    for flag in flags {
        let name = flag.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{name} ")) || help.contains(&format!("{name}\n")),
            "{file}: honestcam {sub} takes no {name}"
        );
    }
}

/// The files of ours: honestcam's, Litestream's and cloudflared's.
fn ours(ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.contains("honestcam") || name.contains("cloudflared")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn launchd_jobs_parse_run_what_exists_raise_limits_and_log() {
    let Some(python) = python() else { return };
    let files = ours("plist");
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "org.example.honestcam.plist",
        "org.example.honestcam-litestream.plist",
        "org.example.honestcam-backup-verify.plist",
        "org.example.cloudflared.plist",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing");
    }
    for (path, name) in files.iter().zip(&names) {
        let job = plist(&python, path);
        assert_eq!(
            job["Label"].as_str().unwrap(),
            name.trim_end_matches(".plist"),
            "{name}: its label is its file name"
        );
        let args: Vec<String> = job["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let bin = Path::new(&args[0])
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        match bin.as_str() {
            "honestcam" => assert_honestcam_takes(&args[1..], name),
            "litestream" => assert_eq!(args[1..3], ["replicate", "-config"], "{name}"),
            "cloudflared" => assert!(
                args[1] == "tunnel" && args.last().unwrap() == "run",
                "{name}: {args:?}"
            ),
            other => panic!("{name}: runs {other}, which is none of ours"),
        }
        for limits in ["SoftResourceLimits", "HardResourceLimits"] {
            let files = job[limits]["NumberOfFiles"].as_u64();
            assert!(
                files.is_some_and(|n| n >= 1024),
                "{name}: {limits} NumberOfFiles {files:?}: launchd's default is 256"
            );
        }
        for log in ["StandardOutPath", "StandardErrorPath"] {
            assert!(
                job[log].as_str().is_some_and(|p| p.ends_with(".log")),
                "{name}: no {log}"
            );
        }
        assert_eq!(job["UserName"], "honestcam", "{name}: not as root");
    }
    let drill = plist(
        &python,
        &deploy().join("org.example.honestcam-backup-verify.plist"),
    );
    assert_eq!(drill["ProgramArguments"][1], "backup-verify");
    assert!(drill["StartCalendarInterval"]["Hour"].is_u64(), "daily");
}

/// `Key=value` lines of a systemd unit.
fn unit(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn value<'u>(unit: &'u [(String, String)], key: &str) -> Option<&'u str> {
    unit.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[test]
fn systemd_units_run_what_exists_and_the_drill_runs_daily() {
    let services = ours("service");
    assert!(services.len() >= 3, "{services:?}");
    for path in &services {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let u = unit(path);
        let exec = value(&u, "ExecStart").unwrap_or_else(|| panic!("{name}: no ExecStart"));
        // Arguments may be quoted; none of ours holds a space.
        let args: Vec<String> = exec
            .split_whitespace()
            .map(|a| a.trim_matches('"').to_string())
            .collect();
        let bin = Path::new(&args[0])
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        match bin.as_str() {
            "honestcam" => assert_honestcam_takes(&args[1..], &name),
            "litestream" => assert_eq!(args[1..3], ["replicate", "-config"], "{name}"),
            other => panic!("{name}: runs {other}"),
        }
        let limit: u64 = value(&u, "LimitNOFILE")
            .unwrap_or_else(|| panic!("{name}: no LimitNOFILE"))
            .parse()
            .unwrap();
        assert!(limit >= 1024, "{name}");
        assert_eq!(value(&u, "User"), Some("honestcam"), "{name}");
    }
    let drill = unit(&deploy().join("honestcam-backup-verify.service"));
    assert_eq!(value(&drill, "Type"), Some("oneshot"));
    let timer = unit(&deploy().join("honestcam-backup-verify.timer"));
    assert!(value(&timer, "OnCalendar").is_some_and(|c| c.contains("04:30")));
    assert_eq!(value(&timer, "Persistent"), Some("true"));
}
