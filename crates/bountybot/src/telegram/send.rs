//! Sending replies: in order, split already under Telegram's limit, with Telegram's
//! errors handled: 429 waits `retry_after` and retries; 403 (bot blocked or removed)
//! is logged and the reply dropped; network errors back off and retry; a chat that
//! became a supergroup gets its data moved and the reply sent to the new id.

use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::ParseMode;
use teloxide::{ApiError, RequestError};

use crate::domain::ChatId as Chat;
use crate::store::BountyStore;

/// Attempts per message before giving up.
pub const MAX_ATTEMPTS: u32 = 6;

/// Sends `messages` to `chat` one after another.
pub async fn send_all(bot: &Bot, store: &Arc<dyn BountyStore>, chat: Chat, messages: Vec<String>) {
    let mut target = chat;
    for text in messages {
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=MAX_ATTEMPTS {
            match bot
                .send_message(ChatId(target.0), text.clone())
                .parse_mode(ParseMode::Html)
                .await
            {
                Ok(_) => break,
                Err(RequestError::RetryAfter(wait)) => {
                    tracing::warn!(chat = %target, "rate limited: retrying in {:?}", wait.duration());
                    tokio::time::sleep(wait.duration()).await;
                }
                Err(RequestError::MigrateToChatId(to)) => {
                    let (from, to) = (target, Chat(to.0));
                    let store = Arc::clone(store);
                    if let Ok(Err(e)) =
                        tokio::task::spawn_blocking(move || store.migrate_chat(from, to)).await
                    {
                        tracing::error!(%from, %to, "cannot move chat data: {e}");
                    }
                    target = to;
                }
                Err(RequestError::Api(e)) if is_gone(&e) => {
                    tracing::warn!(chat = %target, "cannot reach the chat ({e}); dropping the reply");
                    return;
                }
                Err(RequestError::Network(e)) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(chat = %target, "network error ({e}); retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(e) => {
                    tracing::error!(chat = %target, attempt, "cannot send a reply: {e}");
                    if attempt >= MAX_ATTEMPTS
                        || !matches!(e, RequestError::Network(_) | RequestError::Io(_))
                    {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }
}

/// Errors meaning the bot can no longer write to the chat.
fn is_gone(e: &ApiError) -> bool {
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
