//! A local front end: messages from a reader, replies to a writer. No Telegram.
//!
//! Each input line is one message from the current sender in the current chat. Lines
//! `:as <user_id>` and `:chat <chat_id>` switch them. A prompt is shown only when
//! `interactive` (stdin is a terminal), so scripts read replies alone.

use std::io::{self, BufRead, Write};

use crate::command::{Context, handle};
use crate::domain::{ChatId, UserId};
use crate::store::BountyStore;

/// Where the REPL starts.
#[derive(Debug, Clone)]
pub struct ReplOptions {
    /// Starting chat.
    pub chat: ChatId,
    /// Starting sender.
    pub user: UserId,
    /// This bot's username.
    pub bot_username: String,
    /// Show prompts.
    pub interactive: bool,
}

/// Runs until the input ends. Each reply is written and flushed once its write is
/// durable (the store returns only then).
pub fn run(
    store: &dyn BountyStore,
    opts: &ReplOptions,
    input: impl BufRead,
    mut out: impl Write,
) -> io::Result<()> {
    let mut chat = opts.chat;
    let mut user = opts.user;
    if opts.interactive {
        writeln!(
            out,
            "bountybot repl: chat {chat}, user {user}. :as <user_id>, :chat <chat_id>, Ctrl-D to quit."
        )?;
    }
    for line in input.lines() {
        if opts.interactive {
            write!(out, "[{chat} as {user}] > ")?;
            out.flush()?;
        }
        let line = line?;
        let trimmed = line.trim();
        if let Some(arg) = trimmed.strip_prefix(":as") {
            match arg.trim().parse::<i64>() {
                Ok(id) if id > 0 => user = UserId(id),
                _ => writeln!(out, "usage: :as <positive user id>")?,
            }
        } else if let Some(arg) = trimmed.strip_prefix(":chat") {
            match arg.trim().parse::<i64>() {
                Ok(id) if id != 0 => chat = ChatId(id),
                _ => writeln!(out, "usage: :chat <chat id> (negative for a group)")?,
            }
        } else if !trimmed.is_empty() {
            let ctx = Context {
                chat,
                user,
                now: jiff::Timestamp::now(),
                bot_username: &opts.bot_username,
            };
            if let Some(reply) = handle(store, &ctx, &line) {
                for message in reply.0 {
                    writeln!(out, "{message}")?;
                }
            }
        }
        out.flush()?;
    }
    Ok(())
}
