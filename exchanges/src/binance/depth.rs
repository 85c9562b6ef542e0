//! Binance's REST depth snapshot (`GET /api/v3/depth`), the starting point of a local order
//! book. The book itself is sequenced by the shared [`crate::book_sync::BookSequencer`] with
//! [`crate::book_sync::BookRule::Binance`], driven by [`super::feed::BinanceProtocol`], per
//! Binance's documented procedure ("How to manage a local order book correctly"):
//! 1. open the diff stream and buffer its events, noting `U` of the first one;
//! 2. fetch `GET /api/v3/depth?symbol=..&limit=..`;
//! 3. if the snapshot's `lastUpdateId` is strictly less than that first `U`, refetch;
//! 4. drop buffered events with `u <= lastUpdateId`; the local update id is `lastUpdateId`;
//! 5. for each event: `u <= local` is old (ignored); `U > local + 1` is a gap (discard the book
//!    and restart from 1); otherwise apply it and set `local = u`.

use peregrine_engine::types::{Price, Qty};

/// A REST depth snapshot (`GET /api/v3/depth`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DepthSnapshot {
    /// The book's update id at the snapshot (`lastUpdateId`).
    pub last_update_id: u64,
    /// Bid levels, best first.
    pub bids: Vec<(Price, Qty)>,
    /// Ask levels, best first.
    pub asks: Vec<(Price, Qty)>,
}
