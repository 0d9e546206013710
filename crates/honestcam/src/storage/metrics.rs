//! What storage counts for `/metrics`: events appended, how long an acknowledged
//! write takes, each database writer's batches (sizes and commit times, heard through
//! `statekit`'s [`BatchObserver`]), and how long units of work wait for a property's
//! lock. Each [`super::Storage`] has its own; the portal registers them with its
//! registry (see `crate::web::metrics`). Nothing here knows HTTP or the text format.

use std::time::{Duration, Instant};

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, Opts};
use statekit::sqlite::group::BatchObserver;

use super::Backend;

/// Seconds buckets for waits and writes: 100 µs to 10 s.
const SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

/// Units per batch: the writer's bound is 256 by default.
const UNITS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Which lock a unit of work waited for.
#[derive(Debug, Clone, Copy)]
pub enum LockKind {
    /// A property's lock, shared (reads, and writes on SQLite).
    PropertyShared,
    /// A property's lock, exclusive for one write (the JSON files).
    PropertyExclusive,
}

impl LockKind {
    fn label(self) -> &'static str {
        match self {
            LockKind::PropertyShared => "property_shared",
            LockKind::PropertyExclusive => "property_exclusive",
        }
    }
}

/// Storage's counters and histograms.
#[derive(Debug, Clone)]
pub struct StorageMetrics {
    /// `honestcam_events_appended_total`.
    pub events_appended: IntCounter,
    /// `honestcam_durable_write_seconds{backend}`.
    pub durable_write: HistogramVec,
    /// `honestcam_group_commit_batch_units`.
    pub batch_units: Histogram,
    /// `honestcam_group_commit_seconds`.
    pub batch_seconds: Histogram,
    /// `honestcam_group_commit_failures_total`.
    pub batch_failures: IntCounter,
    /// `honestcam_lock_wait_seconds{lock}`.
    pub lock_wait: HistogramVec,
}

/// The metric names, help texts and buckets are constants: a failure here is a bug
/// caught by every test that opens storage.
fn must<T>(made: prometheus::Result<T>) -> T {
    match made {
        Ok(m) => m,
        Err(e) => panic!("a storage metric is ill-defined: {e}"),
    }
}

impl Default for StorageMetrics {
    fn default() -> Self {
        StorageMetrics {
            events_appended: must(IntCounter::new(
                "honestcam_events_appended_total",
                "Compliance events appended to the properties' logs.",
            )),
            durable_write: must(HistogramVec::new(
                HistogramOpts::new(
                    "honestcam_durable_write_seconds",
                    "Time to append events durably (the write a request waits for before it is acknowledged), by backend.",
                )
                .buckets(SECONDS.to_vec()),
                &["backend"],
            )),
            batch_units: must(Histogram::with_opts(
                HistogramOpts::new(
                    "honestcam_group_commit_batch_units",
                    "Units of work committed per transaction by the databases' group-commit writers.",
                )
                .buckets(UNITS.to_vec()),
            )),
            batch_seconds: must(Histogram::with_opts(
                HistogramOpts::new(
                    "honestcam_group_commit_seconds",
                    "Time from BEGIN to the end of COMMIT (its sync included) of a group-commit batch.",
                )
                .buckets(SECONDS.to_vec()),
            )),
            batch_failures: must(IntCounter::with_opts(Opts::new(
                "honestcam_group_commit_failures_total",
                "Group-commit batches whose transaction failed (BEGIN, a savepoint or COMMIT).",
            ))),
            lock_wait: must(HistogramVec::new(
                HistogramOpts::new(
                    "honestcam_lock_wait_seconds",
                    "Time units of work waited for a property's lock, by kind of hold.",
                )
                .buckets(SECONDS.to_vec()),
                &["lock"],
            )),
        }
    }
}

impl StorageMetrics {
    /// Every metric, to register with a registry.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.events_appended.clone()),
            Box::new(self.durable_write.clone()),
            Box::new(self.batch_units.clone()),
            Box::new(self.batch_seconds.clone()),
            Box::new(self.batch_failures.clone()),
            Box::new(self.lock_wait.clone()),
        ]
    }

    /// Runs `take` (which takes a lock of `kind`) and records how long it took.
    pub(super) fn waiting<T>(&self, kind: LockKind, take: impl FnOnce() -> T) -> T {
        let began = Instant::now();
        let held = take();
        self.lock_wait
            .with_label_values(&[kind.label()])
            .observe(began.elapsed().as_secs_f64());
        held
    }

    /// Records a durable append of `appended` new events on `backend` that took
    /// `elapsed`.
    pub(super) fn appended(&self, backend: Backend, appended: u64, elapsed: Duration) {
        self.durable_write
            .with_label_values(&[backend.name()])
            .observe(elapsed.as_secs_f64());
        self.events_appended.inc_by(appended);
    }
}

impl BatchObserver for StorageMetrics {
    fn batch_ended(&self, units: usize, committed: bool, elapsed: Duration) {
        self.batch_units.observe(units as f64);
        self.batch_seconds.observe(elapsed.as_secs_f64());
        if !committed {
            self.batch_failures.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_and_waits_are_counted() {
        let m = StorageMetrics::default();
        m.batch_ended(3, true, Duration::from_millis(2));
        m.batch_ended(1, false, Duration::from_millis(1));
        assert_eq!(m.batch_units.get_sample_count(), 2);
        assert!((m.batch_units.get_sample_sum() - 4.0).abs() < f64::EPSILON);
        assert_eq!(m.batch_failures.get(), 1);
        let got = m.waiting(LockKind::PropertyShared, || 7);
        assert_eq!(got, 7);
        let shared = m.lock_wait.with_label_values(&["property_shared"]);
        assert_eq!(shared.get_sample_count(), 1);
        m.appended(Backend::Sqlite, 2, Duration::from_millis(3));
        assert_eq!(m.events_appended.get(), 2);
    }
}
