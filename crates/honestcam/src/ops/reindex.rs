//! `db-reindex`: throw a property's projection away and fold it again from the log.
//!
//! The projection (`action_state`, see [`crate::domain::projection`]) is a cache of
//! the log, kept in step with every append; this command is the way back when it is
//! in doubt (`db-status --verify` said it differs from the log, or a database was
//! edited by hand). The rebuild is one transaction of the property database's writer:
//! the portal's writes wait for it and are never folded twice or lost. A dry run opens
//! the database read-only and says how the stored projection differs now.

use statekit::plan::Plan;

use super::Run;
use crate::property::Slug;
use crate::storage::sqlite::connection::open_read_only;
use crate::storage::sqlite::projection_repo;
use crate::storage::{Backend, Storage, StoreError};

/// Plan line: events folded into the new projection.
pub const EVENTS_FOLDED: &str = "fold events into the projection";
/// Plan line: differences between the stored projection and the log, found before.
pub const DIFFERENCES: &str = "differences from the log found";

/// How many differences a plan lists.
const LISTED: usize = 10;

/// Rebuilds `slug`'s projection from its log (or, in a dry run, reports how it
/// differs). A property on the legacy JSON files has no projection: its plan says so
/// and changes nothing.
pub fn db_reindex(storage: &Storage, slug: &Slug, run: Run<'_>) -> Result<Plan, StoreError> {
    let mut plan = Plan::new(format!("db-reindex {slug}"), run.mode());
    let paths = storage.property(slug)?;
    let on_sqlite = match run {
        Run::Execute(lock) => storage.under(lock)?.backend() == Backend::Sqlite,
        Run::DryRun => storage.backend(&paths) == Backend::Sqlite,
    };
    if !on_sqlite {
        plan.note(format!(
            "property {slug} is on the legacy JSON files, which are folded as they are read: nothing to rebuild"
        ));
        return Ok(plan);
    }
    let conn = open_read_only(&paths.db())?;
    let differences = projection_repo::verify(&conn)?;
    let events = crate::storage::sqlite::compliance_repo::count_events(&conn)?;
    drop(conn);
    plan.push(DIFFERENCES, differences.len() as u64);
    for d in differences.iter().take(LISTED) {
        plan.note(d.clone());
    }
    if differences.len() > LISTED {
        plan.note(format!("... and {} more", differences.len() - LISTED));
    }
    match run {
        Run::DryRun => plan.push(EVENTS_FOLDED, events),
        Run::Execute(lock) => {
            let folded = storage.under(lock)?.rebuild_projection()?;
            plan.push(EVENTS_FOLDED, folded);
        }
    }
    Ok(plan)
}
