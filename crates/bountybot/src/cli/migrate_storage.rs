//! `bountybot migrate-storage`.

use anyhow::Context as _;
use bountybot::store::migrate::{self, Backend};
use statekit::lock::RwDirLock;
use statekit::plan::Mode;

use super::Global;

/// Copy every chat's bounties, id counters and bookmarks to the other backend, verify
/// the copy, then archive the source to {data}/_legacy/{ts}/. Without --execute only
/// reports. Safe to re-run after a crash.
///
/// Refuses while the bot (or a repl or send) uses the data dir. When the data dir holds
/// both backends (an interrupted move, or the bot run on the old one meanwhile), the two
/// are compared first: if one holds everything the other does, the move goes on; if each
/// holds something the other lacks, the differences are printed and nothing changes,
/// unless --prefer names the side to keep (the other side is archived, never deleted).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backend to move to.
    #[arg(long, value_enum)]
    to: Backend,
    /// When both backends hold data that the other lacks: the side whose data wins.
    /// The other side is archived to {data}/_legacy/{ts}/.
    #[arg(long, value_enum)]
    prefer: Option<Backend>,
    /// Only report what would be copied (the default).
    #[arg(long, conflicts_with = "execute")]
    dry_run: bool,
    /// Copy, verify and archive.
    #[arg(long)]
    execute: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> anyhow::Result<()> {
    let dir = &g.data_dir;
    let holder = format!(
        "pid {}: bountybot migrate-storage --to {}",
        std::process::id(),
        args.to
    );
    let _lock = match RwDirLock::try_exclusive(dir, &holder)
        .with_context(|| format!("locking {}", dir.display()))?
    {
        Ok(lock) => lock,
        Err(busy) => anyhow::bail!(
            "{} is in use by {}; stop it first, then run migrate-storage again",
            dir.display(),
            busy.holder
                .as_deref()
                .unwrap_or("a running bot (or a repl or send)")
        ),
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let plan = migrate::migrate_storage(
        dir,
        args.to,
        args.prefer,
        Mode::from_execute_flag(args.execute),
        &|phase| bar.set_message(phase.to_string()),
    );
    bar.finish_and_clear();
    let plan = plan.with_context(|| format!("migrate-storage in {}", dir.display()))?;
    if args.json {
        println!("{}", plan.to_json());
    } else {
        println!("{plan}");
    }
    Ok(())
}
