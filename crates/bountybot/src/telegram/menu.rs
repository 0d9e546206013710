//! Telegram's command menu: the commands each kind of chat sees when typing `/`.
//!
//! At start the bot sets one menu per scope ([`MenuScope`]): every command in private
//! chats, the members' commands in groups, and every command for a group's
//! administrators (Telegram shows an administrator the narrower scope first). Each
//! scope is read back with `getMyCommands` first and set with `setMyCommands` only
//! when it differs, so restarts and replicas do not set it again. A failure is logged
//! and the bot goes on; the menu is a convenience, the commands work without it.
//!
//! The `default` scope is left as it is: once the three scopes are set, no chat falls
//! back to it.

use statekit::error::Chain;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, BotCommandScope};

use crate::command::parse::MenuScope;

/// Telegram's scope for a menu.
pub fn scope(menu: MenuScope) -> BotCommandScope {
    match menu {
        MenuScope::PrivateChats => BotCommandScope::AllPrivateChats,
        MenuScope::GroupChats => BotCommandScope::AllGroupChats,
        MenuScope::GroupAdmins => BotCommandScope::AllChatAdministrators,
    }
}

/// The commands a scope's menu shows, with their descriptions.
pub fn commands(menu: MenuScope) -> Vec<BotCommand> {
    menu.commands()
        .map(|c| BotCommand::new(c.name, c.about))
        .collect()
}

/// What [`sync`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    /// Scopes whose menu was set.
    pub set: usize,
    /// Scopes Telegram had right already.
    pub unchanged: usize,
    /// Scopes that could not be read or set (logged).
    pub failed: usize,
}

/// Makes every scope's menu the bot's commands, setting only those that differ.
pub async fn sync(bot: &Bot) -> Synced {
    let mut done = Synced::default();
    for menu in MenuScope::ALL {
        let wanted = commands(menu);
        let scope = scope(menu);
        match bot.get_my_commands().scope(scope.clone()).await {
            Ok(current) if current == wanted => {
                done.unchanged += 1;
                continue;
            }
            Ok(_) => {}
            // Setting is still worth a try: it is what the reading was for.
            Err(e) => tracing::warn!(?scope, "getMyCommands failed: {}", Chain(&e)),
        }
        match bot.set_my_commands(wanted).scope(scope.clone()).await {
            Ok(_) => {
                tracing::info!(?scope, "set the command menu");
                done.set += 1;
            }
            Err(e) => {
                tracing::warn!(?scope, "setMyCommands failed: {}", Chain(&e));
                done.failed += 1;
            }
        }
    }
    done
}
