//! `honestcam db-migrate <slug>`.

use std::cell::Cell;

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::import::db_migrate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use honestcam::ops::Run;

use super::{PlanFlags, lock_if_executing, open_storage, parse_slug, print_plan};

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

/// The import's progress on stderr (drawn only on a terminal; hidden when piped): a
/// bar when the number of events is known, a running count while the log is still
/// being read.
struct Bar {
    bar: ProgressBar,
    /// Whether the total is known, as of the last update.
    known: Cell<Option<bool>>,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            bar: ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            known: Cell::new(None),
        }
    }

    fn style(known: bool) -> ProgressStyle {
        let template = if known {
            "importing events {bar:40} {human_pos}/{human_len} ({elapsed}, eta {eta})"
        } else {
            "importing events {spinner} {human_pos} ({elapsed})"
        };
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
    }
}

impl honestcam::ops::Progress for Bar {
    fn update(&self, done: u64, total: Option<u64>) {
        if self.known.replace(Some(total.is_some())) != Some(total.is_some()) {
            self.bar.set_style(Bar::style(total.is_some()));
        }
        match total {
            Some(total) => self.bar.set_length(total),
            None => self.bar.unset_length(),
        }
        self.bar.set_position(done);
    }
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
        .with_context(|| format!("db-migrate {slug} in {}", data.path().display()))?;
    let lock = lock_if_executing(&storage, &slug, "db-migrate", &args.flags)?;
    let run = lock.as_ref().map_or(Run::DryRun, Run::Execute);
    let bar = Bar::new();
    let plan = db_migrate(&storage, &slug, run, &bar)
        .with_context(|| format!("db-migrate {slug} in {}", data.path().display()))?;
    bar.bar.finish_and_clear();
    print_plan(&plan, args.flags.json);
    Ok(())
}
