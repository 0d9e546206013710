//! A snapshot's manifest, checked: each entry of `manifest.json` turned once into a
//! typed [`SnapshotFile`] (the study database, or one property's database) whose paths
//! are built from the type, never from the manifest's text.
//!
//! A snapshot folder may sit on a USB disk or another machine: whoever can write there
//! can write its manifest. So the manifest is input like a request: its size, its
//! number of entries, each entry's path, property, size and SHA-256 are bounded and
//! checked, and one bad entry refuses the whole snapshot before anything is read from
//! it or written anywhere. The only paths a snapshot can hold are
//! `honestcam-study.db` (no property) and `{slug}/honestcam.db` (property `slug`).
//!
//! This module owns the manifest as written ([`Manifest`]), its checks and the typed
//! values; reading the files and copying them is [`crate::ops::backup`]'s.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{DataDir, STUDY_DB};
use crate::property::{PROPERTY_DB, Slug, SlugError};

/// Most bytes a `manifest.json` may hold (a manifest of [`MAX_ENTRIES`] entries is far
/// smaller).
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Most databases a snapshot may hold: this many properties and the study database.
pub const MAX_ENTRIES: usize = 10_001;
/// Most bytes one database of a snapshot may declare (1 TiB).
pub const MAX_DATABASE_BYTES: u64 = 1 << 40;
/// Most bytes of an entry's path shown in an error.
const SHOWN_PATH_BYTES: usize = 100;

/// The manifest's file name in a snapshot.
pub const MANIFEST: &str = "manifest.json";

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// When the snapshot was taken (RFC 3339, UTC).
    pub created_at: String,
    /// Each database, in the snapshot's folder.
    pub databases: Vec<Entry>,
    /// Properties not in the snapshot, with why (on the legacy JSON files).
    #[serde(default)]
    pub skipped: Vec<String>,
}

/// One database of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its path, relative to the snapshot (and to the data dir it came from).
    pub path: String,
    /// The property, or none for the global study database.
    pub property: Option<Slug>,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// Compliance events (property databases).
    pub events: Option<u64>,
    /// The last event's id (property databases with events).
    pub last_event_id: Option<String>,
}

/// A database a snapshot can hold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SnapshotFile {
    /// The study database, `honestcam-study.db`.
    Study,
    /// A property's database, `{slug}/honestcam.db`.
    Property(Slug),
}

impl SnapshotFile {
    /// The path relative to a snapshot (and to a data dir), built from the type.
    pub fn rel_path(&self) -> PathBuf {
        match self {
            SnapshotFile::Study => PathBuf::from(STUDY_DB),
            SnapshotFile::Property(slug) => Path::new(slug.as_str()).join(PROPERTY_DB),
        }
    }

    /// The file in the snapshot folder `dir`.
    pub fn in_snapshot(&self, dir: &Path) -> PathBuf {
        dir.join(self.rel_path())
    }

    /// Where the file goes in the data dir `data`.
    pub fn in_data(&self, data: &DataDir) -> PathBuf {
        match self {
            SnapshotFile::Study => data.study_db(),
            SnapshotFile::Property(slug) => data.property(slug).db(),
        }
    }

    /// The property, or none for the study database.
    pub fn property(&self) -> Option<&Slug> {
        match self {
            SnapshotFile::Study => None,
            SnapshotFile::Property(slug) => Some(slug),
        }
    }

    /// Parses an entry's `path` and `property`: the study database (no property) or
    /// `{slug}/honestcam.db` with `slug` the entry's property. Nothing else.
    pub fn parse(path: &str, property: Option<&Slug>) -> Result<SnapshotFile, EntryError> {
        if path.is_empty() {
            return Err(EntryError::EmptyPath);
        }
        if path.len() > SHOWN_PATH_BYTES {
            return Err(EntryError::LongPath);
        }
        if path.contains('\\') {
            return Err(EntryError::Backslash);
        }
        if path.starts_with('/') {
            return Err(EntryError::Absolute);
        }
        let parts: Vec<&str> = path.split('/').collect();
        if parts.iter().any(|p| *p == "." || *p == "..") {
            return Err(EntryError::DotComponent);
        }
        match (parts.as_slice(), property) {
            ([name], None) if *name == STUDY_DB => Ok(SnapshotFile::Study),
            ([name], Some(_)) if *name == STUDY_DB => Err(EntryError::StudyWithProperty),
            ([dir, name], property) if *name == PROPERTY_DB => {
                let slug = Slug::parse(dir).map_err(EntryError::BadSlug)?;
                match property {
                    Some(p) if *p == slug => Ok(SnapshotFile::Property(slug)),
                    other => Err(EntryError::PropertyMismatch {
                        slug,
                        property: other.cloned(),
                    }),
                }
            }
            _ => Err(EntryError::NotADatabase),
        }
    }
}

/// One checked database of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// Which database.
    pub file: SnapshotFile,
    /// Its size in bytes, at most [`MAX_DATABASE_BYTES`].
    pub bytes: u64,
    /// Its SHA-256, 64 lowercase hex digits.
    pub sha256: String,
    /// Compliance events (property databases).
    pub events: Option<u64>,
}

impl SnapshotEntry {
    /// Checks one entry of a manifest.
    pub fn parse(entry: &Entry) -> Result<SnapshotEntry, EntryError> {
        let file = SnapshotFile::parse(&entry.path, entry.property.as_ref())?;
        if entry.bytes > MAX_DATABASE_BYTES {
            return Err(EntryError::TooLarge(entry.bytes));
        }
        let hex = entry.sha256.as_bytes();
        if hex.len() != 64 || !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(EntryError::BadSha256);
        }
        Ok(SnapshotEntry {
            file,
            bytes: entry.bytes,
            sha256: entry.sha256.clone(),
            events: entry.events,
        })
    }
}

/// A snapshot whose manifest passed every check.
#[derive(Debug, Clone)]
pub struct CheckedSnapshot {
    /// The snapshot folder.
    pub dir: PathBuf,
    /// When it was taken, as the manifest says.
    pub created_at: String,
    /// Its databases, each path unique, at most one study database.
    pub entries: Vec<SnapshotEntry>,
    /// Properties not in the snapshot, with why.
    pub skipped: Vec<String>,
}

impl CheckedSnapshot {
    /// Checks the manifest `manifest` of the snapshot folder `dir`: refuses it whole
    /// on the first bad entry.
    pub fn check(dir: PathBuf, manifest: Manifest) -> Result<CheckedSnapshot, ManifestError> {
        if manifest.databases.len() > MAX_ENTRIES {
            return Err(ManifestError::TooManyEntries(manifest.databases.len()));
        }
        let mut entries: Vec<SnapshotEntry> = Vec::with_capacity(manifest.databases.len());
        let mut seen = std::collections::HashMap::new();
        for (index, e) in manifest.databases.iter().enumerate() {
            let at_fault = |source| ManifestError::Entry {
                number: index + 1,
                path: shown(&e.path),
                source,
            };
            let checked = SnapshotEntry::parse(e).map_err(at_fault)?;
            if let Some(first) = seen.insert(checked.file.clone(), index + 1) {
                return Err(at_fault(EntryError::Duplicate(first)));
            }
            entries.push(checked);
        }
        Ok(CheckedSnapshot {
            dir,
            created_at: manifest.created_at,
            entries,
            skipped: manifest.skipped,
        })
    }
}

/// An entry's path as shown in an error: at most [`SHOWN_PATH_BYTES`] bytes.
fn shown(path: &str) -> String {
    if path.len() <= SHOWN_PATH_BYTES {
        return path.to_string();
    }
    let mut end = SHOWN_PATH_BYTES;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &path[..end])
}

/// Reads a manifest of at most [`MAX_MANIFEST_BYTES`].
pub(crate) fn read_manifest(path: &Path) -> Result<Manifest, ManifestError> {
    let file = std::fs::File::open(path).map_err(ManifestError::Read)?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ManifestError::Read)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge);
    }
    serde_json::from_slice(&bytes).map_err(ManifestError::Malformed)
}

/// Why a manifest is refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// It could not be read.
    #[error("cannot read it")]
    Read(#[source] std::io::Error),
    /// It is larger than any manifest we write.
    #[error("larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge,
    /// It is not a manifest.
    #[error("not a valid manifest")]
    Malformed(#[source] serde_json::Error),
    /// It lists more databases than a snapshot holds.
    #[error("{0} entries, more than the {MAX_ENTRIES} a snapshot may hold")]
    TooManyEntries(usize),
    /// One of its entries is bad.
    #[error("entry {number} (path {path:?})")]
    Entry {
        /// The entry's position, from 1.
        number: usize,
        /// Its path as written (cut short when long).
        path: String,
        /// What is wrong with it.
        source: EntryError,
    },
}

/// Why one entry of a manifest is refused.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The path is empty.
    #[error("the path is empty")]
    EmptyPath,
    /// The path is longer than any the snapshot holds.
    #[error("the path is longer than {SHOWN_PATH_BYTES} bytes")]
    LongPath,
    /// The path holds a backslash.
    #[error("the path holds a backslash")]
    Backslash,
    /// The path is absolute.
    #[error("the path is absolute")]
    Absolute,
    /// The path has a `.` or `..` component.
    #[error("the path has a '.' or '..' component")]
    DotComponent,
    /// The path names no file a snapshot holds.
    #[error("not a database a snapshot holds: expected {STUDY_DB} or {{slug}}/{PROPERTY_DB}")]
    NotADatabase,
    /// The path's folder is no slug.
    #[error("the path's folder is no property: {0}")]
    BadSlug(SlugError),
    /// The path's slug is not the entry's property.
    #[error("the path is property {slug}'s database but the entry's property is {}", .property.as_ref().map_or("none", |p| p.as_str()))]
    PropertyMismatch {
        /// The slug in the path.
        slug: Slug,
        /// The entry's property.
        property: Option<Slug>,
    },
    /// The study database's entry names a property.
    #[error("the study database has no property")]
    StudyWithProperty,
    /// Another entry already names the same database.
    #[error("the same database as entry {0}")]
    Duplicate(usize),
    /// The declared size is beyond any database.
    #[error("declared size {0} bytes is over the {MAX_DATABASE_BYTES} allowed")]
    TooLarge(u64),
    /// The SHA-256 is not 64 lowercase hex digits.
    #[error("the sha256 is not 64 lowercase hex digits")]
    BadSha256,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(s: &str) -> Slug {
        Slug::parse(s).unwrap()
    }

    #[test]
    fn only_the_two_shapes_parse_and_paths_come_from_the_type() {
        assert_eq!(
            SnapshotFile::parse("honestcam-study.db", None).unwrap(),
            SnapshotFile::Study
        );
        let p = SnapshotFile::parse("bamboo/honestcam.db", Some(&slug("bamboo"))).unwrap();
        assert_eq!(p, SnapshotFile::Property(slug("bamboo")));
        assert_eq!(p.rel_path(), Path::new("bamboo").join("honestcam.db"));
        assert_eq!(
            SnapshotFile::Study.rel_path(),
            Path::new("honestcam-study.db")
        );
    }

    #[test]
    fn every_other_path_is_refused_with_its_reason() {
        let b = slug("bamboo");
        let cases: &[(&str, Option<&Slug>, &str)] = &[
            ("", None, "empty"),
            ("../x", None, "'..'"),
            ("./honestcam-study.db", None, "'..'"),
            ("/abs", None, "absolute"),
            ("a/../../x", None, "'..'"),
            ("bamboo\\honestcam.db", Some(&b), "backslash"),
            ("Bad_Slug/honestcam.db", Some(&b), "no property"),
            (
                "harbor/honestcam.db",
                Some(&b),
                "entry's property is bamboo",
            ),
            ("bamboo/honestcam.db", None, "property is none"),
            ("bamboo/other.db", Some(&b), "not a database"),
            ("bamboo/honestcam.db/x", Some(&b), "not a database"),
            ("bamboo//honestcam.db", Some(&b), "not a database"),
            ("honestcam-study.db", Some(&b), "no property"),
            ("passwd", None, "not a database"),
        ];
        for (path, property, why) in cases {
            let err = SnapshotFile::parse(path, *property)
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{path:?}: {err}");
        }
        let long = "a".repeat(10_000);
        assert!(matches!(
            SnapshotFile::parse(&long, None),
            Err(EntryError::LongPath)
        ));
    }

    fn entry(path: &str, property: Option<&str>) -> Entry {
        Entry {
            path: path.into(),
            property: property.map(slug),
            bytes: 10,
            sha256: "ab".repeat(32),
            events: None,
            last_event_id: None,
        }
    }

    fn manifest(databases: Vec<Entry>) -> Manifest {
        Manifest {
            created_at: "2026-12-07T00:00:00Z".into(),
            databases,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn a_manifest_with_duplicates_or_bad_sizes_is_refused_naming_the_entry() {
        // The message as the CLI prints it: with its causes.
        let check = |m| {
            CheckedSnapshot::check(PathBuf::from("s"), m)
                .map(|c| c.entries.len())
                .map_err(|e| {
                    let mut text = e.to_string();
                    let mut cause = std::error::Error::source(&e);
                    while let Some(c) = cause {
                        text.push_str(&format!(": {c}"));
                        cause = c.source();
                    }
                    text
                })
        };
        let good = vec![
            entry("a/honestcam.db", Some("a")),
            entry("honestcam-study.db", None),
        ];
        assert_eq!(check(manifest(good.clone())).unwrap(), 2);
        let mut dup = good.clone();
        dup.push(entry("a/honestcam.db", Some("a")));
        let err = check(manifest(dup)).unwrap_err();
        assert!(
            err.contains("entry 3") && err.contains("as entry 1"),
            "{err}"
        );
        let mut two_studies = good.clone();
        two_studies.push(entry("honestcam-study.db", None));
        let err = check(manifest(two_studies)).unwrap_err();
        assert!(err.contains("as entry 2"), "{err}");
        let mut huge = good.clone();
        huge[0].bytes = u64::MAX;
        let err = check(manifest(huge)).unwrap_err();
        assert!(err.contains("entry 1") && err.contains("over the"), "{err}");
        let mut bad_sha = good.clone();
        bad_sha[1].sha256 = "AB".repeat(32);
        let err = check(manifest(bad_sha)).unwrap_err();
        assert!(err.contains("entry 2") && err.contains("sha256"), "{err}");
        let many = (0..=MAX_ENTRIES)
            .map(|i| entry(&format!("p{i}/honestcam.db"), Some(&format!("p{i}"))))
            .collect();
        assert!(matches!(
            CheckedSnapshot::check(PathBuf::from("s"), manifest(many)),
            Err(ManifestError::TooManyEntries(_))
        ));
    }
}
