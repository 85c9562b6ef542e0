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
        /// Exit 0 even if a strategy was halted by repeated errors (default: exit non-zero).
        #[arg(long)]
        allow_halted: bool,
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
    /// Record every raw market-data frame with its local receive time, one JSON object per
    /// line: {"ts_ns":..,"venue":"..","frame":"<raw>"}.
    Record {
        /// Config file (default: the built-in simulator, started in-process).
        #[arg(long, default_value = "config/default.toml")]
        config: PathBuf,
        /// Output file (created or truncated).
        #[arg(long)]
        out: PathBuf,
        /// Stop after this long (e.g. `30s`, `5m`); default: until Ctrl-C.
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
    },
    /// Run a feed node: hold the venue connections of the config and publish every
    /// normalized event to the NATS JetStream bus of its `[bus]` section.
    Feed {
        /// Config file (its venue, [sim], [[instruments]], [[market_data]] and [bus]).
        #[arg(long)]
        config: PathBuf,
        /// Stop after this long (e.g. `30s`, `5m`); default: until Ctrl-C.
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
    },
    /// Trip (or, with --reset, reset) the kill switch of a running engine through the kill file
    /// named in the config's `risk.kill_switch_file`.
    Kill {
        /// Config file of the running engine.
        #[arg(long, default_value = "config/default.toml")]
        config: PathBuf,
        /// Reset a tripped switch instead (requires --reason).
        #[arg(long)]
        reset: bool,
        /// Why (recorded with the trip or the reset).
        #[arg(long)]
        reason: Option<String>,
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
    /// Backtest a strategy over recorded ticks (interchange JSON lines): the same core loop,
    /// orders filled by the simulator's matching engine against the recorded market.
    Backtest(peregrine::backtest::cli::BacktestArgs),
    /// Sweep a grid of strategy parameters: each combination backtested in sample and out of
    /// sample (split by time), in parallel; prints a table ranked by an in-sample metric.
    Optimize(peregrine::backtest::optimize::OptimizeArgs),
    /// Write a SYNTHETIC tick file (interchange format) from the simulator's seeded market,
    /// offline.
    GenTicks(peregrine::backtest::cli::GenTicksArgs),
    /// Convert historical files (Binance public data: spot trades, aggTrades, klines CSV, zipped
    /// or not; Tardis CSV: trades, quotes, incremental_book_L2, book_snapshot_25, gzipped or
    /// not) into the tick interchange format, merged by time. A file with a `.CHECKSUM` beside
    /// it must match it.
    Import {
        /// Input files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output file (interchange JSON lines); written whole or not at all.
        #[arg(long)]
        out: PathBuf,
        /// Canonical symbol for every line (e.g. BTC-USDT); default: from the Binance file
        /// name, or from the Tardis rows.
        #[arg(long)]
        symbol: Option<String>,
        /// Layout of the files (default: detected from each file's name and columns).
        #[arg(long)]
        format: Option<peregrine::import::format::Format>,
    },
    /// Download Binance public data files (data.binance.vision layout) for a symbol and date
    /// range, verified against their `.CHECKSUM`; files already here are skipped, interrupted
    /// ones resumed.
    Download {
        /// Binance symbol (BTCUSDT or BTC-USDT).
        #[arg(long)]
        symbol: String,
        /// First date, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: peregrine::download::layout::Date,
        /// Last date, YYYY-MM-DD (UTC), inclusive.
        #[arg(long)]
        to: peregrine::download::layout::Date,
        /// Data set.
        #[arg(long, value_enum, default_value = "trades")]
        kind: peregrine::download::layout::Kind,
        /// Kline interval (with --kind klines).
        #[arg(long, default_value = "1m")]
        interval: String,
        /// Daily or monthly files.
        #[arg(long, value_enum, default_value = "daily")]
        period: peregrine::download::layout::Period,
        /// Directory for the files.
        #[arg(long)]
        out: PathBuf,
        /// Base URL of the data host.
        #[arg(long, default_value = peregrine::download::DEFAULT_BASE_URL)]
        base_url: String,
    },
    /// Exchange keys stored in Supabase Vault (`user_exchange_keys`).
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Apply the Supabase migrations (supabase/migrations, embedded) to PostgreSQL.
    Migrate {
        /// PostgreSQL URL; default: the DATABASE_URL environment variable. The password is
        /// never printed.
        #[arg(long)]
        database_url: Option<String>,
    },
}

/// `peregrine keys ...`.
#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Validate a user's keys for the config's venue and account against the venue's
    /// account endpoint (Binance `GET /api/v3/account`). The database is the config's
    /// `[sink] url` or `DATABASE_URL`.
    Check {
        /// Config file (venue URLs, `[venue] account`, database).
        #[arg(long, default_value = "config/default.toml")]
        config: PathBuf,
        /// The user (`auth.users.id`).
        #[arg(long)]
        user: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A sweep runs many backtests at once: their strategies' info lines would drown the table.
    let default_level = match cli.command {
        Command::Optimize(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Run {
            config,
            duration,
            summary,
            allow_halted,
        } => peregrine::app::run_cli(&config, duration, summary.as_deref(), allow_halted),
        Command::Sim { port, config } => peregrine::app::sim_cli(&config, port),
        Command::Record {
            config,
            out,
            duration,
        } => peregrine::app::record_cli(&config, &out, duration),
        Command::Feed { config, duration } => peregrine::feed::feed_cli(&config, duration),
        Command::Kill {
            config,
            reset,
            reason,
        } => peregrine::kill::kill_cli(&config, reset, reason.as_deref()),
        Command::Check { files } => return check(&files),
        Command::Backtest(args) => backtest(&args),
        Command::GenTicks(args) => gen_ticks(&args),
        Command::Optimize(args) => optimize(&args),
        Command::Normalize {
            venue,
            symbol,
            input,
        } => return normalize(&venue, symbol, &input),
        Command::Import {
            files,
            out,
            symbol,
            format,
        } => import(files, out, symbol, format),
        Command::Download {
            symbol,
            from,
            to,
            kind,
            interval,
            period,
            out,
            base_url,
        } => download(peregrine::download::DownloadConfig {
            symbol,
            kind,
            interval,
            period,
            from,
            to,
            out,
            base_url,
        }),
        Command::Keys {
            action: KeysCommand::Check { config, user },
        } => peregrine::app::keys_check_cli(&config, &user),
        Command::Migrate { database_url } => peregrine::app::migrate_cli(database_url.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, each cause once: a cause whose text an outer
/// message already contains (`opening X: <os error>` over the OS error itself) is left out.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}

fn check(files: &[PathBuf]) -> ExitCode {
    let mut failed = 0;
    for f in files {
        let problems = StrategyHost::check_file_all(f);
        if problems.is_empty() {
            println!("{}: ok", f.display());
        }
        for e in &problems {
            failed += 1;
            println!("{e}");
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn backtest(args: &peregrine::backtest::cli::BacktestArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let cfg = args.to_config()?;
    let file = std::fs::File::open(&args.data)
        .with_context(|| format!("opening {}", args.data.display()))?;
    let started = std::time::Instant::now();
    let input = std::io::BufReader::with_capacity(1 << 16, file);
    // With --out, the order/fill rows go straight to their files (flat memory).
    let outcome = match &args.out {
        Some(dir) => peregrine::backtest::run_backtest_to(cfg, input, dir),
        None => peregrine::backtest::run_backtest(cfg, input),
    }
    .with_context(|| format!("backtest over {}", args.data.display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    print!("{}", outcome.summary.render());
    println!(
        "  speed          {} ticks in {elapsed:.3} s ({:.0} ticks/s)",
        outcome.summary.ticks,
        outcome.summary.ticks as f64 / elapsed.max(1e-9)
    );
    if let Some(dir) = &args.out {
        peregrine::backtest::write_reports(&outcome, dir)?;
        println!("  outputs        {}", dir.display());
    }
    Ok(())
}

fn optimize(args: &peregrine::backtest::optimize::OptimizeArgs) -> anyhow::Result<()> {
    let sweep = peregrine::backtest::optimize::run(args)?;
    print!("{}", sweep.render(args.top));
    if let Some(dir) = &args.backtest.out {
        sweep.write(dir)?;
        println!("  outputs        {}", dir.join("optimize.jsonl").display());
    }
    Ok(())
}

fn gen_ticks(args: &peregrine::backtest::cli::GenTicksArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let cfg = args.to_config()?;
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let stats = peregrine::backtest::gen::generate(&cfg, std::io::BufWriter::new(file))?;
    println!(
        "{}: {} trades, {} quotes (SYNTHETIC: simulator seed {}, {} steps of {} ms)",
        args.out.display(),
        stats.trades,
        stats.quotes,
        cfg.seed,
        cfg.steps,
        cfg.step_ms
    );
    Ok(())
}

fn import(
    files: Vec<PathBuf>,
    out: PathBuf,
    symbol: Option<String>,
    format: Option<peregrine::import::format::Format>,
) -> anyhow::Result<()> {
    let cfg = peregrine::import::ImportConfig {
        files,
        out,
        symbol,
        format,
    };
    let summary = peregrine::import::run(&cfg)?;
    print!("{}", summary.render(&cfg.out));
    Ok(())
}

fn download(cfg: peregrine::download::DownloadConfig) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(peregrine::download::run(&cfg))?;
    print!("{}", peregrine::download::render(&report));
    Ok(())
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
