//! The current state of each property's actions, kept folded between requests.
//!
//! A request for the state costs what happened since the last one, not the whole
//! history: on SQLite only events with a `seq` past the last one seen are read and
//! applied; on the legacy JSON backend the log is refolded only when its file changed.
//! A new baseline, a backend switch or a different database file (after a rollback
//! and re-migration) starts a fresh fold.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::{ActionState, Applied, Baseline, ComplianceState, Event};
use crate::property::Slug;
use crate::storage::{LogVersion, PropertyStore, StoreError};

#[derive(Debug)]
struct Snapshot {
    baseline: Arc<Baseline>,
    state: ComplianceState,
    version: LogVersion,
    /// Last position applied (SQLite `seq`).
    seq: i64,
    /// The state as handed out; rebuilt only after events were applied.
    view: Arc<Vec<ActionState>>,
}

/// Folded state per property, shared by request handlers.
#[derive(Debug, Default)]
pub struct Snapshots {
    inner: Mutex<HashMap<Slug, Arc<Mutex<Option<Snapshot>>>>>,
}

impl Snapshots {
    /// An empty cache.
    pub fn new() -> Snapshots {
        Snapshots::default()
    }

    /// The baseline and the current state of every action of the store's property,
    /// shared: callers take what they show instead of copying the whole state.
    pub fn current(
        &self,
        store: &PropertyStore<'_>,
    ) -> Result<(Arc<Baseline>, Arc<Vec<ActionState>>), StoreError> {
        let baseline = store.baseline()?;
        let slot = {
            let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(map.entry(store.slug().clone()).or_default())
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let version = store.log_version()?;
        let reusable = slot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(&s.baseline, &baseline) && s.version == version);
        let snapshot = match slot.as_mut() {
            Some(s) if reusable => s,
            _ => {
                let mut state = ComplianceState::from_baseline(&baseline);
                if let LogVersion::Json(_) = version {
                    for e in &store.events()? {
                        apply(&mut state, e);
                    }
                }
                slot.insert(Snapshot {
                    baseline: Arc::clone(&baseline),
                    view: Arc::new(state.actions().to_vec()),
                    state,
                    version,
                    seq: 0,
                })
            }
        };
        // On SQLite, apply what was appended since; a reused JSON snapshot is current.
        if let LogVersion::Sqlite(_) = snapshot.version {
            let new = store.events_after(snapshot.seq)?;
            for (seq, event) in &new {
                apply(&mut snapshot.state, event);
                snapshot.seq = *seq;
            }
            if !new.is_empty() {
                snapshot.view = Arc::new(snapshot.state.actions().to_vec());
            }
        }
        Ok((Arc::clone(&snapshot.baseline), Arc::clone(&snapshot.view)))
    }
}

fn apply(state: &mut ComplianceState, event: &Event) {
    if let Applied::Skipped(reason) = state.apply(event) {
        tracing::warn!(event_id = %event.event_id, kind = %event.kind, "skipping event: {reason}");
    }
}
