//! The `bountybot` command line. Exit codes: 0 success, 1 failure, 2 usage error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bountybot::command::{Context, handle};
use bountybot::domain::{ChatId, UserId};
use bountybot::repl::{self, ReplOptions};
use bountybot::store::json::JsonStore;
use clap::{Parser, Subcommand};

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

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = JsonStore::new(&args.data_dir);
    match args.command {
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
            repl::run(&store, &opts, stdin.lock(), std::io::stdout().lock()).context("repl")?;
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
            if let Some(reply) = handle(&store, &ctx, &message) {
                for m in reply.0 {
                    println!("{m}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
