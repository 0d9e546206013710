//! `honestcam db-rollback <slug>`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::rollback::db_rollback;

use honestcam::ops::Run;

use super::{PlanFlags, lock_if_executing, open_storage, parse_slug, print_plan};

/// Put a property back on the legacy JSON files.
///
/// Exports the database's current state (events, study users, progress) to the legacy
/// JSON layout, then moves honestcam.db aside to {data}/{slug}/_rollback/{UTC
/// timestamp}/. The portal then runs on JSON. A later db-migrate imports everything
/// back with nothing lost or duplicated.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Property slug (lowercase letters, digits and '-').
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
    // An unknown property is refused before the lock creates a folder for it.
    storage
        .property(&slug)
        .with_context(|| format!("db-rollback {slug} in {}", data.path().display()))?;
    let lock = lock_if_executing(&storage, &slug, "db-rollback", &args.flags)?;
    let run = lock.as_ref().map_or(Run::DryRun, Run::Execute);
    let plan = db_rollback(&storage, &slug, run)
        .with_context(|| format!("db-rollback {slug} in {}", data.path().display()))?;
    print_plan(&plan, args.flags.json);
    Ok(())
}
