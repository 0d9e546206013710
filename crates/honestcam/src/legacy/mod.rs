//! The legacy JSON layout, read and written. Kept for as long as rollback exists.
//!
//! ```text
//! {data}/{slug}/compliance.json                 baseline (read-only input)
//! {data}/{slug}/compliance-log.json             {"events": [...]}
//! {data}/{slug}/study/users.json                [{"user_id", "name", "created_at"}]
//! {data}/{slug}/study/progress/{user_id}.json   any JSON object
//! ```
//!
//! Every write goes through `statekit::json` (atomic replace); every read error names
//! the file and, for malformed JSON, the line and column.

mod scan;

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use statekit::json::{JsonError, is_temp_file, read_json, write_json_atomic};

use crate::compliance::model::{Baseline, ComplianceLog, LegacyLog};

use crate::property::PropertyPaths;
use crate::study::{Progress, StudyUser, UserId};
pub use scan::{Scan, scan_log};

/// Why legacy files could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// Reading, parsing or writing a file failed.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// A required file is missing.
    #[error("missing {0}")]
    Missing(PathBuf),
    /// A progress file is named after an invalid user id.
    #[error("progress file {path} is not named after a valid user id: {reason}")]
    BadProgressName {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Listing a directory failed.
    #[error("cannot list {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The baseline (`compliance.json`); an error if missing.
pub fn read_baseline(p: &PropertyPaths) -> Result<Baseline, LegacyError> {
    read_json(&p.baseline())?.ok_or_else(|| LegacyError::Missing(p.baseline()))
}

/// The legacy log, if the file exists.
pub fn read_log(p: &PropertyPaths) -> Result<Option<LegacyLog>, LegacyError> {
    let mut events = Vec::new();
    Ok(
        match scan_log(p, |e| {
            events.push(e.into_owned());
            ControlFlow::Continue(())
        })? {
            Scan::NoFile => None,
            Scan::Done | Scan::Stopped => Some(LegacyLog { events }),
        },
    )
}

/// Replaces the legacy log (every event keeps its id).
pub fn write_log(p: &PropertyPaths, log: &ComplianceLog) -> Result<(), LegacyError> {
    Ok(write_json_atomic(&p.legacy_log(), log)?)
}

/// The legacy users, if the file exists.
pub fn read_users(p: &PropertyPaths) -> Result<Option<Vec<StudyUser>>, LegacyError> {
    Ok(read_json(&p.legacy_users())?)
}

/// Replaces the legacy users file.
pub fn write_users(p: &PropertyPaths, users: &[StudyUser]) -> Result<(), LegacyError> {
    Ok(write_json_atomic(&p.legacy_users(), users)?)
}

/// The path of `user`'s legacy progress file.
pub fn progress_path(p: &PropertyPaths, user: &UserId) -> PathBuf {
    p.legacy_progress_dir().join(format!("{user}.json"))
}

/// `user`'s legacy progress, if the file exists.
pub fn read_progress(p: &PropertyPaths, user: &UserId) -> Result<Option<Progress>, LegacyError> {
    Ok(read_json(&progress_path(p, user))?)
}

/// Replaces `user`'s legacy progress file.
pub fn write_progress(
    p: &PropertyPaths,
    user: &UserId,
    progress: &Progress,
) -> Result<(), LegacyError> {
    Ok(write_json_atomic(&progress_path(p, user), progress)?)
}

/// Every legacy progress file, by user id, sorted; temp files are skipped.
pub fn progress_files(p: &PropertyPaths) -> Result<Vec<(UserId, PathBuf)>, LegacyError> {
    let dir = p.legacy_progress_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(LegacyError::Io { path: dir, source }),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LegacyError::Io {
            path: dir.clone(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_temp_file(&name) {
            continue;
        }
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let path = entry.path();
        let user = UserId::parse(stem).map_err(|e| LegacyError::BadProgressName {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        out.push((user, path));
    }
    out.sort();
    Ok(out)
}

/// Every progress file's content, by user id.
pub fn read_all_progress(p: &PropertyPaths) -> Result<Vec<(UserId, Progress)>, LegacyError> {
    let mut out = Vec::new();
    for (user, path) in progress_files(p)? {
        if let Some(progress) = read_json::<Progress>(&path)? {
            out.push((user, progress));
        }
    }
    Ok(out)
}

/// Paths (relative to the property dir) of the mutable legacy files present: what an
/// import archives. The baseline is not among them.
pub fn mutable_files(p: &PropertyPaths) -> Result<Vec<PathBuf>, LegacyError> {
    let mut files = Vec::new();
    let rel = |abs: &Path| {
        abs.strip_prefix(&p.dir)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| abs.to_path_buf())
    };
    for f in [p.legacy_log(), p.legacy_users()] {
        if f.is_file() {
            files.push(rel(&f));
        }
    }
    for (_, path) in progress_files(p)? {
        files.push(rel(&path));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::property::Slug;

    #[test]
    fn malformed_legacy_file_error_names_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = PropertyPaths::new(dir.path(), Slug::parse("x").unwrap());
        fs::create_dir_all(&p.dir).unwrap();
        fs::write(p.legacy_log(), "{\"events\": [\n  {\"action_id\": }\n]}").unwrap();
        let msg = read_log(&p).unwrap_err().to_string();
        assert!(msg.contains("compliance-log.json"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn progress_files_skip_temp_files_and_refuse_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = PropertyPaths::new(dir.path(), Slug::parse("x").unwrap());
        fs::create_dir_all(p.legacy_progress_dir()).unwrap();
        fs::write(p.legacy_progress_dir().join("u1.json"), "{}").unwrap();
        fs::write(p.legacy_progress_dir().join(".u2.json.tmp-1-0"), "{").unwrap();
        let files = progress_files(&p).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0.as_str(), "u1");
        fs::write(p.legacy_progress_dir().join("bad name.json"), "{}").unwrap();
        assert!(matches!(
            progress_files(&p),
            Err(LegacyError::BadProgressName { .. })
        ));
    }
}
