//! The current state of each property's actions, kept folded between requests.
//!
//! A request for the state costs what happened since the last one, not the whole
//! history: on SQLite only events with a `seq` past the last one seen are read and
//! applied; on the legacy JSON backend the log is refolded only when its file changed.
//! A new baseline, a backend switch or a different database file (after a rollback
//! and re-migration) starts a fresh fold.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use super::events::ComplianceState;
use super::model::{ActionState, Baseline};
use crate::db::compliance_repo;
use crate::legacy;
use crate::property::{PropertyPaths, Slug};
use crate::storage::{Storage, StoreError};

/// Where the fold stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    /// Database identified by (device, inode), last `seq` applied.
    Sqlite { file: (u64, u64), seq: i64 },
    /// Legacy log identified by (modified time, length); `None` when absent.
    Json(Option<(SystemTime, u64)>),
}

#[derive(Debug)]
struct Snapshot {
    baseline: Arc<Baseline>,
    state: ComplianceState,
    position: Position,
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

    /// The baseline and the current state of every action of `slug`, shared: callers
    /// take what they show instead of copying the whole state.
    pub fn current(
        &self,
        storage: &Storage,
        slug: &Slug,
    ) -> Result<(Arc<Baseline>, Arc<Vec<ActionState>>), StoreError> {
        let paths = storage.property(slug)?;
        let baseline = storage.baseline(&paths)?;
        let slot = {
            let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(map.entry(slug.clone()).or_default())
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let position = position_of(storage, &paths)?;
        let reusable = slot.as_ref().is_some_and(|s| {
            Arc::ptr_eq(&s.baseline, &baseline)
                && match (&s.position, &position) {
                    (Position::Sqlite { file: a, .. }, Position::Sqlite { file: b, .. }) => a == b,
                    (Position::Json(a), Position::Json(b)) => a == b,
                    _ => false,
                }
        });
        if !reusable {
            let mut state = ComplianceState::from_baseline(&baseline);
            if let Position::Json(_) = position {
                for e in &legacy::read_log(&paths)?.unwrap_or_default().into_events() {
                    state.apply(e);
                }
            }
            *slot = Some(Snapshot {
                baseline: Arc::clone(&baseline),
                view: Arc::new(state.actions().to_vec()),
                state,
                position: position.clone(),
            });
        }
        let Some(snapshot) = slot.as_mut() else {
            unreachable!("snapshot was just filled");
        };
        // On SQLite, apply what was appended since; a reused JSON snapshot is current.
        if let Position::Sqlite { seq, .. } = &mut snapshot.position {
            let db = storage.property_db(&paths)?;
            let new = db.read(|c| compliance_repo::load_events_after(c, *seq))?;
            for (s, event) in &new {
                snapshot.state.apply(event);
                *seq = *s;
            }
            if !new.is_empty() {
                snapshot.view = Arc::new(snapshot.state.actions().to_vec());
            }
        }
        Ok((Arc::clone(&snapshot.baseline), Arc::clone(&snapshot.view)))
    }
}

fn position_of(storage: &Storage, paths: &PropertyPaths) -> Result<Position, StoreError> {
    if storage.backend(paths) == crate::storage::Backend::Sqlite {
        let meta = std::fs::metadata(paths.db()).map_err(|source| io(paths, source))?;
        return Ok(Position::Sqlite {
            file: (meta.dev(), meta.ino()),
            seq: 0,
        });
    }
    Ok(Position::Json(
        match std::fs::metadata(paths.legacy_log()) {
            Ok(m) => Some((m.modified().map_err(|source| io(paths, source))?, m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(io(paths, source)),
        },
    ))
}

fn io(paths: &PropertyPaths, source: std::io::Error) -> StoreError {
    StoreError::Legacy(legacy::LegacyError::Io {
        path: paths.dir.clone(),
        source,
    })
}
