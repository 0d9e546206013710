//! `honestcam mcp`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::mcp::{McpServer, serve_stdio};

use super::{UsageError, display_zone, open_storage_read_only, parse_time_zone};

/// Threads reading storage at once for the MCP server.
const STORAGE_THREADS: usize = 4;

/// Serve the read-only MCP server on stdin and stdout, for an assistant on this machine
/// (its MCP client starts this command). Calls act as the machine's operator
/// (`local`, so logged). The same server is at /mcp in `honestcam serve`, behind its
/// authentication.
///
/// Nothing can be written through it: every database is opened read-only, and none is
/// created or migrated (a database that needs a migration is answered with the command
/// to run). Tools: list_properties, property_summary, get_action, search,
/// compliance_as_of, events_since. stdout carries the
/// protocol; the log goes to stderr (RUST_LOG sets its level).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The time zone in which "today" (for overdue and due soon) is reckoned: an IANA
    /// name such as Europe/London. Default: the host's.
    #[arg(long, env = "HONESTCAM_TIMEZONE", value_name = "IANA NAME", value_parser = parse_time_zone)]
    timezone: Option<jiff::tz::TimeZone>,
    /// Most databases kept open at once (2 to 10000).
    #[arg(
        long,
        env = "HONESTCAM_MAX_OPEN_DATABASES",
        value_name = "N",
        default_value_t = 16,
        value_parser = clap::value_parser!(u64).range(2..=10_000)
    )]
    max_open_databases: u64,
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    if !data.path().is_dir() {
        anyhow::bail!(UsageError(format!(
            "no data dir at {}: give --data-dir (or HONESTCAM_DATA_DIR)",
            data.path().display()
        )));
    }
    let max_open = usize::try_from(args.max_open_databases)
        .map_err(|e| UsageError(format!("--max-open-databases: {e}")))?;
    let storage = open_storage_read_only(data, max_open, 1)?;
    let server = McpServer::stdio(storage, display_zone(args.timezone))?;
    tracing::info!(
        "honestcam mcp: serving {} read-only on stdio, as {}",
        data.path().display(),
        honestcam::mcp::LOCAL_OPERATOR
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(STORAGE_THREADS + 2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime
        .block_on(serve_stdio(server))
        .context("serving MCP on stdio")?;
    // The blocking read of stdin may still be parked: do not wait for it.
    runtime.shutdown_background();
    Ok(())
}
