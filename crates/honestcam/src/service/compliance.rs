//! Recording changes to compliance actions, and reading and appending a property's log,
//! on whichever backend it is on.

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::domain::{
    ActionState, BaselineAction, Change, Event, PayloadError, action_state, history,
};
use crate::property::Slug;
use crate::storage::{Storage, StoreError};

/// Why a change was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The action is not in the property's baseline.
    #[error("property {slug} has no action {action:?}")]
    UnknownAction {
        /// The property.
        slug: Slug,
        /// The action id asked for.
        action: String,
    },
    /// The change is not valid.
    #[error(transparent)]
    Invalid(#[from] PayloadError),
    /// The change would change nothing (asked with [`Unchanged::Skip`]).
    #[error("action {0:?} already has that value")]
    Unchanged(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A fresh, unique event id for an event created now.
pub fn new_event_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = jiff::Timestamp::now().as_nanosecond();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = format!("{now}:{}:{n}", std::process::id());
    let digest = Sha256::digest(seed.as_bytes());
    let mut id = String::from("ev-");
    for b in &digest[..12] {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// The property's whole compliance log, oldest first.
pub fn load_events(storage: &Storage, slug: &Slug) -> Result<Vec<Event>, StoreError> {
    storage.read(slug)?.events()
}

/// Appends the events not stored yet (by `event_id`), in one unit; returns how many
/// were new. Safe to call with a whole log.
pub fn save_events(storage: &Storage, slug: &Slug, events: &[Event]) -> Result<u64, StoreError> {
    storage.write(slug)?.append(events)
}

/// What [`record_changes`] does with a change that would change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// Record it anyway (the API: the caller asked for that event).
    Record,
    /// Leave it out (a form submitted with the current values).
    Skip,
}

/// Records `changes` to `action_id` by `actor` now, after checking that the action
/// exists and every change is valid (all or nothing); returns the events stored, which
/// may be none when `unchanged` is [`Unchanged::Skip`]. Comparing with the action's
/// current state and appending are one unit of work (see
/// [`crate::storage::PropertyStore::append_for_action`]): two equal changes submitted at
/// once store one event, and the events of one call are stored together or not at all.
pub fn record_changes(
    storage: &Storage,
    slug: &Slug,
    action_id: &str,
    changes: &[Change],
    actor: &str,
    unchanged: Unchanged,
) -> Result<Vec<Event>, ChangeError> {
    let store = storage.write(slug)?;
    let baseline = store.baseline()?;
    let Some(action) = baseline.action(action_id) else {
        return Err(ChangeError::UnknownAction {
            slug: slug.clone(),
            action: action_id.to_string(),
        });
    };
    let mut wire = Vec::with_capacity(changes.len());
    for change in changes {
        change.check_new()?;
        let (kind, payload) = change.to_wire();
        // Round-trip through the parser so a change that would not fold is never stored.
        Change::from_event(kind, &payload)?;
        wire.push((change, kind, payload));
    }
    let at = jiff::Timestamp::now().to_string();
    let to_event = |(_, kind, payload): (&Change, &str, serde_json::Value)| Event {
        event_id: new_event_id(),
        action_id: action_id.to_string(),
        kind: kind.to_string(),
        payload,
        actor: actor.to_string(),
        at: at.clone(),
        extra: Default::default(),
    };
    if unchanged == Unchanged::Record {
        // Nothing to compare with: no need to read the action's events.
        let events: Vec<Event> = wire.into_iter().map(to_event).collect();
        if !events.is_empty() {
            store.append(&events)?;
        }
        return Ok(events);
    }
    // The comparison runs inside the unit of work (on the database's writer thread),
    // so it owns what it needs: the action and every candidate event.
    let candidates: Vec<(Change, Event)> = wire
        .into_iter()
        .map(|w| (w.0.clone(), to_event(w)))
        .collect();
    let action = action.clone();
    let stored = store.append_for_action(action_id, move |prior| {
        let current = prior.state(&action);
        let events: Vec<Event> = candidates
            .into_iter()
            .filter(|(change, _)| current.would_change(change))
            .map(|(_, event)| event)
            .collect();
        Ok::<_, std::convert::Infallible>(events)
    })?;
    Ok(stored.unwrap_or_else(|never| match never {}))
}

/// Records one change, whatever the current value (see [`record_changes`]); returns
/// the stored event.
pub fn record_change(
    storage: &Storage,
    slug: &Slug,
    action_id: &str,
    change: &Change,
    actor: &str,
) -> Result<Event, ChangeError> {
    let changes = std::slice::from_ref(change);
    record_changes(storage, slug, action_id, changes, actor, Unchanged::Record)?
        .pop()
        .ok_or_else(|| ChangeError::Unchanged(action_id.to_string()))
}

/// An action as it stands and its history, read in one go: its baseline entry, its
/// current state and its events, oldest first.
#[derive(Debug, Clone)]
pub struct ActionRecord {
    /// The property's name.
    pub property_name: String,
    /// The action as ingest listed it.
    pub baseline: BaselineAction,
    /// Its current state.
    pub state: ActionState,
    /// What each of its events did, oldest first.
    pub history: Vec<history::Entry>,
}

/// The action `action_id` of the property, with its history; `Ok(None)` when the
/// baseline does not list it.
pub fn action_record(
    storage: &Storage,
    slug: &Slug,
    action_id: &str,
) -> Result<Option<ActionRecord>, StoreError> {
    let store = storage.read(slug)?;
    let baseline = store.baseline()?;
    let Some(action) = baseline.action(action_id) else {
        return Ok(None);
    };
    let events = store.action_events(action_id)?;
    Ok(Some(ActionRecord {
        property_name: baseline.property.name.clone(),
        state: action_state(action, &events),
        history: history::history(action, &events),
        baseline: action.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_event_ids_are_unique() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| new_event_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
