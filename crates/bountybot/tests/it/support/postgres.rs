//! A throwaway PostgreSQL server for tests and benchmarks, from the installed binaries:
//! `initdb` into a temp dir, `pg_ctl start` on a free loopback port (as `nobody` when
//! running as root, since the server refuses root), one server per process; each test
//! gets a database of its own. A watchdog started with the server stops it and removes
//! its files once this process ends, however it ends, so no server outlives the tests.
//!
//! Without the binaries: a loud SKIPPED notice and `None`, unless
//! `BOUNTYBOT_REQUIRE_POSTGRES` is set (CI), which makes it a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Set (to anything) to make missing PostgreSQL binaries a failure.
pub const REQUIRE_ENV: &str = "BOUNTYBOT_REQUIRE_POSTGRES";

/// A running server.
#[derive(Debug)]
pub struct Server {
    port: u16,
    /// The cluster's directory.
    data: PathBuf,
    /// `pg_ctl`'s directory.
    bin: PathBuf,
    /// Whether to run `pg_ctl` as `nobody`.
    root: bool,
    /// The server options `pg_ctl start` was given.
    options: String,
    /// The server's log.
    log: PathBuf,
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(1);

/// The directory holding `initdb`, `pg_ctl` and `postgres`, if installed.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("BOUNTYBOT_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_ctl").exists() && p.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some(newest) = versions.pop() {
        return Some(newest);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|p| p.join("pg_ctl").exists() && p.join("initdb").exists())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program args...`, as `nobody` when we are root.
fn as_server_user(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Server {
    /// Starts a server of its own (benchmarks want `fsync` on; tests share one without).
    pub fn start(fsync: bool) -> Option<Server> {
        let Some(bin) = bin_dir() else {
            if std::env::var_os(REQUIRE_ENV).is_some() {
                panic!(
                    "{REQUIRE_ENV} is set but no PostgreSQL server binaries (initdb, pg_ctl) were found: install Debian's postgresql package"
                );
            }
            eprintln!(
                "\n*** SKIPPED: PostgreSQL tests need initdb and pg_ctl (Debian package postgresql); none found ***\n"
            );
            return None;
        };
        let root = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("bountybot-pg-")
            .tempdir()
            .expect("a temp dir")
            .keep();
        if root {
            let ok = Command::new("chown")
                .args(["nobody"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot hand {} to nobody", dir.display());
        }
        let data = dir.join("db");
        let out = as_server_user(&bin.join("initdb"), root)
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("running initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The watchdog: once this process is gone, stop the server and remove its files.
        let pid = std::process::id();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             if [ -f '{data}/postmaster.pid' ]; then kill -QUIT \"$(head -1 '{data}/postmaster.pid')\" 2>/dev/null; sleep 1; fi; \
             rm -rf '{dir}'",
            data = data.display(),
            dir = dir.display(),
        );
        // Deliberately not waited for: it outlives this process, which is its job.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the watchdog");
        for _ in 0..5 {
            let port = free_port();
            let options = format!(
                "-p {port} -h 127.0.0.1 -k {} -c fsync={} -c max_connections=300 -c shared_buffers=64MB",
                dir.display(),
                if fsync { "on" } else { "off" }
            );
            let server = Server {
                port,
                data: data.clone(),
                bin: bin.clone(),
                root,
                options,
                log: dir.join("server.log"),
            };
            if server.pg_ctl_start() {
                return Some(server);
            }
        }
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        panic!("PostgreSQL did not start:\n{log}");
    }

    /// `pg_ctl start`, waiting until the server accepts connections; whether it did.
    fn pg_ctl_start(&self) -> bool {
        as_server_user(&self.bin.join("pg_ctl"), self.root)
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &self.options, "-w", "-t", "30", "-l"])
            .arg(&self.log)
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .expect("running pg_ctl")
            .success()
    }

    /// Stops the server the way a crash does: every server process quits at once,
    /// without a checkpoint (`pg_ctl stop -m immediate`), so the next start recovers
    /// from the WAL. For a server of the test's own ([`Server::start`]).
    pub fn crash(&self) {
        let ok = as_server_user(&self.bin.join("pg_ctl"), self.root)
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status()
            .expect("running pg_ctl")
            .success();
        assert!(ok, "pg_ctl stop -m immediate failed");
    }

    /// Starts the server again on its port after [`Server::crash`].
    pub fn restart(&self) {
        assert!(
            self.pg_ctl_start(),
            "PostgreSQL did not start again:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

/// The shared server, started on first use; `None` when skipped.
pub fn server() -> Option<&'static Server> {
    SERVER.get_or_init(|| Server::start(false)).as_ref()
}

/// A new, empty database on the shared server; `None` when PostgreSQL is skipped.
pub fn fresh_database() -> Option<String> {
    server()?.fresh_database()
}

impl Server {
    /// A new, empty database on this server.
    pub fn fresh_database(&self) -> Option<String> {
        let server = self;
        let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
        let mut admin =
            postgres::Client::connect(&server.url("postgres"), postgres::NoTls).expect("connect");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        Some(server.url(&name))
    }
}
