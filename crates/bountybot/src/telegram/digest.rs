//! Sending a digest through the Bot API, for the reminder pass (which runs on plain
//! threads, outside async code).

use statekit::error::Chain;
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{LinkPreviewOptions, ParseMode};

use super::send::{is_gone, is_transient};
use crate::domain::ChatId as Chat;
use crate::metrics::BotMetrics;
use crate::reminder::{DigestSender, Failure, SendError};

/// Sends through `bot`, blocking on `runtime`: call it from a plain thread, never from
/// async code (the reminder pass runs on its own threads). The runtime must be a
/// multi-threaded one, which drives its own I/O.
#[derive(Debug)]
pub struct BotSender {
    bot: Bot,
    runtime: tokio::runtime::Handle,
    metrics: Option<BotMetrics>,
}

impl BotSender {
    /// A sender through `bot` on `runtime`.
    pub fn new(bot: Bot, runtime: tokio::runtime::Handle) -> BotSender {
        BotSender {
            bot,
            runtime,
            metrics: None,
        }
    }

    /// Counts Telegram's 429 answers in `metrics`.
    pub fn counting(self, metrics: BotMetrics) -> BotSender {
        BotSender {
            metrics: Some(metrics),
            ..self
        }
    }
}

impl DigestSender for BotSender {
    fn send(&self, chat: Chat, html: &str) -> Result<i32, SendError> {
        let request = self
            .bot
            .send_message(ChatId(chat.get()), html.to_string())
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
        let failure = match &error {
            RequestError::RetryAfter(wait) => {
                if let Some(m) = &self.metrics {
                    m.rate_limited();
                }
                Failure::RetryAfter(wait.duration())
            }
            RequestError::MigrateToChatId(to) => {
                Chat::try_from(to.0).map_or(Failure::Refused, Failure::Moved)
            }
            RequestError::Api(e) if is_gone(e) => Failure::Gone,
            e if is_transient(e) => Failure::Transient,
            RequestError::Api(_) => Failure::Refused,
            _ => Failure::Transient,
        };
        Err(SendError {
            chat,
            failure,
            reason: Chain(&error).to_string(),
        })
    }
}
