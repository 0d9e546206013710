//! A local front end: messages from a reader, replies to a writer. No Telegram.
//!
//! Each input line is one message from the current sender in the current chat. Lines
//! `:as <user_id>` and `:chat <chat_id>` switch them. A prompt is shown only when
//! `interactive` (stdin is a terminal), so scripts read replies alone. Replies are
//! printed in the [`Style`] asked for: read as text, or as Telegram HTML.

use std::io::{self, BufRead, Write};

use crate::command::terminal::{Style, show};
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
    /// How replies are printed: as read ([`Style::Ansi`], [`Style::Plain`]) or as
    /// Telegram HTML ([`Style::Raw`]).
    pub style: Style,
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
    let mut input = input;
    let mut buf = Vec::new();
    loop {
        if opts.interactive {
            write!(out, "[{chat} as {user}] > ")?;
            out.flush()?;
        }
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        // A line that is not UTF-8 is still a message (with replacement characters),
        // not the end of the session.
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\r', '\n']);
        let trimmed = line.trim();
        if let Some(arg) = trimmed.strip_prefix(":as") {
            match arg.trim().parse::<i64>().map(UserId::try_from) {
                Ok(Ok(id)) if id.is_person() => user = id,
                _ => writeln!(out, "usage: :as <positive user id>")?,
            }
        } else if let Some(arg) = trimmed.strip_prefix(":chat") {
            match arg.trim().parse::<i64>().map(ChatId::try_from) {
                Ok(Ok(id)) => chat = id,
                _ => writeln!(out, "usage: :chat <chat id> (negative for a group)")?,
            }
        } else if !trimmed.is_empty() {
            let ctx = Context {
                chat,
                user,
                now: jiff::Timestamp::now(),
                bot_username: &opts.bot_username,
                update: None,
                admin: false,
                name: None,
            };
            if let Some(reply) = handle(store, &ctx, line) {
                for message in reply.messages {
                    writeln!(out, "{}", show(&message, opts.style))?;
                }
            }
        }
        out.flush()?;
    }
    if opts.interactive {
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Bounties;
    use crate::store::json::JsonStore;

    fn run_on(input: &[u8], interactive: bool) -> (String, tempfile::TempDir) {
        run_styled(input, interactive, Style::Raw)
    }

    fn run_styled(input: &[u8], interactive: bool, style: Style) -> (String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonStore::new(dir.path());
        let opts = ReplOptions {
            chat: ChatId::new(-7),
            user: UserId::new(3),
            bot_username: "bountybot".into(),
            interactive,
            style,
        };
        let mut out = Vec::new();
        run(&store, &opts, input, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), dir)
    }

    #[test]
    fn a_terminal_sees_each_prompt_before_typing_and_the_reply_after() {
        let (out, _dir) = run_on(b"/add first\n:as 4\n", true);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("bountybot repl: chat -7, user 3."),
            "{out}"
        );
        assert_eq!(lines[1], "[-7 as 3] > Added bounty <b>#1</b>: first");
        assert_eq!(
            lines[2], "[-7 as 3] > [-7 as 4] > ",
            "prompt follows the switch"
        );
        assert_eq!(lines.len(), 3, "{out:?}");
    }

    #[test]
    fn piped_input_gets_replies_only() {
        let (out, _dir) = run_on(b"/add first\r\n\n:as x\n/bounty@bountybot\n", false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "Added bounty <b>#1</b>: first");
        assert_eq!(lines[1], "usage: :as <positive user id>");
        assert_eq!(lines[2], "<b>Bounties in this group</b>");
        assert!(lines[3].starts_with("<b>#1</b> first · by user 3"), "{out}");
        assert_eq!(lines.len(), 4, "{out:?}");
    }

    #[test]
    fn replies_are_printed_in_the_style_asked_for() {
        let input = b"/add <first> & more\n";
        let (plain, _dir) = run_styled(input, false, Style::Plain);
        assert_eq!(plain, "Added bounty #1: <first> & more\n");
        let (ansi, _dir) = run_styled(input, false, Style::Ansi);
        assert_eq!(ansi, "Added bounty \x1b[1m#1\x1b[22m: <first> & more\n");
        let (raw, _dir) = run_styled(input, false, Style::Raw);
        assert_eq!(raw, "Added bounty <b>#1</b>: &lt;first&gt; &amp; more\n");
    }

    #[test]
    fn a_line_that_is_not_utf8_does_not_end_the_session() {
        let (out, dir) = run_on(b"/add caf\xe9 bill\n/add next\n", false);
        assert_eq!(
            out,
            "Added bounty <b>#1</b>: caf\u{fffd} bill\nAdded bounty <b>#2</b>: next\n"
        );
        let store = JsonStore::new(dir.path());
        assert_eq!(store.list(ChatId::new(-7)).unwrap().len(), 2);
    }
}
