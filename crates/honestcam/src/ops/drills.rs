//! The record of restore drills: what each `backup-verify` found (when, from where,
//! each database's integrity and lag, ok or why not), kept for `doctor`, `/metrics`
//! and the home page's footer for admins.
//!
//! The record is one small JSON file, `{data}/_ops/restore-drills.json`, holding the
//! last [`KEPT`] drills (oldest first), replaced whole through statekit's atomic write
//! under the folder's lock, so two drills at once both land and a reader never sees
//! half a file. It lives beside the databases rather than in one of them: it must
//! stay readable when a database is damaged (which is what a drill may find), and a
//! restore or a rollback of a database never takes the record back in time with it.
//! `_ops` is no slug, so it is never taken for a property, and no backup copies it.
//! A file larger than [`MAX_BYTES`] (not one this module wrote) is refused.

use std::io::Read;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::DataDir;
use crate::ops::backup::Checked;

/// The folder, inside the data dir, of the files operations keep for themselves.
pub const OPS_DIR: &str = "_ops";
/// The record's file name inside [`OPS_DIR`].
pub const DRILLS_FILE: &str = "restore-drills.json";
/// Drills kept: the newest, about a month of daily drills.
pub const KEPT: usize = 30;
/// Databases listed per drill; a drill over more lists the failing ones first, then
/// as many others as fit, and counts them all.
pub const LISTED_DATABASES: usize = 1_000;
/// Most characters of a failed drill's reason kept.
pub const MAX_ERROR_CHARS: usize = 1_000;
/// Largest record file read (the record this module writes stays far below).
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// Why the record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DrillsError {
    /// Its folder could not be locked.
    #[error(transparent)]
    Lock(#[from] statekit::lock::LockError),
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] statekit::json::JsonError),
    /// The file could not be read.
    #[error("cannot read {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_BYTES`].
    #[error("{} is larger than {MAX_BYTES} bytes: not a drill record honestcam wrote; move it away", .0.display())]
    TooLarge(PathBuf),
    /// The file is not a drill record.
    #[error("{} is not a drill record; move it away (the next drill writes a new one)", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: serde_json::Error,
    },
}

/// One database as a drill found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillDatabase {
    /// The property, or none for the study database.
    pub property: Option<String>,
    /// `ok`, or what was wrong (see [`Checked::integrity`]).
    pub integrity: String,
    /// Events the copy lacked.
    pub lag_events: u64,
    /// Age in seconds of the oldest write the copy lacked.
    pub lag_secs: i64,
    /// Whether this database passed.
    pub ok: bool,
}

/// One drill's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drill {
    /// When it ended.
    pub at: jiff::Timestamp,
    /// What was restored: a snapshot folder or a replica URL.
    pub source: String,
    /// Whether every database passed.
    pub ok: bool,
    /// Why not, in a line, when it did not.
    pub error: Option<String>,
    /// Databases checked in all.
    pub checked: usize,
    /// The largest lag in seconds among them.
    pub max_lag_secs: i64,
    /// The databases, failing ones first (at most [`LISTED_DATABASES`]).
    pub databases: Vec<DrillDatabase>,
}

impl Drill {
    /// A drill that restored and compared `rows`: ok when every row is.
    pub fn checked(at: jiff::Timestamp, source: String, rows: &[Checked]) -> Drill {
        let failed = rows.iter().filter(|r| !r.ok).count();
        let mut databases: Vec<DrillDatabase> = rows
            .iter()
            .map(|r| DrillDatabase {
                property: r.property.as_ref().map(ToString::to_string),
                integrity: r.integrity.clone(),
                lag_events: r.lag_events,
                lag_secs: r.lag_secs,
                ok: r.ok,
            })
            .collect();
        databases.sort_by_key(|d| d.ok);
        databases.truncate(LISTED_DATABASES);
        Drill {
            at,
            source,
            ok: failed == 0 && !rows.is_empty(),
            error: match (failed, rows.len()) {
                (_, 0) => Some("the backup held no database".into()),
                (0, _) => None,
                (n, all) => Some(format!(
                    "{n} of {all} databases failed (damaged, missing, or behind)"
                )),
            },
            checked: rows.len(),
            max_lag_secs: rows.iter().map(|r| r.lag_secs).max().unwrap_or(0),
            databases,
        }
    }

    /// A drill that could not restore or compare at all, for `why`.
    pub fn failed(at: jiff::Timestamp, source: String, why: String) -> Drill {
        let mut why = why;
        if let Some((cut, _)) = why.char_indices().nth(MAX_ERROR_CHARS) {
            why.truncate(cut);
            why.push('…');
        }
        Drill {
            at,
            source,
            ok: false,
            error: Some(why),
            checked: 0,
            max_lag_secs: 0,
            databases: Vec::new(),
        }
    }

    /// Seconds from this drill to `now` (0 for a drill in the future).
    pub fn age_secs(&self, now: jiff::Timestamp) -> i64 {
        (now.as_second() - self.at.as_second()).max(0)
    }
}

/// The file as stored: the drills, oldest first.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    drills: Vec<Drill>,
}

fn dir(data: &DataDir) -> PathBuf {
    data.path().join(OPS_DIR)
}

/// The record's path in `data`.
pub fn path(data: &DataDir) -> PathBuf {
    dir(data).join(DRILLS_FILE)
}

/// Adds `drill` to the record of `data`, keeping the newest [`KEPT`]. A record that
/// cannot be read is replaced (it is said on stderr by the caller's log): the new
/// drill matters more than an unreadable history.
pub fn record(data: &DataDir, drill: Drill) -> Result<(), DrillsError> {
    let folder = dir(data);
    statekit::fs::create_private_dir_all(&folder).map_err(|source| DrillsError::Read {
        path: folder.clone(),
        source,
    })?;
    let _lock = statekit::lock::DirLock::acquire(&folder)?;
    let mut drills = match read(data) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(
                "replacing the unreadable drill record: {}",
                statekit::error::Chain(&e)
            );
            Vec::new()
        }
    };
    drills.push(drill);
    let excess = drills.len().saturating_sub(KEPT);
    drills.drain(..excess);
    statekit::json::write_json_atomic(&path(data), &Stored { drills })?;
    Ok(())
}

/// Every drill recorded in `data`, oldest first; none when there is no record.
pub fn read(data: &DataDir) -> Result<Vec<Drill>, DrillsError> {
    let file = path(data);
    let read_err = |source| DrillsError::Read {
        path: file.clone(),
        source,
    };
    let f = match std::fs::File::open(&file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut bytes = Vec::new();
    f.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(DrillsError::TooLarge(file));
    }
    let stored: Stored =
        serde_json::from_slice(&bytes).map_err(|source| DrillsError::Malformed {
            path: file.clone(),
            source,
        })?;
    Ok(stored.drills)
}

/// The newest drill recorded in `data`, if any.
pub fn last(data: &DataDir) -> Result<Option<Drill>, DrillsError> {
    Ok(read(data)?.into_iter().max_by_key(|d| d.at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill(at: i64, ok: bool) -> Drill {
        let at = jiff::Timestamp::from_second(at).unwrap();
        if ok {
            Drill::checked(at, "/backups".into(), &[])
        } else {
            Drill::failed(at, "/backups".into(), "no snapshot".into())
        }
    }

    #[test]
    fn keeps_the_newest_drills_up_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        assert!(read(&data).unwrap().is_empty());
        assert_eq!(last(&data).unwrap(), None);
        for i in 0..(KEPT as i64 + 5) {
            record(&data, drill(1_700_000_000 + i, false)).unwrap();
        }
        let drills = read(&data).unwrap();
        assert_eq!(drills.len(), KEPT);
        assert_eq!(drills[0].at.as_second(), 1_700_000_005, "the oldest went");
        let newest = last(&data).unwrap().unwrap();
        assert_eq!(newest.at.as_second(), 1_700_000_000 + KEPT as i64 + 4);
        assert_eq!(newest.error.as_deref(), Some("no snapshot"));
        assert!(data.properties().unwrap().is_empty(), "_ops is no property");
    }

    /// Drills recorded at the same moment (two `backup-verify` runs, say) each keep
    /// their record: the folder's lock serialises the read-modify-write.
    #[test]
    fn drills_recorded_at_once_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        std::thread::scope(|s| {
            for t in 0..6_i64 {
                let data = &data;
                s.spawn(move || {
                    for i in 0..4 {
                        record(data, drill(1_700_000_000 + t * 10 + i, false)).unwrap();
                    }
                });
            }
        });
        let mut at: Vec<i64> = read(&data)
            .unwrap()
            .iter()
            .map(|d| d.at.as_second())
            .collect();
        at.sort_unstable();
        let want: Vec<i64> = (0..6)
            .flat_map(|t| (0..4).map(move |i| 1_700_000_000 + t * 10 + i))
            .collect();
        assert_eq!(at, want, "every drill once");
    }

    #[test]
    fn a_drill_that_checked_nothing_is_no_success() {
        let d = drill(1_700_000_000, true);
        assert!(!d.ok);
        assert_eq!(d.error.as_deref(), Some("the backup held no database"));
    }

    #[test]
    fn a_foreign_or_huge_file_is_refused_and_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        statekit::json::write_bytes_atomic(&path(&data), b"[1, 2").unwrap();
        let err = read(&data).unwrap_err();
        assert!(err.to_string().contains("not a drill record"), "{err}");
        record(&data, drill(1_700_000_000, false)).unwrap();
        assert_eq!(read(&data).unwrap().len(), 1);

        let huge = vec![b' '; MAX_BYTES as usize + 1];
        statekit::json::write_bytes_atomic(&path(&data), &huge).unwrap();
        assert!(matches!(read(&data), Err(DrillsError::TooLarge(_))));
    }
}
