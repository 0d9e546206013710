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

/// Environment variable arming injected storage failures, for tests: a comma-separated
/// list of `step:chat` (e.g. `add:-4300200`; the steps: `add`, `update`); each entry
/// makes the named store step fail once for that chat, with a failure that passes ([`arm_failure`] does the same
/// from a test in the same process).
pub const FAIL_ONCE_ENV: &str = "BOUNTYBOT_TEST_FAIL_ONCE";

/// The armed failures, seeded from [`FAIL_ONCE_ENV`] on first use.
fn armed() -> &'static std::sync::Mutex<Vec<(String, i64)>> {
    static ARMED: std::sync::OnceLock<std::sync::Mutex<Vec<(String, i64)>>> =
        std::sync::OnceLock::new();
    ARMED.get_or_init(|| {
        let spec = std::env::var(FAIL_ONCE_ENV).unwrap_or_default();
        let entries = spec
            .split(',')
            .filter_map(|e| {
                let (step, chat) = e.trim().split_once(':')?;
                Some((step.to_string(), chat.parse().ok()?))
            })
            .collect();
        std::sync::Mutex::new(entries)
    })
}

/// Makes the store step `step` fail once for chat `chat` (tests only).
#[doc(hidden)]
pub fn arm_failure(step: &str, chat: i64) {
    EVER_ARMED.store(true, std::sync::atomic::Ordering::SeqCst);
    armed()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((step.to_string(), chat));
}

/// Whether any failure was ever armed: the usual answer, without a lock.
static EVER_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether an armed failure of `step` for `chat` is due now; it is used up.
pub(crate) fn failure_due(step: &str, chat: i64) -> bool {
    use std::sync::atomic::Ordering;
    static CHECKED_ENV: std::sync::Once = std::sync::Once::new();
    CHECKED_ENV.call_once(|| {
        if std::env::var_os(FAIL_ONCE_ENV).is_some() {
            EVER_ARMED.store(true, Ordering::SeqCst);
        }
    });
    if !EVER_ARMED.load(Ordering::Acquire) {
        return false;
    }
    let mut armed = armed()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match armed.iter().position(|(s, c)| s == step && *c == chat) {
        Some(i) => {
            armed.swap_remove(i);
            true
        }
        None => false,
    }
}
