//! The backend-neutral form of a store's data ([`ChatData`]), what a move between
//! backends copies and compares, and the export and import written once over the
//! primitive reads ([`Rows`]) and writes ([`RowsMut`]) of the SQL backends (the JSON
//! backend maps its files to [`ChatData`] itself).

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

/// The primitive reads of an export, inside one snapshot of a database.
pub(crate) trait Rows {
    /// What a read fails with.
    type Error;
    /// Every chat with its id counter, by chat id.
    fn chats(&mut self) -> Result<Vec<(ChatId, u64)>, Self::Error>;
    /// A group's members, by user id.
    fn members(&mut self, chat: ChatId) -> Result<Vec<UserId>, Self::Error>;
    /// A user's bookmarks in a chat, in the order made.
    fn tracked(&mut self, chat: ChatId, user: UserId) -> Result<Vec<BountyId>, Self::Error>;
    /// The chat's bounties, by id.
    fn bounties(&mut self, chat: ChatId) -> Result<Vec<Bounty>, Self::Error>;
    /// The chat's remembered names, by user id.
    fn names(&mut self, chat: ChatId) -> Result<Vec<(UserId, String)>, Self::Error>;
    /// The chat's settings.
    fn settings(&mut self, chat: ChatId) -> Result<ChatSettings, Self::Error>;
    /// The chat's digest records, by date.
    fn digests(&mut self, chat: ChatId) -> Result<Vec<DigestRecord>, Self::Error>;
    /// The chat's processed updates, any order (cut by [`carried`]).
    fn ledger(&mut self, chat: ChatId) -> Result<Vec<UpdateId>, Self::Error>;
    /// The groups that moved into `chat`.
    fn moved_here(&mut self, chat: ChatId) -> Result<Vec<ChatId>, Self::Error>;
}

/// Every chat's data, read through `r`.
pub(crate) fn export_rows<R: Rows>(r: &mut R) -> Result<Vec<ChatData>, R::Error> {
    let chats = r.chats()?;
    let mut out = Vec::with_capacity(chats.len());
    for (chat, next_id) in chats {
        let users = if chat.is_group() {
            r.members(chat)?
        } else {
            vec![chat.private_user()]
        };
        let mut members = Vec::with_capacity(users.len());
        for user in users {
            members.push((user, r.tracked(chat, user)?));
        }
        let mut moved_here = r.moved_here(chat)?;
        moved_here.sort_unstable();
        out.push(ChatData {
            chat,
            next_id,
            bounties: r.bounties(chat)?,
            members,
            names: r.names(chat)?,
            settings: r.settings(chat)?,
            digests: r.digests(chat)?,
            updates: carried(r.ledger(chat)?),
            moved_here,
        });
    }
    Ok(out)
}

/// The primitive writes of an import into an empty database, inside one transaction.
pub(crate) trait RowsMut {
    /// What a write fails with.
    type Error;
    /// The chat with its id counter.
    fn put_chat(&mut self, chat: ChatId, next_id: u64) -> Result<(), Self::Error>;
    /// One bounty of the chat.
    fn put_bounty(&mut self, chat: ChatId, b: &Bounty) -> Result<(), Self::Error>;
    /// A member of a group.
    fn put_member(&mut self, chat: ChatId, user: UserId) -> Result<(), Self::Error>;
    /// The bookmark `id` of `user` in `chat`, as the `seq`-th they made.
    fn put_tracked(
        &mut self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        seq: i64,
    ) -> Result<(), Self::Error>;
    /// A remembered name.
    fn put_name(&mut self, chat: ChatId, user: UserId, name: &str) -> Result<(), Self::Error>;
    /// The chat's settings.
    fn put_settings(&mut self, chat: ChatId, s: &ChatSettings) -> Result<(), Self::Error>;
    /// One digest record.
    fn put_digest(&mut self, chat: ChatId, d: &DigestRecord) -> Result<(), Self::Error>;
    /// A processed update of the chat, recorded at `at` (unix seconds).
    fn put_update(&mut self, chat: ChatId, update: UpdateId, at: i64) -> Result<(), Self::Error>;
    /// A move of group `from` into `to`.
    fn put_move(&mut self, from: ChatId, to: ChatId) -> Result<(), Self::Error>;
}

/// Writes `chats` through `w`.
pub(crate) fn import_rows<W: RowsMut>(w: &mut W, chats: &[ChatData]) -> Result<(), W::Error> {
    let now = jiff::Timestamp::now().as_second();
    for d in chats {
        w.put_chat(d.chat, d.next_id)?;
        for b in &d.bounties {
            w.put_bounty(d.chat, b)?;
        }
        for (user, tracked) in &d.members {
            if d.chat.is_group() {
                w.put_member(d.chat, *user)?;
            }
            for (seq, id) in (1..).zip(tracked) {
                w.put_tracked(d.chat, d.chat.bookmark_owner(*user), *id, seq)?;
            }
        }
        for (user, name) in &d.names {
            w.put_name(d.chat, *user, name)?;
        }
        w.put_settings(d.chat, &d.settings)?;
        for r in &d.digests {
            w.put_digest(d.chat, r)?;
        }
        for u in &d.updates {
            w.put_update(d.chat, *u, now)?;
        }
        for from in &d.moved_here {
            w.put_move(*from, d.chat)?;
        }
    }
    Ok(())
}
