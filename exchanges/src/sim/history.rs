//! One symbol's public trade history, built from the simulator's own trades: a bounded ring of
//! trades, aggregate trades (consecutive fills of one taker order at one price), one-second and
//! one-minute bars, and what the REST endpoints and streams derive from them (klines of every
//! interval, rolling-window statistics, the five-minute average price).
//!
//! Everything is bounded: the newest [`TRADES_KEPT`] trades and aggregate trades,
//! [`SECONDS_KEPT`] one-second bars and [`MINUTES_KEPT`] one-minute bars. Older history is
//! gone (a real venue would serve it from a database). Buffers grow to their bound once and
//! are then reused, so recording a trade does not allocate in steady state.

use std::collections::VecDeque;

use rust_decimal::Decimal;

use super::klines::{Interval, Kline, INTERVALS};
use super::matching::OrderId;

/// Trades and aggregate trades kept per symbol.
pub const TRADES_KEPT: usize = 10_000;
/// One-second bars kept (one hour).
pub const SECONDS_KEPT: usize = 3_600;
/// One-minute bars kept (seven days).
pub const MINUTES_KEPT: usize = 7 * 24 * 60;
/// Window of the average price (`avgPrice`), minutes.
pub const AVG_PRICE_MINS: i64 = 5;

/// One trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeRec {
    /// Trade id.
    pub id: u64,
    /// Price.
    pub price: Decimal,
    /// Base quantity.
    pub qty: Decimal,
    /// Trade time, ms.
    pub time: i64,
    /// Whether the buyer was the maker (the taker sold).
    pub buyer_maker: bool,
}

/// One aggregate trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggRec {
    /// Aggregate trade id.
    pub id: u64,
    /// Price.
    pub price: Decimal,
    /// Summed quantity.
    pub qty: Decimal,
    /// First trade id.
    pub first: u64,
    /// Last trade id.
    pub last: u64,
    /// Time of the trades, ms.
    pub time: i64,
    /// Whether the buyer was the maker.
    pub buyer_maker: bool,
    taker: OrderId,
}

/// Statistics of a rolling window, from the one-minute bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowStats {
    /// Window start, ms (the start of the minute containing `close_time - window`).
    pub open_time: i64,
    /// Window end (the request time), ms.
    pub close_time: i64,
    /// The window's trades merged into one bar (`trades == 0` if none).
    pub bar: Kline,
    /// Close of the last bar before the window (zero if none).
    pub prev_close: Decimal,
    /// The newest trade, inside the window or not.
    pub last: Option<TradeRec>,
}

/// One symbol's history.
#[derive(Debug, Default)]
pub struct MarketHistory {
    trades: VecDeque<TradeRec>,
    aggs: VecDeque<AggRec>,
    open_agg: Option<AggRec>,
    next_agg_id: u64,
    secs: VecDeque<Kline>,
    mins: VecDeque<Kline>,
    /// Per interval (index in [`INTERVALS`]): `(open time, send time)` of the last kline the
    /// `@kline_<interval>` stream sent.
    pub kline_sent: [Option<(i64, i64)>; INTERVALS.len()],
    /// Id of the newest trade when `!ticker@arr` / `!miniTicker@arr` last included the symbol.
    pub arr_sent: [Option<u64>; 2],
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(v);
}

fn add_to_bars(bars: &mut VecDeque<Kline>, len_ms: i64, cap: usize, t: &TradeRec) {
    let start = t.time.div_euclid(len_ms) * len_ms;
    match bars.back_mut() {
        Some(b) if b.open_time == start => b.add_trade(t.id, t.price, t.qty, !t.buyer_maker),
        _ => push_bounded(
            bars,
            Kline::from_trade(
                start,
                start + len_ms - 1,
                t.id,
                t.price,
                t.qty,
                !t.buyer_maker,
            ),
            cap,
        ),
    }
}

impl MarketHistory {
    /// Records a trade of taker order `taker`. Returns the aggregate trade this trade closed
    /// (a different taker or price starts a new aggregate), if any.
    pub fn record(&mut self, t: TradeRec, taker: OrderId) -> Option<AggRec> {
        push_bounded(&mut self.trades, t, TRADES_KEPT);
        add_to_bars(&mut self.secs, 1_000, SECONDS_KEPT, &t);
        add_to_bars(&mut self.mins, 60_000, MINUTES_KEPT, &t);
        if let Some(a) = &mut self.open_agg {
            if a.taker == taker && a.price == t.price && a.time == t.time {
                a.qty += t.qty;
                a.last = t.id;
                return None;
            }
        }
        let closed = self.flush_agg();
        self.next_agg_id += 1;
        self.open_agg = Some(AggRec {
            id: self.next_agg_id,
            price: t.price,
            qty: t.qty,
            first: t.id,
            last: t.id,
            time: t.time,
            buyer_maker: t.buyer_maker,
            taker,
        });
        closed
    }

    /// Closes the open aggregate trade (its taker order finished matching) and returns it.
    pub fn flush_agg(&mut self) -> Option<AggRec> {
        let a = self.open_agg.take()?;
        push_bounded(&mut self.aggs, a, TRADES_KEPT);
        Some(a)
    }

    /// The newest trade.
    pub fn last_trade(&self) -> Option<&TradeRec> {
        self.trades.back()
    }

    /// Trades from id `from` on (oldest first), or the newest ones, at most `limit`.
    pub fn trades(&self, from: Option<u64>, limit: usize) -> Vec<TradeRec> {
        match from {
            Some(id) => self
                .trades
                .iter()
                .filter(|t| t.id >= id)
                .take(limit)
                .copied()
                .collect(),
            None => {
                let skip = self.trades.len().saturating_sub(limit);
                self.trades.iter().skip(skip).copied().collect()
            }
        }
    }

    /// Aggregate trades, oldest first, at most `limit`: from id `from`; else within
    /// `[start, end]` (the first `limit` from `start`, or the newest up to `end`); else the
    /// newest.
    pub fn agg_trades(
        &self,
        from: Option<u64>,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
    ) -> Vec<AggRec> {
        let in_range = |a: &&AggRec| {
            from.is_none_or(|id| a.id >= id)
                && start.is_none_or(|s| a.time >= s)
                && end.is_none_or(|e| a.time <= e)
        };
        if from.is_some() || start.is_some() {
            return self
                .aggs
                .iter()
                .filter(in_range)
                .take(limit)
                .copied()
                .collect();
        }
        let mut v: Vec<AggRec> = self
            .aggs
            .iter()
            .rev()
            .filter(in_range)
            .take(limit)
            .copied()
            .collect();
        v.reverse();
        v
    }

    /// Klines of `interval` up to the bucket containing `now`, oldest first, at most `limit`:
    /// open times within `[start, end]`; the first `limit` from `start` if it is given, else
    /// the newest. Buckets without trades inside the kept history show the previous close.
    pub fn klines(
        &self,
        interval: Interval,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
        now: i64,
    ) -> Vec<Kline> {
        let base = if interval.is_seconds() {
            &self.secs
        } else {
            &self.mins
        };
        let mut all: Vec<Kline> = Vec::new();
        for b in base {
            let s = interval.start_of(b.open_time);
            if let Some(k) = all.last_mut() {
                if k.open_time == s {
                    k.merge(b);
                    continue;
                }
            }
            fill_flat(&mut all, interval, s);
            let mut k = Kline::flat(s, interval.next_start(s) - 1, b.open);
            k.merge(b);
            all.push(k);
        }
        if !all.is_empty() {
            fill_flat(
                &mut all,
                interval,
                interval.next_start(interval.start_of(now)),
            );
        }
        let keep = |k: &&Kline| {
            start.is_none_or(|s| k.open_time >= s) && end.is_none_or(|e| k.open_time <= e)
        };
        if start.is_some() {
            return all.iter().filter(keep).take(limit).copied().collect();
        }
        let mut v: Vec<Kline> = all.iter().rev().filter(keep).take(limit).copied().collect();
        v.reverse();
        v
    }

    /// The current (forming) kline of `interval` at `now`, if any trade was ever recorded.
    /// Reads only the base bars of the current bucket (the streams call it every second).
    pub fn current_kline(&self, interval: Interval, now: i64) -> Option<Kline> {
        let base = if interval.is_seconds() {
            &self.secs
        } else {
            &self.mins
        };
        let last = base.back()?;
        let start = interval.start_of(now);
        let inside = base
            .iter()
            .rev()
            .take_while(|b| b.open_time >= start)
            .count();
        let before = base.len() - inside;
        let prev_close = if before > 0 {
            base[before - 1].close
        } else {
            last.open
        };
        let mut k = Kline::flat(start, interval.next_start(start) - 1, prev_close);
        for b in base.iter().skip(before) {
            k.merge(b);
        }
        Some(k)
    }

    /// Statistics over the `window_ms` before `now`, from whole minutes (the window opens at
    /// the start of its first minute, so it can be up to 59 999 ms wider than asked).
    pub fn window_stats(&self, window_ms: i64, now: i64) -> WindowStats {
        let open_time = (now - window_ms).div_euclid(60_000) * 60_000;
        let mut bar = Kline::flat(open_time, now, Decimal::ZERO);
        let mut prev_close = Decimal::ZERO;
        for b in &self.mins {
            if b.open_time < open_time {
                prev_close = b.close;
            } else if b.open_time <= now {
                bar.merge(b);
            }
        }
        let last = self.trades.back().copied();
        if bar.trades == 0 {
            let p = last.map(|t| t.price).unwrap_or_default();
            bar = Kline::flat(open_time, now, p);
        }
        WindowStats {
            open_time,
            close_time: now,
            bar,
            prev_close,
            last,
        }
    }

    /// The volume-weighted average price of the last [`AVG_PRICE_MINS`] minutes (the last
    /// trade's price if none traded in it) and the last trade's time; `None` before any trade.
    pub fn avg_price(&self, now: i64) -> Option<(Decimal, i64)> {
        let last = self.trades.back()?;
        let from = now - AVG_PRICE_MINS * 60_000;
        let (mut vol, mut quote) = (Decimal::ZERO, Decimal::ZERO);
        for b in self.secs.iter().rev().take_while(|b| b.open_time >= from) {
            vol += b.volume;
            quote += b.quote_volume;
        }
        let price = if vol.is_zero() {
            last.price
        } else {
            (quote / vol).round_dp(8)
        };
        Some((price, last.time))
    }
}

/// Appends flat bars (at the last bar's close) until the next bar would start at `until`.
fn fill_flat(all: &mut Vec<Kline>, interval: Interval, until: i64) {
    while let Some(last) = all.last() {
        let next = interval.next_start(last.open_time);
        if next >= until {
            break;
        }
        let close = last.close;
        all.push(Kline::flat(next, interval.next_start(next) - 1, close));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec as d;

    fn t(id: u64, price: Decimal, qty: Decimal, time: i64, buyer_maker: bool) -> TradeRec {
        TradeRec {
            id,
            price,
            qty,
            time,
            buyer_maker,
        }
    }

    #[test]
    fn aggregates_join_one_takers_fills_at_one_price() {
        let mut h = MarketHistory::default();
        assert!(h.record(t(1, d!(10), d!(1), 5, false), 100).is_none());
        assert!(h.record(t(2, d!(10), d!(2), 5, false), 100).is_none());
        let a = h.record(t(3, d!(11), d!(1), 5, false), 100).unwrap();
        assert_eq!((a.id, a.qty, a.first, a.last), (1, d!(3), 1, 2));
        let b = h.flush_agg().unwrap();
        assert_eq!((b.id, b.first, b.last), (2, 3, 3));
        h.record(t(4, d!(11), d!(1), 6, true), 101);
        h.flush_agg();
        let all = h.agg_trades(None, None, None, 10);
        assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(h.agg_trades(Some(2), None, None, 1)[0].id, 2);
        assert_eq!(h.agg_trades(None, None, Some(5), 1)[0].id, 2);
        assert_eq!(
            h.trades(None, 2).iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(h.trades(Some(2), 1)[0].id, 2);
    }

    #[test]
    fn klines_merge_fill_gaps_and_select() {
        let mut h = MarketHistory::default();
        // Minute 0: two trades; minute 2: one trade; now in minute 3.
        h.record(t(1, d!(10), d!(1), 1_000, false), 1);
        h.record(t(2, d!(12), d!(1), 59_000, true), 2);
        h.record(t(3, d!(11), d!(2), 125_000, false), 3);
        let now = 190_000;
        let m1 = Interval::parse("1m").unwrap();
        let k = h.klines(m1, None, None, 500, now);
        assert_eq!(k.len(), 4);
        assert_eq!(
            (k[0].open, k[0].high, k[0].close, k[0].trades),
            (d!(10), d!(12), d!(12), 2)
        );
        assert_eq!((k[1].open, k[1].volume, k[1].first_id), (d!(12), d!(0), -1));
        assert_eq!((k[2].open_time, k[2].close_time), (120_000, 179_999));
        assert_eq!(k[3].close, d!(11));
        let m3 = Interval::parse("3m").unwrap();
        let k3 = h.klines(m3, None, None, 500, now);
        assert_eq!(k3.len(), 2);
        assert_eq!((k3[0].volume, k3[0].trades, k3[0].last_id), (d!(4), 3, 3));
        let newest = h.klines(m1, None, None, 1, now);
        assert_eq!(newest[0].open_time, 180_000);
        let from = h.klines(m1, Some(60_000), Some(120_000), 500, now);
        assert_eq!(
            from.iter().map(|k| k.open_time).collect::<Vec<_>>(),
            vec![60_000, 120_000]
        );
        assert_eq!(h.current_kline(m1, now).unwrap().open_time, 180_000);
        // The forming bar equals what the full kline list shows for its bucket.
        for (iv, t) in [(m1, now), (m1, 130_000), (m3, now), (m3, 100_000)] {
            let full = h.klines(iv, None, None, 1, t).pop();
            assert_eq!(h.current_kline(iv, t), full, "{iv:?} at {t}");
        }
        assert_eq!(MarketHistory::default().current_kline(m1, now), None);
        let s = h.klines(Interval::parse("1s").unwrap(), Some(59_000), None, 2, now);
        assert_eq!((s[0].open_time, s[0].trades, s[1].trades), (59_000, 1, 0));
    }

    #[test]
    fn window_stats_and_average_price() {
        let mut h = MarketHistory::default();
        h.record(t(1, d!(8), d!(1), 0, false), 1);
        h.record(t(2, d!(10), d!(1), 600_000, false), 2);
        h.record(t(3, d!(12), d!(3), 610_000, true), 3);
        let s = h.window_stats(300_000, 620_000);
        assert_eq!(s.open_time, 300_000);
        assert_eq!((s.bar.open, s.bar.close, s.bar.trades), (d!(10), d!(12), 2));
        assert_eq!((s.bar.volume, s.bar.quote_volume), (d!(4), d!(46)));
        assert_eq!(s.prev_close, d!(8));
        assert_eq!(s.last.unwrap().id, 3);
        // (10 + 36) / 4 over the last five minutes.
        assert_eq!(h.avg_price(620_000), Some((d!(11.5), 610_000)));
        assert_eq!(h.avg_price(2_000_000), Some((d!(12), 610_000)));
        assert_eq!(MarketHistory::default().avg_price(0), None);
    }
}
