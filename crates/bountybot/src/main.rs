//! The `bountybot` command line: parses arguments, calls the library, reports.
//! Exit codes: 0 success, 1 failure, 2 usage error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// A bot that tracks bounties (tasks with an optional link and due date) per chat.
#[derive(Debug, Parser)]
#[command(name = "bountybot", version, about)]
struct Args {
    #[command(flatten)]
    global: cli::Global,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Repl(cli::repl::Args),
    Run(cli::run::Args),
    MigrateStorage(cli::migrate_storage::Args),
    Stats(cli::stats::Args),
    Send(cli::send::Args),
    Remind(cli::remind::Args),
    Doctor(cli::doctor::Args),
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let g = &args.global;
    let result = match args.command {
        Command::Repl(a) => cli::repl::run(g, a),
        Command::Run(a) => cli::run::run(g, a),
        Command::MigrateStorage(a) => cli::migrate_storage::run(g, a),
        Command::Stats(a) => cli::stats::run(g, a),
        Command::Send(a) => cli::send::run(g, a),
        Command::Remind(a) => cli::remind::run(g, a),
        Command::Doctor(a) => cli::doctor::run(g, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", statekit::error::Chain(e.as_ref()));
            ExitCode::from(cli::exit_code(&e))
        }
    }
}
