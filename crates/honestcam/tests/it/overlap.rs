//! Commands and the portal at the same moment: `honestcam serve` under a write load
//! (a few client tasks POSTing notes, bounded in count and time) while `db-rollback`
//! and `db-migrate` run against the same data dir, and two migrations of one
//! property at once. Every write the portal acknowledged must be in whatever backend
//! the property ends on, once; databases must pass `PRAGMA integrity_check`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use honestcam::ops::demo::DemoOptions;
use honestcam::service::compliance::load_events;
use honestcam::storage::{Backend, Wait};

use crate::support::{App, Fixture, SLUG, client};

/// Client tasks POSTing at once.
const CLIENTS: usize = 4;
/// Most requests one client sends.
const MAX_PER_CLIENT: usize = 3_000;
/// Longest a load runs.
const MAX_LOAD: Duration = Duration::from_secs(60);

/// A write load against a running portal: each client posts numbered notes to one
/// action and remembers those answered 303.
pub struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    failed: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(app: &App, tag: &str) -> Load {
        Load::start_on(app, SLUG, tag)
    }

    /// A load on the property `slug`.
    pub fn start_on(app: &App, slug: &str, tag: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let url = app.url(&format!("/p/{slug}/compliance/actions/ACT-001"));
        let deadline = Instant::now() + MAX_LOAD;
        let tasks = (0..CLIENTS)
            .map(|c| {
                let (stop, acked, failed, count) = (
                    Arc::clone(&stop),
                    Arc::clone(&acked),
                    Arc::clone(&failed),
                    Arc::clone(&count),
                );
                let (url, tag) = (url.clone(), tag.to_string());
                tokio::spawn(async move {
                    let http = client();
                    for i in 0..MAX_PER_CLIENT {
                        if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                            break;
                        }
                        let note = format!("{tag}-{c}-{i}");
                        let sent = http.post(&url).form(&[("note", &note)]).send().await;
                        match sent.map(|r| r.status().as_u16()) {
                            Ok(303) => {
                                acked.lock().unwrap().push(note);
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(other) => failed.lock().unwrap().push(format!("{note}: {other}")),
                            Err(e) => failed.lock().unwrap().push(format!("{note}: {e}")),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            acked,
            failed,
            count,
            tasks,
        }
    }

    /// Waits (bounded) until `n` more writes were acknowledged.
    pub async fn until_more(&self, n: usize) {
        let target = self.count.load(Ordering::Relaxed) + n;
        let deadline = Instant::now() + MAX_LOAD;
        while self.count.load(Ordering::Relaxed) < target {
            assert!(
                Instant::now() < deadline,
                "the portal stopped acknowledging writes"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The notes acknowledged so far.
    pub fn acked_so_far(&self) -> Vec<String> {
        self.acked.lock().unwrap().clone()
    }

    /// Stops the clients without judging the requests still in flight (the server was
    /// killed under them); returns the acknowledged notes.
    pub async fn abandon(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        self.acked.lock().unwrap().clone()
    }

    /// Stops the clients; returns the acknowledged notes.
    pub async fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let failed = self.failed.lock().unwrap().clone();
        assert!(failed.is_empty(), "requests not acknowledged: {failed:?}");
        let acked = self.acked.lock().unwrap().clone();
        assert!(!acked.is_empty(), "the load acknowledged nothing");
        acked
    }
}

/// Runs a command against the fixture on the blocking pool, asserting success.
pub async fn command(f: &Fixture, args: &[&str]) -> String {
    let (dir, args): (_, Vec<String>) = (f.dir(), args.iter().map(|a| a.to_string()).collect());
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_honestcam"))
            .args(&args)
            .env("HONESTCAM_DATA_DIR", dir)
            .env_remove("HONESTCAM_TEST_ABORT_AFTER")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap()
}

/// Asserts that every acknowledged note is stored exactly once, on `backend`.
fn assert_all_stored_once(f: &Fixture, acked: &[String], backend: Backend) {
    let storage = f.storage();
    let paths = storage.property(&f.slug()).unwrap();
    assert_eq!(storage.backend(&paths), backend);
    let mut stored: HashMap<String, usize> = HashMap::new();
    for e in load_events(&storage, &f.slug()).unwrap() {
        if let Some(note) = e.payload["note"].as_str() {
            *stored.entry(note.to_string()).or_default() += 1;
        }
    }
    let missing: Vec<_> = acked.iter().filter(|n| !stored.contains_key(*n)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes are missing, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    let twice: Vec<_> = acked.iter().filter(|n| stored.get(*n) > Some(&1)).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    if backend == Backend::Sqlite {
        assert_integrity(f);
    } else {
        assert!(!paths.db().exists());
    }
}

pub fn assert_integrity(f: &Fixture) {
    let conn = rusqlite::Connection::open(f.prop().join("honestcam.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

fn bigger_log() -> Fixture {
    Fixture::with(DemoOptions {
        events: 20_000,
        ..DemoOptions::dated(crate::support::TODAY)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollback_then_migrate_under_a_write_load_loses_and_duplicates_nothing() {
    let f = bigger_log();
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let app = f.spawn_app(&[], &[]);
    let load = Load::start(&app, "cycle");
    load.until_more(40).await;

    // Rolled back while the portal writes: every write acknowledged so far is in the
    // JSON export, none in the archived database only.
    command(&f, &["db-rollback", SLUG, "--execute"]).await;
    load.until_more(40).await;
    // Migrated again while the portal writes, now to the JSON files.
    command(&f, &["db-migrate", SLUG, "--execute"]).await;
    load.until_more(40).await;
    let acked = load.finish().await;
    assert_all_stored_once(&f, &acked, Backend::Sqlite);
    assert!(
        !f.prop().join("compliance-log.json").exists(),
        "no log re-created beside the database"
    );

    // A write after the re-migration goes to the live database, visible now and
    // after a restart (not to the database moved to _rollback/).
    let r = client()
        .post(app.url("/compliance/actions/ACT-002"))
        .form(&[("note", "after the re-migration")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = client().get(app.url("/compliance/")).send().await.unwrap();
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("after the re-migration")
    );
    assert!(app.stop());
    let app = f.spawn_app(&[], &[]);
    let page = client().get(app.url("/compliance/")).send().await.unwrap();
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("after the re-migration")
    );
    assert_all_stored_once(&f, &acked, Backend::Sqlite);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollback_under_a_write_load_exports_every_acknowledged_write() {
    let f = bigger_log();
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let app = f.spawn_app(&[], &[]);
    let load = Load::start(&app, "rollback");
    load.until_more(40).await;
    command(&f, &["db-rollback", SLUG, "--execute"]).await;
    load.until_more(40).await;
    let acked = load.finish().await;
    assert_all_stored_once(&f, &acked, Backend::Json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_under_a_write_load_moves_every_acknowledged_write_into_the_database() {
    let f = bigger_log();
    let app = f.spawn_app(&[], &[]);
    let load = Load::start(&app, "migrate");
    load.until_more(40).await;
    command(&f, &["db-migrate", SLUG, "--execute"]).await;
    load.until_more(40).await;
    let acked = load.finish().await;
    assert_all_stored_once(&f, &acked, Backend::Sqlite);
    assert!(!f.prop().join("compliance-log.json").exists());
    let status = command(&f, &["db-status", "--json"]).await;
    let rows: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(rows[0]["backend"], "sqlite");
    assert!(rows[0].get("error").is_none(), "{rows}");
}

/// A `db-migrate --execute` in the background, its stderr read line by line.
struct Migration {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Migration {
    fn start(f: &Fixture, pause_at: Option<&str>) -> Migration {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_honestcam"));
        cmd.args(["db-migrate", SLUG, "--execute"])
            .env("HONESTCAM_DATA_DIR", f.dir())
            .env_remove("HONESTCAM_TEST_ABORT_AFTER")
            .env_remove("HONESTCAM_TEST_PAUSE_AT");
        if let Some(step) = pause_at {
            cmd.env("HONESTCAM_TEST_PAUSE_AT", step);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Migration { child, lines }
    }

    /// Waits (bounded) for a stderr line containing `text`.
    fn expect_line(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with {text:?}: {e}"),
            }
        }
    }
}

#[test]
fn a_second_migration_waits_for_the_first_and_a_killed_one_harms_neither() {
    let opts = DemoOptions {
        events: 100_000,
        ..DemoOptions::dated(crate::support::TODAY)
    };
    let reference = {
        let r = Fixture::with(opts.clone());
        r.plan(&["db-migrate", SLUG, "--execute"]);
        crate::support::state(&r.storage(), &r.slug())
    };
    let f = Fixture::with(opts);
    let staging = f.prop().join("honestcam.db.staging");

    // The test holds the property, as a long command would.
    let storage = f.storage();
    let held = storage
        .lock_property(&f.slug(), "pid 1: a long test command", Wait::No, |_| {})
        .unwrap();

    // B waits, says for whom, and is killed while waiting: harmless.
    let mut b = Migration::start(&f, None);
    let said = b.expect_line("waiting for property");
    assert!(said.contains("a long test command"), "{said}");
    b.child.kill().unwrap();
    b.child.wait().unwrap();

    // --no-wait refuses at once, naming the holder, and changes nothing.
    let out = f.run(&["db-rollback", SLUG, "--execute", "--no-wait"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is locked by pid 1: a long test command"),
        "{err}"
    );
    assert!(!f.prop().join("honestcam.db").exists());

    // A waits; once the test lets go, A builds the database and stops half-way (its
    // pause point); C then waits for A. A is killed mid-import; C takes over and
    // finishes the job.
    let mut a = Migration::start(&f, Some("loading"));
    a.expect_line("waiting for property");
    drop(held);
    a.expect_line("paused at loading");
    assert!(staging.exists(), "A is building");
    let mut c = Migration::start(&f, None);
    let said = c.expect_line("waiting for property");
    assert!(said.contains(&format!("pid {}:", a.child.id())), "{said}");
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    assert!(
        !f.prop().join("honestcam.db").exists(),
        "nothing half-built went live"
    );
    assert!(c.child.wait().unwrap().success());

    assert_integrity(&f);
    assert_eq!(crate::support::state(&f.storage(), &f.slug()), reference);
    assert!(!staging.exists(), "no staging file left");
    let legacy = std::fs::read_dir(f.prop().join("_legacy")).unwrap().count();
    assert_eq!(legacy, 1, "archived once, after the import");
    let again = f.plan(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(again["changes"], false);
    f.ok(&["db-status"]);
}
