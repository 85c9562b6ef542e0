//! `peregrine backtest`: the real core loop (strategies, risk gate, order tracking,
//! positions) driven step by step over recorded interchange ticks, with a replay
//! [`EngineClock`] and a backtest venue that fills orders with the simulator's matching
//! engine against the recorded market (fill model: [`venue`]).
//!
//! Deterministic: engine time is the recorded event time, ids come from counters, nothing
//! iterates a hash map into the output, so the same inputs give byte-identical outputs.

pub mod cli;
pub mod data;
pub mod gen;
pub mod grid;
pub mod html;
pub mod marks;
pub mod metrics;
pub mod optimize;
pub mod parity;
pub mod report;
pub mod rows;
pub mod svg;
pub mod venue;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::account::StartBalance;
use peregrine_engine::clock::EngineClock;
use peregrine_engine::config::StrategyConfig;
use peregrine_engine::core::{Core, CoreError, CoreReport, CoreSetup};
use peregrine_engine::events::{FillRow, OrderRow, RiskEventRow, SignalRow, SinkEvent};
use peregrine_engine::gateway::SignedOrder;
use peregrine_engine::interchange::InterchangeError;
use peregrine_engine::order::ExecReport;
use peregrine_engine::risk::{KillSwitch, RiskGate, RiskLimits};
use peregrine_engine::strategy::StrategyLimits;
use peregrine_engine::tick::{Tick, TickKind};
use peregrine_engine::types::Instruments;
use rust_decimal::Decimal;
use serde::Serialize;

use self::data::TickDecoder;
use self::marks::{MarkPoint, MarkSeries};
use self::metrics::{max_drawdown, sharpe_per_sample, EquityPoint, EquityTracker};
use self::report::{Report, RoundTrip, RoundTrips};
use self::rows::Rows;
use self::venue::{BacktestSigner, BacktestVenue, VenueStats};
use peregrine_exchanges::sim::fees::FeeModel;

/// Run id of every backtest (client order ids read `pgbac-<seq>`).
pub const BACKTEST_RUN_ID: u64 = 0xbac;
/// Rounds of exec report -> strategy -> order -> exec report allowed for one event before the
/// backtest stops as a runaway feedback loop.
const MAX_ROUNDS_PER_EVENT: usize = 10_000;

/// Why a backtest failed.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// A data line could not be read or parsed (the message names the line).
    #[error("data {0}")]
    Interchange(#[from] InterchangeError),
    /// A data line parsed but is not a usable event.
    #[error("data line {line}: {message}")]
    Data {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The core could not start (a strategy failed to load).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Exec reports and new orders kept feeding each other within one event.
    #[error("more than {MAX_ROUNDS_PER_EVENT} order/fill rounds within one event at {ts_ns} ns: the strategy is in a feedback loop")]
    Runaway {
        /// Event time.
        ts_ns: i64,
    },
    /// The simulator's synthetic market could not be built (gen-ticks).
    #[error("synthetic market: {0}")]
    Sim(#[from] peregrine_exchanges::sim::SimError),
    /// Writing an output failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A row could not be serialized.
    #[error("serializing output: {0}")]
    Json(#[from] serde_json::Error),
}

/// Everything a backtest needs besides the data.
#[derive(Clone, Debug)]
pub struct BacktestConfig {
    /// The strategy, its instruments and parameters.
    pub strategy: StrategyConfig,
    /// Further strategies run alongside it in the same core (a portfolio): each with its own
    /// instruments, parameters, positions and equity; one account, one risk gate.
    pub more_strategies: Vec<StrategyConfig>,
    /// The instruments (events of other symbols are skipped).
    pub instruments: Arc<Instruments>,
    /// Risk limits of the gate.
    pub risk: RiskLimits,
    /// Maker/taker rates and fee asset (the simulator's model).
    pub fees: FeeModel,
    /// Order latency in event time, ns (0 = orders meet the market of the causing event).
    pub latency_ns: u64,
    /// Equity curve sampling interval in event time, ns.
    pub equity_interval_ns: i64,
    /// Strategy sandbox limits.
    pub strategy_limits: StrategyLimits,
    /// Cancel working orders at the end of the data.
    pub cancel_at_end: bool,
    /// Starting capital in quote currency: what returns, drawdown and buy-and-hold are
    /// percentages of.
    pub capital: Decimal,
}

impl BacktestConfig {
    /// Every strategy of the run, the first one first.
    pub fn all_strategies(&self) -> impl Iterator<Item = &StrategyConfig> {
        std::iter::once(&self.strategy).chain(&self.more_strategies)
    }
}

/// The result of a backtest: the summary and the rows written to `--out`.
#[derive(Debug)]
pub struct BacktestOutcome {
    /// The summary.
    pub summary: BacktestSummary,
    /// Every order state change, in order.
    pub orders: Vec<OrderRow>,
    /// Every fill, in order.
    pub fills: Vec<FillRow>,
    /// Risk events (refusals, strategy errors), in order.
    pub risk_events: Vec<RiskEventRow>,
    /// The equity curve.
    pub equity: Vec<EquityPoint>,
    /// Round trips, in the order they opened.
    pub round_trips: Vec<RoundTrip>,
    /// The strategies' `signal()` calls, in order.
    pub signals: Vec<SignalRow>,
    /// The first instrument's price at each equity sample (the report's price panel).
    pub marks: Vec<MarkPoint>,
    /// The order, fill, risk-event and signal rows went to files as they came
    /// ([`run_backtest_to`]); their vectors here are empty.
    pub streamed: bool,
    /// Each strategy's own equity curve (same sampling times as `equity`), in the order of
    /// [`BacktestConfig::all_strategies`].
    pub strategy_equity: Vec<(String, Vec<EquityPoint>)>,
}

/// What one strategy of a run did (a portfolio's part; with one strategy, the whole run).
#[derive(Clone, Debug, Serialize)]
pub struct StrategyResult {
    /// Strategy name.
    pub name: String,
    /// Its instruments.
    pub symbols: Vec<String>,
    /// Its fills.
    pub trades: u64,
    /// Fees it paid, quote currency.
    pub fees: Decimal,
    /// Its realized PnL net of fees.
    pub realized_pnl: Decimal,
    /// Its unrealized PnL at the last marks.
    pub unrealized_pnl: Decimal,
    /// Its final equity (realized + unrealized).
    pub final_equity: Decimal,
    /// Its largest peak-to-trough fall of equity, quote currency.
    pub max_drawdown: Decimal,
    /// Its round trips and return statistics, in percent of the run's whole `--capital`
    /// (its contribution to the portfolio).
    pub report: Report,
}

/// What a backtest did. Deterministic: no wall-clock figures.
#[derive(Clone, Debug, Serialize)]
pub struct BacktestSummary {
    /// Strategy name.
    pub strategy: String,
    /// Traded symbols.
    pub symbols: Vec<String>,
    /// Data lines read (events).
    pub events: u64,
    /// Lines skipped (symbol not traded).
    pub skipped_events: u64,
    /// Ticks processed by the core.
    pub ticks: u64,
    /// Event time of the first and last tick, ns.
    pub first_ts_ns: i64,
    /// Event time of the last tick, ns.
    pub last_ts_ns: i64,
    /// Orders sent to the venue.
    pub orders: u64,
    /// Fills (trades) booked.
    pub trades: u64,
    /// Orders refused (risk gate or venue).
    pub rejects: u64,
    /// Of which by the risk gate.
    pub risk_rejects: u64,
    /// Cancel requests sent.
    pub cancels: u64,
    /// Strategy callback errors.
    pub strategy_errors: u64,
    /// Fees paid, quote currency.
    pub fees: Decimal,
    /// Realized PnL net of fees, quote currency.
    pub realized_pnl: Decimal,
    /// Unrealized PnL of the final position at the last mark.
    pub unrealized_pnl: Decimal,
    /// Final equity (realized + unrealized).
    pub final_equity: Decimal,
    /// Final net position, base units.
    pub final_position: Decimal,
    /// Largest peak-to-trough fall of the sampled equity curve.
    pub max_drawdown: Decimal,
    /// Per-sample Sharpe of equity changes (not annualised), if defined.
    pub sharpe_per_sample: Option<f64>,
    /// Equity samples.
    pub equity_samples: usize,
    /// Sampling interval, ns of event time.
    pub equity_interval_ns: i64,
    /// Maker fee, bps.
    pub maker_fee_bps: Decimal,
    /// Taker fee, bps.
    pub taker_fee_bps: Decimal,
    /// Order latency, ns of event time.
    pub latency_ns: u64,
    /// Orders still working at the end.
    pub working_orders_at_end: usize,
    /// Venue counters.
    pub venue_cancel_misses: u64,
    /// Round-trip and return statistics.
    pub report: Report,
    /// Per strategy (one entry per strategy, in order; the portfolio is the fields above).
    pub per_strategy: Vec<StrategyResult>,
}

impl BacktestSummary {
    /// The human-readable summary printed by `peregrine backtest`.
    pub fn render(&self) -> String {
        let secs = (self.last_ts_ns - self.first_ts_ns) as f64 / 1e9;
        let sharpe = self
            .sharpe_per_sample
            .map_or("n/a".to_string(), |s| format!("{s:.4}"));
        format!(
            "backtest {strategy} on {symbols}\n\
             \x20 data           {events} events ({skipped} skipped), {ticks} ticks, {secs:.3} s of event time\n\
             \x20 orders         {orders} sent, {rejects} refused ({risk} by risk), {cancels} cancels\n\
             \x20 trades         {trades}\n\
             \x20 fees           {fees} (maker {mbps} bps, taker {tbps} bps)\n\
             \x20 realized PnL   {realized} (net of fees)\n\
             \x20 unrealized PnL {unrealized} (final position {pos} at the last mark)\n\
             \x20 final equity   {equity}\n\
             \x20 max drawdown   {dd}\n\
             \x20 Sharpe         {sharpe} (per {interval} ms sample of equity changes, not annualised)\n\
             \x20 strategy errs  {errs}; working orders at end {working}\n\
             {report}",
            strategy = self.strategy,
            symbols = self.symbols.join(","),
            events = self.events,
            skipped = self.skipped_events,
            ticks = self.ticks,
            orders = self.orders,
            rejects = self.rejects,
            risk = self.risk_rejects,
            cancels = self.cancels,
            trades = self.trades,
            fees = self.fees,
            mbps = self.maker_fee_bps,
            tbps = self.taker_fee_bps,
            realized = self.realized_pnl,
            unrealized = self.unrealized_pnl,
            pos = self.final_position,
            equity = self.final_equity,
            dd = self.max_drawdown,
            interval = self.equity_interval_ns / 1_000_000,
            errs = self.strategy_errors,
            working = self.working_orders_at_end,
            report = self.render_report(),
        ) + self.render_per_strategy().as_str()
    }

    /// One line per strategy, when there are several.
    fn render_per_strategy(&self) -> String {
        if self.per_strategy.len() < 2 {
            return String::new();
        }
        let mut out = String::from("  per strategy (returns in % of the whole capital)\n");
        for s in &self.per_strategy {
            let r = &s.report;
            out.push_str(&format!(
                "    {name:<16} {symbols}: equity {eq} (realized {re}, fees {fees}), {trades} trades, {trips} round trips, return {ret:.2} %, max drawdown {dd:.2} %, Sharpe {sh}\n",
                name = s.name,
                symbols = s.symbols.join(","),
                eq = s.final_equity,
                re = s.realized_pnl,
                fees = s.fees,
                trades = s.trades,
                trips = r.round_trips,
                ret = r.total_return_pct,
                dd = r.max_drawdown_pct,
                sh = r.sharpe.map_or("n/a".to_string(), |v| format!("{v:.3}")),
            ));
        }
        out
    }

    fn render_report(&self) -> String {
        let r = &self.report;
        let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2} %"));
        let num = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
        format!(
            "\x20 round trips    {n} closed, win rate {wr}, profit factor {pf}, expectancy {ex}, avg hold {hold}\n\
             \x20 returns        {tot:.2} % of capital {cap} ({ann} annualised), buy and hold {bh}\n\
             \x20 risk           max drawdown {dd:.2} % lasting {ddd:.0} s, exposure {exp:.1} %\n\
             \x20 ratios         Sharpe {sh}, Sortino {so}, Calmar {ca} (annualised from the data's span)\n",
            n = r.round_trips,
            wr = pct(r.win_rate.map(|w| w * 100.0)),
            pf = num(r.profit_factor),
            ex = r.expectancy.map_or("n/a".to_string(), |e| e.to_string()),
            hold = r.avg_holding_s.map_or("n/a".to_string(), |h| format!("{h:.1} s")),
            tot = r.total_return_pct,
            cap = r.capital,
            ann = pct(r.annualized_return_pct),
            bh = pct(r.buy_and_hold_return_pct),
            dd = r.max_drawdown_pct,
            ddd = r.max_drawdown_duration_s,
            exp = r.exposure * 100.0,
            sh = num(r.sharpe),
            so = num(r.sortino),
            ca = num(r.calmar),
        )
    }
}

/// The core setup of a backtest's strategies and instruments, with the given signer, gateway
/// and sink (the backtest driver and the live-loop replay of [`parity`] differ only in those).
fn core_setup(
    cfg: &BacktestConfig,
    signer: Box<dyn peregrine_engine::gateway::OrderSigner>,
    gateway: peregrine_engine::gateway::GatewaySender,
    sink: Box<dyn peregrine_engine::core::EventOut>,
) -> CoreSetup {
    CoreSetup {
        run_id: BACKTEST_RUN_ID,
        venue: "backtest".into(),
        instruments: cfg.instruments.clone(),
        strategies: cfg.all_strategies().cloned().collect(),
        strategy_limits: cfg.strategy_limits,
        max_strategy_errors: 10,
        error_window: Duration::from_secs(60),
        risk: RiskGate::new(cfg.risk, KillSwitch::new(false)),
        signer,
        gateway,
        ticks: crossbeam_channel::never(),
        execs: crossbeam_channel::never(),
        sink,
        cancel_on_stop: cfg.cancel_at_end,
        drain_timeout: Duration::ZERO,
        progress_interval: Duration::ZERO,
        equity_interval: Duration::ZERO,
        restore: Default::default(),
        balances: cfg
            .strategy
            .instruments
            .first()
            .and_then(|s| cfg.instruments.by_symbol(s))
            .map(|id| StartBalance {
                asset: cfg.instruments.spec(id).quote.clone(),
                free: cfg.capital,
                locked: Decimal::ZERO,
            })
            .into_iter()
            .collect(),
        db_reloads: crossbeam_channel::never(),
        signals: crossbeam_channel::never(),
    }
}

/// The backtest venue of `cfg`, reading approved requests from `requests`.
fn backtest_venue(
    cfg: &BacktestConfig,
    requests: crossbeam_channel::Receiver<peregrine_engine::order::OrderRequest>,
) -> BacktestVenue {
    BacktestVenue::new(
        BACKTEST_RUN_ID,
        &cfg.instruments,
        requests,
        cfg.fees,
        cfg.latency_ns,
    )
}

/// A backtest driven one tick at a time: the core, the venue and the bookkeeping.
pub struct Backtest {
    core: Core,
    venue: BacktestVenue,
    gateway: tokio::sync::mpsc::UnboundedReceiver<SignedOrder>,
    sink: crossbeam_channel::Receiver<SinkEvent>,
    reports: Vec<ExecReport>,
    equity: EquityTracker,
    /// Each strategy's own equity (by index of `all_strategies`), marked like `equity`.
    strategy_equity: Vec<EquityTracker>,
    /// Strategy name -> index into `strategy_equity`.
    strategy_index: BTreeMap<String, usize>,
    /// Each strategy's fill count (by the same index).
    strategy_fills: Vec<u64>,
    has_quote: Vec<bool>,
    instruments: Arc<Instruments>,
    cfg: BacktestConfig,
    rows: Rows,
    trips: RoundTrips,
    /// First and last mark of the first instrument (buy-and-hold benchmark).
    first_mark: Option<Decimal>,
    last_mark: Option<Decimal>,
    first_ts: Option<i64>,
    last_ts: i64,
    marks: MarkSeries,
}

impl Backtest {
    /// Loads the strategy and builds the core on a replay clock.
    pub fn new(cfg: BacktestConfig) -> Result<Self, BacktestError> {
        let (signer, requests) = BacktestSigner::new();
        let (gw_tx, gw_rx) = tokio::sync::mpsc::unbounded_channel();
        let (sink_tx, sink_rx) = crossbeam_channel::unbounded();
        let setup = core_setup(&cfg, Box::new(signer), gw_tx, Box::new(sink_tx));
        let mut core = Core::with_clock(setup, EngineClock::replay(0))?;
        // Terminal orders out of memory: a long run's orders do not pile up in the tracker.
        core.release_final_orders();
        let n = cfg.instruments.len();
        Ok(Self {
            core,
            venue: backtest_venue(&cfg, requests),
            gateway: gw_rx,
            sink: sink_rx,
            reports: Vec::with_capacity(16),
            equity: EquityTracker::new(n, cfg.equity_interval_ns),
            strategy_equity: cfg
                .all_strategies()
                .map(|_| EquityTracker::new(n, cfg.equity_interval_ns))
                .collect(),
            strategy_index: cfg
                .all_strategies()
                .enumerate()
                .map(|(i, s)| (s.name.clone(), i))
                .collect(),
            strategy_fills: cfg.all_strategies().map(|_| 0).collect(),
            has_quote: vec![false; n],
            instruments: cfg.instruments.clone(),
            cfg,
            rows: Rows::default(),
            trips: RoundTrips::default(),
            first_mark: None,
            last_mark: None,
            first_ts: None,
            last_ts: 0,
            marks: MarkSeries::default(),
        })
    }

    /// Writes the order, fill, risk-event and signal rows to `dir`'s JSON-lines files as they
    /// come instead of keeping them (a long run's memory stays flat).
    pub fn stream_rows_to(&mut self, dir: &Path) -> Result<(), BacktestError> {
        self.rows = Rows::streamed_to(dir)?;
        Ok(())
    }

    /// Processes one recorded tick: due in-flight orders reach the venue, the venue matches
    /// our resting orders against the event, the core sees the event (strategies run), their
    /// orders meet the market, and equity is sampled.
    pub fn step(&mut self, tick: Tick) -> Result<(), BacktestError> {
        let now = tick.exch_ts_ns.max(self.last_ts);
        self.last_ts = now;
        self.first_ts.get_or_insert(now);
        self.venue.activate_due(now, &mut self.reports);
        self.venue.on_market(&tick, &mut self.reports);
        if !self.reports.is_empty() {
            self.settle(now)?;
        }
        let i = tick.instrument.index();
        let mark = match tick.kind {
            TickKind::Quote(q) => {
                self.has_quote[i] = true;
                self.equity.mark_mid(i, q.bid_px, q.ask_px);
                for e in &mut self.strategy_equity {
                    e.mark_mid(i, q.bid_px, q.ask_px);
                }
                (i == 0).then(|| (q.bid_px + q.ask_px) / Decimal::TWO)
            }
            TickKind::Trade(t) if !self.has_quote[i] => {
                self.equity.mark(i, t.price);
                for e in &mut self.strategy_equity {
                    e.mark(i, t.price);
                }
                (i == 0).then_some(t.price)
            }
            _ => None,
        };
        if mark.is_some() {
            self.first_mark = self.first_mark.or(mark);
            self.last_mark = mark;
        }
        // Timers and time-closed bars due since the last event fire inside `on_tick`, at
        // their due times (`Core::advance_clock`); what the event's callbacks set due now
        // fires after it, as the live loop polls its clock after every event.
        self.core.on_tick(tick);
        self.settle(now)?;
        self.core.advance_clock(now);
        self.settle(now)?;
        self.equity.observe(now);
        for e in &mut self.strategy_equity {
            e.observe(now);
        }
        self.marks
            .follow(self.equity.points.len(), now, self.last_mark);
        Ok(())
    }

    /// Delivers exec reports and new requests back and forth until nothing is left.
    fn settle(&mut self, now: i64) -> Result<(), BacktestError> {
        for _ in 0..MAX_ROUNDS_PER_EVENT {
            while let Ok(signed) = self.gateway.try_recv() {
                self.venue.submit(signed, now, &mut self.reports);
            }
            self.drain_sink()?;
            if self.reports.is_empty() {
                return Ok(());
            }
            let mut reports = std::mem::take(&mut self.reports);
            for r in reports.drain(..) {
                self.core.on_exec(r);
            }
            self.reports = reports;
        }
        Err(BacktestError::Runaway { ts_ns: now })
    }

    fn drain_sink(&mut self) -> Result<(), BacktestError> {
        while let Ok(ev) = self.sink.try_recv() {
            match ev {
                SinkEvent::Order(o) => self.rows.order(o)?,
                SinkEvent::Fill(f) => {
                    if let Some(&k) = self.strategy_index.get(&f.strategy) {
                        self.strategy_fills[k] += 1;
                    }
                    if let Some(id) = self.instruments.by_symbol(&f.symbol) {
                        let fee = report::fill_fee(&f, self.instruments.spec(id));
                        self.equity.on_fill(id.index(), f.side, f.price, f.qty, fee);
                        if let Some(e) = self
                            .strategy_index
                            .get(&f.strategy)
                            .and_then(|&k| self.strategy_equity.get_mut(k))
                        {
                            e.on_fill(id.index(), f.side, f.price, f.qty, fee);
                        }
                    }
                    self.trips.push(&f, &self.instruments);
                    self.rows.fill(f)?;
                }
                SinkEvent::Risk(r) => self.rows.risk_event(r)?,
                SinkEvent::Signal(r) => self.rows.signal(r)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// End of data: strategies' `on_stop`, in-flight orders reach the venue, working orders
    /// are cancelled (if configured); returns the outcome.
    pub fn finish(mut self, events: u64, skipped: u64) -> Result<BacktestOutcome, BacktestError> {
        let now = self.last_ts;
        // Whatever is still in flight arrives, then strategies stop and working orders are
        // cancelled; requests made on the way (cancels, `on_stop` orders) arrive too.
        self.venue.activate_due(i64::MAX, &mut self.reports);
        self.settle(now)?;
        // The bar still forming at the end of the data is closed, not dropped.
        self.core.close_bars();
        self.settle(now)?;
        self.core.stop();
        self.settle(now)?;
        self.venue.activate_due(i64::MAX, &mut self.reports);
        self.settle(now)?;
        let working = self.core.working_orders();
        let venue_stats: VenueStats = self.venue.stats;
        self.drain_sink()?;
        self.rows.flush()?;
        let report: CoreReport = self.core.finish();
        self.equity.close(now);
        self.marks.close(now, self.last_mark);
        let points = std::mem::take(&mut self.equity.points);
        let strategy_equity: Vec<(String, Vec<EquityPoint>)> = self
            .cfg
            .all_strategies()
            .zip(&mut self.strategy_equity)
            .map(|(s, e)| {
                e.close(now);
                (s.name.clone(), std::mem::take(&mut e.points))
            })
            .collect();
        let last = points.last().cloned();
        let realized = last.as_ref().map_or(Decimal::ZERO, |p| p.realized);
        let final_equity = last.as_ref().map_or(Decimal::ZERO, |p| p.equity);
        let round_trips = self.trips.finish(now);
        let stats = report::report(
            &round_trips,
            &points,
            self.cfg.capital,
            self.first_mark,
            self.last_mark,
        );
        let per_strategy = per_strategy(
            &self.cfg,
            &self.strategy_fills,
            &strategy_equity,
            &round_trips,
            (self.first_mark, self.last_mark),
        );
        let summary = BacktestSummary {
            strategy: self
                .cfg
                .all_strategies()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            symbols: self
                .instruments
                .iter()
                .map(|(_, s)| s.symbol.clone())
                .collect(),
            events,
            skipped_events: skipped,
            ticks: report.ticks,
            first_ts_ns: self.first_ts.unwrap_or(0),
            last_ts_ns: now,
            orders: report.orders,
            trades: report.fills,
            rejects: report.rejects,
            risk_rejects: report.risk_rejects,
            cancels: report.cancels,
            strategy_errors: report.strategy_errors,
            fees: last.as_ref().map_or(Decimal::ZERO, |p| p.fees),
            realized_pnl: realized,
            unrealized_pnl: (final_equity - realized).normalize(),
            final_equity,
            final_position: last.as_ref().map_or(Decimal::ZERO, |p| p.position),
            max_drawdown: max_drawdown(&points),
            sharpe_per_sample: sharpe_per_sample(&points),
            equity_samples: points.len(),
            equity_interval_ns: self.cfg.equity_interval_ns,
            maker_fee_bps: self.cfg.fees.maker_bps(),
            taker_fee_bps: self.cfg.fees.taker_bps(),
            latency_ns: self.cfg.latency_ns,
            working_orders_at_end: working,
            venue_cancel_misses: venue_stats.cancel_misses,
            report: stats,
            per_strategy,
        };
        let streamed = self.rows.is_streamed();
        let rows = self.rows;
        Ok(BacktestOutcome {
            summary,
            orders: rows.orders,
            fills: rows.fills,
            risk_events: rows.risk_events,
            equity: points,
            round_trips,
            signals: rows.signals,
            marks: self.marks.points,
            streamed,
            strategy_equity,
        })
    }
}

/// Each strategy's result from its own equity curve and round trips; `marks` are the first
/// and last marks of the first instrument (the buy-and-hold benchmark).
fn per_strategy(
    cfg: &BacktestConfig,
    fills: &[u64],
    curves: &[(String, Vec<EquityPoint>)],
    trips: &[RoundTrip],
    marks: (Option<Decimal>, Option<Decimal>),
) -> Vec<StrategyResult> {
    cfg.all_strategies()
        .zip(curves)
        .zip(fills)
        .map(|((s, (name, points)), &trades)| {
            let own: Vec<RoundTrip> = trips
                .iter()
                .filter(|t| &t.strategy == name)
                .cloned()
                .collect();
            let last = points.last();
            let realized = last.map_or(Decimal::ZERO, |p| p.realized);
            let equity = last.map_or(Decimal::ZERO, |p| p.equity);
            StrategyResult {
                name: name.clone(),
                symbols: s.instruments.clone(),
                trades,
                fees: last.map_or(Decimal::ZERO, |p| p.fees),
                realized_pnl: realized,
                unrealized_pnl: (equity - realized).normalize(),
                final_equity: equity,
                max_drawdown: max_drawdown(points),
                report: report::report(&own, points, cfg.capital, marks.0, marks.1),
            }
        })
        .collect()
}

/// Runs a backtest over an interchange stream.
pub fn run_backtest<R: BufRead>(
    cfg: BacktestConfig,
    input: R,
) -> Result<BacktestOutcome, BacktestError> {
    let bt = Backtest::new(cfg)?;
    drive(bt, input)
}

/// Runs a backtest over an interchange stream, writing its order, fill, risk-event and signal
/// rows to `dir` as they come (memory stays flat however many orders the run makes); finish
/// with [`write_reports`].
pub fn run_backtest_to<R: BufRead>(
    cfg: BacktestConfig,
    input: R,
    dir: &Path,
) -> Result<BacktestOutcome, BacktestError> {
    let mut bt = Backtest::new(cfg)?;
    bt.stream_rows_to(dir)?;
    drive(bt, input)
}

fn drive<R: BufRead>(mut bt: Backtest, input: R) -> Result<BacktestOutcome, BacktestError> {
    let mut decoder = TickDecoder::new(bt.instruments.clone());
    let mut ticks = Vec::with_capacity(64);
    let events = data::for_each_line(input, |ev, line| {
        ticks.clear();
        decoder.decode(&ev, line, &mut ticks)?;
        for t in ticks.drain(..) {
            bt.step(t)?;
        }
        Ok(())
    })?;
    bt.finish(events, decoder.skipped)
}

/// Runs a backtest over ticks already decoded (`peregrine optimize` reads its data once).
pub fn run_ticks(cfg: BacktestConfig, ticks: &[Tick]) -> Result<BacktestOutcome, BacktestError> {
    let mut bt = Backtest::new(cfg)?;
    for t in ticks {
        bt.step(*t)?;
    }
    bt.finish(ticks.len() as u64, 0)
}

fn write_jsonl<T: Serialize>(dir: &Path, name: &str, rows: &[T]) -> Result<(), BacktestError> {
    let path = dir.join(name);
    let werr = |source| BacktestError::Write {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::create(&path).map_err(werr)?;
    let mut w = std::io::BufWriter::new(file);
    for r in rows {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n").map_err(werr)?;
    }
    w.flush().map_err(werr)
}

/// One point of one strategy's equity curve, as `strategy_equity.jsonl` writes it.
#[derive(Serialize)]
struct StrategyEquityRow<'a> {
    strategy: &'a str,
    #[serde(flatten)]
    point: &'a EquityPoint,
}

/// Writes `orders.jsonl`, `fills.jsonl`, `risk_events.jsonl`, `signals.jsonl` (unless the
/// run streamed them there already) and the reports ([`write_reports`]) into `dir` (created
/// if missing).
pub fn write_outputs(outcome: &BacktestOutcome, dir: &Path) -> Result<(), BacktestError> {
    std::fs::create_dir_all(dir).map_err(|source| BacktestError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    if !outcome.streamed {
        let [o, f, r, s] = rows::ROW_FILES;
        write_jsonl(dir, o, &outcome.orders)?;
        write_jsonl(dir, f, &outcome.fills)?;
        write_jsonl(dir, r, &outcome.risk_events)?;
        write_jsonl(dir, s, &outcome.signals)?;
    }
    write_reports(outcome, dir)
}

/// Writes `equity.jsonl` (the portfolio), `strategy_equity.jsonl` (each strategy's curve),
/// `trades.jsonl` (round trips), `summary.json`, `equity.svg` and `report.html` into `dir`
/// (created if missing).
pub fn write_reports(outcome: &BacktestOutcome, dir: &Path) -> Result<(), BacktestError> {
    let werr = |path: PathBuf| move |source| BacktestError::Write { path, source };
    std::fs::create_dir_all(dir).map_err(werr(dir.to_path_buf()))?;
    write_jsonl(dir, "equity.jsonl", &outcome.equity)?;
    write_jsonl(dir, "trades.jsonl", &outcome.round_trips)?;
    let per_strategy: Vec<StrategyEquityRow> = outcome
        .strategy_equity
        .iter()
        .flat_map(|(strategy, points)| {
            points
                .iter()
                .map(move |point| StrategyEquityRow { strategy, point })
        })
        .collect();
    write_jsonl(dir, "strategy_equity.jsonl", &per_strategy)?;
    let summary = serde_json::to_string_pretty(&outcome.summary)? + "\n";
    let p = dir.join("summary.json");
    std::fs::write(&p, summary).map_err(werr(p.clone()))?;
    let s = &outcome.summary;
    let title = format!(
        "{} on {}: equity (final {}, max drawdown {})",
        s.strategy,
        s.symbols.join(","),
        s.final_equity,
        s.max_drawdown
    );
    let p = dir.join("equity.svg");
    std::fs::write(&p, svg::equity_svg(&outcome.equity, &title)).map_err(werr(p.clone()))?;
    let page = html::render(&html::HtmlReport {
        title: &format!("{} on {}", s.strategy, s.symbols.join(",")),
        summary: s,
        equity: &outcome.equity,
        marks: &outcome.marks,
        trips: &outcome.round_trips,
    })?;
    let p = dir.join("report.html");
    std::fs::write(&p, page).map_err(werr(p.clone()))?;
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod parity_tests;
