//! `honestcam study import FILE --property SLUG --user NAME [--dry-run|--execute]`.

use std::path::PathBuf;

use anyhow::Context;
use honestcam::config::DataDir;
use honestcam::ops::study_import::{self, Target};
use honestcam::service::study;
use statekit::plan::Mode;

use crate::cli::{
    ReportedAsJson, open_storage, open_storage_read_only, parse_slug, print_json_error, print_plan,
};

/// Bring the old terminal quiz's progress (~/.honestcam/cam-study-progress.json) into a
/// study user's progress.
///
/// FILE holds one progress blob, or a map of them by user (the entry named NAME, or
/// the user's id, is taken). Answers are merged one by one: an answer the user has is
/// kept when it is as new as the file's or newer; keys the user's progress lacks are
/// added, the others kept. The user (owned by --as IDENTITY, default local) is created
/// on first use. After --execute the file is moved into _legacy/{timestamp}/ beside it;
/// a re-run then has nothing to do.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The progress file (at most 4 MiB of JSON).
    file: PathBuf,
    /// The property whose study user receives the progress.
    #[arg(long, value_name = "SLUG")]
    property: String,
    /// The study user: its display name (created with it on first use) or its id.
    #[arg(long, value_name = "NAME")]
    user: String,
    /// The identity that owns the study user (default: local, the operator).
    #[arg(long = "as", value_name = "IDENTITY")]
    as_identity: Option<String>,
    /// Only report what would change (the default).
    #[arg(long, conflicts_with = "execute")]
    dry_run: bool,
    /// Merge the progress and archive the file.
    #[arg(long)]
    execute: bool,
    /// Print the report (or the error) as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let result = import(data, &args);
    if args.json
        && let Err(e) = &result
    {
        print_json_error(e);
        return Err(ReportedAsJson(format!("{e:#}")).into());
    }
    result
}

fn import(data: &DataDir, args: &Args) -> anyhow::Result<()> {
    let slug = parse_slug(&args.property)?;
    let mode = Mode::from_execute_flag(args.execute);
    // A dry run reads through read-only storage: it changes nothing, not a lock file.
    let storage = if mode.is_execute() {
        open_storage(data)?
    } else {
        open_storage_read_only(data, 4, 1)?
    };
    let who = super::identity(&storage, args.as_identity.as_deref())?;
    let name = args.user.as_str();
    let context = || format!("study user {name:?} of {slug}");
    let mut user =
        study::own_user_named(&storage, &slug, &who, name, false).with_context(context)?;
    // The file is read and checked before anything is created for it.
    let mut names = vec![name];
    if let Some(u) = &user {
        names.push(u.user_id.as_str());
    }
    let incoming = study_import::read_file(&args.file, &names)
        .with_context(|| format!("importing {}", args.file.display()))?;
    let created = user.is_none() && mode.is_execute() && incoming.is_ok();
    if created {
        user = study::own_user_named(&storage, &slug, &who, name, true).with_context(context)?;
    }
    let target = Target {
        file: &args.file,
        slug: &slug,
        who: &who,
        user: user.as_ref(),
        name,
    };
    let mut plan = study_import::import(&storage, target, incoming, mode)
        .with_context(|| format!("importing {}", args.file.display()))?;
    if created {
        plan.note(format!("created the study user {name:?} of {}", who.name));
    }
    if user.is_none() && plan.changes() {
        plan.note(format!(
            "the study user {name:?} of {} is created by --execute",
            who.name
        ));
    }
    print_plan(&plan, args.json);
    Ok(())
}
