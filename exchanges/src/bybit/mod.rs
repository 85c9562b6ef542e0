//! Bybit v5 public market data (spot and linear): normalizer and websocket wiring.
//!
//! Topics: `publicTrade.{symbol}` (trades, `S` = taker side), `orderbook.1.{symbol}` (best
//! bid/offer), `orderbook.50.{symbol}` (L2: `snapshot` then `delta`, `u` update id, `seq`
//! cross sequence). Control frames: subscribe acks and pongs (`{"success":true,"ret_msg":..,
//! "op":..}`, or `{"op":"pong",..}`), failures `success:false` with `ret_msg`.
//! Keep-alive: the client sends `{"op":"ping"}` every 20 s.
//!
//! Sources: Bybit v5 docs "WebSocket Stream / Public / Orderbook", "Trade", "Connect"
//! (bybit-exchange.github.io/docs/v5/ws/connect); see `exchanges/tests/SOURCES.md`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::types::{InstrumentSpec, Instruments, Side};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::book_sync::BookRule;
use crate::md::protocol::{venue_symbols, MdProtocol, Wiring};
use crate::md::{
    decimal, first_str_level, for_each_elem, ms_to_ns, push_str_levels, side, BookMsg, Level,
    MdError, Msg, MsgKind, Parsed, QuoteMsg, TradeMsg, VenueNormalizer,
};
use crate::venue::{Heartbeat, Venue};

/// Bybit's market category, which picks the public endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// `/v5/public/spot`.
    Spot,
    /// `/v5/public/linear` (USDT/USDC perpetuals and futures).
    Linear,
}

/// Depth of the L2 topic subscribed to (`orderbook.50`).
pub const BOOK_DEPTH: u32 = 50;

/// The Bybit v5 normalizer (holds a reusable level buffer).
#[derive(Debug, Default)]
pub struct Normalizer {
    levels: Vec<Level>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    topic: Option<&'a str>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a str>,
    #[serde(default)]
    ts: Option<u64>,
    #[serde(default)]
    cts: Option<u64>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(borrow, default)]
    ret_msg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    op: Option<&'a str>,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    s: &'a str,
    #[serde(borrow)]
    b: &'a RawValue,
    #[serde(borrow)]
    a: &'a RawValue,
    u: u64,
    #[serde(default)]
    seq: Option<u64>,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    #[serde(rename = "T")]
    time: u64,
    #[serde(borrow)]
    s: &'a str,
    #[serde(rename = "S", borrow)]
    side: &'a str,
    #[serde(borrow)]
    v: &'a str,
    #[serde(borrow)]
    p: &'a str,
    #[serde(borrow)]
    i: &'a str,
}

impl Normalizer {
    /// A new normalizer.
    pub fn new() -> Self {
        Self {
            levels: Vec::with_capacity(64),
        }
    }
}

impl VenueNormalizer for Normalizer {
    fn venue(&self) -> Venue {
        Venue::Bybit
    }

    fn normalize<'a>(
        &mut self,
        frame: &'a str,
        sink: &mut dyn FnMut(&Msg<'a, '_>),
    ) -> Result<Parsed, MdError> {
        let env: Envelope<'a> = serde_json::from_str(frame).map_err(MdError::json)?;
        let Some(topic) = env.topic else {
            if env.success == Some(false) {
                let msg = env.ret_msg.as_deref().unwrap_or("request failed");
                return Ok(Parsed::venue_error(format!(
                    "{} failed: {msg}",
                    env.op.unwrap_or("request")
                )));
            }
            if env.success == Some(true) || env.op.is_some() {
                return Ok(Parsed::control());
            }
            return Err(MdError::MissingField("topic"));
        };
        let data = env.data.ok_or(MdError::MissingField("data"))?;
        let ts_ms = env.cts.or(env.ts).ok_or(MdError::MissingField("ts"))?;
        let exch_ts_ns = ms_to_ns("ts", ts_ms)?;
        if topic.starts_with("publicTrade.") {
            for_each_elem(data, |t: TradeData<'a>| {
                sink(&trade_msg(&t)?);
                Ok(())
            })?;
            return Ok(Parsed::data());
        }
        if let Some(rest) = topic.strip_prefix("orderbook.") {
            let book: BookData<'a> = serde_json::from_str(data.get()).map_err(MdError::json)?;
            let snapshot = match env.kind {
                Some("snapshot") => true,
                Some("delta") => false,
                _ => return Err(MdError::MissingField("type")),
            };
            if rest.starts_with("1.") {
                // Level 1: the best bid and offer.
                let bid = first_str_level(book.b, "b")?;
                let ask = first_str_level(book.a, "a")?;
                if let (Some((bid_px, bid_qty)), Some((ask_px, ask_qty))) = (bid, ask) {
                    sink(&Msg {
                        symbol: book.s,
                        exch_ts_ns,
                        kind: MsgKind::Quote(QuoteMsg {
                            bid_px,
                            bid_qty,
                            ask_px,
                            ask_qty,
                            seq: Some(book.u),
                        }),
                    });
                }
                return Ok(Parsed::data());
            }
            self.levels.clear();
            push_str_levels(book.b, Side::Buy, "b", &mut self.levels)?;
            push_str_levels(book.a, Side::Sell, "a", &mut self.levels)?;
            sink(&Msg {
                symbol: book.s,
                exch_ts_ns,
                kind: MsgKind::Book(BookMsg {
                    snapshot,
                    levels: &self.levels,
                    seq: Some(book.u),
                    first_seq: None,
                    prev_seq: None,
                    cross_seq: book.seq,
                    checksum: None,
                }),
            });
            return Ok(Parsed::data());
        }
        Err(MdError::Unsupported(topic.to_string()))
    }
}

fn trade_msg<'a>(t: &TradeData<'a>) -> Result<Msg<'a, 'static>, MdError> {
    Ok(Msg {
        symbol: t.s,
        exch_ts_ns: ms_to_ns("T", t.time)?,
        kind: MsgKind::Trade(TradeMsg {
            price: decimal("p", t.p)?,
            qty: decimal("v", t.v)?,
            side: side("S", t.side)?,
            trade_id: t.i,
        }),
    })
}

/// The public endpoint of a category.
pub fn url(category: Category) -> &'static str {
    match category {
        Category::Spot => "wss://stream.bybit.com/v5/public/spot",
        Category::Linear => "wss://stream.bybit.com/v5/public/linear",
    }
}

/// Subscribe requests for `symbols` (venue spelling): trades, level 1 and the 50-level book.
/// Spot accepts at most 10 args per request, so topics are sent in chunks of 10.
pub fn subscribe_messages(symbols: &[&str]) -> Vec<String> {
    let topics: Vec<String> = symbols
        .iter()
        .flat_map(|s| {
            [
                format!("publicTrade.{s}"),
                format!("orderbook.1.{s}"),
                format!("orderbook.{BOOK_DEPTH}.{s}"),
            ]
        })
        .collect();
    topics
        .chunks(10)
        .enumerate()
        .map(|(i, chunk)| {
            serde_json::json!({"req_id": format!("sub-{}", i + 1), "op": "subscribe", "args": chunk})
                .to_string()
        })
        .collect()
}

/// The Bybit market-data protocol for the Bybit instruments of `instruments`.
pub fn protocol(instruments: Arc<Instruments>, category: Category) -> MdProtocol<Normalizer> {
    let symbols = venue_symbols(&instruments, Venue::Bybit);
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let wiring = Wiring {
        url: url(category).to_string(),
        subscribe: subscribe_messages(&refs),
        heartbeat: Heartbeat::Text {
            every: Duration::from_secs(20),
            payload: r#"{"op":"ping"}"#.to_string(),
        },
        max_session: None,
    };
    MdProtocol::new(
        Normalizer::new(),
        wiring,
        instruments,
        |_: &InstrumentSpec| BookRule::Bybit,
    )
}

#[cfg(test)]
mod tests;
