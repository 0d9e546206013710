//! `honestcam db-status [<slug>]`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::status::{Verify, db_status};

use super::{ReportedAsJson, open_storage, parse_slug};

/// Show, per property, the backend in use, schema versions and counts. Reads only.
///
/// With --verify, also fold each SQLite property's log and compare it with the
/// projection stored beside it (each action's current state), and its titles, notes
/// and assignees with the search index; a property whose projection or index differs
/// is listed with its differences and the exit code is 1 (`honestcam db-reindex
/// <slug> --execute` rebuilds both).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this property (default: every property in the data dir).
    slug: Option<String>,
    /// Check each projection and search index against its log (reads every event).
    #[arg(long)]
    verify: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Whether the report (and an error) is wanted as JSON.
    pub fn wants_json(&self) -> bool {
        self.json
    }
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let slugs = args
        .slug
        .as_deref()
        .map(parse_slug)
        .transpose()?
        .into_iter()
        .collect::<Vec<_>>();
    let storage = open_storage(data)?;
    let verify = if args.verify {
        Verify::Projection
    } else {
        Verify::No
    };
    let rows = db_status(&storage, &slugs, verify)
        .with_context(|| format!("db-status in {}", data.path().display()))?;
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    let damaged = rows
        .iter()
        .filter(|r| {
            let differs = |d: &Option<Vec<String>>| d.as_ref().is_some_and(|d| !d.is_empty());
            differs(&r.projection_differences) || differs(&r.search_differences)
        })
        .count();
    let result = if failed > 0 {
        Err(anyhow::anyhow!(
            "{failed} of {} properties could not be read (see above)",
            rows.len()
        ))
    } else if damaged > 0 {
        Err(anyhow::anyhow!(
            "the projection or search index of {damaged} of {} properties differs from its log (see above); rebuild it with `honestcam db-reindex <slug> --execute`",
            rows.len()
        ))
    } else {
        Ok(())
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return result.map_err(|e| ReportedAsJson(e.to_string()).into());
    }
    if rows.is_empty() {
        println!("no properties in {}", data.path().display());
        return Ok(());
    }
    let version = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    println!(
        "{:<24} {:<7} {:>7} {:>6} {:>10} {:>6} {:>9}",
        "property", "backend", "schema", "study", "events", "users", "progress"
    );
    for r in rows {
        let backend = serde_json::to_value(r.backend)?
            .as_str()
            .unwrap_or("?")
            .to_string();
        println!(
            "{:<24} {:<7} {:>7} {:>6} {:>10} {:>6} {:>9}",
            r.slug,
            backend,
            version(r.property_schema),
            version(r.study_schema),
            r.events,
            r.users,
            r.progress
        );
        match r.projection_differences.as_deref() {
            Some([]) => println!("  projection: matches the log"),
            Some(differences) => {
                println!("  projection: differs from the log");
                for d in differences {
                    println!("    {d}");
                }
            }
            None => {}
        }
        match r.search_differences.as_deref() {
            Some([]) => println!("  search index: matches the log"),
            Some(differences) => {
                println!("  search index: differs from the log");
                for d in differences {
                    println!("    {d}");
                }
            }
            None => {}
        }
        if let Some(e) = &r.error {
            println!("  error: {e}");
        }
    }
    result
}
