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
    /// Decode raw venue frames (one per line: bare, or `peregrine record` lines) into the
    /// tick interchange format, one JSON event per line on stdout.
    Normalize {
        /// Venue of the frames: binance, bybit, okx, kraken, coinbase.
        #[arg(long)]
        venue: String,
        /// Canonical symbol (e.g. BTC-USDT) for frames that name none (Binance REST depth
        /// snapshots).
        #[arg(long)]
        symbol: Option<String>,
        /// Input file, or `-` for stdin.
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Compile strategy files and report errors with file:line:column.
    Check {
        /// `.rhai` files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
        Command::Normalize {
            venue,
            symbol,
            input,
        } => return normalize(&venue, symbol, &input),
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

fn normalize(venue: &str, symbol: Option<String>, input: &std::path::Path) -> ExitCode {
    use std::io::BufReader;
    let venue: peregrine_exchanges::venue::Venue = match venue.parse() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let reader: Box<dyn std::io::BufRead> = if input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(input) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => {
                eprintln!("error: {}: {e}", input.display());
                return ExitCode::from(2);
            }
        }
    };
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    match peregrine::normalize_cli::run(venue, symbol, reader, out, std::io::stderr()) {
        Ok(s) if s.failed == 0 => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("{} of {} line(s) failed", s.failed, s.lines);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
