//! Fixtures: temp data dirs, running the real binary, snapshots of a tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use honestcam::config::DataDir;
use honestcam::ops::demo::{DemoOptions, write_demo};
use honestcam::property::Slug;
use honestcam::storage::Storage;
use statekit::sqlite::OpenOptions;

pub const SLUG: &str = "bamboo-house";

/// The day the fixtures' demo data is dated around.
pub const TODAY: jiff::civil::Date = jiff::civil::date(2026, 4, 10);

/// A temp data dir holding one demo property in the legacy layout.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with(DemoOptions::dated(TODAY))
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

    /// Runs `honestcam <args>` with `input` on its standard input.
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_honestcam"))
            .args(args)
            .env("HONESTCAM_DATA_DIR", self.dir())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
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

/// Every file under `dir` with its bytes, but the property locks' files (`.lock`,
/// `.lock-gate`): a command that ran and changed nothing still took its lock.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name();
            if name == statekit::lock::LOCK_FILE_NAME || name == statekit::lock::GATE_FILE_NAME {
                continue;
            }
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
    let log = honestcam::service::compliance::load_events(storage, slug).unwrap();
    let users = honestcam::service::study::users(storage, slug).unwrap();
    let progress = honestcam::service::study::all_progress(storage, slug).unwrap();
    (
        serde_json::to_value(log).unwrap(),
        serde_json::to_value(users).unwrap(),
        serde_json::to_value(progress).unwrap(),
    )
}

/// A running `honestcam serve` on a free loopback port; stopped (SIGTERM) on drop.
pub struct App {
    pub child: std::process::Child,
    pub base: String,
}

impl Fixture {
    /// Starts the real server on this data dir.
    pub fn spawn_app(&self, extra: &[&str], env: &[(&str, &str)]) -> App {
        self.spawn_app_logging(extra, env, None)
    }

    /// Starts the real server; with `log`, its log (at info level) goes to that file.
    pub fn spawn_app_logging(
        &self,
        extra: &[&str],
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> App {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_honestcam"));
        cmd.args(["serve", "--addr", "127.0.0.1:0"]).args(extra);
        // Authentication off unless the test chooses a mode (loopback only).
        if !extra.contains(&"--auth") {
            cmd.args(["--auth", "none"]);
        }
        cmd.env("HONESTCAM_DATA_DIR", self.dir())
            .env("RUST_LOG", if log.is_some() { "info" } else { "warn" })
            .env_remove("HONESTCAM_AUTH")
            .env_remove("HONESTCAM_PROPERTY")
            .env_remove("HONESTCAM_PUBLIC_URL")
            .env_remove("HONESTCAM_TIMEZONE")
            .stdout(std::process::Stdio::piped())
            .stderr(match log {
                Some(path) => std::process::Stdio::from(std::fs::File::create(path).unwrap()),
                None => std::process::Stdio::inherit(),
            });
        for (k, v) in env {
            cmd.env(k, v);
        }
        App::from_child(cmd.spawn().unwrap())
    }
}

impl App {
    /// The server `child` (spawned with its stdout piped), once it says where it
    /// listens; the rest of its stdout is read and dropped.
    pub fn from_child(mut child: std::process::Child) -> App {
        use std::io::BufRead;
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.next().expect("server printed nothing").unwrap();
        let base = first
            .strip_prefix("honestcam listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .trim_end_matches('/')
            .to_string();
        std::thread::spawn(move || lines.for_each(drop));
        App { child, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits; returns whether the server exited 0.
    pub fn stop(mut self) -> bool {
        let ok = terminate(&mut self.child);
        std::mem::forget(self);
        ok
    }
}

fn terminate(child: &mut std::process::Child) -> bool {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().map(|s| s.success()).unwrap_or(false)
}

impl Drop for App {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// An HTTP client that does not follow redirects, with a timeout so that a blocked
/// server fails the test instead of hanging it. It says what a browser says of a
/// request from the portal's own pages (`Sec-Fetch-Site: same-origin`); the tests of
/// cross-site requests build their own.
pub fn client() -> reqwest::Client {
    let mut same_origin = reqwest::header::HeaderMap::new();
    same_origin.insert(
        "sec-fetch-site",
        reqwest::header::HeaderValue::from_static("same-origin"),
    );
    reqwest::Client::builder()
        .default_headers(same_origin)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `GET url` (as [`client`] sends it), its body as JSON.
pub async fn get_json(url: impl reqwest::IntoUrl) -> serde_json::Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The migrated demo property, ready to serve.
pub fn migrated() -> Fixture {
    let f = Fixture::new();
    f.plan(&["db-migrate", SLUG, "--execute"]);
    f
}

/// Rows in the property's compliance_events.
pub fn event_rows(f: &Fixture) -> i64 {
    let conn = rusqlite::Connection::open(f.prop().join("honestcam.db")).unwrap();
    conn.query_row("SELECT count(*) FROM compliance_events", [], |r| r.get(0))
        .unwrap()
}

/// The notes stored for `slug` in the data dir `dir`.
pub fn notes(dir: &Path, slug: &str) -> std::collections::HashSet<String> {
    let slug = Slug::parse(slug).unwrap();
    let storage = Storage::open(DataDir::new(dir), OpenOptions::default()).unwrap();
    honestcam::service::compliance::load_events(&storage, &slug)
        .unwrap()
        .into_iter()
        .filter_map(|e| e.payload["note"].as_str().map(str::to_string))
        .collect()
}

/// Asserts that every note in `acked` (and at least one) is stored for `slug` in `dir`.
pub fn assert_acked_present(dir: &Path, slug: &str, acked: &[String]) {
    let stored = notes(dir, slug);
    let missing: Vec<_> = acked.iter().filter(|n| !stored.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "{slug}: {} of {} acknowledged writes are missing: {missing:?}",
        missing.len(),
        acked.len()
    );
    assert!(!acked.is_empty(), "{slug}: no write was acknowledged");
}

/// Asserts that the portal serves each property's compliance page with its name.
pub async fn assert_serves(app: &App, properties: &[(&str, &str)]) {
    for (slug, name) in properties {
        let page = client()
            .get(app.url(&format!("/p/{slug}/compliance/")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{slug}");
        assert!(page.text().await.unwrap().contains(name), "{slug}");
    }
}
