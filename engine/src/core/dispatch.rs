//! Strategy-facing hooks of the core loop: book, order, risk-reject and clock (timers, bars)
//! callbacks, single-order cancels, signals, reduce-only enforcement and hot reload. Kept
//! apart from the event plumbing in `mod.rs`.

use std::time::Duration;

use crossbeam_channel::{never, Receiver};
use rust_decimal::Decimal;

use super::{Core, StrategySlot};
use crate::clock::Clock;
use crate::config::StrategyConfig;
use crate::events::{SignalRow, SinkEvent, StrategyReloadRow};
use crate::order::{ClientOrderId, ExecKind, ExecReport, OrderIntent, OrderType};
use crate::risk::{RejectReason, RiskReject};
use crate::stages::Stage;
use crate::strategy::{
    BookView, OpenOrder, OrderView, RejectView, ReloadOrigin, ReloadWatcher, Reloaded, BOOK_LEVELS,
};
use crate::types::{InstrumentId, Price, Qty, Side};

/// How often the hot-reload watcher looks at the files.
const RELOAD_POLL: Duration = Duration::from_millis(250);
/// Longest wait for an event before the loop checks its clock (timers, bars, kill switch).
const MAX_IDLE: Duration = Duration::from_millis(100);
/// Nested notifications (a callback's order refused, whose callback places another, ...)
/// stop at this depth; deeper ones are still recorded as events, just not called back.
const MAX_NOTIFY_DEPTH: u8 = 2;

/// Starts the watcher for the strategies with `hot_reload = true`, if any.
pub(super) fn start_reload_watcher(
    cfgs: &[StrategyConfig],
    slots: &[StrategySlot],
) -> Option<ReloadWatcher> {
    let files: Vec<_> = cfgs
        .iter()
        .zip(slots)
        .enumerate()
        .filter(|(_, (c, _))| c.hot_reload)
        .map(|(i, (c, s))| (i, c.file.clone(), s.host.current_source_hash()))
        .collect();
    if files.is_empty() {
        return None;
    }
    match ReloadWatcher::spawn(files, RELOAD_POLL) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(
                "cannot start the hot-reload watcher: {e}; strategies will not be reloaded"
            );
            None
        }
    }
}

impl Core {
    /// The engine clock strategies see (`now()`, timers, bars).
    pub(super) fn engine_now(&self) -> i64 {
        self.clock.now_ns()
    }

    pub(super) fn reload_receiver(&self) -> Receiver<Reloaded> {
        self.reload
            .as_ref()
            .map(|w| w.receiver().clone())
            .unwrap_or_else(never)
    }

    /// Updates what strategy `i` sees of instrument `id` before one of its callbacks.
    pub(super) fn prepare_host(&mut self, i: usize, id: InstrumentId) {
        let view = self.view_for(i, id);
        self.strategies[i].host.set_view(id, view);
        // A strategy of several instruments reads all of them (`position("ETH-USDT")`).
        let n = self.strategies[i].host.instrument_count();
        if n > 1 {
            for k in 0..n {
                match self.strategies[i].host.instrument_at(k) {
                    Some(other) if other != id => {
                        let view = self.view_for(i, other);
                        self.strategies[i].host.set_view(other, view);
                    }
                    _ => {}
                }
            }
        }
        if self.strategies[i].host.wants_account() {
            self.refresh_account_view(i);
        }
        let host = &mut self.strategies[i].host;
        if host.wants_open_orders() {
            let orders: Vec<OpenOrder> = self
                .tracker
                .cancellable(Some(i as u16), None)
                .into_iter()
                .filter_map(|cid| self.tracker.get(&cid))
                .map(|o| OpenOrder {
                    id: o.request.client_order_id,
                    instrument: o.request.intent.instrument,
                    side: o.request.intent.side,
                    price: o.request.intent.price,
                    qty: o.request.intent.qty,
                    filled: o.filled,
                })
                .collect();
            self.strategies[i].host.set_open_orders(orders);
        }
    }

    /// How long the loop may wait for an event: until the next strategy deadline, at most
    /// [`MAX_IDLE`].
    pub(super) fn idle_wait(&self) -> Duration {
        let now = self.engine_now();
        self.strategies
            .iter()
            .filter(|s| !s.halted)
            .filter_map(|s| s.host.next_deadline())
            .min()
            .map(|d| Duration::from_nanos(d.saturating_sub(now).max(0) as u64))
            .unwrap_or(MAX_IDLE)
            .min(MAX_IDLE)
    }

    /// Fires due timers and closes due bars of every running strategy.
    pub(super) fn poll_clock(&mut self) {
        let now = self.engine_now();
        for i in 0..self.strategies.len() {
            let due = self.strategies[i]
                .host
                .next_deadline()
                .is_some_and(|d| d <= now);
            if self.strategies[i].halted || !due {
                continue;
            }
            let first = self.strategies[i].host.instruments()[0];
            self.prepare_host(i, first);
            let res = self.strategies[i].host.on_clock(now);
            self.after_callback(i, res);
        }
    }

    /// After a complete book update: copies the top levels for the strategies that read them
    /// and calls `on_book`.
    pub(super) fn dispatch_book(&mut self, id: InstrumentId, origin_recv_ns: u64) {
        let now = self.engine_now();
        for i in 0..self.strategies.len() {
            let slot = &self.strategies[i];
            if slot.halted || !slot.host.trades(id) || !slot.host.wants_book() {
                continue;
            }
            self.prepare_host(i, id);
            let book = &self.instruments_state[id.index()].book;
            let host = &mut self.strategies[i].host;
            host.set_book(
                id,
                book.bids_best_first().take(BOOK_LEVELS),
                book.asks_best_first().take(BOOK_LEVELS),
            );
            let (bid_levels, ask_levels) = book.depth();
            let view = BookView {
                instrument: id,
                symbol: self.symbols[id.index()].clone(),
                bid: book.best_bid(),
                ask: book.best_ask(),
                bid_levels,
                ask_levels,
            };
            let res = host.on_book(view, origin_recv_ns, now);
            self.after_callback(i, res);
        }
    }

    /// `on_order` for an acknowledgement, rejection, cancel or expiry of one of our orders.
    pub(super) fn notify_order(&mut self, rep: &ExecReport) {
        let (status, reason) = match &rep.kind {
            ExecKind::Ack { .. } => ("accepted", ""),
            ExecKind::Rejected { reason, .. } => ("rejected", reason.as_str()),
            ExecKind::Cancelled => ("cancelled", ""),
            ExecKind::Expired => ("expired", ""),
            // The order is still working: the venue refused our cancel.
            ExecKind::CancelRejected { reason, .. } => ("cancel_rejected", reason.as_str()),
            ExecKind::Fill(_) => return,
        };
        let Some(o) = self.tracker.get(&rep.client_order_id) else {
            return;
        };
        let si = o.request.intent.strategy as usize;
        if self.notify_depth >= MAX_NOTIFY_DEPTH || self.strategies.get(si).is_none_or(|s| s.halted)
        {
            return;
        }
        let i = &o.request.intent;
        let view = OrderView {
            instrument: i.instrument,
            symbol: self.symbols[i.instrument.index()].clone(),
            id: rep.client_order_id.to_string().into(),
            status,
            reason: reason.into(),
            side: i.side,
            price: i.price,
            qty: i.qty,
            filled: o.filled,
        };
        let id = i.instrument;
        self.prepare_host(si, id);
        let now = self.engine_now();
        self.notify_depth += 1;
        let res = self.strategies[si].host.on_order(view, now);
        self.after_callback(si, res);
        self.notify_depth -= 1;
    }

    /// `on_signal(s)` of the strategy the signal names (unknown or halted: dropped, logged);
    /// records the `signal` stage (sender's clock -> callback).
    pub(super) fn on_signal(&mut self, s: crate::signal::ExternalSignal) {
        let Some(si) = self.strategies.iter().position(|x| x.name == s.strategy) else {
            tracing::debug!(strategy = %s.strategy, name = %s.name, "signal for no strategy of this engine");
            return;
        };
        if self.strategies[si].halted {
            return;
        }
        let wall = Clock::wall_ns();
        self.stages.record(
            Stage::Signal,
            u64::try_from(wall.saturating_sub(s.sent_wall_ns)).unwrap_or(0),
        );
        let Some(first) = self.strategies[si].host.instrument_at(0) else {
            return;
        };
        self.prepare_host(si, first);
        let now = self.engine_now();
        let res = self.strategies[si].host.on_signal(s.to_map(), now);
        self.after_callback(si, res);
    }

    /// `on_risk_reject` for an order our risk gate refused (`id`: the id `limit(..)` returned).
    pub(super) fn notify_risk_reject(
        &mut self,
        strategy: usize,
        id: ClientOrderId,
        intent: &OrderIntent,
        reject: &RiskReject,
    ) {
        if self.notify_depth >= MAX_NOTIFY_DEPTH || self.strategies[strategy].halted {
            return;
        }
        let view = RejectView {
            instrument: intent.instrument,
            symbol: self.symbols[intent.instrument.index()].clone(),
            id: id.to_string().into(),
            reason: reject.reason.as_str().into(),
            message: reject.message.as_str().into(),
            side: intent.side,
            price: intent.price,
            qty: intent.qty,
        };
        self.prepare_host(strategy, intent.instrument);
        let now = self.engine_now();
        self.notify_depth += 1;
        let res = self.strategies[strategy].host.on_risk_reject(view, now);
        self.after_callback(strategy, res);
        self.notify_depth -= 1;
    }

    /// `cancel(id)` from a script: only the strategy's own working orders.
    pub(super) fn cancel_one(&mut self, i: usize, id: ClientOrderId) {
        if self.drop_conditional(i, id) {
            self.on_leg_done(id);
            return;
        }
        if self.cancel_bracket_exit(i, id) {
            return;
        }
        let Some(o) = self.tracker.get(&id) else {
            // A final order already let go of (backtest): nothing to cancel, as for any final one.
            if self.tracker.is_released(&id) {
                return;
            }
            if let Some(suppressed) = self.warns.cancel_unknown.allow(std::time::Instant::now()) {
                tracing::warn!(strategy = %self.strategies[i].name, order = %id, suppressed, "cancel of an unknown order ignored");
            }
            return;
        };
        if o.request.intent.strategy as usize != i {
            if let Some(suppressed) = self.warns.cancel_foreign.allow(std::time::Instant::now()) {
                tracing::warn!(strategy = %self.strategies[i].name, order = %id, suppressed, "cancel of another strategy's order ignored");
            }
            return;
        }
        if o.status.is_terminal() || o.cancel_sent {
            return;
        }
        self.send_cancel(id);
    }

    /// What `balance()`, `available()` and `equity()` read in strategy `i`: every asset's
    /// balance, less for `available` what working orders hold (ours, and what untracked orders
    /// held at start); equity is the account valued in the quote asset of the strategy's first
    /// instrument, each other asset at the mark of its instrument against that quote on the
    /// trading venue (an asset without one is left out).
    pub(super) fn refresh_account_view(&mut self, i: usize) {
        let instruments = self.s.instruments.clone();
        let instruments = instruments.as_ref();
        let quote = self.strategies[i]
            .host
            .instrument_at(0)
            .map(|id| instruments.spec(id).quote.as_str());
        let mut equity = Decimal::ZERO;
        let mut assets = self.strategies[i].host.take_account_buffer();
        for (asset, balance, held_at_start) in self.balances.iter() {
            let held: Decimal = self
                .tracker
                .working()
                .filter_map(|o| crate::account::hold(o, instruments))
                .filter(|(a, _)| *a == asset.as_str())
                .map(|(_, h)| h)
                .sum();
            assets.push(crate::strategy::AssetView {
                asset: asset.clone(),
                balance,
                available: balance - held - held_at_start,
            });
            let Some(quote) = quote else {
                continue;
            };
            if asset.as_str() == quote {
                equity += balance;
            } else if let Some(px) = instruments
                .iter()
                .find(|(_, s)| {
                    s.venue == self.s.venue && s.base == asset.as_str() && s.quote == quote
                })
                .and_then(|(id, _)| self.mark_of(id))
            {
                equity += balance * px;
            }
        }
        self.strategies[i].host.set_account(assets, equity);
    }

    /// Signs and sends a cancel for one of our orders and marks it as cancel-sent.
    pub(super) fn send_cancel(&mut self, id: ClientOrderId) {
        let Some(o) = self.tracker.get(&id) else {
            return;
        };
        let (inst, side) = (o.request.intent.instrument, o.request.intent.side);
        match self
            .s
            .signer
            .sign_cancel(id, inst, side, self.clock.now_ms())
        {
            Ok(signed) => {
                self.s.risk.record_request(1, self.clock.interval_ns());
                self.tracker.mark_cancel_sent(&id);
                self.report.cancels += 1;
                self.wire_cancel(signed);
            }
            Err(e) => tracing::error!(order = %id, "cannot sign cancel: {e}"),
        }
    }

    /// `replace(order, price, qty)` from a script: the working limit order `cancel` of
    /// strategy `i` becomes a new order `id` at `price` / `qty` (same instrument, side, time
    /// in force and post-only) in one cancel-replace request. The risk gate checks the new
    /// order as if the old one were already gone (its working quantity no longer counts);
    /// an order that is not working any more (filled, cancelled, being cancelled) or is
    /// another strategy's is refused, through `on_risk_reject`, under the new id.
    pub(super) fn replace_one(
        &mut self,
        i: usize,
        cancel: ClientOrderId,
        id: ClientOrderId,
        price: Price,
        qty: Qty,
        origin_recv_ns: u64,
    ) {
        let Some(old) = self.tracker.get(&cancel) else {
            return self.refuse_replace(i, cancel, id, None, "is not an order of this run");
        };
        let mut intent = old.request.intent;
        intent.price = Some(price);
        intent.qty = qty;
        intent.origin_recv_ns = origin_recv_ns;
        let why = if intent.strategy as usize != i {
            Some("is another strategy's order")
        } else if old.status.is_terminal() {
            Some("is no longer working (filled, cancelled or rejected)")
        } else if old.cancel_sent {
            Some("is already being cancelled")
        } else if old.request.intent.order_type != OrderType::Limit {
            Some("is not a limit order")
        } else {
            None
        };
        if let Some(why) = why {
            return self.refuse_replace(i, cancel, id, Some(intent), why);
        }
        let old_leaves = old.leaves();
        let risk_start = Clock::now_ns();
        let mut view = self.exposure(&intent);
        // The old order is cancelled before the new one is placed: it does not count.
        match intent.side {
            Side::Buy => view.open_buy_qty -= old_leaves,
            Side::Sell => view.open_sell_qty -= old_leaves,
        }
        view.open_orders = view.open_orders.saturating_sub(1);
        if let Some(px) = self.mark_of(intent.instrument) {
            view.gross_exposure = (view.gross_exposure - old_leaves * px).max(Decimal::ZERO);
        }
        let checked = self.s.risk.check_order(&intent, &view);
        self.stages
            .record(Stage::Risk, Clock::now_ns().saturating_sub(risk_start));
        if let Err(reject) = checked {
            return self.on_risk_reject(i, id, &intent, reject);
        }
        self.send_approved(i, id, intent, Some(cancel));
    }

    fn refuse_replace(
        &mut self,
        i: usize,
        cancel: ClientOrderId,
        id: ClientOrderId,
        intent: Option<OrderIntent>,
        why: &str,
    ) {
        let Some(intent) = intent else {
            if let Some(suppressed) = self.warns.cancel_unknown.allow(std::time::Instant::now()) {
                tracing::warn!(strategy = %self.strategies[i].name, order = %cancel, suppressed, "replace of an unknown order ignored");
            }
            return;
        };
        let reject = RiskReject {
            reason: RejectReason::InvalidOrder,
            message: format!("replace: order {cancel} {why}"),
        };
        self.on_risk_reject(i, id, &intent, reject);
    }

    /// `signal(name, value)` from a script: a row for the `signals` table.
    pub(super) fn emit_signal(&mut self, i: usize, id: InstrumentId, name: &str, value: f64) {
        self.signal_seq += 1;
        let row = SignalRow {
            id: format!("{:x}-s{}", self.s.run_id, self.signal_seq),
            ts_ns: self.engine_now(),
            strategy: self.strategies[i].name.clone(),
            symbol: Some(self.s.instruments.spec(id).symbol.clone()),
            name: name.to_string(),
            value,
        };
        self.emit(SinkEvent::Signal(row));
    }

    /// Reduce-only on a spot venue: the order may only shrink the strategy's position,
    /// counting its working orders on the same side; it is clamped to what is left and sent
    /// as a plain order (Binance spot has no reduce-only flag).
    pub(super) fn enforce_reduce_only(
        &self,
        strategy: usize,
        mut intent: OrderIntent,
    ) -> Result<OrderIntent, RiskReject> {
        if !intent.reduce_only {
            return Ok(intent);
        }
        let id = intent.instrument;
        // Only the tradable part: sub-lot dust left by base-asset fees cannot be sold.
        let pos = crate::position::tradable(
            self.positions[strategy][id.index()].qty,
            self.s.instruments.spec(id).lot_size,
        );
        let (open_buy, open_sell) = self.tracker.open_qty(strategy as u16, id);
        let room = match intent.side {
            Side::Sell => pos - open_sell,
            Side::Buy => -pos - open_buy,
        }
        .max(Decimal::ZERO);
        if room.is_zero() {
            return Err(RiskReject {
                reason: RejectReason::InvalidOrder,
                message: format!(
                    "reduce-only {} of {} would not reduce the position {pos} (working: buy {open_buy}, sell {open_sell})",
                    intent.side.as_str(),
                    intent.qty
                ),
            });
        }
        intent.qty = intent.qty.min(room);
        intent.reduce_only = false;
        Ok(intent)
    }

    /// Swaps in a new version of a strategy (checked on the watcher thread or by the
    /// database follower), and records the outcome (`strategy_reloads`).
    pub(super) fn apply_reload(&mut self, new: Reloaded) {
        let now = self.engine_now();
        let Some(slot) = self.strategies.get_mut(new.strategy) else {
            return;
        };
        let name = slot.name.clone();
        let outcome = if let Some(why) = new.refused.clone() {
            tracing::error!(strategy = %name, "reload refused, the running version stays: {why}");
            Err(why)
        } else if slot.halted {
            tracing::warn!(strategy = %name, "halted strategy not reloaded");
            Err("the strategy is halted (too many errors); not reloaded".to_string())
        } else {
            match slot.host.reload_with(&new.source, new.params.as_ref(), now) {
                Ok(()) => {
                    tracing::info!(strategy = %name, hash = format!("{:016x}", new.hash), origin = new.origin.as_str(), "strategy reloaded; orders, positions and `this` kept");
                    self.after_callback(new.strategy, Ok(()));
                    Ok(())
                }
                Err(e) => {
                    tracing::error!(strategy = %name, "reload failed, the previous version keeps running: {e}");
                    self.risk_event(
                        Some(name.clone()),
                        None,
                        "strategy_reload_failed",
                        e.to_string(),
                    );
                    Err(e.to_string())
                }
            }
        };
        self.reload_seq += 1;
        let row = StrategyReloadRow {
            id: format!("{}-r{}", self.run_hex, self.reload_seq),
            run_id: self.run_hex.clone(),
            ts_ns: now,
            strategy: name,
            origin: new.origin.as_str().to_string(),
            version: match new.origin {
                ReloadOrigin::Database { version } => Some(version),
                ReloadOrigin::File => None,
            },
            source_hash: format!("{:016x}", new.hash),
            accepted: outcome.is_ok(),
            message: match outcome {
                Ok(()) => "reloaded; orders, positions and `this` kept".to_string(),
                Err(why) => format!("refused, the previous version keeps running: {why}"),
            },
        };
        self.emit(SinkEvent::StrategyReload(row));
    }
}
