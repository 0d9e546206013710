//! One reminder pass: for every chat whose daily digest is on and whose reminder time
//! has passed today (its local date, in its own time zone), claim that day's digest in
//! the store, render it, send it, and record Telegram's message id.
//!
//! Deduplication lives in the store, not in the timer: a (chat, local date) digest is
//! claimed before it is sent ([`BountyStore::claim_digest`]), so of any number of
//! passes at once, in one process or several, one sends. A claim whose send failed or
//! was interrupted stays unsent and is taken over ([`BountyStore::reclaim_digest`]) by
//! a pass after [`STALE_CLAIM_SECS`], the same local day. Only today's date is ever
//! claimed, so downtime never leads to a burst of past days' digests.
//!
//! An empty digest sends nothing and is recorded as sent with message id
//! [`EMPTY_DIGEST`] (0, which Telegram never gives a message), so the day is done.
//!
//! The one window that cannot be closed: Telegram has no idempotency key, so a crash
//! after Telegram accepted the message and before the store recorded it sends that
//! digest again when the claim is taken over.

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::command::digest::digest;
use crate::domain::{ChatId, ReminderTime, ZoneName};
use crate::store::{BountyStore, ChatSettings, DigestClaim, StoreError};

/// An unsent claim older than this (seconds) is taken over by a later pass.
pub const STALE_CLAIM_SECS: i64 = 600;

/// The message id recorded for a day whose digest was empty (nothing sent).
pub const EMPTY_DIGEST: i32 = 0;

/// Why a digest could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot send the digest to chat {chat}: {reason}")]
pub struct SendError {
    /// The chat.
    pub chat: ChatId,
    /// What went wrong.
    pub reason: String,
}

/// Sends a digest; the real one is [`BotSender`], tests inject their own.
pub trait DigestSender {
    /// Sends `html` (Telegram HTML) to `chat`; Telegram's message id on success.
    fn send(&self, chat: ChatId, html: &str) -> Result<i32, SendError>;
}

/// What one pass did, chat by chat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Digests sent: chat, local date, message id.
    pub sent: Vec<(ChatId, Date, i32)>,
    /// Days done without a message (nothing due).
    pub empty: Vec<(ChatId, Date)>,
    /// Sends that failed; the claim stays unsent, so a later pass retries.
    pub failed: Vec<(ChatId, Date, String)>,
    /// Chats whose reminder time has not come yet today.
    pub not_yet: usize,
    /// Chats whose digest of today was done already, or is being sent by another pass.
    pub already: usize,
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

/// The chat's local date at `now`, if its reminder time has passed by then. A time
/// that does not exist that day (a spring-forward gap) counts as passed at the
/// corresponding later time (jiff's compatible disambiguation: 02:30 becomes 03:30);
/// a time that exists twice counts from its first occurrence.
pub fn due_date(zone: &ZoneName, at: ReminderTime, now: Timestamp) -> Option<Date> {
    let tz = zone.time_zone();
    let today = now.to_zoned(tz.clone()).date();
    let local = today.at(
        i8::try_from(at.hour()).ok()?,
        i8::try_from(at.minute()).ok()?,
        0,
        0,
    );
    let moment = tz.to_ambiguous_zoned(local).compatible().ok()?;
    (now >= moment.timestamp()).then_some(today)
}

fn due(settings: &ChatSettings, now: Timestamp) -> Option<(ZoneName, Date)> {
    let zone = settings.zone();
    let date = due_date(&zone, settings.remind_at?, now)?;
    Some((zone, date))
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

/// One reminder pass at `now` over every chat with its digest on.
pub fn remind_pass(
    store: &dyn BountyStore,
    now: Timestamp,
    sender: &dyn DigestSender,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let secs = now.as_second();
    for (chat, settings) in store.reminder_chats()? {
        let Some((zone, date)) = due(&settings, now) else {
            report.not_yet += 1;
            continue;
        };
        let step = || -> Result<Option<Result<Option<i32>, SendError>>, StoreError> {
            if !claim(store, chat, date, secs)? {
                return Ok(None);
            }
            let Some(text) = digest(store, chat, date, &zone)? else {
                store.digest_sent(chat, date, EMPTY_DIGEST)?;
                return Ok(Some(Ok(None)));
            };
            match sender.send(chat, &text) {
                Ok(id) => {
                    store.digest_sent(chat, date, id)?;
                    Ok(Some(Ok(Some(id))))
                }
                Err(e) => Ok(Some(Err(e))),
            }
        };
        match step() {
            Ok(None) => report.already += 1,
            Ok(Some(Ok(None))) => report.empty.push((chat, date)),
            Ok(Some(Ok(Some(id)))) => report.sent.push((chat, date, id)),
            Ok(Some(Err(e))) => report.failed.push((chat, date, e.reason)),
            Err(e) => report.errors.push((chat, e.to_string())),
        }
    }
    Ok(report)
}

/// What a pass at `now` would send, claiming nothing: every chat due whose digest of
/// today is not recorded yet, or whose unsent claim is stale.
pub fn plan(store: &dyn BountyStore, now: Timestamp) -> Result<Vec<Planned>, StoreError> {
    let secs = now.as_second();
    let mut out = Vec::new();
    for (chat, settings) in store.reminder_chats()? {
        let Some((zone, date)) = due(&settings, now) else {
            continue;
        };
        let record = store.digests(chat)?.into_iter().find(|r| r.date == date);
        let open = match record {
            None => true,
            Some(r) => {
                r.message_id.is_none() && secs.saturating_sub(r.claimed_at) > STALE_CLAIM_SECS
            }
        };
        if open {
            out.push(Planned {
                chat,
                date,
                text: digest(store, chat, date, &zone)?,
            });
        }
    }
    Ok(out)
}

/// Attempts per digest in [`BotSender`].
pub const SEND_ATTEMPTS: u32 = 3;

/// Sends digests through the Bot API, blocking on `runtime` (call it outside async
/// code, e.g. from the CLI or `spawn_blocking`). 429 waits `retry_after`; network
/// errors and Telegram's 5xx back off; both up to [`SEND_ATTEMPTS`] times.
#[derive(Debug)]
pub struct BotSender {
    bot: teloxide::Bot,
    runtime: tokio::runtime::Handle,
}

impl BotSender {
    /// A sender through `bot` on `runtime`.
    pub fn new(bot: teloxide::Bot, runtime: tokio::runtime::Handle) -> BotSender {
        BotSender { bot, runtime }
    }
}

impl DigestSender for BotSender {
    fn send(&self, chat: ChatId, html: &str) -> Result<i32, SendError> {
        use teloxide::RequestError;
        use teloxide::prelude::*;
        use teloxide::types::{LinkPreviewOptions, ParseMode};
        let mut backoff = Duration::from_millis(500);
        let mut last = String::new();
        for attempt in 1..=SEND_ATTEMPTS {
            let request = self
                .bot
                .send_message(teloxide::types::ChatId(chat.0), html.to_string())
                .parse_mode(ParseMode::Html)
                .link_preview_options(LinkPreviewOptions {
                    is_disabled: true,
                    url: None,
                    prefer_small_media: false,
                    prefer_large_media: false,
                    show_above_text: false,
                });
            let error = match self.runtime.block_on(request.send()) {
                Ok(m) => return Ok(m.id.0),
                Err(e) => e,
            };
            last = error.to_string();
            let wait = match &error {
                RequestError::RetryAfter(w) => w.duration(),
                e if crate::telegram::send::is_transient(e) => backoff,
                _ => break,
            };
            if attempt < SEND_ATTEMPTS {
                std::thread::sleep(wait);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        Err(SendError { chat, reason: last })
    }
}
