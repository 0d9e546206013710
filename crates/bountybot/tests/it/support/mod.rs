//! Running the real binary against a temp data dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_bountybot");

pub struct Data {
    pub tmp: tempfile::TempDir,
    sqlite: std::cell::Cell<bool>,
}

impl Data {
    pub fn new() -> Data {
        Data {
            tmp: tempfile::tempdir().unwrap(),
            sqlite: std::cell::Cell::new(false),
        }
    }

    /// Makes the bot started on this data dir use SQLite.
    pub fn use_sqlite(&self) {
        self.sqlite.set(true);
    }

    /// `--storage sqlite` when asked for, else nothing.
    pub fn storage_args(&self) -> Vec<&'static str> {
        if self.sqlite.get() {
            vec!["--storage", "sqlite"]
        } else {
            Vec::new()
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("BOUNTYBOT_DATA_DIR", self.dir())
            .env_remove("BOUNTYBOT_USERNAME");
        c
    }

    /// `bountybot send`; returns stdout, asserting success.
    pub fn send(&self, chat: i64, user: i64, message: &str) -> String {
        let out = self
            .cmd()
            .args([
                "send",
                "--chat",
                &chat.to_string(),
                "--user",
                &user.to_string(),
                message,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `bountybot repl` fed `input` on a pipe.
    pub fn repl(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd()
            .arg("repl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
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

    pub fn json(&self, rel: &str) -> serde_json::Value {
        read_json(&self.dir().join(rel))
    }
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every regular file under `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(
                    e.path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

/// Ids of the bounties in a chat file.
pub fn ids(doc: &serde_json::Value) -> Vec<u64> {
    doc["bounties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_u64().unwrap())
        .collect()
}
pub mod fake_bot_api;
pub mod postgres;
