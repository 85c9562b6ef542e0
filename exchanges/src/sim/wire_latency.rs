//! Tick-to-trade as the wire shows it, on one monotonic clock: the simulator's own
//! [`Instant`]s, so no clock of the client takes part.
//!
//! Two kinds of stamps are taken:
//! - **frame written**: a market-data connection's `send` of a frame for a symbol returned
//!   (tungstenite wrote and flushed it into the socket; the client can read it from then on).
//!   Every market-data connection's write counts, per symbol: kept as the last [`RING`] stamps
//!   of any stream of the symbol, and of its trade streams (`@trade`, `@aggTrade`) alone;
//! - **order read**: an authenticated new order of the symbol was read whole (REST `POST
//!   /api/v3/order` handler entered, i.e. request line, headers and body read; WebSocket API
//!   `order.place` / `order.cancelReplace` text frame read), stamped before it is parsed
//!   and recorded once its key was checked.
//!
//! For each order: **tick-to-trade from the latest frame** = order read − the latest frame
//! write of that symbol (any stream) at or before the read; **from the latest trade frame** =
//! the same against the latest `@trade`/`@aggTrade` frame write. The first is a lower bound
//! of the true figure (the frame that caused the order may be older: a book update written
//! after the trade that crossed still counts as "latest"); the second is exact for a
//! strategy that trades on trades, unless another trade frame was written in between. An
//! order with no frame of its symbol before it counts in `without_frame` only.
//!
//! Recording takes a short lock and does not allocate (fixed rings, hdrhistograms allocated at
//! start); nothing of it runs inside the exchange lock of the matching engine.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use peregrine_engine::latency::{LatencyRecorder, LatencySummary};
use serde::Serialize;

/// Frame write stamps kept per symbol and kind. Enough for the frames several connections
/// write between an order's read and its recording (a few microseconds).
pub const RING: usize = 16;

/// The latest `RING` stamps (ns since the clock's base, plus one; 0 = empty slot).
#[derive(Clone, Copy, Debug)]
struct Ring {
    stamps: [u64; RING],
    next: usize,
}

impl Default for Ring {
    fn default() -> Self {
        Ring {
            stamps: [0; RING],
            next: 0,
        }
    }
}

impl Ring {
    fn push(&mut self, t: u64) {
        self.stamps[self.next] = t;
        self.next = (self.next + 1) % RING;
    }

    /// The latest stamp at or before `t`. Connections write concurrently, so the ring is not
    /// in time order: every slot is looked at.
    fn latest_at_or_before(&self, t: u64) -> Option<u64> {
        self.stamps
            .iter()
            .copied()
            .filter(|&s| s != 0 && s <= t)
            .max()
    }
}

#[derive(Debug, Default)]
struct Rings {
    any: Ring,
    trade: Ring,
}

/// One listed symbol: its stream-name prefix and its rings.
#[derive(Debug)]
struct SymbolFrames {
    /// Upper case, as in order requests (`BTCUSDT`).
    symbol: Box<str>,
    /// Lower case, as in stream names (`btcusdt`).
    stream: Box<str>,
    rings: Mutex<Rings>,
}

#[derive(Debug)]
struct Hists {
    from_frame: LatencyRecorder,
    from_trade: LatencyRecorder,
    orders: u64,
    without_frame: u64,
    without_trade: u64,
}

/// The simulator's wire-to-wire tick-to-trade recorder (see the module docs).
#[derive(Debug)]
pub struct WireLatency {
    base: Instant,
    symbols: Box<[SymbolFrames]>,
    hists: Mutex<Hists>,
}

/// Tick-to-trade percentiles so far (`GET /sim/latency`, the `peregrine sim` exit summary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WireLatencyReport {
    /// Authenticated new orders read.
    pub orders: u64,
    /// Orders of a symbol none of whose frames had been written before them.
    pub without_frame: u64,
    /// Orders with no trade frame of their symbol written before them.
    pub without_trade_frame: u64,
    /// Order read − latest frame written of the symbol (any stream), ns.
    pub from_latest_frame_ns: LatencySummary,
    /// Order read − latest `@trade` / `@aggTrade` frame written of the symbol, ns.
    pub from_latest_trade_frame_ns: LatencySummary,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Recording leaves the state consistent at every step: a poisoned lock is usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl WireLatency {
    /// A recorder for `symbols` (upper case), its clock's base now.
    pub fn new<'a>(symbols: impl IntoIterator<Item = &'a str>) -> Self {
        let symbols = symbols
            .into_iter()
            .map(|s| SymbolFrames {
                symbol: s.into(),
                stream: s.to_ascii_lowercase().into(),
                rings: Mutex::default(),
            })
            .collect();
        WireLatency {
            base: Instant::now(),
            symbols,
            hists: Mutex::new(Hists {
                from_frame: LatencyRecorder::new(),
                from_trade: LatencyRecorder::new(),
                orders: 0,
                without_frame: 0,
                without_trade: 0,
            }),
        }
    }

    /// `at` as ns since the base, plus one (so that 0 means "no stamp").
    fn stamp(&self, at: Instant) -> u64 {
        let ns = at.saturating_duration_since(self.base).as_nanos();
        u64::try_from(ns).unwrap_or(u64::MAX - 1) + 1
    }

    /// A frame of `stream` (`btcusdt@trade`, ...) was written at `at`. Streams of no listed
    /// symbol (the all-market arrays) are ignored.
    pub fn frame_written(&self, stream: &str, at: Instant) {
        let Some((sym, kind)) = stream.split_once('@') else {
            return;
        };
        let Some(s) = self.symbols.iter().find(|s| &*s.stream == sym) else {
            return;
        };
        let t = self.stamp(at);
        let mut rings = lock(&s.rings);
        rings.any.push(t);
        if kind == "trade" || kind == "aggTrade" {
            rings.trade.push(t);
        }
    }

    /// An authenticated new order of `symbol` (upper case) was read at `at`: records its
    /// tick-to-trade. Unlisted symbols are ignored.
    pub fn order_read(&self, symbol: &str, at: Instant) {
        let Some(s) = self.symbols.iter().find(|s| &*s.symbol == symbol) else {
            return;
        };
        let t = self.stamp(at);
        let (frame, trade) = {
            let rings = lock(&s.rings);
            (
                rings.any.latest_at_or_before(t),
                rings.trade.latest_at_or_before(t),
            )
        };
        let mut h = lock(&self.hists);
        h.orders += 1;
        match frame {
            Some(f) => h.from_frame.record(t - f),
            None => h.without_frame += 1,
        }
        match trade {
            Some(f) => h.from_trade.record(t - f),
            None => h.without_trade += 1,
        }
    }

    /// Percentiles so far.
    pub fn report(&self) -> WireLatencyReport {
        let h = lock(&self.hists);
        WireLatencyReport {
            orders: h.orders,
            without_frame: h.without_frame,
            without_trade_frame: h.without_trade,
            from_latest_frame_ns: h.from_frame.summary(),
            from_latest_trade_frame_ns: h.from_trade.summary(),
        }
    }
}

impl fmt::Display for WireLatencyReport {
    /// Two lines, microseconds, for the `peregrine sim` exit summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = |ns: u64| ns as f64 / 1000.0;
        let line = |f: &mut fmt::Formatter<'_>, what: &str, s: &LatencySummary| {
            writeln!(
                f,
                "  from the latest {what}: {} orders, p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
                s.count,
                us(s.p50),
                us(s.p99),
                us(s.p999),
                us(s.max)
            )
        };
        writeln!(
            f,
            "tick-to-trade on the simulator's clock (frame written -> order read): {} orders, {} without a frame before them",
            self.orders, self.without_frame
        )?;
        line(f, "frame of the symbol", &self.from_latest_frame_ns)?;
        line(f, "trade frame", &self.from_latest_trade_frame_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(base: Instant, us: u64) -> Instant {
        base + Duration::from_micros(us)
    }

    #[test]
    fn each_order_is_timed_from_the_latest_frame_before_it() {
        let w = WireLatency::new(["BTCUSDT", "ETHUSDT"]);
        let b = w.base;
        // No frame yet: counted, not timed.
        w.order_read("BTCUSDT", at(b, 5));
        w.frame_written("btcusdt@trade", at(b, 100));
        w.frame_written("btcusdt@bookTicker", at(b, 130));
        // A frame of another symbol, an array stream and a later frame do not count.
        w.frame_written("ethusdt@trade", at(b, 150));
        w.frame_written("!ticker@arr", at(b, 155));
        w.frame_written("btcusdt@depth", at(b, 900));
        w.order_read("BTCUSDT", at(b, 180));
        // Unlisted symbol: ignored.
        w.order_read("XRPUSDT", at(b, 200));
        let r = w.report();
        assert_eq!(r.orders, 2);
        assert_eq!(r.without_frame, 1);
        assert_eq!(r.without_trade_frame, 1);
        // 180 - 130 (the bookTicker) and 180 - 100 (the trade), within hdrhistogram's 0.1 %.
        assert_eq!(r.from_latest_frame_ns.count, 1);
        assert!(
            (49_950..=50_050).contains(&r.from_latest_frame_ns.p50),
            "{r:?}"
        );
        assert_eq!(r.from_latest_trade_frame_ns.count, 1);
        assert!(
            (79_900..=80_100).contains(&r.from_latest_trade_frame_ns.p50),
            "{r:?}"
        );
    }

    #[test]
    fn ring_keeps_the_latest_stamps_out_of_order() {
        let mut r = Ring::default();
        assert_eq!(r.latest_at_or_before(10), None);
        for t in [5, 9, 7] {
            r.push(t);
        }
        assert_eq!(r.latest_at_or_before(8), Some(7));
        assert_eq!(r.latest_at_or_before(100), Some(9));
        assert_eq!(r.latest_at_or_before(4), None);
        // After RING more pushes the old ones are gone.
        for t in 0..RING as u64 {
            r.push(1000 + t);
        }
        assert_eq!(r.latest_at_or_before(999), None);
        assert_eq!(r.latest_at_or_before(2000), Some(1000 + RING as u64 - 1));
    }

    #[test]
    fn aggregate_trades_count_as_trade_frames_and_display_names_both() {
        let w = WireLatency::new(["BTCUSDT"]);
        let b = w.base;
        w.frame_written("btcusdt@aggTrade", at(b, 10));
        w.order_read("BTCUSDT", at(b, 40));
        let r = w.report();
        assert_eq!(r.without_trade_frame, 0);
        assert_eq!(r.from_latest_trade_frame_ns.count, 1);
        let text = r.to_string();
        assert!(text.contains("1 orders, 0 without a frame"), "{text}");
        assert!(
            text.contains("from the latest trade frame: 1 orders, p50 30.0 us"),
            "{text}"
        );
    }
}
