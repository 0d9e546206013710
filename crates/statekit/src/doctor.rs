//! A deployment's health report, and the checks any program built on `statekit`
//! shares: a private data dir, free space, the descriptor limit, and each SQLite
//! database's integrity and durability settings as its connections have them.
//!
//! A [`Report`] is a list of [`Check`]s, each `ok`, `warn` or `fail`, saying what was
//! found and, when it is not ok, what to do about it. It prints as aligned text or as
//! JSON (`{"ok": bool, "failures": n, "warnings": n, "checks": [...]}`), and
//! [`Report::failed`] says whether the program should exit 1. The application adds
//! its own checks (its schema, its auth settings, its backups) beside these.
//!
//! ```
//! use statekit::doctor::{Check, Report};
//!
//! let mut report = Report::default();
//! report.push(Check::ok("free space", "12 GiB free"));
//! report.push(Check::fail("backups", "no backup in 3 days", "run the backup job"));
//! assert!(report.failed());
//! assert!(report.to_string().contains("fix: run the backup job"));
//! ```

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::sqlite::{FULL_FSYNC, OpenOptions, Synchronous, open_existing_connection};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As it should be.
    Ok,
    /// Worth a look, but nothing is at risk yet (or the check does not apply).
    Warn,
    /// Something is wrong: the program exits 1.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, e.g. `free space`, `database alpha`.
    pub name: String,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it (none when it is ok).
    pub fix: Option<String>,
}

impl Check {
    /// A check that passed.
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A warning, and what to do about it.
    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failure, and what to do about it.
    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Every check of one run, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Adds a check.
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// Checks that came out `status`.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// Whether any check failed (the program exits 1).
    pub fn failed(&self) -> bool {
        self.count(Status::Fail) > 0
    }

    /// The report as JSON: `ok`, the counts, and every check.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": !self.failed(),
            "failures": self.count(Status::Fail),
            "warnings": self.count(Status::Warn),
            "checks": self.checks,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.checks {
            writeln!(
                f,
                "{:<4}  {:<width$}  {}",
                c.status.label(),
                c.name,
                c.detail
            )?;
            if let Some(fix) = &c.fix {
                writeln!(f, "{:<4}  {:<width$}  fix: {fix}", "", "")?;
            }
        }
        let (fails, warns) = (self.count(Status::Fail), self.count(Status::Warn));
        match (fails, warns) {
            (0, 0) => write!(f, "all {} checks passed", self.checks.len()),
            (0, w) => write!(f, "no failures, {w} warning(s)"),
            (n, w) => write!(f, "{n} failure(s), {w} warning(s)"),
        }
    }
}

/// Whether `dir` is a directory owned by this process's user that nobody else may
/// read or enter; and the same of each file and folder directly in it and one level
/// below (a data dir's databases and their folders). Lists up to five offenders.
pub fn private_dir(name: &str, dir: &Path) -> Check {
    let meta = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            return Check::fail(
                name,
                format!("{} is not a directory", dir.display()),
                "point --data-dir (or HONESTCAM_DATA_DIR) at the data dir",
            );
        }
        Err(e) => {
            return Check::fail(
                name,
                format!("cannot read {}: {e}", dir.display()),
                "point --data-dir at the data dir, and run this as the user the service runs as",
            );
        }
    };
    let mut offenders = Vec::new();
    let mut seen = 0usize;
    visit_private(dir, &meta, &mut offenders, &mut seen);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten().take(10_000) {
            let path = entry.path();
            let Ok(m) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            visit_private(&path, &m, &mut offenders, &mut seen);
            if m.is_dir()
                && let Ok(inner) = std::fs::read_dir(&path)
            {
                for e in inner.flatten().take(1_000) {
                    if let Ok(m) = std::fs::symlink_metadata(e.path()) {
                        visit_private(&e.path(), &m, &mut offenders, &mut seen);
                    }
                }
            }
        }
    }
    if offenders.is_empty() {
        return Check::ok(
            name,
            format!(
                "{}: {seen} entries, owner-only, owned by this user",
                dir.display()
            ),
        );
    }
    let shown: Vec<String> = offenders.iter().take(5).cloned().collect();
    let more = offenders.len().saturating_sub(shown.len());
    Check::fail(
        name,
        format!(
            "{} entries are not owner-only or not this user's: {}{}",
            offenders.len(),
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        ),
        format!(
            "chown -R \"$(id -un)\" {0} && chmod -R go-rwx {0} (as the user the portal runs as)",
            shell_quote(dir)
        ),
    )
}

#[cfg(unix)]
fn visit_private(path: &Path, meta: &std::fs::Metadata, out: &mut Vec<String>, seen: &mut usize) {
    use std::os::unix::fs::MetadataExt;
    *seen += 1;
    if meta.file_type().is_symlink() {
        return;
    }
    let me = rustix::process::geteuid().as_raw();
    let mode = meta.mode() & 0o7777;
    let mut wrong = Vec::new();
    if meta.uid() != me {
        wrong.push(format!("owned by uid {}", meta.uid()));
    }
    if mode & 0o077 != 0 {
        wrong.push(format!("mode {mode:o}"));
    }
    if !wrong.is_empty() {
        out.push(format!("{} ({})", path.display(), wrong.join(", ")));
    }
}

#[cfg(not(unix))]
fn visit_private(_: &Path, _: &std::fs::Metadata, _: &mut Vec<String>, seen: &mut usize) {
    *seen += 1;
}

/// `path` quoted for a POSIX shell when it needs it.
fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Whether the file system holding `dir` has at least `min_bytes` free for this user.
pub fn free_space(dir: &Path, min_bytes: u64) -> Check {
    let name = "free space";
    match rustix::fs::statvfs(dir) {
        Ok(st) => {
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            let detail = format!(
                "{} free on the file system of {}",
                bytes(free),
                dir.display()
            );
            if free < min_bytes {
                Check::fail(
                    name,
                    format!("{detail}, below {}", bytes(min_bytes)),
                    "free space on that disk (old backups, logs), or move the data dir to a larger one: SQLite needs room to write and checkpoint",
                )
            } else {
                Check::ok(name, detail)
            }
        }
        Err(e) => Check::fail(
            name,
            format!("cannot tell the free space of {}: {e}", dir.display()),
            "check that the data dir exists and is readable",
        ),
    }
}

/// `n` bytes in a short human form (GiB, MiB, KiB).
pub fn bytes(n: u64) -> String {
    const K: u64 = 1024;
    match n {
        n if n >= K * K * K => format!("{:.1} GiB", n as f64 / (K * K * K) as f64),
        n if n >= K * K => format!("{:.1} MiB", n as f64 / (K * K) as f64),
        n if n >= K => format!("{:.1} KiB", n as f64 / K as f64),
        n => format!("{n} bytes"),
    }
}

/// This process's descriptor limit (`RLIMIT_NOFILE`): soft, and hard if bounded.
pub fn descriptor_limit() -> (Option<u64>, Option<u64>) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    (limit.current, limit.maximum)
}

/// What an SQLite database says of itself through a connection opened as the
/// programs open theirs (`statekit::sqlite::open_existing_connection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseHealth {
    /// `PRAGMA quick_check`'s first lines (`ok` when it passes).
    pub quick_check: String,
    /// The journal mode (`wal` expected).
    pub journal_mode: String,
    /// `PRAGMA synchronous` (2, FULL, expected).
    pub synchronous: i64,
    /// `PRAGMA foreign_keys` (1 expected).
    pub foreign_keys: i64,
    /// `PRAGMA fullfsync` and `checkpoint_fullfsync` (1 on Apple targets, else 0).
    pub fullfsync: (i64, i64),
}

impl DatabaseHealth {
    /// What is wrong with these settings for a durable database, if anything.
    pub fn durability_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.journal_mode != "wal" {
            out.push(format!("journal mode {} (not wal)", self.journal_mode));
        }
        if self.synchronous < 2 {
            out.push(format!("synchronous={} (not FULL)", self.synchronous));
        }
        if self.foreign_keys != 1 {
            out.push("foreign keys off".to_string());
        }
        let want = i64::from(FULL_FSYNC);
        if self.fullfsync != (want, want) {
            out.push(format!(
                "fullfsync={} checkpoint_fullfsync={} (expected {want} on this platform)",
                self.fullfsync.0, self.fullfsync.1
            ));
        }
        out
    }

    /// The settings in a line, e.g. `wal, synchronous FULL, foreign keys on, fullfsync
    /// off (not an Apple target)`.
    pub fn settings(&self) -> String {
        let sync = match self.synchronous {
            0 => "OFF",
            1 => "NORMAL",
            2 => "FULL",
            _ => "EXTRA",
        };
        let full = if self.fullfsync == (1, 1) {
            "on"
        } else {
            "off"
        };
        let why = if FULL_FSYNC {
            "Apple: F_FULLFSYNC"
        } else {
            "not an Apple target: fsync reaches the disk"
        };
        format!(
            "{}, synchronous {sync}, foreign keys {}, fullfsync {full} ({why})",
            self.journal_mode,
            if self.foreign_keys == 1 { "on" } else { "off" }
        )
    }
}

/// Why a database could not be examined.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// It could not be opened as the programs open it.
    #[error(transparent)]
    Open(#[from] crate::sqlite::SqliteError),
    /// A pragma failed.
    #[error("cannot read PRAGMA {pragma} of {}", .path.display())]
    Pragma {
        /// The pragma.
        pragma: &'static str,
        /// The database.
        path: std::path::PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
}

/// Opens the existing database at `path` as the programs do (WAL, synchronous FULL,
/// foreign keys, fullfsync on Apple: see [`crate::sqlite`]) and reads back its
/// integrity (`PRAGMA quick_check`, first 5 lines) and those settings. Nothing is
/// created; a database in another journal mode is switched to WAL, as a program
/// opening it would.
pub fn database_health(path: &Path) -> Result<(DatabaseHealth, rusqlite::Connection), HealthError> {
    let opts = OpenOptions {
        synchronous: Synchronous::Full,
        ..OpenOptions::default()
    };
    let conn = open_existing_connection(path, &opts)?;
    let err = |pragma: &'static str| {
        let path = path.to_path_buf();
        move |source| HealthError::Pragma {
            pragma,
            path,
            source,
        }
    };
    let quick: Vec<String> = {
        let mut stmt = conn
            .prepare("PRAGMA quick_check(5)")
            .map_err(err("quick_check"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(err("quick_check"))?;
        rows.collect::<Result<_, _>>().map_err(err("quick_check"))?
    };
    let int = |pragma: &'static str| -> Result<i64, HealthError> {
        conn.pragma_query_value(None, pragma, |r| r.get(0))
            .map_err(err(pragma))
    };
    let health = DatabaseHealth {
        quick_check: quick.join("; "),
        journal_mode: conn
            .pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0))
            .map_err(err("journal_mode"))?
            .to_lowercase(),
        synchronous: int("synchronous")?,
        foreign_keys: int("foreign_keys")?,
        fullfsync: (int("fullfsync")?, int("checkpoint_fullfsync")?),
    };
    Ok((health, conn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_fails_only_on_a_failure_and_says_what_to_do() {
        let mut r = Report::default();
        r.push(Check::ok("a", "fine"));
        r.push(Check::warn("b", "odd", "look at it"));
        assert!(!r.failed());
        assert!(r.to_string().ends_with("no failures, 1 warning(s)"));
        r.push(Check::fail("c", "broken", "mend it"));
        assert!(r.failed());
        let json = r.to_json();
        assert_eq!(json["ok"], false);
        assert_eq!(json["failures"], 1);
        assert_eq!(json["checks"][2]["status"], "fail");
        assert_eq!(json["checks"][2]["fix"], "mend it");
        assert_eq!(json["checks"][0]["fix"], serde_json::Value::Null);
        let text = r.to_string();
        assert!(text.contains("FAIL  c  broken"), "{text}");
        assert!(text.contains("fix: mend it"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_entry_makes_the_dir_fail() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        crate::fs::create_private_dir_all(&data.join("alpha")).unwrap();
        crate::json::write_bytes_atomic(&data.join("alpha/x.json"), b"{}").unwrap();
        assert_eq!(private_dir("data dir", &data).status, Status::Ok);
        std::fs::set_permissions(
            data.join("alpha/x.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let check = private_dir("data dir", &data);
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.detail.contains("x.json (mode 644)"),
            "{}",
            check.detail
        );
        assert!(check.fix.unwrap().contains("chmod -R go-rwx"));
        assert_eq!(
            private_dir("data dir", &dir.path().join("none")).status,
            Status::Fail
        );
    }

    #[test]
    fn free_space_below_the_minimum_fails() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(free_space(dir.path(), 1).status, Status::Ok);
        assert_eq!(free_space(dir.path(), u64::MAX).status, Status::Fail);
    }

    #[test]
    fn a_database_reads_back_the_settings_statekit_sets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        drop(crate::sqlite::open_connection(&path, &OpenOptions::default()).unwrap());
        let (health, _) = database_health(&path).unwrap();
        assert_eq!(health.quick_check, "ok");
        assert!(health.durability_problems().is_empty(), "{health:?}");
        assert!(health.settings().starts_with("wal, synchronous FULL"));
        assert!(database_health(&dir.path().join("missing.db")).is_err());
    }

    #[test]
    fn weaker_settings_are_each_named() {
        let want = i64::from(FULL_FSYNC);
        let good = DatabaseHealth {
            quick_check: "ok".into(),
            journal_mode: "wal".into(),
            synchronous: 2,
            foreign_keys: 1,
            fullfsync: (want, want),
        };
        assert!(good.durability_problems().is_empty());
        let weak = DatabaseHealth {
            journal_mode: "delete".into(),
            synchronous: 1,
            foreign_keys: 0,
            fullfsync: (1 - want, want),
            ..good
        };
        let problems = weak.durability_problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("journal mode delete"));
        assert!(problems[1].contains("synchronous=1"));
        assert!(problems[3].contains("fullfsync"));
    }

    #[test]
    fn the_descriptor_limit_is_read() {
        let (soft, _) = descriptor_limit();
        assert!(soft.is_none_or(|n| n > 0));
    }
}
