//! `db-reindex`: throw a property's projection and search index away and build them
//! again from the log.
//!
//! The projection (`action_state`, see [`crate::domain::projection`]) and the search
//! index (`search_index`, see `storage/sqlite/search_repo.rs`) are caches of the log,
//! kept in step with every append; this command is the way back when they are in
//! doubt (`db-status --verify` said one differs from the log, or a database was edited
//! by hand). Each rebuild is one transaction of the property database's writer: the
//! portal's writes wait for it and are never folded or indexed twice, nor lost. A dry
//! run opens the database read-only and says how each differs now.

use statekit::plan::Plan;

use super::Run;
use crate::property::Slug;
use crate::storage::sqlite::connection::open_read_only;
use crate::storage::sqlite::{projection_repo, search_repo};
use crate::storage::{Backend, Storage, StoreError};

/// Plan line: events folded into the new projection.
pub const EVENTS_FOLDED: &str = "fold events into the projection";
/// Plan line: differences between the stored projection and the log, found before.
pub const DIFFERENCES: &str = "differences from the log found";
/// Plan line: events read into the new search index (those that can add text).
pub const EVENTS_INDEXED: &str = "read notes and assignees into the search index";
/// Plan line: differences between the stored search index and the log, found before.
pub const SEARCH_DIFFERENCES: &str = "search index differences from the log found";

/// How many differences a plan lists.
const LISTED: usize = 10;

/// Rebuilds `slug`'s projection and search index from its log (or, in a dry run,
/// reports how they differ). A property on the legacy JSON files has neither: its
/// plan says so and changes nothing.
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
    // Counted to the end (the listing stops at LISTED, then says how many more).
    let search_differences = search_repo::verify(&conn, LISTED)?;
    let with_text = search_repo::count_indexable(&conn)?;
    drop(conn);
    plan.push(DIFFERENCES, differences.len() as u64);
    for d in differences.iter().take(LISTED) {
        plan.note(d.clone());
    }
    if differences.len() > LISTED {
        plan.note(format!("... and {} more", differences.len() - LISTED));
    }
    plan.push(
        SEARCH_DIFFERENCES,
        search_differences
            .iter()
            .filter(|d| !d.starts_with("... and "))
            .count() as u64,
    );
    for d in &search_differences {
        plan.note(format!("search index: {d}"));
    }
    match run {
        Run::DryRun => {
            plan.push(EVENTS_FOLDED, events);
            plan.push(EVENTS_INDEXED, with_text);
        }
        Run::Execute(lock) => {
            let store = storage.under(lock)?;
            plan.push(EVENTS_FOLDED, store.rebuild_projection()?);
            plan.push(EVENTS_INDEXED, store.rebuild_search()?);
        }
    }
    Ok(plan)
}
