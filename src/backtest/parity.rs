//! Backtest = live: the same strategy over the same recorded ticks, once through the backtest
//! driver ([`Backtest::step`]) and once through the live core loop
//! ([`peregrine_engine::core::run_core_on`]: its queues, idle polling of timers and bars,
//! outbox and gateway channel, inline topology) fed by a replay source, both filled by the
//! backtest venue; then what they did is compared.
//!
//! **Same** means: the order rows (every state change: id, strategy, symbol, side, type,
//! price, quantity, filled quantity, status, reject reason, creation and update times), the
//! fill rows (trade id, order, side, price, quantity, fee, fee asset, maker flag, time), the
//! signals and the risk events are equal, field by field and in the same sequence, up to the
//! end of the data. Both run on a replay clock (engine time = the recorded event time) and the
//! same latency model, so timestamps must match exactly too. What follows the end of the data
//! is not compared: the backtest then closes the forming bar and cancels working orders
//! (`finish`), a live loop only stops.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use peregrine_engine::clock::EngineClock;
use peregrine_engine::core::{run_core_on, CoreSetup};
use peregrine_engine::events::{FillRow, OrderRow, RiskEventRow, SignalRow, SinkEvent};
use peregrine_engine::gateway::SignedOrder;
use peregrine_engine::order::ExecReport;
use peregrine_engine::tick::Tick;
use peregrine_engine::tuning::{CoreTuning, FeedPump, WaitPolicy};
use serde::Serialize;

use super::venue::{BacktestSigner, BacktestVenue};
use super::{backtest_venue, core_setup, Backtest, BacktestConfig, BacktestError};

/// What one run did up to the end of the data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// Every order state change, in order.
    pub orders: Vec<OrderRow>,
    /// Every fill, in order.
    pub fills: Vec<FillRow>,
    /// Every `signal()` call, in order.
    pub signals: Vec<SignalRow>,
    /// Every risk event, in order.
    pub risk_events: Vec<RiskEventRow>,
}

impl Trace {
    fn push(&mut self, ev: SinkEvent) {
        match ev {
            SinkEvent::Order(o) => self.orders.push(o),
            SinkEvent::Fill(f) => self.fills.push(f),
            SinkEvent::Signal(s) => self.signals.push(s),
            SinkEvent::Risk(r) => self.risk_events.push(r),
            _ => {}
        }
    }
}

/// The first difference between a backtest's trace and the live loop's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// `orders`, `fills`, `signals` or `risk_events`.
    pub stream: &'static str,
    /// Position in that stream (0-based).
    pub index: usize,
    /// The differing field (`len` when one stream is longer).
    pub field: String,
    /// The backtest's value.
    pub backtest: String,
    /// The live loop's value.
    pub live: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}].{}: backtest {} vs live {}",
            self.stream, self.index, self.field, self.backtest, self.live
        )
    }
}

fn compare_rows<T: Serialize>(stream: &'static str, a: &[T], b: &[T]) -> Result<(), Divergence> {
    for (index, (x, y)) in a.iter().zip(b).enumerate() {
        let (x, y) = (serde_json::to_value(x), serde_json::to_value(y));
        let (Ok(serde_json::Value::Object(x)), Ok(serde_json::Value::Object(y))) = (x, y) else {
            continue;
        };
        for (field, xv) in &x {
            let yv = y.get(field).unwrap_or(&serde_json::Value::Null);
            if xv != yv {
                return Err(Divergence {
                    stream,
                    index,
                    field: field.clone(),
                    backtest: xv.to_string(),
                    live: yv.to_string(),
                });
            }
        }
    }
    if a.len() != b.len() {
        return Err(Divergence {
            stream,
            index: a.len().min(b.len()),
            field: "len".into(),
            backtest: a.len().to_string(),
            live: b.len().to_string(),
        });
    }
    Ok(())
}

/// Compares two traces stream by stream; the first difference found, if any.
pub fn compare(backtest: &Trace, live: &Trace) -> Result<(), Divergence> {
    compare_rows("orders", &backtest.orders, &live.orders)?;
    compare_rows("fills", &backtest.fills, &live.fills)?;
    compare_rows("signals", &backtest.signals, &live.signals)?;
    compare_rows("risk_events", &backtest.risk_events, &live.risk_events)
}

/// The backtest driver's trace of `ticks`.
pub fn backtest_trace(cfg: &BacktestConfig, ticks: &[Tick]) -> Result<Trace, BacktestError> {
    let mut bt = Backtest::new(cfg.clone())?;
    for t in ticks {
        bt.step(*t)?;
    }
    bt.drain_sink()?;
    Ok(Trace {
        orders: std::mem::take(&mut bt.rows.orders),
        fills: std::mem::take(&mut bt.rows.fills),
        signals: std::mem::take(&mut bt.rows.signals),
        risk_events: std::mem::take(&mut bt.rows.risk_events),
    })
}

/// The replay source of the live loop, on the core thread (inline topology): each turn it
/// first hands the requests the core sent to the venue and the venue's reports back to the
/// core; only when nothing is in flight does it let the venue see the next recorded event
/// and then give the event to the core, as a venue's fills and its market data reach a live
/// engine.
struct ReplayPump {
    data: std::vec::IntoIter<Tick>,
    ticks: Option<Sender<Tick>>,
    execs: Sender<ExecReport>,
    gateway: tokio::sync::mpsc::UnboundedReceiver<SignedOrder>,
    venue: BacktestVenue,
    reports: Vec<ExecReport>,
    /// An event the venue has seen, waiting for the core (its reports went first).
    pending: Option<Tick>,
    now: i64,
    /// The sink's queue, to count the rows written up to the end of the data.
    sink: Receiver<SinkEvent>,
    rows_at_end: Arc<std::sync::atomic::AtomicUsize>,
}

impl ReplayPump {
    /// Sends the venue's reports to the core; true if there were any.
    fn flush_reports(&mut self) -> bool {
        if self.reports.is_empty() {
            return false;
        }
        for r in self.reports.drain(..) {
            // The core holds the receiver for the whole run.
            let _ = self.execs.send(r);
        }
        true
    }

    fn give(&mut self, tick: Tick) {
        if let Some(tx) = &self.ticks {
            let _ = tx.send(tick);
        }
    }
}

impl FeedPump for ReplayPump {
    fn pump(&mut self, _ticks: &Receiver<Tick>, _max_wait: Option<Duration>) -> bool {
        while let Ok(signed) = self.gateway.try_recv() {
            self.venue.submit(signed, self.now, &mut self.reports);
        }
        if self.flush_reports() {
            return true;
        }
        if let Some(tick) = self.pending.take() {
            self.give(tick);
            return true;
        }
        let Some(tick) = self.data.next() else {
            if self.ticks.take().is_some() {
                self.rows_at_end
                    .store(self.sink.len(), std::sync::atomic::Ordering::SeqCst);
            }
            return false;
        };
        self.now = tick.exch_ts_ns.max(self.now);
        self.venue.activate_due(self.now, &mut self.reports);
        self.venue.on_market(&tick, &mut self.reports);
        if self.flush_reports() {
            self.pending = Some(tick);
        } else {
            self.give(tick);
        }
        true
    }
}

/// The live core loop's trace of `ticks`, fed by a replay source on a replay clock.
pub fn live_trace(cfg: &BacktestConfig, ticks: Vec<Tick>) -> Result<Trace, BacktestError> {
    let (signer, requests) = BacktestSigner::new();
    let (gw_tx, gw_rx) = tokio::sync::mpsc::unbounded_channel();
    let (sink_tx, sink_rx) = crossbeam_channel::unbounded();
    let (tick_tx, tick_rx) = crossbeam_channel::unbounded();
    let (exec_tx, exec_rx) = crossbeam_channel::unbounded();
    let rows_at_end = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let setup = CoreSetup {
        ticks: tick_rx,
        execs: exec_rx,
        ..core_setup(cfg, Box::new(signer), gw_tx, Box::new(sink_tx))
    };
    let pump = ReplayPump {
        data: ticks.into_iter(),
        ticks: Some(tick_tx),
        execs: exec_tx,
        gateway: gw_rx,
        venue: backtest_venue(cfg, requests),
        reports: Vec::with_capacity(16),
        pending: None,
        now: 0,
        sink: sink_rx.clone(),
        rows_at_end: rows_at_end.clone(),
    };
    let tuning = CoreTuning {
        wait: WaitPolicy::Park,
        pump: Some(Box::new(pump)),
        window: Duration::ZERO,
        ..CoreTuning::default()
    };
    run_core_on(setup, tuning, EngineClock::replay(0))?;
    let n = rows_at_end.load(std::sync::atomic::Ordering::SeqCst);
    let mut trace = Trace::default();
    for ev in sink_rx.try_iter().take(n) {
        trace.push(ev);
    }
    Ok(trace)
}

/// Runs `ticks` through both and compares: `Ok(Err(d))` is a divergence.
pub fn check(
    cfg: &BacktestConfig,
    ticks: Vec<Tick>,
) -> Result<(Trace, Result<(), Divergence>), BacktestError> {
    let bt = backtest_trace(cfg, &ticks)?;
    let live = live_trace(cfg, ticks)?;
    let verdict = compare(&bt, &live);
    Ok((bt, verdict))
}
