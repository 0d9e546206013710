//! Crash points for tests: a process aborts, as a crash would, right after a named
//! step when an environment variable names that step. Each application picks its own
//! variable (`HONESTCAM_TEST_ABORT_AFTER`, `BOUNTYBOT_TEST_ABORT_AFTER`), so tests can
//! stop a real binary between two writes and check that a re-run finishes the job.

/// Aborts the process if the environment variable `var` equals `step`.
pub fn crash_point(var: &str, step: &str) {
    if std::env::var(var).is_ok_and(|v| v == step) {
        eprintln!("aborting after {step} ({var})");
        std::process::abort();
    }
}
