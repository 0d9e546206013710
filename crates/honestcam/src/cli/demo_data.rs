//! `honestcam demo-data <slug>`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::demo::{DemoOptions, write_demo};

use super::parse_slug;

/// Write a realistic demo property in the legacy JSON layout: baseline actions, a
/// compliance log, study users and their progress, dated relative to today (a few
/// actions overdue, some due soon, most later or done). Refuses a folder that already
/// holds a property. The same options and --today always write the same files.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Property slug (lowercase letters, digits and '-').
    slug: String,
    /// Display name of the property.
    #[arg(long, default_value = "Demo Plaza")]
    name: String,
    /// Number of events in the compliance log (the named actions' story is the last
    /// 12; more are generated before it).
    #[arg(long, default_value_t = 12)]
    events: u64,
    /// Number of actions: the eight named ones, then generated ones.
    #[arg(long, default_value_t = 8)]
    actions: usize,
    /// The day the data is dated around (YYYY-MM-DD); default: today in the host's
    /// time zone.
    #[arg(long)]
    today: Option<jiff::civil::Date>,
    /// Give every event an event_id (by default they have none, like old logs).
    #[arg(long)]
    with_event_ids: bool,
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let slug = parse_slug(&args.slug)?;
    let paths = data.property(&slug);
    let today = args.today.unwrap_or_else(|| jiff::Zoned::now().date());
    let opts = DemoOptions {
        events: args.events,
        actions: args.actions,
        with_event_ids: args.with_event_ids,
        ..DemoOptions::dated(today)
    };
    let s = write_demo(&paths, &args.name, &opts).with_context(|| format!("demo-data {slug}"))?;
    println!(
        "wrote demo property {slug} to {}, dated around {today}: {} actions, {} events, {} users, {} progress files",
        paths.dir.display(),
        s.actions,
        s.events,
        s.users,
        s.progress_files
    );
    Ok(())
}
