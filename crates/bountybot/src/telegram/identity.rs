//! Who a message acts as.
//!
//! Telegram sends every message a group member posts *as a channel* with the same
//! placeholder `from` user (`Channel_Bot`), and every message of an anonymous group
//! administrator with `GroupAnonymousBot`; the real sender is in `sender_chat`. So a
//! message with `sender_chat` acts as that chat: each channel, and a group's anonymous
//! administrators, get an identity of their own, a negative id distinct from every user
//! (user ids are positive). Automatic forwards from a linked channel and messages from
//! other bots are not commands to this bot and are ignored.

use teloxide::types::Message;

use crate::domain::UserId;

/// Who a message acts as, or why it is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// Acts as this identity (a user, or a chat posting as itself).
    Acting(UserId),
    /// Not a command to this bot, for this reason.
    Ignored(&'static str),
}

/// Who `msg` acts as.
pub fn sender(msg: &Message) -> Sender {
    if msg.is_automatic_forward() {
        return Sender::Ignored("an automatic forward from a linked channel");
    }
    if let Some(chat) = &msg.sender_chat {
        return match UserId::try_from(chat.id.0) {
            Ok(id) => Sender::Acting(id),
            Err(_) => Sender::Ignored("a chat id of 0"),
        };
    }
    match &msg.from {
        None => Sender::Ignored("a message without a sender"),
        Some(user) if user.is_bot => Sender::Ignored("a message from a bot"),
        Some(user) => match i64::try_from(user.id.0).map(UserId::try_from) {
            Ok(Ok(id)) => Sender::Acting(id),
            _ => Sender::Ignored("a user id out of range"),
        },
    }
}

/// The display name of whom `msg` acts as: the title of a chat posting as itself, or
/// the user's first and last name. `None` when there is none.
pub fn display_name(msg: &Message) -> Option<String> {
    if let Some(chat) = &msg.sender_chat {
        return chat.title().map(str::to_string);
    }
    msg.from.as_ref().map(|u| u.full_name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const GROUP: i64 = -1_001_234_567_890;

    fn message(extra: Value) -> Message {
        let mut m = json!({
            "message_id": 1, "date": 1_795_000_000,
            "chat": {"id": GROUP, "type": "supergroup", "title": "G"},
            "text": "/delete 1"
        });
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(m).unwrap()
    }

    fn user(id: i64, name: &str, is_bot: bool) -> Value {
        json!({"id": id, "is_bot": is_bot, "first_name": name})
    }

    #[test]
    fn a_user_acts_as_themselves() {
        let m = message(json!({"from": user(42, "Ann", false)}));
        assert_eq!(sender(&m), Sender::Acting(UserId::new(42)));
    }

    #[test]
    fn each_channel_and_the_anonymous_admins_get_their_own_identity() {
        let channel = |id: i64| {
            message(json!({
                "from": user(136_817_688, "Channel", false),
                "sender_chat": {"id": id, "type": "channel", "title": "C"}
            }))
        };
        assert_eq!(sender(&channel(-1001)), Sender::Acting(UserId::new(-1001)));
        assert_eq!(sender(&channel(-1002)), Sender::Acting(UserId::new(-1002)));
        let anonymous = message(json!({
            "from": user(1_087_968_824, "Group", true),
            "sender_chat": {"id": GROUP, "type": "supergroup", "title": "G"}
        }));
        assert_eq!(sender(&anonymous), Sender::Acting(UserId::new(GROUP)));
        let Sender::Acting(id) = sender(&anonymous) else {
            unreachable!()
        };
        assert!(id.get() < 0, "never a user's id");
    }

    #[test]
    fn names_are_the_users_full_name_or_the_posting_chats_title() {
        let m = message(
            json!({"from": {"id": 42, "is_bot": false, "first_name": "Ann", "last_name": "Lee"}}),
        );
        assert_eq!(display_name(&m).as_deref(), Some("Ann Lee"));
        let channel = message(json!({
            "from": user(136_817_688, "Channel", false),
            "sender_chat": {"id": -1001, "type": "channel", "title": "News"}
        }));
        assert_eq!(display_name(&channel).as_deref(), Some("News"));
    }

    #[test]
    fn automatic_forwards_and_bots_are_ignored() {
        let forward = message(json!({
            "from": user(136_817_688, "Channel", false),
            "sender_chat": {"id": -1001, "type": "channel", "title": "C"},
            "is_automatic_forward": true
        }));
        assert!(matches!(sender(&forward), Sender::Ignored(_)));
        let bot = message(json!({"from": user(99, "OtherBot", true)}));
        assert!(matches!(sender(&bot), Sender::Ignored(_)));
    }
}
