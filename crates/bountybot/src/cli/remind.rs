//! `bountybot remind`.

use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use bountybot::reminder::{self, PassOptions};
use bountybot::telegram::digest::BotSender;

use super::{Global, UsageError, open_store, use_data_dir};

/// Run one reminder pass, as `run` does every minute: send today's digest to every
/// chat whose reminder time has passed and whose digest of today is not sent yet (at
/// most one per chat and local day, however many passes run at once). Sends through
/// the Bot API with BOUNTYBOT_TOKEN (or TELOXIDE_TOKEN), like `run`. Exits 1 when a
/// digest could not be sent (a later pass retries it).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The moment of the pass (RFC 3339, e.g. 2026-03-29T07:00:00Z); default: now.
    #[arg(long, value_name = "RFC 3339")]
    now: Option<String>,
    /// Print the digests that would be sent; claim, send and record nothing (needs no
    /// token).
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
    if args.dry_run {
        let _lock = use_data_dir(&g.data_dir)?;
        let store = open_store(g)?;
        let planned = reminder::plan(store.as_ref(), now)
            .with_context(|| format!("reading the chats in {}", g.data_dir.display()))?;
        for p in &planned {
            match &p.text {
                Some(text) => println!("chat {} ({}):\n{text}\n", p.chat, p.date),
                None => println!("chat {} ({}): nothing due, no message\n", p.chat, p.date),
            }
        }
        println!("dry run: {} digest(s) due, nothing sent", planned.len());
        return Ok(());
    }
    let token = ["BOUNTYBOT_TOKEN", "TELOXIDE_TOKEN"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|t| !t.trim().is_empty()));
    let Some(token) = token else {
        return Err(UsageError(
            "no bot token: set BOUNTYBOT_TOKEN (or TELOXIDE_TOKEN) to the token BotFather gave you, or use --dry-run"
                .into(),
        )
        .into());
    };
    let _lock = use_data_dir(&g.data_dir)?;
    let store = open_store(g)?;
    // The pass blocks on its sends from plain threads: the runtime drives the I/O.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let mut bot = teloxide::Bot::new(token);
    if let Some(url) = args.api_url {
        bot = bot.set_api_url(url);
    }
    let sender = BotSender::new(bot, runtime.handle().clone());
    let report = reminder::remind_pass(
        store.as_ref(),
        now,
        &sender,
        &PassOptions::default(),
        &AtomicBool::new(false),
    )
    .with_context(|| format!("reading the chats in {}", g.data_dir.display()))?;
    for (chat, date, id) in &report.sent {
        println!("sent chat {chat} ({date}) as message {id}");
    }
    for (chat, date) in &report.empty {
        println!("nothing due in chat {chat} ({date}), no message");
    }
    for (chat, date, why) in &report.failed {
        eprintln!("not sent to chat {chat} ({date}): {why}; a later pass retries");
    }
    for (chat, date, why) in &report.dropped {
        eprintln!("dropped for chat {chat} ({date}): {why}");
    }
    for (chat, why) in &report.errors {
        eprintln!("error in chat {chat}: {why}");
    }
    println!(
        "{} sent, {} empty, {} failed, {} dropped, {} done already, {} not due yet",
        report.sent.len(),
        report.empty.len(),
        report.failed.len() + report.errors.len(),
        report.dropped.len(),
        report.already,
        report.not_yet
    );
    let failed = report.failed.len() + report.errors.len();
    if failed > 0 {
        anyhow::bail!("{failed} digest(s) not sent; a later pass retries them");
    }
    Ok(())
}
