//! Sending replies, outside the chat's turn.
//!
//! The update handler hands each reply to the [`Outbox`] and returns: the next update of
//! the chat does not wait for Telegram. The outbox keeps one queue per chat, drained in
//! order by a task that lives while the queue has work, so a chat's replies still
//! arrive in the order of its commands while a slow or failing send in one chat never
//! holds up any chat's commands.
//!
//! Each reply goes to the forum topic the command came from, as a reply to the command
//! (sent anyway if that message is gone), with link previews off. Telegram's errors:
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
use teloxide::types::{LinkPreviewOptions, MessageId, ParseMode, ReplyParameters, ThreadId};
use teloxide::{ApiError, RequestError};
use tokio::sync::{Notify, mpsc};

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
    /// The update it answers, for the log.
    pub update_id: u32,
}

/// Replies waiting to be sent, one ordered queue per chat.
pub struct Outbox {
    bot: Bot,
    store: Arc<dyn BountyStore>,
    metrics: BotMetrics,
    queues: Mutex<HashMap<Chat, mpsc::UnboundedSender<Job>>>,
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
        loop {
            let job = match rx.try_recv() {
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
            };
            send_job(&self.bot, &self.store, &self.metrics, job).await;
            if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.idle.notify_waiters();
            }
        }
    }
}

/// Sends a job's messages one after another.
async fn send_job(bot: &Bot, store: &Arc<dyn BountyStore>, metrics: &BotMetrics, job: Job) {
    let mut target = job.target;
    for text in job.messages {
        match send_one(bot, store, metrics, &mut target, text, job.update_id).await {
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
    update_id: u32,
) -> Sent {
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=MAX_ATTEMPTS {
        let mut request = bot
            .send_message(ChatId(target.chat.get()), text.clone())
            .parse_mode(ParseMode::Html)
            .link_preview_options(LinkPreviewOptions {
                is_disabled: true,
                url: None,
                prefer_small_media: false,
                prefer_large_media: false,
                show_above_text: false,
            });
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
