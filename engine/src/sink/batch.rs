//! Turning a run of [`SinkEvent`]s into one batch of per-table rows.
//!
//! Orders and positions are upserted with a multi-row `INSERT … ON CONFLICT DO UPDATE`,
//! which must not touch the same key twice in one statement. Events arrive in order from a
//! single sender, so within a batch only the last state of each order/position matters:
//! [`Batch::coalesce`] keeps that one, at the place of the key's first appearance. Fills and
//! risk events are kept as they are, and so is every order state change (`order_events`); the database ignores duplicates (`ON CONFLICT DO
//! NOTHING`).

use std::collections::HashMap;

use crate::events::{
    CheckpointRow, EquityRow, FillRow, HeldRow, LatencyStatRow, OrderRow, PositionRow,
    RiskEventRow, RunRow, SignalRow, SinkEvent, StrategyReloadRow,
};

/// Rows of one batch, borrowed from the pending events, grouped by table. Each row carries
/// its event sequence number (the spool's), which guards the order and position upserts.
#[derive(Debug, Default)]
pub(crate) struct Batch<'a> {
    /// Latest state of each order in the batch, one row per `client_order_id`.
    pub(crate) orders: Vec<(u64, &'a OrderRow)>,
    /// Every order state change, in arrival order (the `order_events` history).
    pub(crate) order_events: Vec<(u64, &'a OrderRow)>,
    /// Every fill, in arrival order.
    pub(crate) fills: Vec<(u64, &'a FillRow)>,
    /// Latest state of each position, one row per `(strategy, venue, symbol)`.
    pub(crate) positions: Vec<(u64, &'a PositionRow)>,
    /// Every risk event, in arrival order.
    pub(crate) risks: Vec<&'a RiskEventRow>,
    /// Every strategy signal, in arrival order.
    pub(crate) signals: Vec<&'a SignalRow>,
    /// Every latency window, in arrival order.
    pub(crate) latency: Vec<&'a LatencyStatRow>,
    /// Every equity snapshot row, in arrival order.
    pub(crate) equity: Vec<&'a EquityRow>,
    /// Every strategy reload outcome, in arrival order.
    pub(crate) reloads: Vec<&'a StrategyReloadRow>,
    /// Trade-history checkpoint per (venue, symbol): the greatest of the explicit checkpoint
    /// events and the batch's fills (written with the fills, in the same transaction).
    pub(crate) checkpoints: Vec<CheckpointRow>,
    /// Latest state of each run in the batch, one row per `run_id`.
    pub(crate) runs: Vec<(u64, &'a RunRow)>,
    /// Latest state of each held conditional order, one row per `client_order_id`.
    pub(crate) held: Vec<(u64, &'a HeldRow)>,
    /// Lowest and highest event sequence in the batch (for the audit row).
    pub(crate) seq_range: (u64, u64),
    /// Events the batch was built from (before coalescing).
    pub(crate) events: usize,
}

impl<'a> Batch<'a> {
    /// Groups `events` by table, keeping only the last update of each order and position.
    pub(crate) fn coalesce(events: impl IntoIterator<Item = (u64, &'a SinkEvent)>) -> Self {
        let mut batch = Batch {
            seq_range: (u64::MAX, 0),
            ..Batch::default()
        };
        let mut order_idx: HashMap<&'a str, usize> = HashMap::new();
        let mut position_idx: HashMap<(&'a str, &'a str, &'a str), usize> = HashMap::new();
        let mut checkpoints: std::collections::BTreeMap<(&'a str, &'a str), (i64, i64)> =
            Default::default();
        let mut raise = |venue: &'a str, symbol: &'a str, id: i64, ns: i64| {
            let e = checkpoints.entry((venue, symbol)).or_insert((id, ns));
            if id > e.0 {
                *e = (id, ns);
            }
        };
        for (seq, ev) in events {
            batch.events += 1;
            batch.seq_range.0 = batch.seq_range.0.min(seq);
            batch.seq_range.1 = batch.seq_range.1.max(seq);
            match ev {
                SinkEvent::Order(row) => {
                    batch.order_events.push((seq, row));
                    match order_idx.get(row.client_order_id.as_str()) {
                        Some(&i) => batch.orders[i] = (seq, row),
                        None => {
                            order_idx.insert(row.client_order_id.as_str(), batch.orders.len());
                            batch.orders.push((seq, row));
                        }
                    }
                }
                SinkEvent::Position(row) => {
                    let key = (
                        row.strategy.as_str(),
                        row.venue.as_str(),
                        row.symbol.as_str(),
                    );
                    match position_idx.get(&key) {
                        Some(&i) => batch.positions[i] = (seq, row),
                        None => {
                            position_idx.insert(key, batch.positions.len());
                            batch.positions.push((seq, row));
                        }
                    }
                }
                SinkEvent::Fill(row) => {
                    raise(&row.venue, &row.symbol, row.trade_id, row.exch_ts_ns);
                    batch.fills.push((seq, row))
                }
                SinkEvent::Checkpoint(row) => raise(
                    &row.venue,
                    &row.symbol,
                    row.last_trade_id,
                    row.last_trade_ns,
                ),
                SinkEvent::Risk(row) => batch.risks.push(row),
                SinkEvent::Signal(row) => batch.signals.push(row),
                SinkEvent::LatencyStat(row) => batch.latency.push(row),
                SinkEvent::Equity(row) => batch.equity.push(row),
                SinkEvent::StrategyReload(row) => batch.reloads.push(row),
                SinkEvent::Held(row) => match batch
                    .held
                    .iter_mut()
                    .find(|(_, h)| h.client_order_id == row.client_order_id)
                {
                    Some(kept) => *kept = (seq, row),
                    None => batch.held.push((seq, row)),
                },
                SinkEvent::Run(row) => {
                    match batch.runs.iter_mut().find(|(_, r)| r.run_id == row.run_id) {
                        Some(kept) => *kept = (seq, row),
                        None => batch.runs.push((seq, row)),
                    }
                }
            }
        }
        batch.checkpoints = checkpoints
            .into_iter()
            .map(|((venue, symbol), (id, ns))| CheckpointRow {
                venue: venue.to_string(),
                symbol: symbol.to_string(),
                last_trade_id: id,
                last_trade_ns: ns,
            })
            .collect();
        batch
    }

    /// Number of rows to write (after coalescing).
    pub(crate) fn rows(&self) -> usize {
        self.orders.len()
            + self.order_events.len()
            + self.fills.len()
            + self.positions.len()
            + self.risks.len()
            + self.signals.len()
            + self.latency.len()
            + self.equity.len()
            + self.reloads.len()
            + self.checkpoints.len()
            + self.runs.len()
            + self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::events::OrderStatus;
    use crate::types::Side;

    fn order(id: &str, status: OrderStatus, updated_ns: i64) -> SinkEvent {
        SinkEvent::Order(OrderRow {
            client_order_id: id.to_string(),
            venue_order_id: None,
            strategy: "s".into(),
            venue: "binance".into(),
            symbol: "BTC-USDT".into(),
            side: Side::Buy,
            order_type: "limit".into(),
            price: Some(dec!(1)),
            qty: dec!(1),
            filled_qty: dec!(0),
            status,
            reject_reason: None,
            created_ns: 1,
            updated_ns,
        })
    }

    fn position(symbol: &str, qty: rust_decimal::Decimal) -> SinkEvent {
        SinkEvent::Position(PositionRow {
            strategy: "s".into(),
            venue: "binance".into(),
            symbol: symbol.into(),
            qty,
            avg_price: dec!(1),
            realized_pnl: dec!(0),
            fees: dec!(0),
            updated_ns: 1,
        })
    }

    #[test]
    fn keeps_last_state_per_key_in_first_position() {
        let events = [
            order("a", OrderStatus::Pending, 1),
            order("b", OrderStatus::Pending, 2),
            position("BTC-USDT", dec!(1)),
            order("a", OrderStatus::Acked, 3),
            position("ETH-USDT", dec!(5)),
            order("a", OrderStatus::Filled, 4),
            position("BTC-USDT", dec!(2)),
        ];
        let batch = Batch::coalesce(events.iter().enumerate().map(|(i, e)| (i as u64 + 1, e)));
        let orders: Vec<_> = batch
            .orders
            .iter()
            .map(|(_, o)| (o.client_order_id.as_str(), o.status))
            .collect();
        assert_eq!(
            orders,
            vec![("a", OrderStatus::Filled), ("b", OrderStatus::Pending)]
        );
        let positions: Vec<_> = batch
            .positions
            .iter()
            .map(|(_, p)| (p.symbol.as_str(), p.qty))
            .collect();
        assert_eq!(
            positions,
            vec![("BTC-USDT", dec!(2)), ("ETH-USDT", dec!(5))]
        );
        // ... while the history keeps every order state change, in order.
        let history: Vec<_> = batch
            .order_events
            .iter()
            .map(|(seq, o)| (*seq, o.client_order_id.as_str(), o.status))
            .collect();
        assert_eq!(
            history,
            vec![
                (1, "a", OrderStatus::Pending),
                (2, "b", OrderStatus::Pending),
                (4, "a", OrderStatus::Acked),
                (6, "a", OrderStatus::Filled)
            ]
        );
        assert_eq!(batch.rows(), 8);
        assert_eq!(batch.seq_range, (1, 7));
        assert_eq!(batch.orders[0].0, 6, "the kept state carries its own seq");
    }
}
