//! The bot's vocabulary, parsed once at the edge: chat and user ids, bounty ids,
//! bounty text, links and due dates; the bounty itself ([`bounty`]) and a chat's
//! settings and digests ([`chat`]), with the rules on them that need no storage.

pub mod bounty;
pub mod chat;

use std::fmt;

use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};

pub use bounty::{Bounty, BountyPatch, ChatMove, NewBounty, Status, renumber};
pub use chat::{
    ChatSettings, DIGESTS_KEPT_DAYS, DigestClaim, DigestRecord, MAX_NAME_CHARS, SettingsPatch,
    clean_name, decide_claim, digests_kept_from,
};

/// A number that is no id of its kind (see [`ChatId`], [`UserId`], [`BountyId`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{value} is not a {what}")]
pub struct IdError {
    /// What the number was taken for.
    what: &'static str,
    /// The number.
    value: i128,
}

/// The ids below are built in two ways: `TryFrom` for every number from outside (a
/// Telegram update, a stored file or row, the command line, a deserialised value),
/// which refuses one that is no id; and `new`, a `const fn` for an id written in the
/// code (a constant, a test), which panics on one. Their fields are private, so
/// nothing holds an unchecked id.
macro_rules! checked_id {
    ($name:ident, $raw:ty, $what:literal, |$id:ident| $valid:expr) => {
        impl $name {
            /// The id `id`, written in the code.
            ///
            /// # Panics
            ///
            /// If `id` is no id of this kind; a number from outside goes through
            /// `TryFrom` instead.
            pub const fn new(id: $raw) -> $name {
                let $id = id;
                assert!($valid, concat!("not a ", $what));
                $name(id)
            }

            /// The number.
            pub const fn get(self) -> $raw {
                self.0
            }
        }

        impl TryFrom<$raw> for $name {
            type Error = IdError;

            fn try_from(id: $raw) -> Result<$name, IdError> {
                let $id = id;
                if $valid {
                    Ok($name(id))
                } else {
                    Err(IdError {
                        what: $what,
                        value: i128::from(id),
                    })
                }
            }
        }

        impl From<$name> for $raw {
            fn from(id: $name) -> $raw {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

/// A Telegram chat id: negative for groups and supergroups, positive for a private
/// chat (where it equals the user's id); never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct ChatId(i64);

checked_id!(ChatId, i64, "chat id", |id| id != 0);

impl ChatId {
    /// True for groups and supergroups.
    pub fn is_group(self) -> bool {
        self.0 < 0
    }

    /// True for basic groups, the only chats that move (to a supergroup); supergroup
    /// ids are at or below -1000000000000.
    pub fn is_basic_group(self) -> bool {
        self.0 < 0 && self.0 > -1_000_000_000_000
    }

    /// The chat acting as itself (a channel, or a group's anonymous administrators):
    /// the sender of its messages, with the same number.
    pub fn acting_as_itself(self) -> UserId {
        UserId(self.0)
    }

    /// The user a private chat is with: their ids are the same number.
    pub fn private_user(self) -> UserId {
        UserId(self.0)
    }

    /// Whose bookmarks `user`'s are in this chat: their own in a group, the chat's (its
    /// owner's) in a private chat.
    pub fn bookmark_owner(self, user: UserId) -> UserId {
        if self.is_group() {
            user
        } else {
            self.private_user()
        }
    }
}

/// Who acts: a Telegram user (a positive id), or a chat acting as itself (a channel,
/// or a group's anonymous administrators: a negative id); never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct UserId(i64);

checked_id!(UserId, i64, "user id", |id| id != 0);

impl UserId {
    /// The private chat with this user: their ids are the same number.
    pub fn private_chat(self) -> ChatId {
        ChatId(self.0)
    }

    /// Whether this is a Telegram user (a positive id) rather than a chat acting as
    /// itself: a channel, or a group's anonymous administrators (negative ids, see
    /// `telegram::identity`). Only a user can be mentioned.
    pub fn is_person(self) -> bool {
        self.0 > 0
    }
}

/// A bounty's number within its chat: 1, 2, 3... never reused; never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct BountyId(u64);

checked_id!(BountyId, u64, "bounty number", |id| id >= 1);

impl BountyId {
    /// A chat's first bounty number.
    pub const FIRST: BountyId = BountyId(1);

    /// The number after this one.
    pub fn next(self) -> BountyId {
        BountyId(self.0.saturating_add(1))
    }
}

/// Stores keep bounty numbers as signed integers.
impl TryFrom<i64> for BountyId {
    type Error = IdError;

    fn try_from(id: i64) -> Result<BountyId, IdError> {
        u64::try_from(id)
            .ok()
            .and_then(|n| BountyId::try_from(n).ok())
            .ok_or(IdError {
                what: "bounty number",
                value: i128::from(id),
            })
    }
}

/// A Telegram update's id. A change made for an update is stored together with this
/// id, in the same atomic unit (one transaction, or one file replace), so that the
/// update, delivered again after a crash, is recognised and not applied twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UpdateId(u32);

impl UpdateId {
    /// The update `id`: Telegram's update ids are any `u32`.
    pub const fn new(id: u32) -> UpdateId {
        UpdateId(id)
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for UpdateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Longest bounty text, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// Earliest due date the bot accepts.
pub const FIRST_DUE: Date = jiff::civil::date(2000, 1, 1);
/// Latest due date the bot accepts.
pub const LAST_DUE: Date = jiff::civil::date(2200, 12, 31);

/// Why a bounty field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Empty text.
    #[error("the bounty needs a description")]
    EmptyText,
    /// Text over [`MAX_TEXT_CHARS`].
    #[error("the description is {0} characters; the limit is 1000")]
    TextTooLong(usize),
    /// Shaped like a date but not a real one (`2026-02-30`), or a date in another
    /// format (`01/12/2026`).
    #[error(
        "{} is not a date: use YYYY-MM-DD, today, tomorrow, +3d, +2w or a weekday like friday",
        quoted(.0)
    )]
    BadDate(String),
    /// A real date outside [`FIRST_DUE`]..=[`LAST_DUE`].
    #[error(
        "{} is out of range: due dates must be between {} and {}",
        quoted(.0),
        FIRST_DUE,
        LAST_DUE
    )]
    DateOutOfRange(String),
    /// Not a bounty number.
    #[error("{} is not a bounty number", quoted(.0))]
    BadId(String),
}

/// Longest piece of user input quoted back in a reason, in characters.
pub const MAX_QUOTE_CHARS: usize = 40;

/// `s` in quotes for a reason reply, cut to [`MAX_QUOTE_CHARS`] characters so that a
/// long bad token cannot push the reply over Telegram's message size limit.
pub fn quoted(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(MAX_QUOTE_CHARS).collect();
    if chars.next().is_some() {
        format!("{:?}", format!("{head}…"))
    } else {
        format!("{head:?}")
    }
}

/// Validated bounty text: 1 to 1000 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BountyText(String);

impl BountyText {
    /// Trims and checks `s`.
    pub fn parse(s: &str) -> Result<BountyText, FieldError> {
        let t = s.trim();
        let n = t.chars().count();
        if n == 0 {
            Err(FieldError::EmptyText)
        } else if n > MAX_TEXT_CHARS {
            Err(FieldError::TextTooLong(n))
        } else {
            Ok(BountyText(t.to_string()))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `token` is a link (starts with `http://` or `https://` and has more).
pub fn is_link(token: &str) -> bool {
    let lower = token.get(..8).unwrap_or(token).to_ascii_lowercase();
    (lower.starts_with("http://") && token.len() > 7)
        || (lower.starts_with("https://") && token.len() > 8)
}

/// The link in a whitespace-free `token`, without the brackets, quotes and
/// punctuation around it as people write them: `(https://x.org/a),` gives
/// `https://x.org/a`. A closing bracket that the link itself opened stays
/// (`https://en.wikipedia.org/wiki/Rust_(language)`).
pub fn link_in(token: &str) -> Option<&str> {
    let mut t = token.trim_start_matches(['(', '[', '<', '"', '\'', '«']);
    loop {
        let before = t;
        t = t.trim_end_matches(['.', ',', ';', ':', '!', '?', '"', '\'', '»']);
        for (open, close) in [('(', ')'), ('[', ']'), ('<', '>')] {
            if t.matches(close).count() > t.matches(open).count() {
                t = t.strip_suffix(close).unwrap_or(t);
            }
        }
        if t == before {
            break;
        }
    }
    is_link(t).then_some(t)
}

/// Parses a bounty number.
pub fn parse_id(s: &str) -> Result<BountyId, FieldError> {
    s.parse::<u64>()
        .ok()
        .and_then(|n| BountyId::try_from(n).ok())
        .ok_or_else(|| FieldError::BadId(s.to_string()))
}

/// A due date the bot accepts: a real date within [`FIRST_DUE`]..=[`LAST_DUE`], so it
/// always has a timestamp and always reads back as itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DueDate(Date);

impl DueDate {
    /// `date` if it is within range; `token` is what the user wrote, for the reason.
    pub fn new(date: Date, token: &str) -> Result<DueDate, FieldError> {
        if (FIRST_DUE..=LAST_DUE).contains(&date) {
            Ok(DueDate(date))
        } else {
            Err(FieldError::DateOutOfRange(token.to_string()))
        }
    }

    /// The date.
    pub fn date(self) -> Date {
        self.0
    }

    /// Unix seconds of 00:00 UTC of the day (exact: the range is well inside what a
    /// timestamp holds).
    pub fn timestamp(self) -> i64 {
        date_to_ts(self.0)
    }
}

impl fmt::Display for DueDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a token says about a due date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateToken {
    /// A valid due date.
    Date(DueDate),
    /// Looks like a date but is not one the bot accepts, and why.
    Bad(FieldError),
    /// Not a date at all (ordinary text).
    NotADate,
}

/// Weekday names, as `parse_due` reads them.
const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

/// Reads `token` as a due date relative to `today`. Only tokens shaped like one of
/// the accepted forms count as dates: `YYYY-MM-DD`, `today`, `tomorrow`, `+Nd`, `+Nw`
/// and weekday names (`friday`: the next Friday after today; never today). Anything
/// else is ordinary text (`1.2.3`, `555-123-4567`, `v2`, `2024`), except a date in
/// another format (`01/12/2026`, `2026-5-1`), which gets a reason. A date outside
/// [`FIRST_DUE`]..=[`LAST_DUE`] is refused.
pub fn parse_due(token: &str, today: Date) -> DateToken {
    let t = token.to_ascii_lowercase();
    let in_range = |d: Option<Date>| match d {
        Some(d) => DueDate::new(d, token).map_or_else(DateToken::Bad, DateToken::Date),
        None => DateToken::Bad(FieldError::DateOutOfRange(token.to_string())),
    };
    match t.as_str() {
        "today" => return in_range(Some(today)),
        "tomorrow" => return in_range(today.tomorrow().ok()),
        _ => {}
    }
    if let Some((_, day)) = WEEKDAYS.iter().find(|(name, _)| *name == t) {
        return in_range(today.nth_weekday(1, *day).ok());
    }
    if let Some(rest) = t.strip_prefix('+')
        && let Some(num) = rest.strip_suffix(['d', 'w'])
        && !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit())
    {
        let per_unit = if rest.ends_with('w') { 7 } else { 1 };
        // More days than the whole accepted range is out of range however it is added.
        let days = num
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(per_unit))
            .filter(|&d| d <= 100_000);
        return in_range(days.and_then(|d| today.checked_add(jiff::Span::new().days(d)).ok()));
    }
    let groups: Vec<&str> = t.split(['-', '/']).collect();
    let [first, second, third] = groups[..] else {
        return DateToken::NotADate;
    };
    if !groups
        .iter()
        .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
    {
        return DateToken::NotADate;
    }
    if (first.len(), second.len(), third.len()) == (4, 2, 2) && !t.contains('/') {
        return match t.parse::<Date>() {
            Ok(d) => in_range(Some(d)),
            Err(_) => DateToken::Bad(FieldError::BadDate(token.to_string())),
        };
    }
    // A date in another format: a four-digit year at one end, day and month of one
    // or two digits, one kind of separator. Other digit groups (phone numbers,
    // `1-2-3`) are text.
    let small = |g: &str| g.len() <= 2 && g.parse::<u8>().is_ok_and(|n| (1..=31).contains(&n));
    let year = |g: &str| g.len() == 4 && g.parse::<u16>().is_ok_and(|y| (1900..=2999).contains(&y));
    let one_separator = !(t.contains('-') && t.contains('/'));
    if one_separator
        && ((year(first) && small(second) && small(third))
            || (small(first) && small(second) && year(third)))
    {
        return DateToken::Bad(FieldError::BadDate(token.to_string()));
    }
    DateToken::NotADate
}

/// Unix seconds of the start (00:00 UTC) of `date`.
pub fn date_to_ts(date: Date) -> i64 {
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map_or(0, |z| z.timestamp().as_second())
}

/// The UTC date of unix seconds `ts`.
pub fn ts_to_date(ts: i64) -> Date {
    jiff::Timestamp::from_second(ts)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// A chat's time zone: an IANA name known to the time-zone database bundled with the
/// binary (so the answer never depends on the host's `/usr/share/zoneinfo`), kept in the
/// database's own spelling (`europe/berlin` becomes `Europe/Berlin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ZoneName(String);

/// Why a time-zone name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {}", quoted(.0))]
pub struct UnknownZone(pub String);

impl ZoneName {
    /// Looks `name` up in the bundled time-zone database (ASCII case ignored).
    pub fn parse(name: &str) -> Result<ZoneName, UnknownZone> {
        let unknown = || UnknownZone(name.to_string());
        let name = name.trim();
        if name.is_empty() || name.len() > 64 || name.eq_ignore_ascii_case("Etc/Unknown") {
            return Err(unknown());
        }
        let tz = jiff::tz::TimeZoneDatabase::bundled()
            .get(name)
            .map_err(|_| unknown())?;
        let canonical = tz.iana_name().unwrap_or(name);
        Ok(ZoneName(canonical.to_string()))
    }

    /// UTC, the default.
    pub fn utc() -> ZoneName {
        ZoneName("UTC".to_string())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone's rules, from the bundled database.
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZoneDatabase::bundled()
            .get(&self.0)
            .unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

impl TryFrom<String> for ZoneName {
    type Error = UnknownZone;
    fn try_from(s: String) -> Result<ZoneName, UnknownZone> {
        ZoneName::parse(&s)
    }
}

impl From<ZoneName> for String {
    fn from(z: ZoneName) -> String {
        z.0
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A local time of day for the daily digest, `HH:MM` (00:00 to 23:59, two digits each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReminderTime {
    hour: u8,
    minute: u8,
}

/// Why a reminder time was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a time of day: write HH:MM, from 00:00 to 23:59, e.g. 09:00", quoted(.0))]
pub struct BadReminderTime(pub String);

impl ReminderTime {
    /// Parses `HH:MM`: exactly two digits, a colon, two digits.
    pub fn parse(s: &str) -> Result<ReminderTime, BadReminderTime> {
        let bad = || BadReminderTime(s.to_string());
        let b = s.as_bytes();
        if b.len() != 5 || b[2] != b':' {
            return Err(bad());
        }
        let two = |x: &[u8]| -> Option<u8> {
            (x.iter().all(u8::is_ascii_digit)).then(|| (x[0] - b'0') * 10 + (x[1] - b'0'))
        };
        match (two(&b[0..2]), two(&b[3..5])) {
            (Some(hour), Some(minute)) if hour < 24 && minute < 60 => {
                Ok(ReminderTime { hour, minute })
            }
            _ => Err(bad()),
        }
    }

    /// The hour, 0-23.
    pub fn hour(self) -> u8 {
        self.hour
    }

    /// The minute, 0-59.
    pub fn minute(self) -> u8 {
        self.minute
    }
}

impl TryFrom<String> for ReminderTime {
    type Error = BadReminderTime;
    fn try_from(s: String) -> Result<ReminderTime, BadReminderTime> {
        ReminderTime::parse(&s)
    }
}

impl From<ReminderTime> for String {
    fn from(t: ReminderTime) -> String {
        t.to_string()
    }
}

impl fmt::Display for ReminderTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_zero_from_outside_and_read_and_write_as_plain_numbers() {
        assert_eq!(ChatId::try_from(-100_123).map(ChatId::get), Ok(-100_123));
        assert!(ChatId::try_from(0).is_err());
        assert!(UserId::try_from(0).is_err());
        assert_eq!(UserId::try_from(-1001).map(UserId::is_person), Ok(false));
        assert!(BountyId::try_from(0_u64).is_err());
        assert!(BountyId::try_from(-3_i64).is_err());
        assert_eq!(BountyId::try_from(7_i64), Ok(BountyId::new(7)));
        assert_eq!(
            BountyId::try_from(0_u64).unwrap_err().to_string(),
            "0 is not a bounty number"
        );
        // Stored files hold bare numbers, as before the fields were private.
        assert_eq!(serde_json::to_string(&ChatId::new(-42)).unwrap(), "-42");
        assert_eq!(serde_json::from_str::<UserId>("7").unwrap(), UserId::new(7));
        assert_eq!(
            serde_json::from_str::<BountyId>("3").unwrap(),
            BountyId::new(3)
        );
        assert!(serde_json::from_str::<ChatId>("0").is_err());
        assert!(serde_json::from_str::<BountyId>("0").is_err());
        assert_eq!(BountyId::new(3).next(), BountyId::new(4));
        assert_eq!(UserId::new(5).private_chat().private_user(), UserId::new(5));
    }

    #[test]
    #[should_panic(expected = "not a chat id")]
    fn an_id_written_in_the_code_is_checked_too() {
        let _ = ChatId::new(0);
    }

    fn today() -> Date {
        "2026-11-23".parse().unwrap()
    }

    fn d(s: &str) -> String {
        match parse_due(s, today()) {
            DateToken::Date(d) => d.to_string(),
            DateToken::Bad(e) => format!("Bad: {e}"),
            DateToken::NotADate => "NotADate".to_string(),
        }
    }

    #[test]
    fn due_dates_in_every_accepted_form() {
        assert_eq!(d("2026-12-01"), "2026-12-01");
        assert_eq!(d("today"), "2026-11-23");
        assert_eq!(d("Tomorrow"), "2026-11-24");
        assert_eq!(d("+3d"), "2026-11-26");
        assert_eq!(d("+2W"), "2026-12-07");
        assert_eq!(d("+0d"), "2026-11-23");
    }

    #[test]
    fn weekday_names_are_the_next_such_day_never_today() {
        assert_eq!(today().weekday(), Weekday::Monday);
        assert_eq!(d("tuesday"), "2026-11-24");
        assert_eq!(d("Sunday"), "2026-11-29");
        assert_eq!(d("monday"), "2026-11-30", "a week away, not today");
        for short in ["mon", "sun", "sat", "wed", "fri"] {
            assert_eq!(d(short), "NotADate", "{short} is an ordinary word");
        }
    }

    #[test]
    fn dates_outside_the_range_are_refused() {
        for far in [
            "9999-12-31",
            "1999-12-31",
            "2201-01-01",
            "0000-01-01",
            "+99999d",
        ] {
            assert_eq!(
                parse_due(far, today()),
                DateToken::Bad(FieldError::DateOutOfRange(far.to_string())),
                "{far}"
            );
        }
        assert_eq!(
            d("+99999999999999999999999w"),
            "Bad: \"+99999999999999999999999w\" is out of range: due dates must be between 2000-01-01 and 2200-12-31"
        );
        assert_eq!(d("2000-01-01"), "2000-01-01");
        assert_eq!(d("2200-12-31"), "2200-12-31");
        let late = "2200-12-30".parse().unwrap();
        assert_eq!(
            parse_due("tomorrow", late),
            DateToken::Date(DueDate(LAST_DUE))
        );
        assert!(matches!(parse_due("+2d", late), DateToken::Bad(_)));
        assert!(matches!(parse_due("friday", late), DateToken::Bad(_)));
    }

    #[test]
    fn dates_in_other_formats_are_bad_and_ordinary_words_are_not_dates() {
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "05/01/2026",
            "2026/12/01",
            "2026-5-1",
        ] {
            assert_eq!(
                parse_due(bad, today()),
                DateToken::Bad(FieldError::BadDate(bad.to_string())),
                "{bad}"
            );
        }
        for word in [
            "fix",
            "v1.2",
            "v2",
            "+",
            "+x",
            "+3m",
            "+5k",
            "+3é",
            "+𐿢",
            "bug#12",
            "2024",
            "1.2.3",
            "2026.5.1",
            "192.168.0.1",
            "555-123-4567",
            "1-2-3",
            "12-34-5678",
            "2026-12/01",
            "2026-12-01-02",
        ] {
            assert_eq!(parse_due(word, today()), DateToken::NotADate, "{word}");
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(BountyText::parse("  hi ").unwrap().as_str(), "hi");
        assert_eq!(BountyText::parse("   "), Err(FieldError::EmptyText));
        assert!(BountyText::parse(&"é".repeat(1000)).is_ok());
        assert_eq!(
            BountyText::parse(&"é".repeat(1001)),
            Err(FieldError::TextTooLong(1001))
        );
    }

    #[test]
    fn quotes_are_cut_to_a_bounded_length() {
        assert_eq!(quoted("abc"), "\"abc\"");
        let long = quoted(&"é".repeat(5000));
        assert_eq!(long, format!("\"{}…\"", "é".repeat(MAX_QUOTE_CHARS)));
        assert_eq!(
            FieldError::BadId("x".repeat(100)).to_string(),
            format!("\"{}…\" is not a bounty number", "x".repeat(40))
        );
    }

    #[test]
    fn links_and_ids() {
        assert!(is_link("https://x.org/a"));
        assert!(is_link("HTTP://x"));
        assert!(!is_link("https://"));
        assert!(!is_link("ftp://x"));
        assert_eq!(parse_id("7"), Ok(BountyId(7)));
        assert!(parse_id("0").is_err());
        assert!(parse_id("abc").is_err());
        assert!(parse_id("-1").is_err());
    }

    #[test]
    fn links_are_found_inside_brackets_and_punctuation() {
        assert_eq!(link_in("https://x.org/a"), Some("https://x.org/a"));
        assert_eq!(link_in("(https://x.org/a),"), Some("https://x.org/a"));
        assert_eq!(link_in("\"https://x.org/a\"."), Some("https://x.org/a"));
        assert_eq!(link_in("[https://x.org/a]"), Some("https://x.org/a"));
        assert_eq!(
            link_in("https://en.wikipedia.org/wiki/Rust_(language)"),
            Some("https://en.wikipedia.org/wiki/Rust_(language)")
        );
        assert_eq!(
            link_in("(https://en.wikipedia.org/wiki/Rust_(language))"),
            Some("https://en.wikipedia.org/wiki/Rust_(language)")
        );
        assert_eq!(link_in("(https://)"), None);
        assert_eq!(link_in("see"), None);
        assert_eq!(link_in("x-https://x.org"), None);
    }

    #[test]
    fn dates_and_timestamps_round_trip() {
        let d: Date = "2026-05-01".parse().unwrap();
        assert_eq!(ts_to_date(date_to_ts(d)), d);
        assert_eq!(date_to_ts(d), 1_777_593_600);
        for edge in [FIRST_DUE, LAST_DUE] {
            let due = DueDate::new(edge, "x").unwrap();
            assert_eq!(ts_to_date(due.timestamp()), edge);
        }
        assert_eq!(
            DueDate::new(LAST_DUE, "x").unwrap().timestamp(),
            7_289_568_000
        );
    }
}
