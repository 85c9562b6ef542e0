//! A per-instrument L2 order book maintained by the core loop from book ticks.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::tick::BookDelta;
use crate::types::{Price, Qty, Side};

/// Price levels of one instrument, best bid/ask in O(log n).
#[derive(Clone, Debug, Default)]
pub struct OrderBook {
    bids: BTreeMap<Price, Qty>,
    asks: BTreeMap<Price, Qty>,
    /// Sequence of the last applied update.
    pub seq: u64,
    /// False while the feed says the book cannot be trusted.
    pub trusted: bool,
}

impl OrderBook {
    /// Empties the book (a snapshot follows).
    pub fn clear(&mut self, seq: u64) {
        self.bids.clear();
        self.asks.clear();
        self.seq = seq;
    }

    /// Applies one level change (absolute quantity; zero deletes).
    pub fn apply(&mut self, d: &BookDelta) {
        let side = match d.side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if d.qty.is_zero() {
            side.remove(&d.price);
        } else {
            side.insert(d.price, d.qty);
        }
        self.seq = d.seq;
    }

    /// Best bid (price, qty).
    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.bids.iter().next_back().map(|(p, q)| (*p, *q))
    }

    /// Best ask (price, qty).
    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.asks.iter().next().map(|(p, q)| (*p, *q))
    }

    /// Every level of one side, best first, as (price, qty).
    pub fn levels(&self, side: Side) -> Box<dyn Iterator<Item = (Price, Qty)> + '_> {
        match side {
            Side::Buy => Box::new(self.bids.iter().rev().map(|(p, q)| (*p, *q))),
            Side::Sell => Box::new(self.asks.iter().map(|(p, q)| (*p, *q))),
        }
    }

    /// Bid levels, best (highest) first.
    pub fn bids_best_first(&self) -> impl Iterator<Item = (Price, Qty)> + '_ {
        self.bids.iter().rev().map(|(p, q)| (*p, *q))
    }

    /// Ask levels, best (lowest) first.
    pub fn asks_best_first(&self) -> impl Iterator<Item = (Price, Qty)> + '_ {
        self.asks.iter().map(|(p, q)| (*p, *q))
    }

    /// Number of (bid, ask) levels.
    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// True if the best bid is at or above the best ask.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some((b, _)), Some((a, _))) if b >= a)
    }

    /// Mid price, if both sides exist.
    pub fn mid(&self) -> Option<Price> {
        let (b, _) = self.best_bid()?;
        let (a, _) = self.best_ask()?;
        Some((b + a) / Decimal::TWO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(side: Side, price: Price, qty: Qty) -> BookDelta {
        BookDelta {
            side,
            price,
            qty,
            seq: 1,
            flags: 0,
        }
    }

    #[test]
    fn levels_insert_update_delete() {
        let mut b = OrderBook::default();
        b.apply(&d(Side::Buy, dec!(10), dec!(1)));
        b.apply(&d(Side::Buy, dec!(11), dec!(2)));
        b.apply(&d(Side::Sell, dec!(12), dec!(3)));
        assert_eq!(b.best_bid(), Some((dec!(11), dec!(2))));
        assert_eq!(b.mid(), Some(dec!(11.5)));
        b.apply(&d(Side::Buy, dec!(11), dec!(0)));
        assert_eq!(b.best_bid(), Some((dec!(10), dec!(1))));
        b.apply(&d(Side::Buy, dec!(13), dec!(1)));
        assert!(b.is_crossed());
        b.clear(5);
        assert_eq!(b.depth(), (0, 0));
    }
}
