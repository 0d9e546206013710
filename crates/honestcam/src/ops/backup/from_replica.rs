//! `restore --from s3://...`: every database of a replica, by `litestream restore`.
//!
//! The properties are those the bucket holds ([`list_properties`]), not a
//! list typed in. Each database is restored to a private name beside its place
//! (`honestcam.db.restoring`), checked by Litestream's `quick` integrity check, and
//! only then renamed into place, so a crash or a failure halfway leaves no half-written
//! database under the real name; a second run removes the leftover and starts over.

use jiff::Timestamp;
use statekit::plan::{Mode, Plan};

use super::{BackupError, Restoring, check_restorable, io};
use crate::config::DataDir;
use crate::ops::replica::Replica;
use crate::ops::replica::litestream::{Litestream, LitestreamError, RestorePlan};
use crate::ops::replica::s3::list_properties;
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
    let when = match timestamp {
        Some(t) => format!("as of {t}"),
        None => "as of the newest replicated change".to_string(),
    };
    let origin = format!("{replica} {when}");
    let resumes = check_restorable(data, &origin)?;
    let mut plan = Plan::new(format!("restore from {replica}"), mode);
    plan.note(when);
    if resumes {
        plan.note("finishes an unfinished restore: databases already in place are kept");
    }
    // What each database restores to, as Litestream plans it.
    let mut properties = Vec::new();
    for slug in &contents.properties {
        let (url, target) = (replica.property_url(slug), data.property(slug).db());
        let point = point(litestream, &url, &target, timestamp)?;
        plan.note(point.describe(slug.as_str()));
        if !matches!(point, Point::Nothing(_)) {
            properties.push((slug, url, point));
        }
    }
    let study = match contents.study {
        true => {
            let (url, target) = (replica.study_url(), data.study_db());
            let point = point(litestream, &url, &target, timestamp)?;
            plan.note(point.describe("study database"));
            Some((url, point)).filter(|(_, p)| !matches!(p, Point::Nothing(_)))
        }
        false => None,
    };
    plan.push("restore property databases", properties.len() as u64);
    plan.push("restore the study database", u64::from(study.is_some()));
    if !mode.is_execute() {
        return Ok(plan);
    }
    let restoring = Restoring::begin(data, &origin)?;
    let holder = format!("pid {}: honestcam restore", std::process::id());
    let storage = Storage::open(data.clone(), statekit::sqlite::OpenOptions::default())?;
    for (slug, url, point) in &properties {
        let paths = data.property(slug);
        statekit::fs::create_private_dir_all(&paths.dir)
            .map_err(io("cannot create", &paths.dir))?;
        let _lock = storage.lock_property(slug, &holder, Wait::Block, |_| {})?;
        fetch(litestream, url, &paths.db(), point)?;
        // The ingest file comes back from the baseline stored in the database.
        let baseline = storage.baseline(&paths)?;
        legacy::write_baseline(&paths, &baseline).map_err(StoreError::from)?;
        crate::ops::crash_point("restored-database");
    }
    if let Some((url, point)) = &study {
        fetch(litestream, url, &data.study_db(), point)?;
    }
    restoring.finish()?;
    Ok(plan)
}

/// The state a database is restored to.
#[derive(Debug)]
enum Point {
    /// The newest the replica holds (also when asked for a moment after it).
    Newest(RestorePlan),
    /// As of this `-timestamp`.
    At(String, RestorePlan),
    /// None: the replica holds nothing as of the moment asked for (the database was
    /// created later), in Litestream's words.
    Nothing(String),
}

impl Point {
    fn describe(&self, what: &str) -> String {
        let upto = |p: &RestorePlan| {
            format!(
                "{what}: up to transaction {}, written at {}",
                p.max_txid,
                p.point_in_time()
                    .map_or("an unknown time".to_string(), |t| t.to_string())
            )
        };
        match self {
            Point::Newest(p) | Point::At(_, p) => upto(p),
            Point::Nothing(why) => {
                format!("{what}: nothing to restore at that moment ({why}); left out")
            }
        }
    }
}

/// What restoring `url` as of `timestamp` (else the newest) restores.
///
/// The replica's times are whole seconds, and Litestream keeps a file written before
/// the moment asked for: so the moment is cut down to its second, which never brings
/// a later write (it may leave out writes of that same second). When the newest change
/// is older than that second, the newest state is the state asked for: Litestream
/// 0.5.17 refuses ("timestamp does not exist") a moment well after a database's last
/// change, which an idle database has.
fn point(
    litestream: &Litestream,
    url: &str,
    target: &std::path::Path,
    timestamp: Option<Timestamp>,
) -> Result<Point, BackupError> {
    let newest = litestream.plan(url, target, None)?;
    let Some(t) = timestamp else {
        return Ok(Point::Newest(newest));
    };
    let second = Timestamp::from_second(t.as_second())
        .map_err(|e| BackupError::BadTimestamp(format!("{t}: {e}")))?;
    if newest
        .point_in_time()
        .is_some_and(|p| p.as_second() < second.as_second())
    {
        return Ok(Point::Newest(newest));
    }
    let at = second.to_string();
    match litestream.plan(url, target, Some(&at)) {
        Ok(p) => Ok(Point::At(at, p)),
        Err(LitestreamError::Failed { stderr, .. })
            if stderr.contains("timestamp does not exist")
                || stderr.contains("no matching backup files") =>
        {
            Ok(Point::Nothing(stderr))
        }
        Err(e) => Err(e.into()),
    }
}

/// Restores `url` to `point` under a private name beside `target`, then renames it
/// into place; a database already in place (an unfinished restore's) is complete and
/// kept.
fn fetch(
    litestream: &Litestream,
    url: &str,
    target: &std::path::Path,
    point: &Point,
) -> Result<(), BackupError> {
    let at = match point {
        Point::Newest(_) => None,
        Point::At(at, _) => Some(at.as_str()),
        Point::Nothing(_) => return Ok(()),
    };
    if target.exists() {
        return Ok(());
    }
    let private = statekit::fs::sidecar(target, RESTORING);
    // Left by a run that stopped: Litestream's own temporary file among them.
    for suffix in ["", "-wal", "-shm", ".tmp"] {
        let leftover = statekit::fs::sidecar(&private, suffix);
        statekit::fs::remove_if_exists(&leftover).map_err(io("cannot remove", &leftover))?;
    }
    litestream.restore(url, &private, at)?;
    statekit::fs::rename_durably(&private, target).map_err(io("cannot restore", target))?;
    Ok(())
}
