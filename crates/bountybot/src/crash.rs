//! Crash points for the crash tests: the places where the bot, a reminder pass or a
//! storage move may be made to abort, as a crash would, right after a named step.
//!
//! One environment variable for the whole binary, read by [`statekit::crash`]; this
//! module owns only its name and the function the steps call, so that the telegram
//! front end, the reminder pass and the store's moves can all stop at a step without
//! using each other.

/// Environment variable making the binary abort (as a crash would) right after the
/// named step. The steps: processing an update `received`, `stored`, `sent`; a
/// reminder pass `digest-sent`; a storage move `written`, `staged`. For crash tests
/// only.
pub const ABORT_AFTER_ENV: &str = "BOUNTYBOT_TEST_ABORT_AFTER";

/// Aborts the process if [`ABORT_AFTER_ENV`] names `step`.
pub(crate) fn crash_point(step: &str) {
    statekit::crash::crash_point(ABORT_AFTER_ENV, step);
}
