//! `bountybot send`.

use std::io::IsTerminal;

use bountybot::command::terminal::{Style, buttons, show};
use bountybot::command::{Context, handle};
use bountybot::domain::{ChatId, UserId};

use super::{Global, UsageError, open_store, use_data_dir};

/// Send one message and print the reply (printed once its write is durable), and its
/// inline buttons as text under it (`[Claim] [Done] [Track] [Delete]`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Chat id (negative for a group).
    #[arg(long, allow_negative_numbers = true)]
    chat: i64,
    /// Sender's user id.
    #[arg(long)]
    user: i64,
    /// Print the reply as the Telegram HTML the bot sends (default: as a person reads
    /// it, bold in a terminal unless NO_COLOR is set).
    #[arg(long)]
    raw: bool,
    /// The message, e.g. "/add Fix the login bug +3d".
    message: String,
}

pub fn run(g: &Global, args: Args) -> anyhow::Result<()> {
    let (chat, user) = match (ChatId::try_from(args.chat), UserId::try_from(args.user)) {
        (Ok(chat), Ok(user)) if user.is_person() => (chat, user),
        _ => return Err(UsageError("--user must be positive and --chat non-zero".into()).into()),
    };
    let _lock = use_data_dir(&g.data_dir)?;
    let store = open_store(g)?;
    let ctx = Context {
        chat,
        user,
        now: jiff::Timestamp::now(),
        bot_username: &g.bot_username,
        update: None,
        admin: false,
        name: None,
    };
    let style = Style::pick(
        args.raw,
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    if let Some(reply) = handle(store.as_ref(), &ctx, &args.message) {
        for m in reply.messages {
            println!("{}", show(&m, style));
        }
        for row in buttons(&reply.buttons) {
            println!("{row}");
        }
    }
    Ok(())
}
