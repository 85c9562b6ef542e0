//! Kline (candlestick) intervals and bars as Binance defines them: the sixteen documented
//! intervals (`1s` … `1M`), their UTC bucket boundaries (weeks start on Monday, months are
//! calendar months) and one bar's exact OHLCV, quote volume, taker-buy volumes and trade ids.
//!
//! `engine::bars` is not reused: its bars carry no quote volume, taker-buy volume or trade
//! ids, and its buckets are fixed multiples of a timeframe (no weeks from Monday, no months).

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::wire::dec;
use crate::md::time::{civil_from_days, days_from_civil};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A documented kline interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interval {
    /// A fixed length in ms, aligned to multiples of it since the epoch (`1s` … `3d`).
    Fixed(i64),
    /// One week, Monday 00:00 UTC to the next Monday.
    Week,
    /// One calendar month (UTC).
    Month,
}

/// Every interval with its Binance name, in the documented order.
pub const INTERVALS: [(&str, Interval); 16] = [
    ("1s", Interval::Fixed(SECOND)),
    ("1m", Interval::Fixed(MINUTE)),
    ("3m", Interval::Fixed(3 * MINUTE)),
    ("5m", Interval::Fixed(5 * MINUTE)),
    ("15m", Interval::Fixed(15 * MINUTE)),
    ("30m", Interval::Fixed(30 * MINUTE)),
    ("1h", Interval::Fixed(HOUR)),
    ("2h", Interval::Fixed(2 * HOUR)),
    ("4h", Interval::Fixed(4 * HOUR)),
    ("6h", Interval::Fixed(6 * HOUR)),
    ("8h", Interval::Fixed(8 * HOUR)),
    ("12h", Interval::Fixed(12 * HOUR)),
    ("1d", Interval::Fixed(DAY)),
    ("3d", Interval::Fixed(3 * DAY)),
    ("1w", Interval::Week),
    ("1M", Interval::Month),
];

impl Interval {
    /// Parses a Binance interval name (case-sensitive: `1m` is a minute, `1M` a month).
    pub fn parse(name: &str) -> Option<Interval> {
        INTERVALS.iter().find(|(n, _)| *n == name).map(|(_, i)| *i)
    }

    /// Position in [`INTERVALS`].
    pub fn index(self) -> usize {
        INTERVALS
            .iter()
            .position(|(_, i)| *i == self)
            .unwrap_or_default()
    }

    /// The Binance name.
    pub fn name(self) -> &'static str {
        INTERVALS[self.index()].0
    }

    /// Whether the bars of this interval are built from one-second bars (only `1s`).
    pub fn is_seconds(self) -> bool {
        self == Interval::Fixed(SECOND)
    }

    /// Start (ms) of the bucket containing `t_ms`.
    pub fn start_of(self, t_ms: i64) -> i64 {
        match self {
            Interval::Fixed(len) => t_ms.div_euclid(len) * len,
            Interval::Week => {
                // 1970-01-01 was a Thursday; Mondays are epoch days 4, 11, ...
                let day = t_ms.div_euclid(DAY);
                (day - (day - 4).rem_euclid(7)) * DAY
            }
            Interval::Month => {
                let (y, m, _) = civil_from_days(t_ms.div_euclid(DAY));
                days_from_civil(y, m, 1) * DAY
            }
        }
    }

    /// Start (ms) of the bucket after the one starting at `start`.
    pub fn next_start(self, start: i64) -> i64 {
        match self {
            Interval::Fixed(len) => start + len,
            Interval::Week => start + 7 * DAY,
            Interval::Month => {
                let (y, m, _) = civil_from_days(start.div_euclid(DAY));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * DAY
            }
        }
    }
}

/// One bar. Trade ids are `-1` when the bar has no trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kline {
    /// Bucket start, ms.
    pub open_time: i64,
    /// Bucket end, ms (the next bucket's start minus one).
    pub close_time: i64,
    /// First trade price.
    pub open: Decimal,
    /// Highest price.
    pub high: Decimal,
    /// Lowest price.
    pub low: Decimal,
    /// Last trade price.
    pub close: Decimal,
    /// Base volume.
    pub volume: Decimal,
    /// Quote volume (sum of price * qty).
    pub quote_volume: Decimal,
    /// Number of trades.
    pub trades: u64,
    /// Base volume of trades whose taker bought.
    pub taker_buy_base: Decimal,
    /// Quote volume of trades whose taker bought.
    pub taker_buy_quote: Decimal,
    /// First trade id, -1 if none.
    pub first_id: i64,
    /// Last trade id, -1 if none.
    pub last_id: i64,
}

impl Kline {
    /// A bar holding one trade.
    pub fn from_trade(
        open_time: i64,
        close_time: i64,
        id: u64,
        price: Decimal,
        qty: Decimal,
        taker_buys: bool,
    ) -> Kline {
        let quote = price * qty;
        let (tb, tq) = if taker_buys {
            (qty, quote)
        } else {
            (Decimal::ZERO, Decimal::ZERO)
        };
        Kline {
            open_time,
            close_time,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: qty,
            quote_volume: quote,
            trades: 1,
            taker_buy_base: tb,
            taker_buy_quote: tq,
            first_id: id as i64,
            last_id: id as i64,
        }
    }

    /// A bar without trades at `price` (the previous close), as a quiet bucket shows.
    pub fn flat(open_time: i64, close_time: i64, price: Decimal) -> Kline {
        let z = Decimal::ZERO;
        Kline {
            open_time,
            close_time,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: z,
            quote_volume: z,
            trades: 0,
            taker_buy_base: z,
            taker_buy_quote: z,
            first_id: -1,
            last_id: -1,
        }
    }

    /// Adds the trades of `later` (a later bar of the same bucket) to this bar.
    pub fn merge(&mut self, later: &Kline) {
        if later.trades == 0 {
            return;
        }
        if self.trades == 0 {
            self.open = later.open;
            self.high = later.high;
            self.low = later.low;
            self.first_id = later.first_id;
        } else {
            self.high = self.high.max(later.high);
            self.low = self.low.min(later.low);
        }
        self.close = later.close;
        self.volume += later.volume;
        self.quote_volume += later.quote_volume;
        self.trades += later.trades;
        self.taker_buy_base += later.taker_buy_base;
        self.taker_buy_quote += later.taker_buy_quote;
        self.last_id = later.last_id;
    }

    /// Adds one trade.
    pub fn add_trade(&mut self, id: u64, price: Decimal, qty: Decimal, taker_buys: bool) {
        let one = Kline::from_trade(self.open_time, self.close_time, id, price, qty, taker_buys);
        self.merge(&one);
    }

    /// The REST array: `[openTime, "open", "high", "low", "close", "volume", closeTime,
    /// "quoteVolume", trades, "takerBuyBase", "takerBuyQuote", "0"]`.
    pub fn rest_json(&self) -> Value {
        json!([
            self.open_time,
            dec(self.open),
            dec(self.high),
            dec(self.low),
            dec(self.close),
            dec(self.volume),
            self.close_time,
            dec(self.quote_volume),
            self.trades,
            dec(self.taker_buy_base),
            dec(self.taker_buy_quote),
            "0"
        ])
    }

    /// The `kline` stream event for `symbol` at event time `now`; `closed` sets `x`.
    pub fn stream_json(&self, symbol: &str, interval: Interval, now: i64, closed: bool) -> Value {
        json!({
            "e": "kline", "E": now, "s": symbol,
            "k": {
                "t": self.open_time, "T": self.close_time, "s": symbol, "i": interval.name(),
                "f": self.first_id, "L": self.last_id,
                "o": dec(self.open), "c": dec(self.close), "h": dec(self.high), "l": dec(self.low),
                "v": dec(self.volume), "n": self.trades, "x": closed,
                "q": dec(self.quote_volume), "V": dec(self.taker_buy_base),
                "Q": dec(self.taker_buy_quote), "B": "0",
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec as d;

    #[test]
    fn names_parse_case_sensitively() {
        assert_eq!(Interval::parse("1m"), Some(Interval::Fixed(MINUTE)));
        assert_eq!(Interval::parse("1M"), Some(Interval::Month));
        assert_eq!(Interval::parse("2m"), None);
        for (name, i) in INTERVALS {
            assert_eq!(i.name(), name);
        }
    }

    #[test]
    fn buckets_follow_the_utc_calendar() {
        // 2017-07-03 (a Monday) 00:00 UTC, the documented weekly kline's open time.
        let monday = 1_499_040_000_000;
        assert_eq!(Interval::Week.start_of(monday + 3 * DAY + 5), monday);
        assert_eq!(Interval::Week.next_start(monday) - 1, 1_499_644_799_999);
        // 2024-02-29 12:00 -> 2024-02-01; the next month starts 2024-03-01.
        let feb29 = days_from_civil(2024, 2, 29) * DAY + 12 * HOUR;
        let feb1 = days_from_civil(2024, 2, 1) * DAY;
        assert_eq!(Interval::Month.start_of(feb29), feb1);
        assert_eq!(
            Interval::Month.next_start(feb1),
            days_from_civil(2024, 3, 1) * DAY
        );
        assert_eq!(
            civil_from_days(days_from_civil(1999, 12, 31)),
            (1999, 12, 31)
        );
        assert_eq!(Interval::Fixed(MINUTE).start_of(61_001), 60_000);
    }

    #[test]
    fn bars_merge_exactly() {
        let mut k = Kline::flat(0, 59_999, d!(10));
        k.add_trade(5, d!(10.5), d!(2), true);
        k.add_trade(6, d!(9.5), d!(1), false);
        assert_eq!(
            (k.open, k.high, k.low, k.close),
            (d!(10.5), d!(10.5), d!(9.5), d!(9.5))
        );
        assert_eq!((k.volume, k.quote_volume), (d!(3), d!(30.5)));
        assert_eq!((k.taker_buy_base, k.taker_buy_quote), (d!(2), d!(21.0)));
        assert_eq!((k.first_id, k.last_id, k.trades), (5, 6, 2));
    }
}
