//! Inline buttons through `bountybot run` (the real binary) and the fake Bot API: the
//! buttons a reply carries, a tap (`callback_query`) as the one who tapped, its answer
//! (`answerCallbackQuery`) and the tapped message edited in place. Each on JSON and on
//! SQLite.

use serde_json::Value;

use crate::support::Data;
use crate::support::fake_bot_api::{Answer, Edit, FakeBotApi, Sent, callback, message};
use crate::telegram::{Running, start_with_env};

const GROUP: i64 = -1_001_000_000_321;
const OTHER_GROUP: i64 = -1_001_000_000_654;
const ANN: i64 = 601;
const BOB: i64 = 602;
const CARL: i64 = 603;

/// A bot on one backend, and the next update id.
struct Bot {
    api: FakeBotApi,
    _d: Data,
    _bot: Running,
    next: std::cell::Cell<i64>,
}

impl Bot {
    async fn start(sqlite: bool) -> Bot {
        Bot::start_with_env(sqlite, &[]).await
    }

    async fn start_with_env(sqlite: bool, env: &[(&str, &str)]) -> Bot {
        let api = FakeBotApi::start().await;
        let d = Data::new();
        if sqlite {
            d.use_sqlite();
        }
        let bot = start_with_env(&d, &api, &d.storage_args(), env);
        Bot {
            api,
            _d: d,
            _bot: bot,
            next: std::cell::Cell::new(1),
        }
    }

    fn update_id(&self) -> i64 {
        let id = self.next.get();
        self.next.set(id + 1);
        id
    }

    /// `user` says `text` in `chat`; returns the reply and its message id.
    async fn say(&self, chat: i64, user: i64, text: &str) -> (i64, Sent) {
        let before = self.api.sent().len();
        self.api.push(message(self.update_id(), chat, user, text));
        let sent = self.api.wait_for_sent(before + 1).await;
        (before as i64 + 1, sent[before].clone())
    }

    /// `user` taps the button with `data` under message `message_id` of `chat`;
    /// returns the answer to the tap.
    async fn tap(&self, chat: i64, user: i64, message_id: i64, data: &str) -> Answer {
        let update = self.update_id();
        self.api
            .push(callback(update, chat, user, message_id, data));
        answer_to(&self.api, update).await
    }

    /// Waits for the edit of message `message_id` number `n` (from 1).
    async fn edit(&self, message_id: i64, n: usize) -> Edit {
        let of = |edits: &[Edit]| -> Vec<Edit> {
            edits
                .iter()
                .filter(|e| e.message_id == message_id)
                .cloned()
                .collect()
        };
        self.api
            .wait_for_taps(&format!("edit {n} of message {message_id}"), |e, _| {
                of(e).len() >= n
            })
            .await;
        of(&self.api.edits())[n - 1].clone()
    }
}

/// Waits for the answer to the tap of update `update`.
async fn answer_to(api: &FakeBotApi, update: i64) -> Answer {
    let id = format!("q{update}");
    let mine = |answers: &[Answer]| answers.iter().find(|a| a.query_id == id).cloned();
    api.wait_for_taps(&format!("the answer to {id}"), |_, a| mine(a).is_some())
        .await;
    mine(&api.answers()).unwrap()
}

fn labels(buttons: &[Vec<(String, String)>]) -> Vec<&str> {
    buttons.iter().flatten().map(|(l, _)| l.as_str()).collect()
}

fn data(buttons: &[Vec<(String, String)>], label: &str) -> String {
    buttons
        .iter()
        .flatten()
        .find(|(l, _)| l == label)
        .map(|(_, d)| d.clone())
        .unwrap_or_else(|| panic!("no button {label:?} in {buttons:?}"))
}

/// A test run once on JSON and once on SQLite.
macro_rules! on_each_backend {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn json() {
                super::$name(false).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(true).await;
            }
        }
    };
}

on_each_backend!(a_listings_page_buttons_turn_its_pages_and_open_each_bounty);
async fn a_listings_page_buttons_turn_its_pages_and_open_each_bounty(sqlite: bool) {
    let bot = Bot::start(sqlite).await;
    for n in 1..=21 {
        bot.say(GROUP, ANN, &format!("/add task {n}")).await;
    }
    let (listing, first) = bot.say(GROUP, BOB, "/bounty").await;
    assert!(first.text.contains("(page 1 of 2)"), "{}", first.text);
    assert_eq!(labels(&first.buttons).len(), 21, "{:?}", first.buttons);
    assert_eq!(labels(&first.buttons).last(), Some(&"Next ▶"));
    // Next: the same message shows page 2.
    let answer = bot
        .tap(GROUP, BOB, listing, &data(&first.buttons, "Next ▶"))
        .await;
    assert_eq!((answer.text, answer.alert), (None, false));
    let second = bot.edit(listing, 1).await;
    assert!(second.text.contains("(page 2 of 2)"), "{}", second.text);
    assert!(second.text.contains("task 21"), "{}", second.text);
    assert_eq!(labels(&second.buttons), ["#21", "◀ Prev"]);
    // Prev: page 1 again (an edit paced after the first).
    bot.tap(GROUP, BOB, listing, &data(&second.buttons, "◀ Prev"))
        .await;
    let again = bot.edit(listing, 2).await;
    assert_eq!(again.text, first.text);
    assert_eq!(again.buttons, first.buttons);
    // A bounty's button: its view as a new message, answering the listing.
    let before = bot.api.sent().len();
    bot.tap(GROUP, BOB, listing, &data(&first.buttons, "#3"))
        .await;
    let view = bot.api.wait_for_sent(before + 1).await[before].clone();
    assert!(
        view.text.starts_with("<b>Bounty #3</b> (open)"),
        "{}",
        view.text
    );
    assert_eq!(view.reply_to, Some(listing));
    assert_eq!(labels(&view.buttons), ["Claim", "Done", "Track", "Delete"]);
    assert_eq!(bot.api.edits().len(), 2, "the listing stays");
    let allowed = bot.api.allowed_updates().unwrap_or(Value::Null).to_string();
    assert!(allowed.contains("callback_query"), "{allowed}");
}

on_each_backend!(claim_by_another_member_claims_and_the_message_shows_it);
async fn claim_by_another_member_claims_and_the_message_shows_it(sqlite: bool) {
    let bot = Bot::start(sqlite).await;
    bot.say(GROUP, ANN, "/add Fix the login bug").await;
    let (view, shown) = bot.say(GROUP, ANN, "/show 1").await;
    assert_eq!(labels(&shown.buttons), ["Claim", "Done", "Track", "Delete"]);
    let answer = bot
        .tap(GROUP, BOB, view, &data(&shown.buttons, "Claim"))
        .await;
    assert_eq!(
        answer.text.as_deref(),
        Some("You claimed #1: Fix the login bug. /done 1 when it is finished.")
    );
    assert!(!answer.alert);
    let edited = bot.edit(view, 1).await;
    assert!(
        edited.text.contains("Claimed by User602"),
        "{}",
        edited.text
    );
    assert_eq!(
        labels(&edited.buttons),
        ["Unclaim", "Done", "Track", "Delete"]
    );
    // Stored: the tapper claims it.
    let (_, now) = bot.say(GROUP, ANN, "/show 1").await;
    assert!(now.text.contains("Claimed by User602"), "{}", now.text);
}

on_each_backend!(done_without_the_right_is_refused_with_an_alert_and_changes_nothing);
async fn done_without_the_right_is_refused_with_an_alert_and_changes_nothing(sqlite: bool) {
    let bot = Bot::start(sqlite).await;
    bot.say(GROUP, ANN, "/add Ann's task").await;
    let (view, shown) = bot.say(GROUP, ANN, "/show 1").await;
    let answer = bot
        .tap(GROUP, CARL, view, &data(&shown.buttons, "Done"))
        .await;
    assert!(answer.alert);
    assert_eq!(
        answer.text.as_deref(),
        Some("Only the creator of #1, its claimer or a group administrator can finish it.")
    );
    // The message is shown as the bounty is, which it already showed: Telegram says
    // "not modified", which is no failure (no retry, no new message).
    bot.api
        .wait_for_taps("the edit attempt", |_, _| bot.api.edit_calls() >= 1)
        .await;
    let (_, now) = bot.say(GROUP, ANN, "/show 1").await;
    assert!(now.text.contains("(open)"), "{}", now.text);
    assert_eq!(bot.api.edits(), [], "nothing changed");
    assert_eq!(bot.api.edit_calls(), 1);
    assert_eq!(bot.api.sent().len(), 3, "only the three replies");
}

on_each_backend!(delete_asks_then_deletes);
async fn delete_asks_then_deletes(sqlite: bool) {
    let bot = Bot::start(sqlite).await;
    bot.say(GROUP, ANN, "/add Ann's task").await;
    let (view, shown) = bot.say(GROUP, ANN, "/show 1").await;
    let answer = bot
        .tap(GROUP, ANN, view, &data(&shown.buttons, "Delete"))
        .await;
    assert_eq!((answer.text, answer.alert), (None, false));
    let question = bot.edit(view, 1).await;
    assert_eq!(
        question.text,
        "Delete bounty <b>#1</b>: Ann's task? This cannot be undone."
    );
    assert_eq!(labels(&question.buttons), ["Yes, delete", "Keep it"]);
    let (_, still) = bot.say(GROUP, ANN, "/bounty").await;
    assert!(still.text.contains("Ann's task"), "asking deletes nothing");
    let answer = bot
        .tap(GROUP, ANN, view, &data(&question.buttons, "Yes, delete"))
        .await;
    assert_eq!(
        (answer.text, answer.alert),
        (None, false),
        "the message says it"
    );
    let deleted = bot.edit(view, 2).await;
    assert_eq!(deleted.text, "Deleted bounty #1.");
    assert!(deleted.buttons.is_empty(), "{:?}", deleted.buttons);
    let (_, gone) = bot.say(GROUP, ANN, "/bounty").await;
    assert!(gone.text.starts_with("No bounties yet"), "{}", gone.text);
}

on_each_backend!(a_forged_button_naming_another_chats_or_no_bounty_is_refused);
async fn a_forged_button_naming_another_chats_or_no_bounty_is_refused(sqlite: bool) {
    let bot = Bot::start(sqlite).await;
    bot.say(OTHER_GROUP, ANN, "/add other chat's first").await;
    bot.say(OTHER_GROUP, ANN, "/add other chat's second").await;
    bot.say(GROUP, ANN, "/add this chat's only").await;
    let (view, _) = bot.say(GROUP, ANN, "/show 1").await;
    for (data, says) in [
        ("c:2", "There is no bounty #2 in this chat."),
        ("Y:2", "There is no bounty #2 in this chat."),
        ("d:99", "There is no bounty #99 in this chat."),
        ("c:1;d:2", "⚠️ I don't know that button."),
        ("c:-2", "⚠️ I don't know that button."),
    ] {
        let answer = bot.tap(GROUP, BOB, view, data).await;
        assert!(answer.alert, "{data}");
        let text = answer.text.unwrap_or_default();
        assert!(text.starts_with(says), "{data}: {text}");
    }
    let (_, other) = bot.say(OTHER_GROUP, ANN, "/show 2").await;
    assert!(
        other.text.contains("other chat's second") && other.text.contains("Not claimed"),
        "{}",
        other.text
    );
    assert_eq!(bot.api.edits(), [], "the tapped message is left as it is");
}

on_each_backend!(a_duplicated_tap_is_applied_once);
async fn a_duplicated_tap_is_applied_once(sqlite: bool) {
    let bot = Bot::start(sqlite).await;
    bot.say(GROUP, ANN, "/add Ann's task").await;
    let (view, shown) = bot.say(GROUP, ANN, "/show 1").await;
    // Telegram delivers the same tap twice in one batch.
    let update = bot.update_id();
    let tap = callback(update, GROUP, BOB, view, &data(&shown.buttons, "Track"));
    bot.api.push_batch(&[tap.clone(), tap]);
    answer_to(&bot.api, update).await;
    bot.edit(view, 1).await;
    let (_, mine) = bot.say(GROUP, BOB, "/my").await;
    assert!(mine.text.contains("Ann's task"), "{}", mine.text);
    let answers = bot.api.answers();
    let said: Vec<&Answer> = answers.iter().filter(|a| a.text.is_some()).collect();
    assert_eq!(said.len(), 1, "one answer says something: {answers:?}");
    assert_eq!(
        said[0].text.as_deref(),
        Some("Tracking #1. See your list with /my.")
    );
    assert!(!said[0].alert, "not 'you already track it'");
    assert_eq!(bot.api.edits().len(), 1);
}

on_each_backend!(a_tap_on_a_bounty_changed_since_acts_on_it_as_it_is_and_says_so);
async fn a_tap_on_a_bounty_changed_since_acts_on_it_as_it_is_and_says_so(sqlite: bool) {
    let bot = Bot::start(sqlite).await;
    bot.say(GROUP, ANN, "/add Ann's task").await;
    let (view, shown) = bot.say(GROUP, ANN, "/show 1").await;
    bot.say(GROUP, CARL, "/claim 1").await;
    let answer = bot
        .tap(GROUP, BOB, view, &data(&shown.buttons, "Claim"))
        .await;
    assert!(answer.alert);
    let text = answer.text.unwrap_or_default();
    assert!(
        text.starts_with(
            "#1 changed since this message was sent. #1 is claimed by User603 already."
        ),
        "{text}"
    );
    let edited = bot.edit(view, 1).await;
    assert!(
        edited.text.contains("Claimed by User603"),
        "{}",
        edited.text
    );
    assert_eq!(labels(&edited.buttons)[0], "Unclaim");
}

on_each_backend!(a_message_too_old_to_edit_gets_the_answer_as_a_new_message);
async fn a_message_too_old_to_edit_gets_the_answer_as_a_new_message(sqlite: bool) {
    let bot = Bot::start(sqlite).await;
    bot.say(GROUP, ANN, "/add Ann's task").await;
    let (view, shown) = bot.say(GROUP, ANN, "/show 1").await;
    bot.api.make_too_old(GROUP, view);
    let before = bot.api.sent().len();
    bot.tap(GROUP, BOB, view, &data(&shown.buttons, "Claim"))
        .await;
    let sent = bot.api.wait_for_sent(before + 1).await[before].clone();
    assert!(sent.text.contains("Claimed by User602"), "{}", sent.text);
    assert_eq!(
        labels(&sent.buttons),
        ["Unclaim", "Done", "Track", "Delete"]
    );
    assert_eq!(sent.chat_id, GROUP);
    assert_eq!(bot.api.edits(), []);
    assert_eq!(bot.api.edit_calls(), 1, "tried once, then sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_a_newer_edit_of_the_same_message_waits_behind_is_skipped() {
    let bot = Bot::start(false).await;
    for n in 1..=41 {
        bot.say(GROUP, ANN, &format!("/add task {n}")).await;
    }
    let (listing, first) = bot.say(GROUP, BOB, "/bounty").await;
    assert!(first.text.contains("(page 1 of 3)"), "{}", first.text);
    // The first edit is on its way to Telegram...
    bot.api.hold_sends();
    bot.tap(GROUP, BOB, listing, "p:2:open").await;
    bot.api
        .wait_for_taps("the first edit in flight", |_, _| bot.api.edit_calls() >= 1)
        .await;
    // ...when two more taps on the same listing come in.
    let (third, back) = (bot.update_id(), bot.update_id());
    bot.api.push_batch(&[
        callback(third, GROUP, BOB, listing, "p:3:open"),
        callback(back, GROUP, CARL, listing, "p:1:open"),
    ]);
    answer_to(&bot.api, third).await;
    answer_to(&bot.api, back).await;
    bot.api.release_sends();
    let second = bot.edit(listing, 1).await;
    assert!(second.text.contains("(page 2 of 3)"), "{}", second.text);
    // Page 3 would have shown for a moment only: the listing goes to page 1.
    let last = bot.edit(listing, 2).await;
    assert_eq!(last.text, first.text);
    assert_eq!(bot.api.edit_calls(), 2, "page 3 was never sent");
}

on_each_backend!(two_members_tapping_claim_at_once_get_one_claim_and_one_alert);
async fn two_members_tapping_claim_at_once_get_one_claim_and_one_alert(sqlite: bool) {
    let bot = Bot::start(sqlite).await;
    bot.say(GROUP, ANN, "/add Only one may claim").await;
    let (view, shown) = bot.say(GROUP, ANN, "/show 1").await;
    let claim = data(&shown.buttons, "Claim");
    let (bob, carl) = (bot.update_id(), bot.update_id());
    bot.api.push_batch(&[
        callback(bob, GROUP, BOB, view, &claim),
        callback(carl, GROUP, CARL, view, &claim),
    ]);
    let (first, second) = (
        answer_to(&bot.api, bob).await,
        answer_to(&bot.api, carl).await,
    );
    assert!(!first.alert, "{first:?}");
    assert!(second.alert, "{second:?}");
    assert!(
        second
            .text
            .unwrap_or_default()
            .contains("#1 is claimed by User602 already"),
    );
    let (_, now) = bot.say(GROUP, ANN, "/show 1").await;
    assert!(now.text.contains("Claimed by User602"), "{}", now.text);
    // The message ends showing Bob's claim, however its edits went.
    bot.api
        .wait_for_taps("the message showing the claim", |edits, _| {
            edits
                .last()
                .is_some_and(|e| e.message_id == view && e.text.contains("Claimed by User602"))
        })
        .await;
}

on_each_backend!(a_tap_that_meets_a_passing_failure_is_answered_once_when_done);
async fn a_tap_that_meets_a_passing_failure_is_answered_once_when_done(sqlite: bool) {
    let fail = format!("update:{GROUP}");
    let bot = Bot::start_with_env(sqlite, &[(bountybot::crash::FAIL_ONCE_ENV, &fail)]).await;
    bot.say(GROUP, ANN, "/add Outlasts a failure").await;
    let (view, shown) = bot.say(GROUP, ANN, "/show 1").await;
    // The claim fails once in storage; Telegram delivers the tap again.
    let answer = bot
        .tap(GROUP, BOB, view, &data(&shown.buttons, "Claim"))
        .await;
    assert_eq!(
        answer.text.as_deref(),
        Some("You claimed #1: Outlasts a failure. /done 1 when it is finished."),
        "the answer is the outcome's, not a notice that it will be tried again"
    );
    assert!(!answer.alert);
    let edited = bot.edit(view, 1).await;
    assert!(
        edited.text.contains("Claimed by User602"),
        "{}",
        edited.text
    );
    let (_, now) = bot.say(GROUP, ANN, "/show 1").await;
    assert!(now.text.contains("Claimed by User602"), "{}", now.text);
    let answers = bot.api.answers();
    assert_eq!(answers.len(), 1, "one answer to one tap: {answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_of_a_group_that_became_a_supergroup_asks_for_a_fresh_listing() {
    use crate::support::fake_bot_api::migrated_to;
    const OLD: i64 = -4_100_777;
    const NEW: i64 = -1_001_000_000_777;
    let bot = Bot::start(false).await;
    bot.say(OLD, ANN, "/add From the old group").await;
    let (view, shown) = bot.say(OLD, ANN, "/show 1").await;
    // The old group's notice that it moved, then a tap there, in the old group's order.
    bot.api.push(migrated_to(bot.update_id(), OLD, NEW));
    let answer = bot
        .tap(OLD, BOB, view, &data(&shown.buttons, "Claim"))
        .await;
    assert!(answer.alert);
    assert_eq!(
        answer.text.as_deref(),
        Some(bountybot::telegram::MOVED_BUTTON)
    );
    // The old group's bounties are the supergroup's now, unclaimed.
    let (_, now) = bot.say(NEW, ANN, "/show 1").await;
    assert!(
        now.text.contains("From the old group") && now.text.contains("Not claimed"),
        "{}",
        now.text
    );
    assert_eq!(bot.api.edits(), []);
}
