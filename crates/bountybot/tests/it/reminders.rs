//! Daily digests through the library, on both backends, with an injected clock and a
//! recording sender: what a digest says, and exactly one per chat and local day over a
//! simulated day, a restart, two processes at once, a clock jumping back, daylight
//! saving in Europe/Berlin, a failed send, and downtime.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use bountybot::command::{Context, handle};
use bountybot::domain::{ChatId, UserId};
use bountybot::reminder::pace::Pace;
use bountybot::reminder::{
    DigestSender, EMPTY_DIGEST, Failure, PassOptions, Report, STALE_CLAIM_SECS, SendError,
    remind_pass,
};
use bountybot::store::prelude::*;
use jiff::Timestamp;
use jiff::civil::Date;

const ANN: UserId = UserId::new(11);
const BO: UserId = UserId::new(12);
const CY: UserId = UserId::new(13);

type Open = fn(&Path) -> Arc<dyn BountyStore>;

fn open_json(dir: &Path) -> Arc<dyn BountyStore> {
    Arc::new(bountybot::store::json::JsonStore::new(dir.join("data")))
}

fn open_sqlite(dir: &Path) -> Arc<dyn BountyStore> {
    let path = bountybot::store::sqlite::SqliteStore::path_in(&dir.join("data"));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    Arc::new(bountybot::store::sqlite::SqliteStore::open(&path).unwrap())
}

const BACKENDS: [(&str, Open); 2] = [("json", open_json as Open), ("sqlite", open_sqlite)];

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

/// Says `text` in `chat` as `user` (an administrator) with the given name at `now`.
fn say(store: &dyn BountyStore, chat: ChatId, user: UserId, name: &str, now: &str, text: &str) {
    let ctx = Context {
        chat,
        user,
        now: ts(now),
        bot_username: "BountyBot",
        update: None,
        admin: true,
        name: Some(name),
    };
    handle(store, &ctx, text).unwrap_or_else(|| panic!("no reply to {text:?}"));
}

/// A chat with its digest at `at` in `zone` and one bounty overdue for ever, so every
/// day's digest has something to say.
fn chat_with_digest(store: &dyn BountyStore, chat: ChatId, zone: &str, at: &str) {
    let now = "2026-01-01T12:00:00Z";
    say(store, chat, ANN, "Ann", now, &format!("/timezone {zone}"));
    say(store, chat, ANN, "Ann", now, &format!("/remind {at}"));
    say(
        store,
        chat,
        ANN,
        "Ann",
        now,
        "/add Renew the permit 2026-01-02",
    );
}

/// A sender that records what it sent, and fails on demand.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<(ChatId, String)>>,
    attempts: Mutex<Vec<(ChatId, Instant)>>,
    failures: Mutex<Vec<Failure>>,
    next_id: AtomicI32,
}

impl Recorder {
    fn failing(failures: Vec<Failure>) -> Recorder {
        Recorder {
            failures: Mutex::new(failures),
            ..Recorder::default()
        }
    }

    fn sent(&self) -> Vec<(ChatId, String)> {
        self.sent.lock().unwrap().clone()
    }
}

impl DigestSender for Recorder {
    fn send(&self, chat: ChatId, html: &str) -> Result<i32, SendError> {
        self.attempts.lock().unwrap().push((chat, Instant::now()));
        let failure = {
            let mut f = self.failures.lock().unwrap();
            (!f.is_empty()).then(|| f.remove(0))
        };
        if let Some(failure) = failure {
            return Err(SendError {
                chat,
                failure,
                reason: "scripted failure".into(),
            });
        }
        self.sent.lock().unwrap().push((chat, html.to_string()));
        Ok(self.next_id.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

fn fast() -> PassOptions {
    PassOptions {
        pace: Arc::new(Pace::per_second(100_000)),
        workers: 4,
        attempts: 3,
        backoff: Duration::ZERO,
    }
}

fn pass(store: &dyn BountyStore, now: Timestamp, sender: &dyn DigestSender) -> Report {
    remind_pass(store, now, sender, &fast(), &AtomicBool::new(false)).unwrap()
}

/// Runs a pass at every minute from `from` (inclusive) to `to` (exclusive); returns
/// each digest sent as (pass time, chat, local date).
fn every_minute(
    store: &dyn BountyStore,
    sender: &Recorder,
    from: Timestamp,
    to: Timestamp,
) -> Vec<(Timestamp, ChatId, Date)> {
    let mut out = Vec::new();
    let mut now = from;
    while now < to {
        for (chat, date, _) in pass(store, now, sender).sent {
            out.push((now, chat, date));
        }
        now += jiff::SignedDuration::from_secs(60);
    }
    out
}

#[test]
fn the_digest_lists_overdue_today_and_tomorrow_by_the_chats_local_dates() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let chat = ChatId::new(-100077);
        let now = "2026-11-23T12:00:00Z";
        say(
            store.as_ref(),
            chat,
            ANN,
            "Ann",
            now,
            "/timezone Asia/Tokyo",
        );
        say(store.as_ref(), chat, ANN, "Ann", now, "/remind 08:00");
        for text in [
            "/add Overdue <one> 2026-11-20",
            "/add Due today in Tokyo 2026-11-24",
            "/add Due tomorrow in Tokyo 2026-11-25",
            "/add Later 2026-11-26",
            "/add Finished 2026-11-20",
            "/add No date at all",
        ] {
            say(store.as_ref(), chat, ANN, "Ann", now, text);
        }
        say(store.as_ref(), chat, BO, "Bo & Co", now, "/claim 2");
        say(store.as_ref(), chat, CY, "Cy", now, "/track 3");
        say(store.as_ref(), chat, ANN, "Ann", now, "/done 5");
        let sender = Recorder::default();
        // 23:30 UTC on 23 November is 08:30 on 24 November in Tokyo.
        let report = pass(store.as_ref(), ts("2026-11-23T23:30:00Z"), &sender);
        assert_eq!(
            report.sent,
            vec![(chat, date("2026-11-24"), 1)],
            "{backend}"
        );
        let text = &sender.sent()[0].1;
        let expected = "<b>Daily digest</b> · 2026-11-24 (Asia/Tokyo)\n\n\
            <b>Overdue</b>\n<b>#1</b> Overdue &lt;one&gt; · overdue by 4 days (2026-11-20) · by Ann\n\n\
            <b>Due today</b>\n<b>#2</b> Due today in Tokyo · due today (2026-11-24) · by Ann · claimed by Bo &amp; Co\n\n\
            <b>Due tomorrow</b>\n<b>#3</b> Due tomorrow in Tokyo · due tomorrow (2026-11-25) · by Ann · tracked by \
            <a href=\"tg://user?id=13\">Cy</a>";
        assert_eq!(text, expected, "{backend}");
    }
}

#[test]
fn a_chat_with_nothing_due_gets_no_message_and_its_day_is_done() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let chat = ChatId::new(-100078);
        let now = "2026-11-23T12:00:00Z";
        say(store.as_ref(), chat, ANN, "Ann", now, "/remind 09:00");
        say(
            store.as_ref(),
            chat,
            ANN,
            "Ann",
            now,
            "/add Far away 2027-01-01",
        );
        let sender = Recorder::default();
        let report = pass(store.as_ref(), ts("2026-11-24T09:00:00Z"), &sender);
        assert_eq!(report.empty, vec![(chat, date("2026-11-24"))], "{backend}");
        assert!(sender.sent().is_empty(), "{backend}");
        let record = store.digests(chat).unwrap();
        assert_eq!(record[0].message_id, Some(EMPTY_DIGEST), "{backend}");
        let again = pass(store.as_ref(), ts("2026-11-24T09:30:00Z"), &sender);
        assert_eq!((again.already, again.empty.len()), (1, 0), "{backend}");
    }
}

/// Chats in three zones with reminder times spread over the day.
const CHATS: [(ChatId, &str, &str); 4] = [
    (ChatId::new(-10001), "UTC", "09:00"),
    (ChatId::new(-10002), "Asia/Tokyo", "08:00"),
    (ChatId::new(-10003), "America/New_York", "23:59"),
    (ChatId::new(-10004), "Europe/Berlin", "00:00"),
];

fn with_chats(open: Open) -> (tempfile::TempDir, Arc<dyn BountyStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for (chat, zone, at) in CHATS {
        chat_with_digest(store.as_ref(), chat, zone, at);
    }
    (dir, store)
}

/// What two days of passes every minute from 24 November 00:00 UTC must send: each
/// chat's digest once per local date, at the first pass at or after its time.
fn two_days_expected() -> Vec<(Timestamp, ChatId, Date)> {
    let mut want = vec![
        // At the first pass: Tokyo is at 09:00 on the 24th, past its 08:00; Berlin at
        // 01:00 on the 24th, past its 00:00.
        (
            ts("2026-11-24T00:00:00Z"),
            ChatId::new(-10002),
            date("2026-11-24"),
        ),
        (
            ts("2026-11-24T00:00:00Z"),
            ChatId::new(-10004),
            date("2026-11-24"),
        ),
        (
            ts("2026-11-24T04:59:00Z"),
            ChatId::new(-10003),
            date("2026-11-23"),
        ),
        (
            ts("2026-11-24T09:00:00Z"),
            ChatId::new(-10001),
            date("2026-11-24"),
        ),
        (
            ts("2026-11-24T23:00:00Z"),
            ChatId::new(-10002),
            date("2026-11-25"),
        ),
        (
            ts("2026-11-24T23:00:00Z"),
            ChatId::new(-10004),
            date("2026-11-25"),
        ),
        (
            ts("2026-11-25T04:59:00Z"),
            ChatId::new(-10003),
            date("2026-11-24"),
        ),
        (
            ts("2026-11-25T09:00:00Z"),
            ChatId::new(-10001),
            date("2026-11-25"),
        ),
        (
            ts("2026-11-25T23:00:00Z"),
            ChatId::new(-10002),
            date("2026-11-26"),
        ),
        (
            ts("2026-11-25T23:00:00Z"),
            ChatId::new(-10004),
            date("2026-11-26"),
        ),
    ];
    want.sort_by_key(|(t, c, _)| (*t, *c));
    want
}

fn sorted(mut v: Vec<(Timestamp, ChatId, Date)>) -> Vec<(Timestamp, ChatId, Date)> {
    v.sort_by_key(|(t, c, _)| (*t, *c));
    v
}

#[test]
fn a_pass_every_minute_for_two_days_sends_one_digest_per_chat_and_local_day() {
    for (backend, open) in BACKENDS {
        let (_dir, store) = with_chats(open);
        let sender = Recorder::default();
        let got = every_minute(
            store.as_ref(),
            &sender,
            ts("2026-11-24T00:00:00Z"),
            ts("2026-11-26T00:00:00Z"),
        );
        assert_eq!(sorted(got), two_days_expected(), "{backend}");
        assert_eq!(sender.sent().len(), 10, "{backend}");
    }
}

#[test]
fn a_restart_mid_day_sends_nothing_twice() {
    for (backend, open) in BACKENDS {
        let (dir, store) = with_chats(open);
        let sender = Recorder::default();
        let mut got = every_minute(
            store.as_ref(),
            &sender,
            ts("2026-11-24T00:00:00Z"),
            ts("2026-11-24T10:30:00Z"),
        );
        drop(store);
        // A new process: the store opened afresh, the passes picking up where they were.
        let store = open(dir.path());
        got.extend(every_minute(
            store.as_ref(),
            &sender,
            ts("2026-11-24T10:30:00Z"),
            ts("2026-11-26T00:00:00Z"),
        ));
        assert_eq!(sorted(got), two_days_expected(), "{backend}");
    }
}

#[test]
fn two_processes_running_the_passes_at_once_send_each_digest_once() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let setup = open(dir.path());
        let chats: Vec<ChatId> = (1..=40).map(|i| ChatId::new(-100_500 - i)).collect();
        for (i, chat) in chats.iter().enumerate() {
            let at = format!("09:{:02}", i % 3);
            chat_with_digest(setup.as_ref(), *chat, "Europe/Berlin", &at);
        }
        drop(setup);
        // Two stores opened separately on the same data, as two processes would.
        let stores = [open(dir.path()), open(dir.path())];
        let sender = Recorder::default();
        let start = Barrier::new(2);
        let reports: Vec<Vec<Report>> = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .map(|store| {
                    let (sender, start) = (&sender, &start);
                    s.spawn(move || {
                        let mut reports = Vec::new();
                        // 07:58 to 08:05 UTC: 08:58 to 09:05 in Berlin.
                        for minute in 58..66 {
                            let now = ts("2026-11-24T07:00:00Z")
                                + jiff::SignedDuration::from_secs(60 * minute);
                            start.wait();
                            reports.push(pass(store.as_ref(), now, sender));
                        }
                        reports
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sent: Vec<ChatId> = sender.sent().into_iter().map(|(c, _)| c).collect();
        sent.sort();
        let mut want = chats.clone();
        want.sort();
        assert_eq!(sent, want, "{backend}: each chat exactly once");
        let by_reports: usize = reports.iter().flatten().map(|r| r.sent.len()).sum();
        assert_eq!(by_reports, chats.len(), "{backend}");
        assert!(
            reports
                .iter()
                .flatten()
                .all(|r| r.failed.is_empty() && r.errors.is_empty()),
            "{backend}: {reports:?}"
        );
    }
}

#[test]
fn a_clock_jumping_back_an_hour_sends_nothing_twice() {
    for (backend, open) in BACKENDS {
        let (_dir, store) = with_chats(open);
        let sender = Recorder::default();
        let mut got = every_minute(
            store.as_ref(),
            &sender,
            ts("2026-11-24T00:00:00Z"),
            ts("2026-11-25T23:30:00Z"),
        );
        // The clock is set back an hour (past Tokyo's and Berlin's reminders of the
        // 26th, which were just sent), then runs on.
        got.extend(every_minute(
            store.as_ref(),
            &sender,
            ts("2026-11-25T22:30:00Z"),
            ts("2026-11-26T00:00:00Z"),
        ));
        assert_eq!(sorted(got), two_days_expected(), "{backend}");
    }
}

#[test]
fn daylight_saving_in_berlin_neither_skips_nor_doubles_a_digest() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let at_0230 = ChatId::new(-100031);
        let at_0300 = ChatId::new(-100032);
        let at_0159 = ChatId::new(-100033);
        chat_with_digest(store.as_ref(), at_0230, "Europe/Berlin", "02:30");
        chat_with_digest(store.as_ref(), at_0300, "Europe/Berlin", "03:00");
        chat_with_digest(store.as_ref(), at_0159, "Europe/Berlin", "01:59");
        let sender = Recorder::default();
        // Spring: on 29 March 2026 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30
        // does not exist and goes out at the next valid time, 03:00.
        let spring = every_minute(
            store.as_ref(),
            &sender,
            ts("2026-03-28T12:00:00Z"),
            ts("2026-03-30T12:00:00Z"),
        );
        let want = vec![
            (ts("2026-03-28T12:00:00Z"), at_0230, date("2026-03-28")),
            (ts("2026-03-28T12:00:00Z"), at_0300, date("2026-03-28")),
            (ts("2026-03-28T12:00:00Z"), at_0159, date("2026-03-28")),
            (ts("2026-03-29T00:59:00Z"), at_0159, date("2026-03-29")),
            (ts("2026-03-29T01:00:00Z"), at_0230, date("2026-03-29")),
            (ts("2026-03-29T01:00:00Z"), at_0300, date("2026-03-29")),
            (ts("2026-03-29T23:59:00Z"), at_0159, date("2026-03-30")),
            (ts("2026-03-30T00:30:00Z"), at_0230, date("2026-03-30")),
            (ts("2026-03-30T01:00:00Z"), at_0300, date("2026-03-30")),
        ];
        assert_eq!(sorted(spring), sorted(want), "{backend}: spring");
        // Autumn: on 25 October 2026 03:00 CEST falls back to 02:00 CET (01:00 UTC);
        // 02:30 happens twice and the digest goes out at the first.
        let autumn = every_minute(
            store.as_ref(),
            &sender,
            ts("2026-10-24T12:00:00Z"),
            ts("2026-10-26T12:00:00Z"),
        );
        let want = vec![
            (ts("2026-10-24T12:00:00Z"), at_0230, date("2026-10-24")),
            (ts("2026-10-24T12:00:00Z"), at_0300, date("2026-10-24")),
            (ts("2026-10-24T12:00:00Z"), at_0159, date("2026-10-24")),
            (ts("2026-10-24T23:59:00Z"), at_0159, date("2026-10-25")),
            (ts("2026-10-25T00:30:00Z"), at_0230, date("2026-10-25")),
            (ts("2026-10-25T02:00:00Z"), at_0300, date("2026-10-25")),
            (ts("2026-10-26T00:59:00Z"), at_0159, date("2026-10-26")),
            (ts("2026-10-26T01:30:00Z"), at_0230, date("2026-10-26")),
            (ts("2026-10-26T02:00:00Z"), at_0300, date("2026-10-26")),
        ];
        assert_eq!(sorted(autumn), sorted(want), "{backend}: autumn");
    }
}

#[test]
fn a_failed_send_is_retried_later_the_same_day() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let chat = ChatId::new(-100041);
        chat_with_digest(store.as_ref(), chat, "UTC", "09:00");
        // Telegram fails every attempt of the first pass (three), then recovers.
        let sender = Recorder::failing(vec![Failure::Transient; 3]);
        let first = pass(store.as_ref(), ts("2026-11-24T09:00:00Z"), &sender);
        assert_eq!(first.failed.len(), 1, "{backend}: {first:?}");
        assert!(sender.sent().is_empty());
        // Until the claim is stale, later passes leave it (it might still be sending).
        let stale = ts("2026-11-24T09:00:00Z") + jiff::SignedDuration::from_secs(STALE_CLAIM_SECS);
        let got = every_minute(
            store.as_ref(),
            &sender,
            ts("2026-11-24T09:01:00Z"),
            ts("2026-11-24T12:00:00Z"),
        );
        assert_eq!(got.len(), 1, "{backend}: {got:?}");
        assert!(got[0].0 > stale && got[0].0 <= stale + jiff::SignedDuration::from_secs(60));
        assert_eq!(store.digests(chat).unwrap()[0].message_id, Some(1));
    }
}

#[test]
fn retry_after_is_honoured_and_the_digest_still_goes_out_in_the_same_pass() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let chat = ChatId::new(-100042);
        chat_with_digest(store.as_ref(), chat, "UTC", "09:00");
        let sender = Recorder::failing(vec![Failure::RetryAfter(Duration::from_millis(300))]);
        let report = pass(store.as_ref(), ts("2026-11-24T09:00:00Z"), &sender);
        assert_eq!(report.sent.len(), 1, "{backend}: {report:?}");
        let attempts = sender.attempts.lock().unwrap().clone();
        assert_eq!(attempts.len(), 2);
        assert!(attempts[1].1 - attempts[0].1 >= Duration::from_millis(300));
    }
}

#[test]
fn a_wait_longer_than_a_claim_may_last_leaves_every_digest_for_a_later_pass() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for i in 1..=3 {
            chat_with_digest(store.as_ref(), ChatId::new(-100_080 - i), "UTC", "09:00");
        }
        // Telegram asks for ten minutes: the digest it refused is not retried in this
        // pass (its claim would go stale meanwhile), and the chats after it are not
        // even claimed; all are left for a pass after it. One chat at a time, so the
        // refusal comes before the other chats start.
        let sender = Recorder::failing(vec![Failure::RetryAfter(Duration::from_secs(600))]);
        let one_at_a_time = PassOptions {
            workers: 1,
            ..fast()
        };
        let report = remind_pass(
            store.as_ref(),
            ts("2026-11-24T09:00:00Z"),
            &sender,
            &one_at_a_time,
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(
            (report.failed.len(), report.stopped, report.sent.len()),
            (1, 2, 0),
            "{backend}: {report:?}"
        );
        assert!(!report.failed.is_empty(), "{backend}: the 429 was met");
        assert_eq!(sender.attempts.lock().unwrap().len(), 1, "{backend}");
        let later = pass(store.as_ref(), ts("2026-11-24T09:11:00Z"), &sender);
        assert_eq!(later.sent.len(), 3, "{backend}: {later:?}");
    }
}

#[test]
fn a_chat_the_bot_was_removed_from_is_not_retried_all_day() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let chat = ChatId::new(-100043);
        chat_with_digest(store.as_ref(), chat, "UTC", "09:00");
        let sender = Recorder::failing(vec![Failure::Gone]);
        let got = every_minute(
            store.as_ref(),
            &sender,
            ts("2026-11-24T09:00:00Z"),
            ts("2026-11-24T12:00:00Z"),
        );
        assert!(got.is_empty(), "{backend}");
        assert_eq!(sender.attempts.lock().unwrap().len(), 1, "{backend}");
    }
}

#[test]
fn a_group_that_became_a_supergroup_gets_its_digest_there() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let (old, new) = (ChatId::new(-44), ChatId::new(-100044));
        chat_with_digest(store.as_ref(), old, "UTC", "09:00");
        let sender = Recorder::failing(vec![Failure::Moved(new)]);
        let report = pass(store.as_ref(), ts("2026-11-24T09:00:00Z"), &sender);
        assert_eq!(report.sent.len(), 1, "{backend}: {report:?}");
        assert_eq!(sender.sent()[0].0, new, "{backend}");
        assert_eq!(
            store.digests(new).unwrap()[0].message_id,
            Some(1),
            "{backend}"
        );
        let later = pass(store.as_ref(), ts("2026-11-24T10:00:00Z"), &sender);
        assert!(later.sent.is_empty(), "{backend}: {later:?}");
    }
}

#[test]
fn downtime_across_the_reminder_time_gives_one_digest_on_start_and_none_for_past_days() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let chat = ChatId::new(-100045);
        chat_with_digest(store.as_ref(), chat, "Europe/Berlin", "09:00");
        let sender = Recorder::default();
        let before = every_minute(
            store.as_ref(),
            &sender,
            ts("2026-11-24T00:00:00Z"),
            ts("2026-11-24T07:00:00Z"),
        );
        assert!(before.is_empty(), "{backend}");
        // Down from 08:00 Berlin on the 24th to 12:00 Berlin on the 27th.
        drop(store);
        let store = open(dir.path());
        let after = every_minute(
            store.as_ref(),
            &sender,
            ts("2026-11-27T11:00:00Z"),
            ts("2026-11-27T23:00:00Z"),
        );
        assert_eq!(
            after,
            vec![(ts("2026-11-27T11:00:00Z"), chat, date("2026-11-27"))],
            "{backend}"
        );
    }
}

#[test]
fn chats_due_at_once_are_served_in_order_of_their_reminder_time() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        // Chat ids in the opposite order of their reminder moments.
        let chats = [
            (ChatId::new(-100061), "UTC", "08:45"),
            (ChatId::new(-100062), "Europe/Berlin", "09:30"),
            (ChatId::new(-100063), "UTC", "08:15"),
            (ChatId::new(-100064), "Asia/Tokyo", "17:00"),
        ];
        for (chat, zone, at) in chats {
            chat_with_digest(store.as_ref(), chat, zone, at);
        }
        let sender = Recorder::default();
        let one_at_a_time = PassOptions {
            workers: 1,
            ..fast()
        };
        let report = remind_pass(
            store.as_ref(),
            ts("2026-11-24T09:00:00Z"),
            &sender,
            &one_at_a_time,
            &AtomicBool::new(false),
        )
        .unwrap();
        let order: Vec<ChatId> = sender.sent().into_iter().map(|(c, _)| c).collect();
        // Tokyo 17:00 = 08:00 UTC, then 08:15, Berlin 09:30 = 08:30 UTC, then 08:45.
        assert_eq!(
            order,
            vec![
                ChatId::new(-100064),
                ChatId::new(-100063),
                ChatId::new(-100062),
                ChatId::new(-100061)
            ],
            "{backend}"
        );
        assert_eq!(report.sent.len(), 4);
    }
}

#[test]
fn a_stopped_pass_starts_no_further_chat() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_json(dir.path());
    for i in 1..=5 {
        chat_with_digest(store.as_ref(), ChatId::new(-10070 - i), "UTC", "09:00");
    }
    let sender = Recorder::default();
    let report = remind_pass(
        store.as_ref(),
        ts("2026-11-24T09:00:00Z"),
        &sender,
        &fast(),
        &AtomicBool::new(true),
    )
    .unwrap();
    assert_eq!((report.stopped, sender.sent().len()), (5, 0));
    // Nothing was claimed: the next pass sends all five.
    assert_eq!(
        pass(store.as_ref(), ts("2026-11-24T09:01:00Z"), &sender)
            .sent
            .len(),
        5
    );
}

#[test]
fn a_reminder_in_a_gap_across_midnight_still_goes_out_on_its_day() {
    // America/Nuuk springs forward from 23:00 on 28 March 2026 straight to 00:00 on
    // the 29th: 23:30 does not exist on the 28th.
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let chat = ChatId::new(-100_090);
        chat_with_digest(store.as_ref(), chat, "America/Nuuk", "23:30");
        let sender = Recorder::default();
        let got = every_minute(
            store.as_ref(),
            &sender,
            ts("2026-03-27T12:00:00Z"),
            ts("2026-03-31T12:00:00Z"),
        );
        let dates: Vec<Date> = got.iter().map(|(_, _, d)| *d).collect();
        assert_eq!(
            dates,
            ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30"].map(date),
            "{backend}: {got:?}"
        );
    }
}

#[test]
fn a_damaged_chat_does_not_keep_the_others_from_their_digests() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let (bad, good) = (ChatId::new(-100_091), ChatId::new(-100_092));
        chat_with_digest(store.as_ref(), bad, "UTC", "09:00");
        chat_with_digest(store.as_ref(), good, "UTC", "09:00");
        if backend == "json" {
            let file = dir
                .path()
                .join("data")
                .join(bad.get().to_string())
                .join("group.json");
            std::fs::write(file, "{ this is not json").unwrap();
        } else {
            let c =
                rusqlite::Connection::open(dir.path().join("data").join("bountybot.db")).unwrap();
            c.execute(
                "UPDATE chat_settings SET time_zone = 'Mars/Olympus_Mons' WHERE chat_id = ?1",
                [bad.get()],
            )
            .unwrap();
        }
        let sender = Recorder::default();
        let report = pass(store.as_ref(), ts("2026-11-24T09:00:00Z"), &sender);
        assert_eq!(report.sent.len(), 1, "{backend}: {report:?}");
        assert_eq!(sender.sent()[0].0, good, "{backend}");
        assert_eq!(report.errors.len(), 1, "{backend}: {report:?}");
        assert_eq!(report.errors[0].0, bad, "{backend}");
    }
}

/// A sender whose first attempt finds the claim taken over by another pass (its own
/// claim went stale meanwhile) and fails; it counts its attempts.
struct TakenOver {
    store: Arc<dyn BountyStore>,
    date: Date,
    attempts: AtomicI32,
}

impl DigestSender for TakenOver {
    fn send(&self, chat: ChatId, _html: &str) -> Result<i32, SendError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let later = ts("2026-11-24T10:00:00Z").as_second();
        let took = self
            .store
            .reclaim_digest(chat, self.date, later, STALE_CLAIM_SECS)
            .unwrap();
        assert_eq!(took, bountybot::domain::DigestClaim::Got);
        Err(SendError {
            chat,
            failure: Failure::Transient,
            reason: "the answer never came".into(),
        })
    }
}

#[test]
fn a_retry_stops_when_another_pass_took_the_claim_over() {
    for (backend, open) in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let chat = ChatId::new(-100_093);
        chat_with_digest(store.as_ref(), chat, "UTC", "09:00");
        let sender = TakenOver {
            store: Arc::clone(&store),
            date: date("2026-11-24"),
            attempts: AtomicI32::new(0),
        };
        let report = pass(store.as_ref(), ts("2026-11-24T09:00:00Z"), &sender);
        assert_eq!(report.already, 1, "{backend}: {report:?}");
        assert_eq!(
            sender.attempts.load(Ordering::SeqCst),
            1,
            "{backend}: no retry"
        );
    }
}
