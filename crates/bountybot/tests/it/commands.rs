//! The command layer in process: what a chat sees for paged lists, storage failures,
//! dates, links and confirmations, and what the operator's log gets.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bountybot::command::{Context, handle};
use bountybot::domain::Bounty;
use bountybot::domain::{BountyId, ChatId, UserId};
use bountybot::store::ChatData;
use bountybot::store::json::JsonStore;
use bountybot::store::prelude::*;

const GROUP: ChatId = ChatId::new(-100_777);
const ANN: UserId = UserId::new(11);
/// A Monday.
const NOW: &str = "2026-11-23T12:00:00Z";

struct Bot {
    tmp: tempfile::TempDir,
    store: JsonStore,
}

impl Bot {
    fn new() -> Bot {
        let tmp = tempfile::tempdir().unwrap();
        let store = JsonStore::new(tmp.path().join("data"));
        Bot { tmp, store }
    }

    /// A chat with `n` bounties (ids 1..=n, undated, text "task {id}"), written in one go.
    fn with_bounties(n: u64) -> Bot {
        let bot = Bot::new();
        let bounties = (1..=n).map(|i| bounty(i, &format!("task {i}"))).collect();
        bot.import(bounties, &[]);
        bot
    }

    fn import(&self, bounties: Vec<Bounty>, tracked: &[u64]) {
        let next_id = bounties.iter().map(|b| b.id.get()).max().unwrap_or(0) + 1;
        self.store
            .import(&[ChatData {
                chat: GROUP,
                next_id,
                bounties,
                members: vec![(ANN, tracked.iter().map(|&i| BountyId::new(i)).collect())],
                names: Vec::new(),
                settings: Default::default(),
                digests: Vec::new(),
                updates: Vec::new(),
                moved_here: Vec::new(),
            }])
            .unwrap();
    }

    /// Every message of the reply to `text`, from Ann in the group.
    fn say(&self, text: &str) -> Vec<String> {
        say(&self.store, text).unwrap_or_else(|| panic!("no reply to {text:?}"))
    }
}

fn say(store: &dyn BountyStore, text: &str) -> Option<Vec<String>> {
    let ctx = Context {
        chat: GROUP,
        user: ANN,
        now: NOW.parse().unwrap(),
        bot_username: "BountyBot",
        update: None,
        admin: false,
        name: None,
    };
    handle(store, &ctx, text).map(|r| r.messages)
}

fn bounty(id: u64, text: &str) -> Bounty {
    Bounty {
        id: BountyId::new(id),
        created_by_user_id: ANN,
        text: text.into(),
        link: None,
        due_date_ts: None,
        created_at: 0,
        status: Default::default(),
        claimed_by_user_id: None,
        done_at: None,
    }
}

// ---------------------------------------------------------------------------------
// 2. Storage failures: a short text for the chat, the whole story for the operator

/// Log lines written while `f` runs on this thread.
fn logged<R>(f: impl FnOnce() -> R) -> (R, String) {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let bytes = sink.0.lock().unwrap().clone();
    (r, String::from_utf8(bytes).unwrap())
}

#[test]
fn a_storage_failure_shows_no_server_path_and_logs_the_whole_error() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("not-a-dir");
    std::fs::write(&blocker, "a file where the data dir should be").unwrap();
    let store = JsonStore::new(blocker.join("data"));
    for text in ["/add something", "/start", "/track 1"] {
        let (reply, log) = logged(|| say(&store, text).unwrap());
        assert_eq!(
            reply,
            ["⚠️ Sorry, something went wrong storing that; the operator has been told."],
            "{text}"
        );
        assert!(
            log.contains("ERROR") && log.contains("-100777"),
            "{text}: {log}"
        );
        assert!(
            log.contains(&blocker.display().to_string()) && log.contains("os error"),
            "the cause chain, with the path: {log}"
        );
    }
}

#[test]
fn a_damaged_file_is_named_without_a_server_path_and_logged() {
    let bot = Bot::with_bounties(1);
    let file = bot.store.chat_dir(GROUP).join("group.json");
    std::fs::write(&file, "{\"group_id\": -100777,\n \"next_id\": oops}").unwrap();
    let (reply, log) = logged(|| bot.say("/bounty"));
    assert_eq!(
        reply,
        [
            "⚠️ stored data of chat -100777 is damaged (-100777/group.json, line 2, column 13); nothing was changed"
        ]
    );
    assert!(!reply[0].contains(&bot.tmp.path().display().to_string()));
    assert!(
        log.contains("ERROR") && log.contains("-100777") && log.contains("group.json"),
        "{log}"
    );
}

// ---------------------------------------------------------------------------------
// 1. One page at a time

impl Bot {
    fn one(&self, text: &str) -> String {
        let reply = self.say(text);
        assert_eq!(reply.len(), 1, "one message for {text:?}: {reply:?}");
        reply.into_iter().next().unwrap()
    }
}

/// What a reader sees: tags dropped, entities decoded.
fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        rest = &rest[i + rest[i..].find('>').unwrap() + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Ids of the bounty lines (`<b>#N</b>`) of a listing, in order.
fn listed_ids(message: &str) -> Vec<u64> {
    message
        .split("<b>#")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn twenty_thousand_bounties_are_one_message_with_the_way_to_page_two() {
    let bot = Bot::with_bounties(20_000);
    let page = bot.one("/bounty");
    assert_eq!(listed_ids(&page), (1..=20).collect::<Vec<_>>());
    assert!(
        visible(&page).contains("page 1 of 1000"),
        "says where we are: {page}"
    );
    assert!(
        visible(&page).ends_with("Next page: /bounty 2"),
        "says how to go on: {page}"
    );
}

#[test]
fn pages_show_every_bounty_once_and_the_last_has_no_next() {
    let bot = Bot::with_bounties(45);
    let mut seen = Vec::new();
    for n in 1..=3 {
        let page = bot.one(&format!("/bounty {n}"));
        seen.extend(listed_ids(&page));
        let next = format!("/bounty {}", n + 1);
        assert_eq!(visible(&page).contains(&next), n < 3, "{page}");
        assert!(visible(&page).contains(&format!("page {n} of 3")), "{page}");
    }
    assert_eq!(seen, (1..=45).collect::<Vec<_>>());
    let small = Bot::with_bounties(3);
    let only = small.one("/bounty");
    assert!(
        !visible(&only).contains("page"),
        "one page needs no pager: {only}"
    );
}

#[test]
fn my_shows_one_page_of_tracked_bounties_at_a_time() {
    let bot = Bot::new();
    let bounties = (1..=60).map(|i| bounty(i, &format!("task {i}"))).collect();
    let tracked: Vec<u64> = (1..=60).filter(|i| i % 2 == 0).collect(); // 30 of them
    bot.import(bounties, &tracked);
    let first = bot.one("/my");
    assert_eq!(listed_ids(&first), tracked[..20].to_vec());
    assert!(visible(&first).ends_with("Next page: /my 2"), "{first}");
    let second = bot.one("/my 2");
    assert_eq!(listed_ids(&second), tracked[20..].to_vec());
    assert!(!visible(&second).contains("Next page"), "{second}");
}

#[test]
fn a_page_past_the_end_gets_a_short_clear_answer() {
    let bot = Bot::with_bounties(45);
    let past = bot.one("/bounty 4");
    assert_eq!(
        past,
        "There are only 3 pages of bounties here. The last one: /bounty 3"
    );
    bot.say("/track 1");
    assert_eq!(
        bot.one("/my 2"),
        "There is only 1 page of your tracked bounties here. The last one: /my 1"
    );
    for (text, reason) in [
        ("/bounty 0", "\"0\" is not a page number"),
        ("/bounty two", "\"two\" is not a page number"),
        ("/my 1 2", "give just one page number"),
        ("/bounty 99999999999999999999999", "is not a page number"),
    ] {
        let reply = visible(&bot.one(text));
        assert!(reply.contains(reason), "{text}: {reply}");
        assert!(reply.chars().count() < 200, "{text}: {reply}");
    }
    let empty = Bot::new();
    assert!(empty.one("/bounty 2").contains("No bounties yet"));
}

#[test]
fn a_page_of_the_longest_texts_and_links_still_fits_one_message() {
    let bot = Bot::new();
    let text = format!("{}<&>", "😀é".repeat(332)); // 999 chars, 1,667 UTF-16 units
    let bounties = (1..=25)
        .map(|i| {
            let mut b = bounty(u64::MAX - 100 + i, &text);
            b.created_by_user_id = UserId::new(i64::MAX);
            b.link = Some(format!("https://example.org/{}", "x".repeat(2000)));
            b.due_date_ts = Some(-86_400 * 3_000_000); // very overdue, from old data
            b
        })
        .collect();
    bot.import(bounties, &[]);
    let page = bot.one("/bounty");
    let shown = visible(&page);
    assert!(
        shown.encode_utf16().count() <= 4096,
        "{} UTF-16 units",
        shown.encode_utf16().count()
    );
    assert_eq!(listed_ids(&page).len(), 20, "a full page: {shown}");
    assert!(shown.contains("😀é😀é"), "texts are shortened, not dropped");
    assert!(shown.contains('…'), "a shortened text says so");
    assert_eq!(
        page.matches("<a href=").count(),
        20,
        "every link still reachable"
    );
}

// ---------------------------------------------------------------------------------
// 3. Dates, links and confirmations

#[test]
fn dates_outside_2000_to_2200_are_refused_not_stored_as_1970() {
    let bot = Bot::new();
    for text in [
        "/add Far future 9999-12-31",
        "/add Long ago 1999-12-31",
        "/add Just after 2201-01-01",
        "/add Much later +99999d",
    ] {
        let reply = bot.one(text);
        assert!(
            reply.contains("due dates must be between 2000-01-01 and 2200-12-31"),
            "{text}: {reply}"
        );
    }
    assert!(bot.store.list(GROUP).unwrap().is_empty(), "nothing stored");
    bot.one("/add Edge 2200-12-31");
    let reply = bot.one("/edit 1 due=9999-12-31");
    assert!(
        reply.contains("between 2000-01-01 and 2200-12-31"),
        "{reply}"
    );
    let stored = bot.store.get(GROUP, BountyId::new(1)).unwrap().unwrap();
    assert_eq!(stored.due_date_ts, Some(7_289_568_000), "2200-12-31 kept");
}

#[test]
fn ordinary_last_words_stay_in_the_text() {
    for word in [
        "1.2.3",
        "192.168.0.1",
        "555-123-4567",
        "v2",
        "2024",
        "1-2-3",
        "+5k",
    ] {
        let bot = Bot::new();
        let reply = bot.one(&format!("/add Check {word}"));
        assert_eq!(reply, format!("Added bounty <b>#1</b>: Check {word}"));
        let stored = bot.store.get(GROUP, BountyId::new(1)).unwrap().unwrap();
        assert_eq!(
            (stored.text.as_str(), stored.due_date_ts),
            (format!("Check {word}").as_str(), None)
        );
    }
}

#[test]
fn weekday_names_mean_the_next_such_day() {
    let bot = Bot::new();
    bot.one("/add Team lunch friday");
    bot.one("/add Weekly report Monday"); // today is a Monday: the next one
    let stored: Vec<(String, Option<i64>)> = bot
        .store
        .list(GROUP)
        .unwrap()
        .into_iter()
        .map(|b| (b.text, b.due_date_ts))
        .collect();
    assert_eq!(
        stored,
        [
            ("Team lunch".into(), Some(1_795_737_600)), // 2026-11-27
            ("Weekly report".into(), Some(1_795_996_800)), // 2026-11-30
        ]
    );
}

#[test]
fn a_link_in_the_middle_stays_in_the_text_and_is_the_bounty_link() {
    let bot = Bot::new();
    bot.one("/add Read https://x.org/a?b=1&c=2 and comment");
    let stored = bot.store.get(GROUP, BountyId::new(1)).unwrap().unwrap();
    assert_eq!(stored.text, "Read https://x.org/a?b=1&c=2 and comment");
    assert_eq!(stored.link.as_deref(), Some("https://x.org/a?b=1&c=2"));
    let list = bot.one("/bounty");
    assert!(
        list.contains("Read <a href=\"https://x.org/a?b=1&amp;c=2\">https://x.org/a?b=1&amp;c=2</a> and comment"),
        "the link is clickable where it was written: {list}"
    );
    assert_eq!(
        visible(&list).matches("https://x.org/a").count(),
        1,
        "shown once: {list}"
    );
    assert!(!visible(&list).contains("· link"), "{list}");
}

#[test]
fn a_link_after_the_text_is_the_bounty_link_and_links_in_brackets_count() {
    let bot = Bot::new();
    bot.one("/add Fix the login bug https://x.org/1 +3d");
    bot.one("/add See the spec (https://x.org/spec), then decide");
    let b1 = bot.store.get(GROUP, BountyId::new(1)).unwrap().unwrap();
    assert_eq!(
        (b1.text.as_str(), b1.link.as_deref()),
        ("Fix the login bug", Some("https://x.org/1"))
    );
    let b2 = bot.store.get(GROUP, BountyId::new(2)).unwrap().unwrap();
    assert_eq!(
        (b2.text.as_str(), b2.link.as_deref()),
        (
            "See the spec (https://x.org/spec), then decide",
            Some("https://x.org/spec")
        )
    );
}

#[test]
fn add_and_edit_confirmations_echo_text_link_and_due() {
    let bot = Bot::new();
    let added = bot.one("/add Fix the login bug https://x.org/1 2026-12-01");
    assert_eq!(
        visible(&added),
        "Added bounty #1: Fix the login bug\nLink: https://x.org/1\nDue: 2026-12-01 (due in 8 days)"
    );
    let edited = bot.one("/edit 1 Shorter https://x.org/2 tomorrow");
    assert_eq!(
        visible(&edited),
        "Updated bounty #1: Shorter\nLink: https://x.org/2\nDue: 2026-11-24 (due tomorrow)"
    );
    let cleared = bot.one("/edit 1 link=- due=-");
    assert_eq!(visible(&cleared), "Updated bounty #1: Shorter");
}

// ---------------------------------------------------------------------------------
// Bidirectional controls: shown neutralised, stored as written

#[test]
fn bidirectional_controls_in_a_bounty_or_a_name_are_not_shown_but_kept() {
    use bountybot::command::render::is_bidi_control;
    let bot = Bot::new();
    let text = "pay the \u{202E}gnp.exe invoice";
    bot.store
        .import(&[ChatData {
            chat: GROUP,
            next_id: 2,
            bounties: vec![bounty(1, text)],
            members: vec![(ANN, vec![BountyId::new(1)])],
            names: vec![(ANN, "Ann \u{202E}nimda\u{2066}".to_string())],
            settings: Default::default(),
            digests: Vec::new(),
            updates: Vec::new(),
            moved_here: Vec::new(),
        }])
        .unwrap();
    for command in ["/bounty", "/bounty #1", "/my"] {
        let shown = bot.say(command).join("\n");
        assert!(shown.contains("gnp.exe invoice"), "{command}: {shown}");
        assert!(
            !shown.chars().any(is_bidi_control),
            "{command} shows a bidirectional control: {shown:?}"
        );
    }
    let stored = bot.store.export().unwrap();
    assert_eq!(stored[0].bounties[0].text, text, "stored as written");
    assert!(stored[0].names[0].1.contains('\u{202E}'));
}
