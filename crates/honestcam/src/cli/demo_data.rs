//! `honestcam demo-data <slug>`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::demo::{DemoOptions, write_demo};

use super::parse_slug;

/// Write a realistic demo property in the legacy JSON layout: baseline actions, a
/// compliance log, study users and their progress. Refuses a folder that already
/// holds a property.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Property slug (lowercase letters, digits and '-').
    slug: String,
    /// Display name of the property.
    #[arg(long, default_value = "Demo Plaza")]
    name: String,
    /// Number of events in the compliance log.
    #[arg(long, default_value_t = 12)]
    events: u64,
    /// Give every event an event_id (by default they have none, like old logs).
    #[arg(long)]
    with_event_ids: bool,
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let slug = parse_slug(&args.slug)?;
    let paths = data.property(&slug);
    let opts = DemoOptions {
        events: args.events,
        with_event_ids: args.with_event_ids,
    };
    let s = write_demo(&paths, &args.name, &opts).with_context(|| format!("demo-data {slug}"))?;
    println!(
        "wrote demo property {slug} to {}: {} actions, {} events, {} users, {} progress files",
        paths.dir.display(),
        s.actions,
        s.events,
        s.users,
        s.progress_files
    );
    Ok(())
}
