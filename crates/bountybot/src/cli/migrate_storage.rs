//! `bountybot migrate-storage`.

use anyhow::Context as _;
use bountybot::store::migrate::{self, Backend};
use statekit::lock::RwDirLock;
use statekit::plan::Mode;

use super::Global;

/// Copy every chat (bounties, id counters, bookmarks, names, settings, digest records)
/// to another backend, verify the copy, then archive the source: JSON folders and
/// bountybot.db to {data}/_legacy/{ts}/, PostgreSQL's tables to a schema
/// bountybot_archive_{ts} (with a marker so no bot starts afresh on it). Without
/// --execute only reports. Safe to re-run after a crash.
///
/// The source is the one other backend holding data (--from when several do);
/// PostgreSQL takes part when BOUNTYBOT_DATABASE_URL (or --database-url) is given.
/// Refuses while a bot (or a repl, send or remind) uses the data dir or the database.
/// When the target holds data too (an interrupted move, or the bot run on the old one
/// meanwhile), the two are compared first: if one holds everything the other does, the
/// move goes on; if each holds something the other lacks, the differences are printed
/// and nothing changes, unless --prefer names the side to keep (the other side is
/// archived, never deleted).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backend to move to.
    #[arg(long, value_enum)]
    to: Backend,
    /// The backend to move from; default: the one other backend holding data.
    #[arg(long, value_enum)]
    from: Option<Backend>,
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
        &super::place(g),
        args.from,
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
