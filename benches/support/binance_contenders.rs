//! The Binance frames and decoders the `normalize` (interleaved timer) and `iai_stages`
//! (instruction count) benches compare: our `md` normalizer, the Binance feed protocol to
//! `Tick`s, a typed `serde` struct with borrowed fields (what a Rust user would write first:
//! `#[derive(Deserialize)]`, `&str` fields, then `Decimal::from_str_exact` on each decimal)
//! and a `serde_json::Value` parse.

#![allow(dead_code)]

use std::sync::Arc;

use peregrine_engine::types::{InstrumentSpec, Instruments};
use peregrine_exchanges::binance::feed::{BinanceProtocol, FeedConfig};
use peregrine_exchanges::binance::normalize::Normalizer;
use peregrine_exchanges::md::{MsgKind, VenueNormalizer};
use peregrine_exchanges::venue::VenueProtocol;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Deserialize;

/// Raw `trade` payload (as on `/ws/<symbol>@trade`).
pub const TRADE: &str = r#"{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":3284793015,"p":"43000.12000000","q":"0.00150000","T":1672515782136,"m":true,"M":true}"#;
/// Raw `bookTicker` payload.
pub const BOOK_TICKER: &str = r#"{"u":400900217,"s":"BTCUSDT","b":"43000.10000000","B":"31.21000000","a":"43000.11000000","A":"40.66000000"}"#;
/// Combined-stream `trade` frame (what the feed receives).
pub const COMBINED_TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":3284793015,"p":"43000.12000000","q":"0.00150000","T":1672515782136,"m":true,"M":true}}"#;
/// Combined-stream `bookTicker` frame.
pub const COMBINED_BOOK_TICKER: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT","b":"43000.10000000","B":"31.21000000","a":"43000.11000000","A":"40.66000000"}}"#;
/// Combined-stream diff depth, 5 + 5 levels.
pub const COMBINED_DEPTH: &str = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BTCUSDT","U":157,"u":166,"b":[["43000.10000000","1.20000000"],["42999.90000000","0.00000000"],["42999.50000000","3.10000000"],["42998.00000000","0.50000000"],["42990.00000000","7.00000000"]],"a":[["43000.11000000","0.40000000"],["43000.50000000","0.00000000"],["43001.00000000","2.25000000"],["43002.00000000","1.00000000"],["43010.00000000","9.90000000"]]}}"#;

/// A typed `trade` payload.
#[derive(Deserialize)]
pub struct SerdeTrade<'a> {
    #[serde(rename = "E")]
    pub event_time: u64,
    #[serde(borrow)]
    pub s: &'a str,
    pub t: u64,
    #[serde(borrow)]
    pub p: &'a str,
    #[serde(borrow)]
    pub q: &'a str,
    #[serde(rename = "T")]
    pub trade_time: u64,
    pub m: bool,
}

/// A typed `bookTicker` payload.
#[derive(Deserialize)]
pub struct SerdeBookTicker<'a> {
    pub u: u64,
    #[serde(borrow)]
    pub s: &'a str,
    #[serde(borrow)]
    pub b: &'a str,
    #[serde(rename = "B", borrow)]
    pub bid_qty: &'a str,
    #[serde(borrow)]
    pub a: &'a str,
    #[serde(rename = "A", borrow)]
    pub ask_qty: &'a str,
}

/// A typed `depthUpdate` payload.
#[derive(Deserialize)]
pub struct SerdeDepth<'a> {
    #[serde(rename = "E")]
    pub event_time: u64,
    #[serde(borrow)]
    pub s: &'a str,
    #[serde(rename = "U")]
    pub first: u64,
    pub u: u64,
    #[serde(borrow)]
    pub b: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    pub a: Vec<(&'a str, &'a str)>,
}

/// A typed combined-stream envelope.
#[derive(Deserialize)]
pub struct Combined<'a, T> {
    #[serde(borrow)]
    pub stream: &'a str,
    pub data: T,
}

fn dec_or_zero(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap_or_default()
}

/// The typed serde decode of a trade payload, decimals converted: `(price, qty, id)`.
pub fn serde_trade(t: &SerdeTrade<'_>) -> (Decimal, Decimal, u64) {
    (dec_or_zero(t.p), dec_or_zero(t.q), t.t)
}

/// The typed serde decode of a bookTicker payload, decimals converted.
pub fn serde_book_ticker(t: &SerdeBookTicker<'_>) -> [Decimal; 4] {
    [
        dec_or_zero(t.b),
        dec_or_zero(t.bid_qty),
        dec_or_zero(t.a),
        dec_or_zero(t.ask_qty),
    ]
}

/// The typed serde decode of a depth payload, decimals converted: a checksum of the levels.
pub fn serde_depth(d: &SerdeDepth<'_>) -> Decimal {
    d.b.iter()
        .chain(d.a.iter())
        .fold(Decimal::ZERO, |acc, (p, q)| {
            acc + dec_or_zero(p) + dec_or_zero(q)
        })
}

/// The frames compared, by name.
pub const FRAMES: [(&str, &str); 5] = [
    ("trade", TRADE),
    ("book_ticker", BOOK_TICKER),
    ("combined_trade", COMBINED_TRADE),
    ("combined_book_ticker", COMBINED_BOOK_TICKER),
    ("combined_depth_10", COMBINED_DEPTH),
];

/// The typed serde decode of `frame` (named as in [`FRAMES`]); `false` if it did not decode.
pub fn serde_typed(name: &str, frame: &str) -> bool {
    match name {
        "trade" => serde_json::from_str::<SerdeTrade<'_>>(frame)
            .map(|t| std::hint::black_box(serde_trade(&t)))
            .is_ok(),
        "book_ticker" => serde_json::from_str::<SerdeBookTicker<'_>>(frame)
            .map(|t| std::hint::black_box(serde_book_ticker(&t)))
            .is_ok(),
        "combined_trade" => serde_json::from_str::<Combined<'_, SerdeTrade<'_>>>(frame)
            .map(|c| std::hint::black_box((c.stream.len(), serde_trade(&c.data))))
            .is_ok(),
        "combined_book_ticker" => serde_json::from_str::<Combined<'_, SerdeBookTicker<'_>>>(frame)
            .map(|c| std::hint::black_box((c.stream.len(), serde_book_ticker(&c.data))))
            .is_ok(),
        "combined_depth_10" => serde_json::from_str::<Combined<'_, SerdeDepth<'_>>>(frame)
            .map(|c| std::hint::black_box((c.stream.len(), serde_depth(&c.data))))
            .is_ok(),
        _ => false,
    }
}

/// Our normalizer on `frame`: the messages' count and the last one's time.
pub fn md(n: &mut Normalizer, frame: &str) -> (bool, usize) {
    let mut seen = 0usize;
    let r = n.normalize(frame, &mut |m| {
        seen += match m.kind {
            MsgKind::Trade(t) => t.qty.scale() as usize,
            MsgKind::Quote(q) => q.ask_qty.scale() as usize,
            MsgKind::Book(b) => b.levels.len(),
        };
    });
    (r.is_ok(), seen)
}

/// The registry of the benches: BTC-USDT on Binance.
pub fn registry() -> Arc<Instruments> {
    let mut r = Instruments::new();
    if let Some(spec) =
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
    {
        r.intern(spec);
    }
    Arc::new(r)
}

/// The Binance feed protocol (snapshot requests would go to a closed local port; trades and
/// quotes need none), connected.
pub fn protocol() -> BinanceProtocol {
    let cfg = FeedConfig::new("ws://127.0.0.1:9", "http://127.0.0.1:9");
    let mut p = match BinanceProtocol::new(&cfg, registry()) {
        Ok(p) => p,
        Err(e) => panic!("protocol: {e}"),
    };
    p.on_connect(&mut |_| ());
    p
}
