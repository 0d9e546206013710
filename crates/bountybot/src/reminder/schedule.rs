//! The reminder scheduler inside `bountybot run`: a thread that runs a reminder pass
//! at start and then at the start of every minute. Each pass works out what is due
//! from stored state alone, so a missed or late tick only delays a digest, and a
//! restart after downtime sends the day's missed digest on its first pass.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use jiff::Timestamp;
use statekit::error::Chain;

use super::{DigestSender, PassOptions, Report, remind_pass};
use crate::domain::ChatId;
use crate::metrics::BotMetrics;
use crate::store::BountyStore;

/// The running scheduler; [`Scheduler::stop`] ends it.
#[derive(Debug)]
pub struct Scheduler {
    signal: Arc<StopSignal>,
    thread: JoinHandle<()>,
}

/// A flag a sleeping thread wakes up for.
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl StopSignal {
    /// Sets the flag and wakes the sleepers.
    pub fn stop(&self) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    /// The flag, for code that checks it between steps.
    pub fn flag(&self) -> &AtomicBool {
        &self.stopped
    }

    /// Sleeps `d` or until stopped; true when stopped.
    pub fn sleep(&self, d: Duration) -> bool {
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let (_guard, _) = self
            .wake
            .wait_timeout_while(guard, d, |()| !self.stopped.load(Ordering::SeqCst))
            .unwrap_or_else(PoisonError::into_inner);
        self.stopped.load(Ordering::SeqCst)
    }
}

impl Scheduler {
    /// Starts the scheduler thread: a pass now, then one at the start of each minute,
    /// each counted in `metrics`.
    pub fn start(
        store: Arc<dyn BountyStore>,
        sender: Box<dyn DigestSender + Send>,
        opts: PassOptions,
        metrics: BotMetrics,
    ) -> std::io::Result<Scheduler> {
        let signal = Arc::new(StopSignal::default());
        let thread = {
            let signal = Arc::clone(&signal);
            std::thread::Builder::new()
                .name("reminders".into())
                .spawn(move || {
                    let mut known = HashMap::new();
                    loop {
                        let now = Timestamp::now();
                        match remind_pass(
                            store.as_ref(),
                            now,
                            sender.as_ref(),
                            &opts,
                            signal.flag(),
                        ) {
                            Ok(report) => {
                                metrics.reminder_pass(true, report.sent.len());
                                log(&report, &mut known);
                            }
                            Err(e) => {
                                metrics.reminder_pass(false, 0);
                                tracing::error!("reminder pass failed: {}", Chain(&e));
                            }
                        }
                        if signal.sleep(until_next_minute(Timestamp::now())) {
                            return;
                        }
                    }
                })?
        };
        Ok(Scheduler { signal, thread })
    }

    /// Stops: the chats being served finish, no new one starts. Blocks until then.
    pub fn stop(self) {
        self.signal.stop();
        if self.thread.join().is_err() {
            tracing::error!("the reminder thread panicked");
        }
    }
}

/// From `now` to the start of the next minute (a full minute on the dot).
pub fn until_next_minute(now: Timestamp) -> Duration {
    let into = now.as_millisecond().rem_euclid(60_000);
    Duration::from_millis(u64::try_from(60_000 - into).unwrap_or(60_000))
}

/// Logs what a pass did: each digest, and a summary when anything happened. A chat's
/// error is logged when it first appears (or changes), not every minute; `known`
/// carries the errors already logged from pass to pass.
pub fn log(report: &Report, known: &mut HashMap<ChatId, String>) {
    for (chat, date, id) in &report.sent {
        tracing::info!(%chat, %date, message_id = id, "digest sent");
    }
    for (chat, date, why) in &report.failed {
        tracing::warn!(%chat, %date, "digest not sent ({why}); a later pass retries");
    }
    for (chat, date, why) in &report.dropped {
        tracing::warn!(%chat, %date, "digest dropped for the day: {why}");
    }
    for (chat, why) in &report.errors {
        if known.get(chat) != Some(why) {
            tracing::error!(%chat, "digest not sent: {why}");
        }
    }
    *known = report.errors.iter().cloned().collect();
    if !report.sent.is_empty() || !report.failed.is_empty() || !report.errors.is_empty() {
        tracing::info!(
            sent = report.sent.len(),
            empty = report.empty.len(),
            failed = report.failed.len() + report.errors.len(),
            "reminder pass done"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_tick_is_the_start_of_the_next_minute() {
        let t: Timestamp = "2026-03-29T06:59:59.250Z".parse().unwrap();
        assert_eq!(until_next_minute(t), Duration::from_millis(750));
        let t: Timestamp = "2026-03-29T07:00:00Z".parse().unwrap();
        assert_eq!(until_next_minute(t), Duration::from_secs(60));
    }

    #[test]
    fn a_stopped_signal_wakes_the_sleeper() {
        let signal = Arc::new(StopSignal::default());
        let s = Arc::clone(&signal);
        let sleeper = std::thread::spawn(move || s.sleep(Duration::from_secs(3600)));
        signal.stop();
        assert!(sleeper.join().unwrap());
        assert!(signal.sleep(Duration::from_secs(3600)));
    }
}
