//! A tap on an inline button: the command it names, run by the one who tapped, and
//! what the tap gets back as Telegram shows it.
//!
//! A tap is answered in two parts: a short notice for the one who tapped (a toast,
//! or an alert to dismiss when the tap changed nothing; none where the message says
//! it all: a page, the delete question, a deletion), and the message, which shows the
//! result. Taps that act on a bounty (Claim, Unclaim, Done, Reopen, Track,
//! Untrack, Delete and its question) and page turns replace the tapped message; a
//! listing's `#12` button sends the bounty's view as a new message, so the listing
//! stays to open the others.
//!
//! A tap whose button no longer matches its bounty (it was claimed, finished, reopened
//! or released since the message was sent) acts on the bounty as it is now, like the
//! typed command would, and its notice says the bounty changed; the message is then
//! shown as the bounty is now.

use super::button::bounty_buttons;
use super::button::{Action, DataError};
use super::handle::{
    Outcome, Reply, Turn, answered_once, ask_delete, finish_turn, handle_command, storage_failure,
    view_of,
};
use super::terminal::to_text;
use crate::domain::{Bounty, BountyId};
use crate::store::{BountyStore, Origin, StoreError};

use super::handle::Context;

/// Longest notice, in UTF-16 code units as Telegram counts (its limit on
/// `answerCallbackQuery`'s text is 200 characters).
pub const MAX_NOTICE_UNITS: usize = 200;

/// Where a tap's message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In place of the tapped message (`editMessageText`).
    Replace,
    /// As a new message under it.
    New,
}

/// What a tap gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tapped {
    /// A short plain-text notice for the one who tapped, at most
    /// [`MAX_NOTICE_UNITS`] long; `None` for a tap whose message says it all.
    pub notice: Option<String>,
    /// Whether the notice is an alert: the tap was refused or changed nothing.
    pub alert: bool,
    /// The message showing the result (one message and its buttons), if any.
    pub message: Option<Reply>,
    /// Where [`Self::message`] goes.
    pub placement: Placement,
}

impl Tapped {
    /// An alert saying `text`, the tapped message left as it is.
    pub fn alert(text: &str) -> Tapped {
        Tapped {
            notice: Some(bounded(text)),
            alert: true,
            message: None,
            placement: Placement::Replace,
        }
    }

    /// An alert saying `reply`'s first message, the tapped message left as it is.
    fn refused(reply: &Reply) -> Tapped {
        Tapped {
            notice: notice(reply),
            alert: true,
            message: None,
            placement: Placement::Replace,
        }
    }
}

/// What became of a tap: as [`Outcome`] for a message.
#[derive(Debug)]
pub enum TapOutcome {
    /// Finished; the update is confirmed and the answer given.
    Done(Tapped),
    /// A storage failure that may pass; the update is to be delivered again.
    Retry(StoreError),
    /// A redelivered update, processed before: nothing changed, nothing to show.
    Duplicate,
}

/// Handles a tap on an inline button whose `callback_data` is `data`: read strictly
/// ([`Action::parse`]) and run as the command typing it would run, by the one who
/// tapped ([`Context::user`]), under the same rules, exactly once per update. Data the
/// bot did not write gets a polite refusal and changes nothing.
pub fn answer_tap(store: &dyn BountyStore, ctx: &Context<'_>, data: &str) -> TapOutcome {
    let action = match Action::parse(data) {
        Ok(action) => action,
        Err(e) => return refuse_data(store, ctx, e),
    };
    let t = Turn::new(store, ctx);
    // The bounty as the tap found it: to tell whether the button was still its own,
    // and whether the tap changed anything.
    let before = acted_on(action)
        .and_then(|id| Seen::read(&t, id))
        .map(|seen| seen.snapshot());
    let changed = before.as_ref().is_some_and(|b| b.outdates(action));
    let outcome = match (action, action.command()) {
        (_, Some(cmd)) => handle_command(&t, cmd),
        (Action::AskDelete(id), None) => finish_turn(&t, ask_delete(&t, id)),
        (_, None) => finish_turn(&t, Ok(stale_button())),
    };
    let reply = match outcome {
        Outcome::Done(Some(reply)) => reply,
        Outcome::Done(None) => return TapOutcome::Done(Tapped::refused(&stale_button())),
        Outcome::Retry(e) => return TapOutcome::Retry(e),
        Outcome::Duplicate => return TapOutcome::Duplicate,
    };
    // The bounty as the tap left it: to tell whether it changed anything, and to show.
    let after = acted_on(action).and_then(|id| Seen::read(&t, id));
    let same = before.is_some_and(|b| after.as_ref().is_some_and(|a| a.snapshot() == b));
    let now = after.and_then(|seen| seen.view(&t));
    TapOutcome::Done(tapped(action, reply, Effect { changed, same }, now))
}

/// Handles a tap as [`crate::command::handle()`] does a message (for the REPL, which
/// does not try again): a failure that may pass is told as an alert.
pub fn tap(store: &dyn BountyStore, ctx: &Context<'_>, data: &str) -> Option<Tapped> {
    match answer_tap(store, ctx, data) {
        TapOutcome::Done(tapped) => Some(tapped),
        TapOutcome::Retry(e) => Some(Tapped::refused(&storage_failure(ctx, &e))),
        TapOutcome::Duplicate => None,
    }
}

/// Data the bot did not write: refused once per update, nothing changed.
fn refuse_data(store: &dyn BountyStore, ctx: &Context<'_>, e: DataError) -> TapOutcome {
    tracing::info!(chat = %ctx.chat, user = %ctx.user, error = %e, "refused a button's data");
    let unnamed = Origin {
        update: ctx.update,
        sender: None,
    };
    match answered_once(store, ctx, &unnamed, stale_button()) {
        Outcome::Done(reply) => {
            TapOutcome::Done(Tapped::refused(&reply.unwrap_or_else(stale_button)))
        }
        Outcome::Retry(e) => TapOutcome::Retry(e),
        Outcome::Duplicate => TapOutcome::Duplicate,
    }
}

/// The answer to a button the bot did not make (or no longer knows).
pub(super) fn stale_button() -> Reply {
    Reply::new(vec![
        "⚠️ I don't know that button. Send /bounty for the list.".to_string(),
    ])
}

/// The bounty `action` acts on, when it changes one; `None` for the actions that show.
fn acted_on(action: Action) -> Option<BountyId> {
    match action {
        Action::Claim(id)
        | Action::Unclaim(id)
        | Action::Done(id)
        | Action::Reopen(id)
        | Action::Track(id)
        | Action::Untrack(id)
        | Action::Delete(id) => Some(id),
        _ => None,
    }
}

/// A bounty as a tap sees it: its claim and status (`None` once it is gone), and
/// whether the one who taps tracks it.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    state: Option<(Option<crate::domain::UserId>, crate::domain::Status)>,
    tracked: bool,
}

/// A bounty as read for a tap: itself (`None` once it is gone), and whether the one
/// who taps tracks it.
struct Seen {
    bounty: Option<Bounty>,
    tracked: bool,
}

impl Seen {
    /// Bounty `id` now; `None` when it cannot be read (the command tells why).
    fn read(t: &Turn<'_, '_>, id: BountyId) -> Option<Seen> {
        let bounty = t.store.get(t.ctx.chat, id).ok()?;
        let tracked = t.store.tracked(t.ctx.chat, t.ctx.user).ok()?.contains(&id);
        Some(Seen { bounty, tracked })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self
                .bounty
                .as_ref()
                .map(|b| (b.claimed_by_user_id, b.status)),
            tracked: self.tracked,
        }
    }

    /// The bounty in full with the buttons its state allows the one who taps; `None`
    /// once it is gone (the message is then left as it is).
    fn view(self, t: &Turn<'_, '_>) -> Option<Reply> {
        let b = self.bounty?;
        Some(Reply {
            messages: vec![view_of(t, &b)],
            buttons: bounty_buttons(&b, self.tracked),
        })
    }
}

impl Snapshot {
    /// Whether the bounty would no longer offer `action`'s button: it was claimed,
    /// released, finished or reopened since the message was sent. Tracking is the
    /// tapper's own, not the bounty's, and a bounty that is gone is the command's to
    /// tell.
    fn outdates(&self, action: Action) -> bool {
        let Some((claimed, status)) = self.state else {
            return false;
        };
        match action {
            Action::Claim(_) => claimed.is_some() || status == crate::domain::Status::Done,
            Action::Unclaim(_) => claimed.is_none(),
            Action::Done(_) => status == crate::domain::Status::Done,
            Action::Reopen(_) => status == crate::domain::Status::Open,
            _ => false,
        }
    }
}

/// What a tap did: whether its button was outdated, and whether it left the bounty
/// the same.
#[derive(Debug, Clone, Copy)]
struct Effect {
    changed: bool,
    same: bool,
}

/// What the tap on `action`, answered with `reply`, gets back; `now` is the view of
/// the bounty it acted on, as the tap left it.
fn tapped(action: Action, reply: Reply, effect: Effect, now: Option<Reply>) -> Tapped {
    let replaced = |message: Reply| Tapped {
        notice: None,
        alert: false,
        message: Some(message),
        placement: Placement::Replace,
    };
    match action {
        Action::Page { .. } | Action::MyPage(_) | Action::Keep(_) => replaced(reply),
        Action::Show(_) => Tapped {
            placement: Placement::New,
            ..replaced(reply)
        },
        // The question, or why not.
        Action::AskDelete(_) if reply.buttons.is_empty() => Tapped::refused(&reply),
        Action::AskDelete(_) => replaced(reply),
        // "Deleted bounty #12." says it all.
        Action::Delete(_) if !effect.same => replaced(reply),
        Action::Delete(_) => Tapped {
            message: now,
            ..Tapped::refused(&reply)
        },
        Action::Claim(id)
        | Action::Unclaim(id)
        | Action::Done(id)
        | Action::Reopen(id)
        | Action::Track(id)
        | Action::Untrack(id) => {
            let mut said = notice(&reply);
            if effect.changed {
                said = Some(bounded(&format!(
                    "#{id} changed since this message was sent. {}",
                    said.unwrap_or_default()
                )));
            }
            Tapped {
                notice: said,
                alert: effect.same || effect.changed,
                message: now,
                placement: Placement::Replace,
            }
        }
    }
}

/// `reply`'s first message as a notice: plain text, bounded.
fn notice(reply: &Reply) -> Option<String> {
    let text = reply.messages.first()?;
    Some(bounded(&to_text(text, false)))
}

/// `text` on one line, at most [`MAX_NOTICE_UNITS`] UTF-16 code units (cut with `…`
/// between characters).
fn bounded(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.encode_utf16().count() <= MAX_NOTICE_UNITS {
        return line;
    }
    // Room for the `…`, one unit.
    let mut cut = String::new();
    let mut units = 0;
    for c in line.chars() {
        units += c.len_utf16();
        if units > MAX_NOTICE_UNITS - 1 {
            break;
        }
        cut.push(c);
    }
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::handle;
    use crate::domain::{ChatId, Status, UpdateId, UserId};
    use crate::store::Bounties;
    use crate::store::json::JsonStore;

    const GROUP: ChatId = ChatId::new(-100_123);
    const OTHER_GROUP: ChatId = ChatId::new(-100_999);
    const ANN: UserId = UserId::new(11);
    const BOB: UserId = UserId::new(22);
    const CAROL: UserId = UserId::new(33);

    struct Bot {
        _dir: tempfile::TempDir,
        store: JsonStore,
    }

    fn ctx(chat: ChatId, user: UserId) -> Context<'static> {
        Context {
            chat,
            user,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            bot_username: "BountyBot",
            update: None,
            admin: false,
            name: None,
        }
    }

    /// A tap's notice (or ""), the text of its message (or ""), and its buttons.
    #[derive(Debug)]
    struct Seen {
        notice: String,
        alert: bool,
        text: String,
        buttons: Vec<String>,
        placement: Placement,
    }

    impl Bot {
        fn new() -> Bot {
            let dir = tempfile::tempdir().unwrap();
            let store = JsonStore::new(dir.path());
            Bot { _dir: dir, store }
        }

        fn say(&self, chat: ChatId, user: UserId, text: &str) -> Reply {
            handle(&self.store, &ctx(chat, user), text).unwrap()
        }

        fn tap(&self, chat: ChatId, user: UserId, data: &str) -> Seen {
            seen(tap(&self.store, &ctx(chat, user), data).unwrap())
        }

        fn bounty(&self, n: u64) -> Option<crate::domain::Bounty> {
            self.store.get(GROUP, BountyId::new(n)).unwrap()
        }
    }

    fn seen(t: Tapped) -> Seen {
        let (text, buttons) = t
            .message
            .map_or_else(Default::default, |m| (m.messages.join("\n"), labels(&m)));
        Seen {
            notice: t.notice.unwrap_or_default(),
            alert: t.alert,
            text,
            buttons,
            placement: t.placement,
        }
    }

    fn labels(r: &Reply) -> Vec<String> {
        r.buttons
            .iter()
            .flatten()
            .map(|b| b.label.to_string())
            .collect()
    }

    #[test]
    fn a_tap_acts_as_the_one_who_taps_and_shows_the_bounty_as_it_is_now() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add Ann's task");
        let s = bot.tap(GROUP, BOB, "c:1");
        assert_eq!(
            s.notice,
            "You claimed #1: Ann's task. /done 1 when it is finished."
        );
        assert!(!s.alert);
        assert_eq!(s.placement, Placement::Replace);
        assert!(s.text.starts_with("<b>Bounty #1</b> (open)"), "{}", s.text);
        assert!(s.text.contains("Claimed by user 22"), "{}", s.text);
        assert_eq!(s.buttons, ["Unclaim", "Done", "Track", "Delete"]);
        assert_eq!(bot.bounty(1).unwrap().claimed_by_user_id, Some(BOB));
        // Tracking is the tapper's own.
        let s = bot.tap(GROUP, BOB, "t:1");
        assert_eq!(
            (s.notice.as_str(), s.alert),
            ("Tracking #1. See your list with /my.", false)
        );
        assert_eq!(s.buttons, ["Unclaim", "Done", "Untrack", "Delete"]);
    }

    #[test]
    fn a_refused_tap_is_an_alert_and_changes_nothing() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add Ann's task");
        let s = bot.tap(GROUP, BOB, "d:1");
        assert!(s.alert);
        assert_eq!(
            s.notice,
            "Only the creator of #1, its claimer or a group administrator can finish it."
        );
        assert_eq!(
            s.buttons,
            ["Claim", "Done", "Track", "Delete"],
            "shown as it is"
        );
        assert_eq!(bot.bounty(1).unwrap().status, Status::Open);
        // Tapping Track twice: the second changed nothing.
        assert!(!bot.tap(GROUP, BOB, "t:1").alert);
        let s = bot.tap(GROUP, BOB, "t:1");
        assert!(s.alert && s.notice == "You already track #1.", "{s:?}");
    }

    #[test]
    fn delete_asks_then_deletes_and_keep_it_shows_the_bounty_again() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add Ann's task");
        // Only whom may delete is asked.
        let s = bot.tap(GROUP, BOB, "D:1");
        assert!(
            s.alert && s.notice.starts_with("Only the creator of #1"),
            "{s:?}"
        );
        assert!(s.text.is_empty(), "the message is left as it is");
        let s = bot.tap(GROUP, ANN, "D:1");
        assert_eq!(
            (s.text.as_str(), s.placement),
            (
                "Delete bounty <b>#1</b>: Ann's task? This cannot be undone.",
                Placement::Replace
            )
        );
        assert_eq!(s.buttons, ["Yes, delete", "Keep it"]);
        assert!(bot.bounty(1).is_some(), "asking deletes nothing");
        // Keep it: the view again, in place.
        let s = bot.tap(GROUP, ANN, "k:1");
        assert!(s.text.contains("Ann's task") && s.placement == Placement::Replace);
        assert_eq!(s.buttons, ["Claim", "Done", "Track", "Delete"]);
        // Someone else's "Yes": refused, the bounty shown as it is.
        let s = bot.tap(GROUP, BOB, "Y:1");
        assert!(
            s.alert && s.notice.starts_with("Only the creator of #1"),
            "{s:?}"
        );
        assert!(s.text.contains("Ann's task"));
        let s = bot.tap(GROUP, ANN, "Y:1");
        assert_eq!((s.notice.as_str(), s.alert), ("", false));
        assert_eq!(s.text, "Deleted bounty #1.");
        assert!(s.buttons.is_empty());
        assert!(bot.bounty(1).is_none());
    }

    #[test]
    fn a_button_older_than_its_bounty_acts_on_it_as_it_is_and_says_so() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add Ann's task");
        // Bob's message offers Claim; Carol claims first by typing.
        bot.say(GROUP, CAROL, "/claim 1");
        let s = bot.tap(GROUP, BOB, "c:1");
        assert!(s.alert, "{s:?}");
        assert!(
            s.notice.starts_with(
                "#1 changed since this message was sent. #1 is claimed by user 33 already."
            ),
            "{}",
            s.notice
        );
        assert!(s.text.contains("Claimed by user 33"), "{}", s.text);
        assert_eq!(s.buttons[0], "Unclaim");
        assert_eq!(bot.bounty(1).unwrap().claimed_by_user_id, Some(CAROL));
        // Done on a bounty Ann reopened meanwhile... and one finished meanwhile.
        bot.say(GROUP, ANN, "/done 1");
        let s = bot.tap(GROUP, ANN, "d:1");
        assert!(
            s.notice
                .starts_with("#1 changed since this message was sent. #1 is done already."),
            "{}",
            s.notice
        );
        // A button matching the bounty says nothing of a change.
        let s = bot.tap(GROUP, ANN, "r:1");
        assert_eq!(s.notice, "Reopened bounty #1: Ann's task.");
        assert!(!s.alert);
    }

    #[test]
    fn a_listing_opens_each_bounty_as_a_new_message_and_turns_its_pages_in_place() {
        let bot = Bot::new();
        for n in 1..=25 {
            bot.say(GROUP, ANN, &format!("/add Task {n}"));
        }
        let numbered = |range: std::ops::RangeInclusive<u64>| -> Vec<String> {
            range.map(|n| format!("#{n}")).collect()
        };
        let first = bot.say(GROUP, BOB, "/bounty");
        assert!(first.messages[0].contains("(page 1 of 2)"));
        let mut want = numbered(1..=20);
        want.push("Next ▶".into());
        assert_eq!(labels(&first), want);
        let s = bot.tap(GROUP, BOB, "p:2:open");
        assert!(s.text.contains("(page 2 of 2)"), "{}", s.text);
        assert_eq!((s.notice.as_str(), s.placement), ("", Placement::Replace));
        let mut want = numbered(21..=25);
        want.push("◀ Prev".into());
        assert_eq!(s.buttons, want);
        assert_eq!(
            bot.tap(GROUP, BOB, "p:1:open").buttons.last().unwrap(),
            "Next ▶"
        );
        // The filter is kept: page 2 of every bounty once one is done.
        bot.say(GROUP, ANN, "/done 3");
        let s = bot.tap(GROUP, BOB, "p:2:all");
        assert!(
            s.text
                .starts_with("<b>All bounties in this group</b> (page 2 of 2)"),
            "{}",
            s.text
        );
        assert_eq!(s.buttons.first().map(String::as_str), Some("#21"));
        // /my turns its own pages.
        for n in 1..=21 {
            bot.say(GROUP, BOB, &format!("/track {n}"));
        }
        let s = bot.tap(GROUP, BOB, "m:2");
        assert!(
            s.text
                .starts_with("<b>Your tracked bounties</b> (page 2 of 2)"),
            "{}",
            s.text
        );
        assert_eq!(s.buttons, ["#21", "◀ Prev"]);
        // A bounty's button opens its view, below, with the buttons its state allows.
        let s = bot.tap(GROUP, BOB, "s:21");
        assert!(s.text.contains("Task 21"), "{}", s.text);
        assert_eq!(s.placement, Placement::New);
        assert_eq!(s.buttons, ["Claim", "Done", "Untrack", "Delete"]);
    }

    #[test]
    fn a_forged_button_is_refused_and_changes_nothing() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add Ann's task");
        // Bounty 1 of another chat is not this chat's: a button acts only where tapped.
        let s = bot.tap(OTHER_GROUP, BOB, "c:1");
        assert!(s.alert);
        assert!(
            s.notice.starts_with("There is no bounty #1 in this chat"),
            "{}",
            s.notice
        );
        assert!(s.text.is_empty());
        for forged in ["c:0", "c:1;d:1", "z:1", "", "c:01", &"c:1".repeat(30)] {
            let s = bot.tap(GROUP, BOB, forged);
            assert!(
                s.alert && s.notice.contains("I don't know that button"),
                "{forged}: {s:?}"
            );
            assert!(s.text.is_empty() && s.buttons.is_empty());
        }
        let b = bot.bounty(1).unwrap();
        assert_eq!(b.claimed_by_user_id, None);
        assert_eq!(b.status, Status::Open);
    }

    #[test]
    fn a_tap_delivered_twice_is_answered_once() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add Ann's task");
        for data in ["c:1", "d:1", "p:1:open", "zz"] {
            let once = Context {
                update: Some(UpdateId::new(match data {
                    "c:1" => 10,
                    "d:1" => 11,
                    "p:1:open" => 12,
                    _ => 13,
                })),
                ..ctx(GROUP, BOB)
            };
            assert!(
                matches!(answer_tap(&bot.store, &once, data), TapOutcome::Done(_)),
                "{data}"
            );
            assert!(
                matches!(answer_tap(&bot.store, &once, data), TapOutcome::Duplicate),
                "{data} again"
            );
        }
        let b = bot.bounty(1).unwrap();
        assert_eq!((b.claimed_by_user_id, b.status), (Some(BOB), Status::Done));
    }

    #[test]
    fn a_notice_is_one_line_of_plain_text_within_telegrams_limit() {
        assert_eq!(bounded("a\n b  c"), "a b c");
        let long = "x".repeat(500);
        let cut = bounded(&long);
        assert_eq!(cut.encode_utf16().count(), MAX_NOTICE_UNITS);
        assert!(cut.ends_with('…'));
        // Telegram counts UTF-16 units: an emoji is two, and is never cut in half.
        let emoji = "🙂".repeat(150);
        let cut = bounded(&emoji);
        assert!(
            cut.encode_utf16().count() <= MAX_NOTICE_UNITS,
            "{}",
            cut.len()
        );
        assert_eq!(cut, format!("{}…", "🙂".repeat(99)));
        let fits = "🙂".repeat(100);
        assert_eq!(bounded(&fits), fits);
        let r = Reply::new(vec!["<b>#1</b> &lt;ok&gt;".into()]);
        assert_eq!(notice(&r).as_deref(), Some("#1 <ok>"));
    }
}
