//! `honestcam db-reindex <slug>`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::Run;
use honestcam::ops::reindex::db_reindex;

use super::{PlanFlags, lock_if_executing, open_storage, parse_slug, print_plan};

/// Rebuild a property's projection (each action's current state) and search index
/// (the words of its titles, notes and assignees), both kept beside the log, from its
/// event log.
///
/// Both are updated with every write and normally never need this; use it when
/// `db-status --verify` reports a difference, or after editing a database by hand. The
/// dry run (the default) says how each differs from the log now. With --execute each
/// rebuild is one transaction: the portal may keep running, its writes wait for it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Property slug.
    slug: String,
    #[command(flatten)]
    flags: PlanFlags,
}

impl Args {
    /// Whether the report (and an error) is wanted as JSON.
    pub fn wants_json(&self) -> bool {
        self.flags.json
    }
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let slug = parse_slug(&args.slug)?;
    let storage = open_storage(data)?;
    storage
        .property(&slug)
        .with_context(|| format!("db-reindex {slug}"))?;
    let lock = lock_if_executing(&storage, &slug, "db-reindex", &args.flags)?;
    let run = lock.as_ref().map_or(Run::DryRun, Run::Execute);
    let plan = db_reindex(&storage, &slug, run)
        .with_context(|| format!("db-reindex {slug} in {}", data.path().display()))?;
    print_plan(&plan, args.flags.json);
    Ok(())
}
