//! Property slugs and where a property's files live.
//!
//! A [`Slug`] is the only way to name a property: it is parsed once at the edge (CLI
//! argument, URL segment) and can then be joined to a path safely, because it matches
//! `^[a-z0-9][a-z0-9-]{0,62}$` (no dots, no slashes, never empty).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a text is not a valid slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid property slug {0:?}: use 1-63 lowercase letters, digits or '-', starting with a letter or digit"
)]
pub struct SlugError(pub String);

/// A validated property name, safe to use as a directory name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    /// Parses `s`, refusing anything but `^[a-z0-9][a-z0-9-]{0,62}$`.
    pub fn parse(s: &str) -> Result<Slug, SlugError> {
        let bytes = s.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 63
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if ok {
            Ok(Slug(s.to_string()))
        } else {
            Err(SlugError(s.to_string()))
        }
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Slug {
    type Err = SlugError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Slug::parse(s)
    }
}

impl TryFrom<String> for Slug {
    type Error = SlugError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Slug::parse(&s)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> String {
        s.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where one property's files live, relative to the data dir.
#[derive(Debug, Clone)]
pub struct PropertyPaths {
    /// The property's slug.
    pub slug: Slug,
    /// `{data}/{slug}`.
    pub dir: PathBuf,
}

/// File name of the per-property database.
pub const PROPERTY_DB: &str = "honestcam.db";
/// Baseline actions from ingest (read-only input).
pub const BASELINE_FILE: &str = "compliance.json";
/// Legacy compliance event log.
pub const LEGACY_LOG_FILE: &str = "compliance-log.json";
/// Legacy study users, relative to the property dir.
pub const LEGACY_USERS_FILE: &str = "study/users.json";
/// Legacy per-user progress folder, relative to the property dir.
pub const LEGACY_PROGRESS_DIR: &str = "study/progress";

impl PropertyPaths {
    /// Paths of `slug` under `data_dir`.
    pub fn new(data_dir: &Path, slug: Slug) -> PropertyPaths {
        let dir = data_dir.join(slug.as_str());
        PropertyPaths { slug, dir }
    }

    /// Whether the folder holds property data (a baseline, a database or legacy
    /// files): a folder with nothing else (say, only lock files) is no property.
    pub fn holds_data(&self) -> bool {
        self.baseline().exists()
            || self.db().exists()
            || self.legacy_log().exists()
            || self.legacy_users().exists()
    }

    /// `{dir}/honestcam.db`.
    pub fn db(&self) -> PathBuf {
        self.dir.join(PROPERTY_DB)
    }

    /// `{dir}/compliance.json`.
    pub fn baseline(&self) -> PathBuf {
        self.dir.join(BASELINE_FILE)
    }

    /// `{dir}/compliance-log.json`.
    pub fn legacy_log(&self) -> PathBuf {
        self.dir.join(LEGACY_LOG_FILE)
    }

    /// `{dir}/study/users.json`.
    pub fn legacy_users(&self) -> PathBuf {
        self.dir.join(LEGACY_USERS_FILE)
    }

    /// `{dir}/study/progress`.
    pub fn legacy_progress_dir(&self) -> PathBuf {
        self.dir.join(LEGACY_PROGRESS_DIR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_slugs() {
        for ok in ["bamboo-house", "a", "0", "x-1-2", &"a".repeat(63)] {
            assert_eq!(Slug::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_paths_and_odd_text() {
        for bad in [
            "",
            "../x",
            "a/b",
            ".",
            "..",
            "-lead",
            "Caps",
            "a b",
            "a.b",
            "é",
            "a\0",
            &"a".repeat(64),
        ] {
            let err = Slug::parse(bad).unwrap_err();
            assert!(err.to_string().contains("invalid property slug"), "{bad}");
        }
    }

    #[test]
    fn deserialising_validates_too() {
        assert!(serde_json::from_str::<Slug>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<Slug>("\"../etc\"").is_err());
    }
}
