//! `honestcam backup-verify --from <SOURCE>`.

use std::time::Duration;

use anyhow::{Context, bail};
use honestcam::config::DataDir;
use honestcam::ops::backup::{self, Source};
use honestcam::ops::drills::{self, Drill};

use super::{LitestreamFlag, ReportedAsJson, UsageError, open_storage};

/// Check that a backup can bring the data back, and how far behind it is.
///
/// Restores the replica (s3://..., by litestream) or the snapshot (or the newest in a
/// folder of snapshots) into a temporary directory, runs PRAGMA integrity_check on
/// every database, and compares each property's event count and last event with the
/// live database: prints the lag per property (events, and seconds since the oldest
/// write the copy lacks). Exits 1 when a database is damaged or has diverged, a live
/// property is missing from the copy, or a property is behind by more than --max-lag:
/// what a cron job or a monitoring check runs.
///
/// Each run, passed or failed, is recorded in the data dir (`_ops/restore-drills.json`,
/// the last 30) for `honestcam doctor`, `/metrics` and the home page's footer for
/// admins.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The replica (s3://...) or the snapshot (or folder of snapshots) to check.
    #[arg(long, value_name = "SOURCE")]
    from: Source,
    /// Most a backup may lag behind the live data, e.g. 60s, 15m, 24h (default 60s).
    #[arg(long, default_value = "60s", value_parser = parse_lag)]
    max_lag: Duration,
    #[command(flatten)]
    litestream: LitestreamFlag,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Whether the report (and an error) is wanted as JSON.
    pub fn wants_json(&self) -> bool {
        self.json
    }
}

pub(super) fn parse_lag(text: &str) -> Result<Duration, UsageError> {
    let bad = || {
        UsageError(format!(
            "invalid lag {text:?}: use seconds, e.g. 60s, 15m or 24h"
        ))
    };
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let source = args.from.to_string();
    let result = open_storage(data).and_then(|storage| {
        let litestream = args.litestream.litestream();
        backup::verify(&storage, &args.from, args.max_lag, &litestream)
            .with_context(|| format!("verifying the backup in {}", args.from))
    });
    let now = jiff::Timestamp::now();
    let drill = match &result {
        Ok(rows) => Drill::checked(now, source, rows),
        Err(e) => Drill::failed(now, source, statekit::error::Chain(e.as_ref()).to_string()),
    };
    if let Err(e) = drills::record(data, drill) {
        // The check itself is reported below; a record that cannot be kept is said.
        eprintln!(
            "warning: this drill could not be recorded for doctor and /metrics: {}",
            statekit::error::Chain(&e)
        );
    }
    let rows = result?;
    let failed = rows.iter().filter(|r| !r.ok).count();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<24} {:<10} {:>10} {:>10} {:>10} {:>9}",
            "database", "integrity", "backup", "live", "lag", "lag (s)"
        );
        for r in &rows {
            let name = r
                .property
                .as_ref()
                .map_or("(study)".to_string(), |s| s.to_string());
            let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            println!(
                "{:<24} {:<10} {:>10} {:>10} {:>10} {:>9}{}",
                name,
                r.integrity,
                n(r.snapshot_events),
                n(r.live_events),
                r.lag_events,
                r.lag_secs,
                if r.ok { "" } else { "  FAIL" }
            );
        }
    }
    if failed > 0 {
        let e = anyhow::anyhow!(
            "{failed} of {} databases failed the check (damaged, missing, or behind by more than {}s)",
            rows.len(),
            args.max_lag.as_secs()
        );
        if args.json {
            return Err(ReportedAsJson(e.to_string()).into());
        }
        bail!(e);
    }
    Ok(())
}
