//! OKX v5 public market data: normalizer and websocket wiring.
//!
//! Channels on `wss://ws.okx.com:8443/ws/v5/public`: `trades` (`side` = taker side,
//! `tradeId`), `bbo-tbt` (best bid/offer), `books` (400-level L2: `action` `snapshot` then
//! `update`, `seqId`/`prevSeqId`, optional `checksum`). Levels are
//! `[px, sz, "0", numOrders]` strings. Control: `{"event":"subscribe",..}` acks,
//! `{"event":"error","code":..,"msg":..}`, `notice` events and the text `pong`. Keep-alive:
//! send the text `ping` when nothing was received for < 30 s.
//!
//! Sources: OKX v5 docs "WebSocket / Public channel / Trades channel, Order book channel"
//! and "Connect" (www.okx.com/docs-v5/en/); see `exchanges/tests/SOURCES.md`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::types::{InstrumentSpec, Instruments, Side};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::book_sync::BookRule;
use crate::md::protocol::{venue_symbols, MdProtocol, Wiring};
use crate::md::{
    decimal, first_str_level, for_each_elem, ms_to_ns, push_str_levels, side, uint_str, BookMsg,
    Level, MdError, Msg, MsgKind, Parsed, QuoteMsg, TradeMsg, VenueNormalizer,
};
use crate::venue::{Heartbeat, Venue};

/// Public websocket endpoint.
pub const URL: &str = "wss://ws.okx.com:8443/ws/v5/public";

/// The OKX v5 normalizer (holds a reusable level buffer).
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
struct Arg<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(rename = "instId", borrow, default)]
    inst_id: Option<&'a str>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    arg: Option<Arg<'a>>,
    #[serde(borrow, default)]
    action: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event: Option<&'a str>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    msg: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    #[serde(rename = "instId", borrow)]
    inst_id: &'a str,
    #[serde(rename = "tradeId", borrow)]
    trade_id: &'a str,
    #[serde(borrow)]
    px: &'a str,
    #[serde(borrow)]
    sz: &'a str,
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    ts: &'a str,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    asks: &'a RawValue,
    #[serde(borrow)]
    bids: &'a RawValue,
    #[serde(borrow)]
    ts: &'a str,
    #[serde(default)]
    checksum: Option<i64>,
    #[serde(rename = "prevSeqId", default)]
    prev_seq_id: Option<i64>,
    #[serde(rename = "seqId", default)]
    seq_id: Option<i64>,
}

fn seq_u64(field: &'static str, v: Option<i64>) -> Result<Option<u64>, MdError> {
    v.map(|s| {
        u64::try_from(s).map_err(|_| MdError::Invalid {
            field,
            problem: "negative",
        })
    })
    .transpose()
}

impl VenueNormalizer for Normalizer {
    fn venue(&self) -> Venue {
        Venue::Okx
    }

    fn normalize<'a>(
        &mut self,
        frame: &'a str,
        sink: &mut dyn FnMut(&Msg<'a, '_>),
    ) -> Result<Parsed, MdError> {
        if frame == "pong" {
            return Ok(Parsed::control());
        }
        let env: Envelope<'a> = serde_json::from_str(frame).map_err(MdError::json)?;
        if let Some(event) = env.event {
            if event == "error" {
                return Ok(Parsed::venue_error(format!(
                    "error {}: {}",
                    env.code.as_deref().unwrap_or("?"),
                    env.msg.as_deref().unwrap_or("")
                )));
            }
            return Ok(Parsed::control());
        }
        let arg = env.arg.ok_or(MdError::MissingField("arg"))?;
        let data = env.data.ok_or(MdError::MissingField("data"))?;
        match arg.channel {
            "trades" | "trades-all" => {
                for_each_elem(data, |t: TradeData<'a>| {
                    sink(&Msg {
                        symbol: t.inst_id,
                        exch_ts_ns: ms_to_ns("ts", uint_str("ts", t.ts)?)?,
                        kind: MsgKind::Trade(TradeMsg {
                            price: decimal("px", t.px)?,
                            qty: decimal("sz", t.sz)?,
                            side: side("side", t.side)?,
                            trade_id: t.trade_id,
                        }),
                    });
                    Ok(())
                })?;
            }
            "bbo-tbt" => {
                let symbol = arg.inst_id.ok_or(MdError::MissingField("instId"))?;
                for_each_elem(data, |b: BookData<'a>| {
                    let bid = first_str_level(b.bids, "bids")?;
                    let ask = first_str_level(b.asks, "asks")?;
                    let exch_ts_ns = ms_to_ns("ts", uint_str("ts", b.ts)?)?;
                    if let (Some((bid_px, bid_qty)), Some((ask_px, ask_qty))) = (bid, ask) {
                        sink(&Msg {
                            symbol,
                            exch_ts_ns,
                            kind: MsgKind::Quote(QuoteMsg {
                                bid_px,
                                bid_qty,
                                ask_px,
                                ask_qty,
                                seq: seq_u64("seqId", b.seq_id)?,
                            }),
                        });
                    }
                    Ok(())
                })?;
            }
            "books" | "books-l2-tbt" | "books50-l2-tbt" => {
                let symbol = arg.inst_id.ok_or(MdError::MissingField("instId"))?;
                let snapshot = match env.action {
                    Some("snapshot") => true,
                    Some("update") => false,
                    _ => return Err(MdError::MissingField("action")),
                };
                let levels = &mut self.levels;
                for_each_elem(data, |b: BookData<'a>| {
                    levels.clear();
                    push_str_levels(b.bids, Side::Buy, "bids", levels)?;
                    push_str_levels(b.asks, Side::Sell, "asks", levels)?;
                    sink(&Msg {
                        symbol,
                        exch_ts_ns: ms_to_ns("ts", uint_str("ts", b.ts)?)?,
                        kind: MsgKind::Book(BookMsg {
                            snapshot,
                            levels: levels.as_slice(),
                            seq: seq_u64("seqId", b.seq_id)?,
                            first_seq: None,
                            prev_seq: b.prev_seq_id,
                            cross_seq: None,
                            checksum: b.checksum,
                        }),
                    });
                    Ok(())
                })?;
            }
            other => return Err(MdError::Unsupported(other.to_string())),
        }
        Ok(Parsed::data())
    }
}

/// One subscribe request for `symbols` (instIds): `trades`, `bbo-tbt` and `books` each.
pub fn subscribe_messages(symbols: &[&str]) -> Vec<String> {
    let args: Vec<serde_json::Value> = symbols
        .iter()
        .flat_map(|s| {
            ["trades", "bbo-tbt", "books"].map(|c| serde_json::json!({"channel": c, "instId": s}))
        })
        .collect();
    vec![serde_json::json!({"id": "1", "op": "subscribe", "args": args}).to_string()]
}

/// The OKX market-data protocol for the OKX instruments of `instruments`.
pub fn protocol(instruments: Arc<Instruments>) -> MdProtocol<Normalizer> {
    let symbols = venue_symbols(&instruments, Venue::Okx);
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let wiring = Wiring {
        url: URL.to_string(),
        subscribe: subscribe_messages(&refs),
        heartbeat: Heartbeat::Text {
            every: Duration::from_secs(25),
            payload: "ping".to_string(),
        },
        max_session: None,
    };
    MdProtocol::new(
        Normalizer::new(),
        wiring,
        instruments,
        |_: &InstrumentSpec| BookRule::Okx,
    )
}

#[cfg(test)]
mod tests;
