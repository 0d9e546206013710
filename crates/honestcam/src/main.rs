//! The `honestcam` command line: parses arguments, calls the library, reports.
//! Exit codes: 0 success, 1 failure, 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// Property-compliance and study portal: databases, legacy import and rollback.
#[derive(Debug, Parser)]
#[command(name = "honestcam", version, about, long_about = None)]
struct Args {
    /// Data directory: one folder per property plus the global study database.
    /// Unset or empty means ./data.
    #[arg(long, global = true, env = "HONESTCAM_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Backup(cli::backup::Args),
    BackupVerify(cli::backup_verify::Args),
    DbInit(cli::db_init::Args),
    DbMigrate(cli::db_migrate::Args),
    DbReindex(cli::db_reindex::Args),
    DbRollback(cli::db_rollback::Args),
    DbStatus(cli::db_status::Args),
    DemoData(cli::demo_data::Args),
    Doctor(cli::doctor::Args),
    Export(cli::export::Args),
    LitestreamConfig(cli::litestream_config::Args),
    Mcp(cli::mcp::Args),
    Restore(cli::restore::Args),
    Serve(cli::serve::Args),
    Study(cli::study::Args),
    Token(cli::token::Args),
    User(cli::user::Args),
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: a log file or an MCP client's log
        // gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let data = honestcam::config::DataDir::resolve(args.data_dir.as_deref());
    let json = match &args.command {
        Command::Backup(a) => a.wants_json(),
        Command::BackupVerify(a) => a.wants_json(),
        Command::Restore(a) => a.wants_json(),
        Command::DbInit(a) => a.wants_json(),
        Command::DbMigrate(a) => a.wants_json(),
        Command::DbReindex(a) => a.wants_json(),
        Command::DbRollback(a) => a.wants_json(),
        Command::DbStatus(a) => a.wants_json(),
        Command::Doctor(a) => a.wants_json(),
        Command::DemoData(_)
        | Command::Export(_)
        | Command::LitestreamConfig(_)
        | Command::Mcp(_)
        | Command::Serve(_)
        | Command::Study(_)
        | Command::Token(_)
        | Command::User(_) => false,
    };
    let result = match args.command {
        Command::Backup(a) => cli::backup::run(&data, a),
        Command::BackupVerify(a) => cli::backup_verify::run(&data, a),
        Command::LitestreamConfig(a) => cli::litestream_config::run(&data, a),
        Command::Mcp(a) => cli::mcp::run(&data, a),
        Command::Restore(a) => cli::restore::run(&data, a),
        Command::DbInit(a) => cli::db_init::run(&data, a),
        Command::DbMigrate(a) => cli::db_migrate::run(&data, a),
        Command::DbReindex(a) => cli::db_reindex::run(&data, a),
        Command::DbRollback(a) => cli::db_rollback::run(&data, a),
        Command::DbStatus(a) => cli::db_status::run(&data, a),
        Command::DemoData(a) => cli::demo_data::run(&data, a),
        Command::Doctor(a) => cli::doctor::run(&data, a),
        Command::Export(a) => cli::export::run(&data, a),
        Command::Serve(a) => cli::serve::run(&data, a),
        Command::Study(a) => cli::study::run(&data, a),
        Command::Token(a) => cli::token::run(&data, a),
        Command::User(a) => cli::user::run(&data, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", statekit::error::Chain(e.as_ref()));
            // A command that printed its JSON report already says so in the error.
            if json && !e.chain().any(|c| c.is::<cli::ReportedAsJson>()) {
                cli::print_json_error(&e);
            }
            ExitCode::from(cli::exit_code(&e))
        }
    }
}
