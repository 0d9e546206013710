//! `honestcam db-rollback <slug>`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::migrate::rollback::db_rollback;

use super::{PlanFlags, open_storage, parse_slug, print_plan};

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

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let slug = parse_slug(&args.slug)?;
    let storage = open_storage(data)?;
    let plan = db_rollback(&storage, &slug, args.flags.mode())
        .with_context(|| format!("db-rollback {slug} in {}", data.path().display()))?;
    print_plan(&plan, args.flags.json);
    Ok(())
}
