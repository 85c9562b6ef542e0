//! Time bars (OHLCV) built from trades, for strategies' `on_bar`.
//!
//! A bar of timeframe `tf` covers `[start, start + tf)` with `start` a multiple of `tf` since
//! the epoch, in engine time (the receive clock live, the recorded time in a backtest). It
//! closes when a trade of a later bucket arrives or when the engine clock passes its end,
//! whichever comes first; a bucket without trades produces no bar.

use rust_decimal::Decimal;

use crate::types::{Price, Qty};

/// One closed (or forming) bar. Prices and volume are exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bar {
    /// Bucket start, ns since the epoch.
    pub start_ns: i64,
    /// Bucket length, ns.
    pub timeframe_ns: i64,
    /// First trade price.
    pub open: Price,
    /// Highest trade price.
    pub high: Price,
    /// Lowest trade price.
    pub low: Price,
    /// Last trade price.
    pub close: Price,
    /// Traded quantity.
    pub volume: Qty,
    /// Number of trades.
    pub trades: u64,
}

/// Builds bars of one timeframe for one instrument.
#[derive(Clone, Debug)]
pub struct BarBuilder {
    tf_ns: i64,
    current: Option<Bar>,
}

impl BarBuilder {
    /// A builder for bars of `tf_ns` nanoseconds (at least 1).
    pub fn new(tf_ns: i64) -> Self {
        Self {
            tf_ns: tf_ns.max(1),
            current: None,
        }
    }

    /// The timeframe, ns.
    pub fn timeframe_ns(&self) -> i64 {
        self.tf_ns
    }

    /// End of the forming bar, if any (when [`BarBuilder::on_time`] will close it).
    pub fn deadline(&self) -> Option<i64> {
        self.current.map(|b| b.start_ns + self.tf_ns)
    }

    /// Adds a trade seen at engine time `ts_ns`; returns the bar it closed, if any. A trade
    /// older than the forming bar (clock skew) is added to the forming bar.
    pub fn on_trade(&mut self, ts_ns: i64, price: Price, qty: Qty) -> Option<Bar> {
        let start = ts_ns - ts_ns.rem_euclid(self.tf_ns);
        match &mut self.current {
            Some(b) if start <= b.start_ns => {
                b.high = b.high.max(price);
                b.low = b.low.min(price);
                b.close = price;
                b.volume += qty;
                b.trades += 1;
                None
            }
            cur => {
                let closed = cur.take();
                *cur = Some(Bar {
                    start_ns: start,
                    timeframe_ns: self.tf_ns,
                    open: price,
                    high: price,
                    low: price,
                    close: price,
                    volume: qty,
                    trades: 1,
                });
                closed
            }
        }
    }

    /// Closes the forming bar now, complete or not (the end of the data in a backtest).
    pub fn close(&mut self) -> Option<Bar> {
        self.current.take()
    }

    /// Closes the forming bar if the clock reached its end.
    pub fn on_time(&mut self, now_ns: i64) -> Option<Bar> {
        match self.current {
            Some(b) if now_ns >= b.start_ns + self.tf_ns => self.current.take(),
            _ => None,
        }
    }
}

/// Parses a timeframe such as `"1m"`, `"5s"`, `"250ms"`, `"1h"` to nanoseconds.
pub fn parse_timeframe(s: &str) -> Option<i64> {
    let d = humantime::parse_duration(s).ok()?;
    let ns = i64::try_from(d.as_nanos()).ok()?;
    (ns > 0).then_some(ns)
}

impl Default for Bar {
    fn default() -> Self {
        Self {
            start_ns: 0,
            timeframe_ns: 0,
            open: Decimal::ZERO,
            high: Decimal::ZERO,
            low: Decimal::ZERO,
            close: Decimal::ZERO,
            volume: Decimal::ZERO,
            trades: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const S: i64 = 1_000_000_000;

    #[test]
    fn trades_make_ohlcv_and_a_later_bucket_closes_the_bar() {
        let mut b = BarBuilder::new(5 * S);
        assert_eq!(b.on_trade(10 * S, dec!(100), dec!(1)), None);
        assert_eq!(b.on_trade(11 * S, dec!(103), dec!(2)), None);
        assert_eq!(b.on_trade(12 * S, dec!(99), dec!(1)), None);
        assert_eq!(b.on_trade(14 * S + 999, dec!(101), dec!(0.5)), None);
        assert_eq!(b.deadline(), Some(15 * S));
        let bar = b.on_trade(15 * S, dec!(102), dec!(1)).unwrap();
        assert_eq!(
            bar,
            Bar {
                start_ns: 10 * S,
                timeframe_ns: 5 * S,
                open: dec!(100),
                high: dec!(103),
                low: dec!(99),
                close: dec!(101),
                volume: dec!(4.5),
                trades: 4,
            }
        );
        // The clock closes the next one without another trade; an empty bucket makes no bar.
        assert_eq!(b.on_time(19 * S), None);
        let bar = b.on_time(20 * S).unwrap();
        assert_eq!((bar.start_ns, bar.open, bar.trades), (15 * S, dec!(102), 1));
        assert_eq!(b.on_time(40 * S), None);
        // A late trade joins the forming bar.
        b.on_trade(40 * S, dec!(1), dec!(1));
        assert_eq!(b.on_trade(39 * S, dec!(2), dec!(1)), None);
        assert_eq!(b.on_time(45 * S).unwrap().trades, 2);
    }

    #[test]
    fn timeframes_parse() {
        assert_eq!(parse_timeframe("1m"), Some(60 * S));
        assert_eq!(parse_timeframe("5s"), Some(5 * S));
        assert_eq!(parse_timeframe("250ms"), Some(S / 4));
        assert_eq!(parse_timeframe("0s"), None);
        assert_eq!(parse_timeframe("soon"), None);
    }
}
