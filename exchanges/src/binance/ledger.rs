//! [`ExecLedger`]: makes sure each order's acceptance outcome (`Ack` or `Rejected`) reaches the
//! engine exactly once, although two sources can report it.
//!
//! Binance tells us an order was accepted twice: in the REST response of `POST /api/v3/order`
//! (the gateway) and as `executionReport x=NEW` on the user data stream. Whichever arrives
//! first is forwarded; the later one is dropped here. Both sources call
//! [`ExecLedger::first_outcome`] before sending an `Ack`/`Rejected`. Every other report kind
//! has a single source (see [`super::gateway`]), so it needs no ledger.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use peregrine_engine::order::ClientOrderId;

/// Remembered orders; the oldest are forgotten past this (both reports of an order arrive
/// within seconds, so this is ample).
const DEFAULT_CAPACITY: usize = 100_000;

/// Shared between the gateway and the user stream (wrap it in an `Arc`).
#[derive(Debug)]
pub struct ExecLedger {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    seen: HashSet<ClientOrderId>,
    order: VecDeque<ClientOrderId>,
    capacity: usize,
}

impl Default for ExecLedger {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl ExecLedger {
    /// A ledger remembering the last `capacity` orders.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                seen: HashSet::with_capacity(capacity.min(4096)),
                order: VecDeque::with_capacity(capacity.min(4096)),
                capacity: capacity.max(1),
            }),
        }
    }

    /// True if no `Ack`/`Rejected` has been reported for this order yet (and records that one
    /// is now); false if one already was, so the caller must not send another.
    pub fn first_outcome(&self, id: ClientOrderId) -> bool {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !g.seen.insert(id) {
            return false;
        }
        g.order.push_back(id);
        if g.order.len() > g.capacity {
            if let Some(old) = g.order.pop_front() {
                g.seen.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_report_passes_and_old_entries_are_forgotten() {
        let l = ExecLedger::with_capacity(2);
        let id = |seq| ClientOrderId { run: 1, seq };
        assert!(l.first_outcome(id(1)));
        assert!(!l.first_outcome(id(1)));
        assert!(l.first_outcome(id(2)));
        assert!(l.first_outcome(id(3)));
        assert!(l.first_outcome(id(1)), "forgotten past capacity");
        assert!(!l.first_outcome(id(3)));
    }
}
