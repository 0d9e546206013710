//! One module per subcommand: its arguments and its `run`.

pub mod backup;
pub mod backup_verify;
pub mod db_init;
pub mod db_migrate;
pub mod db_reindex;
pub mod db_rollback;
pub mod db_status;
pub mod demo_data;
pub mod doctor;
pub mod export;
pub mod litestream_config;
pub mod mcp;
pub mod restore;
pub mod serve;
pub mod study;
pub mod token;
pub mod user;

use clap::Args as ClapArgs;
use honestcam::config::DataDir;
use honestcam::ops::backup::BackupError;
use honestcam::ops::init::InitError;
use honestcam::property::{Slug, SlugError};
use honestcam::storage::{ExclusiveLock, Storage, Wait};
use statekit::plan::{Mode, Plan};

/// `--dry-run` / `--execute` / `--json` / `--no-wait`, shared by the commands that
/// change data.
#[derive(Debug, ClapArgs)]
pub struct PlanFlags {
    /// Only report what would change (the default). Takes no lock and changes nothing.
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
    /// Make the changes. Holds the property's lock for the whole run: the portal's
    /// requests for that property wait until it is done, and another command on the
    /// same property waits for it (saying who holds the lock).
    #[arg(long)]
    pub execute: bool,
    /// With --execute: if another command holds the property, exit 1 at once instead
    /// of waiting.
    #[arg(long)]
    pub no_wait: bool,
    /// Print the report (or the error) as JSON.
    #[arg(long)]
    pub json: bool,
}

impl PlanFlags {
    pub fn mode(&self) -> Mode {
        Mode::from_execute_flag(self.execute)
    }
}

/// With `--execute`, `slug`'s exclusive lock for `command` (see [`lock_property`]);
/// nothing for a dry run, which takes no lock.
pub fn lock_if_executing(
    storage: &Storage,
    slug: &Slug,
    command: &str,
    flags: &PlanFlags,
) -> anyhow::Result<Option<ExclusiveLock>> {
    match flags.mode() {
        Mode::Execute => lock_property(storage, slug, command, flags).map(Some),
        Mode::DryRun => Ok(None),
    }
}

/// Takes `slug`'s exclusive lock for `command`, telling the user on stderr whom it
/// waits for (or failing at once with `--no-wait`).
pub fn lock_property(
    storage: &Storage,
    slug: &Slug,
    command: &str,
    flags: &PlanFlags,
) -> anyhow::Result<ExclusiveLock> {
    let holder = format!(
        "pid {}: honestcam {command} {slug}, since {}",
        std::process::id(),
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC")
    );
    let wait = if flags.no_wait { Wait::No } else { Wait::Block };
    let lock = storage.lock_property(slug, &holder, wait, |busy| {
        let who = busy
            .holder
            .as_deref()
            .unwrap_or("the portal's requests, or another command");
        eprintln!("waiting for property {slug}: it is held by {who}");
    })?;
    Ok(lock)
}

/// `--litestream`: the binary that restores from an `s3://` replica.
#[derive(Debug, ClapArgs)]
pub struct LitestreamFlag {
    /// The litestream binary used for s3:// sources (a path, or a name on PATH).
    #[arg(
        long = "litestream",
        env = "HONESTCAM_LITESTREAM",
        value_name = "PATH",
        default_value = "litestream"
    )]
    pub bin: std::path::PathBuf,
}

impl LitestreamFlag {
    pub fn litestream(&self) -> honestcam::ops::replica::litestream::Litestream {
        honestcam::ops::replica::litestream::Litestream::new(&self.bin)
    }
}

/// A usage error: bad input rather than a failure of the work (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An error whose details are in the JSON report already printed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReportedAsJson(pub String);

/// Prints `e` as `{"error": ...}` on stdout, for commands run with `--json`.
pub fn print_json_error(e: &anyhow::Error) {
    println!(
        "{}",
        serde_json::json!({ "error": statekit::error::Chain(e.as_ref()).to_string(), "exit_code": exit_code(e) })
    );
}

/// Exit code for an error: 2 for bad input, 1 for anything else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let bad_input = |c: &(dyn std::error::Error + 'static)| {
        c.is::<UsageError>()
            || c.is::<SlugError>()
            || c.downcast_ref::<InitError>()
                .is_some_and(|e| matches!(e, InitError::NoBaseline { .. }))
            || c.downcast_ref::<BackupError>()
                .is_some_and(|e| matches!(e, BackupError::TimestampOfSnapshot))
            || c.downcast_ref::<honestcam::service::study::StudyError>()
                .is_some_and(|e| {
                    matches!(
                        e,
                        honestcam::service::study::StudyError::OtherName { .. }
                            | honestcam::service::study::StudyError::Name(_)
                    )
                })
    };
    if e.chain().any(bad_input) { 2 } else { 1 }
}

pub fn parse_slug(s: &str) -> anyhow::Result<Slug> {
    Ok(Slug::parse(s)?)
}

/// The data dir's storage; refused while a restore into it is unfinished (its other
/// databases are still to come: a study database created now would be kept in place
/// of the backup's).
pub fn open_storage(data: &DataDir) -> anyhow::Result<Storage> {
    refuse_unfinished_restore(data)?;
    Ok(Storage::open(
        data.clone(),
        statekit::sqlite::OpenOptions::default(),
    )?)
}

/// [`open_storage`] keeping at most `max_open` databases open, each keeping at most
/// `max_idle_readers` readers open while nobody reads.
pub fn open_storage_bounded(
    data: &DataDir,
    max_open: usize,
    max_idle_readers: usize,
) -> anyhow::Result<Storage> {
    refuse_unfinished_restore(data)?;
    let opts = statekit::sqlite::OpenOptions {
        max_idle_readers,
        ..statekit::sqlite::OpenOptions::default()
    };
    Ok(Storage::open_bounded(data.clone(), opts, max_open)?)
}

/// The data dir's storage opened read-only (see `Storage::open_read_only`), keeping at
/// most `max_open` databases open, each keeping at most `max_idle_readers` readers
/// open while nobody reads; refused, like [`open_storage`], while a restore is
/// unfinished.
pub fn open_storage_read_only(
    data: &DataDir,
    max_open: usize,
    max_idle_readers: usize,
) -> anyhow::Result<Storage> {
    refuse_unfinished_restore(data)?;
    let opts = statekit::sqlite::OpenOptions {
        max_idle_readers,
        ..statekit::sqlite::OpenOptions::read_only()
    };
    Ok(Storage::open_read_only(data.clone(), opts, max_open)?)
}

/// A `--timezone` value: an IANA name.
pub fn parse_time_zone(name: &str) -> Result<jiff::tz::TimeZone, honestcam::config::TimeZoneError> {
    honestcam::config::time_zone(name)
}

/// `--timezone`, else the host's zone (UTC, with a warning, if it cannot be told).
pub fn display_zone(flag: Option<jiff::tz::TimeZone>) -> jiff::tz::TimeZone {
    flag.unwrap_or_else(|| {
        jiff::tz::TimeZone::try_system().unwrap_or_else(|e| {
            tracing::warn!("the host's time zone cannot be told ({e}); showing times in UTC");
            jiff::tz::TimeZone::UTC
        })
    })
}

fn refuse_unfinished_restore(data: &DataDir) -> anyhow::Result<()> {
    if let Some(origin) = honestcam::ops::backup::unfinished_restore(data)? {
        anyhow::bail!(
            "{} holds an unfinished restore from {origin}: run that restore again (honestcam restore --from ... --execute) to finish it",
            data.path().display()
        );
    }
    Ok(())
}

pub fn print_plan(plan: &Plan, json: bool) {
    if json {
        println!("{}", plan.to_json());
    } else {
        println!("{plan}");
    }
}
