//! Who administers a group, asked of Telegram (`getChatAdministrators`) only when a
//! group member sends a command an administrator may use on others' bounties
//! (`/delete`, `/unclaim`, `/done`, `/reopen`) or changes the chat's settings
//! (`/timezone`, `/remind`), and kept for [`TTL`], so a burst of deletions costs
//! one request. A group's anonymous administrators act as the group itself (see
//! [`super::identity`]) and count as administrators without asking.
//!
//! A role change is seen at once: the bot asks Telegram for `chat_member` and
//! `my_chat_member` updates, and one that changes whether someone administers the
//! group drops that group's list ([`Admins::role_changed`]), so the next command asks
//! again. Telegram sends `chat_member` updates only to bots that administer the group;
//! elsewhere a change is seen when the list expires.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use statekit::error::Chain;
use teloxide::prelude::*;

use crate::command::parse::{Parsed, parse};
use crate::domain::{ChatId as Chat, UserId};

/// How long a group's list of administrators is trusted when no update says it
/// changed.
pub const TTL: Duration = Duration::from_secs(60);

/// Whether `text` is, for the bot `bot_username`, a command an administrator may use
/// on others' bounties ([`crate::command::parse::Command::needs_admin`]: the parser
/// knows which).
pub fn needs_admin(text: &str, bot_username: &str, today: jiff::civil::Date) -> bool {
    matches!(parse(text, bot_username, today), Parsed::Command(c) if c.needs_admin())
}

/// Administrators per group, cached.
pub struct Admins {
    bot: Bot,
    cache: Mutex<HashMap<Chat, (Instant, HashSet<i64>)>>,
}

impl std::fmt::Debug for Admins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admins").finish_non_exhaustive()
    }
}

impl Admins {
    /// An empty cache asking through `bot`.
    pub fn new(bot: Bot) -> Admins {
        Admins {
            bot,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Takes note of a `chat_member` or `my_chat_member` update: when it changes
    /// whether its member administers the group (promoted, demoted, gone), the group's
    /// cached list is dropped. Returns whether it was.
    pub fn role_changed(&self, update: &teloxide::types::ChatMemberUpdated) -> bool {
        let was = update.old_chat_member.is_privileged();
        let is = update.new_chat_member.is_privileged();
        if was == is {
            return false;
        }
        let Ok(chat) = Chat::try_from(update.chat.id.0) else {
            return false;
        };
        tracing::info!(%chat, "a member's role changed; asking again who administers the group");
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&chat);
        true
    }

    /// Whether `user` administers group `chat`. When Telegram cannot be asked, the
    /// answer is no (the creator can still delete), and the failure is logged.
    pub async fn is_admin(&self, chat: Chat, user: UserId) -> bool {
        if user.get() == chat.get() {
            return true; // the group's anonymous administrators
        }
        let cached = {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache
                .get(&chat)
                .filter(|(at, _)| at.elapsed() < TTL)
                .map(|(_, ids)| ids.contains(&user.get()))
        };
        if let Some(answer) = cached {
            return answer;
        }
        match self.bot.get_chat_administrators(ChatId(chat.get())).await {
            Ok(members) => {
                let ids: HashSet<i64> = members
                    .iter()
                    .filter(|m| m.is_privileged())
                    .filter_map(|m| i64::try_from(m.user.id.0).ok())
                    .collect();
                let answer = ids.contains(&user.get());
                self.cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(chat, (Instant::now(), ids));
                answer
            }
            Err(e) => {
                tracing::warn!(%chat, "cannot ask who administers the group ({}); treating the sender as a member", Chain(&e));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commands_an_administrator_may_use_on_others_bounties_ask() {
        let today = jiff::civil::date(2026, 12, 7);
        let needs_admin = |text: &str| needs_admin(text, "BountyBot", today);
        assert!(needs_admin("/delete 3"));
        assert!(needs_admin("/delete@BountyBot 3"));
        assert!(needs_admin("/unclaim 3"));
        assert!(needs_admin("/done 3"));
        assert!(needs_admin("/reopen@BountyBot 3"));
        assert!(!needs_admin("/deleted 3"));
        assert!(!needs_admin("/claim 3"));
        assert!(needs_admin("/timezone Europe/Berlin"));
        assert!(needs_admin("/tz Europe/Berlin"));
        assert!(needs_admin("/remind@BountyBot off"));
        assert!(!needs_admin("/remind@OtherBot off"), "not for this bot");
        assert!(!needs_admin("/delete"), "a usage error asks nobody");
        assert!(!needs_admin("/settings"));
        assert!(!needs_admin("/add delete this"));
        assert!(!needs_admin(""));
    }
}
