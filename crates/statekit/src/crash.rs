//! Crash and pause points for tests. At a crash point a process aborts, as a crash
//! would, right after a named step when an environment variable names that step; at a
//! pause point it says so on stderr and stops there until it is killed, so a test can
//! kill it at a known place in the middle of long work instead of racing it. Each
//! application picks its own variables (`HONESTCAM_TEST_ABORT_AFTER`,
//! `BOUNTYBOT_TEST_ABORT_AFTER`...), so tests can stop a real binary between two
//! writes and check that a re-run finishes the job.

/// Aborts the process if the environment variable `var` equals `step`.
pub fn crash_point(var: &str, step: &str) {
    if std::env::var(var).is_ok_and(|v| v == step) {
        eprintln!("aborting after {step} ({var})");
        std::process::abort();
    }
}

/// If the environment variable `var` equals `step`: prints `paused at {step}` on
/// stderr and waits until the process is killed.
pub fn pause_point(var: &str, step: &str) {
    if std::env::var(var).is_ok_and(|v| v == step) {
        eprintln!("paused at {step} ({var})");
        loop {
            std::thread::park();
        }
    }
}
