//! Streams Binance pushes on a timer rather than per event: partial book depth
//! (`@depth5/10/20`, every 1000 ms, or 100 ms with `@100ms`), the 24 h tickers (`@ticker`,
//! `@miniTicker` and the `!ticker@arr` / `!miniTicker@arr` arrays, 1000 ms), the average
//! price (`@avgPrice`, 1000 ms) and klines (`@kline_<interval>`: 1000 ms for `1s`, 2000 ms for
//! the others, plus the closing bar with `"x": true` when its interval ends). Only streams
//! someone subscribes to are built ([`super::fanout::Fanout::wants`]).

use serde_json::{json, Value};

use super::exchange::{DepthSpeed, Exchange, SymbolState};
use super::fanout::Fanout;
use super::klines::INTERVALS;
use super::market_data::{avg_price_event, ticker_event};
use super::wire::dec;

/// Partial depth levels Binance offers.
pub const PARTIAL_LEVELS: [usize; 3] = [5, 10, 20];
/// The array streams of every symbol's ticker: `(name, mini)`.
pub const ARRAY_STREAMS: [(&str, bool); 2] = [("!ticker@arr", false), ("!miniTicker@arr", true)];

/// Send interval of a kline stream, ms.
fn kline_period(is_seconds: bool) -> i64 {
    if is_seconds {
        1_000
    } else {
        2_000
    }
}

fn partial_depth(s: &SymbolState, levels: usize) -> Value {
    let (bids, asks) = s.book.depth(levels);
    let lv = |v: Vec<(rust_decimal::Decimal, rust_decimal::Decimal)>| {
        v.into_iter()
            .map(|(p, q)| json!([dec(p), dec(q)]))
            .collect::<Vec<_>>()
    };
    json!({"lastUpdateId": s.book.update_id(), "bids": lv(bids), "asks": lv(asks)})
}

fn publish_if_wanted(fanout: &Fanout, stream: String, build: impl FnOnce() -> Option<Value>) {
    if fanout.wants(&stream) {
        if let Some(v) = build() {
            fanout.market(stream, v.to_string());
        }
    }
}

/// Publishes the kline streams of one symbol that are due at `now`.
fn publish_klines(fanout: &Fanout, s: &mut SymbolState, now: i64) {
    for (i, (name, interval)) in INTERVALS.iter().enumerate() {
        let stream = format!("{}@kline_{name}", s.stream_prefix);
        if !fanout.wants(&stream) {
            s.history.kline_sent[i] = None;
            continue;
        }
        let open = interval.start_of(now);
        let due = match s.history.kline_sent[i] {
            None => true,
            Some((sent_open, at)) => {
                if sent_open < open {
                    // The interval ended: send its final bar, closed.
                    let closed =
                        s.history
                            .klines(*interval, Some(sent_open), Some(sent_open), 1, now);
                    if let Some(k) = closed.first() {
                        let ev = k.stream_json(&s.spec.symbol, *interval, now, true);
                        fanout.market(stream.clone(), ev.to_string());
                    }
                    true
                } else {
                    // Allow one tick of timer jitter.
                    now - at >= kline_period(interval.is_seconds()) - 100
                }
            }
        };
        if !due {
            continue;
        }
        if let Some(k) = s.history.current_kline(*interval, now) {
            let ev = k.stream_json(&s.spec.symbol, *interval, now, false);
            fanout.market(stream, ev.to_string());
            s.history.kline_sent[i] = Some((open, now));
        }
    }
}

impl Exchange {
    /// Publishes the timed streams due at `now` for the `speed` timer (100 ms or 1000 ms).
    pub fn publish_periodic(&mut self, speed: DepthSpeed, now: i64) {
        let fanout = self.fanout.clone();
        let mut arrays: [Vec<Value>; 2] = [Vec::new(), Vec::new()];
        let want_arrays = ARRAY_STREAMS.map(|(n, _)| speed == DepthSpeed::Slow && fanout.wants(n));
        for s in self.symbols.values_mut() {
            for levels in PARTIAL_LEVELS {
                let stream = match speed {
                    DepthSpeed::Fast => format!("{}@depth{levels}@100ms", s.stream_prefix),
                    DepthSpeed::Slow => format!("{}@depth{levels}", s.stream_prefix),
                };
                publish_if_wanted(&fanout, stream, || Some(partial_depth(s, levels)));
            }
            if speed == DepthSpeed::Fast {
                continue;
            }
            let p = &s.stream_prefix;
            publish_if_wanted(&fanout, format!("{p}@ticker"), || {
                Some(ticker_event(s, now, false))
            });
            publish_if_wanted(&fanout, format!("{p}@miniTicker"), || {
                Some(ticker_event(s, now, true))
            });
            publish_if_wanted(&fanout, format!("{p}@avgPrice"), || avg_price_event(s, now));
            publish_klines(&fanout, s, now);
            let last = s.history.last_trade().map(|t| t.id);
            for (i, (_, mini)) in ARRAY_STREAMS.iter().enumerate() {
                if want_arrays[i] && last.is_some() && s.history.arr_sent[i] != last {
                    s.history.arr_sent[i] = last;
                    arrays[i].push(ticker_event(s, now, *mini));
                }
            }
        }
        for (i, items) in arrays.into_iter().enumerate() {
            if !items.is_empty() {
                fanout.market(
                    ARRAY_STREAMS[i].0.to_string(),
                    Value::Array(items).to_string(),
                );
            }
        }
    }
}
