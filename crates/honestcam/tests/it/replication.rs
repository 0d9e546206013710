//! Losing the machine, with continuous replication: a local S3-compatible server
//! (`moto_server`), `litestream replicate` with the configuration `honestcam
//! litestream-config` prints, and the portal taking writes on two properties while a
//! third is migrated. Then every process is killed (`kill -9`), the data dir deleted,
//! `honestcam restore --from s3://...` run into a fresh one and the portal started
//! again.
//!
//! The tools come from `HONESTCAM_DRILL_TOOLS` (a folder holding `litestream` and
//! `moto_server`, as `.ci/drill-tools` installs them), else from `PATH`. Without them
//! the test says loudly that it was skipped, unless `HONESTCAM_REQUIRE_DRILL=1` (set by
//! `.ci/run`): then it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::overlap::{Load, command};
use crate::support::{SLUG, assert_acked_present, assert_serves, client, migrated, notes};

/// Any credentials do for the local server; Litestream and honestcam read these.
const CREDENTIALS: [(&str, &str); 2] = [
    ("LITESTREAM_ACCESS_KEY_ID", "drill"),
    ("LITESTREAM_SECRET_ACCESS_KEY", "drill-secret"),
];
/// Longest the drill waits for a tool to come up or for replication to catch up.
const PATIENCE: Duration = Duration::from_secs(60);

struct Tools {
    litestream: PathBuf,
    moto: PathBuf,
}

fn find_tool(name: &str) -> Option<PathBuf> {
    // Tests run in the crate's folder: a relative folder is the workspace's.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dirs = std::env::var_os("HONESTCAM_DRILL_TOOLS")
        .map(|d| vec![workspace.join(d)])
        .unwrap_or_else(|| {
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default()
        });
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// The drill's tools, or `None` after a loud notice (a failure under CI).
fn tools() -> Option<Tools> {
    let found = find_tool("litestream").zip(find_tool("moto_server"));
    let required = std::env::var("HONESTCAM_REQUIRE_DRILL").is_ok_and(|v| v == "1");
    match found {
        Some((litestream, moto)) => Some(Tools { litestream, moto }),
        None if required => {
            panic!("HONESTCAM_REQUIRE_DRILL=1 but litestream and moto_server are not installed")
        }
        None => {
            eprintln!(
                "\n!!!! SKIPPED disaster drill: litestream and moto_server not found; run .ci/drill-tools and set HONESTCAM_DRILL_TOOLS=target/drill-venv/bin !!!!\n"
            );
            None
        }
    }
}

/// Prints the tools' logs if the drill fails.
struct ShowLogsOnFailure(PathBuf);

impl Drop for ShowLogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for log in ["litestream.log", "moto.log"] {
            let text = std::fs::read_to_string(self.0.join(log)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("---- last lines of {log}:");
            tail.iter().rev().for_each(|l| eprintln!("{l}"));
        }
    }
}

/// A child process killed (SIGKILL) on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `moto_server` on a free loopback port, with one bucket.
struct S3 {
    _server: Killed,
    endpoint: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl S3 {
    async fn start(tools: &Tools, log: &Path, bucket: &str) -> S3 {
        let port = free_port();
        let server = Command::new(&tools.moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let s3 = S3 {
            _server: Killed(server),
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            // The local server takes unsigned requests: create the bucket plainly.
            let made = client()
                .put(format!("{}/{bucket}", s3.endpoint))
                .send()
                .await;
            if made.is_ok_and(|r| r.status().is_success()) {
                return s3;
            }
            assert!(Instant::now() < deadline, "moto_server did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The environment of every honestcam and litestream process of the drill.
fn drill_env(tools: &Tools) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = CREDENTIALS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.push((
        "HONESTCAM_LITESTREAM".into(),
        tools.litestream.to_string_lossy().into_owned(),
    ));
    env
}

/// Runs honestcam on the data dir `dir` with the drill's environment. Litestream
/// 0.5.17 refuses to start against S3 when `AWS_CA_BUNDLE` is set, as it may be on a
/// build machine.
fn honestcam(dir: &Path, tools: &Tools, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_honestcam"))
        .args(args)
        .env("HONESTCAM_DATA_DIR", dir)
        .envs(drill_env(tools))
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .unwrap()
}

fn ok(dir: &Path, tools: &Tools, args: &[&str]) -> String {
    let out = honestcam(dir, tools, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(dir: &Path, tools: &Tools, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(dir, tools, args)).unwrap()
}

/// The newest transaction the replica holds for one database, per Litestream.
fn replicated_txid(tools: &Tools, url: &str, scratch: &Path) -> Option<String> {
    let out = Command::new(&tools.litestream)
        .args(["restore", "-dry-run", "-json", "-o"])
        .arg(scratch.join("probe.db"))
        .arg(url)
        .envs(CREDENTIALS)
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    report["max_txid"].as_str().map(str::to_string)
}

/// Waits (bounded) until the replica of `url` holds a newer transaction than `seen`.
async fn until_replicated_past(tools: &Tools, url: &str, seen: Option<&str>, scratch: &Path) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = replicated_txid(tools, url, scratch);
        if now.is_some() && now.as_deref() > seen {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} was not replicated past {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the replica at `url` holds a sync that began after this call: the
/// replicated transaction moves on twice (the first move may be a sync that was
/// already under way). Needs writes going on.
async fn until_caught_up(tools: &Tools, url: &str, scratch: &Path) {
    let first = replicated_txid(tools, url, scratch);
    until_replicated_past(tools, url, first.as_deref(), scratch).await;
    let second = replicated_txid(tools, url, scratch);
    until_replicated_past(tools, url, second.as_deref(), scratch).await;
}

/// Posts a note to `slug`'s first action and checks it was acknowledged.
async fn post_note(base: &str, slug: &str, note: &str) {
    let answer = client()
        .post(format!("{base}/p/{slug}/compliance/actions/ACT-001"))
        .form(&[("note", note)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{slug}: {note}");
}

/// The bucket of the drills.
const BUCKET: &str = "honestcam-drill";

/// A replica of the fixture's data dir on a local S3 server, with `litestream
/// replicate` running on the configuration `honestcam litestream-config` printed.
struct Replicating {
    s3: S3,
    replica: String,
    config: PathBuf,
    logs: PathBuf,
    litestream: Killed,
    show: ShowLogsOnFailure,
}

/// `litestream replicate` on `config`, logging (it logs on stdout) into `logs`.
fn replicate(tools: &Tools, config: &Path, logs: &Path) -> Killed {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join("litestream.log"))
        .unwrap();
    let child = Command::new(&tools.litestream)
        .arg("replicate")
        .arg("-config")
        .arg(config)
        .envs(CREDENTIALS)
        .env_remove("AWS_CA_BUNDLE")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Killed(child)
}

impl Replicating {
    async fn start(f: &crate::support::Fixture, tools: &Tools) -> Replicating {
        let logs = f.tmp.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let show = ShowLogsOnFailure(logs.clone());
        let s3 = S3::start(tools, &logs.join("moto.log"), BUCKET).await;
        let replica = format!(
            "s3://{BUCKET}/site?endpoint={}&region=us-east-1&forcePathStyle=true",
            s3.endpoint
        );
        let config = f.tmp.path().join("litestream.yml");
        let yml = ok(
            &f.dir(),
            tools,
            &["litestream-config", "--replica", &replica],
        );
        std::fs::write(&config, yml).unwrap();
        let litestream = replicate(tools, &config, &logs);
        Replicating {
            s3,
            replica,
            config,
            logs,
            litestream,
            show,
        }
    }

    /// Stops Litestream (SIGTERM, as a service manager does) and starts it again.
    fn restart(&mut self, tools: &Tools) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.litestream.0.id().to_string()])
            .status();
        self.litestream.0.wait().unwrap();
        self.litestream = replicate(tools, &self.config, &self.logs);
    }
}

/// The Litestream URL of one property's replica.
fn property_url(s3: &S3, slug: &str) -> String {
    format!(
        "s3://{BUCKET}/site/properties/{slug}/honestcam.db?endpoint={}&region=us-east-1&forcePathStyle=true",
        s3.endpoint
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_brings_every_property_back_after_the_machine_is_lost() {
    let Some(tools) = tools() else { return };
    let f = migrated();
    f.ok(&["demo-data", "harbor", "--name", "Harbor Point"]);
    f.plan(&["db-migrate", "harbor", "--execute"]);
    f.ok(&["demo-data", "cove", "--name", "Cove Lodge"]);
    let drill = Replicating::start(&f, &tools).await;
    let (replica, mut litestream) = (drill.replica.clone(), drill.litestream);
    let s3 = drill.s3;
    let _show = drill.show;

    // The portal takes writes on two properties; a third is migrated meanwhile.
    let mut app = f.spawn_app(&[], &[]);
    let bamboo = Load::start_on(&app, SLUG, "bamboo");
    let harbor = Load::start_on(&app, "harbor", "harbor");
    bamboo.until_more(30).await;
    harbor.until_more(30).await;
    command(&f, &["db-migrate", "cove", "--execute"]).await;
    let cove_url = property_url(&s3, "cove");
    let probe = f.tmp.path().join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    until_replicated_past(&tools, &cove_url, None, &probe).await;

    // Point in time: a note replicated before the mark, one written after it.
    let before = replicated_txid(&tools, &cove_url, &probe);
    post_note(&app.base, "cove", "before the mark").await;
    until_replicated_past(&tools, &cove_url, before.as_deref(), &probe).await;
    // The replica's times are whole seconds: the mark goes in the next one.
    let replicated = jiff::Timestamp::now().as_second();
    while jiff::Timestamp::now().as_second() <= replicated {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mark = jiff::Timestamp::now();
    post_note(&app.base, "cove", "after the mark").await;

    // Every write acknowledged by now must survive: the machine is lost only once a
    // sync that began after this point reached the replica (normally about a second;
    // a loaded machine can take longer, and the drill waits for it, up to PATIENCE).
    let must_survive = [
        (SLUG, bamboo.acked_so_far()),
        ("harbor", harbor.acked_so_far()),
    ];
    for slug in [SLUG, "harbor"] {
        until_caught_up(&tools, &property_url(&s3, slug), &probe).await;
    }

    // The machine is lost while the writes go on: every process killed, the data gone.
    app.child.kill().unwrap();
    litestream.0.kill().unwrap();
    app.child.wait().unwrap();
    // Already dead: nothing left for its drop to stop.
    std::mem::forget(app);
    let written_on = [
        (SLUG, bamboo.abandon().await.len()),
        ("harbor", harbor.abandon().await.len()),
    ];
    std::fs::remove_dir_all(f.dir()).unwrap();

    let dry = json(&f.dir(), &tools, &["restore", "--from", &replica, "--json"]);
    assert_eq!(
        crate::support::count(&dry, "restore property databases"),
        3,
        "{dry}"
    );
    assert_eq!(crate::support::count(&dry, "restore the study database"), 1);
    assert!(dry.to_string().contains("written at 20"), "{dry}");
    assert!(!f.dir().exists(), "a dry run restores nothing");
    // A restore stopped after its first database is finished by running it again.
    let stopped = Command::new(env!("CARGO_BIN_EXE_honestcam"))
        .args(["restore", "--from", &replica, "--execute"])
        .env("HONESTCAM_DATA_DIR", f.dir())
        .envs(drill_env(&tools))
        .env_remove("AWS_CA_BUNDLE")
        .env("HONESTCAM_TEST_ABORT_AFTER", "restored-database")
        .output()
        .unwrap();
    assert!(!stopped.status.success());
    assert!(f.dir().join(".restore-in-progress").is_file());
    ok(
        &f.dir(),
        &tools,
        &["restore", "--from", &replica, "--execute"],
    );
    assert!(!f.dir().join(".restore-in-progress").exists());

    // Every write acknowledged at least 5 s before the loss.
    for (slug, acked) in &must_survive {
        assert_acked_present(&f.dir(), slug, acked);
    }
    let cove = notes(&f.dir(), "cove");
    assert!(cove.contains("before the mark") && cove.contains("after the mark"));
    for slug in [SLUG, "harbor", "cove"] {
        let db = f.dir().join(slug).join("honestcam.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{slug}");
        assert!(
            f.dir().join(slug).join("compliance.json").is_file(),
            "{slug}"
        );
    }

    // The portal serves every property as before, baselines included.
    let app = f.spawn_app(&[], &[]);
    assert_serves(
        &app,
        &[
            (SLUG, "Bamboo House"),
            ("harbor", "Harbor Point"),
            ("cove", "Cove Lodge"),
        ],
    )
    .await;

    // The replica is as current as the restored data: no lag.
    let rows = json(
        &f.dir(),
        &tools,
        &["backup-verify", "--from", &replica, "--json"],
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4, "three properties and the study database");
    for r in rows {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["integrity"], "ok", "{r}");
        assert_eq!(r["lag_events"], 0, "{r}");
    }
    // Litestream is not running now: a new write is a lag the check reports.
    post_note(&app.base, "harbor", "not replicated").await;
    drop(app);
    let behind = honestcam(
        &f.dir(),
        &tools,
        &[
            "backup-verify",
            "--from",
            &replica,
            "--max-lag",
            "0s",
            "--json",
        ],
    );
    assert_eq!(behind.status.code(), Some(1));
    let rows: serde_json::Value = serde_json::from_slice(&behind.stdout).unwrap();
    let harbor = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["property"] == "harbor")
        .unwrap();
    assert_eq!(harbor["lag_events"], 1, "{harbor}");
    assert_eq!(harbor["ok"], false);
    // The loads wrote more than the part that had to survive.
    for ((slug, acked), (_, written)) in must_survive.iter().zip(written_on) {
        assert!(written >= acked.len(), "{slug}");
    }

    // Point in time: as of the mark, the later note is not there.
    let pit = f.tmp.path().join("pit");
    ok(
        &pit,
        &tools,
        &[
            "restore",
            "--from",
            &replica,
            "--timestamp",
            &mark.to_string(),
            "--execute",
        ],
    );
    let cove = notes(&pit, "cove");
    assert!(cove.contains("before the mark"), "{cove:?}");
    assert!(!cove.contains("after the mark"));

    // A replica is never restored over data.
    let again = honestcam(
        &f.dir(),
        &tools,
        &["restore", "--from", &replica, "--execute"],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));
    drop(s3);
}

/// Waits (bounded) until a restore of `url` holds the note `note`.
async fn until_restored_with(tools: &Tools, url: &str, note: &str, scratch: &Path) {
    let deadline = Instant::now() + PATIENCE;
    let db = scratch.join("restored.db");
    loop {
        let _ = std::fs::remove_file(&db);
        let restored = Command::new(&tools.litestream)
            .args(["restore", "-o"])
            .arg(&db)
            .arg(url)
            .envs(CREDENTIALS)
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .unwrap();
        if restored.status.success() {
            let conn = rusqlite::Connection::open(&db).unwrap();
            let found: i64 = conn
                .query_row(
                    "SELECT count(*) FROM compliance_events WHERE payload LIKE ?1",
                    [format!("%{note}%")],
                    |r| r.get(0),
                )
                .unwrap();
            if found > 0 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} never held {note:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_and_a_new_migration_under_replication_restore_the_new_database() {
    let Some(tools) = tools() else { return };
    let f = migrated();
    let mut drill = Replicating::start(&f, &tools).await;
    let url = property_url(&drill.s3, SLUG);
    let probe = f.tmp.path().join("probe");
    std::fs::create_dir_all(&probe).unwrap();

    // The database is moved aside and a new one built while Litestream has the old
    // one open, and the portal takes writes before, between and after.
    let app = f.spawn_app(&[], &[]);
    post_note(&app.base, SLUG, "before the rollback").await;
    until_restored_with(&tools, &url, "before the rollback", &probe).await;
    let rollback = command(&f, &["db-rollback", SLUG, "--execute"]).await;
    post_note(&app.base, SLUG, "on the legacy files").await;
    let migrate = command(&f, &["db-migrate", SLUG, "--execute"]).await;
    for report in [&rollback, &migrate] {
        assert!(report.contains("restart it now"), "{report}");
    }
    // Litestream 0.5.17 loses track of a database moved away with its -wal while it
    // replicates it, and does not pick up the new one at the same path: the playbook
    // restarts it after these commands (and backup-verify reports the lag otherwise).
    drill.restart(&tools);
    post_note(&app.base, SLUG, "after the new migration").await;
    until_restored_with(&tools, &url, "after the new migration", &probe).await;
    let live = crate::support::event_rows(&f);
    drop(app);
    drill.litestream.0.kill().unwrap();
    std::fs::remove_dir_all(f.dir()).unwrap();

    ok(
        &f.dir(),
        &tools,
        &["restore", "--from", &drill.replica, "--execute"],
    );
    assert_eq!(
        crate::support::event_rows(&f),
        live,
        "the new database, whole"
    );
    let stored = notes(&f.dir(), SLUG);
    for note in [
        "before the rollback",
        "on the legacy files",
        "after the new migration",
    ] {
        assert!(stored.contains(note), "{note}: {stored:?}");
    }
    crate::overlap::assert_integrity(&f);
}

/// `honestcam doctor --json --auth none --replica <replica> <extra>` with the drill's
/// environment: its exit code and report.
fn doctor(
    f: &crate::support::Fixture,
    tools: &Tools,
    replica: &str,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let mut args = vec!["doctor", "--json", "--auth", "none", "--replica", replica];
    args.extend_from_slice(extra);
    let out = honestcam(&f.dir(), tools, &args);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    (out.status.code().unwrap(), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_tells_a_running_litestream_from_a_stopped_or_behind_one() {
    use crate::ops::check;
    let Some(tools) = tools() else { return };
    let f = migrated();
    let drill = Replicating::start(&f, &tools).await;
    let probe = f.tmp.path().join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    let study_url = format!(
        "s3://{BUCKET}/site/honestcam-study.db?endpoint={}&region=us-east-1&forcePathStyle=true",
        drill.s3.endpoint
    );
    until_replicated_past(&tools, &property_url(&drill.s3, SLUG), None, &probe).await;
    until_replicated_past(&tools, &study_url, None, &probe).await;

    let (_, report) = doctor(&f, &tools, &drill.replica, &[]);
    for name in ["replica bamboo-house", "replica study"] {
        let c = check(&report, name);
        assert_eq!(c["status"], "ok", "{c:#}");
    }

    // Litestream stops; the portal goes on writing.
    let Replicating {
        litestream,
        replica,
        s3,
        show: _show,
        ..
    } = drill;
    drop(litestream);
    // Its own last touches (a checkpoint after its last file) settle within the
    // second allowed below: the write comes two seconds after its last file.
    let state = f.prop().join(".honestcam.db-litestream/ltx/0");
    let last_file = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().modified().unwrap())
        .max()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while std::time::SystemTime::now() < last_file + Duration::from_secs(2) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    honestcam::service::compliance::record_change(
        &f.storage(),
        &f.slug(),
        "ACT-001",
        &honestcam::domain::Change::Note("while litestream is down".into()),
        "kim",
    )
    .unwrap();
    let (code, report) = doctor(&f, &tools, &replica, &["--max-replica-lag", "1s"]);
    assert_eq!(code, 1);
    let stopped = check(&report, "replica bamboo-house");
    assert_eq!(stopped["status"], "fail", "{report:#}");
    assert!(
        stopped["detail"].as_str().unwrap().contains("not running"),
        "{stopped}"
    );

    // Litestream took up a transaction the replica never got (its uploads failing).
    let newest = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .max()
        .unwrap();
    let txid = u64::from_str_radix(&newest[17..33], 16).unwrap();
    let ahead = format!("{:016x}-{:016x}.ltx", txid + 1, txid + 1);
    std::fs::write(state.join(ahead), b"").unwrap();
    let (code, report) = doctor(&f, &tools, &replica, &["--max-replica-lag", "0s"]);
    assert_eq!(code, 1);
    let behind = check(&report, "replica bamboo-house");
    assert!(
        behind["detail"].as_str().unwrap().starts_with("behind"),
        "{report:#}"
    );
    drop(s3);
}
