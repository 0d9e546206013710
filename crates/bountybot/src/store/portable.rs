//! The backend-neutral form of a store's data ([`ChatData`]): what a move between
//! backends copies and compares ([`Portable`]). The SQL backends' export and import
//! are written once in [`super::sql`]; the JSON backend maps its files itself.

use super::StoreError;
use crate::domain::{Bounty, BountyId, ChatId, ChatSettings, DigestRecord, UpdateId, UserId};

/// Everything stored for one chat, in a backend-neutral form: what a storage migration
/// copies and compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatData {
    /// The chat.
    pub chat: ChatId,
    /// Its id counter.
    pub next_id: u64,
    /// Its bounties, by id.
    pub bounties: Vec<Bounty>,
    /// Per user (by user id), bookmarks in the order made. In a group, every member the
    /// bot knows, even with no bookmarks; in a private chat, the chat's owner.
    pub members: Vec<(UserId, Vec<BountyId>)>,
    /// Remembered display names, by user id. In a group each named user is among
    /// `members`; in a private chat only the owner is named.
    pub names: Vec<(UserId, String)>,
    /// The chat's settings.
    pub settings: ChatSettings,
    /// Its digest records, by date.
    pub digests: Vec<DigestRecord>,
    /// The groups that moved into this chat (became this supergroup), by id: their
    /// late or redelivered updates go to this chat.
    pub moved_here: Vec<ChatId>,
    /// The Telegram updates of the chat recorded as processed: the highest
    /// [`LEDGER_CARRIED`] ids, ascending. Carried by a move so that an update stored
    /// before it and delivered again after it is not applied twice.
    pub updates: Vec<UpdateId>,
}

/// Processed updates carried per chat by a move ([`ChatData::updates`]): as many as
/// the JSON backend keeps per file, far more than Telegram redelivers.
pub const LEDGER_CARRIED: usize = 256;

/// `ids` sorted, each once, and cut to the highest [`LEDGER_CARRIED`].
pub(crate) fn carried(mut ids: Vec<UpdateId>) -> Vec<UpdateId> {
    ids.sort_unstable();
    ids.dedup();
    let cut = ids.len().saturating_sub(LEDGER_CARRIED);
    ids.split_off(cut)
}

/// Whole-store export and import, for moving data between backends.
pub trait Portable: Send + Sync {
    /// Every chat's data, ordered by chat id.
    fn export(&self) -> Result<Vec<ChatData>, StoreError>;
    /// Writes `chats` into this (empty) store.
    fn import(&self, chats: &[ChatData]) -> Result<(), StoreError>;
}
