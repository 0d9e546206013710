//! `bountybot doctor`.

use std::io::Write as _;

use anyhow::Context as _;
use bountybot::store::postgres::POOL_SIZE;
use bountybot::telegram::BotToken;
use bountybot::telegram::doctor::{self as bot_doctor, BotSettings};
use statekit::doctor::{Check, Report, Status, descriptor_limit, free_space, private_dir};

use super::{Global, place};

/// Check that the bot's deployment is healthy, and say what to do about each problem.
///
/// Checks the data dir (owner-only and this user's), free space, the storage (opened
/// and read as `run` would: JSON chat files parsed, SQLite's quick_check, settings
/// and schema, PostgreSQL reached with its schema current), the descriptor limit, the
/// token (getMe), and the webhook (getWebhookInfo: set to --webhook, no last delivery
/// error, few updates waiting; none set without --webhook). Give it the environment
/// and flags `run` runs with. Exits 1 when a check fails; warnings alone exit 0.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the report as JSON: {"ok", "failures", "warnings", "checks": [{"name",
    /// "status" (ok, warn, fail), "detail", "fix"}]}.
    #[arg(long)]
    json: bool,
    /// Bot API server `run` uses instead of Telegram's.
    #[arg(long, env = "BOUNTYBOT_API_URL")]
    api_url: Option<url::Url>,
    /// The --webhook `run` is given (webhook mode); without it, polling mode is checked.
    #[arg(long, value_name = "URL")]
    webhook: Option<url::Url>,
    /// Updates waiting at Telegram above which the webhook check warns (0 to 100000).
    #[arg(long, value_name = "N", default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(0..=100_000))]
    max_pending: u32,
    /// Least free space on the data dir's disk, in MiB (1 to 10485760).
    #[arg(long, value_name = "MIB", default_value_t = 256,
        value_parser = clap::value_parser!(u64).range(1..=10_485_760))]
    min_free_mib: u64,
    /// The --max-open-connections `run` listens with (webhook mode).
    #[arg(
        long,
        env = "BOUNTYBOT_MAX_OPEN_CONNECTIONS",
        value_name = "N",
        default_value_t = super::run::DEFAULT_MAX_OPEN_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    max_open_connections: u32,
}

/// Descriptors `run` may hold at once: one per listener connection, the PostgreSQL
/// pool and its lock connection, and 40 of its own (SQLite files, the runtime, the
/// Bot API client's connections, the data dir's lock, standard streams).
pub fn descriptor_budget(max_open_connections: u64) -> u64 {
    max_open_connections + u64::from(POOL_SIZE) + 1 + 40
}

pub fn run(g: &Global, args: Args) -> anyhow::Result<()> {
    let dir = &g.data_dir;
    let mut report = Report::default();
    let dir_check = private_dir("data dir", dir);
    let dir_ok = dir.is_dir();
    report.push(dir_check);
    report.push(free_space(dir, args.min_free_mib << 20));
    if dir_ok {
        for check in bountybot::doctor::storage(&place(g), g.storage) {
            report.push(check);
        }
    } else {
        report.push(Check::fail(
            bountybot::doctor::STORAGE,
            format!("not checked: {} is not a data dir", dir.display()),
            "point --data-dir (or BOUNTYBOT_DATA_DIR) at the bot's data dir",
        ));
    }
    report.push(descriptors(u64::from(args.max_open_connections)));
    let token = ["BOUNTYBOT_TOKEN", "TELOXIDE_TOKEN"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|t| !t.trim().is_empty()))
        .map(BotToken::new);
    let settings = BotSettings {
        token,
        api_url: args.api_url,
        webhook: args.webhook,
        max_pending: args.max_pending,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    for check in runtime.block_on(bot_doctor::checks(&settings)) {
        report.push(check);
    }
    let text = if args.json {
        serde_json::to_string_pretty(&report.to_json()).context("rendering the report")?
    } else {
        report.to_string()
    };
    writeln!(std::io::stdout().lock(), "{text}").context("writing the report")?;
    if report.failed() {
        anyhow::bail!(
            "{} check(s) failed for the bot in {}",
            report.count(Status::Fail),
            dir.display()
        );
    }
    Ok(())
}

fn descriptors(max_open_connections: u64) -> Check {
    let name = "descriptor limit";
    let need = descriptor_budget(max_open_connections);
    let (soft, _) = descriptor_limit();
    let Some(soft) = soft else {
        return Check::ok(name, "unlimited");
    };
    if soft < need {
        return Check::fail(
            name,
            format!(
                "{soft} descriptors, but run with --max-open-connections {max_open_connections} may need {need}"
            ),
            format!(
                "raise it to at least {need}: launchd: SoftResourceLimits and HardResourceLimits NumberOfFiles in the plist; systemd: LimitNOFILE={need}; a shell: ulimit -n {need}; or lower --max-open-connections"
            ),
        );
    }
    Check::ok(
        name,
        format!("{soft} descriptors, run may need {need} at most"),
    )
}
