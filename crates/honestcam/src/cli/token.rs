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
/// recorded as made by `token:{name}`.
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
        /// viewer, editor or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
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
        Command::Create { name, role } => {
            let secret = accounts::create_token(&storage, &name, role)
                .with_context(|| format!("creating token {name}"))?;
            eprintln!("token {name} ({role}); it is shown only now:");
            println!("{secret}");
        }
        Command::List => {
            let rows = accounts::tokens(&storage).context("listing tokens")?;
            if rows.is_empty() {
                println!("no tokens");
            }
            for t in rows {
                println!("{:<30} {:<8} {}", t.name, t.role, t.created_at);
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
