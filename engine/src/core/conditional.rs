//! Conditional orders the engine holds (stop, stop-limit, take-profit, trailing stop, a
//! bracket's exits): kept per strategy until a trade of their instrument fires their trigger,
//! then placed through the risk gate on that same tick, before strategies see the trade. The
//! same code runs live and in backtests. Each change (held, resized, fired, dropped) is a
//! `held_orders` row, and the rows still held are held again at the next start
//! (`restore.rs`); a trailing stop's best trade is stored when it is held and at the stop
//! (a stop keeps them held even when it cancels the working orders).

use crate::events::{HeldRow, HeldStatus, SinkEvent};
use crate::order::{ClientOrderId, OrderIntent, Trigger};
use crate::types::{InstrumentId, Price, Qty};

use super::Core;

/// One held conditional order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    strategy: usize,
    id: ClientOrderId,
    trigger: Trigger,
    intent: OrderIntent,
    /// Wall time it was first held (kept across restarts).
    created_ns: i64,
}

impl Core {
    /// Holds a conditional order of strategy `i` until its trigger fires.
    pub(super) fn hold_conditional(
        &mut self,
        i: usize,
        id: ClientOrderId,
        trigger: Trigger,
        intent: OrderIntent,
    ) {
        let created_ns = self.clock.now_ns();
        self.hold_since(i, id, trigger, intent, created_ns);
    }

    /// [`Core::hold_conditional`] with its original creation time (a restored order).
    pub(super) fn hold_since(
        &mut self,
        i: usize,
        id: ClientOrderId,
        trigger: Trigger,
        intent: OrderIntent,
        created_ns: i64,
    ) {
        tracing::debug!(strategy = %self.strategies[i].name, order = %id, ?trigger, "conditional order held");
        let h = Held {
            strategy: i,
            id,
            trigger,
            intent,
            created_ns,
        };
        self.held.push(h);
        self.emit_held(&h, HeldStatus::Held);
    }

    /// Feeds a trade at `price` on `instrument` to every held order there; each one that
    /// fires is placed now (its tick's receive time as its origin).
    pub(super) fn fire_conditionals(
        &mut self,
        instrument: InstrumentId,
        price: Price,
        origin: u64,
    ) {
        if self.held.is_empty() {
            return;
        }
        self.outbox.open();
        let mut k = 0;
        while k < self.held.len() {
            let h = &mut self.held[k];
            if h.intent.instrument != instrument || !h.trigger.on_trade(h.intent.side, price) {
                k += 1;
                continue;
            }
            let mut h = self.held.swap_remove(k);
            h.intent.origin_recv_ns = origin;
            tracing::debug!(order = %h.id, %price, "conditional order triggered");
            self.emit_held(&h, HeldStatus::Fired);
            if !self.strategies[h.strategy].halted {
                self.place(h.strategy, h.id, h.intent);
            }
            // Its OCO partner (or bracket) goes; the list may have changed: scan it again
            // (a trigger fed the same trade twice answers the same).
            self.on_leg_done(h.id);
            k = 0;
        }
        if self.outbox.close() {
            self.flush_outbox();
        }
    }

    /// Drops held orders of `strategy` (all if `None`) on `instrument` (all if `None`), as
    /// `cancel_all`, the kill switch and a halt do; their number.
    pub(super) fn drop_conditionals(
        &mut self,
        strategy: Option<u16>,
        instrument: Option<InstrumentId>,
    ) -> usize {
        let mut dropped = 0;
        let mut k = 0;
        while k < self.held.len() {
            let h = self.held[k];
            if strategy.is_none_or(|s| s as usize == h.strategy)
                && instrument.is_none_or(|i| i == h.intent.instrument)
            {
                self.held.swap_remove(k);
                self.emit_held(&h, HeldStatus::Dropped);
                dropped += 1;
            } else {
                k += 1;
            }
        }
        dropped
    }

    /// Drops the held order `id` of strategy `i`; true if there was one.
    pub(super) fn drop_conditional(&mut self, i: usize, id: ClientOrderId) -> bool {
        match self.held.iter().position(|h| h.id == id && h.strategy == i) {
            Some(k) => {
                let h = self.held.swap_remove(k);
                self.emit_held(&h, HeldStatus::Dropped);
                true
            }
            None => false,
        }
    }

    /// Sets the quantity of the held order `id` of strategy `i` (a bracket exit following its
    /// entry's fills); false if it is not held.
    pub(super) fn resize_held(&mut self, i: usize, id: ClientOrderId, qty: Qty) -> bool {
        let Some(h) = self.held.iter_mut().find(|h| h.id == id && h.strategy == i) else {
            return false;
        };
        h.intent.qty = qty;
        let h = *h;
        self.emit_held(&h, HeldStatus::Held);
        true
    }

    /// The instrument of the held order `id` of strategy `i`, if it is held.
    pub(super) fn held_instrument(&self, i: usize, id: ClientOrderId) -> Option<InstrumentId> {
        self.held
            .iter()
            .find(|h| h.id == id && h.strategy == i)
            .map(|h| h.intent.instrument)
    }

    /// Stores held order `id` again (its OCO partner changed); nothing if it is not held.
    pub(super) fn store_held(&mut self, id: ClientOrderId) {
        if let Some(h) = self.held.iter().find(|h| h.id == id).copied() {
            self.emit_held(&h, HeldStatus::Held);
        }
    }

    /// At the stop: stores every held order as it is now (a trailing stop's best trade, a
    /// link that ended); their number is logged, and they are held again at the next start.
    pub(super) fn store_held_at_stop(&mut self) {
        let held = self.held.len();
        if held == 0 {
            return;
        }
        tracing::info!(
            held,
            "conditional orders held by the engine are stored and held again at the next start"
        );
        for k in 0..self.held.len() {
            let h = self.held[k];
            self.emit_held(&h, HeldStatus::Held);
        }
    }

    fn emit_held(&mut self, h: &Held, status: HeldStatus) {
        let row = HeldRow {
            client_order_id: h.id.to_string(),
            strategy: self.strategies[h.strategy].name.clone(),
            venue: self.s.venue.clone(),
            symbol: self.s.instruments.spec(h.intent.instrument).symbol.clone(),
            side: h.intent.side,
            order_type: h.intent.order_type,
            price: h.intent.price,
            qty: h.intent.qty,
            time_in_force: h.intent.tif,
            post_only: h.intent.post_only,
            reduce_only: h.intent.reduce_only,
            trigger: h.trigger.into(),
            oco_with: self.oco_partner(h.id).map(|p| p.to_string()),
            status,
            created_ns: h.created_ns,
            updated_ns: self.clock.now_ns(),
        };
        self.emit(SinkEvent::Held(row));
    }
}
