//! A bounty and the rules on it that need no storage: building a stored bounty from a
//! new one, applying a patch, renumbering the bounties of a chat that joins another.

use serde::{Deserialize, Serialize};

use super::{BountyId, UserId};

/// A stored bounty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounty {
    /// Number within its chat.
    pub id: BountyId,
    /// Who added it (only they may edit or delete it).
    pub created_by_user_id: UserId,
    /// Description.
    pub text: String,
    /// Optional link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Optional due date: unix seconds of 00:00 UTC of the due day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date_ts: Option<i64>,
    /// When it was added (unix seconds).
    pub created_at: i64,
    /// Open or done; absent in JSON means open.
    #[serde(default, skip_serializing_if = "Status::is_open")]
    pub status: Status,
    /// Who works on it now, if anyone (one claimer at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by_user_id: Option<UserId>,
    /// When it was marked done (unix seconds); `None` while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<i64>,
}

/// Where a bounty is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Still to do (the default, and what an absent `status` means).
    #[default]
    Open,
    /// Finished.
    Done,
}

impl Bounty {
    /// The stored form of `new` as bounty `id`: open and unclaimed.
    pub fn from_new(id: BountyId, new: NewBounty) -> Bounty {
        Bounty {
            id,
            created_by_user_id: new.created_by_user_id,
            text: new.text,
            link: new.link,
            due_date_ts: new.due_date_ts,
            created_at: new.created_at,
            status: Status::Open,
            claimed_by_user_id: None,
            done_at: None,
        }
    }
}

impl Status {
    /// True for [`Status::Open`].
    pub fn is_open(&self) -> bool {
        *self == Status::Open
    }

    /// The word stored in SQLite and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Done => "done",
        }
    }

    /// Reads a stored word; `None` for anything else.
    pub fn from_stored(s: &str) -> Option<Status> {
        match s {
            "open" => Some(Status::Open),
            "done" => Some(Status::Done),
            _ => None,
        }
    }
}

/// A bounty before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBounty {
    /// Who adds it.
    pub created_by_user_id: UserId,
    /// Description.
    pub text: String,
    /// Optional link.
    pub link: Option<String>,
    /// Optional due date (unix seconds).
    pub due_date_ts: Option<i64>,
    /// When (unix seconds).
    pub created_at: i64,
}

/// Field changes for [`crate::store::Bounties::update`]: `None` leaves a field as it is. The
/// store applies them to the stored bounty inside one unit of work, so two edits of
/// different fields that arrive at once both survive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BountyPatch {
    /// New description.
    pub text: Option<String>,
    /// New link, or `Some(None)` to clear it.
    pub link: Option<Option<String>>,
    /// New due date (unix seconds), or `Some(None)` to clear it.
    pub due_date_ts: Option<Option<i64>>,
    /// New claimer, or `Some(None)` to release the claim.
    pub claimed_by_user_id: Option<Option<UserId>>,
    /// New status with its time (`done_at`: `Some` for done, `None` for open).
    pub status: Option<(Status, Option<i64>)>,
    /// A condition: apply the patch only when the stored claimer is this one (`Some(None)`:
    /// only when unclaimed). When it does not hold, nothing changes and the stored
    /// bounty is returned as it is, so a caller sees who got there first.
    pub if_claimed_by: Option<Option<UserId>>,
    /// A condition: apply the patch only when the stored status is this one (a claim
    /// needs an open bounty, also when it is being marked done at the same moment).
    pub if_status: Option<Status>,
}

impl BountyPatch {
    /// Whether the patch's conditions hold for `b`.
    pub fn applies_to(&self, b: &Bounty) -> bool {
        self.if_claimed_by
            .is_none_or(|want| want == b.claimed_by_user_id)
            && self.if_status.is_none_or(|want| want == b.status)
    }

    /// Writes the given fields into `b`; id, creator and creation time never change.
    /// The condition is the caller's to check first ([`BountyPatch::applies_to`]).
    pub fn apply_to(&self, b: &mut Bounty) {
        if let Some(claimer) = self.claimed_by_user_id {
            b.claimed_by_user_id = claimer;
        }
        if let Some((status, at)) = self.status {
            b.status = status;
            b.done_at = at;
        }
        if let Some(text) = &self.text {
            b.text.clone_from(text);
        }
        if let Some(link) = &self.link {
            b.link.clone_from(link);
        }
        if let Some(due) = self.due_date_ts {
            b.due_date_ts = due;
        }
    }
}

/// What [`crate::store::Ledger::migrate_chat`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatMove {
    /// Whether anything moved (false: `from` had nothing, e.g. already moved).
    pub moved: bool,
    /// Whether `to` had bounties already, so the two chats' bounties were merged.
    pub merged: bool,
    /// Bounties that got another id in `to`: (old id, new id).
    pub renumbered: Vec<(BountyId, BountyId)>,
}

/// New ids for `from`'s bounties joining a chat whose ids up to `to_next - 1` are
/// taken or were used (`to_ids` those still there): an id stays unless it collides;
/// colliding ones get fresh ids past both counters. Returns the id map (old, new) in
/// `from`'s order and the joined chat's next id.
pub fn renumber(
    from_ids: &[BountyId],
    from_next: u64,
    to_ids: &[BountyId],
    to_next: u64,
) -> (Vec<(BountyId, BountyId)>, u64) {
    let mut next = BountyId::try_from(from_next.max(to_next)).unwrap_or(BountyId::FIRST);
    let mut map = Vec::with_capacity(from_ids.len());
    for &id in from_ids {
        let collides = id.get() < to_next || to_ids.contains(&id);
        let new = if collides {
            let fresh = next;
            next = next.next();
            fresh
        } else {
            id
        };
        map.push((id, new));
    }
    let highest = map.iter().map(|(_, n)| n.next().get()).max().unwrap_or(1);
    (map, next.get().max(highest))
}
