//! `bountybot remind`.

use anyhow::Context as _;
use bountybot::reminder::{self, BotSender};

use super::{Global, UsageError, open_store, use_data_dir};

/// Run one reminder pass: send today's digest to every chat whose reminder time has
/// passed and whose digest of today is not sent yet (at most one per chat and local
/// day). Sends through the Bot API with BOUNTYBOT_TOKEN (or TELOXIDE_TOKEN), like `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The moment of the pass (RFC 3339, e.g. 2026-03-29T07:00:00Z); default: now.
    #[arg(long)]
    now: Option<String>,
    /// Print what would be sent; claim and send nothing (needs no token).
    #[arg(long)]
    dry_run: bool,
    /// Bot API server to use instead of Telegram's (e.g. a local telegram-bot-api).
    #[arg(long, env = "BOUNTYBOT_API_URL")]
    api_url: Option<url::Url>,
}

pub fn run(g: &Global, args: Args) -> anyhow::Result<()> {
    let now = match &args.now {
        None => jiff::Timestamp::now(),
        Some(s) => s.parse::<jiff::Timestamp>().map_err(|e| {
            UsageError(format!(
                "--now {s:?} is not an RFC 3339 time such as 2026-03-29T07:00:00Z: {e}"
            ))
        })?,
    };
    let token = ["BOUNTYBOT_TOKEN", "TELOXIDE_TOKEN"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|t| !t.trim().is_empty()));
    if args.dry_run {
        let _lock = use_data_dir(&g.data_dir)?;
        let store = open_store(g)?;
        for p in reminder::plan(store.as_ref(), now)? {
            match p.text {
                Some(text) => println!("chat {} ({}):\n{text}\n", p.chat, p.date),
                None => println!("chat {} ({}): nothing due, no message\n", p.chat, p.date),
            }
        }
        return Ok(());
    }
    let Some(token) = token else {
        return Err(UsageError(
            "no bot token: set BOUNTYBOT_TOKEN (or TELOXIDE_TOKEN) to the token BotFather gave you, or use --dry-run"
                .into(),
        )
        .into());
    };
    let _lock = use_data_dir(&g.data_dir)?;
    let store = open_store(g)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let mut bot = teloxide::Bot::new(token);
    if let Some(url) = args.api_url {
        bot = bot.set_api_url(url);
    }
    let sender = BotSender::new(bot, runtime.handle().clone());
    let report = reminder::remind_pass(store.as_ref(), now, &sender)?;
    for (chat, date, id) in &report.sent {
        println!("sent chat {chat} ({date}) as message {id}");
    }
    for (chat, date) in &report.empty {
        println!("nothing due in chat {chat} ({date}), no message");
    }
    for (chat, date, why) in &report.failed {
        eprintln!("failed chat {chat} ({date}): {why}; a later pass retries");
    }
    for (chat, why) in &report.errors {
        eprintln!("error in chat {chat}: {why}");
    }
    println!(
        "{} sent, {} empty, {} failed, {} already done, {} not due yet",
        report.sent.len(),
        report.empty.len(),
        report.failed.len() + report.errors.len(),
        report.already,
        report.not_yet
    );
    if !report.failed.is_empty() || !report.errors.is_empty() {
        anyhow::bail!(
            "{} digest(s) not sent",
            report.failed.len() + report.errors.len()
        );
    }
    Ok(())
}
