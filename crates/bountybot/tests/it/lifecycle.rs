//! A bounty's life through the command layer, on both backends: claim, unclaim, done,
//! reopen and who may do each, in a group and in a private chat; the `/bounty` filters
//! and the full view; names in listings.

use std::path::Path;
use std::sync::Arc;

use bountybot::command::{Context, handle};
use bountybot::domain::{ChatId, UserId};
use bountybot::store::prelude::*;

const GROUP: ChatId = ChatId::new(-100_555);
const ANN: UserId = UserId::new(11);
const BOB: UserId = UserId::new(22);
const CAT: UserId = UserId::new(33);
/// Someone the front end says administers the group.
const ADA: UserId = UserId::new(44);
/// The group's anonymous administrators act as the group itself.
const ANONYMOUS: UserId = UserId::new(GROUP.get());
/// A channel posting in the group: its own identity, not an administrator.
const CHANNEL: UserId = UserId::new(-100_777_888);
/// A Monday.
const NOW: &str = "2026-11-23T12:00:00Z";

type Open = fn(&Path) -> Arc<dyn BountyStore>;

fn open_json(dir: &Path) -> Arc<dyn BountyStore> {
    Arc::new(bountybot::store::json::JsonStore::new(dir.join("data")))
}

fn open_sqlite(dir: &Path) -> Arc<dyn BountyStore> {
    let path = bountybot::store::sqlite::SqliteStore::path_in(&dir.join("data"));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    Arc::new(bountybot::store::sqlite::SqliteStore::open(&path).unwrap())
}

const BACKENDS: [(&str, Open); 2] = [("json", open_json), ("sqlite", open_sqlite)];

struct Bot {
    _dir: tempfile::TempDir,
    store: Arc<dyn BountyStore>,
}

impl Bot {
    fn new(open: Open) -> Bot {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        Bot { _dir: dir, store }
    }

    fn say_as(&self, chat: ChatId, user: UserId, name: Option<&str>, text: &str) -> String {
        let admin = chat.is_group() && (user == ADA || user == ANONYMOUS);
        let ctx = Context {
            chat,
            user,
            now: NOW.parse().unwrap(),
            bot_username: "BountyBot",
            update: None,
            admin,
            name,
        };
        handle(self.store.as_ref(), &ctx, text)
            .unwrap_or_else(|| panic!("no reply to {text:?}"))
            .messages
            .join("\n")
    }

    fn say(&self, chat: ChatId, user: UserId, text: &str) -> String {
        self.say_as(chat, user, None, text)
    }
}

fn each_backend(test: impl Fn(&str, Bot)) {
    for (name, open) in BACKENDS {
        test(name, Bot::new(open));
    }
}

#[test]
fn one_claimer_at_a_time_and_only_the_claimer_or_an_administrator_unclaims() {
    each_backend(|backend, bot| {
        bot.say(GROUP, ANN, "/add Fix the login bug");
        let claimed = bot.say(GROUP, BOB, "/claim 1");
        assert!(
            claimed.starts_with("You claimed #1: Fix the login bug"),
            "{backend}: {claimed}"
        );
        assert_eq!(bot.say(GROUP, BOB, "/claim 1"), "You claim #1 already.");
        assert_eq!(
            bot.say(GROUP, CAT, "/claim #1"),
            "#1 is claimed by user 22 already. They can /unclaim 1 (or a group administrator can).",
            "{backend}"
        );
        for other in [CAT, ANN, CHANNEL] {
            assert_eq!(
                bot.say(GROUP, other, "/unclaim 1"),
                "Only user 22, who claims #1 (or a group administrator), can unclaim it.",
                "{backend}: {other}"
            );
        }
        assert_eq!(
            bot.say(GROUP, BOB, "/unclaim 1"),
            "Released your claim on #1; anyone can /claim 1 now."
        );
        assert_eq!(bot.say(GROUP, BOB, "/unclaim 1"), "Nobody claims #1.");
        // An administrator, and the anonymous administrators, release anyone's claim.
        for admin in [ADA, ANONYMOUS] {
            bot.say(GROUP, CAT, "/claim 1");
            assert_eq!(
                bot.say(GROUP, admin, "/unclaim 1"),
                "Released user 33's claim on #1; anyone can /claim 1 now.",
                "{backend}: {admin}"
            );
        }
        // A channel may claim like anyone, and release its own claim.
        assert!(
            bot.say(GROUP, CHANNEL, "/claim 1")
                .starts_with("You claimed #1")
        );
        assert!(
            bot.say(GROUP, CHANNEL, "/unclaim 1")
                .starts_with("Released your claim")
        );
        assert!(bot.say(GROUP, ANN, "/claim 9").contains("no bounty #9"));
        assert!(
            bot.say(GROUP, ANN, "/claim x")
                .contains("not a bounty number")
        );
        assert!(bot.say(GROUP, ANN, "/claim").contains("which bounty?"));
    });
}

#[test]
fn the_creator_the_claimer_or_an_administrator_marks_done_and_reopens() {
    each_backend(|backend, bot| {
        for n in 1..=4 {
            bot.say(GROUP, ANN, &format!("/add task {n}"));
        }
        bot.say(GROUP, BOB, "/claim 2");
        let refused = "Only the creator of #1, its claimer or a group administrator can finish it.";
        assert_eq!(bot.say(GROUP, BOB, "/done 1"), refused, "{backend}");
        assert_eq!(
            bot.say(GROUP, CHANNEL, "/done 1"),
            refused,
            "a channel is no administrator"
        );
        assert_eq!(
            bot.say(GROUP, ANN, "/done 1"),
            "Done: bounty <b>#1</b>: task 1. /reopen 1 if it is not.",
            "the creator"
        );
        assert_eq!(bot.say(GROUP, ANN, "/done 1"), "#1 is done already.");
        assert!(
            bot.say(GROUP, BOB, "/done 2")
                .starts_with("Done: bounty <b>#2</b>"),
            "the claimer"
        );
        assert!(
            bot.say(GROUP, ADA, "/done 3")
                .starts_with("Done: bounty <b>#3</b>"),
            "an administrator"
        );
        assert!(
            bot.say(GROUP, ANONYMOUS, "/done 4").starts_with("Done"),
            "anonymous administrators"
        );
        assert_eq!(
            bot.say(GROUP, CAT, "/reopen 2"),
            "Only the creator of #2, its claimer or a group administrator can reopen it."
        );
        assert!(
            bot.say(GROUP, CAT, "/claim 2").contains("done already"),
            "a done bounty is not claimed"
        );
        assert_eq!(
            bot.say(GROUP, BOB, "/reopen 2"),
            "Reopened bounty <b>#2</b>: task 2."
        );
        assert_eq!(bot.say(GROUP, BOB, "/reopen 2"), "#2 is open already.");
        assert!(bot.say(GROUP, ADA, "/reopen 3").starts_with("Reopened"));
        assert!(bot.say(GROUP, ANN, "/reopen 4").starts_with("Reopened"));
        let open = bot.say(GROUP, ANN, "/bounty");
        assert!(
            !open.contains("task 1") && open.contains("task 2"),
            "{backend}: {open}"
        );
    });
}

#[test]
fn in_a_private_chat_the_owner_does_everything_and_administrators_do_not_count() {
    each_backend(|backend, bot| {
        let private = ChatId::new(ANN.get());
        bot.say(private, ANN, "/add mine");
        assert!(
            bot.say(private, ANN, "/claim 1")
                .starts_with("You claimed #1"),
            "{backend}"
        );
        assert!(bot.say(private, ANN, "/done 1").starts_with("Done"));
        // Another sender (the REPL's `:as`) claims nothing of it and finishes nothing,
        // administrator or not.
        let admin = Context {
            chat: private,
            user: ADA,
            now: NOW.parse().unwrap(),
            bot_username: "BountyBot",
            update: None,
            admin: true,
            name: None,
        };
        let reply = handle(bot.store.as_ref(), &admin, "/reopen 1")
            .unwrap()
            .messages
            .join("");
        assert!(
            reply.starts_with("Only the creator of #1"),
            "{backend}: {reply}"
        );
        let reply = handle(bot.store.as_ref(), &admin, "/unclaim 1")
            .unwrap()
            .messages
            .join("");
        assert!(reply.starts_with("Only user 11, who claims #1"), "{reply}");
        assert!(bot.say(private, ANN, "/reopen 1").starts_with("Reopened"));
        assert!(
            bot.say(private, ANN, "/unclaim 1")
                .starts_with("Released your claim")
        );
    });
}

#[test]
fn listings_filter_by_status_and_due_date_and_keep_paging() {
    each_backend(|backend, bot| {
        bot.say(GROUP, ANN, "/add late one 2026-11-01");
        bot.say(GROUP, ANN, "/add finished late 2026-11-02");
        bot.say(GROUP, ANN, "/add later one +3d");
        bot.say(GROUP, ANN, "/done 2");
        let open = bot.say(GROUP, ANN, "/bounty");
        assert!(
            open.contains("late one") && open.contains("later one"),
            "{backend}: {open}"
        );
        assert!(!open.contains("finished"), "{open}");
        let done = bot.say(GROUP, ANN, "/bounty done");
        assert!(
            done.starts_with("<b>Done bounties in this group</b>"),
            "{done}"
        );
        assert!(
            done.contains("✅ finished late") && !done.contains("later one"),
            "{done}"
        );
        let all = bot.say(GROUP, ANN, "/bounty all");
        assert_eq!(all.matches("<b>#").count(), 3, "{all}");
        let overdue = bot.say(GROUP, ANN, "/bounty overdue");
        assert!(
            overdue.contains("late one")
                && !overdue.contains("later")
                && !overdue.contains("finished"),
            "{overdue}"
        );
        assert!(bot.say(GROUP, ANN, "/bounty all 2").contains("only 1 page"));
        assert!(
            bot.say(GROUP, ANN, "/bounty all 2")
                .contains("/bounty all 1")
        );
        assert!(
            bot.say(GROUP, ANN, "/bounty soon")
                .contains("not a page number or a filter")
        );
        bot.say(GROUP, ANN, "/reopen 2");
        assert_eq!(
            bot.say(GROUP, ANN, "/bounty done"),
            "No bounties are done yet."
        );
        for n in 0..25 {
            bot.say(GROUP, ANN, &format!("/add more {n}"));
        }
        let first = bot.say(GROUP, ANN, "/bounty all");
        assert!(first.contains("Next page: /bounty all 2"), "{first}");
        assert!(bot.say(GROUP, ANN, "/bounty 2").contains("(page 2 of 2)"));
        assert!(
            bot.say(GROUP, ANN, "/bounty all 2")
                .contains("(page 2 of 2)")
        );
    });
}

#[test]
fn one_bounty_in_full_and_names_instead_of_ids() {
    each_backend(|backend, bot| {
        bot.say_as(
            GROUP,
            ANN,
            Some("Ann <Admin>"),
            "/add Ship it https://x.org/1 2026-12-01",
        );
        bot.say_as(GROUP, BOB, Some("Bob"), "/claim 1");
        bot.say_as(GROUP, CAT, Some("Cat"), "/track 1");
        bot.say(GROUP, BOB, "/track 1");
        let full = bot.say(GROUP, ANN, "/bounty #1");
        assert_eq!(
            full,
            "<b>Bounty #1</b> (open)\n\
             Ship it\n\
             Link: <a href=\"https://x.org/1\">https://x.org/1</a>\n\
             Due: 2026-12-01 (due in 8 days)\n\
             Created by Ann &lt;Admin&gt; on 2026-11-23\n\
             Claimed by Bob\n\
             Tracked by Bob, Cat",
            "{backend}"
        );
        assert_eq!(bot.say(GROUP, ANN, "/show 1"), full);
        let list = bot.say(GROUP, ANN, "/bounty");
        assert!(
            list.contains("by Ann &lt;Admin&gt; · claimed by Bob"),
            "{backend}: {list}"
        );
        // A new name replaces the old one.
        bot.say_as(GROUP, BOB, Some("Robert"), "/bounty");
        assert!(bot.say(GROUP, ANN, "/bounty").contains("claimed by Robert"));
        bot.say(GROUP, ANN, "/done 1");
        let done = bot.say(GROUP, ANN, "/show 1");
        assert!(
            done.starts_with("<b>Bounty #1</b> (done on 2026-11-23)"),
            "{done}"
        );
        assert!(
            done.contains("Due: 2026-12-01\n"),
            "no countdown once done: {done}"
        );
        assert!(bot.say(GROUP, ANN, "/show 9").contains("no bounty #9"));
        assert!(
            bot.say(GROUP, ANN, "/bounty #x")
                .contains("not a bounty number")
        );
        bot.say(GROUP, ANN, "/add untouched");
        let bare = bot.say(GROUP, CAT, "/show 2");
        assert!(
            bare.contains("Not claimed: /claim 2") && bare.contains("Tracked by nobody"),
            "{bare}"
        );
    });
}
