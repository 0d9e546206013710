//! `study import`: bring a progress file of the old terminal quiz
//! (`~/.honestcam/cam-study-progress.json`) into a study user's progress, then archive
//! the file.
//!
//! The file holds one progress blob (an object with a `"quiz"` key, or any object
//! that is not the map below), or a map of them: an object without a `"quiz"` key
//! whose values are all objects, at least one of them with a `"quiz"` key. From a map
//! the entry named after the study user (its display name, or its id) is taken.
//!
//! The blob is merged into the user's progress by
//! [`crate::domain::quiz::merge_progress`] in one unit of work on the user's progress
//! (the same one the portal's answers take, so an answer given meanwhile is kept):
//! answers the user has are kept when as new or newer, unknown keys are kept. Then the
//! file is moved into `_legacy/{ts}/` beside it. A crash between the two leaves the
//! file in place: a re-run merges nothing more and archives it. A re-run after the
//! archive finds the file gone and an archived copy, and does nothing.
//!
//! Nothing here decides whose user it is: the caller hands in the user and who is
//! asking, and the merge is refused unless that identity may change the user's
//! progress ([`crate::domain::study::access`]), checked within the unit of work.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use statekit::archive::LEGACY_FOLDER;
use statekit::plan::{Mode, Plan};

use crate::domain::quiz::{MergeCounts, QUIZ_KEY, QuizError, merge_progress};
use crate::domain::{Access, Identity, Progress, StudyUser};
use crate::property::Slug;
use crate::storage::{PropertyStore, Storage, StoreError};

/// The largest progress file read (a full bank of answers is a few kilobytes).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Plan line: answers to questions the user has not answered.
pub const ADD_ANSWERS: &str = "add answers";
/// Plan line: answers newer than the user's, which they replace.
pub const REPLACE_ANSWERS: &str = "replace older answers";
/// Plan line: keys of the blob the user's progress lacks.
pub const ADD_KEYS: &str = "add other keys";
/// Plan line: the file moved into `_legacy/{ts}/` beside it.
pub const ARCHIVE: &str = "archive the file";

/// Why a progress file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum StudyImportError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Neither the file nor an archived copy of it exists.
    #[error("no file {path} (and no copy of it archived in {LEGACY_FOLDER}/ beside it)")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Not a regular file (a directory, a symlink, a device...).
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// Larger than [`MAX_FILE_BYTES`].
    #[error("{path} has {size} bytes; a progress file has at most {MAX_FILE_BYTES}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Not JSON.
    #[error("malformed JSON in {path} at line {line}, column {column}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        source: serde_json::Error,
    },
    /// JSON, but not an object.
    #[error("{path} holds no progress: expected a JSON object")]
    NotAnObject {
        /// The file.
        path: PathBuf,
    },
    /// A map of blobs without the user's entry.
    #[error("{path} holds progress for {}, not for {user}: name one of them with --user", keys.join(", "))]
    NoEntry {
        /// The file.
        path: PathBuf,
        /// The user asked for.
        user: String,
        /// The first few entries it has.
        keys: Vec<String>,
    },
    /// The blob's quiz entry is not in the quiz's shape.
    #[error("the progress in {path} cannot be merged")]
    Quiz {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: QuizError,
    },
    /// The caller may not change this user's progress.
    #[error("{who} may not change the progress of study user {user}")]
    NotYours {
        /// The caller.
        who: String,
        /// The user.
        user: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Moving the file into the archive failed (its progress was merged: a re-run
    /// archives it).
    #[error(transparent)]
    Archive(#[from] statekit::archive::ArchiveError),
}

/// What is imported: the file, and the user it goes to.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The progress file.
    pub file: &'a Path,
    /// The property.
    pub slug: &'a Slug,
    /// Who is asking.
    pub who: &'a Identity,
    /// The study user; `None` in a dry run for a user not created yet (`name` is the
    /// name it will have).
    pub user: Option<&'a StudyUser>,
    /// The user's display name, as asked for.
    pub name: &'a str,
}

/// Reads the progress file at `path` for the user named `names` (display name, id):
/// `Ok(None)` when it is gone and an archived copy of it is beside it (the import was
/// done), with that copy.
pub fn read_file(
    path: &Path,
    names: &[&str],
) -> Result<Result<Progress, PathBuf>, StudyImportError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match archived_copy(path) {
                Some(copy) => Ok(Err(copy)),
                None => Err(StudyImportError::Missing {
                    path: path.to_path_buf(),
                }),
            };
        }
        Err(source) => {
            return Err(StudyImportError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !meta.is_file() {
        return Err(StudyImportError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(StudyImportError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    let read_err = |source| StudyImportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read_err)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(StudyImportError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
        });
    }
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|source| StudyImportError::Malformed {
            path: path.to_path_buf(),
            line: source.line(),
            column: source.column(),
            source,
        })?;
    let Value::Object(top) = value else {
        return Err(StudyImportError::NotAnObject {
            path: path.to_path_buf(),
        });
    };
    let blob = pick_blob(path, top, names)?;
    // Checked now, before anything is created for it.
    merge_progress(&mut Progress::new(), &blob).map_err(|source| StudyImportError::Quiz {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Ok(blob))
}

/// The blob in `top`: itself, or its entry named one of `names` when it is a map of
/// blobs (see the module's doc).
fn pick_blob(
    path: &Path,
    mut top: Map<String, Value>,
    names: &[&str],
) -> Result<Progress, StudyImportError> {
    let is_map = !top.contains_key(QUIZ_KEY)
        && !top.is_empty()
        && top.values().all(Value::is_object)
        && top
            .values()
            .any(|v| v.as_object().is_some_and(|o| o.contains_key(QUIZ_KEY)));
    if !is_map {
        return Ok(top);
    }
    for name in names {
        if let Some(Value::Object(blob)) = top.remove(*name) {
            return Ok(blob);
        }
    }
    Err(StudyImportError::NoEntry {
        path: path.to_path_buf(),
        user: names.first().copied().unwrap_or("").to_string(),
        keys: top.keys().take(10).cloned().collect(),
    })
}

/// The newest `_legacy/*/{name}` beside `path`, if any.
fn archived_copy(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let base = path.parent()?.join(LEGACY_FOLDER);
    let mut copies: Vec<PathBuf> = std::fs::read_dir(base)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join(name))
        .filter(|p| p.is_file())
        .collect();
    copies.sort();
    copies.pop()
}

/// Imports `incoming`, read from `target.file` by [`read_file`], into `target.user`'s
/// progress (`mode`: only report, or do it and archive the file) and returns the plan.
pub fn import(
    storage: &Storage,
    target: Target<'_>,
    incoming: Result<Progress, PathBuf>,
    mode: Mode,
) -> Result<Plan, StudyImportError> {
    let title = format!(
        "study import {} into {} of {}",
        target.file.display(),
        target.name,
        target.slug
    );
    let mut plan = Plan::new(title, mode);
    let incoming = match incoming {
        Ok(blob) => blob,
        Err(copy) => {
            for line in [ADD_ANSWERS, REPLACE_ANSWERS, ADD_KEYS, ARCHIVE] {
                plan.push(line, 0);
            }
            plan.note(format!("already imported: archived as {}", copy.display()));
            return Ok(plan);
        }
    };
    let quiz_err = |source| StudyImportError::Quiz {
        path: target.file.to_path_buf(),
        source,
    };
    let counts = match (mode, target.user) {
        (Mode::Execute, Some(user)) => {
            let store = storage.write(target.slug)?;
            check_owner(&store, &target, user)?;
            let merged = store.update_progress(&user.user_id, move |blob| {
                let mut merged = blob.clone();
                let counts = merge_progress(&mut merged, &incoming).map_err(Stop::Quiz)?;
                if !counts.changes() {
                    // Nothing to save: the blob stays as it is, byte for byte.
                    return Err(Stop::Unchanged(counts));
                }
                *blob = merged;
                Ok(counts)
            })?;
            match merged {
                Ok(counts) | Err(Stop::Unchanged(counts)) => counts,
                Err(Stop::Quiz(e)) => return Err(quiz_err(e)),
            }
        }
        (_, user) => {
            let mut stored = match user {
                Some(user) => {
                    let store = storage.read(target.slug)?;
                    check_owner(&store, &target, user)?;
                    store.progress(&user.user_id)?
                }
                None => None,
            }
            .unwrap_or_default();
            merge_progress(&mut stored, &incoming).map_err(quiz_err)?
        }
    };
    report(&mut plan, counts);
    plan.push(ARCHIVE, 1);
    if mode.is_execute() {
        let name = target.file.file_name().map(PathBuf::from);
        let dir = target.file.parent().filter(|d| !d.as_os_str().is_empty());
        let (dir, name) = match (dir, name) {
            (Some(dir), Some(name)) => (dir.to_path_buf(), name),
            (None, Some(name)) => (PathBuf::from("."), name),
            _ => {
                return Err(StudyImportError::NotAFile {
                    path: target.file.to_path_buf(),
                });
            }
        };
        let archive = statekit::archive::archive_legacy(&dir, &[name])?;
        plan.note(format!("archived to {}", archive.display()));
    }
    Ok(plan)
}

/// Checks, within `store`, that `target.who` may change `user`'s progress: the
/// owner's (an editor's or admin's) own user only.
fn check_owner(
    store: &PropertyStore<'_>,
    target: &Target<'_>,
    user: &StudyUser,
) -> Result<(), StudyImportError> {
    let found = store.user(&user.user_id)?;
    if found.as_ref().map(|u| u.access(target.who)) == Some(Access::Write) {
        Ok(())
    } else {
        Err(StudyImportError::NotYours {
            who: target.who.name.clone(),
            user: user.user_id.to_string(),
        })
    }
}

/// Why the unit of work on the progress saved nothing.
enum Stop {
    /// The merge found nothing to change.
    Unchanged(MergeCounts),
    /// The blob cannot be merged.
    Quiz(QuizError),
}

fn report(plan: &mut Plan, counts: MergeCounts) {
    plan.push(ADD_ANSWERS, counts.added);
    plan.push(REPLACE_ANSWERS, counts.replaced);
    plan.push(ADD_KEYS, counts.keys_added);
    if counts.kept > 0 {
        plan.note(format!(
            "kept the user's answer to {} questions (as new as the file's, or newer)",
            counts.kept
        ));
    }
    if counts.skipped > 0 {
        plan.note(format!(
            "left out {} of the file's answers (questions no longer in the bank, or choices they do not have)",
            counts.skipped
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pick(v: Value, names: &[&str]) -> Result<Progress, StudyImportError> {
        let Value::Object(top) = v else { panic!() };
        pick_blob(Path::new("p.json"), top, names)
    }

    #[test]
    fn a_file_is_one_blob_unless_it_is_a_map_of_blobs() {
        let blob = json!({"quiz": {"answers": {}}, "kim": {"quiz": {}}});
        assert_eq!(Value::Object(pick(blob.clone(), &["kim"]).unwrap()), blob);
        // Objects, none with a quiz: a blob with keys of its own.
        let settings = json!({"settings": {"theme": "dark"}});
        assert_eq!(
            Value::Object(pick(settings.clone(), &["x"]).unwrap()),
            settings
        );
        // A map: the entry by display name, else by id.
        let map = json!({"Kim": {"quiz": {"answers": {}}, "n": 1}, "u-1": {"n": 2}});
        assert_eq!(pick(map.clone(), &["Kim", "u-1"]).unwrap()["n"], 1);
        assert_eq!(pick(map.clone(), &["Lee", "u-1"]).unwrap()["n"], 2);
        match pick(map, &["Lee"]) {
            Err(StudyImportError::NoEntry { user, keys, .. }) => {
                assert_eq!(user, "Lee");
                assert_eq!(keys, ["Kim", "u-1"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
