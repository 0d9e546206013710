//! `honestcam export --jsonl [--since CURSOR] [--limit N]`: the change feed on stdout.

use std::io::Write;

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::service::feed::{Cursor, Feed, MAX_CURSOR_CHARS};

use super::{UsageError, open_storage};

/// Events read per page (each one short read under the property's shared lock).
const PAGE: usize = 1_000;

/// Events between two progress lines on stderr.
const PROGRESS_EVERY: u64 = 100_000;

/// Print every event of every property as JSON lines, for indexers: each event once,
/// then a cursor to resume from.
///
/// Each line stands alone: {"property": {"slug", "name"}, "action": {"id", "title"},
/// "event": {"position", "event_id", "type", "payload", "at", "actor"}, "state": the
/// action's state right after the event}. Properties come in slug order, each one's
/// events in log order. The last line is {"cursor": "v1....", "more": true|false,
/// "events": N}: pass the cursor to --since next time to get only what came after.
/// "more" is true when --limit stopped the export early. Reads only; the portal may
/// keep running (events written meanwhile come in this export or the next one, never
/// twice, never missed). Progress goes to stderr.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON lines (the one format there is).
    #[arg(long, required = true)]
    jsonl: bool,
    /// Resume after this cursor (the "cursor" of an earlier export's last line), or
    /// @FILE to read it from a file.
    #[arg(long, value_name = "CURSOR")]
    since: Option<String>,
    /// Stop after this many events.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let cursor = match args.since.as_deref() {
        None => Cursor::default(),
        Some(text) => parse_cursor(text)?,
    };
    let storage = open_storage(data)?;
    let mut feed = Feed::new(&storage, cursor);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut written, mut more) = (0u64, false);
    loop {
        let want = match args.limit {
            Some(limit) if written >= limit => {
                more = true;
                break;
            }
            Some(limit) => PAGE.min(usize::try_from(limit - written).unwrap_or(PAGE)),
            None => PAGE,
        };
        let lines = feed
            .next_page(want)
            .with_context(|| format!("export after {written} events"))?;
        if lines.is_empty() {
            break;
        }
        for line in &lines {
            serde_json::to_writer(&mut out, line)?;
            out.write_all(b"\n").context("writing to stdout")?;
            written += 1;
            if written.is_multiple_of(PROGRESS_EVERY) {
                eprintln!("exported {written} events");
            }
        }
    }
    let end = serde_json::json!({"cursor": feed.cursor(), "more": more, "events": written});
    serde_json::to_writer(&mut out, &end)?;
    out.write_all(b"\n").context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    if written >= PROGRESS_EVERY {
        eprintln!("exported {written} events in all");
    }
    Ok(())
}

/// The cursor given, or read from the file after `@` (at most [`MAX_CURSOR_CHARS`]
/// bytes read); a bad one is a usage error.
fn parse_cursor(text: &str) -> anyhow::Result<Cursor> {
    let text = match text.strip_prefix('@') {
        Some(path) => {
            use std::io::Read;
            let file = std::fs::File::open(path)
                .with_context(|| format!("reading the cursor from {path}"))?;
            let mut text = String::new();
            // One byte more than a cursor may have: a longer file is refused below.
            file.take(MAX_CURSOR_CHARS as u64 + 1)
                .read_to_string(&mut text)
                .with_context(|| format!("reading the cursor from {path}"))?;
            text
        }
        None => text.to_string(),
    };
    text.parse::<Cursor>()
        .map_err(|e| UsageError(format!("--since: {e}")).into())
}
