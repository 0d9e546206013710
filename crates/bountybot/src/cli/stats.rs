//! `bountybot stats`.

use anyhow::Context as _;
use bountybot::store::migrate;

use super::Global;

/// Chats, bounties and tracked entries per backend in the data dir. Reads only.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> anyhow::Result<()> {
    let stats = migrate::stats(&super::place(g))
        .with_context(|| format!("stats of {}", g.data_dir.display()))?;
    if args.json {
        let rows: Vec<_> = stats
            .iter()
            .map(|(b, c)| {
                serde_json::json!({"backend": b, "chats": c.chats, "bounties": c.bounties, "tracked": c.tracked})
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else if stats.is_empty() {
        println!("no data in {}", g.data_dir.display());
    } else {
        println!(
            "{:<8} {:>8} {:>10} {:>10}",
            "backend", "chats", "bounties", "tracked"
        );
        for (b, c) in stats {
            println!(
                "{:<8} {:>8} {:>10} {:>10}",
                b.to_string(),
                c.chats,
                c.bounties,
                c.tracked
            );
        }
    }
    Ok(())
}
