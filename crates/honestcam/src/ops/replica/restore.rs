//! `restore --from s3://...`: every database of a replica, by `litestream restore`.
//!
//! The properties are those the bucket holds ([`super::s3::list_properties`]), not a
//! list typed in. Each database is restored to a private name beside its place
//! (`honestcam.db.restoring`), checked by Litestream's `quick` integrity check, and
//! only then renamed into place, so a crash or a failure halfway leaves no half-written
//! database under the real name; a second run removes the leftover and starts over.

use jiff::Timestamp;
use statekit::plan::{Mode, Plan};

use super::Replica;
use super::litestream::Litestream;
use super::s3::list_properties;
use crate::config::DataDir;
use crate::ops::backup::{BackupError, Restoring, check_restorable, io};
use crate::storage::{Storage, StoreError, Wait, legacy};

/// Suffix of the private name a database is restored under.
const RESTORING: &str = ".restoring";

/// Plans, and with [`Mode::Execute`] performs, the restore of every database of
/// `replica` (as of `timestamp`, else the newest) into the empty data dir `data`.
pub fn restore(
    data: &DataDir,
    replica: &Replica,
    timestamp: Option<Timestamp>,
    litestream: &Litestream,
    mode: Mode,
) -> Result<Plan, BackupError> {
    let contents = list_properties(replica)?;
    if contents.properties.is_empty() && !contents.study {
        return Err(BackupError::EmptyReplica(replica.to_string()));
    }
    let point = match timestamp {
        Some(t) => format!("as of {t}"),
        None => "as of the newest replicated change".to_string(),
    };
    let origin = format!("{replica} {point}");
    let resumes = check_restorable(data, &origin)?;
    let mut plan = Plan::new(format!("restore from {replica}"), mode);
    plan.note(point);
    if resumes {
        plan.note("finishes an unfinished restore: databases already in place are kept");
    }
    plan.push(
        "restore property databases",
        contents.properties.len() as u64,
    );
    plan.push("restore the study database", u64::from(contents.study));
    if !mode.is_execute() {
        // Litestream says what it would fetch, and up to when.
        for slug in &contents.properties {
            let (url, target) = (replica.property_url(slug), data.property(slug).db());
            let at = as_of(litestream, &url, &target, timestamp)?;
            let p = litestream.plan(&url, &target, at.as_deref())?;
            plan.note(describe(slug.as_str(), &p));
        }
        if contents.study {
            let (url, target) = (replica.study_url(), data.study_db());
            let at = as_of(litestream, &url, &target, timestamp)?;
            let p = litestream.plan(&url, &target, at.as_deref())?;
            plan.note(describe("study database", &p));
        }
        return Ok(plan);
    }
    let restoring = Restoring::begin(data, &origin)?;
    let holder = format!("pid {}: honestcam restore", std::process::id());
    let storage = Storage::open(data.clone(), statekit::sqlite::OpenOptions::default())?;
    for slug in &contents.properties {
        let paths = data.property(slug);
        std::fs::create_dir_all(&paths.dir).map_err(io("cannot create", &paths.dir))?;
        let _lock = storage.lock_property(slug, &holder, Wait::Block, |_| {})?;
        fetch(
            litestream,
            &replica.property_url(slug),
            &paths.db(),
            timestamp,
        )?;
        // The ingest file comes back from the baseline stored in the database.
        let baseline = storage.baseline(&paths)?;
        legacy::write_baseline(&paths, &baseline).map_err(StoreError::from)?;
        plan.note(format!("{slug}: restored"));
        crate::ops::crash_point("restored-database");
    }
    if contents.study {
        fetch(
            litestream,
            &replica.study_url(),
            &data.study_db(),
            timestamp,
        )?;
    }
    restoring.finish()?;
    Ok(plan)
}

fn describe(what: &str, p: &super::litestream::RestorePlan) -> String {
    format!(
        "{what}: up to transaction {}, written at {}",
        p.max_txid,
        p.point_in_time().unwrap_or("an unknown time")
    )
}

/// The `-timestamp` to restore `url` as of `timestamp`: none when the replica's newest
/// change is a whole second or more before it (the replica's times are whole seconds),
/// since the newest state is then the state as of `timestamp`. Litestream 0.5.17
/// refuses ("timestamp does not exist") a timestamp well past a database's last
/// change, which an idle database has.
fn as_of(
    litestream: &Litestream,
    url: &str,
    target: &std::path::Path,
    timestamp: Option<Timestamp>,
) -> Result<Option<String>, BackupError> {
    let Some(t) = timestamp else {
        return Ok(None);
    };
    let newest = litestream.plan(url, target, None)?;
    let idle_since = newest
        .point_in_time()
        .and_then(|p| p.parse::<Timestamp>().ok());
    match idle_since {
        Some(p) if p.as_second() < t.as_second() => Ok(None),
        _ => Ok(Some(t.to_string())),
    }
}

/// Restores `url` (as of `timestamp`) to its private name beside `target`, then
/// renames it into place; a database already in place (an unfinished restore's) is
/// complete and kept.
fn fetch(
    litestream: &Litestream,
    url: &str,
    target: &std::path::Path,
    timestamp: Option<Timestamp>,
) -> Result<(), BackupError> {
    if target.exists() {
        return Ok(());
    }
    let at = as_of(litestream, url, target, timestamp)?;
    let private = statekit::fs::sidecar(target, RESTORING);
    for suffix in ["", "-wal", "-shm"] {
        let leftover = statekit::fs::sidecar(&private, suffix);
        statekit::fs::remove_if_exists(&leftover).map_err(io("cannot remove", &leftover))?;
    }
    litestream.restore(url, &private, at.as_deref())?;
    statekit::fs::rename_durably(&private, target).map_err(io("cannot restore", target))?;
    Ok(())
}
