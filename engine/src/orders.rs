//! Tracking of our orders through their life, and exactly-once application of fills.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use rust_decimal::Decimal;

use crate::events::OrderStatus;
use crate::order::{ClientOrderId, ExecKind, ExecReport, FillInfo, OrderRequest, OrderType};
use crate::types::{InstrumentId, Price, Qty, Side};

/// One of our orders as the engine knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackedOrder {
    /// The approved request.
    pub request: OrderRequest,
    /// Lifecycle state.
    pub status: OrderStatus,
    /// Quantity filled so far.
    pub filled: Qty,
    /// Venue's order id, once known.
    pub venue_order_id: Option<u64>,
    /// Wall time of creation, ns.
    pub created_ns: i64,
    /// A cancel request was sent.
    pub cancel_sent: bool,
    /// Why it was rejected, if it was.
    pub reject_reason: Option<String>,
    /// Why the last cancel request was refused, if one was.
    pub cancel_reject_reason: Option<String>,
}

impl TrackedOrder {
    /// Quantity still working (zero once final).
    pub fn leaves(&self) -> Qty {
        if self.status.is_terminal() {
            Decimal::ZERO
        } else {
            (self.request.intent.qty - self.filled).max(Decimal::ZERO)
        }
    }
}

/// What an exec report changed.
#[derive(Clone, Debug, PartialEq)]
pub enum ExecOutcome {
    /// The report was applied; `fill` is set for a new (never seen before) fill.
    Applied {
        /// Whether the order's stored state changed.
        order_changed: bool,
        /// A new fill to book into positions.
        fill: Option<FillInfo>,
    },
    /// A fill we had already applied (same order and trade id): ignored.
    DuplicateFill,
    /// A report for an order this engine run does not know.
    UnknownOrder,
    /// A report (other than a refused cancel) for a final order the tracker has let go of
    /// ([`OrderTracker::release_final`]): ignored.
    Released,
    /// A cancel request was refused; the order may be cancelled again.
    CancelRejected,
}

/// All our orders, with running open quantities per strategy, instrument and side.
#[derive(Debug, Default)]
pub struct OrderTracker {
    orders: HashMap<ClientOrderId, TrackedOrder>,
    /// Venue trade ids applied, per order (dropped with a released order).
    seen_fills: HashMap<ClientOrderId, Vec<u64>>,
    /// Final orders let go of, remembered by id only.
    released: ReleasedIds,
    /// Final orders kept in full until `retire_final` releases them, oldest first.
    retiring: VecDeque<ClientOrderId>,
    /// open[strategy][instrument] = (buy qty, sell qty)
    open: Vec<Vec<(Qty, Qty)>>,
    /// Ids of the orders not yet in a final state, oldest first: what `cancel_all` and
    /// reconciliation walk, so their cost follows the working orders, not the run's history.
    working: BTreeSet<ClientOrderId>,
    /// Resting limit prices of working orders per instrument: (buys, sells), price -> count.
    resting: Vec<(BTreeMap<Price, u32>, BTreeMap<Price, u32>)>,
}

/// Ids of released orders: one bit per sequence number for the run of the first one (a run's
/// sequence numbers are dense from 1), a set for any other run's (adopted orders).
#[derive(Debug, Default)]
struct ReleasedIds {
    run: Option<u64>,
    bits: Vec<u64>,
    other: HashSet<ClientOrderId>,
}

impl ReleasedIds {
    fn insert(&mut self, id: ClientOrderId) {
        if *self.run.get_or_insert(id.run) != id.run {
            self.other.insert(id);
            return;
        }
        let (word, bit) = ((id.seq / 64) as usize, id.seq % 64);
        if self.bits.len() <= word {
            self.bits.resize((word + 1).next_power_of_two(), 0);
        }
        self.bits[word] |= 1 << bit;
    }

    fn contains(&self, id: &ClientOrderId) -> bool {
        if self.run != Some(id.run) {
            return self.other.contains(id);
        }
        let (word, bit) = ((id.seq / 64) as usize, id.seq % 64);
        self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }
}

impl OrderTracker {
    /// A tracker for `strategies` strategies over `instruments` instruments.
    pub fn new(strategies: usize, instruments: usize) -> Self {
        Self {
            open: vec![vec![(Decimal::ZERO, Decimal::ZERO); instruments]; strategies],
            resting: vec![Default::default(); instruments],
            ..Default::default()
        }
    }

    /// Starts tracking an order that is about to be sent.
    pub fn insert(&mut self, request: OrderRequest, created_ns: i64) {
        self.adjust_open(&request, request.intent.qty);
        self.adjust_resting(&request, true);
        self.working.insert(request.client_order_id);
        self.orders.insert(
            request.client_order_id,
            TrackedOrder {
                request,
                status: OrderStatus::Pending,
                filled: Decimal::ZERO,
                venue_order_id: None,
                created_ns,
                cancel_sent: false,
                reject_reason: None,
                cancel_reject_reason: None,
            },
        );
    }

    /// Starts tracking an order an earlier run placed (adoption at start): its stored state,
    /// the quantity its stored fills add up to, and the venue trade ids of those fills, so
    /// that the venue's copy of a fill the database already holds is a duplicate and every
    /// other fill is applied exactly once. A final `status` is tracked but not working.
    pub fn adopt(
        &mut self,
        request: OrderRequest,
        status: OrderStatus,
        filled: Qty,
        venue_order_id: Option<u64>,
        created_ns: i64,
        seen_trade_ids: impl IntoIterator<Item = u64>,
    ) {
        let id = request.client_order_id;
        if self.orders.contains_key(&id) {
            return;
        }
        let seen = self.seen_fills.entry(id).or_default();
        for t in seen_trade_ids {
            if !seen.contains(&t) {
                seen.push(t);
            }
        }
        // The stored fills decide over a stored state they outran (a crash can fall between
        // a fill's row and its order's row): the venue's copies of those fills are duplicates
        // and would not move the state again.
        let status = if status.is_terminal() {
            status
        } else if filled >= request.intent.qty {
            OrderStatus::Filled
        } else if filled > Decimal::ZERO {
            OrderStatus::PartiallyFilled
        } else {
            status
        };
        let order = TrackedOrder {
            request,
            status,
            filled,
            venue_order_id,
            created_ns,
            cancel_sent: false,
            reject_reason: None,
            cancel_reject_reason: None,
        };
        if !status.is_terminal() {
            self.adjust_open(&request, order.leaves());
            self.adjust_resting(&request, true);
            self.working.insert(id);
        }
        self.orders.insert(id, order);
    }

    /// The order with this id.
    pub fn get(&self, id: &ClientOrderId) -> Option<&TrackedOrder> {
        self.orders.get(id)
    }

    /// Lets go of the order if it is final (a backtest keeps terminal orders out of memory):
    /// its state and fill ids are dropped and only its id is remembered, compactly, so a
    /// cancel the venue refuses for it later is still a refused cancel, not an unknown order.
    /// Returns whether it was released.
    pub fn release_final(&mut self, id: &ClientOrderId) -> bool {
        if !self.orders.get(id).is_some_and(|o| o.status.is_terminal()) {
            return false;
        }
        self.orders.remove(id);
        self.seen_fills.remove(id);
        self.released.insert(*id);
        true
    }

    /// Queues the order for release if it is final and releases the oldest queued ones beyond
    /// the `keep` most recent: the last `keep` final orders stay in full (a late refused
    /// cancel or a `replace` of an order that just ended is handled exactly as without
    /// release), older ones are released ([`OrderTracker::release_final`]). Memory is then
    /// bounded by `keep` plus the working orders, whatever the run's length.
    pub fn retire_final(&mut self, id: &ClientOrderId, keep: usize) {
        if !self.orders.get(id).is_some_and(|o| o.status.is_terminal()) {
            return;
        }
        if self.retiring.back() != Some(id) {
            self.retiring.push_back(*id);
        }
        while self.retiring.len() > keep {
            if let Some(old) = self.retiring.pop_front() {
                self.release_final(&old);
            }
        }
    }

    /// Whether the order is final and was let go of ([`OrderTracker::release_final`]).
    pub fn is_released(&self, id: &ClientOrderId) -> bool {
        self.released.contains(id)
    }

    /// Orders held in full (working and final ones not released).
    pub fn held_count(&self) -> usize {
        self.orders.len()
    }

    /// Marks that a cancel was sent for the order.
    pub fn mark_cancel_sent(&mut self, id: &ClientOrderId) {
        if let Some(o) = self.orders.get_mut(id) {
            o.cancel_sent = true;
        }
    }

    /// Working orders (not final) of a strategy on an instrument without a cancel in flight.
    pub fn cancellable(
        &self,
        strategy: Option<u16>,
        instrument: Option<InstrumentId>,
    ) -> Vec<ClientOrderId> {
        self.working
            .iter()
            .filter_map(|id| self.orders.get(id))
            .filter(|o| !o.cancel_sent)
            .filter(|o| strategy.is_none_or(|s| o.request.intent.strategy == s))
            .filter(|o| instrument.is_none_or(|i| o.request.intent.instrument == i))
            .map(|o| o.request.client_order_id)
            .collect()
    }

    /// Number of orders not yet in a final state.
    pub fn working_count(&self) -> usize {
        self.working.len()
    }

    /// Open (buy, sell) quantity of one strategy on one instrument.
    pub fn open_qty(&self, strategy: u16, instrument: InstrumentId) -> (Qty, Qty) {
        self.open
            .get(strategy as usize)
            .and_then(|v| v.get(instrument.index()))
            .copied()
            .unwrap_or_default()
    }

    /// Open (buy, sell) quantity of all strategies on one instrument.
    pub fn account_open_qty(&self, instrument: InstrumentId) -> (Qty, Qty) {
        self.open
            .iter()
            .filter_map(|v| v.get(instrument.index()))
            .fold((Decimal::ZERO, Decimal::ZERO), |(b, s), (ob, os)| {
                (b + ob, s + os)
            })
    }

    /// Highest price of our working buy limit orders and lowest of our working sell limit
    /// orders on an instrument (for self-trade prevention).
    pub fn own_best(&self, instrument: InstrumentId) -> (Option<Price>, Option<Price>) {
        self.resting
            .get(instrument.index())
            .map(|(b, s)| (b.keys().next_back().copied(), s.keys().next().copied()))
            .unwrap_or_default()
    }

    /// Every order not yet in a final state, oldest id first (for reconciliation).
    pub fn working_orders(&self) -> Vec<&TrackedOrder> {
        self.working().collect()
    }

    /// Every order not yet in a final state, oldest id first, without collecting them.
    pub fn working(&self) -> impl Iterator<Item = &TrackedOrder> {
        self.working.iter().filter_map(|id| self.orders.get(id))
    }

    /// Every order this run knows (any state).
    pub fn all_orders(&self) -> impl Iterator<Item = &TrackedOrder> {
        self.orders.values()
    }

    fn adjust_resting(&mut self, req: &OrderRequest, add: bool) {
        let i = &req.intent;
        let (OrderType::Limit, Some(price)) = (i.order_type, i.price) else {
            return;
        };
        let Some((buys, sells)) = self.resting.get_mut(i.instrument.index()) else {
            return;
        };
        let map = match i.side {
            Side::Buy => buys,
            Side::Sell => sells,
        };
        if add {
            *map.entry(price).or_insert(0) += 1;
        } else if let Some(n) = map.get_mut(&price) {
            *n -= 1;
            if *n == 0 {
                map.remove(&price);
            }
        }
    }

    fn adjust_open(&mut self, req: &OrderRequest, delta: Qty) {
        let i = &req.intent;
        if let Some(slot) = self
            .open
            .get_mut(i.strategy as usize)
            .and_then(|v| v.get_mut(i.instrument.index()))
        {
            match i.side {
                Side::Buy => slot.0 += delta,
                Side::Sell => slot.1 += delta,
            }
        }
    }

    /// Applies an exec report. Handles reports out of order (a fill before the ack, a fill
    /// after a cancel request) and duplicates (a fill is applied once per order and trade id).
    pub fn apply(&mut self, report: &ExecReport) -> ExecOutcome {
        let Some(order) = self.orders.get_mut(&report.client_order_id) else {
            return match (
                &report.kind,
                self.released.contains(&report.client_order_id),
            ) {
                (_, false) => ExecOutcome::UnknownOrder,
                (ExecKind::CancelRejected { .. }, true) => ExecOutcome::CancelRejected,
                (_, true) => ExecOutcome::Released,
            };
        };
        let before_leaves = order.leaves();
        let was_terminal = order.status.is_terminal();
        let before = (order.status, order.filled, order.venue_order_id);
        let mut fill = None;
        match &report.kind {
            ExecKind::Ack { venue_order_id } => {
                order.venue_order_id = Some(*venue_order_id);
                if order.status == OrderStatus::Pending {
                    order.status = OrderStatus::Acked;
                }
            }
            ExecKind::Fill(f) => {
                let seen = self.seen_fills.entry(report.client_order_id).or_default();
                if seen.contains(&f.trade_id) {
                    return ExecOutcome::DuplicateFill;
                }
                seen.push(f.trade_id);
                order.filled += f.qty;
                if !order.status.is_terminal() {
                    order.status =
                        if order.filled >= order.request.intent.qty || f.leaves_qty.is_zero() {
                            OrderStatus::Filled
                        } else {
                            OrderStatus::PartiallyFilled
                        };
                }
                fill = Some(f.clone());
            }
            ExecKind::Cancelled => {
                if !order.status.is_terminal() {
                    order.status = OrderStatus::Cancelled;
                }
            }
            ExecKind::Expired => {
                if !order.status.is_terminal() {
                    order.status = OrderStatus::Expired;
                }
            }
            ExecKind::Rejected { code, reason } => {
                if !order.status.is_terminal() {
                    order.status = OrderStatus::Rejected;
                    order.reject_reason = Some(format!("{code}: {reason}"));
                }
            }
            ExecKind::CancelRejected { code, reason } => {
                order.cancel_sent = false;
                order.cancel_reject_reason = Some(format!("{code}: {reason}"));
                return ExecOutcome::CancelRejected;
            }
        }
        let after_leaves = order.leaves();
        let now_terminal = order.status.is_terminal();
        let changed = before != (order.status, order.filled, order.venue_order_id);
        let request = order.request;
        if after_leaves != before_leaves {
            self.adjust_open(&request, after_leaves - before_leaves);
        }
        if now_terminal && !was_terminal {
            self.working.remove(&request.client_order_id);
            self.adjust_resting(&request, false);
        }
        ExecOutcome::Applied {
            order_changed: changed,
            fill,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderIntent, OrderType, TimeInForce};
    use rust_decimal_macros::dec;

    fn req(seq: u32, side: Side, qty: Qty) -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId { run: 1, seq },
            intent: OrderIntent {
                strategy: 0,
                instrument: InstrumentId(0),
                side,
                order_type: OrderType::Limit,
                price: Some(dec!(100)),
                qty,
                tif: TimeInForce::Gtc,
                reduce_only: false,
                post_only: false,
                origin_recv_ns: 0,
            },
        }
    }

    fn rep(seq: u32, kind: ExecKind) -> ExecReport {
        ExecReport {
            client_order_id: ClientOrderId { run: 1, seq },
            instrument: InstrumentId(0),
            side: Side::Buy,
            kind,
            recv_ns: 0,
        }
    }

    fn fill(trade_id: u64, qty: Qty, leaves: Qty) -> ExecKind {
        ExecKind::Fill(FillInfo {
            trade_id,
            price: dec!(100),
            qty,
            fee: dec!(0),
            fee_asset: "USDT".into(),
            is_maker: false,
            leaves_qty: leaves,
            exch_ts_ns: 0,
        })
    }

    #[test]
    fn retired_final_orders_are_released_beyond_the_kept_ones() {
        let mut t = OrderTracker::new(1, 1);
        for seq in 1..=300 {
            t.insert(req(seq, Side::Buy, dec!(1)), 0);
            // Working: never retired.
            t.retire_final(&ClientOrderId { run: 1, seq }, 10);
        }
        assert_eq!(t.held_count(), 300);
        for seq in 1..=299 {
            t.apply(&rep(seq, fill(u64::from(seq), dec!(1), dec!(0))));
            t.retire_final(&ClientOrderId { run: 1, seq }, 10);
        }
        // 299 final: the last 10 kept in full, 289 released, 1 working.
        assert_eq!(t.held_count(), 11);
        let id = |seq| ClientOrderId { run: 1, seq };
        assert!(t.is_released(&id(1)) && t.is_released(&id(289)));
        assert!(!t.is_released(&id(290)) && t.get(&id(290)).is_some());
        assert!(!t.is_released(&id(300)) && t.get(&id(300)).is_some());
        // A refused cancel of a released order is still a refused cancel; anything else for
        // it is ignored; an id never seen is unknown.
        let refused = ExecKind::CancelRejected {
            code: -2011,
            reason: "Unknown order sent.".into(),
        };
        assert_eq!(t.apply(&rep(5, refused)), ExecOutcome::CancelRejected);
        assert_eq!(t.apply(&rep(5, ExecKind::Cancelled)), ExecOutcome::Released);
        assert_eq!(
            t.apply(&rep(5, fill(5, dec!(1), dec!(0)))),
            ExecOutcome::Released
        );
        assert_eq!(
            t.apply(&rep(900, ExecKind::Cancelled)),
            ExecOutcome::UnknownOrder
        );
        // Another run's id (adopted orders) is remembered too.
        t.adopt(
            OrderRequest {
                client_order_id: ClientOrderId { run: 7, seq: 3 },
                ..req(3, Side::Sell, dec!(1))
            },
            OrderStatus::Cancelled,
            dec!(0),
            None,
            0,
            [],
        );
        assert!(t.release_final(&ClientOrderId { run: 7, seq: 3 }));
        assert!(t.is_released(&ClientOrderId { run: 7, seq: 3 }));
        assert!(!t.is_released(&ClientOrderId { run: 7, seq: 4 }));
        // Open quantities are untouched by release: one working buy of 1.
        assert_eq!(t.open_qty(0, InstrumentId(0)), (dec!(1), dec!(0)));
    }

    #[test]
    fn working_set_follows_final_states_and_keeps_id_order() {
        let mut t = OrderTracker::new(1, 1);
        // Ids inserted out of order; most orders end, a few stay working.
        for seq in (1..=2000).rev() {
            t.insert(req(seq, Side::Buy, dec!(1)), 0);
        }
        for seq in 1..=2000 {
            let kind = match seq % 3 {
                0 => ExecKind::Cancelled,
                1 => fill(u64::from(seq), dec!(1), dec!(0)),
                _ if seq % 100 == 2 => continue,
                _ => ExecKind::Expired,
            };
            t.apply(&rep(seq, kind));
        }
        let expect: Vec<u32> = (1..=2000).filter(|s| s % 3 == 2 && s % 100 == 2).collect();
        assert_eq!(t.working_count(), expect.len());
        let seqs = |ids: Vec<ClientOrderId>| ids.into_iter().map(|i| i.seq).collect::<Vec<_>>();
        assert_eq!(seqs(t.cancellable(None, None)), expect);
        t.mark_cancel_sent(&ClientOrderId { run: 1, seq: 2 });
        assert_eq!(seqs(t.cancellable(Some(0), None)), expect[1..].to_vec());
        let working: Vec<u32> = t
            .working_orders()
            .iter()
            .map(|o| o.request.client_order_id.seq)
            .collect();
        assert_eq!(working, expect);
        // A report after the final state changes nothing in the working set.
        t.apply(&rep(3, ExecKind::Expired));
        assert_eq!(t.working_count(), expect.len());
        assert_eq!(
            t.account_open_qty(InstrumentId(0)).0,
            dec!(1) * Decimal::from(expect.len())
        );
    }

    #[test]
    fn lifecycle_with_partial_fills_and_open_quantities() {
        let mut t = OrderTracker::new(1, 1);
        t.insert(req(1, Side::Buy, dec!(2)), 0);
        assert_eq!(t.open_qty(0, InstrumentId(0)), (dec!(2), dec!(0)));
        t.apply(&rep(1, ExecKind::Ack { venue_order_id: 9 }));
        assert_eq!(
            t.get(&ClientOrderId { run: 1, seq: 1 }).unwrap().status,
            OrderStatus::Acked
        );
        t.apply(&rep(1, fill(1, dec!(0.5), dec!(1.5))));
        assert_eq!(t.open_qty(0, InstrumentId(0)).0, dec!(1.5));
        assert_eq!(
            t.get(&ClientOrderId { run: 1, seq: 1 }).unwrap().status,
            OrderStatus::PartiallyFilled
        );
        assert_eq!(
            t.apply(&rep(1, fill(1, dec!(0.5), dec!(1.5)))),
            ExecOutcome::DuplicateFill
        );
        t.apply(&rep(1, ExecKind::Cancelled));
        assert_eq!(t.open_qty(0, InstrumentId(0)).0, dec!(0));
        assert_eq!(t.working_count(), 0);
        assert_eq!(
            t.get(&ClientOrderId { run: 1, seq: 1 }).unwrap().filled,
            dec!(0.5)
        );
    }

    #[test]
    fn fill_before_ack_and_fill_after_cancel_are_both_booked() {
        let mut t = OrderTracker::new(1, 1);
        t.insert(req(1, Side::Sell, dec!(1)), 0);
        let ExecOutcome::Applied { fill: Some(_), .. } =
            t.apply(&rep(1, fill(7, dec!(1), dec!(0))))
        else {
            panic!()
        };
        t.apply(&rep(1, ExecKind::Ack { venue_order_id: 3 }));
        let o = t.get(&ClientOrderId { run: 1, seq: 1 }).unwrap();
        assert_eq!((o.status, o.venue_order_id), (OrderStatus::Filled, Some(3)));

        t.insert(req(2, Side::Sell, dec!(1)), 0);
        t.apply(&rep(2, ExecKind::Cancelled));
        let ExecOutcome::Applied { fill: Some(_), .. } =
            t.apply(&rep(2, fill(8, dec!(0.2), dec!(0))))
        else {
            panic!()
        };
        let o = t.get(&ClientOrderId { run: 1, seq: 2 }).unwrap();
        assert_eq!((o.status, o.filled), (OrderStatus::Cancelled, dec!(0.2)));
        assert_eq!(t.open_qty(0, InstrumentId(0)), (dec!(0), dec!(0)));
        assert_eq!(
            t.apply(&rep(99, ExecKind::Cancelled)),
            ExecOutcome::UnknownOrder
        );
    }

    #[test]
    fn adopted_order_applies_only_the_fills_not_stored() {
        let mut t = OrderTracker::new(1, 1);
        // Stored: 0.5 filled by trade 7. The venue then replays trades 7 and 8.
        t.adopt(
            req(4, Side::Buy, dec!(2)),
            OrderStatus::PartiallyFilled,
            dec!(0.5),
            Some(44),
            5,
            [7],
        );
        assert_eq!(t.working_count(), 1);
        assert_eq!(t.account_open_qty(InstrumentId(0)), (dec!(1.5), dec!(0)));
        assert_eq!(t.own_best(InstrumentId(0)).0, Some(dec!(100)));
        assert_eq!(
            t.apply(&rep(4, fill(7, dec!(0.5), dec!(1.5)))),
            ExecOutcome::DuplicateFill
        );
        let ExecOutcome::Applied { fill: Some(f), .. } =
            t.apply(&rep(4, fill(8, dec!(1.5), dec!(0))))
        else {
            panic!("trade 8 is new")
        };
        assert_eq!(f.trade_id, 8);
        let o = t.get(&ClientOrderId { run: 1, seq: 4 }).unwrap();
        assert_eq!((o.status, o.filled), (OrderStatus::Filled, dec!(2)));
        assert_eq!(t.working_count(), 0);
        assert_eq!(t.account_open_qty(InstrumentId(0)), (dec!(0), dec!(0)));
        // Adopting a known id changes nothing; a final one is tracked but not working.
        t.adopt(
            req(4, Side::Buy, dec!(9)),
            OrderStatus::Acked,
            dec!(0),
            None,
            0,
            [],
        );
        assert_eq!(
            t.get(&ClientOrderId { run: 1, seq: 4 }).unwrap().filled,
            dec!(2)
        );
        // Stored fills that outran the stored state: they decide.
        t.adopt(
            req(6, Side::Buy, dec!(1)),
            OrderStatus::Acked,
            dec!(1),
            None,
            0,
            [11],
        );
        assert_eq!(
            t.get(&ClientOrderId { run: 1, seq: 6 }).unwrap().status,
            OrderStatus::Filled
        );
        t.adopt(
            req(7, Side::Buy, dec!(1)),
            OrderStatus::Pending,
            dec!(0.4),
            None,
            0,
            [12],
        );
        assert_eq!(
            t.get(&ClientOrderId { run: 1, seq: 7 }).unwrap().status,
            OrderStatus::PartiallyFilled
        );
        t.apply(&rep(7, ExecKind::Cancelled));
        t.adopt(
            req(5, Side::Sell, dec!(1)),
            OrderStatus::Cancelled,
            dec!(1),
            None,
            0,
            [9],
        );
        assert_eq!(t.working_count(), 0);
        assert_eq!(t.cancellable(None, None), vec![]);
    }

    #[test]
    fn rejects_release_open_quantity() {
        let mut t = OrderTracker::new(1, 1);
        t.insert(req(1, Side::Buy, dec!(3)), 0);
        t.apply(&rep(
            1,
            ExecKind::Rejected {
                code: -2010,
                reason: "insufficient balance".into(),
            },
        ));
        let o = t.get(&ClientOrderId { run: 1, seq: 1 }).unwrap();
        assert_eq!(
            o.reject_reason.as_deref(),
            Some("-2010: insufficient balance")
        );
        assert_eq!(t.account_open_qty(InstrumentId(0)), (dec!(0), dec!(0)));
        assert_eq!(t.cancellable(None, None), vec![]);
    }
}
