//! The current state of each property's actions, kept between requests.
//!
//! Two views, each kept per property:
//!
//! - [`Snapshots::current`], what a property's page shows: on SQLite read from the
//!   projection (one row per action, with its latest notes and a count of all), again
//!   only when the projection moved on; so neither a first visit nor a visit after
//!   eviction reads the history. On the legacy JSON backend it is the fold below.
//! - [`Snapshots::folded`], every event folded over the baseline, every note kept:
//!   what a search over notes and the API's list of actions need. A request for it
//!   costs what happened since the last one, not the whole history: on SQLite only
//!   events with a `seq` past the last one seen are read and applied; on the legacy
//!   JSON backend the log is refolded only when its file changed.
//!
//! A new baseline, a backend switch or a different database file (after a rollback
//! and re-migration) starts afresh. At most [`Snapshots::capacity`] properties are
//! kept in each view ([`SNAPSHOTS_KEPT`] by default): one more drops the least recently
//! used, which is read afresh when asked for again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::{ActionChanges, ActionState, Applied, Baseline, ComplianceState, Event};
use crate::property::Slug;
use crate::storage::{LogVersion, PropertyStore, StoreError};

/// A property's fold of every event.
#[derive(Debug)]
struct Folded {
    baseline: Arc<Baseline>,
    state: ComplianceState,
    version: LogVersion,
    /// Last position applied (SQLite `seq`).
    seq: i64,
    /// The state as handed out; rebuilt only after events were applied.
    view: Arc<Vec<ActionState>>,
}

/// A property's state as its projection gave it (SQLite only).
#[derive(Debug)]
struct Projected {
    baseline: Arc<Baseline>,
    version: LogVersion,
    /// The log position the projection covered.
    position: i64,
    view: Arc<Vec<ActionState>>,
}

/// Most properties [`Snapshots::new`] keeps in each view.
pub const SNAPSHOTS_KEPT: usize = 128;

/// States per property, shared by request handlers; bounded (see the module docs).
#[derive(Debug)]
pub struct Snapshots {
    folded: Kept<Folded>,
    projected: Kept<Projected>,
}

impl Default for Snapshots {
    fn default() -> Self {
        Snapshots::with_capacity(SNAPSHOTS_KEPT)
    }
}

impl Snapshots {
    /// An empty cache keeping at most [`SNAPSHOTS_KEPT`] properties per view.
    pub fn new() -> Snapshots {
        Snapshots::default()
    }

    /// An empty cache keeping at most `capacity` properties per view (at least 1).
    pub fn with_capacity(capacity: usize) -> Snapshots {
        Snapshots {
            folded: Kept::new(capacity),
            projected: Kept::new(capacity),
        }
    }

    /// Most properties kept per view.
    pub fn capacity(&self) -> usize {
        self.folded.capacity
    }

    /// How many properties are kept folded now.
    pub fn len(&self) -> usize {
        self.folded.len()
    }

    /// Whether no property is kept folded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `slug` is kept folded now.
    pub fn holds(&self, slug: &Slug) -> bool {
        self.folded.holds(slug)
    }

    /// The baseline and the current state of every action of the store's property,
    /// shared (callers take what they show instead of copying the whole state), as a
    /// page shows it: each action's latest notes at least
    /// ([`crate::domain::projection::KEPT_NOTES`]; `note_count` counts them all).
    pub fn current(
        &self,
        store: &PropertyStore<'_>,
    ) -> Result<(Arc<Baseline>, Arc<Vec<ActionState>>), StoreError> {
        let version = store.log_version()?;
        if !version.appends_in_place() {
            return self.folded(store);
        }
        let baseline = store.baseline()?;
        let position = store.projection_position()?;
        let slot = self.projected.slot(store.slug());
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = slot.as_ref()
            && Arc::ptr_eq(&p.baseline, &baseline)
            && p.version == version
            && p.position == position
        {
            return Ok((Arc::clone(&p.baseline), Arc::clone(&p.view)));
        }
        // Read in the same unit as its position, so the two agree.
        let projection = store.projection()?;
        let none = ActionChanges::default();
        let view: Vec<ActionState> = baseline
            .actions
            .iter()
            .map(|a| projection.action(&a.id).unwrap_or(&none).state(a))
            .collect();
        let p = slot.insert(Projected {
            baseline,
            version,
            position: projection.position(),
            view: Arc::new(view),
        });
        Ok((Arc::clone(&p.baseline), Arc::clone(&p.view)))
    }

    /// The baseline and the state of every action with every note: every event folded.
    pub fn folded(
        &self,
        store: &PropertyStore<'_>,
    ) -> Result<(Arc<Baseline>, Arc<Vec<ActionState>>), StoreError> {
        let baseline = store.baseline()?;
        let slot = self.folded.slot(store.slug());
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let version = store.log_version()?;
        let reusable = slot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(&s.baseline, &baseline) && s.version == version);
        let snapshot = match slot.as_mut() {
            Some(s) if reusable => s,
            _ => {
                let mut state = ComplianceState::from_baseline(&baseline);
                if !version.appends_in_place() {
                    for e in &store.events()? {
                        apply(&mut state, e);
                    }
                }
                slot.insert(Folded {
                    baseline: Arc::clone(&baseline),
                    view: Arc::new(state.actions().to_vec()),
                    state,
                    version,
                    seq: 0,
                })
            }
        };
        // A log that grows in place (SQLite): apply what was appended since. A reused
        // snapshot of a log rewritten whole (JSON) is current.
        if snapshot.version.appends_in_place() {
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

type Slot<T> = Arc<Mutex<Option<T>>>;

/// One view's slots, by property, least recently used dropped beyond `capacity`.
#[derive(Debug)]
struct Kept<T> {
    inner: Mutex<Slots<T>>,
    capacity: usize,
}

#[derive(Debug)]
struct Slots<T> {
    /// Each property's slot and when it was last used.
    by_slug: HashMap<Slug, (Slot<T>, u64)>,
    clock: u64,
}

impl<T> Kept<T> {
    fn new(capacity: usize) -> Kept<T> {
        Kept {
            inner: Mutex::new(Slots {
                by_slug: HashMap::new(),
                clock: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_slug
            .len()
    }

    fn holds(&self, slug: &Slug) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_slug
            .contains_key(slug)
    }

    /// The property's slot, made if missing (dropping the least recently used slot
    /// beyond the capacity; a request using it goes on with its own handle).
    fn slot(&self, slug: &Slug) -> Slot<T> {
        let mut slots = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        slots.clock += 1;
        let clock = slots.clock;
        if let Some((slot, used)) = slots.by_slug.get_mut(slug) {
            *used = clock;
            return Arc::clone(slot);
        }
        let slot: Slot<T> = Arc::new(Mutex::new(None));
        slots
            .by_slug
            .insert(slug.clone(), (Arc::clone(&slot), clock));
        if slots.by_slug.len() > self.capacity
            && let Some(oldest) = slots
                .by_slug
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(slug, _)| slug.clone())
        {
            slots.by_slug.remove(&oldest);
        }
        slot
    }
}

fn apply(state: &mut ComplianceState, event: &Event) {
    if let Applied::Skipped(reason) = state.apply(event) {
        tracing::warn!(event_id = %event.event_id, kind = %event.kind, "skipping event: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DataDir;
    use crate::ops::demo::{DemoOptions, write_demo};
    use crate::storage::Storage;

    #[test]
    fn at_most_capacity_properties_are_kept_the_least_recently_used_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let slugs: Vec<Slug> = ["a", "b", "c"]
            .iter()
            .map(|s| Slug::parse(s).unwrap())
            .collect();
        for slug in &slugs {
            let opts = DemoOptions::dated(jiff::civil::date(2026, 4, 10));
            write_demo(&data.property(slug), slug.as_str(), &opts).unwrap();
        }
        let storage = Storage::open(data, statekit::sqlite::OpenOptions::default()).unwrap();
        let snapshots = Snapshots::with_capacity(2);
        let fold = |slug: &Slug| {
            let store = storage.read(slug).unwrap();
            let (baseline, actions) = snapshots.folded(&store).unwrap();
            assert_eq!(baseline.property.name, slug.as_str());
            assert!(!actions.is_empty());
        };
        fold(&slugs[0]);
        fold(&slugs[1]);
        fold(&slugs[0]);
        fold(&slugs[2]);
        assert_eq!(snapshots.len(), 2);
        assert!(snapshots.holds(&slugs[0]), "used last but one: kept");
        assert!(!snapshots.holds(&slugs[1]), "least recently used: dropped");
        assert!(snapshots.holds(&slugs[2]));
        // A dropped property is folded afresh when asked for again.
        fold(&slugs[1]);
        assert!(snapshots.holds(&slugs[1]) && !snapshots.holds(&slugs[0]));
    }
}
