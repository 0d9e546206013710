//! Bounds on free text: the most characters each field a person or a script can set
//! may have, the check that refuses a new value beyond its bound, and the shortening
//! of values already stored beyond it (imported legacy events, old rows) for
//! display. What is stored is never shortened: the log keeps every value verbatim.
//!
//! ```
//! use honestcam::domain::text::{MAX_ASSIGNEE_CHARS, check, shorten};
//!
//! assert!(check("an assignee", "Kim", MAX_ASSIGNEE_CHARS).is_ok());
//! let long = "x".repeat(5_000);
//! let err = check("an assignee", &long, MAX_ASSIGNEE_CHARS).unwrap_err();
//! assert_eq!(err.to_string(), "an assignee can have at most 200 characters, this one has 5000");
//! assert_eq!(shorten(&long, MAX_ASSIGNEE_CHARS).chars().count(), MAX_ASSIGNEE_CHARS);
//! ```

use std::borrow::Cow;

/// Most characters an action's assignee may have (the edit form's `maxlength`).
pub const MAX_ASSIGNEE_CHARS: usize = 200;

/// Most characters a new note may have (the edit form's `maxlength`).
pub const MAX_NOTE_CHARS: usize = 5_000;

/// Most characters a study user's display name may have (the study page's
/// `maxlength`).
pub const MAX_DISPLAY_NAME_CHARS: usize = 80;

/// Most characters an account name may have (a login or an email address); also
/// the most of an actor's name shown on a page.
pub const MAX_ACCOUNT_NAME_CHARS: usize = 254;

/// Most characters a password may have (set with `honestcam user`); a longer one
/// given at sign-in is a wrong password, refused without hashing it.
pub const MAX_PASSWORD_CHARS: usize = 1_024;

/// Most characters of a search of a property's actions (`?q=`): it is not stored,
/// but the page repeats it in every card's edit form.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Most characters of an actor shown on a page or in an export of actions: an
/// account name (at most [`MAX_ACCOUNT_NAME_CHARS`]) or `token:{name}`.
pub const MAX_ACTOR_SHOWN_CHARS: usize = MAX_ACCOUNT_NAME_CHARS + 16;

/// Added where a value is cut for display.
pub const ELLIPSIS: char = '…';

/// A new value longer than its field's bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} can have at most {max} characters, this one has {len}")]
pub struct TooLong {
    /// The field, with its article, as a sentence names it (`an assignee`).
    pub what: &'static str,
    /// Its bound, in characters.
    pub max: usize,
    /// The characters the value has.
    pub len: usize,
}

/// Checks that `text`, a new value of the field `what` (named with its article, as
/// in `"an assignee"`), has at most `max` characters.
pub fn check(what: &'static str, text: &str, max: usize) -> Result<(), TooLong> {
    if fits(text, max) {
        return Ok(());
    }
    Err(TooLong {
        what,
        max,
        len: text.chars().count(),
    })
}

/// Whether `text` has at most `max` characters (without counting past `max`).
fn fits(text: &str, max: usize) -> bool {
    // A char takes at least one byte: a text of at most `max` bytes fits.
    text.len() <= max || text.char_indices().nth(max).is_none()
}

/// `text` for display: itself if it has at most `max` characters, else its first
/// `max - 1` characters and [`ELLIPSIS`], so that what is shown never has more than
/// `max` characters (but for the ellipsis alone, when `max` is 0).
pub fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    if fits(text, max) {
        return Cow::Borrowed(text);
    }
    let keep = max.saturating_sub(1);
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut short = String::with_capacity(end + ELLIPSIS.len_utf8());
    short.push_str(&text[..end]);
    short.push(ELLIPSIS);
    Cow::Owned(short)
}

/// [`shorten`], owned.
pub fn shortened(text: &str, max: usize) -> String {
    shorten(text, max).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_within_its_bound_passes_and_one_beyond_is_refused_with_its_length() {
        assert_eq!(check("an assignee", "", 3), Ok(()));
        assert_eq!(check("an assignee", "abc", 3), Ok(()));
        // Characters, not bytes: three two-byte letters fit in three.
        assert_eq!(check("an assignee", "äöü", 3), Ok(()));
        let err = check("an assignee", "äöüß", 3).unwrap_err();
        assert_eq!(
            err,
            TooLong {
                what: "an assignee",
                max: 3,
                len: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "an assignee can have at most 3 characters, this one has 4"
        );
    }

    #[test]
    fn a_long_value_is_cut_to_its_bound_with_an_ellipsis_and_a_short_one_is_kept() {
        assert!(matches!(shorten("abc", 3), Cow::Borrowed("abc")));
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("äöüß", 3), "äö…");
        assert_eq!(shorten("abcd", 1), "…");
        assert_eq!(shorten("abcd", 0), "…");
        let long = "x".repeat(2_000_000);
        let short = shorten(&long, MAX_ASSIGNEE_CHARS);
        assert_eq!(short.chars().count(), MAX_ASSIGNEE_CHARS);
        assert!(short.ends_with(ELLIPSIS));
        // Whatever is cut, the result is valid text and within the bound.
        for text in [
            "",
            "a",
            "ab",
            "日本語のテキスト",
            "e\u{301}e\u{301}e\u{301}",
        ] {
            for max in 1..6 {
                let s = shorten(text, max);
                assert!(s.chars().count() <= max, "{text:?} {max}: {s:?}");
                assert!(text.starts_with(s.trim_end_matches(ELLIPSIS)));
            }
        }
    }
}
