//! `honestcam db-migrate <slug>`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::migrate::import::db_migrate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{PlanFlags, open_storage, parse_slug, print_plan};

/// Import a property's legacy JSON files into SQLite, then archive them.
///
/// Without --execute, prints what would be imported (study users, progress files,
/// compliance events) and changes nothing. With --execute, imports and moves the
/// imported files to {data}/{slug}/_legacy/{UTC timestamp}/. Safe to re-run: a second
/// run finds nothing to do, and a run interrupted at any point completes on re-run
/// without duplicates.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Property slug (lowercase letters, digits and '-').
    slug: String,
    #[command(flatten)]
    flags: PlanFlags,
}

struct Bar(ProgressBar);

impl honestcam::migrate::Progress for Bar {
    fn update(&self, done: u64, total: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
    }
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let slug = parse_slug(&args.slug)?;
    let storage = open_storage(data)?;
    // Drawn only on a terminal; hidden when stderr is piped.
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "importing events {bar:40} {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let plan = db_migrate(&storage, &slug, args.flags.mode(), &Bar(bar.clone()))
        .with_context(|| format!("db-migrate {slug} in {}", data.path().display()))?;
    bar.finish_and_clear();
    print_plan(&plan, args.flags.json);
    Ok(())
}
