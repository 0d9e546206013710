//! Sending replies, outside the chat's turn.
//!
//! The update handler hands each reply to the [`Outbox`] and returns: the next update of
//! the chat does not wait for Telegram. The outbox keeps one queue per chat, drained in
//! order by a task that lives while the queue has work, so a chat's replies still
//! arrive in the order of its commands while a slow or failing send in one chat never
//! holds up any chat's commands.
//!
//! Each reply goes to the forum topic the command came from, as a reply to the command
//! (sent anyway if that message is gone), with link previews off, and its inline
//! buttons under its last message.
//!
//! A tap's answer may instead replace the tapped message (`editMessageText`). Edits of
//! one message are paced ([`edit_gap`]: Telegram counts them against the chat's rate
//! limit), and an edit that a newer edit of the same message waits behind is skipped,
//! since it would show for a moment only. "Message is not modified" is not a failure;
//! a message Telegram no longer lets the bot edit (too old, or deleted) gets the answer
//! as a new message instead. Telegram's errors:
//! 429 waits `retry_after` and retries; a 5xx, a garbled answer or a network error backs
//! off and retries; 403 (bot blocked or removed) drops the reply; a chat that became a
//! supergroup gets its data moved and the reply sent to the new id. A reply given up
//! after [`MAX_ATTEMPTS`] is logged at error level with its chat and update id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use statekit::error::Chain;
use teloxide::prelude::*;
use teloxide::types::{
    InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, MessageId, ParseMode,
    ReplyParameters, ThreadId,
};
use teloxide::{ApiError, RequestError};
use tokio::sync::{Notify, mpsc};

use crate::command::button::Keyboard;
use crate::domain::ChatId as Chat;
use crate::metrics::{BotMetrics, GivenUp};
use crate::store::BountyStore;

/// Attempts per message before giving up.
pub const MAX_ATTEMPTS: u32 = 6;

/// First pause after a failed attempt; doubled each time, at most [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Longest pause between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The chat.
    pub chat: Chat,
    /// The forum topic the command was posted in, if any.
    pub thread: Option<ThreadId>,
    /// The command's message, which the reply answers.
    pub reply_to: Option<MessageId>,
}

/// A reply to send: its messages, in order.
#[derive(Debug, Clone)]
pub struct Job {
    /// Where to.
    pub target: Target,
    /// The messages (Telegram HTML, each under the length limit).
    pub messages: Vec<String>,
    /// Inline buttons under the last message (none when empty).
    pub buttons: Keyboard,
    /// The chat's message this reply replaces, if any (a tap's answer): edited in
    /// place when the reply is one message, sent as new when it cannot be edited.
    pub edit: Option<MessageId>,
    /// The update it answers, for the log.
    pub update_id: u32,
}

impl Job {
    /// `messages` sent to `target`, without buttons.
    pub fn send(target: Target, messages: Vec<String>, update_id: u32) -> Job {
        Job {
            target,
            messages,
            buttons: Keyboard::new(),
            edit: None,
            update_id,
        }
    }
}

/// Shortest time between two edits of one message: a second in a private chat, three
/// in a group (Telegram allows a group about 20 messages and edits a minute).
pub fn edit_gap(chat: Chat) -> Duration {
    if chat.is_group() {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(1)
    }
}

/// When each recently edited message was (or will be) edited last.
type EditTimes = HashMap<(Chat, MessageId), tokio::time::Instant>;

/// Reserves the next edit of `key` in `times`, at least `gap` after the one before,
/// and returns how long to wait for it. Entries whose time and gap have passed are
/// dropped, so `times` holds only the messages edited within the last gap.
fn reserve_edit(
    times: &mut EditTimes,
    key: (Chat, MessageId),
    now: tokio::time::Instant,
    gap: Duration,
) -> Duration {
    times.retain(|&(chat, _), at| *at + edit_gap(chat) > now);
    let at = times.get(&key).map_or(now, |&last| (last + gap).max(now));
    times.insert(key, at);
    at - now
}

/// Replies waiting to be sent, one ordered queue per chat.
pub struct Outbox {
    bot: Bot,
    store: Arc<dyn BountyStore>,
    metrics: BotMetrics,
    queues: Mutex<HashMap<Chat, mpsc::UnboundedSender<Job>>>,
    edited: Mutex<EditTimes>,
    pending: AtomicUsize,
    idle: Notify,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// An empty outbox sending through `bot`, counting in `metrics`.
    pub fn new(bot: Bot, store: Arc<dyn BountyStore>, metrics: BotMetrics) -> Arc<Outbox> {
        Arc::new(Outbox {
            bot,
            store,
            metrics,
            queues: Mutex::new(HashMap::new()),
            edited: Mutex::new(HashMap::new()),
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    /// Queues `job` behind the chat's earlier replies; returns at once.
    pub fn push(self: &Arc<Self>, job: Job) {
        let chat = job.target.chat;
        self.metrics.reply_queued();
        self.pending.fetch_add(1, Ordering::SeqCst);
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        let job = match queues.get(&chat) {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                // Its worker is gone; start another.
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // A fresh channel's receiver is alive: this send cannot fail.
        let _ = tx.send(job);
        queues.insert(chat, tx);
        drop(queues);
        tokio::spawn(Arc::clone(self).drain_chat(chat, rx));
    }

    /// Waits until every queued reply was sent or given up, at most `limit`.
    pub async fn flush(&self, limit: Duration) {
        let done = async {
            loop {
                let notified = self.idle.notified();
                if self.pending.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(limit, done).await.is_err() {
            tracing::error!(
                unsent = self.pending.load(Ordering::SeqCst),
                "stopping with replies still unsent"
            );
        }
    }

    async fn drain_chat(self: Arc<Self>, chat: Chat, mut rx: mpsc::UnboundedReceiver<Job>) {
        // Jobs taken from the channel to look past an edit, in order.
        let mut ahead = std::collections::VecDeque::new();
        loop {
            let job = match ahead.pop_front() {
                Some(job) => job,
                None => match rx.try_recv() {
                    Ok(job) => job,
                    Err(_) => {
                        // Leave only when nothing can be queued behind our back.
                        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
                        match rx.try_recv() {
                            Ok(job) => job,
                            Err(_) => {
                                queues.remove(&chat);
                                return;
                            }
                        }
                    }
                },
            };
            // An edit is skipped when a newer edit of its message waits behind it, and
            // waits its turn at the message's pace (looking behind it again after).
            let mut skip = superseded(&job, &mut rx, &mut ahead);
            if let (Some(message), false) = (job.edit, skip) {
                let wait = reserve_edit(
                    &mut self.edited.lock().unwrap_or_else(PoisonError::into_inner),
                    (chat, message),
                    tokio::time::Instant::now(),
                    edit_gap(chat),
                );
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                    skip = superseded(&job, &mut rx, &mut ahead);
                }
            }
            if skip {
                tracing::debug!(%chat, update_id = job.update_id, "skipping an edit a newer one replaces");
            } else {
                self.send_job(job).await;
            }
            if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.idle.notify_waiters();
            }
        }
    }

    /// Sends a job's messages one after another, or edits the message it replaces.
    async fn send_job(&self, job: Job) {
        let (bot, store, metrics) = (&self.bot, &self.store, &self.metrics);
        let mut target = job.target;
        if let (Some(message), [text]) = (job.edit, job.messages.as_slice()) {
            match edit_one(
                bot,
                metrics,
                target,
                message,
                text,
                &job.buttons,
                job.update_id,
            )
            .await
            {
                Edited::Done => return,
                Edited::GivenUp(why) => {
                    metrics.reply_given_up(why);
                    return;
                }
                Edited::SendInstead => {
                    // A new message, not a reply to one Telegram no longer has.
                    target.reply_to = None;
                }
            }
        }
        let last = job.messages.len().saturating_sub(1);
        for (i, text) in job.messages.into_iter().enumerate() {
            let buttons = (i == last).then_some(&job.buttons);
            match send_one(
                bot,
                store,
                metrics,
                &mut target,
                text,
                buttons,
                job.update_id,
            )
            .await
            {
                Sent::Delivered => {}
                Sent::GivenUp(why) => {
                    metrics.reply_given_up(why);
                    // The chat cannot be reached: the rest of the reply is dropped too.
                    if why == GivenUp::Gone {
                        return;
                    }
                }
            }
        }
    }
}

/// Whether `job` edits a message that a newer job, taken from `rx` into `ahead`, edits
/// again: the first edit would show for a moment only.
fn superseded(
    job: &Job,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    ahead: &mut std::collections::VecDeque<Job>,
) -> bool {
    let Some(message) = job.edit else {
        return false;
    };
    while let Ok(next) = rx.try_recv() {
        ahead.push_back(next);
    }
    ahead.iter().any(|next| next.edit == Some(message))
}

/// Inline buttons as Telegram takes them.
pub fn markup(buttons: &Keyboard) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(buttons.iter().map(|row| {
        row.iter()
            .map(|b| InlineKeyboardButton::callback(b.label.to_string(), b.action.data()))
    }))
}

/// Link previews off: a reply shows the link, not the page behind it.
fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

/// What became of an edit.
enum Edited {
    /// The message shows the reply (or showed it already).
    Done,
    /// Telegram no longer lets the bot edit the message: send the reply instead.
    SendInstead,
    /// Given up, for this reason.
    GivenUp(GivenUp),
}

/// Replaces `message`'s text and buttons, retrying what can be retried.
async fn edit_one(
    bot: &Bot,
    metrics: &BotMetrics,
    target: Target,
    message: MessageId,
    text: &str,
    buttons: &Keyboard,
    update_id: u32,
) -> Edited {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=MAX_ATTEMPTS {
        let mut request = bot
            .edit_message_text(ChatId(target.chat.get()), message, text)
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        // Without buttons the old ones go (an edit without markup removes them).
        if !buttons.is_empty() {
            request = request.reply_markup(markup(buttons));
        }
        let error = match request.await {
            Ok(_) => return Edited::Done,
            Err(e) => e,
        };
        match error {
            RequestError::Api(e) if not_modified(&e) => return Edited::Done,
            RequestError::Api(e) if cannot_edit(&e) => {
                tracing::info!(chat = %target.chat, update_id, "cannot edit the message ({}); sending the answer as a new one", Chain(&e));
                return Edited::SendInstead;
            }
            // The chat moved: sending moves its data and finds the new chat.
            RequestError::MigrateToChatId(_) => return Edited::SendInstead,
            RequestError::RetryAfter(wait) => {
                metrics.rate_limited();
                tracing::warn!(chat = %target.chat, update_id, "rate limited: editing again in {:?}", wait.duration());
                tokio::time::sleep(wait.duration()).await;
            }
            RequestError::Api(e) if is_gone(&e) => {
                tracing::warn!(chat = %target.chat, update_id, "cannot reach the chat ({}); dropping the edit", Chain(&e));
                return Edited::GivenUp(GivenUp::Gone);
            }
            e if is_transient(&e) => {
                tracing::warn!(chat = %target.chat, update_id, attempt, "cannot edit a message ({}); retrying in {backoff:?}", Chain(&e));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            e => {
                tracing::error!(chat = %target.chat, update_id, "edit refused by Telegram, dropped: {}", Chain(&e));
                return Edited::GivenUp(GivenUp::Refused);
            }
        }
    }
    tracing::error!(chat = %target.chat, update_id, attempts = MAX_ATTEMPTS, "giving up on an edit");
    Edited::GivenUp(GivenUp::Attempts)
}

/// "Message is not modified": the message shows this already.
fn not_modified(e: &ApiError) -> bool {
    matches!(e, ApiError::MessageNotModified) || e.to_string().contains("message is not modified")
}

/// The message cannot be edited any more: too old, deleted, or not the bot's.
fn cannot_edit(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::MessageCantBeEdited
            | ApiError::MessageToEditNotFound
            | ApiError::MessageIdInvalid
    ) || {
        let text = e.to_string();
        text.contains("message can't be edited") || text.contains("message to edit not found")
    }
}

/// What became of one message.
enum Sent {
    Delivered,
    GivenUp(GivenUp),
}

/// Sends one message, retrying what can be retried (each 429 counted in `metrics`).
async fn send_one(
    bot: &Bot,
    store: &Arc<dyn BountyStore>,
    metrics: &BotMetrics,
    target: &mut Target,
    text: String,
    buttons: Option<&Keyboard>,
    update_id: u32,
) -> Sent {
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=MAX_ATTEMPTS {
        let mut request = bot
            .send_message(ChatId(target.chat.get()), text.clone())
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        if let Some(buttons) = buttons.filter(|b| !b.is_empty()) {
            request = request.reply_markup(markup(buttons));
        }
        if let Some(thread) = target.thread {
            request = request.message_thread_id(thread);
        }
        if let Some(reply_to) = target.reply_to {
            request = request
                .reply_parameters(ReplyParameters::new(reply_to).allow_sending_without_reply());
        }
        let error = match request.await {
            Ok(_) => {
                crate::crash::crash_point("sent");
                return Sent::Delivered;
            }
            Err(e) => e,
        };
        last = Chain(&error).to_string();
        match error {
            RequestError::RetryAfter(wait) => {
                metrics.rate_limited();
                tracing::warn!(chat = %target.chat, update_id, "rate limited: retrying in {:?}", wait.duration());
                tokio::time::sleep(wait.duration()).await;
            }
            RequestError::MigrateToChatId(to) => {
                let Ok(to) = Chat::try_from(to.0) else {
                    tracing::error!(chat = %target.chat, update_id, "Telegram says the chat moved to chat 0; dropping the reply");
                    return Sent::GivenUp(GivenUp::Refused);
                };
                let from = target.chat;
                let store = Arc::clone(store);
                match tokio::task::spawn_blocking(move || store.migrate_chat(from, to)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(%from, %to, "cannot move chat data: {}", Chain(&e))
                    }
                    Err(e) => tracing::error!(%from, %to, "cannot move chat data: {}", Chain(&e)),
                }
                target.chat = to;
                // The old chat's message ids and topics mean nothing in the new one.
                target.thread = None;
                target.reply_to = None;
            }
            RequestError::Api(e) if is_gone(&e) => {
                tracing::warn!(chat = %target.chat, update_id, "cannot reach the chat ({}); dropping the reply", Chain(&e));
                return Sent::GivenUp(GivenUp::Gone);
            }
            e if is_transient(&e) => {
                tracing::warn!(chat = %target.chat, update_id, attempt, "cannot send a reply ({}); retrying in {backoff:?}", Chain(&e));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            e => {
                tracing::error!(chat = %target.chat, update_id, "reply refused by Telegram, dropped: {}", Chain(&e));
                return Sent::GivenUp(GivenUp::Refused);
            }
        }
    }
    tracing::error!(
        chat = %target.chat,
        update_id,
        attempts = MAX_ATTEMPTS,
        "giving up on a reply: {last}"
    );
    Sent::GivenUp(GivenUp::Attempts)
}

/// Errors worth another attempt: the network, Telegram's own failures (5xx, which
/// come back as an unknown API error or as a page that is not JSON).
pub(crate) fn is_transient(e: &RequestError) -> bool {
    match e {
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => true,
        RequestError::Api(ApiError::Unknown(text)) => {
            let text = text.to_ascii_lowercase();
            [
                "internal server error",
                "bad gateway",
                "service unavailable",
                "gateway timeout",
            ]
            .iter()
            .any(|s| text.contains(s))
        }
        _ => false,
    }
}

/// Errors meaning the bot can no longer write to the chat.
pub(crate) fn is_gone(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::BotBlocked
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel
            | ApiError::ChatNotFound
            | ApiError::UserDeactivated
            | ApiError::CantInitiateConversation
            | ApiError::CantTalkWithBots
            | ApiError::GroupDeactivated
            | ApiError::NotEnoughRightsToPostMessages
    ) || e.to_string().contains("Forbidden")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: Chat = Chat::new(-100_123);
    const PRIVATE: Chat = Chat::new(42);

    #[test]
    fn edits_of_one_message_are_paced_and_other_messages_wait_for_nothing() {
        let mut times = EditTimes::new();
        let t0 = tokio::time::Instant::now();
        let gap = edit_gap(GROUP);
        let first = (GROUP, MessageId(7));
        assert_eq!(reserve_edit(&mut times, first, t0, gap), Duration::ZERO);
        // Two more taps on the same message at once: one gap after the other.
        assert_eq!(reserve_edit(&mut times, first, t0, gap), gap);
        assert_eq!(reserve_edit(&mut times, first, t0, gap), gap * 2);
        // Another message of the chat, and another chat, go at once.
        assert_eq!(
            reserve_edit(&mut times, (GROUP, MessageId(8)), t0, gap),
            Duration::ZERO
        );
        assert_eq!(
            reserve_edit(&mut times, (PRIVATE, MessageId(7)), t0, edit_gap(PRIVATE)),
            Duration::ZERO
        );
        // Long after, no wait, and what is past is forgotten.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(reserve_edit(&mut times, first, later, gap), Duration::ZERO);
        assert_eq!(times.len(), 1, "{times:?}");
    }

    #[test]
    fn a_private_chat_may_be_edited_more_often_than_a_group() {
        assert!(edit_gap(PRIVATE) < edit_gap(GROUP));
        // At most 20 a minute in a group.
        assert!(edit_gap(GROUP) >= Duration::from_secs(3));
    }

    #[test]
    fn telegrams_answers_to_an_edit_are_told_apart() {
        assert!(not_modified(&ApiError::MessageNotModified));
        assert!(not_modified(&ApiError::Unknown(
            "Bad Request: message is not modified: specified new message content".into()
        )));
        for e in [
            ApiError::MessageCantBeEdited,
            ApiError::MessageToEditNotFound,
            ApiError::MessageIdInvalid,
            ApiError::Unknown("Bad Request: message can't be edited".into()),
        ] {
            assert!(cannot_edit(&e), "{e:?}");
            assert!(!not_modified(&e), "{e:?}");
        }
        assert!(!cannot_edit(&ApiError::MessageNotModified));
        assert!(!cannot_edit(&ApiError::BotBlocked));
    }
}
