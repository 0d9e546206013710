//! The files' format: a chat's file (`group.json` or `user.json`), a member's file, a
//! digest record, the note of a merge; and the rules applied to a loaded file (the next
//! id, the window of processed updates, a digest claim, a move's adoption of what the
//! old group's anonymous administrators made).

use std::collections::{BTreeMap, VecDeque};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{
    Bounty, BountyId, ChatId, ChatSettings, DigestClaim, DigestRecord, ReminderTime, UpdateId,
    UserId, ZoneName, decide_claim, digests_kept_from,
};

/// Updates remembered per file: far more than Telegram redelivers after a crash.
pub const UPDATES_KEPT: usize = 256;

/// A chat merged into this one (see [`BountyStore::migrate_chat`]) and the ids its
/// bounties got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Merged {
    pub(super) chat: ChatId,
    pub(super) renumbered: Vec<(BountyId, BountyId)>,
    /// The bounties taken over, by old id and creation time: a bounty of the old chat
    /// not among them (written there after the merge) is merged by the next call.
    #[serde(default)]
    pub(super) taken: Vec<(BountyId, i64)>,
}

/// A chat's file: a group's `group.json` (`group_id`, the merges into it, the names
/// learned with a change of it) or a private chat's `user.json` (`user_id`, the owner's
/// bookmarks and name), its fields in the order these files always had.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ChatFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) group_id: Option<ChatId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) user_id: Option<UserId>,
    pub(super) next_id: u64,
    pub(super) bounties: Vec<Bounty>,
    /// A private chat's bookmarks (always written there, even empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) tracked: Option<Vec<BountyId>>,
    /// A private chat's owner's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) time_zone: Option<ZoneName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) remind_at: Option<ReminderTime>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) digests: Vec<Digest>,
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub(super) updates: VecDeque<UpdateId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) merged_from: Vec<Merged>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) names: BTreeMap<UserId, String>,
    #[serde(flatten)]
    pub(super) unknown: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct MemberFile {
    pub(super) user_id: UserId,
    pub(super) tracked: Vec<BountyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub(super) updates: VecDeque<UpdateId>,
    #[serde(flatten)]
    pub(super) unknown: Map<String, Value>,
}

impl MemberFile {
    pub(super) fn new(user_id: UserId) -> MemberFile {
        MemberFile {
            user_id,
            tracked: Vec::new(),
            name: None,
            updates: VecDeque::new(),
            unknown: Map::new(),
        }
    }

    /// Takes over another chat's file of the same member (a chat move): its bookmarks
    /// (ids through `remap`) and processed updates, each once, after our own.
    pub(super) fn absorb(&mut self, theirs: MemberFile, remap: impl Fn(BountyId) -> BountyId) {
        if self.name.is_none() {
            self.name = theirs.name;
        }
        for id in theirs.tracked.into_iter().map(remap) {
            if !self.tracked.contains(&id) {
                self.tracked.push(id);
            }
        }
        for u in theirs.updates {
            if !self.updates.contains(&u) {
                self.updates.push_back(u);
            }
        }
    }
}

/// One digest record in a chat's file: `{"date", "claimed_at", "message_id"?}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct Digest {
    pub(super) date: Date,
    pub(super) claimed_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) message_id: Option<i32>,
}

impl From<Digest> for DigestRecord {
    fn from(d: Digest) -> DigestRecord {
        DigestRecord {
            date: d.date,
            claimed_at: d.claimed_at,
            message_id: d.message_id,
        }
    }
}

impl From<DigestRecord> for Digest {
    fn from(d: DigestRecord) -> Digest {
        Digest {
            date: d.date,
            claimed_at: d.claimed_at,
            message_id: d.message_id,
        }
    }
}

/// After a move from `from` to `to`: what the old group's anonymous administrators
/// created or claimed (as the old group) is the new group's, so that the supergroup's
/// administrators may edit it. Idempotent.
pub(super) fn adopt(bounties: &mut [Bounty], from: ChatId, to: ChatId) -> bool {
    let (old, new) = (from.acting_as_itself(), to.acting_as_itself());
    let mut changed = false;
    for b in bounties {
        if b.created_by_user_id == old {
            b.created_by_user_id = new;
            changed = true;
        }
        if b.claimed_by_user_id == Some(old) {
            b.claimed_by_user_id = Some(new);
            changed = true;
        }
    }
    changed
}

/// Records `update` in a file's window of processed updates; refuses one already
/// there.
pub(super) fn note_update(
    window: &mut VecDeque<UpdateId>,
    update: Option<UpdateId>,
) -> Result<(), UpdateId> {
    let Some(update) = update else {
        return Ok(());
    };
    if window.contains(&update) {
        return Err(update);
    }
    window.push_back(update);
    while window.len() > UPDATES_KEPT {
        window.pop_front();
    }
    Ok(())
}

impl ChatFile {
    /// An empty file of `chat`.
    pub(super) fn new(chat: ChatId) -> ChatFile {
        let group = chat.is_group();
        ChatFile {
            group_id: group.then_some(chat),
            user_id: (!group).then(|| chat.private_user()),
            next_id: 1,
            bounties: Vec::new(),
            tracked: (!group).then(Vec::new),
            name: None,
            time_zone: None,
            remind_at: None,
            digests: Vec::new(),
            updates: VecDeque::new(),
            merged_from: Vec::new(),
            names: BTreeMap::new(),
            unknown: Map::new(),
        }
    }

    /// Whether the file holds the id of `chat`'s kind (a group's id, or a private
    /// chat's user id), as a file of that kind always does; a private chat's file
    /// gets its bookmarks list if it has none.
    pub(super) fn fits(&mut self, chat: ChatId) -> bool {
        if !chat.is_group() {
            self.tracked.get_or_insert_default();
        }
        if chat.is_group() {
            self.group_id.is_some()
        } else {
            self.user_id.is_some()
        }
    }

    pub(super) fn settings(&self) -> ChatSettings {
        ChatSettings {
            time_zone: self.time_zone.clone(),
            remind_at: self.remind_at,
        }
    }

    /// Digest records, by date.
    pub(super) fn digest_records(&self) -> Vec<DigestRecord> {
        let mut out: Vec<DigestRecord> = self.digests.iter().map(|d| (*d).into()).collect();
        out.sort_by_key(|d| d.date);
        out
    }

    /// The next id, never below one past the highest id present.
    pub(super) fn next_bounty_id(&self) -> BountyId {
        let floor = self.bounties.iter().map(|b| b.id.next()).max();
        BountyId::try_from(self.next_id)
            .unwrap_or(BountyId::FIRST)
            .max(floor.unwrap_or(BountyId::FIRST))
    }
}

/// Claims (or re-claims) the digest of `date` in a chat's file, already under the chat's
/// lock; prunes records older than the kept window when it writes.
pub(super) fn claim_in(
    doc: &mut ChatFile,
    date: Date,
    now: i64,
    older_than: Option<i64>,
) -> (DigestClaim, bool) {
    let digests = &mut doc.digests;
    let existing = digests
        .iter()
        .find(|d| d.date == date)
        .map(|d| DigestRecord::from(*d));
    let (record, answer) = decide_claim(existing.as_ref(), date, now, older_than);
    let Some(record) = record else {
        return (answer, false);
    };
    let keep_from = digests_kept_from(date);
    digests.retain(|d| d.date != date && d.date >= keep_from);
    digests.push(record.into());
    digests.sort_by_key(|d| d.date);
    (answer, true)
}

/// The name of `user` among `names`.
pub(super) fn name_of(names: &[(UserId, String)], user: UserId) -> Option<String> {
    names
        .iter()
        .find(|(u, _)| *u == user)
        .map(|(_, n)| n.clone())
}
