//! The run's venue-side guards: the venue's truth at start, clock-skew measurement and
//! reconciliation, with their alarms recorded as risk events in the sink.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use peregrine_engine::account::StartBalance;
use peregrine_engine::clock::Clock;
use peregrine_engine::config::RiskConfig;
use peregrine_engine::config::{ForeignOrders, VenueConfig};
use peregrine_engine::core::CoreRestore;
use peregrine_engine::events::{RiskEventRow, SinkEvent};
use peregrine_engine::gateway::ExecSender;
use peregrine_engine::sink::SinkSender;
use peregrine_engine::sink::StartState;
use peregrine_engine::types::Instruments;
use peregrine_exchanges::binance::clock_skew::{run_clock_skew, AlarmFn, ClockSkewConfig};
use peregrine_exchanges::binance::reconcile::{run_reconciler, Reconciler};
use peregrine_exchanges::binance::rest::BinanceRest;
use peregrine_exchanges::binance::venue_truth::{take_venue_truth, StartPolicy, VenueTruth};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// An alarm sink that records each alarm as a risk event (`reason`, `message`).
pub fn alarm_to_sink(sink: SinkSender, run_id: u64) -> AlarmFn {
    let seq = Arc::new(AtomicU64::new(0));
    Arc::new(move |reason, message| {
        let n = seq.fetch_add(1, Ordering::Relaxed) + 1;
        let row = RiskEventRow {
            id: format!("{run_id:x}-venue-{n}"),
            ts_ns: Clock::wall_ns(),
            strategy: None,
            symbol: None,
            reason: reason.to_string(),
            message,
        };
        if sink.send(SinkEvent::Risk(row)).is_err() {
            tracing::error!(reason, "the sink is gone; venue alarm not recorded");
        }
    })
}

/// Takes the venue's truth for the whole account at start (see
/// `peregrine_exchanges::binance::venue_truth`): records the first checkpoints in the sink,
/// queues the adopted orders' exec reports on `exec_tx` (the core applies them after the
/// adoption) and returns what the core restores (positions from the stored fills, adopted
/// orders) with the truth the reconciler continues from, and the account's balances as the
/// core must start from (the venue's, less the queued fills the core will book). Call it once
/// the user stream is connected and before the core starts.
pub async fn take_start_truth(
    venue: &VenueConfig,
    rest: &BinanceRest,
    instruments: &Instruments,
    db: StartState,
    exec_tx: &ExecSender,
    sink: &SinkSender,
    alarm: &AlarmFn,
) -> anyhow::Result<(CoreRestore, VenueTruth, Vec<StartBalance>)> {
    // Before the truth: a fill between the two would be in the balances and reported by the
    // user stream as well (the truth's own fills are taken out below).
    let snapshot: Vec<StartBalance> = rest
        .balances()
        .await
        .context("reading the account's balances at start (GET /api/v3/account)")?
        .into_iter()
        .map(|(asset, free, locked)| StartBalance {
            asset,
            free,
            locked,
        })
        .collect();
    let policy = StartPolicy {
        earlier: venue.on_start_earlier_orders,
        foreign: venue.foreign_orders,
    };
    let mut truth = take_venue_truth(rest, instruments, &venue.name, &db, policy, alarm)
        .await
        .context("taking the venue's truth at start (openOrders, myTrades, allOrders)")?;
    for c in truth.checkpoints.drain(..) {
        sink.send(SinkEvent::Checkpoint(c))
            .map_err(|e| anyhow::anyhow!("the sink is gone: {e}"))?;
    }
    let balances = peregrine_engine::account::before_fills(&snapshot, &truth.reports, instruments);
    for r in truth.reports.drain(..) {
        exec_tx
            .send(r)
            .map_err(|_| anyhow::anyhow!("the exec channel closed before the core started"))?;
    }
    tracing::info!(
        adopted = truth.adopted.len(),
        stored_fills = db.fills.len(),
        events = truth.events.len(),
        "venue truth taken at start"
    );
    let restore = CoreRestore {
        fills: db.fills,
        adopted: std::mem::take(&mut truth.adopted),
        held: db.held,
    };
    Ok((restore, truth, balances))
}

/// The running guards.
pub struct VenueGuards {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl VenueGuards {
    /// Starts clock-skew measurement (every minute) and reconciliation (every
    /// `risk.reconcile_interval_s`, at once, and on `reconnected`), continuing from the
    /// start's venue truth `start`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        cfg: &RiskConfig,
        rest: BinanceRest,
        instruments: Arc<Instruments>,
        run_id: u64,
        since_ms: i64,
        exec_tx: ExecSender,
        alarm: AlarmFn,
        reconnected: Arc<Notify>,
        start: &VenueTruth,
        foreign: ForeignOrders,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let skew = tokio::spawn(run_clock_skew(
            rest.clone(),
            ClockSkewConfig {
                interval: Duration::from_secs(60),
                alarm_threshold_ms: cfg.clock_skew_alarm_ms,
            },
            alarm.clone(),
            stop_rx.clone(),
        ));
        let rec = Reconciler::new(rest, instruments, run_id, since_ms, exec_tx, alarm)
            .with_start(start)
            .with_foreign_orders(foreign);
        let reconcile = tokio::spawn(run_reconciler(
            rec,
            Duration::from_secs(cfg.reconcile_interval_s.max(1)),
            reconnected,
            stop_rx,
        ));
        Self {
            stop,
            tasks: vec![skew, reconcile],
        }
    }

    /// Stops both and waits for them (they hold a sink sender and an exec sender).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "a venue guard task failed");
            }
        }
    }
}
