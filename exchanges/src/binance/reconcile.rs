//! Reconciliation: compares our view of orders, fills and balances with the venue's and
//! repairs what can be repaired, at start, periodically and after every user-stream reconnect.
//!
//! The first truth of a run is taken before the core starts, by
//! [`super::venue_truth::take_venue_truth`] (the whole account: open orders, orders not final
//! in the database, every trade after the database's checkpoint); [`Reconciler::with_start`]
//! continues from where it ended. Per trading instrument (the registry's primary venue) each
//! pass reads `allOrders` (since the run began, plus the adopted orders still open),
//! `myTrades` (from the last trade id seen) and `openOrders`, and the account's balances:
//! - every trade of one of our orders (any run: adopted orders included) is forwarded as an `ExecReport::Fill` carrying
//!   the venue trade id. The engine's order tracker applies a fill once per (order, trade id),
//!   so a fill the user stream already delivered is ignored and a fill missed while the stream
//!   was down is applied exactly once;
//! - the final state of this run's orders (`CANCELED`, `EXPIRED`, `REJECTED`) and acks are
//!   forwarded once each (after the fills), so an order we think is working but the venue has
//!   closed is closed here too;
//! - what cannot be repaired raises an alarm (recorded as a risk event): an open order at the
//!   venue that is not from this run, a trade of an order we cannot identify, and balances
//!   that differ from the opening balances moved by every trade since.
//!
//! Reports travel on the same exec channel as the user stream's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::clock::Clock;
use peregrine_engine::config::ForeignOrders;
use peregrine_engine::gateway::ExecSender;
use peregrine_engine::order::{ClientOrderId, ExecKind, ExecReport, FillInfo};
use peregrine_engine::types::{InstrumentId, Instruments, Side};
use rust_decimal::Decimal;
use tokio::sync::{watch, Notify};

use super::clock_skew::AlarmFn;
use super::rest::{BinanceRest, RestError, VenueOrder};

/// What one reconciliation pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Fills forwarded (new to this reconciler; the engine drops the ones it already has).
    pub fills_forwarded: usize,
    /// Acks and final states forwarded.
    pub states_forwarded: usize,
    /// Problems that could not be repaired (each also raised as an alarm).
    pub issues: Vec<String>,
}

/// The reconciler of one account and run.
pub struct Reconciler {
    rest: BinanceRest,
    instruments: Arc<Instruments>,
    run_id: u64,
    since_ms: i64,
    exec_tx: ExecSender,
    alarm: AlarmFn,
    /// Next `fromId` per venue symbol.
    next_trade_id: HashMap<String, u64>,
    /// Executed quantity per venue order id, from the trades forwarded.
    cum_qty: HashMap<u64, Decimal>,
    /// (order id, state) pairs already forwarded.
    states_sent: HashSet<(u64, &'static str)>,
    alarmed: HashSet<String>,
    /// Opening balances (free + locked) and every trade's effect since.
    baseline: Option<BTreeMap<String, Decimal>>,
    moved: BTreeMap<String, Decimal>,
    /// Adopted orders still open at the start, per venue symbol: (client id, venue id).
    followed: HashMap<String, Vec<(ClientOrderId, u64)>>,
    /// True once seeded by the start's venue truth (trade cursors cover everything since).
    seeded: bool,
    /// What to do with open orders this engine never placed.
    foreign: ForeignOrders,
}

impl Reconciler {
    /// A reconciler for this run's orders (`run_id` is the `ClientOrderId::run` the engine
    /// uses) created since `since_ms` (venue time), reporting on `exec_tx`, alarming on `alarm`.
    pub fn new(
        rest: BinanceRest,
        instruments: Arc<Instruments>,
        run_id: u64,
        since_ms: i64,
        exec_tx: ExecSender,
        alarm: AlarmFn,
    ) -> Self {
        Self {
            rest,
            instruments,
            run_id,
            since_ms,
            exec_tx,
            alarm,
            next_trade_id: HashMap::new(),
            cum_qty: HashMap::new(),
            states_sent: HashSet::new(),
            alarmed: HashSet::new(),
            baseline: None,
            moved: BTreeMap::new(),
            followed: HashMap::new(),
            seeded: false,
            foreign: ForeignOrders::Report,
        }
    }

    /// Continues from the start's venue truth: its trade cursors (every trade after them is
    /// new, whatever its time) and its adopted orders still open (followed until final).
    pub fn with_start(mut self, truth: &super::venue_truth::VenueTruth) -> Self {
        self.next_trade_id
            .extend(truth.next_trade_id.iter().map(|(k, v)| (k.clone(), *v)));
        self.followed = truth.followed.clone();
        self.seeded = true;
        self
    }

    /// Applies `[venue] foreign_orders` to the open orders this engine never placed.
    pub fn with_foreign_orders(mut self, policy: ForeignOrders) -> Self {
        self.foreign = policy;
        self
    }

    /// Ours: any Peregrine client order id (this run's, or an adopted earlier run's; the
    /// engine's order tracker ignores ids it does not track).
    fn ours(&self, coid: &str) -> Option<ClientOrderId> {
        let _ = self.run_id;
        coid.parse::<ClientOrderId>().ok()
    }

    fn raise(
        &mut self,
        report: &mut ReconcileReport,
        key: String,
        reason: &'static str,
        msg: String,
    ) {
        if self.alarmed.insert(key) {
            tracing::error!(reason, "reconciliation: {msg}");
            (self.alarm)(reason, msg.clone());
        }
        report.issues.push(msg);
    }

    fn send(
        &self,
        id: ClientOrderId,
        instrument: InstrumentId,
        side: Side,
        kind: ExecKind,
    ) -> bool {
        self.exec_tx
            .send(ExecReport {
                client_order_id: id,
                instrument,
                side,
                kind,
                recv_ns: Clock::now_ns(),
            })
            .is_ok()
    }

    /// One pass over every instrument and the balances.
    pub async fn run_once(&mut self) -> Result<ReconcileReport, RestError> {
        let mut report = ReconcileReport::default();
        let first = self.baseline.is_none();
        let opening = if first {
            Some(self.rest.balances().await?)
        } else {
            None
        };
        let primary = self
            .instruments
            .primary_venue()
            .unwrap_or_default()
            .to_string();
        let specs: Vec<(InstrumentId, String, String, String)> = self
            .instruments
            .iter()
            .filter(|(_, s)| s.venue == primary)
            .map(|(id, s)| (id, s.venue_symbol.clone(), s.base.clone(), s.quote.clone()))
            .collect();
        for (id, symbol, base, quote) in specs {
            self.instrument(id, &symbol, &base, &quote, first, &mut report)
                .await?;
        }
        if let Some(opening) = opening {
            self.baseline = Some(
                opening
                    .into_iter()
                    .map(|(a, free, locked)| (a, free + locked))
                    .collect(),
            );
        } else {
            self.check_balances(&mut report).await?;
        }
        Ok(report)
    }

    async fn instrument(
        &mut self,
        id: InstrumentId,
        symbol: &str,
        base: &str,
        quote: &str,
        first: bool,
        report: &mut ReconcileReport,
    ) -> Result<(), RestError> {
        let mut orders: HashMap<u64, VenueOrder> = self
            .rest
            .all_orders(symbol, self.since_ms)
            .await?
            .into_iter()
            .map(|o| (o.order_id, o))
            .collect();
        // Adopted orders, until the venue says they are final.
        let followed = self.followed.get(symbol).cloned().unwrap_or_default();
        let mut still_open = Vec::new();
        for (coid, oid) in followed {
            match self.rest.order(symbol, &coid.to_string()).await {
                Ok(o) => {
                    if matches!(o.status.as_str(), "NEW" | "PARTIALLY_FILLED") {
                        still_open.push((coid, oid));
                    }
                    orders.insert(o.order_id, o);
                }
                Err(e) => {
                    tracing::warn!(order = %coid, error = %e, "reconciliation: cannot read an adopted order");
                    still_open.push((coid, oid));
                }
            }
        }
        self.followed.insert(symbol.to_string(), still_open);
        // Open orders at the venue that this engine did not place: reported, or cancelled
        // with `[venue] foreign_orders = "cancel"` (as at start).
        for o in self.rest.open_orders(symbol).await? {
            if self.ours(&o.client_order_id).is_none() {
                let what = format!(
                    "{} {} {:?} {} @ {} (order id {})",
                    o.symbol, o.client_order_id, o.side, o.orig_qty, o.price, o.order_id
                );
                let key = format!("foreign:{}", o.order_id);
                if self.foreign == ForeignOrders::Cancel {
                    match self.rest.cancel_by_order_id(symbol, o.order_id).await {
                        Ok(()) => {
                            let msg = format!("open order at the venue this engine never placed, cancelled (foreign_orders = \"cancel\"): {what}");
                            self.raise(report, key, "foreign_order_cancelled", msg);
                            continue;
                        }
                        Err(e) => tracing::warn!(error = %e, "cancelling a foreign order failed"),
                    }
                }
                let msg = format!("open order at the venue not placed by this engine: {what}");
                self.raise(report, key, "foreign_open_order", msg);
            }
        }
        // Fills (all pages).
        let mut trades = Vec::new();
        loop {
            let from = self.next_trade_id.get(symbol).copied();
            let page = self.rest.my_trades(symbol, from, self.since_ms).await?;
            let full = page.len() >= 1000;
            if let Some(last) = page.last() {
                self.next_trade_id.insert(symbol.to_string(), last.id + 1);
            }
            trades.extend(page);
            if !full {
                break;
            }
        }
        for t in trades {
            if !first {
                // Balance effect of every trade after the opening balances were read.
                let s = if t.is_buyer {
                    Decimal::ONE
                } else {
                    Decimal::NEGATIVE_ONE
                };
                *self.moved.entry(base.to_string()).or_default() += s * t.qty;
                *self.moved.entry(quote.to_string()).or_default() -= s * t.quote_qty;
                *self.moved.entry(t.commission_asset.clone()).or_default() -= t.commission;
            }
            if !self.seeded && t.time < self.since_ms {
                continue;
            }
            if !orders.contains_key(&t.order_id) {
                // An order older than the run (say, an adopted one): look it up by its id.
                if let Some(o) = self
                    .rest
                    .all_orders_from(symbol, t.order_id, 1)
                    .await?
                    .into_iter()
                    .find(|o| o.order_id == t.order_id)
                {
                    orders.insert(o.order_id, o);
                }
            }
            let Some(order) = orders.get(&t.order_id) else {
                let msg = format!(
                    "trade {} on {symbol} of order {} that allOrders does not list",
                    t.id, t.order_id
                );
                self.raise(
                    report,
                    format!("trade:{symbol}:{}", t.id),
                    "unknown_trade",
                    msg,
                );
                continue;
            };
            let Some(coid) = self.ours(&order.client_order_id) else {
                continue;
            };
            let cum = self.cum_qty.entry(t.order_id).or_default();
            *cum += t.qty;
            let leaves = (order.orig_qty - *cum).max(Decimal::ZERO);
            let fill = FillInfo {
                trade_id: t.id,
                price: t.price,
                qty: t.qty,
                fee: t.commission,
                fee_asset: t.commission_asset.clone(),
                is_maker: t.is_maker,
                leaves_qty: leaves,
                exch_ts_ns: t.time.saturating_mul(1_000_000),
            };
            if self.send(coid, id, order.side, ExecKind::Fill(fill)) {
                report.fills_forwarded += 1;
            }
        }
        // Acks and final states, after the fills.
        let mut ids: Vec<&u64> = orders.keys().collect();
        ids.sort();
        for oid in ids {
            let o = &orders[oid];
            let Some(coid) = self.ours(&o.client_order_id) else {
                continue;
            };
            let mut kinds: Vec<(&'static str, ExecKind)> = vec![(
                "ack",
                ExecKind::Ack {
                    venue_order_id: o.order_id,
                },
            )];
            match o.status.as_str() {
                "CANCELED" => kinds.push(("canceled", ExecKind::Cancelled)),
                "EXPIRED" | "EXPIRED_IN_MATCH" => kinds.push(("expired", ExecKind::Expired)),
                "REJECTED" => kinds.push((
                    "rejected",
                    ExecKind::Rejected {
                        code: 0,
                        reason: "venue reports the order REJECTED".into(),
                    },
                )),
                _ => {}
            }
            for (tag, kind) in kinds {
                if self.states_sent.insert((o.order_id, tag)) && self.send(coid, id, o.side, kind) {
                    report.states_forwarded += 1;
                }
            }
        }
        Ok(())
    }

    async fn check_balances(&mut self, report: &mut ReconcileReport) -> Result<(), RestError> {
        let Some(baseline) = self.baseline.clone() else {
            return Ok(());
        };
        let now: BTreeMap<String, Decimal> = self
            .rest
            .balances()
            .await?
            .into_iter()
            .map(|(a, free, locked)| (a, free + locked))
            .collect();
        let mut assets: Vec<&String> = baseline.keys().chain(self.moved.keys()).collect();
        assets.sort();
        assets.dedup();
        let mut diffs = Vec::new();
        for a in assets {
            let expected = baseline.get(a).copied().unwrap_or_default()
                + self.moved.get(a).copied().unwrap_or_default();
            let actual = now.get(a).copied().unwrap_or_default();
            if expected != actual {
                diffs.push(format!("{a}: venue {actual}, expected {expected}"));
            }
        }
        if !diffs.is_empty() {
            let msg = format!(
                "balances differ from the opening balances plus our trades (a deposit, a withdrawal or a trade elsewhere?): {}",
                diffs.join("; ")
            );
            self.raise(report, format!("balances:{msg}"), "balance_mismatch", msg);
        }
        Ok(())
    }
}

/// Runs `rec` at once, then every `interval`, and whenever `reconnected` is notified, until
/// `shutdown` turns true. Failures are logged and retried on the next trigger.
pub async fn run_reconciler(
    mut rec: Reconciler,
    interval: Duration,
    reconnected: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match rec.run_once().await {
            Ok(r) => tracing::info!(
                fills = r.fills_forwarded,
                states = r.states_forwarded,
                issues = r.issues.len(),
                "reconciliation pass"
            ),
            Err(e) => tracing::warn!(error = %e, "reconciliation pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = reconnected.notified() => tracing::info!("user stream reconnected; reconciling"),
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
