//! Operations on a data dir, on top of storage and the domain: the commands that
//! create ([`init`]), move between backends ([`import`], [`rollback`]), report on
//! ([`status`]), check a deployment ([`doctor`]), rebuild the projection ([`reindex`]), back up and restore ([`backup`]), keep the record of restore drills ([`drills`]) and fill ([`demo`]) a property's
//! storage.
//!
//! A command that changes a property runs under the property's exclusive lock
//! ([`crate::storage::Storage::lock_property`]), which the caller takes and hands in as
//! [`Run::Execute`]: so two commands never overlap on one property, and the portal's
//! reads and writes wait for the command instead of racing it. A dry run takes no lock
//! and opens databases read-only: it changes nothing, not even a lock file.

pub mod backup;
pub mod demo;
pub mod doctor;
pub mod drills;
pub mod import;
pub mod init;
pub mod reindex;
pub mod replica;
pub mod rollback;
pub mod snapshot;
pub mod status;
pub mod study_import;

use statekit::plan::Mode;

use crate::storage::ExclusiveLock;

/// Whether a command only reports, or changes the property it holds the lock of.
#[derive(Debug, Clone, Copy)]
pub enum Run<'a> {
    /// Report what would change; change nothing.
    DryRun,
    /// Make the changes, under this exclusive lock on the property.
    Execute(&'a ExclusiveLock),
}

impl Run<'_> {
    /// The plan mode.
    pub fn mode(&self) -> Mode {
        match self {
            Run::DryRun => Mode::DryRun,
            Run::Execute(_) => Mode::Execute,
        }
    }
}

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

pub(crate) fn crash_point(step: &str) {
    statekit::crash::crash_point(ABORT_AFTER_ENV, step);
}

/// Environment variable that makes an import stop at the named point (saying so on
/// stderr) until it is killed. For kill tests only.
pub const PAUSE_AT_ENV: &str = "HONESTCAM_TEST_PAUSE_AT";

pub(crate) fn pause_point(step: &str) {
    statekit::crash::pause_point(PAUSE_AT_ENV, step);
}

/// How many events that cannot apply a plan lists by position.
pub const LISTED_UNAPPLIABLE: usize = 5;
