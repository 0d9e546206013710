//! Loading and saving a property's compliance log on either backend.
//!
//! The surface above (`load_compliance_log`, `save_compliance_log`) does not change
//! with the backend: SQLite when the property has a database, the legacy JSON log
//! otherwise. Saving appends only the events not stored yet (by `event_id`), so it is
//! safe to call with a whole log.

use std::collections::HashSet;

use statekit::lock::DirLock;

use super::model::{Baseline, Change, ComplianceLog, Event, new_event_id};
use crate::db::compliance_repo;
use crate::legacy;
use crate::property::{PropertyPaths, Slug};
use crate::storage::{Backend, Storage, StoreError};

/// The property's baseline actions.
pub fn load_baseline(
    storage: &Storage,
    slug: &Slug,
) -> Result<std::sync::Arc<Baseline>, StoreError> {
    storage.baseline(&storage.property(slug)?)
}

/// The property's whole compliance log, oldest first.
pub fn load_compliance_log(storage: &Storage, slug: &Slug) -> Result<ComplianceLog, StoreError> {
    let paths = storage.property(slug)?;
    let events = match storage.backend(&paths) {
        Backend::Sqlite => storage
            .property_db(&paths)?
            .read(compliance_repo::load_events)?,
        Backend::Json => legacy::read_log(&paths)?.unwrap_or_default().into_events(),
    };
    Ok(ComplianceLog { events })
}

/// Appends the events of `log` not stored yet; returns how many were new.
pub fn save_compliance_log(
    storage: &Storage,
    slug: &Slug,
    log: &ComplianceLog,
) -> Result<u64, StoreError> {
    let paths = storage.property(slug)?;
    append_events(storage, &paths, &log.events)
}

/// Records `change` to `action_id` by `actor` now, after checking that the action
/// exists; returns the stored event.
pub fn record_change(
    storage: &Storage,
    slug: &Slug,
    action_id: &str,
    change: &Change,
    actor: &str,
) -> Result<Event, StoreError> {
    let paths = storage.property(slug)?;
    if storage.baseline(&paths)?.action(action_id).is_none() {
        return Err(StoreError::UnknownAction {
            slug: slug.to_string(),
            action: action_id.to_string(),
        });
    }
    let (kind, payload) = change.to_wire();
    // Round-trip through the parser so a change that would not fold is never stored.
    super::model::Change::from_event(kind, &payload)?;
    let event = Event {
        event_id: new_event_id(),
        action_id: action_id.to_string(),
        kind: kind.to_string(),
        payload,
        actor: actor.to_string(),
        at: jiff::Timestamp::now().to_string(),
        extra: Default::default(),
    };
    append_events(storage, &paths, std::slice::from_ref(&event))?;
    Ok(event)
}

fn append_events(
    storage: &Storage,
    paths: &PropertyPaths,
    events: &[Event],
) -> Result<u64, StoreError> {
    match storage.backend(paths) {
        Backend::Sqlite => {
            let db = storage.property_db(paths)?;
            Ok(db.write(|conn| {
                let tx = conn.transaction()?;
                let n = compliance_repo::insert_events(&tx, events, |_| {})?;
                tx.commit()?;
                Ok::<_, StoreError>(n)
            })?)
        }
        Backend::Json => {
            let _lock = DirLock::acquire(&paths.dir)?;
            let mut log = ComplianceLog {
                events: legacy::read_log(paths)?.unwrap_or_default().into_events(),
            };
            let mut known: HashSet<String> =
                log.events.iter().map(|e| e.event_id.clone()).collect();
            let mut added = 0;
            for e in events {
                if known.insert(e.event_id.clone()) {
                    log.events.push(e.clone());
                    added += 1;
                }
            }
            if added > 0 {
                legacy::write_log(paths, &log)?;
            }
            Ok(added)
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.into())
    }
}
