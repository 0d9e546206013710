//! The legacy JSON layout, read and written. Kept for as long as rollback exists.
//!
//! ```text
//! {data}/{slug}/compliance.json                 baseline (read-only input)
//! {data}/{slug}/compliance-log.json             {"events": [...]}
//! {data}/{slug}/study/users.json                [{"user_id", "name", "created_at", "owner"?}]
//! {data}/{slug}/study/progress/{user_id}.json   any JSON object
//! ```
//!
//! Every write goes through `statekit::json` (atomic replace); every read error names
//! the file and, for malformed JSON, the line and column.

mod ids;
mod scan;
pub mod wire;

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use statekit::json::{JsonError, is_temp_file, read_json, write_json_atomic};

use crate::domain::{Baseline, BaselineError, Event, Progress, StudyUser, UserId};
use crate::property::PropertyPaths;
use crate::storage::record::EventRecord;
pub use ids::{IdConflict, LegacyIds};
pub use scan::{Scan, scan_log};
pub use wire::{ComplianceLog, LegacyEvent, LegacyEventRef, LegacyLog, LegacyUser};

/// Why legacy files could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// Reading, parsing or writing a file failed.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// A required file is missing.
    #[error("missing {0}")]
    Missing(PathBuf),
    /// The baseline could not be encoded for its copy in the database.
    #[error("cannot encode {path}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The baseline parses but is not usable.
    #[error("invalid {path}")]
    Baseline {
        /// The file.
        path: PathBuf,
        /// The field at fault and why.
        source: BaselineError,
    },
    /// Two events of the log share an id but differ.
    #[error("conflicting events in {path}")]
    IdConflict {
        /// The log.
        path: PathBuf,
        /// The two events.
        source: IdConflict,
    },
    /// A progress file is named after an invalid user id.
    #[error("progress file {path} is not named after a valid user id: {reason}")]
    BadProgressName {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Two study users name the same owner (each identity has one user per property).
    #[error("{path}: study users {first} and {second} both belong to {owner:?}")]
    DuplicateOwner {
        /// The users file.
        path: PathBuf,
        /// The owner.
        owner: String,
        /// The first user.
        first: UserId,
        /// The second user.
        second: UserId,
    },
    /// Listing a directory failed.
    #[error("cannot list {path}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The baseline (`compliance.json`), checked (see [`Baseline::validate`]); an error
/// naming the file if it is missing, malformed or invalid.
pub fn read_baseline(p: &PropertyPaths) -> Result<Baseline, LegacyError> {
    let baseline: Baseline =
        read_json(&p.baseline())?.ok_or_else(|| LegacyError::Missing(p.baseline()))?;
    baseline
        .validate()
        .map_err(|source| LegacyError::Baseline {
            path: p.baseline(),
            source,
        })?;
    Ok(baseline)
}

/// Writes the baseline (for a property created empty by `db-init --create`).
pub fn write_baseline(p: &PropertyPaths, baseline: &Baseline) -> Result<(), LegacyError> {
    Ok(write_json_atomic(&p.baseline(), baseline)?)
}

/// The legacy log as written, if the file exists.
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

/// The log's events with their ids, oldest first, as an import would store them: an
/// event written twice (same id, same content) counts once, and two events sharing an
/// id but differing are an error naming both. Empty when there is no log.
pub fn read_events(p: &PropertyPaths) -> Result<Vec<Event>, LegacyError> {
    let mut events = Vec::new();
    scan_events(p, |_, e, id| {
        events.push(e.into_owned().with_id(id.to_string()));
        ControlFlow::Continue(())
    })?;
    Ok(events)
}

/// At most `limit` of the events [`read_events`] returns, those after position `after`
/// (the first event is at 1), each with its position; reading stops after them, and
/// the events before are parsed but not kept. A log only grows at its end, so a
/// position names the same event for as long as the log exists.
pub fn read_events_page(
    p: &PropertyPaths,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, Event)>, LegacyError> {
    let mut page = Vec::new();
    if limit == 0 {
        return Ok(page);
    }
    scan_events(p, |position, e, id| {
        if position > after {
            page.push((position, e.into_owned().with_id(id.to_string())));
            if page.len() >= limit {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(page)
}

/// How many events [`read_events`] would return: the position of the last one.
pub fn count_events(p: &PropertyPaths) -> Result<u64, LegacyError> {
    let mut count = 0;
    scan_events(p, |position, _, _| {
        count = position;
        ControlFlow::Continue(())
    })?;
    Ok(count)
}

/// Shows `each` every event of the log that is the first with its id, with its
/// position among those (from 1) and its id, until `each` breaks.
fn scan_events(
    p: &PropertyPaths,
    mut each: impl for<'e> FnMut(u64, LegacyEventRef<'e>, &str) -> ControlFlow<()>,
) -> Result<(), LegacyError> {
    let mut ids = LegacyIds::default();
    let mut scratch = EventRecord::default();
    let mut kept = 0;
    let mut conflict = None;
    scan_log(p, |e| match ids.fill(&mut scratch, e.clone()) {
        Ok(true) => {
            kept += 1;
            each(kept, e, &scratch.event_id)
        }
        Ok(false) => ControlFlow::Continue(()),
        Err(c) => {
            conflict = Some(c);
            ControlFlow::Break(())
        }
    })?;
    match conflict {
        Some(source) => Err(LegacyError::IdConflict {
            path: p.legacy_log(),
            source,
        }),
        None => Ok(()),
    }
}

/// Replaces the legacy log with `events` (every event keeps its id).
pub fn write_log(p: &PropertyPaths, events: &[Event]) -> Result<(), LegacyError> {
    #[derive(serde::Serialize)]
    struct Log<'a> {
        events: &'a [Event],
    }
    Ok(write_json_atomic(&p.legacy_log(), &Log { events })?)
}

/// The entries of the users file, if it exists; checked: one user per owner.
fn read_user_entries(p: &PropertyPaths) -> Result<Option<Vec<LegacyUser>>, LegacyError> {
    let entries: Option<Vec<LegacyUser>> = read_json(&p.legacy_users())?;
    if let Some(entries) = &entries {
        let mut owners = std::collections::HashMap::new();
        for e in entries {
            let Some(owner) = e.owner.as_deref() else {
                continue;
            };
            if let Some(first) = owners.insert(owner, &e.user_id) {
                return Err(LegacyError::DuplicateOwner {
                    path: p.legacy_users(),
                    owner: owner.to_string(),
                    first: first.clone(),
                    second: e.user_id.clone(),
                });
            }
        }
    }
    Ok(entries)
}

/// The legacy users, if the file exists (an error if two have one owner).
pub fn read_users(p: &PropertyPaths) -> Result<Option<Vec<StudyUser>>, LegacyError> {
    Ok(read_user_entries(p)?.map(|e| e.into_iter().map(|u| u.split().0).collect()))
}

/// Replaces the legacy users file (with no fields but the known ones).
pub fn write_users(p: &PropertyPaths, users: &[StudyUser]) -> Result<(), LegacyError> {
    let entries: Vec<LegacyUser> = users
        .iter()
        .map(|u| LegacyUser::new(u.clone(), Default::default()))
        .collect();
    Ok(write_json_atomic(&p.legacy_users(), &entries)?)
}

/// Reads the legacy users (none if the file is missing), lets `change` edit them, and
/// writes the file back if they changed, keeping each user's unknown fields. The
/// caller holds the property's exclusive lock, so this is one unit.
pub fn update_users<T>(
    p: &PropertyPaths,
    change: impl FnOnce(&mut Vec<StudyUser>) -> T,
) -> Result<T, LegacyError> {
    let entries = read_user_entries(p)?.unwrap_or_default();
    let (before, mut extras): (Vec<StudyUser>, Vec<_>) = entries
        .into_iter()
        .map(|e| {
            let (user, extra) = e.split();
            let id = user.user_id.clone();
            (user, (id, extra))
        })
        .unzip();
    let mut users = before.clone();
    let out = change(&mut users);
    if users != before {
        let entries: Vec<LegacyUser> = users
            .into_iter()
            .map(|u| {
                let extra = extras
                    .iter_mut()
                    .find(|(id, _)| *id == u.user_id)
                    .map(|(_, extra)| std::mem::take(extra))
                    .unwrap_or_default();
                LegacyUser::new(u, extra)
            })
            .collect();
        write_json_atomic(&p.legacy_users(), &entries)?;
    }
    Ok(out)
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
    fn events_written_twice_count_once_and_a_conflict_names_both() {
        let dir = tempfile::tempdir().unwrap();
        let p = PropertyPaths::new(dir.path(), Slug::parse("x").unwrap());
        fs::create_dir_all(&p.dir).unwrap();
        let ev = |id: &str, status: &str| {
            format!(
                r#"{{"event_id": "{id}", "action_id": "A", "type": "status_changed", "payload": {{"status": "{status}"}}, "actor": "a", "at": "t"}}"#
            )
        };
        let write = |events: &[String]| {
            fs::write(
                p.legacy_log(),
                format!(r#"{{"events": [{}]}}"#, events.join(",")),
            )
            .unwrap()
        };
        write(&[ev("e1", "done"), ev("e2", "open"), ev("e1", "done")]);
        let ids: Vec<_> = read_events(&p)
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(ids, ["e1", "e2"]);
        write(&[ev("e1", "done"), ev("e2", "open"), ev("e1", "blocked")]);
        let msg = statekit::error::Chain(&read_events(&p).unwrap_err()).to_string();
        assert!(msg.contains("compliance-log.json"), "{msg}");
        assert!(msg.contains("event #1 and event #3"), "{msg}");
        assert!(msg.contains("\"e1\""), "{msg}");
    }

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
    fn users_keep_their_unknown_fields_through_an_update_and_owners_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let p = PropertyPaths::new(dir.path(), Slug::parse("x").unwrap());
        fs::create_dir_all(p.legacy_users().parent().unwrap()).unwrap();
        fs::write(
            p.legacy_users(),
            r#"[{"user_id": "u1", "name": "Ann", "created_at": "t1", "team": "north"},
                {"user_id": "u2", "name": "Bo", "created_at": "t2", "owner": "bo", "x": [1]}]"#,
        )
        .unwrap();
        let unchanged = fs::read(p.legacy_users()).unwrap();
        let seen = update_users(&p, |users| users.len()).unwrap();
        assert_eq!(seen, 2);
        assert_eq!(
            fs::read(p.legacy_users()).unwrap(),
            unchanged,
            "not rewritten when nothing changed"
        );
        update_users(&p, |users| {
            users[0].name = "Anne".into();
            users.push(StudyUser {
                user_id: UserId::parse("u3").unwrap(),
                name: "Cy".into(),
                created_at: "t3".into(),
                owner: Some("cy".into()),
            });
        })
        .unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&fs::read(p.legacy_users()).unwrap()).unwrap();
        assert_eq!(
            written,
            serde_json::json!([
                {"user_id": "u1", "name": "Anne", "created_at": "t1", "team": "north"},
                {"user_id": "u2", "name": "Bo", "created_at": "t2", "owner": "bo", "x": [1]},
                {"user_id": "u3", "name": "Cy", "created_at": "t3", "owner": "cy"},
            ])
        );
        let owners: Vec<_> = read_users(&p)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|u| u.owner)
            .collect();
        assert_eq!(owners, [None, Some("bo".into()), Some("cy".into())]);

        fs::write(
            p.legacy_users(),
            r#"[{"user_id": "u1", "name": "A", "created_at": "t", "owner": "bo"},
                {"user_id": "u2", "name": "B", "created_at": "t", "owner": "bo"}]"#,
        )
        .unwrap();
        let msg = read_users(&p).unwrap_err().to_string();
        assert!(
            msg.contains("users.json") && msg.contains("u1 and u2") && msg.contains("\"bo\""),
            "{msg}"
        );
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
