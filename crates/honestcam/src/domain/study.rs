//! Study users, who owns them, and their progress.
//!
//! A study user belongs to the identity that created it (its `owner`): only the owner
//! changes its progress (and only as an editor or admin), and only the owner and
//! admins read it. Users from before identities have no owner: admins read them, and
//! nobody changes them through the portal. [`access`] is that rule, in one place.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::account::Identity;
use super::text::{MAX_DISPLAY_NAME_CHARS, TooLong, check};

/// A user's progress: any JSON object, saved whole (last write wins).
pub type Progress = serde_json::Map<String, serde_json::Value>;

/// Why a text is not a user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid user id {0:?}: use 1-64 letters, digits, '-' or '_'")]
pub struct UserIdError(pub String);

/// A study user's id; safe as a file name (`study/progress/{id}.json`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Parses `s`: 1-64 ASCII letters, digits, `-` or `_`.
    pub fn parse(s: &str) -> Result<UserId, UserIdError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(UserId(s.to_string()))
        } else {
            Err(UserIdError(s.to_string()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = UserIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        UserId::parse(&s)
    }
}

impl From<UserId> for String {
    fn from(u: UserId) -> String {
        u.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a text is not a display name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    /// Nothing but whitespace.
    #[error("a display name cannot be empty")]
    Empty,
    /// Longer than [`MAX_DISPLAY_NAME_CHARS`].
    #[error(transparent)]
    TooLong(#[from] TooLong),
}

/// `name` trimmed, if it is a usable new display name: not empty, at most
/// [`MAX_DISPLAY_NAME_CHARS`] characters. Names already stored are kept whatever
/// their length (and shortened where they are shown).
pub fn display_name(name: &str) -> Result<String, DisplayNameError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DisplayNameError::Empty);
    }
    check("a display name", name, MAX_DISPLAY_NAME_CHARS)?;
    Ok(name.to_string())
}

/// A study user of one property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyUser {
    /// Stable id.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// When the user was created (RFC 3339).
    pub created_at: String,
    /// The identity that created it ([`Identity::name`]); `None` for users from before
    /// study identities (legacy users).
    #[serde(default)]
    pub owner: Option<String>,
}

impl StudyUser {
    /// What `who` may do with this user's progress.
    pub fn access(&self, who: &Identity) -> Access {
        access(self.owner.as_deref(), who)
    }
}

/// What a caller may do with a study user's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing; not even learn whether the user exists.
    None,
    /// Read it.
    Read,
    /// Read and change it.
    Write,
}

/// What `who` may do with the progress of a user owned by `owner` (`None`: a legacy
/// user, or an id no user has): the owner writes if an editor (not read-only) and
/// reads otherwise;
/// an admin reads everyone's; nobody else sees anything.
pub fn access(owner: Option<&str>, who: &Identity) -> Access {
    let own = owner == Some(who.name.as_str());
    if own && who.may_write() {
        Access::Write
    } else if own || who.is_admin() {
        Access::Read
    } else {
        Access::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    #[test]
    fn a_display_name_is_trimmed_and_bounded() {
        assert_eq!(display_name("  Kim "), Ok("Kim".to_string()));
        assert_eq!(display_name(" \t"), Err(DisplayNameError::Empty));
        let exactly = "ü".repeat(MAX_DISPLAY_NAME_CHARS);
        assert_eq!(display_name(&exactly), Ok(exactly.clone()));
        assert_eq!(
            display_name(&"x".repeat(5_000)).unwrap_err().to_string(),
            "a display name can have at most 80 characters, this one has 5000"
        );
    }

    #[test]
    fn user_ids_are_safe_file_names() {
        assert!(UserId::parse("u1").is_ok());
        assert!(UserId::parse("user_2-b").is_ok());
        for bad in ["", "../x", "a/b", "a.b", "a b", &"x".repeat(65)] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
    }

    fn who(name: &str, role: Role) -> Identity {
        Identity::new(name, role)
    }

    #[test]
    fn the_owner_writes_an_admin_reads_and_nobody_else_sees() {
        let kim = Some("kim@example.org");
        let cases = [
            (kim, who("kim@example.org", Role::Editor), Access::Write),
            (kim, who("kim@example.org", Role::Admin), Access::Write),
            (kim, who("kim@example.org", Role::Viewer), Access::Read),
            (
                kim,
                Identity {
                    read_only: true,
                    ..who("kim@example.org", Role::Admin)
                },
                Access::Read,
            ),
            (kim, who("lee@example.org", Role::Admin), Access::Read),
            (kim, who("lee@example.org", Role::Editor), Access::None),
            (kim, who("lee@example.org", Role::Viewer), Access::None),
            (kim, who("KIM@example.org", Role::Editor), Access::None),
            // Legacy users (and ids nobody has): admins read, nobody writes.
            (None, who("local", Role::Admin), Access::Read),
            (None, who("kim@example.org", Role::Editor), Access::None),
        ];
        for (owner, caller, expected) in cases {
            assert_eq!(access(owner, &caller), expected, "{owner:?} {caller:?}");
        }
        let user = StudyUser {
            user_id: UserId::parse("u1").unwrap(),
            name: "Kim".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            owner: kim.map(String::from),
        };
        assert_eq!(
            user.access(&who("kim@example.org", Role::Editor)),
            Access::Write
        );
    }
}
