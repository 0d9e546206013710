//! The command layer in process: what a chat sees for paged lists, storage failures,
//! dates, links and confirmations, and what the operator's log gets.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bountybot::command::{Context, handle};
use bountybot::domain::{BountyId, ChatId, UserId};
use bountybot::store::json::JsonStore;
use bountybot::store::{Bounty, BountyStore, ChatData, Portable};

const GROUP: ChatId = ChatId(-100_777);
const ANN: UserId = UserId(11);
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
        let next_id = bounties.iter().map(|b| b.id.0).max().unwrap_or(0) + 1;
        self.store
            .import(&[ChatData {
                chat: GROUP,
                next_id,
                bounties,
                members: vec![(ANN, tracked.iter().map(|&i| BountyId(i)).collect())],
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
    };
    handle(store, &ctx, text).map(|r| r.0)
}

fn bounty(id: u64, text: &str) -> Bounty {
    Bounty {
        id: BountyId(id),
        created_by_user_id: ANN,
        text: text.into(),
        link: None,
        due_date_ts: None,
        created_at: 0,
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
