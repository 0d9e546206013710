//! Building a property's first database from its legacy log, under a staging name
//! (`statekit::staged`), while the log is read: one thread parses the log, gives each
//! event its id and checks it, the other loads the events into the staging database
//! (no journal, one transaction, indexes and triggers rebuilt once at the end). The
//! staging file is private until it is put in place, and removed on any error, so the
//! property's folder is unchanged unless the build succeeds.

use std::ops::ControlFlow;
use std::sync::mpsc;

use statekit::staged::{self, Staged};

use super::{Checks, ImportError};
use crate::domain::{Baseline, Projection};
use crate::ops::Progress;
use crate::property::PropertyPaths;
use crate::storage::Storage;
use crate::storage::legacy::{self, LegacyError, LegacyEventRef, LegacyIds};
use crate::storage::record::EventRecord;
use crate::storage::sqlite::compliance_repo;

/// Page cache of the staging connection (negative: KiB). Pages are written once, so a
/// large cache only delays writes; and the sorter that builds the indexes uses runs
/// of this size, which [`SORT_THREADS`] lets a second thread sort while the first
/// reads on (measured on 1,000,000 events: 0.3 s faster than one 256 MiB run).
const IMPORT_CACHE_KIB: i64 = -16_384;

/// Threads SQLite's sorter may use to build the indexes.
const SORT_THREADS: i64 = 2;

/// Events per batch handed from the parsing thread to the loading one.
const BATCH: usize = 4_096;

/// Batches in flight between the two threads (bounds the memory an import holds).
const BATCHES_IN_FLIGHT: usize = 8;

/// What the build loaded.
#[derive(Debug)]
pub(super) struct Built {
    /// Events loaded.
    pub(super) events: u64,
    /// The checks of every event.
    pub(super) checks: Checks,
}

/// Builds the property's database under a staging name from the legacy log, parsed
/// on one thread and loaded on this one. Nothing is live until the caller puts the
/// result in place.
pub(super) fn build_staged_db(
    storage: &Storage,
    paths: &PropertyPaths,
    baseline: &Baseline,
    progress: &dyn Progress,
) -> Result<(Staged, Built), ImportError> {
    staged::build(&paths.db(), |conn| {
        conn.pragma_update(None, "cache_size", IMPORT_CACHE_KIB)?;
        conn.pragma_update(None, "threads", SORT_THREADS)?;
        storage
            .databases()
            .property_migrations()
            .apply(conn)
            .map_err(crate::storage::sqlite::DbError::from)?;
        let tx = conn.transaction()?;
        let mut load = compliance_repo::BulkLoad::begin(&tx)?;
        let (checks, projection) = stream_log_into(&mut load, paths, baseline, progress)?;
        let events = load.finish(&projection)?;
        tx.commit()?;
        Ok(Built { events, checks })
    })
}

/// Events with their ids, handed from the thread that parses the log to the one that
/// loads it. A loaded batch goes back to be refilled, so its records' buffers are
/// reused.
#[derive(Debug, Default)]
struct Batch {
    /// The records; those from `len` on are spare buffers.
    records: Vec<EventRecord>,
    len: usize,
}

impl Batch {
    /// Fills the next record with `e`, keeping it only if no earlier event of the log
    /// had its id (an event written twice is loaded once).
    /// The event is folded into `projection` at the log position it will have (the
    /// count of events kept so far), as it is parsed already.
    fn push(
        &mut self,
        ids: &mut LegacyIds,
        checks: &mut Checks,
        projection: &mut Projection,
        e: LegacyEventRef<'_>,
    ) -> Result<(), legacy::IdConflict> {
        if self.len == self.records.len() {
            self.records.push(EventRecord::default());
        }
        let (change, reason) = checks.verdict(&e);
        if ids.fill(&mut self.records[self.len], e)? {
            let record = &self.records[self.len];
            checks.note(ids.position(), &record.event_id, reason);
            let seq = projection.position() + 1;
            match change {
                Some(change) => {
                    projection.apply(seq, &record.action_id, change, &record.actor, &record.at)
                }
                None => projection.cover(seq),
            }
            self.len += 1;
        }
        Ok(())
    }

    fn records(&self) -> &[EventRecord] {
        &self.records[..self.len]
    }
}

/// Parses the legacy log on a second thread, which also gives each event its id,
/// checks it and folds it into the projection, and pushes the events into `load` on this one, batch by batch. Either
/// side's failure stops both; a parse error is reported as such, with file and
/// position, and two events sharing an id but differing as an [`legacy::IdConflict`].
fn stream_log_into(
    load: &mut compliance_repo::BulkLoad<'_>,
    paths: &PropertyPaths,
    baseline: &Baseline,
    progress: &dyn Progress,
) -> Result<(Checks, Projection), ImportError> {
    let (to_loader, full) = mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
    let (to_parser, empty) = mpsc::channel::<Batch>();
    std::thread::scope(|s| {
        let parser = std::thread::Builder::new()
            .name("honestcam-import-parse".into())
            .spawn_scoped(s, move || {
                let mut ids = LegacyIds::default();
                let mut checks = Checks::new(baseline);
                let mut projection = Projection::new();
                let mut batch = Batch::default();
                let mut conflict = None;
                let scan = legacy::scan_log(paths, |e| {
                    if let Err(c) = batch.push(&mut ids, &mut checks, &mut projection, e) {
                        conflict = Some(c);
                        return ControlFlow::Break(());
                    }
                    if batch.len == BATCH {
                        let mut next = empty.try_recv().unwrap_or_default();
                        next.len = 0;
                        if to_loader.send(std::mem::replace(&mut batch, next)).is_err() {
                            // The loader failed, and reports why.
                            return ControlFlow::Break(());
                        }
                    }
                    ControlFlow::Continue(())
                });
                if batch.len > 0 && conflict.is_none() {
                    // Unread only if the loader failed.
                    let _ = to_loader.send(batch);
                }
                match (scan, conflict) {
                    (Err(e), _) => Err(ImportError::from(e)),
                    (Ok(_), Some(source)) => Err(LegacyError::IdConflict {
                        path: paths.legacy_log(),
                        source,
                    }
                    .into()),
                    (Ok(_), None) => Ok((checks, projection)),
                }
            })
            .map_err(|source| ImportError::Io {
                what: "cannot start a thread to read",
                path: paths.legacy_log(),
                source,
            })?;
        let mut loaded = Ok(());
        'batches: for batch in &full {
            for record in batch.records() {
                if let Err(e) = load.push(record) {
                    loaded = Err(e);
                    break 'batches;
                }
            }
            progress.update(load.loaded(), None);
            // Kill tests stop here: the staging database is half-loaded.
            crate::ops::pause_point("loading");
            // The parser may be done already; then the batch is simply dropped.
            let _ = to_parser.send(batch);
        }
        // Stops the parser if the loader gave up.
        drop(full);
        let parsed = match parser.join() {
            Ok(parsed) => parsed,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        // A parse error or a conflict is the cause; a load error then is its echo.
        let parsed = parsed?;
        loaded?;
        Ok(parsed)
    })
}
