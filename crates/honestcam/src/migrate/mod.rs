//! Moving a property between backends: [`import`] (legacy JSON to SQLite) and
//! [`rollback`] (SQLite back to legacy JSON). Both plan first and change nothing in
//! `--dry-run`; both are safe to re-run after a crash at any point.

pub mod import;
pub mod rollback;
mod staging;

/// Reports progress of long work.
pub trait Progress {
    /// Called now and then while items are processed: how many are done, and how many
    /// there are in all when that is known (an import that reads and loads the log at
    /// the same time learns the total only at the end).
    fn update(&self, done: u64, total: Option<u64>);
}

/// Ignores progress.
#[derive(Debug, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _done: u64, _total: Option<u64>) {}
}

/// Environment variable that makes an import or rollback abort (as a crash would)
/// right after the named step. For crash tests only.
pub const ABORT_AFTER_ENV: &str = "HONESTCAM_TEST_ABORT_AFTER";

/// Aborts the process if [`ABORT_AFTER_ENV`] names `step`.
pub(crate) fn crash_point(step: &str) {
    if std::env::var(ABORT_AFTER_ENV).is_ok_and(|v| v == step) {
        eprintln!("aborting after {step} ({ABORT_AFTER_ENV})");
        std::process::abort();
    }
}
