//! `honestcam doctor`.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::doctor::{AuthKind, DoctorOptions, ServeSettings, doctor};
use honestcam::ops::replica::Replica;

use super::backup_verify::parse_lag;
use super::serve::{AuthFlag, DEFAULT_MAX_OPEN_CONNECTIONS, DEFAULT_MAX_OPEN_DATABASES};
use super::{LitestreamFlag, ReportedAsJson, UsageError};

/// Check that the deployment is healthy, and say what to do about each problem.
///
/// Checks the data dir (owner-only and this user's), free space, each database
/// (quick_check, schema version, the durability settings its connections run with),
/// the descriptor limit against what serve's bounds may use, the authentication mode
/// against the listening address and public URL, Litestream (running, and each
/// database's replica holding what Litestream took up), and the last restore drill
/// (none, failed, or older than --max-drill-age fails). Give it the flags (or the
/// environment) serve and litestream-config run with. Exits 1 when a check fails;
/// warnings alone exit 0.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the report as JSON: {"ok", "failures", "warnings", "checks": [{"name",
    /// "status" (ok, warn, fail), "detail", "fix"}]}.
    #[arg(long)]
    json: bool,
    /// Least free space on the data dir's disk, e.g. 500M, 2G (default 1G).
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    min_free: u64,
    /// The --auth serve runs with.
    #[arg(long, env = "HONESTCAM_AUTH", value_enum)]
    auth: Option<AuthFlag>,
    /// The --addr serve listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The --public-url serve runs with.
    #[arg(long, env = "HONESTCAM_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// The --access-team-domain serve runs with.
    #[arg(long, env = "HONESTCAM_ACCESS_TEAM_DOMAIN", value_name = "URL")]
    access_team_domain: Option<String>,
    /// The --access-aud serve runs with.
    #[arg(long, env = "HONESTCAM_ACCESS_AUD", value_name = "TAG")]
    access_aud: Option<String>,
    /// The --max-open-databases serve runs with.
    #[arg(
        long,
        env = "HONESTCAM_MAX_OPEN_DATABASES",
        value_name = "N",
        default_value_t = DEFAULT_MAX_OPEN_DATABASES,
        value_parser = clap::value_parser!(u64).range(2..=10_000)
    )]
    max_open_databases: u64,
    /// The --max-open-connections serve runs with.
    #[arg(
        long,
        env = "HONESTCAM_MAX_OPEN_CONNECTIONS",
        value_name = "N",
        default_value_t = DEFAULT_MAX_OPEN_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    max_open_connections: u32,
    /// The replica given to `honestcam litestream-config` (s3://...): each database's
    /// replica position is read from it with `litestream restore -dry-run` (the
    /// credentials come from the environment, as for Litestream). Without it,
    /// Litestream counts as not configured (a warning).
    #[arg(long, env = "HONESTCAM_REPLICA", value_name = "URL", value_parser = Replica::parse)]
    replica: Option<Replica>,
    #[command(flatten)]
    litestream: LitestreamFlag,
    /// Longest a database may hold writes that Litestream has not taken up, or that
    /// the replica lacks, e.g. 60s, 5m (default 5m).
    #[arg(long, default_value = "5m", value_parser = parse_lag)]
    max_replica_lag: Duration,
    /// Oldest the last restore drill may be, e.g. 48h (default 48h).
    #[arg(long, default_value = "48h", value_parser = parse_lag)]
    max_drill_age: Duration,
}

/// A size: bytes, or with K, M, G or T (powers of 1024).
fn parse_size(text: &str) -> Result<u64, UsageError> {
    let bad = || UsageError(format!("invalid size {text:?}: e.g. 500M, 2G, 1048576"));
    let upper = text.trim().to_ascii_uppercase();
    let digits = upper.trim_end_matches(['K', 'M', 'G', 'T', 'B']);
    let unit = &upper[digits.len()..];
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let shift = match unit.trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

impl Args {
    /// Whether the report (and an error) is wanted as JSON.
    pub fn wants_json(&self) -> bool {
        self.json
    }
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let filled = |o: &Option<String>| o.as_deref().is_some_and(|v| !v.is_empty());
    let opts = DoctorOptions {
        min_free_bytes: args.min_free,
        serve: ServeSettings {
            auth: args.auth.map(|a| match a {
                AuthFlag::CloudflareAccess => AuthKind::CloudflareAccess,
                AuthFlag::Local => AuthKind::Local,
                AuthFlag::None => AuthKind::None,
            }),
            addr: args.addr,
            public_url: args.public_url.clone().filter(|u| !u.is_empty()),
            access_configured: filled(&args.access_team_domain) && filled(&args.access_aud),
            max_open_databases: args.max_open_databases,
            max_open_connections: u64::from(args.max_open_connections),
        },
        replica: args.replica.clone(),
        litestream: args.litestream.litestream(),
        max_replica_lag: args.max_replica_lag,
        max_drill_age: args.max_drill_age,
    };
    let report = doctor(data, &opts);
    let text = if args.json {
        serde_json::to_string_pretty(&report.to_json())?
    } else {
        report.to_string()
    };
    writeln!(std::io::stdout().lock(), "{text}").context("writing the report")?;
    if report.failed() {
        let e = format!(
            "{} check(s) failed in {}",
            report.count(statekit::doctor::Status::Fail),
            data.path().display()
        );
        if args.json {
            return Err(ReportedAsJson(e).into());
        }
        anyhow::bail!(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("500m").unwrap(), 500 << 20);
        assert_eq!(parse_size("2GB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        for bad in ["", "G", "1X", "-1G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
