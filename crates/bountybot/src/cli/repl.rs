//! `bountybot repl`.

use std::io::IsTerminal;

use anyhow::Context as _;
use bountybot::command::terminal::Style;
use bountybot::domain::{ChatId, UserId};
use bountybot::repl::{self, ReplOptions};

use super::{Global, UsageError, open_store, use_data_dir};

/// Chat with the bot on the terminal: one message per line; `:as <user_id>` and
/// `:chat <chat_id>` switch sender and chat (negative chat ids are groups).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Chat to start in (default: the user's private chat).
    #[arg(long, allow_negative_numbers = true)]
    chat: Option<i64>,
    /// User to start as.
    #[arg(long, default_value_t = 1)]
    user: i64,
    /// Print replies as the Telegram HTML the bot sends (default: as a person reads
    /// them, bold in a terminal unless NO_COLOR is set).
    #[arg(long)]
    raw: bool,
}

pub fn run(g: &Global, args: Args) -> anyhow::Result<()> {
    let user = match UserId::try_from(args.user) {
        Ok(user) if user.is_person() => user,
        _ => return Err(UsageError("--user must be a positive id".into()).into()),
    };
    let chat = match args.chat {
        None => user.private_chat(),
        Some(chat) => {
            ChatId::try_from(chat).map_err(|_| UsageError("--chat cannot be 0".into()))?
        }
    };
    let _lock = use_data_dir(&g.data_dir)?;
    let store = open_store(g)?;
    let stdin = std::io::stdin();
    let opts = ReplOptions {
        chat,
        user,
        bot_username: g.bot_username.clone(),
        interactive: stdin.is_terminal(),
        style: Style::pick(
            args.raw,
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ),
    };
    repl::run(
        store.as_ref(),
        &opts,
        stdin.lock(),
        std::io::stdout().lock(),
    )
    .context("repl")
}
