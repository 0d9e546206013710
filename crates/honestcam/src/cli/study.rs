//! `honestcam study`: the CAM quiz in the terminal, on the same progress as the
//! portal's study pages, and `honestcam study import` of the old quiz's progress file.
//!
//! A session reaches the progress through a [`door::Door`]: the data dir's storage and
//! the study service (local), or the portal's JSON API with a token (remote). Either
//! way each answer is saved when it is given, through the same unit of work as the
//! portal's answers, so stopping (Ctrl-C) loses nothing that was answered.

mod door;
mod import;
mod plain;
mod session;
mod tui;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::domain::questions::QUESTIONS;
use honestcam::domain::{Identity, Role};
use honestcam::service::accounts;
use honestcam::storage::Storage;

use super::{UsageError, open_storage, parse_slug};

/// The identity of the person at the machine, as `serve --auth none` names it.
pub const LOCAL_OPERATOR: &str = "local";

/// The environment variable the token of remote mode is read from.
pub const TOKEN_ENV: &str = "HONESTCAM_TOKEN";

/// Answer the CAM study questions in the terminal, on the same progress as the
/// portal's study pages.
///
/// Local (the default): on the machine holding the data dir, as the study user NAME of
/// --as IDENTITY (default: `local`, the operator, as under `serve --auth none`; any
/// other identity needs an account with the editor or admin role). The user is created
/// on first use; each identity has one study user per property, so a NAME that is not
/// its user's (display name or id) is refused.
///
/// Remote (--portal URL): through the portal's JSON API, as the identity of an API
/// token (an editor's or admin's, not read-only) read from the HONESTCAM_TOKEN
/// environment variable or from --token-file, never from a flag.
///
/// Order: the weakest topic first (the smallest share of its questions last answered
/// right; at a tie the one with more wrong answers, then the bank's order); within a
/// topic, questions last answered wrong, then never answered, then answered right
/// (the longest ago first).
///
/// Keys: arrows (or j/k) and Enter, or a choice's number; after an answer, the
/// explanation, then any key for the next question. Ctrl-C, q or Esc stops: every
/// answer is saved as it is given. --plain reads answers as lines from standard input
/// (a choice's number, or q), for any terminal and for scripts.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    session: SessionArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Import(import::Args),
}

/// Who studies, where, and how many questions.
#[derive(Debug, clap::Args)]
struct SessionArgs {
    /// The property whose study users this is.
    #[arg(long, value_name = "SLUG", required = true)]
    property: Option<String>,
    /// The study user: its display name (created with it on first use) or its id.
    #[arg(long, value_name = "NAME", required = true)]
    user: Option<String>,
    /// Local mode: the identity that owns the study user (default: local).
    #[arg(long = "as", value_name = "IDENTITY", conflicts_with = "portal")]
    as_identity: Option<String>,
    /// Remote mode: the portal's URL, e.g. https://portal.example.org (the token comes
    /// from HONESTCAM_TOKEN or --token-file).
    #[arg(long, value_name = "URL")]
    portal: Option<String>,
    /// Remote mode: a file holding the API token (its first line).
    #[arg(long, value_name = "PATH", requires = "portal")]
    token_file: Option<PathBuf>,
    /// Line-by-line mode: answers are lines on standard input (a choice's number, or
    /// q to stop).
    #[arg(long)]
    plain: bool,
    /// How many questions this session asks at most.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..=(QUESTIONS.len() as i64)))]
    count: u16,
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    match args.command {
        Some(Command::Import(a)) => import::run(data, a),
        None => study(data, args.session),
    }
}

fn study(data: &DataDir, args: SessionArgs) -> anyhow::Result<()> {
    let (Some(property), Some(name)) = (args.property.as_deref(), args.user.as_deref()) else {
        return Err(
            UsageError("honestcam study needs --property SLUG and --user NAME".into()).into(),
        );
    };
    let slug = parse_slug(property)?;
    let mut door: Box<dyn door::Door> = match &args.portal {
        Some(url) => {
            let token = door::Token::from_env_or_file(TOKEN_ENV, args.token_file.as_deref())?;
            Box::new(door::Remote::connect(url, slug, token, name)?)
        }
        None => {
            let storage = open_storage(data)?;
            let who = identity(&storage, args.as_identity.as_deref())?;
            Box::new(door::Local::open(storage, slug, who, name)?)
        }
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let session = session::Session::start(door.as_mut(), usize::from(args.count))?;
    if args.plain || !interactive {
        if !args.plain {
            eprintln!("not a terminal: answering line by line, as with --plain");
        }
        let stdin = std::io::stdin();
        plain::run(
            door.as_mut(),
            session,
            &mut stdin.lock(),
            &mut std::io::stdout(),
        )
    } else {
        tui::run(door.as_mut(), session)
    }
}

/// The identity `--as` names: `local` (the operator, an admin, as under
/// `serve --auth none`) when absent, else the account of that name with its role.
pub fn identity(storage: &Storage, name: Option<&str>) -> anyhow::Result<Identity> {
    let Some(name) = name.filter(|n| *n != LOCAL_OPERATOR) else {
        return Ok(Identity::new(LOCAL_OPERATOR, Role::Admin));
    };
    let account = accounts::account(storage, name)
        .with_context(|| format!("looking up the account {name}"))?
        .ok_or_else(|| {
            UsageError(format!(
                "no account {name:?}: add it with honestcam user add {name} --role editor, or leave out --as to study as {LOCAL_OPERATOR}"
            ))
        })?;
    Ok(Identity::new(account.name, account.role))
}
