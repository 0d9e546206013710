//! `honestcam db-init <slug>`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::Run;
use honestcam::ops::init::{self, Create};

use super::{PlanFlags, lock_if_executing, open_storage, parse_slug, print_plan};

/// Create a property's database and the global study database, and apply migrations.
///
/// Running it on an initialised property does nothing. Refuses a property that still
/// has legacy JSON data (use db-migrate for that), and a slug with no compliance.json
/// (most likely a typo) unless --create is given.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Property slug (lowercase letters, digits and '-').
    slug: String,
    /// Start a new, empty property: write a compliance.json with no actions.
    #[arg(long)]
    create: bool,
    /// Display name of a property made with --create (default: the slug).
    #[arg(long, requires = "create")]
    name: Option<String>,
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
    let name = args.name.unwrap_or_else(|| slug.to_string());
    let create = args.create.then_some(Create { name: &name });
    // Refuse a mistyped slug before the lock creates anything for it.
    init::check(&storage, &slug, create)
        .with_context(|| format!("db-init {slug} in {}", data.path().display()))?;
    let lock = lock_if_executing(&storage, &slug, "db-init", &args.flags)?;
    let run = lock.as_ref().map_or(Run::DryRun, Run::Execute);
    let plan = init::db_init(&storage, &slug, run, create)
        .with_context(|| format!("db-init {slug} in {}", data.path().display()))?;
    print_plan(&plan, args.flags.json);
    Ok(())
}
