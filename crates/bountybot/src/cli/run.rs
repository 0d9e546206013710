//! `bountybot run`.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context as _;
use bountybot::telegram::{self, BotToken, RunOptions, WebhookSecret};

use super::{Global, UsageError, open_store, use_data_dir};

/// Client connections the webhook listener serves at once by default.
pub const DEFAULT_MAX_OPEN_CONNECTIONS: u32 = 64;

/// Run the bot on Telegram. The token comes from BOUNTYBOT_TOKEN (or TELOXIDE_TOKEN).
/// Long polling by default; --webhook <public-url> --listen <addr> for webhook mode.
/// Holds the data dir while it runs (migrate-storage refuses meanwhile). Stops on
/// SIGINT or SIGTERM after finishing the update in flight.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bot API server to use instead of Telegram's (e.g. a local telegram-bot-api).
    #[arg(long, env = "BOUNTYBOT_API_URL")]
    api_url: Option<url::Url>,
    /// Webhook mode: the public HTTPS URL Telegram should post updates to.
    #[arg(long, requires = "listen")]
    webhook: Option<url::Url>,
    /// Webhook mode: the local address to listen on.
    #[arg(long, requires = "webhook")]
    listen: Option<std::net::SocketAddr>,
    /// Webhook mode: how many connections Telegram may open at once (1 to 100). Keep 1
    /// with JSON or SQLite storage, where one connection keeps each chat's updates in
    /// order; with PostgreSQL replicas order is kept across connections, so raise it
    /// to spread updates over the replicas.
    #[arg(long, requires = "webhook", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=100))]
    max_connections: u8,
    /// Webhook mode (required there): secret Telegram sends in
    /// X-Telegram-Bot-Api-Secret-Token; requests without it are refused (401). 16 to
    /// 256 of A-Z a-z 0-9 _ - (make one with `openssl rand -hex 32`).
    #[arg(long, env = "BOUNTYBOT_WEBHOOK_SECRET", hide_env_values = true)]
    secret_token: Option<String>,
    /// Webhook mode: seconds a client has to send a whole request head (1 to 300); a
    /// connection that has not is closed. Counted from the accept for a new
    /// connection, from the request's first byte on a kept-alive one.
    #[arg(
        long,
        env = "BOUNTYBOT_HEADER_READ_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=300)
    )]
    header_read_timeout: u64,
    /// Webhook mode: seconds a kept-alive connection may stay silent between requests
    /// before it is closed (1 to 3600).
    #[arg(
        long,
        env = "BOUNTYBOT_IDLE_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    idle_timeout: u64,
    /// Webhook mode: most connections open at once on the listener (1 to 10000). At
    /// the bound, the connection waiting longest for a request head is closed to make
    /// room; when every one is busy, new clients wait in the kernel's backlog. Keep it
    /// at least --max-connections. The default, 64, fits within 256 file descriptors.
    #[arg(
        long,
        env = "BOUNTYBOT_MAX_OPEN_CONNECTIONS",
        value_name = "N",
        default_value_t = DEFAULT_MAX_OPEN_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    max_open_connections: u32,
    /// Webhook mode: a file holding the bearer token (16 to 256 printable ASCII
    /// characters, e.g. from `openssl rand -hex 32`; the file readable by its owner
    /// only) that opens GET /metrics on the listener from elsewhere than this machine.
    /// Without it, only requests made on this machine straight to the listener (no
    /// proxy or tunnel headers) may read the metrics.
    #[arg(long, env = "BOUNTYBOT_METRICS_TOKEN_FILE", value_name = "FILE")]
    metrics_token_file: Option<std::path::PathBuf>,
}

/// How to make a webhook secret, told with every refusal of one.
const MAKE_ONE: &str = "make one with `openssl rand -hex 32` and set it in BOUNTYBOT_WEBHOOK_SECRET (16 to 256 of A-Z a-z 0-9 _ -)";

pub fn run(g: &Global, args: Args) -> anyhow::Result<()> {
    let token = ["BOUNTYBOT_TOKEN", "TELOXIDE_TOKEN"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|t| !t.trim().is_empty()));
    if args.webhook.is_some() && args.secret_token.as_deref().is_none_or(str::is_empty) {
        return Err(UsageError(format!(
            "webhook mode needs a secret: set BOUNTYBOT_WEBHOOK_SECRET (or --secret-token) to a long random string, so that only Telegram can post updates; {MAKE_ONE}"
        ))
        .into());
    }
    let secret = match (&args.webhook, args.secret_token) {
        (Some(_), Some(secret)) => {
            Some(WebhookSecret::parse(secret).map_err(|e| UsageError(format!("{e}: {MAKE_ONE}")))?)
        }
        _ => None,
    };
    let metrics_token = match &args.metrics_token_file {
        Some(path) => Some(
            statekit::scrape::ScrapeToken::from_file(path)
                .map_err(|e| UsageError(statekit::error::Chain(&e).to_string()))?,
        ),
        None => None,
    };
    let Some(token) = token else {
        return Err(UsageError(
            "no bot token: set BOUNTYBOT_TOKEN (or TELOXIDE_TOKEN) to the token BotFather gave you"
                .into(),
        )
        .into());
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let _lock = use_data_dir(&g.data_dir)?;
    let store = open_store(g)?;
    let opts = RunOptions {
        token: BotToken::new(token),
        api_url: args.api_url,
        webhook: args
            .webhook
            .zip(args.listen)
            .map(|(url, addr)| (url, addr, secret)),
        max_connections: args.max_connections,
        limits: statekit::http::Limits {
            header_read: std::time::Duration::from_secs(args.header_read_timeout),
            idle: std::time::Duration::from_secs(args.idle_timeout),
            max_connections: args.max_open_connections,
        },
        metrics_token,
        metrics: bountybot::metrics::BotMetrics::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let result = runtime.block_on(telegram::run(opts, Arc::clone(&store), &g.data_dir));
    // The last reference to the store goes here, off the runtime: a PostgreSQL client
    // closes by blocking, which the runtime's own threads must not do.
    drop(store);
    result
}
