//! The `bountybot` command line. Exit codes: 0 success, 1 failure, 2 usage error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use bountybot::command::{Context, handle};
use bountybot::domain::{ChatId, UserId};
use bountybot::repl::{self, ReplOptions};
use bountybot::store::BountyStore;
use bountybot::store::migrate::{self, Backend};
use bountybot::telegram::{self, RunOptions};
use clap::{Parser, Subcommand};
use statekit::plan::Mode;

/// A bot that tracks bounties (tasks with an optional link and due date) per chat.
#[derive(Debug, Parser)]
#[command(name = "bountybot", version, about)]
struct Args {
    /// Data directory: one folder per chat.
    #[arg(
        long,
        global = true,
        env = "BOUNTYBOT_DATA_DIR",
        default_value = "data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,

    /// Storage backend. Default: what the data dir holds (bountybot.db means sqlite),
    /// json for an empty dir. A data dir holding both is refused.
    #[arg(long, global = true, env = "BOUNTYBOT_STORAGE", value_enum)]
    storage: Option<Backend>,

    /// The bot's username, so that /cmd@<username> is answered and other bots' commands are not.
    #[arg(
        long,
        global = true,
        env = "BOUNTYBOT_USERNAME",
        default_value = "bountybot"
    )]
    bot_username: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Chat with the bot on the terminal: one message per line; `:as <user_id>` and
    /// `:chat <chat_id>` switch sender and chat (negative chat ids are groups).
    Repl {
        /// Chat to start in (default: the user's private chat).
        #[arg(long, allow_negative_numbers = true)]
        chat: Option<i64>,
        /// User to start as.
        #[arg(long, default_value_t = 1)]
        user: i64,
    },
    /// Run the bot on Telegram. The token comes from BOUNTYBOT_TOKEN (or TELOXIDE_TOKEN).
    /// Long polling by default; --webhook <public-url> --listen <addr> for webhook mode.
    /// Stops on SIGINT or SIGTERM after finishing the update in flight.
    Run {
        /// Bot API server to use instead of Telegram's (e.g. a local telegram-bot-api).
        #[arg(long, env = "BOUNTYBOT_API_URL")]
        api_url: Option<url::Url>,
        /// Webhook mode: the public HTTPS URL Telegram should post updates to.
        #[arg(long, requires = "listen")]
        webhook: Option<url::Url>,
        /// Webhook mode: the local address to listen on.
        #[arg(long, requires = "webhook")]
        listen: Option<std::net::SocketAddr>,
        /// Webhook mode: secret Telegram sends in X-Telegram-Bot-Api-Secret-Token;
        /// requests without it are refused (401).
        #[arg(long, env = "BOUNTYBOT_WEBHOOK_SECRET", hide_env_values = true)]
        secret_token: Option<String>,
    },
    /// Copy every chat's bounties, id counters and bookmarks to the other backend, verify
    /// the copy, then archive the source to {data}/_legacy/{ts}/. Without --execute only
    /// reports. Safe to re-run; stop the bot first.
    MigrateStorage {
        /// The backend to move to.
        #[arg(long, value_enum)]
        to: Backend,
        /// Only report what would be copied (the default).
        #[arg(long, conflicts_with = "execute")]
        dry_run: bool,
        /// Copy, verify and archive.
        #[arg(long)]
        execute: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Chats, bounties and tracked entries per backend in the data dir. Reads only.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send one message and print the reply (printed once its write is durable).
    Send {
        /// Chat id (negative for a group).
        #[arg(long, allow_negative_numbers = true)]
        chat: i64,
        /// Sender's user id.
        #[arg(long)]
        user: i64,
        /// The message, e.g. "/add Fix the login bug +3d".
        message: String,
    },
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn open_store(args: &Args) -> anyhow::Result<Result<Arc<dyn BountyStore>, ExitCode>> {
    let backend = match migrate::choose(&args.data_dir, args.storage) {
        Ok(b) => b,
        Err(
            e @ (migrate::MigrateError::BothPresent(_) | migrate::MigrateError::Mismatch { .. }),
        ) => {
            return Ok(Err(usage(&e.to_string())));
        }
        Err(e) => return Err(e).context("choosing the storage backend"),
    };
    let store = migrate::open(&args.data_dir, backend).with_context(|| {
        format!(
            "opening {:?} storage in {}",
            backend,
            args.data_dir.display()
        )
    })?;
    Ok(Ok(store))
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Command::MigrateStorage {
        to, execute, json, ..
    } = args.command
    {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        let plan = migrate::migrate_storage(
            &args.data_dir,
            to,
            Mode::from_execute_flag(execute),
            &|phase| bar.set_message(phase.to_string()),
        )
        .with_context(|| format!("migrate-storage in {}", args.data_dir.display()))?;
        bar.finish_and_clear();
        if json {
            println!("{}", plan.to_json());
        } else {
            println!("{plan}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Stats { json } = args.command {
        let stats = migrate::stats(&args.data_dir)
            .with_context(|| format!("stats of {}", args.data_dir.display()))?;
        if json {
            let rows: Vec<_> = stats.iter().map(|(b, c)| serde_json::json!({"backend": b, "chats": c.chats, "bounties": c.bounties, "tracked": c.tracked})).collect();
            println!("{}", serde_json::Value::Array(rows));
        } else if stats.is_empty() {
            println!("no data in {}", args.data_dir.display());
        } else {
            println!(
                "{:<8} {:>8} {:>10} {:>10}",
                "backend", "chats", "bounties", "tracked"
            );
            for (b, c) in stats {
                println!(
                    "{:<8} {:>8} {:>10} {:>10}",
                    b.to_string(),
                    c.chats,
                    c.bounties,
                    c.tracked
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let store = match open_store(&args)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    match args.command {
        Command::MigrateStorage { .. } | Command::Stats { .. } => unreachable!("handled above"),
        Command::Run {
            api_url,
            webhook,
            listen,
            secret_token,
        } => {
            let token = ["BOUNTYBOT_TOKEN", "TELOXIDE_TOKEN"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|t| !t.trim().is_empty()));
            let Some(token) = token else {
                return Ok(usage(
                    "no bot token: set BOUNTYBOT_TOKEN (or TELOXIDE_TOKEN) to the token BotFather gave you",
                ));
            };
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .init();
            let opts = RunOptions {
                token,
                api_url,
                webhook: webhook
                    .zip(listen)
                    .map(|(url, addr)| (url, addr, secret_token)),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            runtime.block_on(telegram::run(opts, store, &args.data_dir))?;
        }
        Command::Repl { chat, user } => {
            if user <= 0 {
                return Ok(usage("--user must be a positive id"));
            }
            let chat = chat.unwrap_or(user);
            if chat == 0 {
                return Ok(usage("--chat cannot be 0"));
            }
            let stdin = std::io::stdin();
            let opts = ReplOptions {
                chat: ChatId(chat),
                user: UserId(user),
                bot_username: args.bot_username,
                interactive: stdin.is_terminal(),
            };
            repl::run(
                store.as_ref(),
                &opts,
                stdin.lock(),
                std::io::stdout().lock(),
            )
            .context("repl")?;
        }
        Command::Send {
            chat,
            user,
            message,
        } => {
            if user <= 0 || chat == 0 {
                return Ok(usage("--user must be positive and --chat non-zero"));
            }
            let ctx = Context {
                chat: ChatId(chat),
                user: UserId(user),
                now: jiff::Timestamp::now(),
                bot_username: &args.bot_username,
            };
            if let Some(reply) = handle(store.as_ref(), &ctx, &message) {
                for m in reply.0 {
                    println!("{m}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
