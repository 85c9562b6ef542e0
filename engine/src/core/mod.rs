//! The core loop: the single writer. It owns books, strategies, risk, orders and positions;
//! takes ticks from the lock-free market-data queue and exec reports from the venue, runs the
//! strategies, gates and signs their orders, and emits every order, fill, position and risk
//! event to the sink.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, Receiver, RecvTimeoutError, TryRecvError};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::book::OrderBook;
use crate::clock::{Clock, EngineClock};
use crate::config::StrategyConfig;
use crate::events::{FillRow, OrderRow, PositionRow, RiskEventRow, SinkEvent};
use crate::gateway::{GatewaySender, OrderSigner};
use crate::latency::{LatencyRecorder, LatencySummary};
use crate::order::{ClientOrderId, ExecKind, ExecReport, OrderIntent, OrderRequest};
use crate::orders::{ExecOutcome, OrderTracker, TrackedOrder};
use crate::position::Position;
use crate::risk::{ExposureView, RiskGate, RiskReject};
use crate::stages::{EngineCounters, OrderTimes, ReportKind, Stage, StageSet, StageSummary};
use crate::strategy::{
    FillView, InstrumentView, OrderIds, QuoteView, ReloadWatcher, StrategyAction, StrategyError,
    StrategyHost, StrategyLimits, TradeView,
};
use crate::tick::{BookDelta, FeedStatus, Tick, TickKind};
use crate::tuning::{CoreTuning, FeedPump, WaitPolicy};
use crate::types::{InstrumentId, Instruments, Price, Side};
use crate::warn_limit::WarnLimiter;

/// Where the core loop sends rows for persistence. Sending must not block.
pub trait EventOut: Send {
    /// Hands one event to the sink; returns false if the sink is gone (the event is lost and
    /// the core logs it loudly).
    fn emit(&mut self, ev: SinkEvent) -> bool;
}

impl EventOut for crossbeam_channel::Sender<SinkEvent> {
    fn emit(&mut self, ev: SinkEvent) -> bool {
        self.send(ev).is_ok()
    }
}

impl EventOut for crate::sink::SinkSender {
    fn emit(&mut self, ev: SinkEvent) -> bool {
        self.send(ev).is_ok()
    }
}

/// Errors that stop the core loop before it starts.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A strategy failed to load.
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    /// Too many strategies for the id space.
    #[error("at most {} strategies are supported", u16::MAX)]
    TooManyStrategies,
}

/// Everything the core loop needs. Built on any thread; [`run_core`] builds the strategies on
/// the core thread itself (Rhai engines are not `Send`).
pub struct CoreSetup {
    /// Engine run id (part of every client order id), from [`crate::run_id::acquire`].
    pub run_id: u64,
    /// Venue name, stored with rows.
    pub venue: String,
    /// The instruments.
    pub instruments: Arc<Instruments>,
    /// Strategies to load.
    pub strategies: Vec<StrategyConfig>,
    /// Sandbox limits for strategies.
    pub strategy_limits: StrategyLimits,
    /// Strategy errors within [`CoreSetup::error_window`] that halt a strategy.
    pub max_strategy_errors: u32,
    /// Window for counting strategy errors.
    pub error_window: Duration,
    /// The risk gate.
    pub risk: RiskGate,
    /// Signs venue requests.
    pub signer: Box<dyn OrderSigner>,
    /// Sends signed requests to the venue transport.
    pub gateway: GatewaySender,
    /// Market data in.
    pub ticks: Receiver<Tick>,
    /// Exec reports in.
    pub execs: Receiver<ExecReport>,
    /// Rows out.
    pub sink: Box<dyn EventOut>,
    /// Cancel our working orders when the feed ends.
    pub cancel_on_stop: bool,
    /// How long to wait for working orders to reach a final state when stopping.
    pub drain_timeout: Duration,
    /// Interval of the progress log line (zero = off).
    pub progress_interval: Duration,
    /// Interval of the `equity_snapshots` rows (zero = off; otherwise one more at the end).
    pub equity_interval: Duration,
    /// Positions and orders carried over from earlier runs (empty for a backtest).
    pub restore: CoreRestore,
    /// The venue account's balances at start (`balance()` / `available()` / `equity()`; empty:
    /// unknown, every balance reads 0 until fills move it).
    pub balances: Vec<crate::account::StartBalance>,
    /// New versions of strategies from their `strategies` rows
    /// ([`crate::sink::strategy_rows`]); `crossbeam_channel::never()` without a database.
    pub db_reloads: Receiver<crate::strategy::Reloaded>,
    /// External signals for strategies' `on_signal` (the bus, `[bus] signals`);
    /// `crossbeam_channel::never()` without one.
    pub signals: Receiver<crate::signal::ExternalSignal>,
}

/// What a run did; the run summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CoreReport {
    /// Ticks processed.
    pub ticks: u64,
    /// Orders sent to the venue.
    pub orders: u64,
    /// Fills booked.
    pub fills: u64,
    /// Orders refused by the risk gate or the venue.
    pub rejects: u64,
    /// Of which by the risk gate.
    pub risk_rejects: u64,
    /// Cancel requests sent.
    pub cancels: u64,
    /// Strategy callback errors.
    pub strategy_errors: u64,
    /// Duplicate fills ignored.
    pub duplicate_fills: u64,
    /// Exec reports for orders this run does not know.
    pub unknown_reports: u64,
    /// Realized PnL over all strategies and instruments, net of quote fees (exact, as string).
    pub realized_pnl: String,
    /// Tick-receive to signed-order-ready latency, ns.
    pub latency_ns: LatencySummary,
    /// Tick receive to core dequeue (queue hand-off and wake-up), ns.
    pub queue_latency_ns: LatencySummary,
    /// Core dequeue of the causing tick to signed order ready (strategy, risk, signing), ns.
    pub core_latency_ns: LatencySummary,
    /// Every timed stage over the whole run (see [`Stage`]).
    pub stages: Vec<StageSummary>,
    /// Orders still working when the loop ended (should be 0).
    pub working_orders_at_exit: usize,
    /// Final positions per strategy and symbol.
    pub positions: Vec<PositionRow>,
    /// Fees charged in a third asset that could not be valued in quote, per asset.
    pub unconverted_fees: std::collections::BTreeMap<String, String>,
    /// Strategies halted by repeated errors during the run, with their last error.
    pub halted_strategies: Vec<HaltedStrategy>,
}

/// A strategy the core halted (too many errors within the error window).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct HaltedStrategy {
    /// Strategy name.
    pub name: String,
    /// Errors within the window when it was halted.
    pub errors: usize,
    /// The error that halted it.
    pub last_error: String,
}

/// Rate limiters of the core's warnings that can repeat per tick or per report.
#[derive(Debug, Default)]
struct CoreWarnings {
    cancel_unknown: WarnLimiter,
    cancel_foreign: WarnLimiter,
    unknown_report: WarnLimiter,
    cancel_refused: WarnLimiter,
    venue_reject: WarnLimiter,
    fee_asset: WarnLimiter,
}

impl CoreWarnings {
    /// Logs what is still suppressed when the run ends.
    fn flush(&self) {
        for (what, l) in [
            ("cancel of an unknown order ignored", &self.cancel_unknown),
            (
                "cancel of another strategy's order ignored",
                &self.cancel_foreign,
            ),
            (
                "exec report for an order this run does not know",
                &self.unknown_report,
            ),
            ("cancel refused by the venue", &self.cancel_refused),
            ("venue rejected order", &self.venue_reject),
            ("fee in an asset with no price", &self.fee_asset),
        ] {
            if l.pending() > 0 {
                tracing::warn!(
                    suppressed = l.pending(),
                    "{what}: more identical warnings suppressed since the last line"
                );
            }
        }
    }
}

struct InstrumentState {
    book: OrderBook,
    best_bid: Option<Price>,
    best_ask: Option<Price>,
    last_price: Option<Price>,
    stale: bool,
    /// Monotonic receive time of the last market-data tick (0 = none yet).
    last_tick_ns: u64,
}

struct StrategySlot {
    host: StrategyHost,
    name: String,
    halted: bool,
    /// The last callback error, for the report.
    last_error: Option<String>,
    /// Engine times (ns) of recent errors.
    error_times: Vec<i64>,
}

/// Runs the core loop on the calling thread until the tick queue is closed (the feed ended),
/// then drains: strategies' `on_stop`, cancels working orders (if configured), waits for them
/// to reach a final state, and returns the run report.
pub fn run_core(setup: CoreSetup) -> Result<CoreReport, CoreError> {
    run_core_with(setup, CoreTuning::default())
}

/// [`run_core`] with latency knobs: wait policy, inline feed pump, CPU pinning, and the hub
/// where stage latency and counters are published.
pub fn run_core_with(setup: CoreSetup, tuning: CoreTuning) -> Result<CoreReport, CoreError> {
    run_core_on(setup, tuning, EngineClock::Wall)
}

/// [`run_core_with`] on a given engine clock: the live loop (queues, idle wait, clock
/// polling, drain) with engine time from `clock`; on [`EngineClock::replay`] the replayed
/// ticks set the time (a replay source feeding the live loop, as the backtest parity check
/// does).
pub fn run_core_on(
    setup: CoreSetup,
    mut tuning: CoreTuning,
    clock: EngineClock,
) -> Result<CoreReport, CoreError> {
    if let Some(cpu) = tuning.cpu {
        crate::tuning::pin_current_thread(cpu, "peregrine-core");
    }
    let pump = tuning.pump.take();
    let mut core = Core::with_clock(setup, clock)?;
    core.tuning = tuning;
    core.run(pump);
    Ok(core.finish())
}

/// What waiting for the next tick produced.
enum Next {
    Tick(Tick),
    Idle,
    Closed,
}

/// How long one busy-poll slice lasts before the loop does its housekeeping.
const SPIN_SLICE: Duration = Duration::from_millis(1);
/// Final orders kept in full when [`Core::release_final_orders`] is on (the most recent).
pub const KEEP_FINAL_ORDERS: usize = 4096;
/// Longest park of the inline topology (exec reports from other threads are picked up after
/// at most this long).
const INLINE_PARK: Duration = Duration::from_millis(1);

/// The single-writer core, drivable step by step: [`run_core`] feeds it from the live queues;
/// a backtest calls [`Core::on_tick`] / [`Core::on_exec`] itself with a replay
/// [`EngineClock`], then [`Core::stop`] and [`Core::finish`].
pub struct Core {
    s: CoreSetupRest,
    /// Engine time source for rows, strategies' `now()` and signing.
    clock: EngineClock,
    strategies: Vec<StrategySlot>,
    instruments_state: Vec<InstrumentState>,
    /// Script-side symbol strings, built once (cloning one is a reference-count increment).
    symbols: Vec<rhai::ImmutableString>,
    tracker: OrderTracker,
    /// Final orders are dropped from the tracker once their report is handled
    /// ([`Core::release_final_orders`]).
    release_final_orders: bool,
    positions: Vec<Vec<Position>>,
    account_positions: Vec<Decimal>,
    /// The account's balances per asset (start + our fills).
    balances: crate::account::Balances,
    /// Conditional orders held until their trigger fires (`conditional.rs`).
    held: Vec<conditional::Held>,
    /// Brackets and OCO pairs (`linked.rs`).
    links: linked::Links,
    /// Hot-reload watcher, if a strategy asked for it.
    /// The shared client-order-id sequence (also used for engine-initiated orders).
    ids: OrderIds,
    reload: Option<ReloadWatcher>,
    /// Depth of nested strategy notifications (on_order/on_risk_reject from inside a callback).
    notify_depth: u8,
    /// Signed requests waiting for the end of a strategy's actions.
    outbox: outbox::Outbox,
    signal_seq: u64,
    risk_seq: u64,
    /// Equity snapshots taken, and when the last one was.
    equity_seq: u64,
    last_equity: Instant,
    /// Strategy reloads recorded.
    reload_seq: u64,
    actions: Vec<StrategyAction>,
    report: CoreReport,
    core_latency: LatencyRecorder,
    /// Latency knobs and the shared hub.
    tuning: CoreTuning,
    /// This window's stage samples.
    stages: StageSet,
    /// Send/ack times of recent orders (ack, fill, round trip).
    order_times: OrderTimes,
    /// Wall and monotonic start of the current latency window.
    window_start_ns: i64,
    window_started: Instant,
    /// Run id as stored in `latency_stats`.
    run_hex: String,
    /// Monotonic time the tick being processed was dequeued.
    dequeued_ns: u64,
    sink_lost: u64,
    /// Fees charged in assets with no price to convert them, per asset.
    other_fees: std::collections::BTreeMap<String, Decimal>,
    /// Rate limiters of repeatable warnings.
    warns: CoreWarnings,
}

struct CoreSetupRest {
    run_id: u64,
    venue: String,
    instruments: Arc<Instruments>,
    max_strategy_errors: u32,
    error_window: Duration,
    risk: RiskGate,
    signer: Box<dyn OrderSigner>,
    gateway: GatewaySender,
    ticks: Receiver<Tick>,
    execs: Receiver<ExecReport>,
    sink: Box<dyn EventOut>,
    cancel_on_stop: bool,
    drain_timeout: Duration,
    progress_interval: Duration,
    equity_interval: Duration,
    db_reloads: Receiver<crate::strategy::Reloaded>,
    signals: Receiver<crate::signal::ExternalSignal>,
}

impl Core {
    /// A core on the wall clock (the live path). Builds the strategies, so call it on the
    /// thread that will drive the core (Rhai engines are not `Send`).
    pub fn new(setup: CoreSetup) -> Result<Self, CoreError> {
        Self::with_clock(setup, EngineClock::Wall)
    }

    /// A core reading engine time from `clock` (a backtest passes [`EngineClock::replay`];
    /// each tick then advances it to the tick's exchange time). `setup.ticks` and
    /// `setup.execs` are only read by [`run_core`]; a caller driving the core step by step may
    /// pass `crossbeam_channel::never()`.
    pub fn with_clock(setup: CoreSetup, clock: EngineClock) -> Result<Self, CoreError> {
        let restore = setup.restore;
        let start_balances = setup.balances;
        let n_inst = setup.instruments.len();
        let mut strategies = Vec::with_capacity(setup.strategies.len());
        // Client order ids come from one sequence shared by the strategies (their order
        // functions return the id the order will carry).
        let ids = OrderIds::new(setup.run_id);
        for (i, cfg) in setup.strategies.iter().enumerate() {
            let index = u16::try_from(i).map_err(|_| CoreError::TooManyStrategies)?;
            let host = StrategyHost::load_shared(
                index,
                cfg,
                &setup.instruments,
                setup.strategy_limits,
                &ids,
            )?;
            tracing::info!(strategy = %cfg.name, file = %cfg.file.display(), instruments = ?cfg.instruments, "strategy loaded");
            strategies.push(StrategySlot {
                host,
                name: cfg.name.clone(),
                halted: false,
                last_error: None,
                error_times: Vec::new(),
            });
        }
        let n_strat = strategies.len();
        let reload = dispatch::start_reload_watcher(&setup.strategies, &strategies);
        let instruments_state = (0..n_inst)
            .map(|_| InstrumentState {
                book: OrderBook::default(),
                best_bid: None,
                best_ask: None,
                last_price: None,
                stale: false,
                last_tick_ns: 0,
            })
            .collect();
        let symbols = setup
            .instruments
            .iter()
            .map(|(_, spec)| spec.symbol.as_str().into())
            .collect();
        let mut core = Self {
            clock,
            strategies,
            instruments_state,
            symbols,
            tracker: OrderTracker::new(n_strat, n_inst),
            release_final_orders: false,
            positions: vec![vec![Position::default(); n_inst]; n_strat],
            account_positions: vec![Decimal::ZERO; n_inst],
            balances: Default::default(),
            held: Vec::new(),
            links: Default::default(),
            ids,
            reload,
            notify_depth: 0,
            outbox: outbox::Outbox::default(),
            signal_seq: 0,
            risk_seq: 0,
            equity_seq: 0,
            last_equity: Instant::now(),
            reload_seq: 0,
            actions: Vec::with_capacity(16),
            report: CoreReport::default(),
            core_latency: LatencyRecorder::new(),
            tuning: CoreTuning::default(),
            stages: StageSet::new(),
            order_times: OrderTimes::new(4096),
            window_start_ns: Clock::wall_ns(),
            window_started: Instant::now(),
            run_hex: format!("{:x}", setup.run_id),
            dequeued_ns: 0,
            sink_lost: 0,
            other_fees: Default::default(),
            warns: CoreWarnings::default(),
            s: CoreSetupRest {
                run_id: setup.run_id,
                venue: setup.venue,
                instruments: setup.instruments,
                max_strategy_errors: setup.max_strategy_errors,
                error_window: setup.error_window,
                risk: setup.risk,
                signer: setup.signer,
                gateway: setup.gateway,
                ticks: setup.ticks,
                execs: setup.execs,
                sink: setup.sink,
                cancel_on_stop: setup.cancel_on_stop,
                drain_timeout: setup.drain_timeout,
                progress_interval: setup.progress_interval,
                equity_interval: setup.equity_interval,
                db_reloads: setup.db_reloads,
                signals: setup.signals,
            },
        };
        core.apply_restore(restore);
        core.balances = crate::account::Balances::new(
            &start_balances,
            core.tracker.working(),
            &core.s.instruments,
        );
        Ok(core)
    }

    fn run(&mut self, mut pump: Option<Box<dyn FeedPump>>) {
        let ticks = self.s.ticks.clone();
        let mut execs = self.s.execs.clone();
        let reloads = self.reload_receiver();
        let db_reloads = self.s.db_reloads.clone();
        let signals = self.s.signals.clone();
        let mut last_progress = Instant::now();
        let mut kill_was_on = self.s.risk.kill_switch().is_on();
        let mut kill_gen = self.s.risk.kill_switch().generation();
        loop {
            // Exec reports first: they change what strategies and the risk gate see.
            while let Ok(rep) = execs.try_recv() {
                self.on_exec(rep);
            }
            match self.next_tick(&ticks, &mut execs, pump.as_mut()) {
                Next::Tick(tick) => self.on_tick(tick),
                Next::Idle => {}
                Next::Closed => break,
            }
            // A hot-reloaded strategy is swapped in between events.
            while let Ok(new) = reloads.try_recv() {
                self.apply_reload(new);
            }
            while let Ok(new) = db_reloads.try_recv() {
                self.apply_reload(new);
            }
            while let Ok(s) = signals.try_recv() {
                self.on_signal(s);
            }
            self.poll_clock();
            let gen = self.s.risk.kill_switch().generation();
            if gen != kill_gen {
                kill_gen = gen;
                kill_was_on = self.on_kill_switch_change(kill_was_on);
            }
            if !self.s.progress_interval.is_zero()
                && last_progress.elapsed() >= self.s.progress_interval
            {
                last_progress = Instant::now();
                self.log_progress();
            }
            if !self.tuning.window.is_zero() && self.window_started.elapsed() >= self.tuning.window
            {
                self.close_latency_window();
            }
            if !self.s.equity_interval.is_zero()
                && self.last_equity.elapsed() >= self.s.equity_interval
            {
                self.last_equity = Instant::now();
                self.snapshot_equity();
            }
        }
        drop(pump);
        tracing::info!("market data ended; draining");
        self.drain(execs);
    }

    /// Waits for the next tick as the wait policy says; exec reports that arrive meanwhile
    /// end the wait (as `Idle`) so the loop applies them.
    fn next_tick(
        &mut self,
        ticks: &Receiver<Tick>,
        execs: &mut Receiver<ExecReport>,
        mut pump: Option<&mut Box<dyn FeedPump>>,
    ) -> Next {
        let poll = |ticks: &Receiver<Tick>| match ticks.try_recv() {
            Ok(t) => Some(Next::Tick(t)),
            Err(TryRecvError::Disconnected) => Some(Next::Closed),
            Err(TryRecvError::Empty) => None,
        };
        if let Some(n) = poll(ticks) {
            return n;
        }
        let budget = match self.tuning.wait {
            WaitPolicy::Spin => Some(SPIN_SLICE),
            WaitPolicy::SpinThenPark => Some(self.tuning.spin),
            WaitPolicy::Park => None,
        };
        if let Some(budget) = budget {
            let start = Instant::now();
            let mut spins = 0u32;
            loop {
                if let Some(p) = pump.as_mut() {
                    p.pump(ticks, None);
                }
                if let Some(n) = poll(ticks) {
                    return n;
                }
                if !execs.is_empty() {
                    return Next::Idle;
                }
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(64) && start.elapsed() >= budget {
                    break;
                }
            }
            if self.tuning.wait == WaitPolicy::Spin {
                return Next::Idle;
            }
        }
        if let Some(p) = pump {
            p.pump(ticks, Some(INLINE_PARK));
            return poll(ticks).unwrap_or(Next::Idle);
        }
        select! {
            recv(ticks) -> t => match t {
                Ok(tick) => Next::Tick(tick),
                Err(_) => Next::Closed,
            },
            recv(execs) -> r => {
                match r {
                    Ok(rep) => self.on_exec(rep),
                    Err(_) => *execs = never(),
                }
                Next::Idle
            },
            // Bounded by the next strategy timer, so timers fire on time.
            default(self.idle_wait()) => Next::Idle,
        }
    }

    /// Ends the current latency window: merges the feed's samples, emits one
    /// `latency_stats` row per stage, logs one line, and starts the next window.
    fn close_latency_window(&mut self) {
        let hub = self.tuning.hub.clone();
        hub.close_window(&mut self.stages);
        let end = Clock::wall_ns();
        if !self.stages.is_empty() {
            let mut line = String::new();
            for st in self.stages.summaries() {
                let l = st.latency_ns;
                line.push_str(&format!(
                    " {}={}/{}/{}us(n={})",
                    st.stage.as_str(),
                    l.p50 / 1000,
                    l.p99 / 1000,
                    l.max / 1000,
                    l.count
                ));
            }
            tracing::info!("latency p50/p99/max:{line}");
            for row in self.stages.rows(&self.run_hex, self.window_start_ns, end) {
                self.emit(SinkEvent::LatencyStat(row));
            }
        }
        self.stages.reset();
        self.window_start_ns = end;
        self.window_started = Instant::now();
    }

    fn log_progress(&self) {
        tracing::info!(
            ticks = self.report.ticks,
            orders = self.report.orders,
            fills = self.report.fills,
            rejects = self.report.rejects,
            working = self.tracker.working_count(),
            realized_pnl = %self.total_realized(),
            p50_ns = self.stages.summary(Stage::TickToOrder).p50,
            p99_ns = self.stages.summary(Stage::TickToOrder).p99,
            "progress"
        );
    }

    /// Keeps final orders out of memory (a backtest's choice; a live run keeps them for late
    /// reports): the last [`KEEP_FINAL_ORDERS`] final orders stay in full, older ones are let
    /// go of and only their ids remembered (one bit each). For those older ones a refused
    /// cancel is still a `cancel_rejected` risk event but reaches no `on_order` callback, and
    /// `replace()` of one is ignored with a warning (their details are gone).
    pub fn release_final_orders(&mut self) {
        self.release_final_orders = true;
    }

    /// Orders the tracker holds in full (working ones and, unless released, final ones).
    pub fn held_orders(&self) -> usize {
        self.tracker.held_count()
    }

    /// The end of recorded data: closes every strategy's forming bars (`on_bar` runs for the
    /// last, partial bar). A backtest calls it before [`Core::stop`]; a live run does not.
    pub fn close_bars(&mut self) {
        let now = self.clock.now_ns();
        for i in 0..self.strategies.len() {
            if self.strategies[i].halted {
                continue;
            }
            let res = self.strategies[i].host.close_bars(now);
            self.after_callback(i, res);
        }
    }

    /// The end of the input: calls every running strategy's `on_stop` and, if configured,
    /// sends cancels for all working orders. The caller then applies the resulting exec
    /// reports with [`Core::on_exec`] and calls [`Core::finish`].
    pub fn stop(&mut self) {
        let now = self.clock.now_ns();
        for i in 0..self.strategies.len() {
            if self.strategies[i].halted {
                continue;
            }
            let res = self.strategies[i].host.on_stop(now);
            self.after_callback(i, res);
        }
        if self.s.cancel_on_stop {
            // Working orders are cancelled; held orders stay held (stored, and held again at
            // the next start), so links to a working order end first (its cancel must not
            // drop a held stop).
            self.keep_held_links_only();
            for id in self.tracker.cancellable(None, None) {
                self.send_cancel(id);
            }
        }
        self.store_held_at_stop();
    }

    /// Orders not yet in a final state.
    pub fn working_orders(&self) -> usize {
        self.tracker.working_count()
    }

    /// The current engine time, ns since the Unix epoch.
    pub fn now_ns(&self) -> i64 {
        self.clock.now_ns()
    }

    fn drain(&mut self, mut execs: Receiver<ExecReport>) {
        self.stop();
        let deadline = Instant::now() + self.s.drain_timeout;
        while self.tracker.working_count() > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match execs.recv_timeout(left) {
                Ok(rep) => self.on_exec(rep),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    execs = never();
                }
            }
        }
        // Reports already queued are applied too (late fills are still fills).
        while let Ok(rep) = execs.try_recv() {
            self.on_exec(rep);
        }
        let working = self.tracker.working_count();
        if working > 0 {
            tracing::warn!(working, "orders still working at stop; their final state will be known on the next start's reconciliation");
        }
        self.report.working_orders_at_exit = working;
        self.warns.flush();
    }

    /// Completes the report (realized PnL, latency summaries, final positions) and returns it.
    pub fn finish(mut self) -> CoreReport {
        self.report.realized_pnl = self.total_realized().normalize().to_string();
        self.close_latency_window();
        if !self.s.equity_interval.is_zero() {
            self.snapshot_equity();
        }
        self.tuning.hub.with_cumulative(|c| {
            self.report.latency_ns = c.summary(Stage::TickToOrder);
            self.report.queue_latency_ns = c.summary(Stage::Queue);
            self.report.stages = c.summaries();
        });
        self.report.core_latency_ns = self.core_latency.summary();
        self.report.unconverted_fees = self
            .other_fees
            .iter()
            .map(|(a, f)| (a.clone(), f.normalize().to_string()))
            .collect();
        let now = self.clock.now_ns();
        for (si, slot) in self.strategies.iter().enumerate() {
            for (id, spec) in self.s.instruments.iter() {
                let p = self.positions[si][id.index()];
                if p == Position::default() {
                    continue;
                }
                self.report.positions.push(PositionRow {
                    strategy: slot.name.clone(),
                    venue: self.s.venue.clone(),
                    symbol: spec.symbol.clone(),
                    qty: p.qty,
                    avg_price: p.avg_price,
                    realized_pnl: p.realized_pnl,
                    fees: p.fees,
                    updated_ns: now,
                });
            }
        }
        if self.sink_lost > 0 {
            tracing::error!(
                lost = self.sink_lost,
                "events could not be handed to the sink"
            );
        }
        self.report
    }

    fn total_realized(&self) -> Decimal {
        self.positions
            .iter()
            .flatten()
            .map(|p| p.realized_pnl)
            .sum()
    }

    /// Processes one market-data event: updates the instrument's state, runs the strategies
    /// that trade it, gates, signs and sends their orders.
    pub fn on_tick(&mut self, tick: Tick) {
        // On a replay clock, what came due since the last event fires first, at its time.
        if matches!(self.clock, EngineClock::Replay { .. }) {
            self.advance_clock(tick.exch_ts_ns);
        }
        self.clock.advance_to(tick.exch_ts_ns);
        self.report.ticks += 1;
        self.dequeued_ns = Clock::now_ns();
        self.stages
            .record(Stage::Queue, self.dequeued_ns.saturating_sub(tick.recv_ns));
        let counters = &self.tuning.hub.counters;
        EngineCounters::bump(&counters.ticks);
        counters.queue_depth.store(
            self.s.ticks.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        let Some(st) = self.instruments_state.get_mut(tick.instrument.index()) else {
            return;
        };
        if !matches!(tick.kind, TickKind::Status(_)) {
            st.last_tick_ns = self.clock.arrival_ns(tick.recv_ns);
        }
        match tick.kind {
            TickKind::Trade(t) => {
                st.last_price = Some(t.price);
                self.check_account_limits();
                // Held stops fire on this trade, before strategies react to it.
                self.fire_conditionals(tick.instrument, t.price, tick.recv_ns);
                let symbol = self.symbols[tick.instrument.index()].clone();
                let view = TradeView {
                    instrument: tick.instrument,
                    symbol,
                    price: t.price,
                    qty: t.qty,
                    side: t.side,
                    trade_id: t.trade_id,
                    exch_ts_ns: tick.exch_ts_ns,
                };
                self.dispatch(tick.instrument, tick.recv_ns, |h, origin, now| {
                    h.on_trade(view.clone(), origin, now)
                });
            }
            TickKind::Quote(q) => {
                st.best_bid = Some(q.bid_px);
                st.best_ask = Some(q.ask_px);
                self.check_account_limits();
                let symbol = self.symbols[tick.instrument.index()].clone();
                let view = QuoteView {
                    instrument: tick.instrument,
                    symbol,
                    bid: q.bid_px,
                    bid_qty: q.bid_qty,
                    ask: q.ask_px,
                    ask_qty: q.ask_qty,
                };
                self.dispatch(tick.instrument, tick.recv_ns, |h, origin, now| {
                    h.on_quote(view.clone(), origin, now)
                });
            }
            TickKind::BookSnapshot { seq } => st.book.clear(seq),
            TickKind::BookDelta(d) => {
                st.book.apply(&d);
                if d.is_end_of_batch() {
                    // A complete snapshot is a trusted book again.
                    if d.flags & BookDelta::SNAPSHOT != 0 && st.stale {
                        st.stale = false;
                        let symbol = self.s.instruments.spec(tick.instrument).symbol.clone();
                        tracing::info!(%symbol, "book snapshot applied: instrument trusted again");
                    }
                    if let Some((b, _)) = st.book.best_bid() {
                        st.best_bid = Some(b);
                    }
                    if let Some((a, _)) = st.book.best_ask() {
                        st.best_ask = Some(a);
                    }
                    self.dispatch_book(tick.instrument, tick.recv_ns);
                }
            }
            TickKind::Status(s) => {
                // `Connected` alone proves nothing about the book: after a reconnect it stays
                // untrusted until `Resynced` or a complete snapshot.
                let stale = match s {
                    FeedStatus::Stale | FeedStatus::Disconnected => true,
                    FeedStatus::Resynced => false,
                    FeedStatus::Connected => st.stale,
                };
                if stale != st.stale {
                    st.stale = stale;
                    let symbol = self.s.instruments.spec(tick.instrument).symbol.clone();
                    tracing::warn!(%symbol, status = ?s, "feed status changed");
                }
            }
        }
    }

    fn view_for(&self, strategy: usize, id: InstrumentId) -> InstrumentView {
        let st = &self.instruments_state[id.index()];
        let p = self.positions[strategy][id.index()];
        let (open_buy_qty, open_sell_qty) = self.tracker.open_qty(strategy as u16, id);
        InstrumentView {
            position: crate::position::tradable(p.qty, self.s.instruments.spec(id).lot_size),
            avg_price: p.avg_price,
            realized_pnl: p.realized_pnl,
            best_bid: st.best_bid,
            best_ask: st.best_ask,
            last_price: st.last_price,
            open_buy_qty,
            open_sell_qty,
        }
    }

    fn dispatch(
        &mut self,
        id: InstrumentId,
        origin_recv_ns: u64,
        call: impl Fn(&mut StrategyHost, u64, i64) -> Result<(), StrategyError>,
    ) {
        let now = self.engine_now();
        let mut in_strategies = 0u64;
        let mut called = false;
        for i in 0..self.strategies.len() {
            if self.strategies[i].halted || !self.strategies[i].host.trades(id) {
                continue;
            }
            self.prepare_host(i, id);
            let t0 = Clock::now_ns();
            let res = call(&mut self.strategies[i].host, origin_recv_ns, now);
            in_strategies += Clock::now_ns().saturating_sub(t0);
            called = true;
            self.after_callback(i, res);
        }
        if called {
            self.stages.record(Stage::Strategy, in_strategies);
        }
    }

    fn after_callback(&mut self, i: usize, res: Result<(), StrategyError>) {
        let mut actions = std::mem::take(&mut self.actions);
        if let Err(e) = res {
            self.on_strategy_error(i, e);
            // The failed callback's own actions were dropped by the host; those of callbacks
            // that succeeded in the same call (e.g. `on_bar` before `on_trade`) still count,
            // unless the strategy is now halted.
            if self.strategies[i].halted {
                self.strategies[i].host.drain_actions(&mut actions);
                actions.clear();
                self.actions = actions;
                return;
            }
        }
        self.strategies[i].host.drain_actions(&mut actions);
        // Requests signed for these actions go out together once the last is applied.
        self.outbox.open();
        for a in actions.drain(..) {
            match a {
                StrategyAction::Place(id, intent) => self.place(i, id, intent),
                StrategyAction::Conditional(id, trigger, intent) => {
                    self.hold_conditional(i, id, trigger, intent)
                }
                StrategyAction::Bracket {
                    entry,
                    intent,
                    exits,
                } => self.open_bracket(i, entry, intent, exits),
                StrategyAction::Oco(a, b) => self.link_oco(i, a, b),
                StrategyAction::CancelAll(id) => self.cancel_matching(Some(i as u16), Some(id)),
                StrategyAction::Cancel(id) => self.cancel_one(i, id),
                StrategyAction::Replace {
                    cancel,
                    id,
                    price,
                    qty,
                    origin_recv_ns,
                } => self.replace_one(i, cancel, id, price, qty, origin_recv_ns),
                StrategyAction::Signal {
                    instrument,
                    name,
                    value,
                } => self.emit_signal(i, instrument, &name, value),
            }
        }
        self.actions = actions;
        if self.outbox.close() {
            self.flush_outbox();
        }
    }

    fn on_strategy_error(&mut self, i: usize, e: StrategyError) {
        self.report.strategy_errors += 1;
        let name = self.strategies[i].name.clone();
        tracing::error!(strategy = %name, "{e}");
        self.risk_event(Some(name.clone()), None, "strategy_error", e.to_string());
        let now = self.clock.now_ns();
        let window = self.s.error_window;
        let window_ns = i64::try_from(window.as_nanos()).unwrap_or(i64::MAX);
        let slot = &mut self.strategies[i];
        slot.last_error = Some(e.to_string());
        slot.error_times
            .retain(|t| now.saturating_sub(*t) < window_ns);
        slot.error_times.push(now);
        if slot.error_times.len() as u32 >= self.s.max_strategy_errors {
            slot.halted = true;
            let msg = format!(
                "strategy halted after {} errors within {:?}; its working orders are cancelled",
                slot.error_times.len(),
                window
            );
            tracing::error!(strategy = %name, "{msg}");
            self.report.halted_strategies.push(HaltedStrategy {
                name: name.clone(),
                errors: slot.error_times.len(),
                last_error: slot.last_error.clone().unwrap_or_default(),
            });
            self.risk_event(Some(name), None, "strategy_halted", msg);
            self.cancel_matching(Some(i as u16), None);
        }
    }

    pub(super) fn exposure(&self, intent: &OrderIntent) -> ExposureView {
        let id = intent.instrument;
        let st = &self.instruments_state[id.index()];
        let (open_buy_qty, open_sell_qty) = self.tracker.account_open_qty(id);
        let touch = match intent.side {
            Side::Buy => st.best_ask,
            Side::Sell => st.best_bid,
        };
        let (own_best_bid, own_best_ask) = self.tracker.own_best(id);
        ExposureView {
            position: self.account_positions[id.index()],
            open_buy_qty,
            open_sell_qty,
            reference_price: touch.or(st.last_price),
            gross_exposure: self.gross_exposure(),
            open_orders: self.tracker.working_count(),
            own_best_bid,
            own_best_ask,
            stale: st.stale,
            last_tick_ns: st.last_tick_ns,
            now_ns: self.clock.interval_ns(),
        }
    }

    fn place(&mut self, strategy: usize, client_order_id: ClientOrderId, intent: OrderIntent) {
        let intent = match self.enforce_reduce_only(strategy, intent) {
            Ok(i) => i,
            Err(reject) => {
                self.on_risk_reject(strategy, client_order_id, &intent, reject);
                return;
            }
        };
        let risk_start = Clock::now_ns();
        let view = self.exposure(&intent);
        let checked = self.s.risk.check_order(&intent, &view);
        let risk_done = Clock::now_ns();
        self.stages
            .record(Stage::Risk, risk_done.saturating_sub(risk_start));
        if let Err(reject) = checked {
            self.on_risk_reject(strategy, client_order_id, &intent, reject);
            return;
        }
        self.send_approved(strategy, client_order_id, intent, None);
    }

    /// Signs, tracks and sends an approved intent under `client_order_id`; with `replaces`,
    /// as a cancel-replace of that working order (which is then marked cancel-sent).
    pub(super) fn send_approved(
        &mut self,
        strategy: usize,
        client_order_id: ClientOrderId,
        intent: OrderIntent,
        replaces: Option<ClientOrderId>,
    ) {
        let sign_start = Clock::now_ns();
        let request = OrderRequest {
            client_order_id,
            intent,
        };
        let now_ms = self.clock.now_ms();
        let signed = match replaces {
            None => self.s.signer.sign_new(&request, now_ms),
            Some(old) => self.s.signer.sign_replace(old, &request, now_ms),
        };
        let signed = match signed {
            Ok(s) => s,
            Err(e) => {
                self.on_risk_reject(
                    strategy,
                    client_order_id,
                    &intent,
                    RiskReject {
                        reason: crate::risk::RejectReason::InvalidOrder,
                        message: format!("cannot sign: {e}"),
                    },
                );
                return;
            }
        };
        let signed_ns = Clock::now_ns();
        self.stages
            .record(Stage::Sign, signed_ns.saturating_sub(sign_start));
        if intent.origin_recv_ns != 0 {
            self.stages.record(
                Stage::TickToOrder,
                signed_ns.saturating_sub(intent.origin_recv_ns),
            );
            self.core_latency
                .record(signed_ns.saturating_sub(self.dequeued_ns));
        }
        EngineCounters::bump(&self.tuning.hub.counters.orders);
        let now = self.clock.now_ns();
        self.tracker.insert(request, now);
        self.report.orders += 1;
        self.emit_order(request.client_order_id);
        if let Some(old) = replaces {
            self.tracker.mark_cancel_sent(&old);
            self.report.cancels += 1;
        }
        // Tracked before it is handed over: its reports come back through this thread, and a
        // transport that is gone turns into a rejection through `on_exec`.
        self.wire_new(signed);
    }

    pub(super) fn on_risk_reject(
        &mut self,
        strategy: usize,
        id: ClientOrderId,
        intent: &OrderIntent,
        reject: RiskReject,
    ) {
        self.report.rejects += 1;
        EngineCounters::bump(&self.tuning.hub.counters.rejects);
        self.report.risk_rejects += 1;
        let name = self.strategies[strategy].name.clone();
        let symbol = self.s.instruments.spec(intent.instrument).symbol.clone();
        tracing::debug!(strategy = %name, %symbol, "order refused by risk: {reject}");
        self.notify_risk_reject(strategy, id, intent, &reject);
        self.risk_event(
            Some(name),
            Some(symbol),
            reject.reason.as_str(),
            reject.message,
        );
    }

    fn cancel_matching(&mut self, strategy: Option<u16>, instrument: Option<InstrumentId>) {
        self.drop_conditionals(strategy, instrument);
        self.drop_links(strategy, instrument);
        for id in self.tracker.cancellable(strategy, instrument) {
            self.send_cancel(id);
        }
    }

    /// Applies one exec report: order state, fills to positions, the strategy's `on_fill`.
    pub fn on_exec(&mut self, rep: ExecReport) {
        if rep.client_order_id.run == self.s.run_id {
            let kind = match rep.kind {
                ExecKind::Ack { .. } => ReportKind::Ack,
                ExecKind::Rejected { .. } => ReportKind::Reject,
                ExecKind::Fill(_) => ReportKind::Fill,
                ExecKind::Cancelled | ExecKind::Expired | ExecKind::CancelRejected { .. } => {
                    ReportKind::Other
                }
            };
            self.order_times.on_report(
                rep.client_order_id.seq,
                kind,
                rep.recv_ns,
                &mut self.stages,
            );
        }
        match self.tracker.apply(&rep) {
            ExecOutcome::UnknownOrder => {
                self.report.unknown_reports += 1;
                if let Some(suppressed) = self.warns.unknown_report.allow(Instant::now()) {
                    tracing::warn!(order = %rep.client_order_id, kind = ?rep.kind, suppressed, "exec report for an order this run does not know");
                }
            }
            ExecOutcome::CancelRejected => {
                if let Some(suppressed) = self.warns.cancel_refused.allow(Instant::now()) {
                    tracing::warn!(order = %rep.client_order_id, kind = ?rep.kind, suppressed, "cancel refused by the venue");
                }
                if let ExecKind::CancelRejected { code, reason } = &rep.kind {
                    let msg = format!(
                        "cancel of {} refused: {code}: {reason}",
                        rep.client_order_id
                    );
                    let symbol = self.s.instruments.spec(rep.instrument).symbol.clone();
                    self.risk_event(None, Some(symbol), "cancel_rejected", msg);
                }
            }
            ExecOutcome::DuplicateFill => {
                self.report.duplicate_fills += 1;
                tracing::debug!(order = %rep.client_order_id, "duplicate fill ignored");
            }
            ExecOutcome::Applied {
                order_changed,
                fill,
            } => {
                if let ExecKind::Rejected { code, reason } = &rep.kind {
                    self.report.rejects += 1;
                    EngineCounters::bump(&self.tuning.hub.counters.rejects);
                    if let Some(suppressed) = self.warns.venue_reject.allow(Instant::now()) {
                        tracing::warn!(order = %rep.client_order_id, code, suppressed, "venue rejected order: {reason}");
                    }
                }
                let filled = fill.is_some();
                if let Some(f) = fill {
                    self.book_fill(&rep, &f);
                }
                if filled || order_changed {
                    self.on_linked_report(rep.client_order_id);
                }
                if order_changed {
                    self.emit_order(rep.client_order_id);
                    self.notify_order(&rep);
                }
            }
            ExecOutcome::Released => {
                tracing::debug!(order = %rep.client_order_id, kind = ?rep.kind, "report for a released final order ignored");
            }
        }
        if self.release_final_orders {
            self.tracker
                .retire_final(&rep.client_order_id, KEEP_FINAL_ORDERS);
        }
    }

    fn book_fill(&mut self, rep: &ExecReport, f: &crate::order::FillInfo) {
        let Some(order) = self.tracker.get(&rep.client_order_id).cloned() else {
            return;
        };
        let si = order.request.intent.strategy as usize;
        let id = order.request.intent.instrument;
        let side = order.request.intent.side;
        let spec = self.s.instruments.spec(id).clone();
        let fee = if f.fee_asset == spec.quote {
            crate::position::Fee::Quote(f.fee)
        } else if f.fee_asset == spec.base {
            crate::position::Fee::Base(f.fee)
        } else {
            // A third asset (e.g. BNB): converted at its mark against our quote when an
            // instrument `ASSET-QUOTE` is traded, else recorded per asset in the report.
            let pair = format!("{}-{}", f.fee_asset, spec.quote);
            let px = self
                .s
                .instruments
                .by_symbol(&pair)
                .and_then(|i| self.instruments_state.get(i.index()))
                .and_then(mark_price);
            match px {
                Some(px) => crate::position::Fee::Quote(f.fee * px),
                None => {
                    if !f.fee.is_zero() {
                        if let Some(suppressed) = self.warns.fee_asset.allow(Instant::now()) {
                            tracing::warn!(asset = %f.fee_asset, fee = %f.fee, suppressed, "fee in an asset with no price: recorded per asset, not in PnL");
                        }
                        *self.other_fees.entry(f.fee_asset.clone()).or_default() += f.fee;
                    }
                    crate::position::Fee::Quote(Decimal::ZERO)
                }
            }
        };
        self.balances.apply_fill(
            &spec.base,
            &spec.quote,
            side,
            f.price,
            f.qty,
            f.fee,
            &f.fee_asset,
        );
        let pos = &mut self.positions[si][id.index()];
        pos.apply_fill_with_fee(side, f.price, f.qty, fee);
        EngineCounters::bump(&self.tuning.hub.counters.fills);
        let pos = *pos;
        if let crate::position::Fee::Base(b) = fee {
            self.account_positions[id.index()] -= b;
        }
        self.account_positions[id.index()] += side.sign() * f.qty;
        self.check_account_limits();
        self.report.fills += 1;
        let name = self.strategies[si].name.clone();
        let cid = rep.client_order_id.to_string();
        self.emit(SinkEvent::Fill(FillRow {
            venue: self.s.venue.clone(),
            symbol: spec.symbol.clone(),
            trade_id: f.trade_id as i64,
            client_order_id: cid.clone(),
            strategy: name.clone(),
            side,
            price: f.price,
            qty: f.qty,
            fee: f.fee,
            fee_asset: f.fee_asset.clone(),
            is_maker: f.is_maker,
            exch_ts_ns: f.exch_ts_ns,
        }));
        self.emit(SinkEvent::Position(PositionRow {
            strategy: name,
            venue: self.s.venue.clone(),
            symbol: spec.symbol.clone(),
            qty: pos.qty,
            avg_price: pos.avg_price,
            realized_pnl: pos.realized_pnl,
            fees: pos.fees,
            updated_ns: self.clock.now_ns(),
        }));
        if !self.strategies[si].halted {
            let view = FillView {
                instrument: id,
                symbol: spec.symbol.as_str().into(),
                order_id: cid.into(),
                side,
                price: f.price,
                qty: f.qty,
                fee: f.fee,
                fee_asset: f.fee_asset.as_str().into(),
                partial: !f.leaves_qty.is_zero(),
            };
            self.prepare_host(si, id);
            let now = self.engine_now();
            let res = self.strategies[si].host.on_fill(view, now);
            self.after_callback(si, res);
        }
    }

    fn emit_order(&mut self, id: ClientOrderId) {
        let Some(o) = self.tracker.get(&id) else {
            return;
        };
        let row = self.order_row(o);
        self.emit(SinkEvent::Order(row));
    }

    fn order_row(&self, o: &TrackedOrder) -> OrderRow {
        let i = &o.request.intent;
        OrderRow {
            client_order_id: o.request.client_order_id.to_string(),
            venue_order_id: o.venue_order_id.map(|v| v as i64),
            strategy: self.strategies[i.strategy as usize].name.clone(),
            venue: self.s.venue.clone(),
            symbol: self.s.instruments.spec(i.instrument).symbol.clone(),
            side: i.side,
            order_type: i.order_type.as_str().to_string(),
            price: i.price,
            qty: i.qty,
            filled_qty: o.filled,
            status: o.status,
            reject_reason: o.reject_reason.clone(),
            created_ns: o.created_ns,
            updated_ns: self.clock.now_ns(),
        }
    }

    fn risk_event(
        &mut self,
        strategy: Option<String>,
        symbol: Option<String>,
        reason: &str,
        message: String,
    ) {
        self.risk_seq += 1;
        let row = RiskEventRow {
            id: format!("{:x}-{}", self.s.run_id, self.risk_seq),
            ts_ns: self.clock.now_ns(),
            strategy,
            symbol,
            reason: reason.to_string(),
            message,
        };
        self.emit(SinkEvent::Risk(row));
    }

    /// The mark price of an instrument (last trade, else mid), if it has one.
    pub(super) fn mark_of(&self, id: InstrumentId) -> Option<Price> {
        mark_price(&self.instruments_state[id.index()])
    }

    /// Gross exposure of the account: per instrument, |position| plus working quantity on both
    /// sides, valued at the last trade (else mid). O(instruments).
    fn gross_exposure(&self) -> Decimal {
        let mut gross = Decimal::ZERO;
        for (i, st) in self.instruments_state.iter().enumerate() {
            let (b, s) = self.tracker.account_open_qty(InstrumentId(i as u32));
            let qty = self.account_positions[i].abs() + b + s;
            if qty.is_zero() {
                continue;
            }
            if let Some(px) = mark_price(st) {
                gross += qty * px;
            }
        }
        gross
    }

    /// Account equity since start: realized (net of fees) + unrealized at the mark price.
    fn equity(&self) -> Decimal {
        let mut eq = Decimal::ZERO;
        for per_inst in &self.positions {
            for (i, p) in per_inst.iter().enumerate() {
                eq += p.realized_pnl;
                if !p.qty.is_zero() {
                    if let Some(px) = mark_price(&self.instruments_state[i]) {
                        eq += p.unrealized_pnl(px);
                    }
                }
            }
        }
        eq
    }

    /// Feeds the account guard (daily loss, drawdown); a breach trips the latched kill switch,
    /// which the loop acts on (cancel, flatten, event) right after.
    fn check_account_limits(&mut self) {
        if !self.s.risk.account_guard_enabled() || self.s.risk.kill_switch().is_on() {
            return;
        }
        let equity = self.equity();
        if let Some((breach, msg)) = self.s.risk.observe_equity(equity, self.clock.now_ns()) {
            tracing::error!(limit = breach.as_str(), "{msg}; tripping the kill switch");
            self.risk_event(None, None, breach.as_str(), msg);
        }
    }

    /// Acts on a kill-switch transition: on a trip cancels every working order and flattens
    /// (if configured); records both trip and reset. Returns the new state.
    fn on_kill_switch_change(&mut self, was_on: bool) -> bool {
        let kill = self.s.risk.kill_switch().clone();
        let on = kill.is_on();
        if on {
            tracing::error!(reason = %kill.reason(), "kill switch tripped: cancelling every working order");
            self.risk_event(
                None,
                None,
                "kill_switch",
                format!(
                    "kill switch tripped ({}): new orders refused, working orders cancelled",
                    kill.reason()
                ),
            );
            self.cancel_matching(None, None);
            if self.s.risk.flatten_on_kill() {
                self.flatten_all();
            }
        } else if was_on {
            tracing::warn!(reason = %kill.reason(), "kill switch reset");
            self.risk_event(
                None,
                None,
                "kill_switch_reset",
                format!("kill switch reset: {}", kill.reason()),
            );
        }
        on
    }

    /// Sends a market order closing each strategy's position (bypassing the gate, which is
    /// refusing everything while the switch is on).
    fn flatten_all(&mut self) {
        for si in 0..self.positions.len() {
            for i in 0..self.positions[si].len() {
                let qty = self.positions[si][i].qty;
                if qty.is_zero() {
                    continue;
                }
                let intent = OrderIntent {
                    strategy: si as u16,
                    instrument: InstrumentId(i as u32),
                    side: if qty.is_sign_positive() {
                        Side::Sell
                    } else {
                        Side::Buy
                    },
                    order_type: crate::order::OrderType::Market,
                    price: None,
                    qty: qty.abs(),
                    tif: crate::order::TimeInForce::Gtc,
                    reduce_only: false,
                    post_only: false,
                    origin_recv_ns: 0,
                };
                let msg = format!("flattening: {} {} market", intent.side, intent.qty);
                let symbol = self.s.instruments.spec(intent.instrument).symbol.clone();
                let name = self.strategies[si].name.clone();
                self.risk_event(Some(name), Some(symbol), "flatten", msg);
                let Some(id) = self.ids.next_id() else {
                    tracing::error!("cannot flatten: this run has used every client order id");
                    return;
                };
                self.send_approved(si, id, intent, None);
            }
        }
    }

    fn emit(&mut self, ev: SinkEvent) {
        if !self.s.sink.emit(ev) {
            self.sink_lost += 1;
            if self.sink_lost == 1 {
                tracing::error!("the sink is gone: events are no longer persisted");
            }
        }
    }
}

/// Sums of one scope of an equity snapshot (a strategy, an instrument of the account, a
/// total); `unrealized` becomes `None` once a held instrument has no mark.
#[derive(Clone, Copy, Debug)]
struct EquitySum {
    rows: usize,
    qty: Decimal,
    realized: Decimal,
    unrealized: Option<Decimal>,
    fees: Decimal,
}

impl Default for EquitySum {
    fn default() -> Self {
        Self {
            rows: 0,
            qty: Decimal::ZERO,
            realized: Decimal::ZERO,
            unrealized: Some(Decimal::ZERO),
            fees: Decimal::ZERO,
        }
    }
}

impl EquitySum {
    fn add(&mut self, p: &Position, unrealized: Option<Decimal>) {
        self.rows += 1;
        self.qty += p.qty;
        self.realized += p.realized_pnl;
        self.fees += p.fees;
        self.unrealized = self.unrealized.zip(unrealized).map(|(a, b)| a + b);
    }
}

impl Core {
    /// Emits one equity snapshot from the positions (nothing while every position is empty):
    /// per strategy, a row per instrument it has a position in and its total; for the
    /// account, a row per instrument (the strategies' positions summed; unrealized PnL is
    /// each strategy's at its own entry) and the total. Marks: [`mark_price`].
    fn snapshot_equity(&mut self) {
        let n_inst = self.instruments_state.len();
        let marks: Vec<Option<Price>> = self.instruments_state.iter().map(mark_price).collect();
        let unrealized = |p: &Position, i: usize| -> Option<Decimal> {
            if p.qty.is_zero() {
                Some(Decimal::ZERO)
            } else {
                marks[i].map(|m| p.unrealized_pnl(m))
            }
        };
        let mut account = vec![EquitySum::default(); n_inst];
        let mut account_total = EquitySum::default();
        let mut rows = Vec::new();
        for (si, slot) in self.strategies.iter().enumerate() {
            let mut total = EquitySum::default();
            for (i, p) in self.positions[si].iter().enumerate() {
                if *p == Position::default() {
                    continue;
                }
                let u = unrealized(p, i);
                let mut one = EquitySum::default();
                one.add(p, u);
                rows.push((
                    crate::events::EquityScope::Strategy,
                    Some(slot.name.clone()),
                    Some(i),
                    one,
                ));
                total.add(p, u);
                account[i].add(p, u);
                account_total.add(p, u);
            }
            if total.rows > 0 {
                rows.push((
                    crate::events::EquityScope::Strategy,
                    Some(slot.name.clone()),
                    None,
                    total,
                ));
            }
        }
        if account_total.rows == 0 {
            return;
        }
        for (i, sum) in account.into_iter().enumerate() {
            if sum.rows > 0 {
                rows.push((crate::events::EquityScope::Account, None, Some(i), sum));
            }
        }
        rows.push((
            crate::events::EquityScope::Account,
            None,
            None,
            account_total,
        ));
        self.equity_seq += 1;
        let now = self.clock.now_ns();
        for (k, (scope, strategy, inst, sum)) in rows.into_iter().enumerate() {
            let row = crate::events::EquityRow {
                id: format!("{}-q{}-{}", self.run_hex, self.equity_seq, k),
                run_id: self.run_hex.clone(),
                ts_ns: now,
                scope,
                strategy,
                venue: self.s.venue.clone(),
                symbol: inst.map(|i| self.symbols[i].to_string()),
                qty: inst.map(|_| sum.qty),
                mark: inst.and_then(|i| marks[i]),
                realized_pnl: sum.realized,
                unrealized_pnl: sum.unrealized,
                fees: sum.fees,
                equity: sum.unrealized.map(|u| sum.realized + u),
            };
            self.emit(SinkEvent::Equity(row));
        }
    }
}

/// Mark price of an instrument: last trade, else mid of the touch.
fn mark_price(st: &InstrumentState) -> Option<Price> {
    st.last_price.or(match (st.best_bid, st.best_ask) {
        (Some(b), Some(a)) => Some((b + a) / Decimal::TWO),
        _ => None,
    })
}

mod conditional;
mod dispatch;
mod linked;
mod outbox;
mod replay_time;
mod restore;

pub use restore::{AdoptedOrder, CoreRestore};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod dispatch_tests;

#[cfg(test)]
mod equity_tests;
