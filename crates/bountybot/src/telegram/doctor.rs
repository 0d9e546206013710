//! `bountybot doctor`'s Bot API checks: the token (`getMe`, as `run` starts) and the
//! webhook (`getWebhookInfo`): in webhook mode, set to the URL `run` is given, with
//! no last delivery error and few updates waiting; in polling mode, none set.

use statekit::doctor::Check;
use statekit::error::Chain;
use teloxide::prelude::*;

use super::BotToken;

/// The name of the token check in the report.
pub const TOKEN: &str = "bot token";
/// The name of the webhook check in the report.
pub const WEBHOOK: &str = "webhook";

/// What the bot runs with, as far as the checks need it.
#[derive(Debug, Clone)]
pub struct BotSettings {
    /// The token, if one is set.
    pub token: Option<BotToken>,
    /// Another Bot API server (`--api-url`).
    pub api_url: Option<url::Url>,
    /// Webhook mode: the public URL `run --webhook` is given; polling mode: none.
    pub webhook: Option<url::Url>,
    /// Updates waiting at Telegram above which the webhook check warns.
    pub max_pending: u32,
}

/// The token check, then (if the token was accepted) the webhook check.
pub async fn checks(settings: &BotSettings) -> Vec<Check> {
    let Some(token) = &settings.token else {
        return vec![Check::fail(
            TOKEN,
            "no bot token: BOUNTYBOT_TOKEN (or TELOXIDE_TOKEN) is not set",
            "set BOUNTYBOT_TOKEN to the token BotFather gave you, as for `bountybot run`",
        )];
    };
    let mut bot = Bot::new(token.0.clone());
    if let Some(url) = &settings.api_url {
        bot = bot.set_api_url(url.clone());
    }
    let me = match bot.get_me().await {
        Ok(me) => me,
        Err(teloxide::RequestError::Api(teloxide::ApiError::InvalidToken)) => {
            return vec![Check::fail(
                TOKEN,
                "the Bot API refused the token (getMe: Unauthorized)",
                "set BOUNTYBOT_TOKEN to the bot's current token (BotFather: /mybots, API Token; a revoked token stops working at once)",
            )];
        }
        Err(e) => {
            return vec![Check::fail(
                TOKEN,
                format!("getMe failed: {}", Chain(&e)),
                "check that this machine reaches the Bot API (--api-url or BOUNTYBOT_API_URL, if set), then run doctor again",
            )];
        }
    };
    let mut out = vec![Check::ok(
        TOKEN,
        format!("accepted: the bot is @{}", me.username()),
    )];
    out.push(webhook(&bot, settings).await);
    out
}

async fn webhook(bot: &Bot, settings: &BotSettings) -> Check {
    let info = match bot.get_webhook_info().await {
        Ok(i) => i,
        Err(e) => {
            return Check::fail(
                WEBHOOK,
                format!("getWebhookInfo failed: {}", Chain(&e)),
                "check that this machine reaches the Bot API, then run doctor again",
            );
        }
    };
    let set = info.url.as_ref().map(|u| u.as_str().to_string());
    let Some(want) = &settings.webhook else {
        return match set {
            None => Check::ok(WEBHOOK, "none set (polling mode)"),
            Some(url) => Check::warn(
                WEBHOOK,
                format!("set to {url}, but doctor was given no --webhook (polling mode)"),
                "`bountybot run` in polling mode deletes it; give doctor the --webhook run uses if the bot runs in webhook mode",
            ),
        };
    };
    let Some(url) = set else {
        return Check::fail(
            WEBHOOK,
            format!("none set, but the bot should receive updates at {want}"),
            "start `bountybot run --webhook ...`: it sets the webhook; a bot in polling mode elsewhere deletes it",
        );
    };
    if url != want.as_str() {
        return Check::fail(
            WEBHOOK,
            format!("set to {url}, not {want}"),
            "another process set it (a second deployment, or one in polling mode): stop it, then restart `bountybot run --webhook ...`",
        );
    }
    let pending = info.pending_update_count;
    if let Some(message) = &info.last_error_message {
        let when = info
            .last_error_date
            .and_then(|d| jiff::Timestamp::from_second(d.timestamp()).ok())
            .map_or_else(|| "at an unknown time".to_string(), |t| format!("at {t}"));
        return Check::fail(
            WEBHOOK,
            format!(
                "{url}: Telegram's last delivery failed {when}: {message}; {pending} update(s) waiting"
            ),
            "check that the listener runs, that the public URL reaches it (proxy, tunnel, certificate) and that the secret matches; the bot's log says why it refused",
        );
    }
    if pending > settings.max_pending {
        return Check::warn(
            WEBHOOK,
            format!(
                "{url}: {pending} update(s) waiting at Telegram (more than {})",
                settings.max_pending
            ),
            "the bot is behind or was down: check that it runs and its log for slow or failing updates",
        );
    }
    Check::ok(
        WEBHOOK,
        format!("{url}: no delivery error, {pending} update(s) waiting"),
    )
}
