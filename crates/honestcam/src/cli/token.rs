//! `honestcam token create|list|revoke`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::domain::Role;
use honestcam::service::accounts;

use super::open_storage;
use super::user::parse_role;

/// Manage API tokens for scripts (`Authorization: Bearer <token>`, in every --auth mode).
///
/// A token is shown once, when created; only its SHA-256 is stored. Its changes are
/// recorded as made by `token:{name}`. A --read-only token reads the API and the MCP
/// server (`/mcp`) as its role allows and is refused every write (403).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a token and print it (once).
    Create {
        /// Its name, e.g. the script that uses it.
        #[arg(long)]
        name: String,
        /// viewer, editor or admin (viewer by default with --read-only).
        #[arg(long, value_parser = parse_role, required_unless_present = "read_only")]
        role: Option<Role>,
        /// Refuse every write, whatever the role: for an assistant or an indexer
        /// that only reads (the API, and MCP at /mcp).
        #[arg(long)]
        read_only: bool,
    },
    /// List the tokens (names and roles; the secrets are not kept).
    List,
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The token's name.
        #[arg(long)]
        name: String,
    },
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let storage = open_storage(data)?;
    match args.command {
        Command::Create {
            name,
            role,
            read_only,
        } => {
            let role = role.unwrap_or(Role::Viewer);
            let secret = accounts::create_token(&storage, &name, role, read_only)
                .with_context(|| format!("creating token {name}"))?;
            let rights = if read_only { ", read-only" } else { "" };
            eprintln!("token {name} ({role}{rights}); it is shown only now:");
            println!("{secret}");
        }
        Command::List => {
            let rows = accounts::tokens(&storage).context("listing tokens")?;
            if rows.is_empty() {
                println!("no tokens");
            }
            for t in rows {
                let rights = if t.read_only { "read-only" } else { "writes" };
                println!(
                    "{:<30} {:<8} {:<10} {}",
                    t.name, t.role, rights, t.created_at
                );
            }
        }
        Command::Revoke { name } => {
            accounts::revoke_token(&storage, &name)
                .with_context(|| format!("revoking token {name}"))?;
            println!("revoked {name}");
        }
    }
    Ok(())
}
