//! `peregrine optimize`: a grid sweep over a strategy's parameters ([`super::grid`]), every
//! combination backtested in sample (the first part of the data's time span) and out of sample
//! (the rest), in parallel on a bounded number of threads, ranked by a chosen in-sample metric
//! with the out-of-sample figures beside it.
//!
//! Deterministic: the data is read once; each combination's two backtests are independent runs
//! of the same code as `peregrine backtest` (fresh strategy state, flat, on the replay clock);
//! results are put back in combination order before ranking, and ties keep that order, so the
//! table does not depend on the number of threads or their timing.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use peregrine_engine::strategy::params::script_params;
use peregrine_engine::tick::Tick;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use super::cli::{ArgsError, BacktestArgs};
use super::data::{for_each_line, TickDecoder};
use super::grid::{self, Axis, GridError};
use super::report::Report;
use super::{run_ticks, BacktestConfig, BacktestError};

/// `peregrine optimize` arguments: those of `peregrine backtest` (the fixed parameters go in
/// `--param`), the grid, the split and the ranking.
#[derive(Debug, Clone, clap::Args)]
pub struct OptimizeArgs {
    /// The backtest every combination runs (`--out DIR` writes `optimize.jsonl` there).
    #[command(flatten)]
    pub backtest: BacktestArgs,
    /// A swept parameter (repeatable): `NAME=A..B:STEP` (inclusive), `NAME=V1,V2,...`, or a
    /// declared `NAME` (its `min`..`max` by its `step`, its `choices`, or false/true).
    /// Default: every declared parameter with min, max and step.
    #[arg(long = "grid", value_name = "SPEC")]
    pub grid: Vec<String>,
    /// Share of the data's time span that is in sample, in (0, 1]; the later rest is out of
    /// sample (1: no out-of-sample run).
    #[arg(long, default_value_t = 0.7)]
    pub in_sample: f64,
    /// In-sample metric the table is ranked by (best first).
    #[arg(long, value_enum, default_value = "sharpe")]
    pub rank: RankBy,
    /// Threads (default: the machine's cores); at most one per combination.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Print only the best N rows (all are written to `--out`).
    #[arg(long)]
    pub top: Option<usize>,
}

/// What the sweep ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// Annualised Sharpe ratio.
    Sharpe,
    /// Annualised Sortino ratio.
    Sortino,
    /// Annualised return over max drawdown.
    Calmar,
    /// Total return, percent of capital.
    Return,
    /// Gross profit over gross loss of closed round trips.
    ProfitFactor,
    /// Share of winning round trips.
    WinRate,
    /// Mean PnL per closed round trip.
    Expectancy,
    /// Max drawdown, percent (smaller ranks first).
    MaxDrawdown,
}

impl RankBy {
    /// The metric of a run's report, oriented so that larger is better; `None`: undefined
    /// (ranks after every defined value).
    pub fn score(self, r: &Report) -> Option<f64> {
        let v = match self {
            RankBy::Sharpe => r.sharpe,
            RankBy::Sortino => r.sortino,
            RankBy::Calmar => r.calmar,
            RankBy::Return => Some(r.total_return_pct),
            RankBy::ProfitFactor => r.profit_factor,
            RankBy::WinRate => r.win_rate,
            RankBy::Expectancy => r.expectancy.and_then(|e| e.to_f64()),
            RankBy::MaxDrawdown => Some(-r.max_drawdown_pct),
        };
        v.filter(|x| x.is_finite())
    }
}

/// Why a sweep failed.
#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    /// Bad backtest arguments or config.
    #[error(transparent)]
    Args(#[from] ArgsError),
    /// A bad `--grid`.
    #[error(transparent)]
    Grid(#[from] GridError),
    /// Something else about the sweep is wrong (the message says what).
    #[error("{0}")]
    Invalid(String),
    /// Reading the data failed.
    #[error(transparent)]
    Backtest(#[from] Box<BacktestError>),
    /// One combination's backtest failed.
    #[error("combination {params}: {source}")]
    Combination {
        /// `name=value ...`.
        params: String,
        /// The failure.
        source: Box<BacktestError>,
    },
    /// Writing `optimize.jsonl` failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The figures of one backtest of one combination.
#[derive(Clone, Debug, Serialize)]
pub struct RunFigures {
    /// Event time span, ns (first to last tick).
    pub from_ts_ns: i64,
    /// See `from_ts_ns`.
    pub to_ts_ns: i64,
    /// Fills.
    pub trades: u64,
    /// Final equity, quote currency.
    pub final_equity: Decimal,
    /// Round trips and return statistics.
    pub report: Report,
}

/// One combination's result.
#[derive(Clone, Debug, Serialize)]
pub struct SweepRow {
    /// Position in the grid (0-based, the last axis varying fastest).
    pub combination: usize,
    /// Its parameters, in axis order.
    pub params: Vec<(String, String)>,
    /// In sample.
    pub in_sample: RunFigures,
    /// Out of sample (`None` with `--in-sample 1`).
    pub out_of_sample: Option<RunFigures>,
}

/// The result of a sweep, ranked.
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    /// What it is ranked by.
    pub rank: RankBy,
    /// In-sample share of the time span.
    pub in_sample: f64,
    /// First out-of-sample event time, ns.
    pub split_ts_ns: i64,
    /// The swept parameters.
    pub axes: Vec<String>,
    /// Rows, best first.
    pub rows: Vec<SweepRow>,
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads the whole data file into ticks (once for every combination).
fn read_ticks(cfg: &BacktestConfig, data: &std::path::Path) -> Result<Vec<Tick>, OptimizeError> {
    let file = std::fs::File::open(data)
        .map_err(|e| OptimizeError::Invalid(format!("opening {}: {e}", data.display())))?;
    let mut decoder = TickDecoder::new(cfg.instruments.clone());
    let mut ticks = Vec::new();
    for_each_line(
        std::io::BufReader::with_capacity(1 << 16, file),
        |ev, line| decoder.decode(&ev, line, &mut ticks),
    )
    .map_err(Box::new)?;
    Ok(ticks)
}

/// The first tick at or after `fraction` of the span, by event time.
fn split_index(ticks: &[Tick], fraction: f64) -> (usize, i64) {
    let (Some(first), Some(last)) = (ticks.first(), ticks.last()) else {
        return (0, 0);
    };
    let span = (last.exch_ts_ns - first.exch_ts_ns) as f64;
    let split = first.exch_ts_ns + (span * fraction).round() as i64;
    if fraction >= 1.0 {
        return (ticks.len(), split);
    }
    (ticks.partition_point(|t| t.exch_ts_ns < split), split)
}

fn figures(cfg: BacktestConfig, ticks: &[Tick]) -> Result<RunFigures, BacktestError> {
    let out = run_ticks(cfg, ticks)?;
    let s = out.summary;
    Ok(RunFigures {
        from_ts_ns: s.first_ts_ns,
        to_ts_ns: s.last_ts_ns,
        trades: s.trades,
        final_equity: s.final_equity,
        report: s.report,
    })
}

/// Runs the sweep the arguments describe.
pub fn run(args: &OptimizeArgs) -> Result<Sweep, OptimizeError> {
    if !(args.in_sample > 0.0 && args.in_sample <= 1.0) {
        return Err(OptimizeError::Invalid(format!(
            "--in-sample {} must be in (0, 1]",
            args.in_sample
        )));
    }
    let base = args.backtest.to_config()?;
    if !base.more_strategies.is_empty() {
        return Err(OptimizeError::Invalid(
            "optimize sweeps one strategy: pass a single --strategy".into(),
        ));
    }
    let file = &base.strategy.file;
    let source = std::fs::read_to_string(file)
        .map_err(|e| OptimizeError::Invalid(format!("reading {}: {e}", file.display())))?;
    let declared = script_params(file, &source)
        .map_err(|e| OptimizeError::Invalid(e.to_string()))?
        .declared;
    let axes = grid::axes(&args.grid, declared.as_deref())?;
    let combos = grid::combinations(&axes);
    let ticks = read_ticks(&base, &args.backtest.data)?;
    let (k, split_ts_ns) = split_index(&ticks, args.in_sample);
    let (is_ticks, oos_ticks) = ticks.split_at(k);
    if is_ticks.is_empty() {
        return Err(OptimizeError::Invalid(
            "the in-sample part of the data is empty".into(),
        ));
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, combos.len().max(1));
    let rows = sweep(&base, &axes, &combos, is_ticks, oos_ticks, jobs)?;
    Ok(Sweep {
        rank: args.rank,
        in_sample: args.in_sample,
        split_ts_ns,
        axes: axes.iter().map(|a| a.name.clone()).collect(),
        rows: rank(rows, args.rank),
    })
}

/// Runs every combination on `jobs` threads; rows in combination order.
fn sweep(
    base: &BacktestConfig,
    axes: &[Axis],
    combos: &[Vec<toml::Value>],
    is_ticks: &[Tick],
    oos_ticks: &[Tick],
    jobs: usize,
) -> Result<Vec<SweepRow>, OptimizeError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let run_one = |i: usize| -> Result<SweepRow, OptimizeError> {
        let mut cfg = base.clone();
        let mut params = Vec::with_capacity(axes.len());
        for (a, v) in axes.iter().zip(&combos[i]) {
            cfg.strategy.params.insert(a.name.clone(), v.clone());
            params.push((a.name.clone(), value_text(v)));
        }
        let named = |source| OptimizeError::Combination {
            source: Box::new(source),
            params: params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        };
        let in_sample = figures(cfg.clone(), is_ticks).map_err(named)?;
        let out_of_sample = if oos_ticks.is_empty() {
            None
        } else {
            Some(figures(cfg, oos_ticks).map_err(named)?)
        };
        Ok(SweepRow {
            combination: i,
            params,
            in_sample,
            out_of_sample,
        })
    };
    let mut results: Vec<(usize, Result<SweepRow, OptimizeError>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= combos.len() {
                            break;
                        }
                        let r = run_one(i);
                        if r.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        mine.push((i, r));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    if results.len() < combos.len() && !failed.load(Ordering::Relaxed) {
        return Err(OptimizeError::Invalid(
            "a sweep thread panicked; see the log".into(),
        ));
    }
    results.into_iter().map(|(_, r)| r).collect()
}

/// Best first by the in-sample metric; undefined metrics last; ties in combination order.
pub fn rank(mut rows: Vec<SweepRow>, by: RankBy) -> Vec<SweepRow> {
    rows.sort_by(|a, b| {
        let (x, y) = (by.score(&a.in_sample.report), by.score(&b.in_sample.report));
        let order = match (x, y) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        order.then(a.combination.cmp(&b.combination))
    });
    rows
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or("n/a".into(), |x| format!("{x:.prec$}"))
}

/// The table's figures of a run: the ranked metric first when it is not one of them.
const FIGURES: [(&str, Option<RankBy>); 5] = [
    ("ret %", Some(RankBy::Return)),
    ("sharpe", Some(RankBy::Sharpe)),
    ("pf", Some(RankBy::ProfitFactor)),
    ("trips", None),
    ("dd %", Some(RankBy::MaxDrawdown)),
];

fn extra_column(by: RankBy) -> bool {
    !FIGURES.iter().any(|(_, r)| *r == Some(by))
}

fn cells(f: Option<&RunFigures>, by: RankBy) -> Vec<String> {
    let n = FIGURES.len() + usize::from(extra_column(by));
    let Some(f) = f else {
        return vec!["-".into(); n];
    };
    let r = &f.report;
    let mut out = Vec::with_capacity(n);
    if extra_column(by) {
        out.push(opt(by.score(r), 4));
    }
    out.extend([
        format!("{:.4}", r.total_return_pct),
        opt(r.sharpe, 3),
        opt(r.profit_factor, 3),
        r.round_trips.to_string(),
        format!("{:.4}", r.max_drawdown_pct),
    ]);
    out
}

impl Sweep {
    /// The ranked table (at most `top` rows), aligned columns, in-sample then out-of-sample.
    pub fn render(&self, top: Option<usize>) -> String {
        let metric = format!("{:?}", self.rank).to_lowercase();
        let mut figures: Vec<String> = Vec::new();
        if extra_column(self.rank) {
            figures.push(format!("{metric}*"));
        }
        for (name, by) in FIGURES {
            let star = if by == Some(self.rank) { "*" } else { "" };
            figures.push(format!("{name}{star}"));
        }
        let mut header: Vec<String> = vec!["rank".into()];
        header.extend(self.axes.iter().cloned());
        header.extend(figures.iter().map(|h| format!("IS {h}")));
        header.extend(figures.iter().map(|h| format!("OOS {h}")));
        let mut table = vec![header];
        for (i, row) in self.rows.iter().take(top.unwrap_or(usize::MAX)).enumerate() {
            let mut line = vec![(i + 1).to_string()];
            line.extend(row.params.iter().map(|(_, v)| v.clone()));
            line.extend(cells(Some(&row.in_sample), self.rank));
            line.extend(cells(row.out_of_sample.as_ref(), self.rank));
            table.push(line);
        }
        let widths: Vec<usize> = (0..table[0].len())
            .map(|c| table.iter().map(|r| r[c].len()).max().unwrap_or(0))
            .collect();
        let mut out = format!(
            "optimize: {} combinations ranked by in-sample {metric} (*); in sample the first {:.0} % of the span, out of sample from {} ns\n",
            self.rows.len(),
            self.in_sample * 100.0,
            self.split_ts_ns
        );
        for r in &table {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }

    /// Writes every row, ranked, to `dir/optimize.jsonl` (the directory is created).
    pub fn write(&self, dir: &std::path::Path) -> Result<(), OptimizeError> {
        let werr = |path: PathBuf| move |source| OptimizeError::Write { path, source };
        std::fs::create_dir_all(dir).map_err(werr(dir.to_path_buf()))?;
        let path = dir.join("optimize.jsonl");
        let file = std::fs::File::create(&path).map_err(werr(path.clone()))?;
        let mut w = std::io::BufWriter::new(file);
        for (i, row) in self.rows.iter().enumerate() {
            let line = serde_json::json!({ "rank": i + 1, "row": row });
            writeln!(w, "{line}").map_err(werr(path.clone()))?;
        }
        w.flush().map_err(werr(path))
    }
}
