//! `honestcam restore --from <SOURCE>`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::backup::{self, RestoreOptions, Source};

use super::{LitestreamFlag, PlanFlags, print_plan};

/// Restore every database into an empty data dir, from a replica or a snapshot.
///
/// SOURCE is an s3:// replica written by `litestream replicate` with the configuration
/// from `honestcam litestream-config` (e.g.
/// s3://bucket/prefix?endpoint=https://...&region=auto; credentials from
/// LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY), or a snapshot folder
/// made by `honestcam backup` (or the folder of snapshots: the newest is used).
///
/// From a replica, the properties are those the bucket holds; each database is
/// restored by `litestream restore`, checked, and only then put in place. From a
/// snapshot, the manifest is checked first (it may hold only honestcam-study.db and
/// {slug}/honestcam.db of each entry's property, each once), then every file against
/// it, before anything is copied; one bad entry refuses the whole snapshot.
/// Each property's compliance.json is written back from its database. Refuses a data
/// dir that already holds data. Without --execute only reports what it would restore,
/// and from which point in time.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The replica (s3://...) or the snapshot (or folder of snapshots) to restore from.
    #[arg(long, value_name = "SOURCE")]
    from: Source,
    /// Restore the replica as it was at this moment (RFC 3339, e.g.
    /// 2026-11-24T09:30:00Z) instead of the newest; replicas only.
    #[arg(long, value_name = "RFC 3339")]
    timestamp: Option<jiff::Timestamp>,
    #[command(flatten)]
    litestream: LitestreamFlag,
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
    let opts = RestoreOptions {
        mode: args.flags.mode(),
        timestamp: args.timestamp,
        litestream: args.litestream.litestream(),
    };
    let plan = backup::restore(data, &args.from, &opts)
        .with_context(|| format!("restore from {} into {}", args.from, data.path().display()))?;
    print_plan(&plan, args.flags.json);
    Ok(())
}
