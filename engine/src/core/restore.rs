//! What the core carries over from earlier runs, applied once when it is built, before any
//! exec report is read:
//!
//! - **Positions are recomputed from the stored fills** (every fill of the trading venue, in
//!   trade-id order per symbol), not read from the stored position rows: a `kill -9` can fall
//!   between a fill and its position row, but a fill row is the fact itself. Fees in the base
//!   or quote asset are booked as in a live fill; a fee in a third asset is left out (no mark
//!   to value it at start). The account position of each instrument counts every stored fill,
//!   also those of strategies no longer configured; a strategy's own position counts its own.
//!   The recomputed positions are emitted again, repairing a stale position row.
//! - **Adopted orders** (orders of earlier runs the venue-truth pass found open, not final in
//!   the database, or with fills the database lacks) are tracked with the trade ids of their
//!   stored fills, so the venue's fills are applied exactly once: the ones the database
//!   holds (already in the recomputed positions) are duplicates, the others are booked when
//!   their exec reports arrive. Each adoption is a risk event `order_adopted` and an order
//!   row; with `cancel`, a cancel is sent at once (risk event `earlier_order_cancel`).
//! - **Held orders** (stops, take-profits, trailing stops, bracket exits the engine held and
//!   that neither fired nor were dropped) are held again under their ids, with their OCO
//!   links, and then fire, or are cancelled, as if the engine had never stopped.

use rust_decimal::Decimal;

use crate::events::{FillRow, HeldRow, HeldStatus, OrderStatus, PositionRow, SinkEvent};
use crate::order::{ClientOrderId, OrderIntent, OrderRequest, OrderType, TimeInForce};
use crate::position::Fee;
use crate::types::{InstrumentId, Price, Qty, Side};

use super::Core;

/// State carried over from earlier runs (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct CoreRestore {
    /// Every stored fill of the trading venue, in trade-id order per symbol.
    pub fills: Vec<FillRow>,
    /// Orders of earlier runs to track from now on.
    pub adopted: Vec<AdoptedOrder>,
    /// Conditional orders earlier runs held that have neither fired nor been dropped: held
    /// again, under their own ids, with their OCO links.
    pub held: Vec<HeldRow>,
}

/// An order of an earlier run, as the venue and the database know it at start.
#[derive(Clone, Debug, PartialEq)]
pub struct AdoptedOrder {
    /// Its client order id (another run's).
    pub client_order_id: ClientOrderId,
    /// The strategy that placed it, by name, if the database knows it; otherwise (or if that
    /// strategy is not configured) the first strategy trading the instrument takes it.
    pub strategy: Option<String>,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Market or limit.
    pub order_type: OrderType,
    /// Limit price.
    pub price: Option<Price>,
    /// Ordered quantity.
    pub qty: Qty,
    /// The state it is adopted in (the database's, else `acked`); the venue's fills and final
    /// state follow as exec reports.
    pub status: OrderStatus,
    /// Quantity of its stored fills.
    pub filled: Qty,
    /// The venue's order id.
    pub venue_order_id: Option<u64>,
    /// Creation time, ns since the epoch.
    pub created_ns: i64,
    /// Venue trade ids of its stored fills.
    pub seen_trade_ids: Vec<u64>,
    /// Cancel it as soon as it is adopted (`on_start_earlier_orders = "cancel"`).
    pub cancel: bool,
    /// Why it is adopted (for the risk event).
    pub why: String,
}

impl Core {
    /// Applies `restore`: positions from the stored fills, then the adopted orders.
    pub(super) fn apply_restore(&mut self, restore: CoreRestore) {
        self.restore_positions(&restore.fills);
        for a in restore.adopted {
            self.adopt(a);
        }
        self.restore_held(&restore.held);
    }

    /// Holds the stored held orders again (after the adopted orders, so an OCO partner that
    /// is a working order of an earlier run is found). A row whose strategy is no longer
    /// configured, whose instrument is unknown or whose stored values do not make an order
    /// is dropped with a risk event (`earlier_order_not_adopted`).
    fn restore_held(&mut self, rows: &[HeldRow]) {
        for r in rows {
            let si = self.strategies.iter().position(|s| s.name == r.strategy);
            let inst = self.s.instruments.by_symbol(&r.symbol);
            let id = r.client_order_id.parse::<ClientOrderId>().ok();
            let (Some(si), Some(inst), Some(id), Some(trigger)) =
                (si, inst, id, r.trigger.trigger())
            else {
                let msg = format!(
                    "held order {} ({} {} {}) of strategy {} not restored: strategy, instrument or stored values unknown here",
                    r.client_order_id, r.side, r.qty, r.symbol, r.strategy
                );
                tracing::error!("{msg}");
                self.risk_event(
                    None,
                    Some(r.symbol.clone()),
                    "earlier_order_not_adopted",
                    msg,
                );
                let mut gone = r.clone();
                gone.status = HeldStatus::Dropped;
                gone.updated_ns = self.clock.now_ns();
                self.emit(SinkEvent::Held(gone));
                continue;
            };
            let intent = OrderIntent {
                strategy: si as u16,
                instrument: inst,
                side: r.side,
                order_type: r.order_type,
                price: r.price,
                qty: r.qty,
                tif: r.time_in_force,
                reduce_only: r.reduce_only,
                post_only: r.post_only,
                origin_recv_ns: 0,
            };
            tracing::info!(strategy = %r.strategy, order = %id, symbol = %r.symbol, "held order restored");
            self.hold_since(si, id, trigger, intent, r.created_ns);
        }
        // The links, once both legs are here (held again, or working).
        for r in rows {
            let (Ok(a), Some(Ok(b))) = (
                r.client_order_id.parse::<ClientOrderId>(),
                r.oco_with.as_deref().map(str::parse::<ClientOrderId>),
            ) else {
                continue;
            };
            let Some(si) = self.strategies.iter().position(|s| s.name == r.strategy) else {
                continue;
            };
            if let (Some(ia), Some(ib)) = (self.live_leg(si, a), self.live_leg(si, b)) {
                self.push_oco(si, [(a, ia), (b, ib)]);
            }
        }
    }

    fn restore_positions(&mut self, fills: &[FillRow]) {
        let mut touched = Vec::new();
        for f in fills {
            if f.venue != self.s.venue {
                continue;
            }
            let Some(id) = self.s.instruments.by_symbol(&f.symbol) else {
                continue;
            };
            let spec = self.s.instruments.spec(id);
            let fee = if f.fee_asset == spec.quote {
                Fee::Quote(f.fee)
            } else if f.fee_asset == spec.base {
                Fee::Base(f.fee)
            } else {
                Fee::Quote(Decimal::ZERO)
            };
            self.account_positions[id.index()] += f.side.sign() * f.qty;
            if let Fee::Base(b) = fee {
                self.account_positions[id.index()] -= b;
            }
            if let Some(si) = self.strategies.iter().position(|s| s.name == f.strategy) {
                self.positions[si][id.index()].apply_fill_with_fee(f.side, f.price, f.qty, fee);
                if !touched.contains(&(si, id)) {
                    touched.push((si, id));
                }
            }
        }
        let now = self.clock.now_ns();
        for (si, id) in touched {
            let p = self.positions[si][id.index()];
            tracing::info!(strategy = %self.strategies[si].name, symbol = %self.s.instruments.spec(id).symbol, qty = %p.qty, avg_price = %p.avg_price, "position restored from the stored fills");
            self.emit(SinkEvent::Position(PositionRow {
                strategy: self.strategies[si].name.clone(),
                venue: self.s.venue.clone(),
                symbol: self.s.instruments.spec(id).symbol.clone(),
                qty: p.qty,
                avg_price: p.avg_price,
                realized_pnl: p.realized_pnl,
                fees: p.fees,
                updated_ns: now,
            }));
        }
    }

    fn adopt(&mut self, a: AdoptedOrder) {
        let symbol = self.s.instruments.spec(a.instrument).symbol.clone();
        let by_name = a
            .strategy
            .as_deref()
            .and_then(|n| self.strategies.iter().position(|s| s.name == n));
        let Some(si) = by_name.or_else(|| {
            self.strategies
                .iter()
                .position(|s| s.host.trades(a.instrument))
        }) else {
            let msg = format!(
                "order {} of an earlier run on {symbol} not adopted: no configured strategy trades {symbol}",
                a.client_order_id
            );
            tracing::error!("{msg}");
            self.risk_event(None, Some(symbol), "earlier_order_not_adopted", msg);
            return;
        };
        let request = OrderRequest {
            client_order_id: a.client_order_id,
            intent: OrderIntent {
                strategy: si as u16,
                instrument: a.instrument,
                side: a.side,
                order_type: a.order_type,
                price: a.price,
                qty: a.qty,
                tif: TimeInForce::Gtc,
                reduce_only: false,
                post_only: false,
                origin_recv_ns: 0,
            },
        };
        self.tracker.adopt(
            request,
            a.status,
            a.filled,
            a.venue_order_id,
            a.created_ns,
            a.seen_trade_ids.iter().copied(),
        );
        let name = self.strategies[si].name.clone();
        let msg = format!(
            "adopted order {} ({} {} {} @ {}, {} filled so far, stored state {}) for strategy {name}: {}",
            a.client_order_id,
            a.side,
            a.qty,
            symbol,
            a.price.map_or_else(|| "market".to_string(), |p| p.to_string()),
            a.filled,
            a.status.as_str(),
            a.why
        );
        tracing::warn!("{msg}");
        self.risk_event(
            Some(name.clone()),
            Some(symbol.clone()),
            "order_adopted",
            msg,
        );
        self.emit_order(a.client_order_id);
        if a.cancel && !a.status.is_terminal() {
            let msg = format!(
                "cancelling order {} of an earlier run (on_start_earlier_orders = \"cancel\")",
                a.client_order_id
            );
            tracing::warn!("{msg}");
            self.risk_event(Some(name), Some(symbol), "earlier_order_cancel", msg);
            self.send_cancel(a.client_order_id);
        }
    }
}
