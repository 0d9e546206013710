//! `honestcam restore --from <SOURCE>`.

use std::path::PathBuf;

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::backup;

use super::{PlanFlags, print_plan};

/// Restore every database of a snapshot into an empty data dir.
///
/// SOURCE is a snapshot folder made by `honestcam backup`, or the folder of snapshots
/// (the newest is used). Every file is checked against the manifest before anything is
/// copied; each property's compliance.json is written back from its database. Refuses a
/// data dir that already holds data. Without --execute only reports.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot (or folder of snapshots) to restore from.
    #[arg(long, value_name = "SOURCE")]
    from: PathBuf,
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
    let plan = backup::restore(data, &args.from, args.flags.mode()).with_context(|| {
        format!(
            "restore from {} into {}",
            args.from.display(),
            data.path().display()
        )
    })?;
    print_plan(&plan, args.flags.json);
    Ok(())
}
