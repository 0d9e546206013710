//! Fixtures: temp data dirs, running the real binary, snapshots of a tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use honestcam::config::DataDir;
use honestcam::demo::{DemoOptions, write_demo};
use honestcam::property::Slug;
use honestcam::storage::Storage;
use statekit::sqlite::OpenOptions;

pub const SLUG: &str = "bamboo-house";

/// A temp data dir holding one demo property in the legacy layout.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with(DemoOptions::default())
    }

    pub fn with(opts: DemoOptions) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let f = Fixture { tmp };
        write_demo(&f.data().property(&f.slug()), "Bamboo House", &opts).unwrap();
        f
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    pub fn data(&self) -> DataDir {
        DataDir::new(self.dir())
    }

    pub fn slug(&self) -> Slug {
        Slug::parse(SLUG).unwrap()
    }

    pub fn prop(&self) -> PathBuf {
        self.dir().join(SLUG)
    }

    pub fn storage(&self) -> Storage {
        Storage::open(self.data(), OpenOptions::default()).unwrap()
    }

    /// Runs `honestcam <args>` against this data dir.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_honestcam"));
        cmd.args(args)
            .env("HONESTCAM_DATA_DIR", self.dir())
            .env_remove("HONESTCAM_TEST_ABORT_AFTER");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command with `--json` and parses its plan.
    pub fn plan(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args)).unwrap()
    }
}

/// The count of the plan action named `what`.
pub fn count(plan: &serde_json::Value, what: &str) -> u64 {
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["what"] == what)
        .unwrap_or_else(|| panic!("no action {what:?} in {plan}"))["count"]
        .as_u64()
        .unwrap()
}

/// Every file under `dir` with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), Vec::new());
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

/// Files under `dir` (relative), sorted, skipping the archive folders.
pub fn live_files(dir: &Path) -> Vec<String> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, bytes)| !bytes.is_empty() || p.extension().is_some())
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .filter(|p| !p.contains("_legacy") && !p.contains("_rollback") && p.contains('.'))
        .collect()
}

/// What a property holds, whichever backend: events (ids and content), users and
/// progress, for comparing two data dirs.
pub fn state(
    storage: &Storage,
    slug: &Slug,
) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let log = honestcam::compliance::loader::load_compliance_log(storage, slug).unwrap();
    let users = honestcam::study::store::users(storage, slug).unwrap();
    let progress = honestcam::study::store::all_progress(storage, slug).unwrap();
    (
        serde_json::to_value(log.events).unwrap(),
        serde_json::to_value(users).unwrap(),
        serde_json::to_value(progress).unwrap(),
    )
}
