//! `honestcam litestream-config --replica <URL>`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::replica::{Replica, litestream_config};

/// Print a litestream.yml that replicates this data dir to S3-compatible storage.
///
/// The configuration covers the global study database and, through Litestream's
/// directory mode, every property database ({data}/{slug}/honestcam.db), so a property
/// created later is replicated with no change. Run it with
/// `litestream replicate -config FILE` beside `honestcam serve`. Credentials come from
/// the environment (LITESTREAM_ACCESS_KEY_ID, LITESTREAM_SECRET_ACCESS_KEY), never
/// from a flag or the file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to replicate: s3://bucket/prefix, with
    /// ?endpoint=https://...&region=...&forcePathStyle=true for S3-compatible services
    /// (Cloudflare R2: endpoint=https://ACCOUNT.r2.cloudflarestorage.com&region=auto).
    #[arg(long, value_name = "URL", value_parser = Replica::parse)]
    replica: Replica,
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let dir = std::path::absolute(data.path())
        .with_context(|| format!("resolving the data dir {}", data.path().display()))?;
    if !dir.is_dir() {
        eprintln!(
            "note: the data dir {} does not exist yet; litestream needs it to exist when it starts",
            dir.display()
        );
    }
    print!("{}", litestream_config(&dir, &args.replica)?);
    Ok(())
}
