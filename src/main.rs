//! `peregrine`: the command line. Wiring only; the work is in `peregrine-engine` and
//! `peregrine-exchanges`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use peregrine_engine::strategy::StrategyHost;
use tracing_subscriber::EnvFilter;

/// Peregrine: low-latency crypto market data and execution with Rhai strategies.
#[derive(Debug, Parser)]
#[command(name = "peregrine", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine: feed -> strategies -> risk -> orders -> database.
    Run {
        /// Config file (default: config/default.toml: the built-in simulator and SQLite,
        /// offline, no keys).
        #[arg(long, default_value = "config/default.toml")]
        config: PathBuf,
        /// Stop after this long (e.g. `30s`, `5m`); default: until Ctrl-C.
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// Also write the run summary as JSON to this file.
        #[arg(long)]
        summary: Option<PathBuf>,
    },
    /// Run the built-in exchange simulator (Binance spot protocol) on 127.0.0.1.
    Sim {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Config file whose [[instruments]] and [sim] settings the simulator uses.
        #[arg(long, default_value = "config/default.toml")]
        config: PathBuf,
    },
    /// Compile strategy files and report errors with file:line:column.
    Check {
        /// `.rhai` files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Apply the Supabase migrations (supabase/migrations, embedded) to PostgreSQL.
    Migrate {
        /// PostgreSQL URL; default: the DATABASE_URL environment variable. The password is
        /// never printed.
        #[arg(long)]
        database_url: Option<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            config,
            duration,
            summary,
        } => peregrine::app::run_cli(&config, duration, summary.as_deref()),
        Command::Sim { port, config } => peregrine::app::sim_cli(&config, port),
        Command::Check { files } => return check(&files),
        Command::Migrate { database_url } => peregrine::app::migrate_cli(database_url.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(files: &[PathBuf]) -> ExitCode {
    let mut failed = 0;
    for f in files {
        match StrategyHost::check_file(f) {
            Ok(()) => println!("{}: ok", f.display()),
            Err(e) => {
                failed += 1;
                println!("{e}");
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
