//! `honestcam db-init <slug>`.

use anyhow::Context;
use honestcam::admin;
use honestcam::config::DataDir;

use super::{PlanFlags, open_storage, parse_slug, print_plan};

/// Create a property's database and the global study database, and apply migrations.
///
/// Running it on an initialised property does nothing. Refuses a property that still
/// has legacy JSON data: use db-migrate for that.
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
    let plan = admin::db_init(&storage, &slug, args.flags.mode())
        .with_context(|| format!("db-init {slug} in {}", data.path().display()))?;
    print_plan(&plan, args.flags.json);
    Ok(())
}
