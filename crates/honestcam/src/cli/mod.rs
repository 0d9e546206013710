//! One module per subcommand: its arguments and its `run`.

pub mod db_init;
pub mod db_migrate;
pub mod db_rollback;
pub mod db_status;
pub mod demo_data;
pub mod serve;

use clap::Args as ClapArgs;
use honestcam::config::DataDir;
use honestcam::property::{Slug, SlugError};
use honestcam::storage::Storage;
use statekit::plan::{Mode, Plan};

/// `--dry-run` / `--execute` / `--json`, shared by the commands that change data.
#[derive(Debug, ClapArgs)]
pub struct PlanFlags {
    /// Only report what would change (the default).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
    /// Make the changes.
    #[arg(long)]
    pub execute: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl PlanFlags {
    pub fn mode(&self) -> Mode {
        Mode::from_execute_flag(self.execute)
    }
}

/// A usage error: bad input rather than a failure of the work (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code for an error: 2 for bad input, 1 for anything else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain()
        .any(|c| c.is::<UsageError>() || c.is::<SlugError>())
    {
        2
    } else {
        1
    }
}

pub fn parse_slug(s: &str) -> anyhow::Result<Slug> {
    Ok(Slug::parse(s)?)
}

pub fn open_storage(data: &DataDir) -> anyhow::Result<Storage> {
    Ok(Storage::open(
        data.clone(),
        statekit::sqlite::OpenOptions::default(),
    )?)
}

pub fn print_plan(plan: &Plan, json: bool) {
    if json {
        println!("{}", plan.to_json());
    } else {
        println!("{plan}");
    }
}
