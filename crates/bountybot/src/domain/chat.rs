//! A chat's settings, its digest records and the rule deciding a digest claim, and the
//! display names remembered per chat: what the command layer and the reminder pass
//! read and change, whatever stores it.

use jiff::civil::Date;

use super::{ReminderTime, ZoneName};

/// A chat's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatSettings {
    /// The chat's time zone; `None` means the default, UTC.
    pub time_zone: Option<ZoneName>,
    /// The local time of the daily digest; `None` means off (the default).
    pub remind_at: Option<ReminderTime>,
}

impl ChatSettings {
    /// The time zone in effect: the chosen one, or UTC.
    pub fn zone(&self) -> ZoneName {
        self.time_zone.clone().unwrap_or_else(ZoneName::utc)
    }
}

/// Changes for [`crate::store::ChatSettingsStore::update_settings`]: `None` leaves a setting as it is,
/// `Some(None)` clears it back to its default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    /// New time zone, or `Some(None)` for the default (UTC).
    pub time_zone: Option<Option<ZoneName>>,
    /// New reminder time, or `Some(None)` to turn the digest off.
    pub remind_at: Option<Option<ReminderTime>>,
}

impl SettingsPatch {
    /// Writes the given settings into `s`.
    pub fn apply_to(&self, s: &mut ChatSettings) {
        if let Some(tz) = &self.time_zone {
            s.time_zone.clone_from(tz);
        }
        if let Some(at) = self.remind_at {
            s.remind_at = at;
        }
    }
}

/// The record of one chat's digest for one local date: claimed (by whichever pass is
/// about to send it) and, once Telegram accepted it, sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestRecord {
    /// The chat's local date the digest is for.
    pub date: Date,
    /// When the current claim was made (unix seconds).
    pub claimed_at: i64,
    /// Telegram's id of the sent message; `None` while claimed and not sent.
    pub message_id: Option<i32>,
}

/// What [`crate::store::ChatSettingsStore::claim_digest`] and [`crate::store::ChatSettingsStore::reclaim_digest`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestClaim {
    /// This caller holds the claim now: it sends, then calls
    /// [`crate::store::ChatSettingsStore::digest_sent`].
    Got,
    /// Someone else claimed it at `since` (unix seconds) and has not recorded a send.
    Pending {
        /// When that claim was made.
        since: i64,
    },
    /// Sent already, as message `message_id`.
    Sent {
        /// Telegram's message id.
        message_id: i32,
    },
}

impl DigestRecord {
    /// The record as seen by a caller that did not get the claim.
    pub fn state(&self) -> DigestClaim {
        match self.message_id {
            Some(message_id) => DigestClaim::Sent { message_id },
            None => DigestClaim::Pending {
                since: self.claimed_at,
            },
        }
    }
}

/// Digest records are kept for this many days before the date being claimed; older
/// ones are pruned when a digest is claimed.
pub const DIGESTS_KEPT_DAYS: i32 = 7;

/// The oldest date kept when `date` is claimed.
pub fn digests_kept_from(date: Date) -> Date {
    date.checked_sub(jiff::Span::new().days(DIGESTS_KEPT_DAYS))
        .unwrap_or(date)
}

/// The decision of [`crate::store::ChatSettingsStore::claim_digest`] (`older_than: None`) and
/// [`crate::store::ChatSettingsStore::reclaim_digest`] over the stored record, for the backends: the new
/// record to store, if the caller gets the claim, and the answer.
pub fn decide_claim(
    existing: Option<&DigestRecord>,
    date: Date,
    now: i64,
    older_than: Option<i64>,
) -> (Option<DigestRecord>, DigestClaim) {
    let fresh = DigestRecord {
        date,
        claimed_at: now,
        message_id: None,
    };
    match (existing, older_than) {
        (None, _) => (Some(fresh), DigestClaim::Got),
        (Some(r), Some(age))
            if r.message_id.is_none() && now.saturating_sub(r.claimed_at) > age.max(0) =>
        {
            (Some(fresh), DigestClaim::Got)
        }
        (Some(r), _) => (None, r.state()),
    }
}

/// Longest display name kept, in characters (Telegram's first and last name together
/// stay below it).
pub const MAX_NAME_CHARS: usize = 128;

/// `name` trimmed and cut to [`MAX_NAME_CHARS`]; `None` when nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let t: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
    let t = t.trim_end().to_string();
    (!t.is_empty()).then_some(t)
}
