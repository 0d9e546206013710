//! The daily digest: one message listing a chat's open bounties that are overdue, due
//! today and due tomorrow (by the chat's local dates), each with its claimer and a
//! mention of its trackers. [`render_digest`] is pure; [`digest`] reads what it needs
//! from the store.

use std::collections::HashMap;

use jiff::civil::Date;

use super::render::{MAX_MESSAGE_CHARS, Names, bounty_line, escape, sort_for_display};
use crate::domain::Bounty;
use crate::domain::{BountyId, ChatId, UserId, ZoneName, ts_to_date};
use crate::store::{BountyStore, StoreError};

/// Most characters of a bounty's text shown in the digest.
pub const MAX_DIGEST_TEXT: usize = 200;

/// Most trackers named per bounty; the rest are counted.
pub const MAX_DIGEST_TRACKERS: usize = 10;

/// Most mentions (links that notify) in one digest; trackers past them are named
/// without a link (Telegram ignores mentions past a few dozen per message).
pub const MAX_MENTIONS: usize = 50;

/// Room kept free for the closing "…and N more" line.
const TAIL_ROOM: usize = 200;

/// Which section of the digest a bounty belongs in, if any: open, with a due date on or
/// before `today + 1`.
fn section(b: &Bounty, today: Date) -> Option<usize> {
    if !b.status.is_open() {
        return None;
    }
    let days = (ts_to_date(b.due_date_ts?) - today).get_days();
    match days {
        d if d < 0 => Some(0),
        0 => Some(1),
        1 => Some(2),
        _ => None,
    }
}

/// A Telegram mention of `user` by name (a link that notifies them); `None` for a
/// channel or a group's anonymous administrators, which are named, never linked as a
/// user.
fn mention(names: &Names, user: UserId) -> Option<String> {
    user.is_person().then(|| {
        format!(
            "<a href=\"tg://user?id={user}\">{}</a>",
            escape(&names.of(user))
        )
    })
}

/// The digest of `bounties` for the local date `today` in `zone`, or `None` when no
/// open bounty is overdue, due today or due tomorrow. `trackers` maps a bounty to who
/// tracks it; names come from `names` (a user without one shows as `user 42`). The
/// message stays under [`MAX_MESSAGE_CHARS`]: what does not fit is counted at the end.
pub fn render_digest(
    bounties: &[Bounty],
    trackers: &HashMap<BountyId, Vec<UserId>>,
    names: &Names,
    today: Date,
    zone: &ZoneName,
) -> Option<String> {
    let mut due: Vec<Bounty> = bounties
        .iter()
        .filter(|b| section(b, today).is_some())
        .cloned()
        .collect();
    if due.is_empty() {
        return None;
    }
    sort_for_display(&mut due);
    let mut out = format!("<b>Daily digest</b> · {today} ({})", escape(zone.as_str()));
    let mut used = out.encode_utf16().count();
    let mut left = 0usize;
    let mut current = None;
    let mut mentions = 0usize;
    for b in &due {
        let sec = section(b, today);
        let head = match sec {
            Some(0) => "\n\n<b>Overdue</b>",
            Some(1) => "\n\n<b>Due today</b>",
            _ => "\n\n<b>Due tomorrow</b>",
        };
        let (mut line, mut len) = bounty_line(b, today, MAX_DIGEST_TEXT, names);
        if let Some(ts) = trackers.get(&b.id).filter(|t| !t.is_empty()) {
            let named = &ts[..ts.len().min(MAX_DIGEST_TRACKERS)];
            let mut shown = Vec::with_capacity(named.len());
            let mut plain = Vec::with_capacity(named.len());
            for u in named {
                match mention(names, *u).filter(|_| mentions < MAX_MENTIONS) {
                    Some(m) => {
                        shown.push(m);
                        mentions += 1;
                    }
                    None => shown.push(escape(&names.of(*u))),
                }
                plain.push(names.of(*u));
            }
            let more = match ts.len() - named.len() {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            line.push_str(&format!(" · tracked by {}{more}", shown.join(", ")));
            len += " · tracked by ".len() + plain.join(", ").encode_utf16().count() + more.len();
        }
        let head = if current == sec { "" } else { head };
        let add = head.len() + 1 + len;
        if left > 0 || used + add > MAX_MESSAGE_CHARS - TAIL_ROOM {
            left += 1;
            continue;
        }
        out.push_str(head);
        out.push('\n');
        out.push_str(&line);
        used += add;
        current = sec;
    }
    if left > 0 {
        out.push_str(&format!(
            "\n\n…and {left} more: see /bounty overdue and /bounty"
        ));
    }
    Some(out)
}

/// The digest of `chat` for its local date `today` in `zone`, read from the store.
pub fn digest(
    store: &dyn BountyStore,
    chat: ChatId,
    today: Date,
    zone: &ZoneName,
) -> Result<Option<String>, StoreError> {
    let bounties = store.list(chat)?;
    let mut trackers = HashMap::new();
    for b in bounties.iter().filter(|b| section(b, today).is_some()) {
        trackers.insert(b.id, store.trackers(chat, b.id)?);
    }
    if trackers.is_empty() {
        return Ok(None);
    }
    let names = Names::new(store.names(chat)?);
    Ok(render_digest(&bounties, &trackers, &names, today, zone))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Status;
    use crate::domain::date_to_ts;

    fn bounty(id: u64, text: &str, due: Option<&str>) -> Bounty {
        Bounty {
            id: BountyId::new(id),
            created_by_user_id: UserId::new(1),
            text: text.to_string(),
            link: None,
            due_date_ts: due.map(|d| date_to_ts(d.parse().unwrap())),
            created_at: 0,
            status: Status::Open,
            claimed_by_user_id: None,
            done_at: None,
        }
    }

    #[test]
    fn sections_in_order_with_claimer_trackers_and_escaping() {
        let today: Date = "2026-03-10".parse().unwrap();
        let mut claimed = bounty(2, "Fix <b> & co", Some("2026-03-10"));
        claimed.claimed_by_user_id = Some(UserId::new(7));
        let mut done = bounty(5, "Done one", Some("2026-03-09"));
        done.status = Status::Done;
        let bounties = vec![
            bounty(1, "Late", Some("2026-03-01")),
            claimed,
            bounty(3, "Tomorrow", Some("2026-03-11")),
            bounty(4, "Later", Some("2026-03-12")),
            done,
            bounty(6, "No date", None),
        ];
        let trackers = HashMap::from([(BountyId::new(3), vec![UserId::new(7), UserId::new(8)])]);
        let names = Names::new(vec![
            (UserId::new(1), "Ann".into()),
            (UserId::new(7), "Bo <x>".into()),
        ]);
        let zone = ZoneName::parse("America/New_York").unwrap();
        let d = render_digest(&bounties, &trackers, &names, today, &zone).unwrap();
        assert_eq!(
            d,
            "<b>Daily digest</b> · 2026-03-10 (America/New_York)\n\n\
             <b>Overdue</b>\n<b>#1</b> Late · overdue by 9 days (2026-03-01) · by Ann\n\n\
             <b>Due today</b>\n<b>#2</b> Fix &lt;b&gt; &amp; co · due today (2026-03-10) · by Ann · claimed by Bo &lt;x&gt;\n\n\
             <b>Due tomorrow</b>\n<b>#3</b> Tomorrow · due tomorrow (2026-03-11) · by Ann · tracked by \
             <a href=\"tg://user?id=7\">Bo &lt;x&gt;</a>, <a href=\"tg://user?id=8\">user 8</a>"
        );
    }

    #[test]
    fn bidirectional_controls_in_bounties_and_names_are_not_shown() {
        let today: Date = "2026-03-10".parse().unwrap();
        let bounties = vec![bounty(1, "pay \u{202E}gnp.exe", Some("2026-03-10"))];
        let trackers = HashMap::from([(BountyId::new(1), vec![UserId::new(7)])]);
        let names = Names::new(vec![
            (UserId::new(1), "Ann\u{202E}".into()),
            (UserId::new(7), "Bo \u{2066}x".into()),
        ]);
        let zone = ZoneName::parse("Europe/Berlin").unwrap();
        let d = render_digest(&bounties, &trackers, &names, today, &zone).unwrap();
        assert!(d.contains("pay gnp.exe"), "{d}");
        assert!(d.contains("by Ann"), "{d}");
        assert!(
            !d.chars().any(crate::command::render::is_bidi_control),
            "{d:?}"
        );
    }

    #[test]
    fn channels_and_anonymous_admins_are_named_never_linked_as_users() {
        let today: Date = "2026-03-10".parse().unwrap();
        let group = UserId::new(-1_001_500_600_700);
        let channel = UserId::new(-1_002_000_000_001);
        let unnamed = UserId::new(-1_002_000_000_002);
        let bounties = vec![bounty(1, "Print flyers", Some("2026-03-10"))];
        let trackers = HashMap::from([(
            BountyId::new(1),
            vec![UserId::new(7), channel, group, unnamed],
        )]);
        let names = Names::new(vec![
            (UserId::new(7), "Bo".into()),
            (channel, "News <channel>".into()),
            (group, "The group".into()),
        ]);
        let d = render_digest(&bounties, &trackers, &names, today, &ZoneName::utc()).unwrap();
        assert!(
            d.ends_with(
                "tracked by <a href=\"tg://user?id=7\">Bo</a>, News &lt;channel&gt;, The group, \
                 chat -1002000000002"
            ),
            "{d}"
        );
        assert_eq!(d.matches("tg://user").count(), 1, "{d}");
        assert!(!d.contains("tg://user?id=-"), "{d}");
    }

    #[test]
    fn many_trackers_are_counted_and_mentions_are_capped() {
        let today: Date = "2026-03-10".parse().unwrap();
        let bounties: Vec<Bounty> = (1..=8)
            .map(|i| bounty(i, "Busy", Some("2026-03-10")))
            .collect();
        let trackers: HashMap<BountyId, Vec<UserId>> = (1..=8)
            .map(|i| (BountyId::new(i), (1..=150).map(UserId::new).collect()))
            .collect();
        let d = render_digest(
            &bounties,
            &trackers,
            &Names::default(),
            today,
            &ZoneName::utc(),
        )
        .unwrap();
        // Ten named per bounty, the rest counted: every bounty fits.
        assert_eq!(d.matches(" and 140 more").count(), 8, "{d}");
        assert_eq!(d.matches("tg://user?id=").count(), MAX_MENTIONS, "{d}");
        assert!(!d.contains("…and"), "{d}");
    }

    #[test]
    fn nothing_due_is_no_digest() {
        let today: Date = "2026-03-10".parse().unwrap();
        let bounties = vec![bounty(1, "Later", Some("2026-03-12")), bounty(2, "x", None)];
        let d = render_digest(
            &bounties,
            &HashMap::new(),
            &Names::default(),
            today,
            &ZoneName::utc(),
        );
        assert_eq!(d, None);
    }

    #[test]
    fn a_long_digest_fits_one_message() {
        let today: Date = "2026-03-10".parse().unwrap();
        let bounties: Vec<Bounty> = (1..=300)
            .map(|i| bounty(i, &"x".repeat(150), Some("2026-03-09")))
            .collect();
        let d = render_digest(
            &bounties,
            &HashMap::new(),
            &Names::default(),
            today,
            &ZoneName::utc(),
        )
        .unwrap();
        assert!(d.encode_utf16().count() <= MAX_MESSAGE_CHARS, "{}", d.len());
        assert!(d.contains(" more: see /bounty overdue"), "{d}");
    }
}
