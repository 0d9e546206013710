//! `honestcam user add|list|role|remove`.

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::domain::Role;
use honestcam::service::accounts;

use super::{UsageError, open_storage};

/// Manage who may use the portal and what they may do.
///
/// An account is a local login for `serve --auth local` (with a password, read from
/// standard input with --password-stdin), or a Cloudflare Access email (no password:
/// its role applies when that person signs in through Access; an Access identity
/// without an account is a viewer). Roles: viewer
/// (reads), editor (also changes compliance actions and their own study progress),
/// admin (also sees every user's progress). Accounts live in the global database.
/// Names are compared with ASCII letters folded (Maria@Example.org is maria@example.org;
/// no other case rules apply), and emails are stored folded.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Add an account with a role.
    Add {
        /// The account: a login name, or an email for Cloudflare Access.
        name: String,
        /// viewer, editor or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read a password (at least 10 characters) from the first line of standard
        /// input, for signing in with --auth local.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set an account's password (first line of standard input); its sessions end.
    Passwd {
        /// The account.
        name: String,
    },
    /// List the accounts and their roles.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change an account's role.
    Role {
        /// The account.
        name: String,
        /// viewer, editor or admin.
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Remove an account (and end its sessions).
    Remove {
        /// The account.
        name: String,
    },
}

pub fn parse_role(text: &str) -> Result<Role, UsageError> {
    text.parse()
        .map_err(|e: honestcam::domain::RoleError| UsageError(e.to_string()))
}

/// The password on the first line of standard input, hashed.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    match accounts::hash_password(password) {
        Err(e @ accounts::AccountError::WeakPassword) => Err(UsageError(e.to_string()).into()),
        other => Ok(other?),
    }
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let storage = open_storage(data)?;
    match args.command {
        Command::Add {
            name,
            role,
            password_stdin,
        } => {
            let hash = if password_stdin {
                Some(password_from_stdin()?)
            } else {
                None
            };
            accounts::add_account(&storage, &name, role, hash)
                .with_context(|| format!("adding account {name}"))?;
            println!("added {name} as {role}");
        }
        Command::Passwd { name } => {
            let hash = password_from_stdin()?;
            accounts::set_password_hash(&storage, &name, hash)
                .with_context(|| format!("setting the password of {name}"))?;
            println!("password of {name} set; its sessions ended");
        }
        Command::List { json } => {
            let rows = accounts::accounts(&storage).context("listing accounts")?;
            if json {
                let rows: Vec<_> = rows
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "name": a.name,
                            "role": a.role.as_str(),
                            "password": a.password_hash.is_some(),
                            "created_at": a.created_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("no accounts");
            } else {
                println!("{:<40} {:<8} created", "account", "role");
                for a in rows {
                    println!("{:<40} {:<8} {}", a.name, a.role, a.created_at);
                }
            }
        }
        Command::Role { name, role } => {
            accounts::set_role(&storage, &name, role)
                .with_context(|| format!("changing the role of {name}"))?;
            println!("{name} is now {role}");
        }
        Command::Remove { name } => {
            accounts::remove_account(&storage, &name)
                .with_context(|| format!("removing account {name}"))?;
            println!("removed {name}");
        }
    }
    Ok(())
}
