//! Chat settings through the command layer, on both backends: `/timezone`, `/remind`,
//! `/settings`; who may change them in a group and in a private chat; bad input.

use std::path::Path;
use std::sync::Arc;

use bountybot::command::{Context, handle};
use bountybot::domain::ChatSettings;
use bountybot::domain::{ChatId, ReminderTime, UserId, ZoneName};
use bountybot::store::prelude::*;

const GROUP: ChatId = ChatId::new(-100_666);
const ANN: UserId = UserId::new(11);
/// Someone the front end says administers the group.
const ADA: UserId = UserId::new(44);
/// The group's anonymous administrators act as the group itself.
const ANONYMOUS: UserId = UserId::new(GROUP.get());
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

struct Bot {
    _dir: tempfile::TempDir,
    store: Arc<dyn BountyStore>,
}

impl Bot {
    fn say(&self, chat: ChatId, user: UserId, admin: bool, text: &str) -> String {
        let ctx = Context {
            chat,
            user,
            now: NOW.parse().unwrap(),
            bot_username: "BountyBot",
            update: None,
            admin,
            name: None,
        };
        handle(self.store.as_ref(), &ctx, text)
            .unwrap_or_else(|| panic!("no reply to {text:?}"))
            .messages
            .join("\n")
    }

    fn settings(&self, chat: ChatId) -> ChatSettings {
        self.store.settings(chat).unwrap()
    }
}

fn each_backend(test: impl Fn(&str, Bot)) {
    for (name, open) in [("json", open_json as Open), ("sqlite", open_sqlite)] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        test(name, Bot { _dir: dir, store });
    }
}

#[test]
fn settings_show_the_defaults_and_what_an_administrator_set() {
    each_backend(|backend, bot| {
        let shown = bot.say(GROUP, ANN, false, "/settings");
        assert!(
            shown.contains("Time zone: <b>UTC</b> (the default)")
                && shown.contains("Daily digest: <b>off</b>"),
            "{backend}: {shown}"
        );
        let set = bot.say(GROUP, ADA, true, "/timezone europe/berlin");
        assert!(
            set.starts_with(
                "Time zone set to <b>Europe/Berlin</b> (it is 2026-11-23 13:00 there now)"
            ),
            "{backend}: {set}"
        );
        let on = bot.say(GROUP, ANONYMOUS, true, "/remind 09:30");
        assert!(
            on.starts_with("Daily digest at <b>09:30</b> (Europe/Berlin)"),
            "{backend}: {on}"
        );
        assert_eq!(
            bot.settings(GROUP),
            ChatSettings {
                time_zone: Some(ZoneName::parse("Europe/Berlin").unwrap()),
                remind_at: Some(ReminderTime::parse("09:30").unwrap()),
            }
        );
        let shown = bot.say(GROUP, ANN, false, "/settings@BountyBot");
        assert!(
            shown.contains("Time zone: <b>Europe/Berlin</b>")
                && shown.contains("Daily digest: at <b>09:30</b> local time"),
            "{backend}: {shown}"
        );
        assert!(
            bot.say(GROUP, ADA, true, "/remind OFF")
                .starts_with("Daily digest off.")
        );
        assert_eq!(bot.settings(GROUP).remind_at, None);
    });
}

#[test]
fn in_a_group_only_administrators_change_settings() {
    each_backend(|backend, bot| {
        for text in ["/timezone Asia/Tokyo", "/remind 08:00", "/remind off"] {
            let reply = bot.say(GROUP, ANN, false, text);
            assert!(
                reply.starts_with("Only a group administrator can change this chat's settings."),
                "{backend}: {text}: {reply}"
            );
        }
        assert_eq!(bot.settings(GROUP), ChatSettings::default());
    });
}

#[test]
fn in_a_private_chat_the_owner_changes_settings_and_administrators_do_not_count() {
    each_backend(|backend, bot| {
        let private = ChatId::new(ANN.get());
        assert!(
            bot.say(private, ANN, false, "/timezone America/New_York")
                .starts_with("Time zone set to <b>America/New_York</b> (it is 2026-11-23 07:00")
        );
        assert!(
            bot.say(private, ANN, false, "/remind 07:15")
                .starts_with("Daily digest at")
        );
        // Another sender (the REPL's `:as`), administrator or not, changes nothing.
        let reply = bot.say(private, ADA, true, "/remind off");
        assert_eq!(
            reply, "Only this chat's owner can change its settings.",
            "{backend}"
        );
        assert_eq!(
            bot.settings(private).remind_at,
            Some(ReminderTime::parse("07:15").unwrap())
        );
        assert!(
            bot.say(private, ADA, true, "/settings")
                .contains("America/New_York")
        );
    });
}

#[test]
fn bad_zones_and_times_get_a_reason_with_an_example_and_change_nothing() {
    each_backend(|backend, bot| {
        let bad_zone = bot.say(GROUP, ADA, true, "/timezone Mars/Olympus_Mons");
        assert!(
            bad_zone.contains("unknown time zone &quot;Mars/Olympus_Mons&quot;")
                && bad_zone.contains("Example: /timezone Europe/Berlin"),
            "{backend}: {bad_zone}"
        );
        let escaped = bot.say(GROUP, ADA, true, "/timezone <b>x</b>");
        assert!(
            escaped.contains("&lt;b&gt;x&lt;/b&gt;") && !escaped.contains("<b>x"),
            "{escaped}"
        );
        assert!(
            bot.say(GROUP, ADA, true, "/timezone")
                .contains("which time zone?")
        );
        assert!(
            bot.say(GROUP, ADA, true, "/timezone Etc/Unknown")
                .contains("unknown time zone")
        );
        for (text, bad) in [
            ("/remind 25:00", "25:00"),
            ("/remind 9:5", "9:5"),
            ("/remind 12:60", "12:60"),
            ("/remind 0900", "0900"),
        ] {
            let reply = bot.say(GROUP, ADA, true, text);
            assert!(
                reply.contains(&format!("&quot;{bad}&quot; is not a time of day"))
                    && reply.contains("e.g. 09:00"),
                "{backend}: {text}: {reply}"
            );
        }
        assert!(
            bot.say(GROUP, ADA, true, "/remind")
                .contains("at what time?")
        );
        assert_eq!(bot.settings(GROUP), ChatSettings::default());
    });
}

#[test]
fn help_lists_the_settings_commands() {
    each_backend(|_, bot| {
        let help = bot.say(GROUP, ANN, false, "/help");
        for c in ["/timezone", "/remind", "/settings"] {
            assert!(help.contains(c), "{c}");
        }
    });
    let names: Vec<&str> = bountybot::command::parse::COMMANDS
        .iter()
        .map(|c| c.name)
        .collect();
    for c in ["timezone", "remind", "settings"] {
        assert!(names.contains(&c), "{c}");
    }
}
