//! A local front end: messages from a reader, replies to a writer. No Telegram.
//!
//! Each input line is one message from the current sender in the current chat. Lines
//! `:as <user_id>` and `:chat <chat_id>` switch them. A prompt is shown only when
//! `interactive` (stdin is a terminal), so scripts read replies alone. Replies are
//! printed in the [`Style`] asked for: read as text, or as Telegram HTML; a reply's
//! inline buttons follow it as text, a line a row (`[Claim] [Done] [Track] [Delete]`).
//!
//! A line `tap <label>` taps that button of the last message (the label's letter case,
//! brackets and a page button's arrow do not matter: `tap next`), as the current
//! sender: the button's data goes through the same reading and the same command as a
//! tap in Telegram ([`crate::command::tap()`]), so the one who taps is the actor. The
//! tap's notice prints as `(toast) ...` or `(alert) ...`, then the message as it is
//! now, whose buttons are the next to tap. A reply without buttons, or a switch of
//! chat, leaves nothing to tap.

use std::io::{self, BufRead, Write};

use crate::command::button::Keyboard;
use crate::command::terminal::{Style, buttons, show};
use crate::command::{Context, Reply, handle, tap};
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
    let mut last = Keyboard::new();
    if opts.interactive {
        writeln!(
            out,
            "bountybot repl: chat {chat}, user {user}. :as <user_id>, :chat <chat_id>, tap <button>, Ctrl-D to quit."
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
                Ok(Ok(id)) => {
                    chat = id;
                    last.clear();
                }
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
            match tapped(trimmed) {
                Some(label) => {
                    let Some(button) = last.iter().flatten().find(|b| names(&b.label, label))
                    else {
                        let offered: Vec<String> = buttons(&last).collect();
                        if offered.is_empty() {
                            writeln!(out, "tap: the last reply has no buttons")?;
                        } else {
                            writeln!(out, "tap: no such button; there are {}", offered.join(" "))?;
                        }
                        out.flush()?;
                        continue;
                    };
                    if let Some(answer) = tap(store, &ctx, &button.action.data()) {
                        if let Some(notice) = &answer.notice {
                            let kind = if answer.alert { "alert" } else { "toast" };
                            // Plain text, control characters already shown as `�`.
                            writeln!(out, "({kind}) {notice}")?;
                        }
                        if let Some(message) = answer.message {
                            last = print(&mut out, message, opts.style)?;
                        }
                    }
                }
                None => {
                    if let Some(reply) = handle(store, &ctx, line) {
                        last = print(&mut out, reply, opts.style)?;
                    }
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

/// The label of a `tap <label>` line (`[Label]` or `Label`), or `None` for any other.
fn tapped(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("tap")?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let label = rest.trim();
    Some(
        label
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
            .unwrap_or(label)
            .trim(),
    )
}

/// Whether `typed` names the button labelled `label`: the label itself, in any ASCII
/// case, or without its arrows (`tap next` taps `Next ▶`, `tap prev` taps `◀ Prev`).
fn names(label: &str, typed: &str) -> bool {
    let bare = |s: &str| {
        s.trim_matches(|c: char| c == '◀' || c == '▶' || c.is_whitespace())
            .to_string()
    };
    label.eq_ignore_ascii_case(typed)
        || (!bare(typed).is_empty() && bare(label).eq_ignore_ascii_case(&bare(typed)))
}

/// Writes `reply`'s messages in `style` and its buttons under them; the buttons are
/// what a `tap` line may tap next.
fn print(out: &mut impl Write, reply: Reply, style: Style) -> io::Result<Keyboard> {
    for message in &reply.messages {
        writeln!(out, "{}", show(message, style))?;
    }
    for row in buttons(&reply.buttons) {
        writeln!(out, "{row}")?;
    }
    Ok(reply.buttons)
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
        assert_eq!(lines[4], "[#1]", "the button that opens it");
        assert_eq!(lines.len(), 5, "{out:?}");
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

    #[test]
    fn a_tap_acts_on_the_last_replys_button_as_the_current_sender() {
        let (out, dir) = run_styled(
            b"tap Claim\n/add fix it\n/claim 1\n:as 4\ntap unclaim\nhello\ntap [Track]\ntap frob\ntapping\n:chat -8\ntap Claim\n",
            false,
            Style::Plain,
        );
        let today = jiff::Zoned::now()
            .with_time_zone(jiff::tz::TimeZone::UTC)
            .date();
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [
                "tap: the last reply has no buttons",
                "Added bounty #1: fix it",
                "You claimed #1: fix it. /done 1 when it is finished.",
                "[Unclaim] [Done] [Track] [Delete]",
                // User 4 is not the claimer: refused, as /unclaim 1 would be, and the
                // bounty shown as it is.
                "(alert) Only user 3, who claims #1 (or a group administrator), can unclaim it.",
                "Bounty #1 (open)",
                "fix it",
                &format!("Created by user 3 on {today}"),
                "Claimed by user 3",
                "Tracked by nobody",
                "[Unclaim] [Done] [Track] [Delete]",
                // Chatter gets no reply and leaves the buttons to tap.
                "(toast) Tracking #1. See your list with /my.",
                "Bounty #1 (open)",
                "fix it",
                &format!("Created by user 3 on {today}"),
                "Claimed by user 3",
                "Tracked by user 4",
                "[Unclaim] [Done] [Untrack] [Delete]",
                "tap: no such button; there are [Unclaim] [Done] [Untrack] [Delete]",
                // A switch of chat leaves nothing to tap.
                "tap: the last reply has no buttons",
            ],
            "{out}"
        );
        let store = JsonStore::new(dir.path());
        let chat = ChatId::new(-7);
        let b = store
            .get(chat, crate::domain::BountyId::new(1))
            .unwrap()
            .unwrap();
        assert_eq!(b.claimed_by_user_id, Some(UserId::new(3)));
        assert_eq!(
            store.tracked(chat, UserId::new(4)).unwrap(),
            [crate::domain::BountyId::new(1)]
        );
        assert!(store.tracked(chat, UserId::new(3)).unwrap().is_empty());
    }

    #[test]
    fn a_page_button_is_named_with_or_without_its_arrow() {
        for typed in ["Next ▶", "next", "NEXT", " Next ▶ "] {
            assert!(names("Next ▶", typed.trim()), "{typed:?}");
        }
        assert!(names("◀ Prev", "prev"));
        assert!(names("#12", "#12"));
        for typed in ["", "▶", "Nex", "#1", "Next ▶ more"] {
            assert!(!names("Next ▶", typed), "{typed:?}");
        }
        assert!(!names("#12", "#1"));
    }

    #[test]
    fn only_a_tap_line_is_a_tap() {
        assert_eq!(tapped("tap Claim"), Some("Claim"));
        assert_eq!(tapped("tap  [Yes, delete] "), Some("Yes, delete"));
        assert_eq!(tapped("tap"), Some(""));
        assert_eq!(tapped("tapping"), None);
        assert_eq!(tapped("/tap Claim"), None);
    }
}
