//! Conditional orders the engine holds (stop, stop-limit, take-profit, trailing stop): kept
//! per strategy until a trade of their instrument fires their trigger, then placed through
//! the risk gate on that same tick, before strategies see the trade. The same code runs live
//! and in backtests. They live in memory only: a restart loses them (logged at stop).

use crate::order::{ClientOrderId, OrderIntent, Trigger};
use crate::types::{InstrumentId, Price};

use super::Core;

/// One held conditional order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    strategy: usize,
    id: ClientOrderId,
    trigger: Trigger,
    intent: OrderIntent,
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
        tracing::debug!(strategy = %self.strategies[i].name, order = %id, ?trigger, "conditional order held");
        self.held.push(Held {
            strategy: i,
            id,
            trigger,
            intent,
        });
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
            if !self.strategies[h.strategy].halted {
                self.place(h.strategy, h.id, h.intent);
            }
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
        let before = self.held.len();
        self.held.retain(|h| {
            !(strategy.is_none_or(|s| s as usize == h.strategy)
                && instrument.is_none_or(|i| i == h.intent.instrument))
        });
        before - self.held.len()
    }

    /// Drops the held order `id` of strategy `i`; true if there was one.
    pub(super) fn drop_conditional(&mut self, i: usize, id: ClientOrderId) -> bool {
        match self.held.iter().position(|h| h.id == id && h.strategy == i) {
            Some(k) => {
                self.held.swap_remove(k);
                true
            }
            None => false,
        }
    }

    /// Held orders, for the stop's log line.
    pub(super) fn held_count(&self) -> usize {
        self.held.len()
    }
}
