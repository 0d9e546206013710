//! `honestcam doctor`: whether a deployment is healthy, each problem with what to do
//! about it. It reads and changes nothing but what opening a database as the portal
//! does (see `statekit::doctor::database_health`).
//!
//! The checks, in order: the data dir (owner-only, this user's), free space, an
//! unfinished restore, each database (`quick_check`, schema version, the durability
//! settings its connections run with), the descriptor limit against what `serve`'s
//! bounds may use, the authentication mode against the listening address and public
//! URL, Litestream (running, and each database's replica position), and the last
//! restore drill. The report type and the generic checks are `statekit::doctor`'s.
//!
//! **Litestream.** Two facts per database. *Running*: Litestream 0.5 keeps its state
//! beside each database (`.{name}-litestream/ltx/{level}/{min}-{max}.ltx`) and writes
//! a file there within a second of each commit; while it runs it holds a connection,
//! so nothing else checkpoints the file late. A database (or its WAL) that changed
//! more than `--max-replica-lag` after Litestream's newest file means Litestream is
//! not running, or stuck. *Position*: the replica's newest transaction
//! (`litestream restore -dry-run -json`, the command restores use) must reach the
//! newest one Litestream took up, unless that was within the allowed lag; a replica
//! behind means uploads fail. Without `--replica` Litestream counts as not
//! configured: a warning, not a failure.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use statekit::doctor::{Check, Report, database_health, descriptor_limit, free_space, private_dir};

use crate::config::{DataDir, STUDY_DB};
use crate::ops::backup::unfinished_restore;
use crate::ops::drills;
use crate::ops::replica::Replica;
use crate::ops::replica::litestream::Litestream;
use crate::property::Slug;
use crate::storage::Backend;
use crate::storage::sqlite::connection::{property_migrations, study_migrations};

/// File descriptors `serve` may hold at once with these bounds: 5 per open database,
/// 7 per storage thread (12 of them), 12 of its own, one per client connection and
/// one more, and 10 for the MCP server's read-only databases. See `serve`'s
/// `--max-open-databases`.
pub fn descriptor_budget(max_open_databases: u64, max_open_connections: u64) -> u64 {
    max_open_databases * 5 + 12 * 7 + 12 + max_open_connections + 1 + 10
}

/// How `serve` authenticates, as `--auth` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// `cloudflare-access`.
    CloudflareAccess,
    /// `local`.
    Local,
    /// `none`.
    None,
}

/// What `serve` runs with, as far as the checks need it.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// `--auth`, if given.
    pub auth: Option<AuthKind>,
    /// `--addr`.
    pub addr: SocketAddr,
    /// `--public-url`, if given.
    pub public_url: Option<String>,
    /// Whether `--access-team-domain` and `--access-aud` are both given.
    pub access_configured: bool,
    /// `--max-open-databases`.
    pub max_open_databases: u64,
    /// `--max-open-connections`.
    pub max_open_connections: u64,
}

/// What `doctor` checks against.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Least free space on the data dir's disk.
    pub min_free_bytes: u64,
    /// The portal's settings.
    pub serve: ServeSettings,
    /// The replica `litestream-config` was given, if any.
    pub replica: Option<Replica>,
    /// The Litestream binary.
    pub litestream: Litestream,
    /// Longest a database may go with writes Litestream has not taken up or the
    /// replica lacks.
    pub max_replica_lag: Duration,
    /// Oldest the last restore drill may be.
    pub max_drill_age: Duration,
}

/// Runs every check on `data`.
pub fn doctor(data: &DataDir, opts: &DoctorOptions) -> Report {
    let mut report = Report::default();
    report.push(private_dir("data dir", data.path()));
    report.push(free_space(data.path(), opts.min_free_bytes));
    report.push(restore_marker(data));
    let dbs = databases(data, &mut report);
    report.push(descriptors(&opts.serve, dbs.properties));
    report.push(auth(&opts.serve));
    for check in litestream(&dbs.sqlite, opts) {
        report.push(check);
    }
    report.push(last_drill(data, opts.max_drill_age, jiff::Timestamp::now()));
    report
}

fn restore_marker(data: &DataDir) -> Check {
    let name = "restore";
    match unfinished_restore(data) {
        Ok(None) => Check::ok(name, "no unfinished restore"),
        Ok(Some(origin)) => Check::fail(
            name,
            format!("an unfinished restore from {origin}: the other commands refuse this data dir"),
            format!("run `honestcam restore --from {origin} --execute` again to finish it"),
        ),
        Err(e) => Check::fail(
            name,
            statekit::error::Chain(&e).to_string(),
            "check the data dir's permissions",
        ),
    }
}

/// The databases found, for the checks after them.
#[derive(Debug, Default)]
struct Found {
    /// Properties in the data dir.
    properties: u64,
    /// Each SQLite database: its name in the report, its path, and its replica's
    /// property (none for the study database).
    sqlite: Vec<(String, PathBuf, Option<Slug>)>,
}

/// One check per database, and one for the durability settings in force.
fn databases(data: &DataDir, report: &mut Report) -> Found {
    let mut found = Found::default();
    let slugs = match data.properties() {
        Ok(s) => s,
        Err(e) => {
            report.push(Check::fail(
                "databases",
                format!("cannot list {}: {e}", data.path().display()),
                "check the data dir's permissions",
            ));
            return found;
        }
    };
    found.properties = slugs.len() as u64;
    let mut settings: Option<String> = None;
    let mut weak = Vec::new();
    for slug in &slugs {
        let paths = data.property(slug);
        let name = format!("database {slug}");
        if crate::storage::resolve_kind(&paths) != Backend::Sqlite {
            report.push(Check::warn(
                name,
                "on the legacy JSON files: no integrity check, no replication",
                format!("honestcam db-migrate {slug} --execute"),
            ));
            continue;
        }
        let (check, health) = database(&name, &paths.db(), true);
        report.push(check);
        if let Some((line, problems)) = health {
            settings.get_or_insert(line);
            weak.extend(problems.into_iter().map(|p| format!("{slug}: {p}")));
        }
        found
            .sqlite
            .push((slug.to_string(), paths.db(), Some(slug.clone())));
    }
    let study = data.study_db();
    if study.is_file() {
        let (check, health) = database("study database", &study, false);
        report.push(check);
        if let Some((line, problems)) = health {
            settings.get_or_insert(line);
            weak.extend(problems.into_iter().map(|p| format!("{STUDY_DB}: {p}")));
        }
        found.sqlite.push(("study".to_string(), study, None));
    }
    report.push(match (settings, weak.is_empty()) {
        (None, _) => Check::warn(
            "durability",
            "no SQLite database to read the settings from",
            "create a property (honestcam db-init SLUG --create) or migrate one (honestcam db-migrate SLUG --execute)",
        ),
        (Some(line), true) => Check::ok("durability", line),
        (Some(_), false) => Check::fail(
            "durability",
            weak.join("; "),
            "a database not opened as honestcam opens it: stop whatever else writes it; this build should set these (report a bug if it does not)",
        ),
    });
    found
}

/// A database's integrity and schema, and its settings line and problems.
type Health = Option<(String, Vec<String>)>;

fn database(name: &str, path: &Path, property: bool) -> (Check, Health) {
    let restore_hint = "restore it: `honestcam backup-verify` first, then `honestcam restore --from <backup> --execute` into an empty data dir (docs/operations.md)";
    let (health, conn) = match database_health(path) {
        Ok(h) => h,
        Err(e) => {
            return (
                Check::fail(
                    name,
                    format!("cannot be opened: {}", statekit::error::Chain(&e)),
                    restore_hint,
                ),
                None,
            );
        }
    };
    let problems = health.durability_problems();
    let settings = Some((health.settings(), problems));
    if health.quick_check != "ok" {
        return (
            Check::fail(
                name,
                format!(
                    "{} is damaged: quick_check says {}",
                    path.display(),
                    health.quick_check
                ),
                restore_hint,
            ),
            settings,
        );
    }
    let migrations = if property {
        property_migrations()
    } else {
        study_migrations()
    };
    let schema = migrations
        .map_err(|e| statekit::error::Chain(&e).to_string())
        .and_then(|m| {
            let current = m
                .current_version(&conn)
                .map_err(|e| statekit::error::Chain(&e).to_string())?;
            let pending = m
                .pending(&conn)
                .map_err(|e| statekit::error::Chain(&e).to_string())?;
            Ok((current, m.latest(), pending))
        });
    let check = match schema {
        Ok((current, latest, pending)) if pending.is_empty() => Check::ok(
            name,
            format!("quick_check ok, schema {current} of {latest}"),
        ),
        Ok((current, latest, pending)) => Check::warn(
            name,
            format!(
                "quick_check ok, schema {current} of {latest}: {} migration(s) pending",
                pending.len()
            ),
            "they are applied when the portal next opens it; to apply them now stop the portal and run `honestcam db-status` (which opens every database)",
        ),
        Err(why) => Check::fail(
            name,
            format!("schema: {why}"),
            "run the honestcam release that wrote it, or restore from a backup",
        ),
    };
    (check, settings)
}

fn descriptors(serve: &ServeSettings, properties: u64) -> Check {
    let name = "descriptor limit";
    let need = descriptor_budget(serve.max_open_databases, serve.max_open_connections);
    let raise = |to: u64| {
        format!(
            "raise it to at least {to}: launchd: SoftResourceLimits and HardResourceLimits NumberOfFiles in the plist (deploy/org.example.honestcam.plist sets 4096); systemd: LimitNOFILE={to}; a shell: ulimit -n {to}"
        )
    };
    let (soft, _) = descriptor_limit();
    let Some(soft) = soft else {
        return Check::ok(name, "unlimited");
    };
    if soft < need {
        return Check::fail(
            name,
            format!(
                "{soft} descriptors, but serve with --max-open-databases {} and --max-open-connections {} may need {need}",
                serve.max_open_databases, serve.max_open_connections
            ),
            raise(need),
        );
    }
    // Every property's database open, and the study database.
    let all = properties + 1;
    if all > serve.max_open_databases {
        let want = descriptor_budget(all, serve.max_open_connections);
        let fix = if soft >= want {
            format!("the limit allows it: run serve with --max-open-databases {all}")
        } else {
            format!(
                "{}, then run serve with --max-open-databases {all}",
                raise(want)
            )
        };
        return Check::warn(
            name,
            format!(
                "{soft} descriptors, enough for serve's bounds ({need}); but {properties} properties share {} open databases, so rarely used ones reopen theirs",
                serve.max_open_databases
            ),
            fix,
        );
    }
    Check::ok(
        name,
        format!("{soft} descriptors; serve's bounds need at most {need}"),
    )
}

fn auth(serve: &ServeSettings) -> Check {
    let name = "authentication";
    let public = serve.public_url.as_deref().filter(|u| !u.is_empty());
    match serve.auth {
        None => Check::warn(
            name,
            "no --auth given, so the portal's exposure cannot be checked",
            "pass doctor the --auth, --addr and --public-url that serve runs with (or run it with the service's environment)",
        ),
        Some(AuthKind::None) => match crate::config::refuse_auth_none(serve.addr, public) {
            Some(why) => Check::fail(
                name,
                why,
                "use --auth cloudflare-access (behind Cloudflare Access) or --auth local, or listen on 127.0.0.1 without a public URL",
            ),
            None => Check::ok(
                name,
                format!("none, on the loopback address {} only", serve.addr),
            ),
        },
        Some(AuthKind::CloudflareAccess) if !serve.access_configured => Check::fail(
            name,
            "cloudflare-access without --access-team-domain and --access-aud: serve refuses to start",
            "give both (Zero Trust dashboard: the team domain, and the application's AUD tag)",
        ),
        Some(AuthKind::CloudflareAccess) => Check::ok(
            name,
            format!(
                "cloudflare-access on {}{}",
                serve.addr,
                public
                    .map(|u| format!(", public at {u}"))
                    .unwrap_or_default()
            ),
        ),
        Some(AuthKind::Local) if public.is_some_and(|u| u.starts_with("http://")) => Check::warn(
            name,
            "local accounts over a public http:// URL: passwords and the sign-in cookie cross the network in clear",
            "serve the public URL over https (Cloudflare Tunnel does), and give --public-url https://...",
        ),
        Some(AuthKind::Local) => Check::ok(
            name,
            format!(
                "local accounts on {}{}",
                serve.addr,
                public
                    .map(|u| format!(", public at {u}"))
                    .unwrap_or_default()
            ),
        ),
    }
}

/// What Litestream keeps beside a database: `.{name}-litestream/ltx/{level}/`, each
/// file named `{min txid}-{max txid}.ltx` (16 hex digits each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LocalState {
    /// The newest transaction Litestream has taken up.
    txid: u64,
    /// When it last wrote one of its files.
    newest: SystemTime,
}

/// Longest one read of a replica's position may take.
pub const REPLICA_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Most LTX files looked at per level.
const LTX_FILES_READ: usize = 100_000;

fn local_state(db: &Path) -> Option<LocalState> {
    let name = db.file_name()?.to_string_lossy().into_owned();
    let ltx = db.with_file_name(format!(".{name}-litestream")).join("ltx");
    let mut state: Option<LocalState> = None;
    for level in std::fs::read_dir(&ltx).ok()?.flatten().take(16) {
        let Ok(files) = std::fs::read_dir(level.path()) else {
            continue;
        };
        for file in files.flatten().take(LTX_FILES_READ) {
            let file_name = file.file_name().to_string_lossy().into_owned();
            let Some(txid) = file_name
                .strip_suffix(".ltx")
                .and_then(|n| n.split_once('-'))
                .and_then(|(_, max)| u64::from_str_radix(max, 16).ok())
            else {
                continue;
            };
            let Ok(modified) = file.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            let s = state.get_or_insert(LocalState {
                txid,
                newest: modified,
            });
            s.txid = s.txid.max(txid);
            s.newest = s.newest.max(modified);
        }
    }
    state
}

/// When the database (or its WAL) last changed.
fn last_write(db: &Path) -> Option<SystemTime> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max()
}

fn litestream(dbs: &[(String, PathBuf, Option<Slug>)], opts: &DoctorOptions) -> Vec<Check> {
    let any_state = dbs.iter().any(|(_, db, _)| local_state(db).is_some());
    let Some(replica) = &opts.replica else {
        return vec![if any_state {
            Check::warn(
                "litestream",
                "Litestream keeps state beside the databases, but no --replica was given to check",
                "pass doctor the --replica URL given to `honestcam litestream-config`",
            )
        } else {
            Check::warn(
                "litestream",
                "not configured: nothing is replicated off this machine",
                "see docs/operations.md: `honestcam litestream-config --replica s3://...` and a `litestream replicate` service",
            )
        }];
    };
    if dbs.is_empty() {
        return vec![Check::warn(
            "litestream",
            "no SQLite database to replicate yet",
            "migrate the properties (honestcam db-migrate SLUG --execute)",
        )];
    }
    let scratch = std::env::temp_dir().join(format!(
        "honestcam-doctor-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    ));
    let checks = dbs
        .iter()
        .map(|(name, db, slug)| {
            let url = match slug {
                Some(s) => replica.property_url(s),
                None => replica.study_url(),
            };
            replica_check(name, db, &url, &scratch, opts)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&scratch);
    checks
}

fn replica_check(name: &str, db: &Path, url: &str, scratch: &Path, opts: &DoctorOptions) -> Check {
    let name = format!("replica {name}");
    let lag = opts.max_replica_lag;
    let running_fix = "start it: `litestream replicate -config <file>` (deploy/org.example.honestcam-litestream.plist or honestcam-litestream.service), and read its log";
    let Some(local) = local_state(db) else {
        return Check::fail(
            name,
            format!("Litestream has never taken up {}", db.display()),
            running_fix,
        );
    };
    // Writes Litestream has not taken up: it is not running, or stuck.
    if let Some(written) = last_write(db)
        && let Ok(unseen) = written.duration_since(local.newest)
        && unseen > lag
    {
        return Check::fail(
            name,
            format!(
                "the database changed {} s after Litestream last took it up: Litestream is not running, or stuck",
                unseen.as_secs()
            ),
            running_fix,
        );
    }
    let out = scratch.join(format!("{}.db", name.replace(' ', "-")));
    let plan = match opts
        .litestream
        .plan_within(url, &out, None, REPLICA_READ_TIMEOUT)
    {
        Ok(p) => p,
        Err(e) => {
            return Check::fail(
                name,
                format!("cannot read the replica: {}", statekit::error::Chain(&e)),
                "check the replica's credentials (LITESTREAM_ACCESS_KEY_ID, LITESTREAM_SECRET_ACCESS_KEY in doctor's environment) and the network",
            );
        }
    };
    let replicated = u64::from_str_radix(&plan.max_txid, 16).unwrap_or(0);
    let since = SystemTime::now()
        .duration_since(local.newest)
        .unwrap_or_default();
    if replicated < local.txid && since > lag {
        return Check::fail(
            name,
            format!(
                "behind: Litestream took up transaction {} {} s ago, the replica holds {replicated}",
                local.txid,
                since.as_secs()
            ),
            "Litestream cannot upload: read its log (credentials, bucket, network)",
        );
    }
    Check::ok(
        name,
        format!("replica at transaction {replicated}, local {}", local.txid),
    )
}

fn last_drill(data: &DataDir, max_age: Duration, now: jiff::Timestamp) -> Check {
    let name = "restore drill";
    let run = "run `honestcam backup-verify --from <backup>` (deploy/ schedules it daily: org.example.honestcam-backup-verify.plist, honestcam-backup-verify.timer)";
    match drills::last(data) {
        Err(e) => Check::fail(name, statekit::error::Chain(&e).to_string(), run),
        Ok(None) => Check::fail(name, "no restore drill recorded: no backup is proven", run),
        Ok(Some(d)) => {
            let age = d.age_secs(now);
            let when = format!("{} ({} h ago) from {}", d.at, age / 3600, d.source);
            if !d.ok {
                Check::fail(
                    name,
                    format!(
                        "the last drill failed, {when}: {}",
                        d.error.as_deref().unwrap_or("see its report")
                    ),
                    "run it by hand to see the report, and mend the backup",
                )
            } else if age > i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX) {
                Check::fail(
                    name,
                    format!(
                        "the last drill passed, but {when}: older than {} h",
                        max_age.as_secs() / 3600
                    ),
                    run,
                )
            } else {
                Check::ok(
                    name,
                    format!(
                        "passed {when}, {} databases, largest lag {} s",
                        d.checked, d.max_lag_secs
                    ),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statekit::doctor::Status;

    #[test]
    fn the_default_budget_fits_launchds_default_limit() {
        assert!(descriptor_budget(16, 64) <= 256);
        assert!(descriptor_budget(17, 64) > descriptor_budget(16, 64));
    }

    fn settings(auth: Option<AuthKind>, addr: &str, public: Option<&str>) -> ServeSettings {
        ServeSettings {
            auth,
            addr: addr.parse().unwrap(),
            public_url: public.map(str::to_string),
            access_configured: false,
            max_open_databases: 16,
            max_open_connections: 64,
        }
    }

    #[test]
    fn auth_none_passes_only_on_loopback_without_a_public_url() {
        let none = Some(AuthKind::None);
        assert_eq!(
            auth(&settings(none, "127.0.0.1:8080", None)).status,
            Status::Ok
        );
        assert_eq!(
            auth(&settings(none, "0.0.0.0:8080", None)).status,
            Status::Fail
        );
        let tunnel = settings(none, "127.0.0.1:8080", Some("https://portal.example.org"));
        assert_eq!(auth(&tunnel).status, Status::Fail);
        assert_eq!(
            auth(&settings(None, "127.0.0.1:8080", None)).status,
            Status::Warn
        );
        let access = settings(Some(AuthKind::CloudflareAccess), "127.0.0.1:8080", None);
        assert_eq!(auth(&access).status, Status::Fail, "no team domain, no AUD");
    }

    #[test]
    fn a_drill_older_than_the_bound_fails() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let day = Duration::from_secs(86_400);
        assert_eq!(
            last_drill(&data, 2 * day, jiff::Timestamp::now()).status,
            Status::Fail
        );
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let rows = [crate::ops::backup::Checked {
            property: None,
            integrity: "ok".into(),
            snapshot_events: None,
            live_events: None,
            lag_events: 0,
            lag_secs: 0,
            ok: true,
        }];
        drills::record(&data, drills::Drill::checked(at, "/b".into(), &rows)).unwrap();
        let a_day_later = at
            .checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap();
        assert_eq!(last_drill(&data, 2 * day, a_day_later).status, Status::Ok);
        let three_days = at
            .checked_add(jiff::SignedDuration::from_hours(72))
            .unwrap();
        let stale = last_drill(&data, 2 * day, three_days);
        assert_eq!(stale.status, Status::Fail);
        assert!(stale.detail.contains("older than 48 h"), "{}", stale.detail);
    }
}
