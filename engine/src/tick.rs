//! The normalized market-data event: `Tick`, `Copy` and fixed size, no heap.

use crate::types::{InstrumentId, Price, Qty, Side};

/// One normalized market-data event. `Copy`, fixed size: it crosses threads by value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tick {
    /// The instrument this event is about.
    pub instrument: InstrumentId,
    /// Exchange event time, ns since the Unix epoch (0 when the venue gives none).
    pub exch_ts_ns: i64,
    /// Local monotonic receive time of the frame that carried it ([`crate::clock::Clock::now_ns`]).
    pub recv_ns: u64,
    /// What happened.
    pub kind: TickKind,
}

/// The payload of a [`Tick`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TickKind {
    /// A public trade.
    Trade(Trade),
    /// Best bid and offer.
    Quote(Quote),
    /// One L2 level change (absolute quantity; zero deletes the level).
    BookDelta(BookDelta),
    /// Marks the start of a full book snapshot: the receiver clears the book; the levels follow
    /// as `BookDelta`s, the last one with [`BookDelta::END_OF_BATCH`].
    BookSnapshot {
        /// The snapshot's sequence (Binance `lastUpdateId`).
        seq: u64,
    },
    /// Feed or book status change.
    Status(FeedStatus),
}

/// A public trade print.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trade {
    /// Execution price.
    pub price: Price,
    /// Executed quantity.
    pub qty: Qty,
    /// The aggressor (taker) side.
    pub side: Side,
    /// Venue trade id.
    pub trade_id: u64,
}

/// Best bid and offer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quote {
    /// Best bid price.
    pub bid_px: Price,
    /// Quantity at the best bid.
    pub bid_qty: Qty,
    /// Best ask price.
    pub ask_px: Price,
    /// Quantity at the best ask.
    pub ask_qty: Qty,
    /// Venue book update id (Binance `u`), 0 if none.
    pub update_id: u64,
}

/// One L2 level change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BookDelta {
    /// Bid or ask side.
    pub side: Side,
    /// Level price.
    pub price: Price,
    /// New absolute quantity at that price; zero removes the level.
    pub qty: Qty,
    /// Venue sequence of the update this level came from (Binance `u`).
    pub seq: u64,
    /// Bit flags: [`BookDelta::END_OF_BATCH`], [`BookDelta::SNAPSHOT`].
    pub flags: u8,
}

impl BookDelta {
    /// Last level of one venue message: the book is consistent after applying it.
    pub const END_OF_BATCH: u8 = 1;
    /// Part of a snapshot rather than an incremental update.
    pub const SNAPSHOT: u8 = 2;

    /// True if this is the last level of its message.
    pub fn is_end_of_batch(&self) -> bool {
        self.flags & Self::END_OF_BATCH != 0
    }

    /// The ticks of one book message given as `[price, qty]` levels: a
    /// [`TickKind::BookSnapshot`] marker first if it is a snapshot, then one delta per level
    /// (bids, then asks), the last one flagged [`BookDelta::END_OF_BATCH`].
    pub fn message<'a>(
        bids: &'a [[Price; 2]],
        asks: &'a [[Price; 2]],
        seq: u64,
        snapshot: bool,
    ) -> impl Iterator<Item = TickKind> + 'a {
        let n = bids.len() + asks.len();
        let marker = snapshot.then_some(TickKind::BookSnapshot { seq });
        let levels = bids
            .iter()
            .map(|l| (Side::Buy, l))
            .chain(asks.iter().map(|l| (Side::Sell, l)))
            .enumerate()
            .map(move |(i, (side, [price, qty]))| {
                let mut flags = if snapshot { Self::SNAPSHOT } else { 0 };
                if i + 1 == n {
                    flags |= Self::END_OF_BATCH;
                }
                TickKind::BookDelta(BookDelta {
                    side,
                    price: *price,
                    qty: *qty,
                    seq,
                    flags,
                })
            });
        marker.into_iter().chain(levels)
    }
}

/// Feed/book health as seen by strategies and the risk gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedStatus {
    /// Connected and subscribed.
    Connected,
    /// Disconnected; data for the instrument is not flowing.
    Disconnected,
    /// The book or feed cannot be trusted (gap, bad checksum, silence); a resync is underway.
    Stale,
    /// The book was resynced from a fresh snapshot and is trusted again.
    Resynced,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_is_copy_and_small() {
        fn assert_copy<T: Copy>() {}
        assert_copy::<Tick>();
        // Four Decimals (16 B each) for a quote plus header: must stay within two cache lines.
        assert!(
            std::mem::size_of::<Tick>() <= 128,
            "{}",
            std::mem::size_of::<Tick>()
        );
    }
}
