//! Kraken spot websocket v2 public market data: normalizer and websocket wiring.
//!
//! Channels on `wss://ws.kraken.com/v2`: `trade` (`side` = taker side, integer `trade_id`),
//! `ticker` with `event_trigger: "bbo"` (best bid/offer), `book` (L2: `snapshot` then
//! `update`, CRC32 `checksum` of the top 10 levels, no sequence numbers). Prices and
//! quantities are JSON numbers: they are read from the frame's own number text, so no float
//! ever touches them. Control: `{"channel":"heartbeat"}`, `{"channel":"status",..}`,
//! `{"method":"subscribe","success":true,..}` acks (one per symbol), `{"method":"pong",..}`;
//! a failed request has `"success":false,"error":..`. Keep-alive: the server sends heartbeats
//! about once a second; the client also sends `{"method":"ping"}`.
//!
//! Sources: Kraken API docs "Spot Websockets (v2): book, trade, ticker, ping, heartbeat" and
//! the guide "Spot Websockets (v2) Book Checksum" (docs.kraken.com); see
//! `exchanges/tests/SOURCES.md`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::types::{InstrumentSpec, Instruments, Side};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::book_sync::BookRule;
use crate::md::protocol::{venue_symbols, MdProtocol, Wiring};
use crate::md::{
    decimal, for_each_elem, rfc3339_ns, side, BookMsg, Level, MdError, Msg, MsgKind, Parsed,
    QuoteMsg, TradeMsg, VenueNormalizer,
};
use crate::venue::{Heartbeat, Venue};

/// Public websocket endpoint.
pub const URL: &str = "wss://ws.kraken.com/v2";

/// Depth of the `book` subscription (the checksum always covers the top 10).
pub const BOOK_DEPTH: usize = 25;

/// The Kraken v2 normalizer (holds a reusable level buffer).
#[derive(Debug, Default)]
pub struct Normalizer {
    levels: Vec<Level>,
}

impl Normalizer {
    /// A new normalizer.
    pub fn new() -> Self {
        Self {
            levels: Vec::with_capacity(64),
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    channel: Option<&'a str>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a str>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    #[serde(borrow)]
    symbol: &'a str,
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
    #[serde(borrow)]
    trade_id: &'a RawValue,
    #[serde(borrow)]
    timestamp: &'a str,
}

#[derive(Deserialize)]
struct TickerData<'a> {
    #[serde(borrow)]
    symbol: &'a str,
    #[serde(borrow)]
    bid: &'a RawValue,
    #[serde(borrow)]
    bid_qty: &'a RawValue,
    #[serde(borrow)]
    ask: &'a RawValue,
    #[serde(borrow)]
    ask_qty: &'a RawValue,
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    symbol: &'a str,
    #[serde(borrow, default)]
    bids: Option<&'a RawValue>,
    #[serde(borrow, default)]
    asks: Option<&'a RawValue>,
    #[serde(default)]
    checksum: Option<u32>,
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct LevelData<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

/// A number exactly as the frame spells it (a JSON number, or a decimal string).
fn number(field: &'static str, raw: &RawValue) -> Result<Decimal, MdError> {
    let text = raw.get();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    decimal(field, text)
}

fn push_levels(
    raw: Option<&RawValue>,
    side: Side,
    field: &'static str,
    out: &mut Vec<Level>,
) -> Result<(), MdError> {
    let Some(raw) = raw else {
        return Ok(());
    };
    for_each_elem(raw, |l: LevelData<'_>| {
        out.push((side, number(field, l.price)?, number(field, l.qty)?));
        Ok(())
    })
}

fn opt_time(field: &'static str, t: Option<&str>) -> Result<i64, MdError> {
    t.map_or(Ok(0), |t| rfc3339_ns(field, t))
}

impl VenueNormalizer for Normalizer {
    fn venue(&self) -> Venue {
        Venue::Kraken
    }

    fn normalize<'a>(
        &mut self,
        frame: &'a str,
        sink: &mut dyn FnMut(&Msg<'a, '_>),
    ) -> Result<Parsed, MdError> {
        let env: Envelope<'a> = serde_json::from_str(frame).map_err(MdError::json)?;
        if let Some(method) = env.method {
            if env.success == Some(false) {
                return Ok(Parsed::venue_error(format!(
                    "{method} failed: {}",
                    env.error.as_deref().unwrap_or("no reason given")
                )));
            }
            return Ok(Parsed::control());
        }
        let channel = env.channel.ok_or(MdError::MissingField("channel"))?;
        match channel {
            "heartbeat" | "status" => return Ok(Parsed::control()),
            "trade" | "ticker" | "book" => {}
            other => return Err(MdError::Unsupported(other.to_string())),
        }
        let data = env.data.ok_or(MdError::MissingField("data"))?;
        match channel {
            "trade" => for_each_elem(data, |t: TradeData<'a>| {
                let id = t.trade_id.get();
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(MdError::Invalid {
                        field: "trade_id",
                        problem: "expected an integer",
                    });
                }
                sink(&Msg {
                    symbol: t.symbol,
                    exch_ts_ns: rfc3339_ns("timestamp", t.timestamp)?,
                    kind: MsgKind::Trade(TradeMsg {
                        price: number("price", t.price)?,
                        qty: number("qty", t.qty)?,
                        side: side("side", t.side)?,
                        trade_id: id,
                    }),
                });
                Ok(())
            })?,
            "ticker" => for_each_elem(data, |t: TickerData<'a>| {
                sink(&Msg {
                    symbol: t.symbol,
                    exch_ts_ns: opt_time("timestamp", t.timestamp)?,
                    kind: MsgKind::Quote(QuoteMsg {
                        bid_px: number("bid", t.bid)?,
                        bid_qty: number("bid_qty", t.bid_qty)?,
                        ask_px: number("ask", t.ask)?,
                        ask_qty: number("ask_qty", t.ask_qty)?,
                        seq: None,
                    }),
                });
                Ok(())
            })?,
            _ => {
                let snapshot = match env.kind {
                    Some("snapshot") => true,
                    Some("update") => false,
                    _ => return Err(MdError::MissingField("type")),
                };
                let levels = &mut self.levels;
                for_each_elem(data, |b: BookData<'a>| {
                    levels.clear();
                    push_levels(b.bids, Side::Buy, "bids", levels)?;
                    push_levels(b.asks, Side::Sell, "asks", levels)?;
                    sink(&Msg {
                        symbol: b.symbol,
                        exch_ts_ns: opt_time("timestamp", b.timestamp)?,
                        kind: MsgKind::Book(BookMsg {
                            snapshot,
                            levels: levels.as_slice(),
                            seq: None,
                            first_seq: None,
                            prev_seq: None,
                            cross_seq: None,
                            checksum: b.checksum.map(i64::from),
                        }),
                    });
                    Ok(())
                })?
            }
        }
        Ok(Parsed::data())
    }
}

/// Subscribe requests for `symbols` (`BTC/USD`): trades (no snapshot of past trades), the
/// BBO-triggered ticker, and the book at [`BOOK_DEPTH`].
pub fn subscribe_messages(symbols: &[&str]) -> Vec<String> {
    vec![
        serde_json::json!({"method": "subscribe", "params": {"channel": "trade", "symbol": symbols, "snapshot": false}, "req_id": 1}).to_string(),
        serde_json::json!({"method": "subscribe", "params": {"channel": "ticker", "symbol": symbols, "event_trigger": "bbo"}, "req_id": 2}).to_string(),
        serde_json::json!({"method": "subscribe", "params": {"channel": "book", "symbol": symbols, "depth": BOOK_DEPTH, "snapshot": true}, "req_id": 3}).to_string(),
    ]
}

/// The pair's decimal places, from the configured tick and lot sizes (Kraken's
/// `price_precision`/`qty_precision`: tick 0.1 → 1, lot 0.00000001 → 8).
pub fn precision(spec: &InstrumentSpec) -> (u32, u32) {
    (
        spec.tick_size.normalize().scale(),
        spec.lot_size.normalize().scale(),
    )
}

/// The Kraken market-data protocol for the Kraken instruments of `instruments`. The book
/// checksum needs each pair's precision: configure `tick_size`/`lot_size` as Kraken's
/// `price_increment`/`qty_increment`.
pub fn protocol(instruments: Arc<Instruments>) -> MdProtocol<Normalizer> {
    let symbols = venue_symbols(&instruments, Venue::Kraken);
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let wiring = Wiring {
        url: URL.to_string(),
        subscribe: subscribe_messages(&refs),
        heartbeat: Heartbeat::Text {
            every: Duration::from_secs(30),
            payload: r#"{"method":"ping"}"#.to_string(),
        },
        max_session: None,
    };
    MdProtocol::new(Normalizer::new(), wiring, instruments, |spec| {
        let (price_dp, qty_dp) = precision(spec);
        BookRule::Kraken {
            price_dp,
            qty_dp,
            depth: BOOK_DEPTH,
        }
    })
}

#[cfg(test)]
mod tests;
