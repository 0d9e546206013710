//! Study users and progress.

use std::fmt;

use serde::{Deserialize, Serialize};

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

/// A study user of one property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyUser {
    /// Stable id.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// When the user was created (RFC 3339).
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_safe_file_names() {
        assert!(UserId::parse("u1").is_ok());
        assert!(UserId::parse("user_2-b").is_ok());
        for bad in ["", "../x", "a/b", "a.b", "a b", &"x".repeat(65)] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
    }
}
