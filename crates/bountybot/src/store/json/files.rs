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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct GroupFile {
    pub(super) group_id: ChatId,
    pub(super) next_id: u64,
    pub(super) bounties: Vec<Bounty>,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PrivateFile {
    pub(super) user_id: UserId,
    pub(super) next_id: u64,
    pub(super) bounties: Vec<Bounty>,
    #[serde(default)]
    pub(super) tracked: Vec<BountyId>,
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
    #[serde(flatten)]
    pub(super) unknown: Map<String, Value>,
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

/// Bounties and id counter of one chat, whichever file holds them.
pub(super) enum Doc {
    Group(GroupFile),
    Private(PrivateFile),
}

impl Doc {
    pub(super) fn parts(&mut self) -> (&mut u64, &mut Vec<Bounty>) {
        match self {
            Doc::Group(g) => (&mut g.next_id, &mut g.bounties),
            Doc::Private(p) => (&mut p.next_id, &mut p.bounties),
        }
    }

    pub(super) fn bounties(&self) -> &[Bounty] {
        match self {
            Doc::Group(g) => &g.bounties,
            Doc::Private(p) => &p.bounties,
        }
    }

    pub(super) fn updates(&mut self) -> &mut VecDeque<UpdateId> {
        match self {
            Doc::Group(g) => &mut g.updates,
            Doc::Private(p) => &mut p.updates,
        }
    }

    /// The chat's settings and digest records.
    pub(super) fn settings_parts(
        &mut self,
    ) -> (
        &mut Option<ZoneName>,
        &mut Option<ReminderTime>,
        &mut Vec<Digest>,
    ) {
        match self {
            Doc::Group(g) => (&mut g.time_zone, &mut g.remind_at, &mut g.digests),
            Doc::Private(p) => (&mut p.time_zone, &mut p.remind_at, &mut p.digests),
        }
    }

    pub(super) fn settings(&mut self) -> ChatSettings {
        let (time_zone, remind_at, _) = self.settings_parts();
        ChatSettings {
            time_zone: time_zone.clone(),
            remind_at: *remind_at,
        }
    }

    /// Digest records, by date.
    pub(super) fn digests(&mut self) -> Vec<DigestRecord> {
        let (_, _, digests) = self.settings_parts();
        let mut out: Vec<DigestRecord> = digests.iter().map(|d| (*d).into()).collect();
        out.sort_by_key(|d| d.date);
        out
    }

    /// The next id, never below one past the highest id present.
    pub(super) fn next_id(&mut self) -> BountyId {
        let (next, bounties) = self.parts();
        let floor = bounties
            .iter()
            .map(|b| b.id.next())
            .max()
            .unwrap_or(BountyId::FIRST);
        BountyId::try_from(*next)
            .unwrap_or(BountyId::FIRST)
            .max(floor)
    }
}

/// Claims (or re-claims) the digest of `date` in a chat's file, already under the chat's
/// lock; prunes records older than the kept window when it writes.
pub(super) fn claim_in(
    doc: &mut Doc,
    date: Date,
    now: i64,
    older_than: Option<i64>,
) -> (DigestClaim, bool) {
    let (_, _, digests) = doc.settings_parts();
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
