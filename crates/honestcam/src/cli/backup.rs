//! `honestcam backup --to <DIR>`.

use std::path::PathBuf;

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::backup;

use super::open_storage;

/// Take a consistent snapshot of every database into a new folder of DIR.
///
/// Each database is copied with VACUUM INTO (never a file copy), under its property's
/// lock held shared: safe while the portal runs and takes writes; a command that would
/// replace a database waits. The folder gets a manifest.json with each file's size,
/// SHA-256, event count and last event. Properties still on the legacy JSON files are
/// listed as skipped. Restore with `honestcam restore --from DIR`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder of snapshots: each backup adds {DIR}/{UTC timestamp}/.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Keep only the N newest snapshots in DIR (older ones are removed).
    #[arg(long, value_name = "N")]
    keep: Option<usize>,
    /// Print the manifest as JSON.
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
    let storage = open_storage(data)?;
    let (dir, manifest) = backup::backup(&storage, &args.to, args.keep).with_context(|| {
        format!(
            "backup of {} to {}",
            data.path().display(),
            args.to.display()
        )
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"snapshot": dir, "manifest": manifest})
        );
        return Ok(());
    }
    println!("snapshot {}", dir.display());
    for e in &manifest.databases {
        match (&e.property, e.events) {
            (Some(slug), Some(events)) => {
                println!("  {slug}: {events} events, {} bytes", e.bytes)
            }
            _ => println!("  {}: {} bytes", e.path, e.bytes),
        }
    }
    for s in &manifest.skipped {
        println!("  skipped {s}");
    }
    Ok(())
}
