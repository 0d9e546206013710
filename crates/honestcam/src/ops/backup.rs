//! `backup` and `restore` from local snapshots.
//!
//! `backup --to DIR` writes a new `DIR/{UTC timestamp}/` holding a consistent copy of
//! every database (`VACUUM INTO`, each property under its lock held shared, so the
//! portal goes on writing and no command replaces a database meanwhile) and a
//! `manifest.json` with each file's size, SHA-256, event count and last event; older
//! snapshots beyond `--keep` are removed. Each property database carries its baseline,
//! so a snapshot alone brings every property back.
//!
//! `restore --from` a snapshot (or the newest in a backup folder) into an empty data
//! dir, holding the data dir's lock exclusively (a second restore waits, then finds
//! the data there): the manifest is checked whole first (each entry is the study
//! database or `{slug}/honestcam.db` of its property, once; sizes bounded: see
//! [`crate::ops::snapshot`]), every file against it, then copied durably, then each
//! property's `compliance.json` is written from its database. Every path is built
//! from a checked entry, never from the manifest's text.

mod from_replica;

use std::path::{Path, PathBuf};

use serde::Serialize;
use statekit::plan::{Mode, Plan};

use crate::config::DataDir;
use crate::ops::replica::litestream::{Litestream, LitestreamError};
use crate::ops::replica::s3::ListError;
use crate::ops::replica::{Replica, ReplicaUrlError, is_replica_url};
use crate::ops::snapshot::{
    CheckedSnapshot, Entry, MANIFEST, Manifest, ManifestError, SnapshotFile, read_manifest,
};
use crate::property::{PROPERTY_DB, Slug};
use crate::storage::sqlite::connection::open_read_only;
use crate::storage::sqlite::{DbError, compliance_repo};
use crate::storage::{Storage, StoreError, Wait, hex_sha256, legacy};

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading a database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A file operation failed.
    #[error("{what} {}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Creating or pruning snapshot folders failed.
    #[error(transparent)]
    Archive(#[from] statekit::archive::ArchiveError),
    /// The manifest could not be read or written.
    #[error(transparent)]
    Json(#[from] statekit::json::JsonError),
    /// A manifest was refused: too large, malformed, or an entry that is no database
    /// a snapshot holds.
    #[error("refused the snapshot whole, nothing restored: its manifest {}", .manifest.display())]
    Manifest {
        /// The manifest.
        manifest: PathBuf,
        /// What is wrong with it.
        source: ManifestError,
    },
    /// A file of a snapshot is no regular file.
    #[error("{} is not a regular file; the snapshot is refused", .0.display())]
    NotAFile(PathBuf),
    /// The source holds no snapshot.
    #[error("no snapshot in {}: expected a {MANIFEST} there or in one of its folders", .0.display())]
    NoSnapshot(PathBuf),
    /// A file does not match the manifest.
    #[error("{} does not match the manifest ({reason}); the snapshot is damaged", .path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The data dir already has data.
    #[error("{} already holds data; restore into an empty data dir", .0.display())]
    NotEmpty(PathBuf),
    /// A replica could not be listed.
    #[error(transparent)]
    List(#[from] ListError),
    /// Litestream could not restore a database.
    #[error(transparent)]
    Litestream(#[from] LitestreamError),
    /// The replica holds no database.
    #[error("{0} holds no honestcam database (nothing under properties/ nor honestcam-study.db)")]
    EmptyReplica(String),
    /// The data dir holds an unfinished restore from another source.
    #[error(
        "{} holds an unfinished restore from {origin}; run that restore again to finish it, or start over in an empty data dir",
        .dir.display()
    )]
    OtherRestore {
        /// The data dir.
        dir: PathBuf,
        /// What the unfinished restore reads from.
        origin: String,
    },
    /// A point in time out of range.
    #[error("invalid --timestamp {0}")]
    BadTimestamp(String),
    /// A point in time was asked of a snapshot, which has only one.
    #[error("--timestamp needs an s3:// replica: a snapshot holds one point in time")]
    TimestampOfSnapshot,
}

/// Where a restore or a check reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A snapshot folder made by [`backup`], or a folder of them.
    Snapshot(PathBuf),
    /// A Litestream replica.
    Replica(Replica),
}

impl std::str::FromStr for Source {
    type Err = ReplicaUrlError;
    fn from_str(text: &str) -> Result<Source, ReplicaUrlError> {
        if is_replica_url(text) {
            Replica::parse(text).map(Source::Replica)
        } else {
            Ok(Source::Snapshot(PathBuf::from(text)))
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Snapshot(dir) => write!(f, "{}", dir.display()),
            Source::Replica(r) => write!(f, "{r}"),
        }
    }
}

/// How to restore: report or do it, as of when, and with which `litestream`.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Dry run or execute.
    pub mode: Mode,
    /// The point in time (replicas only); none means the newest.
    pub timestamp: Option<jiff::Timestamp>,
    /// The Litestream binary (replicas only).
    pub litestream: Litestream,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io { what, path, source }
}

/// Describes a database file of a snapshot.
fn entry(file: &Path, rel: String, property: Option<Slug>) -> Result<Entry, BackupError> {
    let bytes = std::fs::read(file).map_err(io("cannot read", file))?;
    let (events, last_event_id) = if property.is_some() {
        let conn = open_read_only(file)?;
        let events = compliance_repo::count_events(&conn)?;
        let last = compliance_repo::last_event_id(&conn)?;
        (Some(events), last)
    } else {
        (None, None)
    };
    Ok(Entry {
        path: rel,
        property,
        bytes: bytes.len() as u64,
        sha256: hex_sha256(&bytes),
        events,
        last_event_id,
    })
}

/// Takes a snapshot of every database into a new folder of `to`; keeps the `keep`
/// newest snapshots there. Returns the folder and its manifest.
pub fn backup(
    storage: &Storage,
    to: &Path,
    keep: Option<usize>,
) -> Result<(PathBuf, Manifest), BackupError> {
    let snapshot = statekit::archive::new_dated_dir(to, jiff::Timestamp::now())?;
    let mut manifest = Manifest {
        created_at: jiff::Timestamp::now().to_string(),
        databases: Vec::new(),
        skipped: Vec::new(),
    };
    let slugs = storage
        .data()
        .properties()
        .map_err(io("cannot list", storage.data().path()))?;
    for slug in slugs {
        let rel = format!("{slug}/{PROPERTY_DB}");
        let target = snapshot.join(&rel);
        statekit::fs::create_private_dir_all(&snapshot.join(slug.as_str()))
            .map_err(io("cannot create", &snapshot))?;
        // Shared: the portal goes on; no command replaces the database meanwhile.
        let store = storage.read(&slug)?;
        if store.snapshot_to(&target)? {
            drop(store);
            manifest.databases.push(entry(&target, rel, Some(slug))?);
        } else {
            manifest.skipped.push(format!(
                "{slug}: on the legacy JSON files (run db-migrate first)"
            ));
        }
    }
    if let Some(study) = storage.study_db_existing()? {
        let rel = crate::config::STUDY_DB.to_string();
        let target = snapshot.join(&rel);
        study.snapshot_to(&target).map_err(DbError::from)?;
        manifest.databases.push(entry(&target, rel, None)?);
    }
    statekit::json::write_json_atomic(&snapshot.join(MANIFEST), &manifest)?;
    if let Some(keep) = keep {
        statekit::archive::prune_dated_dirs(to, MANIFEST, keep.max(1))?;
    }
    Ok((snapshot, manifest))
}

/// The snapshot at `from`: `from` itself if it holds a manifest, else its newest
/// folder that does.
pub fn find_snapshot(from: &Path) -> Result<(PathBuf, Manifest), BackupError> {
    let dir = if from.join(MANIFEST).is_file() {
        from.to_path_buf()
    } else {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(from)
            .map_err(io("cannot list", from))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(MANIFEST).is_file())
            .collect();
        dirs.sort();
        dirs.pop()
            .ok_or_else(|| BackupError::NoSnapshot(from.to_path_buf()))?
    };
    let path = dir.join(MANIFEST);
    let manifest = read_manifest(&path).map_err(|source| BackupError::Manifest {
        manifest: path,
        source,
    })?;
    Ok((dir, manifest))
}

/// The snapshot at `from` (see [`find_snapshot`]), its manifest checked: every entry
/// is a database a snapshot holds, each once, with bounded sizes.
pub fn open_snapshot(from: &Path) -> Result<CheckedSnapshot, BackupError> {
    let (dir, manifest) = find_snapshot(from)?;
    let path = dir.join(MANIFEST);
    CheckedSnapshot::check(dir, manifest).map_err(|source| BackupError::Manifest {
        manifest: path,
        source,
    })
}

/// Checks that `file` is a regular file of `bytes` bytes with SHA-256 `sha256`,
/// reading at most one byte more than declared.
fn check_file(file: &Path, bytes: u64, sha256: &str) -> Result<(), BackupError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let meta = std::fs::symlink_metadata(file).map_err(io("cannot read", file))?;
    if !meta.file_type().is_file() {
        return Err(BackupError::NotAFile(file.to_path_buf()));
    }
    let f = std::fs::File::open(file).map_err(io("cannot read", file))?;
    let mut reader = f.take(bytes.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut read: u64 = 0;
    loop {
        let n = reader.read(&mut buf).map_err(io("cannot read", file))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        hasher.update(&buf[..n]);
    }
    let sha: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if read != bytes || sha != sha256 {
        let size = if read > bytes {
            format!("more than {bytes} bytes")
        } else {
            format!("{read} bytes, SHA-256 {sha}")
        };
        return Err(BackupError::Damaged {
            path: file.to_path_buf(),
            reason: size,
        });
    }
    Ok(())
}

/// Marks a data dir that a restore is filling, and names its source: written once the
/// dir was found empty, removed when every database is in place. A restore that stops
/// half-way (a crash, a failed download) leaves it: a second run from the same source
/// finishes the job instead of refusing a data dir that now holds data, and the other
/// commands refuse to work on a half-restored dir meanwhile.
pub const RESTORE_MARKER: &str = ".restore-in-progress";

/// The source of an unfinished restore into `data`, if there is one.
pub fn unfinished_restore(data: &DataDir) -> Result<Option<String>, BackupError> {
    let marker = data.path().join(RESTORE_MARKER);
    match std::fs::read_to_string(&marker) {
        Ok(origin) => Ok(Some(origin.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("cannot read", &marker)(e)),
    }
}

/// Checks that a restore from `origin` may fill `data`: an empty data dir, or one an
/// unfinished restore from the same origin left. Returns whether it resumes one.
fn check_restorable(data: &DataDir, origin: &str) -> Result<bool, BackupError> {
    match unfinished_restore(data)? {
        Some(o) if o == origin => Ok(true),
        Some(o) => Err(BackupError::OtherRestore {
            dir: data.path().to_path_buf(),
            origin: o,
        }),
        None => check_empty(data).map(|()| false),
    }
}

/// A restore filling a data dir: holds the data dir's lock exclusively (a second
/// restore waits, then finds the data), with the marker written.
struct Restoring {
    data: DataDir,
    _whole: statekit::lock::RwDirLock,
}

impl Restoring {
    /// Takes the data dir's lock, checks it again, and marks it as being restored from
    /// `origin`.
    fn begin(data: &DataDir, origin: &str) -> Result<Restoring, BackupError> {
        let holder = format!("pid {}: honestcam restore", std::process::id());
        let whole = statekit::lock::RwDirLock::exclusive(data.path(), &holder, |_| {})
            .map_err(StoreError::from)?;
        check_restorable(data, origin)?;
        statekit::json::write_bytes_atomic(
            &data.path().join(RESTORE_MARKER),
            format!("{origin}\n").as_bytes(),
        )?;
        Ok(Restoring {
            data: data.clone(),
            _whole: whole,
        })
    }

    /// Every database is in place: removes the marker.
    fn finish(self) -> Result<(), BackupError> {
        let marker = self.data.path().join(RESTORE_MARKER);
        statekit::fs::remove_if_exists(&marker).map_err(io("cannot remove", &marker))?;
        statekit::fs::fsync_dir(self.data.path()).map_err(io("cannot sync", self.data.path()))
    }
}

/// Refuses a data dir that holds a property or the study database.
fn check_empty(data: &DataDir) -> Result<(), BackupError> {
    let occupied = !data
        .properties()
        .map_err(io("cannot list", data.path()))?
        .is_empty()
        || data.study_db().exists();
    if occupied {
        return Err(BackupError::NotEmpty(data.path().to_path_buf()));
    }
    Ok(())
}

/// Plans, and with [`Mode::Execute`] performs, the restore of `source` into the empty
/// data dir `data`.
pub fn restore(
    data: &DataDir,
    source: &Source,
    opts: &RestoreOptions,
) -> Result<Plan, BackupError> {
    match source {
        Source::Snapshot(dir) if opts.timestamp.is_none() => restore_snapshot(data, dir, opts.mode),
        Source::Snapshot(_) => Err(BackupError::TimestampOfSnapshot),
        Source::Replica(r) => {
            from_replica::restore(data, r, opts.timestamp, &opts.litestream, opts.mode)
        }
    }
}

/// Restores the snapshot at `from` (see [`restore`]).
fn restore_snapshot(data: &DataDir, from: &Path, mode: Mode) -> Result<Plan, BackupError> {
    // Every path comes from a checked entry: nothing outside `data` is written.
    let snapshot = open_snapshot(from)?;
    let dir = &snapshot.dir;
    let origin = dir.display().to_string();
    let resumes = check_restorable(data, &origin)?;
    let mut plan = Plan::new(format!("restore from {}", dir.display()), mode);
    plan.note(format!("snapshot taken at {}", snapshot.created_at));
    if resumes {
        plan.note("finishes an unfinished restore: databases already in place are kept");
    }
    let properties: Vec<(&Slug, Option<u64>)> = snapshot
        .entries
        .iter()
        .filter_map(|e| e.file.property().map(|slug| (slug, e.events)))
        .collect();
    plan.push("restore property databases", properties.len() as u64);
    plan.push(
        "restore the study database",
        u64::from(
            snapshot
                .entries
                .iter()
                .any(|e| e.file == SnapshotFile::Study),
        ),
    );
    plan.push(
        "events in the restored properties",
        properties
            .iter()
            .filter_map(|(_, events)| *events)
            .fold(0u64, u64::saturating_add),
    );
    for (slug, events) in &properties {
        plan.note(format!("{slug}: {} events", events.unwrap_or(0)));
    }
    for s in &snapshot.skipped {
        plan.note(format!("not in the snapshot: {s}"));
    }
    // Check every file before anything is copied.
    for e in &snapshot.entries {
        check_file(&e.file.in_snapshot(dir), e.bytes, &e.sha256)?;
    }
    if !mode.is_execute() {
        return Ok(plan);
    }
    let restoring = Restoring::begin(data, &origin)?;
    let storage = Storage::open(data.clone(), statekit::sqlite::OpenOptions::default())?;
    for e in &snapshot.entries {
        let target = e.file.in_data(data);
        let _lock = match e.file.property() {
            Some(slug) => {
                let holder = format!("pid {}: honestcam restore", std::process::id());
                Some(storage.lock_property(slug, &holder, Wait::Block, |_| {})?)
            }
            None => None,
        };
        // Each copy goes in place whole: one already there is complete.
        if !target.exists() {
            statekit::fs::copy_durably(&e.file.in_snapshot(dir), &target)
                .map_err(io("cannot restore", &target))?;
        }
        if let Some(slug) = e.file.property() {
            // The ingest file comes back from the copy in the database.
            let paths = data.property(slug);
            let baseline = storage.baseline(&paths)?;
            legacy::write_baseline(&paths, &baseline).map_err(StoreError::from)?;
        }
        super::crash_point("restored-database");
    }
    restoring.finish()?;
    Ok(plan)
}

/// One database of a verified snapshot, next to the live data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// The property, or none for the study database.
    pub property: Option<Slug>,
    /// What `PRAGMA integrity_check` said of the restored copy (`ok`); `missing` when
    /// the copy lacks a live database; `diverged` when its last event is not in the
    /// live log; `stale` when the live property is back on the legacy files.
    pub integrity: String,
    /// Events in the restored copy (property databases).
    pub snapshot_events: Option<u64>,
    /// Events in the live database now.
    pub live_events: Option<u64>,
    /// Events the copy lacks.
    pub lag_events: u64,
    /// How long the copy has lacked them: the age in seconds of the oldest live event
    /// it lacks (0 when it is current).
    pub lag_secs: i64,
    /// Whether this database passes: restorable, intact, and not behind by more than
    /// the allowed lag.
    pub ok: bool,
}

/// Restores `source` into a temporary data dir, checks every database's integrity,
/// and compares each property with the live one: event count and last event (a copy
/// whose last event the live log lacks has diverged). A live property missing from the
/// copy fails, and so does one whose oldest write the copy lacks is older than
/// `max_lag`. The temporary copy is removed afterwards.
pub fn verify(
    storage: &Storage,
    source: &Source,
    max_lag: std::time::Duration,
    litestream: &Litestream,
) -> Result<Vec<Checked>, BackupError> {
    // A snapshot is found once: a backup taken meanwhile must not change which.
    let (source, taken) = match source {
        Source::Snapshot(dir) => {
            // Checked before the temporary dir is made: a bad manifest writes nothing.
            let snapshot = open_snapshot(dir)?;
            let taken = snapshot.created_at.parse().ok();
            (Source::Snapshot(snapshot.dir), taken)
        }
        Source::Replica(_) => (source.clone(), None),
    };
    let scratch = DataDir::new(std::env::temp_dir().join(format!(
        "honestcam-verify-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    )));
    // Made here, and only here: never a folder (or a link) someone else put there
    // first; readable by this user alone.
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(scratch.path())
        .map_err(io("cannot create", scratch.path()))?;
    let opts = RestoreOptions {
        mode: Mode::Execute,
        timestamp: None,
        litestream: litestream.clone(),
    };
    let result = restore(&scratch, &source, &opts)
        .and_then(|_| check_restored(storage, &scratch, taken, max_lag));
    // The copy was only for checking.
    let _ = std::fs::remove_dir_all(scratch.path());
    result
}

/// How long the copy has lacked the live log's events from position `from` on: the age
/// of the first of them (else of the snapshot, when its time is known). `None` when
/// neither is known.
fn lag_ms(
    live: &rusqlite::Connection,
    from: u64,
    taken: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> Result<Option<i64>, BackupError> {
    let first_missing = compliance_repo::event_at(live, from)?
        .and_then(|at| at.parse::<jiff::Timestamp>().ok())
        .or(taken);
    Ok(first_missing.map(|t| (now.as_millisecond() - t.as_millisecond()).max(0)))
}

fn check_restored(
    storage: &Storage,
    copy: &DataDir,
    taken: Option<jiff::Timestamp>,
    max_lag: std::time::Duration,
) -> Result<Vec<Checked>, BackupError> {
    let now = jiff::Timestamp::now();
    let max_ms = i64::try_from(max_lag.as_millis()).unwrap_or(i64::MAX);
    let integrity = |conn: &rusqlite::Connection| -> Result<String, BackupError> {
        Ok(conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(DbError::from)?)
    };
    let restored = copy.properties().map_err(io("cannot list", copy.path()))?;
    let mut out = Vec::new();
    for slug in &restored {
        let conn = open_read_only(&copy.property(slug).db())?;
        let integrity = integrity(&conn)?;
        let events = compliance_repo::count_events(&conn)?;
        let mut row = Checked {
            property: Some(slug.clone()),
            ok: integrity == "ok",
            integrity,
            snapshot_events: Some(events),
            live_events: None,
            lag_events: 0,
            lag_secs: 0,
        };
        let live_paths = storage.data().property(slug);
        let live = live_paths.db();
        if !live.is_file() && live_paths.holds_data() {
            // Rolled back to the legacy files: the copy's database is from before, and
            // restoring it would lose what was written since.
            row.integrity = "stale".into();
            row.ok = false;
        }
        if live.is_file() {
            let live = open_read_only(&live)?;
            let live_events = compliance_repo::count_events(&live)?;
            row.live_events = Some(live_events);
            if row.ok
                && let Some(last) = compliance_repo::last_event_id(&conn)?
                && !compliance_repo::contains(&live, &last)?
            {
                row.integrity = "diverged".into();
                row.ok = false;
            }
            row.lag_events = live_events.saturating_sub(events);
            if row.lag_events > 0 {
                match lag_ms(&live, events, taken, now)? {
                    Some(ms) => {
                        row.lag_secs = ms / 1000;
                        row.ok &= ms <= max_ms;
                    }
                    None => row.ok = false,
                }
            }
        }
        out.push(row);
    }
    let study = |integrity: String| Checked {
        property: None,
        ok: integrity == "ok",
        integrity,
        snapshot_events: None,
        live_events: None,
        lag_events: 0,
        lag_secs: 0,
    };
    if copy.study_db().is_file() {
        out.push(study(integrity(&open_read_only(&copy.study_db())?)?));
    } else if storage.data().study_db().is_file() {
        out.push(study("missing".into()));
    }
    // A live property on SQLite the copy does not hold.
    let live_slugs = storage
        .data()
        .properties()
        .map_err(io("cannot list", storage.data().path()))?;
    for slug in live_slugs {
        let live = storage.data().property(&slug).db();
        if restored.contains(&slug) || !live.is_file() {
            continue;
        }
        let live = open_read_only(&live)?;
        let events = compliance_repo::count_events(&live)?;
        out.push(Checked {
            property: Some(slug),
            integrity: "missing".into(),
            snapshot_events: None,
            live_events: Some(events),
            lag_events: events,
            lag_secs: lag_ms(&live, 0, taken, now)?.unwrap_or(0) / 1000,
            ok: false,
        });
    }
    Ok(out)
}
