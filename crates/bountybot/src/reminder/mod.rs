//! Daily digests: one reminder pass sends, to every chat whose digest is on and whose
//! reminder time has passed today (its own local date, in its own time zone), that
//! day's digest: claimed in the store, rendered, sent, and recorded with Telegram's
//! message id. [`schedule`] runs a pass every minute inside `bountybot run`;
//! `bountybot remind` runs one.
//!
//! Deduplication lives in the store, not in the timer: a (chat, local date) digest is
//! claimed before it is sent ([`crate::store::ChatSettingsStore::claim_digest`]), so of any number of
//! passes at once, in one process or several, one sends. A claim whose send failed or
//! was interrupted stays unsent and is taken over ([`crate::store::ChatSettingsStore::reclaim_digest`]) by
//! a pass after [`STALE_CLAIM_SECS`], the same local day. Only today's date is ever
//! claimed, so downtime never leads to a burst of past days' digests, and a clock
//! that jumps back finds the day it lands on done already.
//!
//! An empty digest sends nothing and is recorded as sent with message id
//! [`EMPTY_DIGEST`] (0, which Telegram never gives a message), so the day is done.
//!
//! The one window that cannot be closed: Telegram has no idempotency key, so a crash
//! after Telegram accepted the message and before the store recorded it sends that
//! digest again when the claim is taken over.

pub mod pace;
pub mod schedule;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::AmbiguousOffset;
use statekit::error::Chain;

use crate::command::digest::digest;
use crate::domain::{ChatId, ReminderTime, ZoneName};
use crate::domain::{ChatSettings, DigestClaim};
use crate::store::{BountyStore, StoreError};
use pace::Pace;

/// An unsent claim older than this (seconds) is taken over by a later pass.
pub const STALE_CLAIM_SECS: i64 = 600;

/// How long one digest may keep trying after its claim: well under
/// [`STALE_CLAIM_SECS`], so no other pass takes the claim over while it still tries.
pub const SEND_DEADLINE: Duration = Duration::from_secs(240);

/// The message id recorded for a day whose digest was empty (nothing sent), or that
/// could not be delivered at all (the bot was removed from the chat).
pub const EMPTY_DIGEST: i32 = 0;

/// Why one attempt to send a digest failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Telegram's 429: try again after this long (and hold every send back).
    RetryAfter(Duration),
    /// The network or Telegram's own trouble: worth another attempt.
    Transient,
    /// The group became a supergroup with this id: the chat's data moves there.
    Moved(ChatId),
    /// The bot can no longer write to the chat (removed, blocked, chat gone).
    Gone,
    /// Telegram refused this message; the same message would be refused again.
    Refused,
}

/// A failed attempt to send a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot send the digest to chat {chat}: {reason}")]
pub struct SendError {
    /// The chat.
    pub chat: ChatId,
    /// What kind of failure, which decides what happens next.
    pub failure: Failure,
    /// What went wrong, for people.
    pub reason: String,
}

/// Sends one message; the real one is `telegram::digest::BotSender`, tests inject
/// their own. One attempt per call: the pass decides about retries.
pub trait DigestSender: Sync {
    /// Sends `html` (Telegram HTML) to `chat`; Telegram's message id on success.
    fn send(&self, chat: ChatId, html: &str) -> Result<i32, SendError>;
}

/// How a pass sends.
#[derive(Debug, Clone)]
pub struct PassOptions {
    /// Spaces the sends (all chats together) and holds them back after a 429; the
    /// scheduler keeps one across its passes, so a hold outlasts the pass it began in.
    pub pace: Arc<Pace>,
    /// Digests in flight at once (Telegram answers each in a round trip).
    pub workers: usize,
    /// Attempts per digest in one pass.
    pub attempts: u32,
    /// First pause after a transient failure; doubled each time.
    pub backoff: Duration,
}

impl Default for PassOptions {
    fn default() -> Self {
        PassOptions {
            pace: Arc::new(Pace::per_second(pace::DIGESTS_PER_SECOND)),
            workers: 8,
            attempts: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

/// What one pass did, chat by chat, in the order the chats became due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Digests sent: chat, local date, message id.
    pub sent: Vec<(ChatId, Date, i32)>,
    /// Days done without a message (nothing due).
    pub empty: Vec<(ChatId, Date)>,
    /// Sends that failed; the claim stays unsent, so a later pass retries.
    pub failed: Vec<(ChatId, Date, String)>,
    /// Digests Telegram will never take (the bot was removed, or the message was
    /// refused): the day is closed, so no pass keeps trying.
    pub dropped: Vec<(ChatId, Date, String)>,
    /// Chats whose reminder time has not come yet today.
    pub not_yet: usize,
    /// Chats whose digest of today was done already, or is being sent by another pass.
    pub already: usize,
    /// Chats left for the next pass because the pass was asked to stop, or because
    /// Telegram's 429 holds every send back too long for a claim to wait.
    pub stopped: usize,
    /// Chats the store could not answer for (nothing sent).
    pub errors: Vec<(ChatId, String)>,
}

/// A digest due now, as a dry run shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The chat.
    pub chat: ChatId,
    /// Its local date.
    pub date: Date,
    /// The message, or `None` for an empty digest (nothing would be sent).
    pub text: Option<String>,
}

/// The moment the reminder at `at` falls on `date` in `zone`. A time that does not
/// exist that day (skipped by a daylight-saving change) falls at the next valid time,
/// the moment the clocks jump (02:30 on a spring-forward day in Europe/Berlin is 03:00
/// local; when the jump crosses midnight, that is on the next local date); a time that
/// exists twice falls on its first occurrence.
pub fn reminder_moment(zone: &ZoneName, at: ReminderTime, date: Date) -> Option<Timestamp> {
    let tz = zone.time_zone();
    let local = date.at(
        i8::try_from(at.hour()).ok()?,
        i8::try_from(at.minute()).ok()?,
        0,
        0,
    );
    match tz.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } | AmbiguousOffset::Fold { before: offset, .. } => {
            offset.to_timestamp(local).ok()
        }
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, the local time lands before the jump; the
            // next transition is the jump itself.
            let before_jump = after.to_timestamp(local).ok()?;
            tz.following(before_jump).next().map(|t| t.timestamp())
        }
    }
}

/// The local date whose digest is due at `now` and the moment its reminder fell, if
/// that moment has passed: today's, or yesterday's when a daylight-saving jump across
/// midnight moved yesterday's reminder into today (and today's is not due yet).
pub fn due_today(zone: &ZoneName, at: ReminderTime, now: Timestamp) -> Option<(Date, Timestamp)> {
    let tz = zone.time_zone();
    let today = now.to_zoned(tz.clone()).date();
    let falls_today = |m: Timestamp| m.to_zoned(tz.clone()).date() == today;
    if let Some(m) = reminder_moment(zone, at, today)
        && falls_today(m)
        && now >= m
    {
        return Some((today, m));
    }
    let yesterday = today.yesterday().ok()?;
    let m = reminder_moment(zone, at, yesterday)?;
    (falls_today(m) && now >= m).then_some((yesterday, m))
}

/// A chat due in this pass.
struct Due {
    chat: ChatId,
    zone: ZoneName,
    date: Date,
    moment: Timestamp,
}

/// The chats due at `now`, earliest reminder first.
struct DueChats {
    due: Vec<Due>,
    not_yet: usize,
    /// Chats whose settings could not be read.
    unreadable: Vec<(ChatId, String)>,
}

fn due_chats(store: &dyn BountyStore, now: Timestamp) -> Result<DueChats, StoreError> {
    let mut out = DueChats {
        due: Vec::new(),
        not_yet: 0,
        unreadable: Vec::new(),
    };
    for (chat, settings) in store.reminder_chats()? {
        let settings = match settings {
            Ok(s) => s,
            Err(e) => {
                out.unreadable.push((chat, Chain(&e).to_string()));
                continue;
            }
        };
        match due_for(&settings, now) {
            Some((zone, date, moment)) => out.due.push(Due {
                chat,
                zone,
                date,
                moment,
            }),
            None => out.not_yet += 1,
        }
    }
    out.due.sort_by_key(|d| (d.moment, d.chat));
    Ok(out)
}

fn due_for(settings: &ChatSettings, now: Timestamp) -> Option<(ZoneName, Date, Timestamp)> {
    let zone = settings.zone();
    let (date, moment) = due_today(&zone, settings.remind_at?, now)?;
    Some((zone, date, moment))
}

/// Gets the claim of (`chat`, `date`) at `now`, taking over a stale unsent one.
fn claim(store: &dyn BountyStore, chat: ChatId, date: Date, now: i64) -> Result<bool, StoreError> {
    Ok(match store.claim_digest(chat, date, now)? {
        DigestClaim::Got => true,
        DigestClaim::Pending { since } if now.saturating_sub(since) > STALE_CLAIM_SECS => {
            store.reclaim_digest(chat, date, now, STALE_CLAIM_SECS)? == DigestClaim::Got
        }
        DigestClaim::Pending { .. } | DigestClaim::Sent { .. } => false,
    })
}

/// What became of one due chat.
enum Outcome {
    Sent(i32),
    Empty,
    Failed(String),
    Dropped(String),
    Already,
    HeldBack,
}

/// One reminder pass at `now` over every chat with its digest on: the chats due are
/// served earliest reminder first, `opts.workers` at a time, as fast as `opts.pace`
/// allows. Once `stop` is set, no further chat is started.
pub fn remind_pass(
    store: &dyn BountyStore,
    now: Timestamp,
    sender: &dyn DigestSender,
    opts: &PassOptions,
    stop: &AtomicBool,
) -> Result<Report, StoreError> {
    let started = Instant::now();
    let DueChats {
        due,
        not_yet,
        unreadable,
    } = due_chats(store, now)?;
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<(usize, Result<Outcome, StoreError>)>> = Mutex::new(Vec::new());
    let clock = PassClock { now, started };
    std::thread::scope(|scope| {
        for _ in 0..opts.workers.clamp(1, due.len().max(1)) {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(d) = due.get(i) else { return };
                    let outcome = deliver(store, d, &clock, sender, opts, stop);
                    outcomes
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((i, outcome));
                }
            });
        }
    });
    let mut outcomes = outcomes
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    outcomes.sort_by_key(|(i, _)| *i);
    let mut report = Report {
        not_yet,
        stopped: due.len() - outcomes.len(),
        errors: unreadable,
        ..Report::default()
    };
    for (i, outcome) in outcomes {
        let Due { chat, date, .. } = due[i];
        match outcome {
            Ok(Outcome::Sent(id)) => report.sent.push((chat, date, id)),
            Ok(Outcome::Empty) => report.empty.push((chat, date)),
            Ok(Outcome::Failed(why)) => report.failed.push((chat, date, why)),
            Ok(Outcome::Dropped(why)) => report.dropped.push((chat, date, why)),
            Ok(Outcome::Already) => report.already += 1,
            Ok(Outcome::HeldBack) => report.stopped += 1,
            Err(e) => report.errors.push((chat, Chain(&e).to_string())),
        }
    }
    Ok(report)
}

/// The pass's idea of the time: `now` when it started, moving on with the monotonic
/// clock, so a claim records when it was made even late in a long pass.
struct PassClock {
    now: Timestamp,
    started: Instant,
}

impl PassClock {
    fn seconds(&self) -> i64 {
        let elapsed = i64::try_from(self.started.elapsed().as_secs()).unwrap_or(i64::MAX);
        self.now.as_second().saturating_add(elapsed)
    }
}

/// Whether the unsent claim of (`chat`, `date`) made at `claimed_at` is still there
/// (no other pass took it over, and it was not recorded as sent).
fn still_ours(
    store: &dyn BountyStore,
    chat: ChatId,
    date: Date,
    claimed_at: i64,
) -> Result<bool, StoreError> {
    Ok(store
        .digests(chat)?
        .iter()
        .any(|r| r.date == date && r.claimed_at == claimed_at && r.message_id.is_none()))
}

/// Claims, renders, sends and records one chat's digest of today.
fn deliver(
    store: &dyn BountyStore,
    due: &Due,
    clock: &PassClock,
    sender: &dyn DigestSender,
    opts: &PassOptions,
    stop: &AtomicBool,
) -> Result<Outcome, StoreError> {
    let (mut chat, date, pace) = (due.chat, due.date, &opts.pace);
    // After a long 429 no claim could be sent in time: leave the chat unclaimed.
    if pace.free_at(Instant::now()) > Instant::now() + SEND_DEADLINE / 2 {
        return Ok(Outcome::HeldBack);
    }
    let claimed_at = clock.seconds();
    if !claim(store, chat, date, claimed_at)? {
        return Ok(Outcome::Already);
    }
    let deadline = Instant::now() + SEND_DEADLINE;
    let Some(text) = digest(store, chat, date, &due.zone)? else {
        store.digest_sent(chat, date, EMPTY_DIGEST)?;
        return Ok(Outcome::Empty);
    };
    let mut backoff = opts.backoff;
    let mut last = String::from("no attempt made");
    for attempt in 0..opts.attempts.max(1) {
        // Never send past the deadline: by then another pass may take the claim over.
        let slot = pace.reserve(Instant::now());
        if slot > deadline {
            last = format!("{last}; Telegram's limits leave no time to retry now");
            break;
        }
        if nap_until(slot, stop) {
            break;
        }
        // A retry goes out only while the claim is still this pass's.
        if attempt > 0 && !still_ours(store, chat, date, claimed_at)? {
            return Ok(Outcome::Already);
        }
        let error = match sender.send(chat, &text) {
            Ok(id) => {
                crate::crash::crash_point("digest-sent");
                store.digest_sent(chat, date, id)?;
                return Ok(Outcome::Sent(id));
            }
            Err(e) => e,
        };
        last = error.reason.clone();
        match error.failure {
            // The pace holds every digest back, this one's next attempt included.
            Failure::RetryAfter(wait) => pace.hold_back(Instant::now(), wait),
            Failure::Transient => {
                let until = Instant::now() + backoff;
                backoff = backoff.saturating_mul(2);
                if until > deadline || nap_until(until, stop) {
                    break;
                }
            }
            Failure::Moved(to) => {
                // The claim moves with the chat's data, unless the new chat has a
                // record of that day already: then that one counts.
                store.migrate_chat(chat, to)?;
                chat = to;
                if !still_ours(store, chat, date, claimed_at)? {
                    return Ok(Outcome::Already);
                }
            }
            Failure::Gone | Failure::Refused => {
                store.digest_sent(chat, date, EMPTY_DIGEST)?;
                return Ok(Outcome::Dropped(last));
            }
        }
    }
    Ok(Outcome::Failed(last))
}

/// Sleeps until `until`, waking early when `stop` is set; true if it was.
fn nap_until(until: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(100)));
    }
}

/// What a pass at `now` would send, claiming nothing: every chat due whose digest of
/// today is not recorded yet, or whose unsent claim is stale; earliest reminder first.
pub fn plan(store: &dyn BountyStore, now: Timestamp) -> Result<Vec<Planned>, StoreError> {
    let secs = now.as_second();
    let mut out = Vec::new();
    for d in due_chats(store, now)?.due {
        let record = store
            .digests(d.chat)?
            .into_iter()
            .find(|r| r.date == d.date);
        let open = match record {
            None => true,
            Some(r) => {
                r.message_id.is_none() && secs.saturating_sub(r.claimed_at) > STALE_CLAIM_SECS
            }
        };
        if open {
            out.push(Planned {
                chat: d.chat,
                date: d.date,
                text: digest(store, d.chat, d.date, &d.zone)?,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> ReminderTime {
        ReminderTime::parse(s).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_reminder_falls_at_its_local_time() {
        let ny = ZoneName::parse("America/New_York").unwrap();
        let day: Date = "2026-07-01".parse().unwrap();
        assert_eq!(
            reminder_moment(&ny, at("09:00"), day),
            Some(ts("2026-07-01T13:00:00Z"))
        );
        assert_eq!(
            due_today(&ny, at("09:00"), ts("2026-07-01T12:59:59Z")),
            None
        );
        assert_eq!(
            due_today(&ny, at("09:00"), ts("2026-07-01T13:00:00Z")),
            Some((day, ts("2026-07-01T13:00:00Z")))
        );
        // 02:00 UTC on 2 July is still 1 July in New York.
        assert_eq!(
            due_today(&ny, at("09:00"), ts("2026-07-02T02:00:00Z")).map(|d| d.0),
            Some(day)
        );
    }

    #[test]
    fn a_skipped_time_falls_when_the_clocks_jump() {
        let berlin = ZoneName::parse("Europe/Berlin").unwrap();
        // 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        let spring: Date = "2026-03-29".parse().unwrap();
        assert_eq!(
            reminder_moment(&berlin, at("02:30"), spring),
            Some(ts("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            reminder_moment(&berlin, at("03:00"), spring),
            Some(ts("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            reminder_moment(&berlin, at("01:59"), spring),
            Some(ts("2026-03-29T00:59:00Z"))
        );
    }

    #[test]
    fn a_time_skipped_by_a_jump_across_midnight_goes_out_just_after_it() {
        // America/Nuuk: 23:00 on 28 March 2026 (UTC-2) jumps to 00:00 on the 29th.
        let nuuk = ZoneName::parse("America/Nuuk").unwrap();
        let day: Date = "2026-03-28".parse().unwrap();
        let jump = ts("2026-03-29T01:00:00Z");
        assert_eq!(reminder_moment(&nuuk, at("23:30"), day), Some(jump));
        assert_eq!(
            due_today(&nuuk, at("23:30"), ts("2026-03-29T00:59:00Z")),
            None
        );
        assert_eq!(due_today(&nuuk, at("23:30"), jump), Some((day, jump)));
        // The 29th's own reminder is due at its 23:30 as usual.
        assert_eq!(
            due_today(&nuuk, at("23:30"), ts("2026-03-30T00:30:00Z")),
            Some(("2026-03-29".parse().unwrap(), ts("2026-03-30T00:30:00Z")))
        );
    }

    #[test]
    fn a_repeated_time_falls_on_its_first_occurrence() {
        let berlin = ZoneName::parse("Europe/Berlin").unwrap();
        // 25 October 2026: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
        let autumn: Date = "2026-10-25".parse().unwrap();
        assert_eq!(
            reminder_moment(&berlin, at("02:30"), autumn),
            Some(ts("2026-10-25T00:30:00Z"))
        );
    }
}
