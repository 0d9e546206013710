//! The bot's counters, in Prometheus' text format (0.0.4): what `/metrics` on the
//! webhook listener shows ([`crate::telegram`] serves it; who may read it is
//! `statekit::scrape`'s rule). It knows no Telegram or storage type: the update
//! handler, the outbox and the reminder scheduler count into it.
//!
//! - `bountybot_updates_total{outcome}`: updates by outcome ([`UpdateOutcome`]);
//! - `bountybot_replies_queued_total`, `bountybot_replies_given_up_total{reason}`:
//!   replies handed to the outbox, and those never delivered (`attempts`: every
//!   attempt failed; `gone`: the bot cannot write to the chat any more; `refused`:
//!   Telegram refused the message);
//! - `bountybot_telegram_rate_limited_total`: Telegram's 429 answers (replies and
//!   digests);
//! - `bountybot_reminder_passes_total{result}`, `bountybot_digests_sent_total`.
//!
//! Every label's values are fixed here, so the number of series is bounded.
//!
//! ```
//! use bountybot::metrics::{BotMetrics, UpdateOutcome};
//!
//! let m = BotMetrics::new();
//! m.update(UpdateOutcome::Duplicate);
//! assert!(m.render().contains("bountybot_updates_total{outcome=\"duplicate\"} 1"));
//! ```

use prometheus::{Encoder, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

/// What became of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Processed: applied, answered, refused, or failed for good.
    Done,
    /// A failure that may pass: not confirmed, Telegram delivers it again.
    Retried,
    /// Not for the bot (an edit, a sticker, a bot's message, a role change...).
    Ignored,
    /// Delivered again after it was processed: nothing done twice.
    Duplicate,
}

impl UpdateOutcome {
    /// Every outcome, in label order.
    pub const ALL: [UpdateOutcome; 4] = [
        UpdateOutcome::Done,
        UpdateOutcome::Retried,
        UpdateOutcome::Ignored,
        UpdateOutcome::Duplicate,
    ];

    /// The `outcome` label's value.
    pub fn label(self) -> &'static str {
        match self {
            UpdateOutcome::Done => "done",
            UpdateOutcome::Retried => "retried",
            UpdateOutcome::Ignored => "ignored",
            UpdateOutcome::Duplicate => "duplicate",
        }
    }

    /// Whether the update is confirmed to Telegram (all but [`UpdateOutcome::Retried`]).
    pub fn confirmed(self) -> bool {
        self != UpdateOutcome::Retried
    }
}

/// Why a reply was never delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GivenUp {
    /// Every attempt failed.
    Attempts,
    /// The bot cannot write to the chat any more.
    Gone,
    /// Telegram refused the message.
    Refused,
}

impl GivenUp {
    fn label(self) -> &'static str {
        match self {
            GivenUp::Attempts => "attempts",
            GivenUp::Gone => "gone",
            GivenUp::Refused => "refused",
        }
    }
}

/// The bot's registry and counters. Counting is a few atomic adds.
#[derive(Debug, Clone)]
pub struct BotMetrics {
    registry: Registry,
    updates: IntCounterVec,
    replies_queued: IntCounter,
    replies_given_up: IntCounterVec,
    rate_limited: IntCounter,
    reminder_passes: IntCounterVec,
    digests_sent: IntCounter,
}

/// The definitions are constants: a failure is a bug every test of the bot meets first.
fn must<T>(made: prometheus::Result<T>) -> T {
    match made {
        Ok(m) => m,
        Err(e) => panic!("a bot metric is ill-defined: {e}"),
    }
}

impl Default for BotMetrics {
    fn default() -> BotMetrics {
        BotMetrics::new()
    }
}

impl BotMetrics {
    /// Every counter at zero, each label value present (so a rate is defined from the
    /// first scrape).
    pub fn new() -> BotMetrics {
        let m = BotMetrics {
            registry: Registry::new(),
            updates: must(IntCounterVec::new(
                Opts::new(
                    "bountybot_updates_total",
                    "Telegram updates handled, by outcome: done, retried (a storage failure that may pass; delivered again), ignored (not for the bot), duplicate (delivered again after it was processed).",
                ),
                &["outcome"],
            )),
            replies_queued: must(IntCounter::new(
                "bountybot_replies_queued_total",
                "Replies handed to the outbox to send.",
            )),
            replies_given_up: must(IntCounterVec::new(
                Opts::new(
                    "bountybot_replies_given_up_total",
                    "Replies never delivered, by reason: attempts (every attempt failed), gone (the bot cannot write to the chat), refused (Telegram refused the message).",
                ),
                &["reason"],
            )),
            rate_limited: must(IntCounter::new(
                "bountybot_telegram_rate_limited_total",
                "Telegram's 429 Too Many Requests answers to replies and digests.",
            )),
            reminder_passes: must(IntCounterVec::new(
                Opts::new(
                    "bountybot_reminder_passes_total",
                    "Reminder passes run, by result: ok, or failed (the store could not be read).",
                ),
                &["result"],
            )),
            digests_sent: must(IntCounter::new(
                "bountybot_digests_sent_total",
                "Daily digests sent.",
            )),
        };
        for o in UpdateOutcome::ALL {
            m.updates.with_label_values(&[o.label()]);
        }
        for g in [GivenUp::Attempts, GivenUp::Gone, GivenUp::Refused] {
            m.replies_given_up.with_label_values(&[g.label()]);
        }
        for r in ["ok", "failed"] {
            m.reminder_passes.with_label_values(&[r]);
        }
        let all: [Box<dyn prometheus::core::Collector>; 6] = [
            Box::new(m.updates.clone()),
            Box::new(m.replies_queued.clone()),
            Box::new(m.replies_given_up.clone()),
            Box::new(m.rate_limited.clone()),
            Box::new(m.reminder_passes.clone()),
            Box::new(m.digests_sent.clone()),
        ];
        for c in all {
            must(m.registry.register(c));
        }
        m
    }

    /// Counts an update.
    pub fn update(&self, outcome: UpdateOutcome) {
        self.updates.with_label_values(&[outcome.label()]).inc();
    }

    /// Counts a reply queued.
    pub fn reply_queued(&self) {
        self.replies_queued.inc();
    }

    /// Counts a reply given up.
    pub fn reply_given_up(&self, why: GivenUp) {
        self.replies_given_up
            .with_label_values(&[why.label()])
            .inc();
    }

    /// Counts a 429 from Telegram.
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Counts a reminder pass, and the digests it sent.
    pub fn reminder_pass(&self, ok: bool, digests_sent: usize) {
        self.reminder_passes
            .with_label_values(&[if ok { "ok" } else { "failed" }])
            .inc();
        self.digests_sent.inc_by(digests_sent as u64);
    }

    /// Every metric in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding counters into a Vec cannot fail but on a bug in the encoder.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!("cannot render the metrics: {e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_value_shows_from_the_start_and_counts_move() {
        let m = BotMetrics::new();
        let text = m.render();
        for o in UpdateOutcome::ALL {
            assert!(
                text.contains(&format!(
                    "bountybot_updates_total{{outcome=\"{}\"}} 0",
                    o.label()
                )),
                "{text}"
            );
        }
        m.update(UpdateOutcome::Done);
        m.update(UpdateOutcome::Done);
        m.reply_given_up(GivenUp::Gone);
        m.reminder_pass(true, 3);
        m.rate_limited();
        let text = m.render();
        for line in [
            "bountybot_updates_total{outcome=\"done\"} 2",
            "bountybot_replies_given_up_total{reason=\"gone\"} 1",
            "bountybot_reminder_passes_total{result=\"ok\"} 1",
            "bountybot_digests_sent_total 3",
            "bountybot_telegram_rate_limited_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
        assert!(!UpdateOutcome::Retried.confirmed() && UpdateOutcome::Duplicate.confirmed());
    }
}
