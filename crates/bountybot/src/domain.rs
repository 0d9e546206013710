//! The bot's vocabulary, parsed once at the edge: chat and user ids, bounty ids,
//! bounty text, links and due dates.

use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// A Telegram chat id: negative for groups and supergroups, positive for a private
/// chat (where it equals the user's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChatId(pub i64);

impl ChatId {
    /// True for groups and supergroups.
    pub fn is_group(self) -> bool {
        self.0 < 0
    }
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A Telegram user id (positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A bounty's number within its chat: 1, 2, 3... never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BountyId(pub u64);

impl fmt::Display for BountyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Longest bounty text, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// Why a bounty field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Empty text.
    #[error("the bounty needs a description")]
    EmptyText,
    /// Text over [`MAX_TEXT_CHARS`].
    #[error("the description is {0} characters; the limit is 1000")]
    TextTooLong(usize),
    /// Not a date the bot understands.
    #[error("{} is not a date: use YYYY-MM-DD, today, tomorrow, +3d or +2w", quoted(.0))]
    BadDate(String),
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

/// Parses a bounty number.
pub fn parse_id(s: &str) -> Result<BountyId, FieldError> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(BountyId(n)),
        _ => Err(FieldError::BadId(s.to_string())),
    }
}

/// What a token says about a due date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateToken {
    /// A valid date.
    Date(Date),
    /// Looks like an attempt at a date but is not one the bot accepts.
    Bad,
    /// Not a date at all (ordinary text).
    NotADate,
}

/// Reads `token` as a due date relative to `today`: `YYYY-MM-DD`, `today`,
/// `tomorrow`, `+Nd`, `+Nw`.
pub fn parse_due(token: &str, today: Date) -> DateToken {
    let t = token.to_ascii_lowercase();
    match t.as_str() {
        "today" => return DateToken::Date(today),
        "tomorrow" => return today.tomorrow().map_or(DateToken::Bad, DateToken::Date),
        _ => {}
    }
    if let Some(rest) = t.strip_prefix('+') {
        let mut chars = rest.chars();
        let unit = chars.next_back();
        let num = chars.as_str();
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return if rest.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
                DateToken::Bad
            } else {
                DateToken::NotADate
            };
        }
        let Ok(n) = num.parse::<i64>() else {
            return DateToken::Bad;
        };
        let days = match unit {
            Some('d') => n,
            Some('w') => n.saturating_mul(7),
            _ => return DateToken::Bad,
        };
        if days > 36_600 {
            return DateToken::Bad;
        }
        return today
            .checked_add(jiff::Span::new().days(days))
            .map_or(DateToken::Bad, DateToken::Date);
    }
    let b = t.as_bytes();
    let is_iso_shape = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    if is_iso_shape {
        return t.parse::<Date>().map_or(DateToken::Bad, DateToken::Date);
    }
    // Digits with date-like separators (05/01/2026, 2026.5.1, 2026-5-1): a date in the
    // wrong format, which deserves a reason rather than silently becoming text.
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let seps = b.iter().filter(|c| matches!(c, b'-' | b'/' | b'.')).count();
    if digits >= 3 && seps >= 2 && digits + seps == b.len() && b[0].is_ascii_digit() {
        return DateToken::Bad;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        "2026-11-23".parse().unwrap()
    }

    #[test]
    fn due_dates_in_every_accepted_form() {
        let d = |s: &str| match parse_due(s, today()) {
            DateToken::Date(d) => d.to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(d("2026-12-01"), "2026-12-01");
        assert_eq!(d("today"), "2026-11-23");
        assert_eq!(d("Tomorrow"), "2026-11-24");
        assert_eq!(d("+3d"), "2026-11-26");
        assert_eq!(d("+2w"), "2026-12-07");
    }

    #[test]
    fn near_misses_are_bad_and_words_are_not_dates() {
        assert_eq!(
            parse_due("+3é", today()),
            DateToken::Bad,
            "multi-byte unit must not panic"
        );
        assert_eq!(parse_due("+𐿢", today()), DateToken::NotADate);
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "05/01/2026",
            "2026.5.1",
            "+3m",
            "+99999999999d",
            "1-2-3",
        ] {
            assert_eq!(parse_due(bad, today()), DateToken::Bad, "{bad}");
        }
        for word in ["fix", "v1.2", "+", "+x", "bug#12", "2026"] {
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
    fn dates_and_timestamps_round_trip() {
        let d: Date = "2026-05-01".parse().unwrap();
        assert_eq!(ts_to_date(date_to_ts(d)), d);
        assert_eq!(date_to_ts(d), 1_777_593_600);
    }
}
