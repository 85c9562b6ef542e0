//! Coinbase Advanced Trade public market data: normalizer and websocket wiring.
//!
//! Channels on `wss://advanced-trade-ws.coinbase.com`, one subscribe message per channel:
//! `market_trades`, `ticker` (best bid/offer fields), `level2` (arrives as `l2_data`:
//! `snapshot` then `update` events, `updates[{side: bid|offer, price_level, new_quantity}]`),
//! and `heartbeats` (keeps channels open; counts toward `sequence_num`). Every message carries
//! the envelope `{"channel","client_id","timestamp","sequence_num","events"}`; `sequence_num`
//! is per connection across all channels, so a jump is a gap for every book of the
//! connection. `subscriptions` and `heartbeats` are control; `{"type":"error","message":..}`
//! is a venue error.
//!
//! Trade `side`: the research note (`exchange-protocols.md` §5a) reads the docs as giving the
//! *maker* side, so the aggressor is the opposite side. This is the one venue fact here that
//! could not be confirmed against a second source; it is isolated in [`aggressor`].
//!
//! Sources: Coinbase Developer Platform docs "Advanced Trade WebSocket channels" and
//! "WebSocket overview" (docs.cdp.coinbase.com/advanced-trade); see
//! `exchanges/tests/SOURCES.md`.

use std::borrow::Cow;
use std::sync::Arc;

use peregrine_engine::types::{Instruments, Side};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::book_sync::BookRule;
use crate::md::protocol::{venue_symbols, MdProtocol, Wiring};
use crate::md::{
    decimal, for_each_elem, rfc3339_ns, side, BookMsg, Level, MdError, Msg, MsgKind, Parsed,
    QuoteMsg, TradeMsg, VenueNormalizer,
};
use crate::venue::{Heartbeat, Venue};

/// Public market-data endpoint.
pub const URL: &str = "wss://advanced-trade-ws.coinbase.com";

/// The Coinbase Advanced Trade normalizer (holds a reusable level buffer).
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
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
    #[serde(default)]
    sequence_num: Option<u64>,
    #[serde(borrow, default)]
    events: Option<&'a RawValue>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a str>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct L2Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    product_id: &'a str,
    #[serde(borrow)]
    updates: &'a RawValue,
}

#[derive(Deserialize)]
struct L2Update<'a> {
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    price_level: &'a str,
    #[serde(borrow)]
    new_quantity: &'a str,
}

#[derive(Deserialize)]
struct TradesEvent<'a> {
    #[serde(borrow)]
    trades: &'a RawValue,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    #[serde(borrow)]
    trade_id: &'a str,
    #[serde(borrow)]
    product_id: &'a str,
    #[serde(borrow)]
    price: &'a str,
    #[serde(borrow)]
    size: &'a str,
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    time: &'a str,
}

#[derive(Deserialize)]
struct TickerEvent<'a> {
    #[serde(borrow)]
    tickers: &'a RawValue,
}

#[derive(Deserialize)]
struct TickerData<'a> {
    #[serde(borrow)]
    product_id: &'a str,
    #[serde(borrow)]
    best_bid: &'a str,
    #[serde(borrow)]
    best_bid_quantity: &'a str,
    #[serde(borrow)]
    best_ask: &'a str,
    #[serde(borrow)]
    best_ask_quantity: &'a str,
}

/// The aggressor of a `market_trades` print whose `side` is the maker's side.
pub fn aggressor(maker_side: Side) -> Side {
    maker_side.opposite()
}

impl VenueNormalizer for Normalizer {
    fn venue(&self) -> Venue {
        Venue::Coinbase
    }

    fn normalize<'a>(
        &mut self,
        frame: &'a str,
        sink: &mut dyn FnMut(&Msg<'a, '_>),
    ) -> Result<Parsed, MdError> {
        let env: Envelope<'a> = serde_json::from_str(frame).map_err(MdError::json)?;
        let Some(channel) = env.channel else {
            if env.kind == Some("error") {
                return Ok(Parsed::venue_error(
                    env.message.as_deref().unwrap_or("error").to_string(),
                ));
            }
            return Err(MdError::MissingField("channel"));
        };
        let conn_seq = env.sequence_num;
        let control = matches!(channel, "heartbeats" | "subscriptions");
        if !control && !matches!(channel, "l2_data" | "market_trades" | "ticker") {
            return Err(MdError::Unsupported(channel.to_string()));
        }
        if control {
            let mut p = Parsed::control();
            p.conn_seq = conn_seq;
            return Ok(p);
        }
        let events = env.events.ok_or(MdError::MissingField("events"))?;
        let ts = env.timestamp.ok_or(MdError::MissingField("timestamp"))?;
        let exch_ts_ns = rfc3339_ns("timestamp", ts)?;
        match channel {
            "l2_data" => {
                let levels = &mut self.levels;
                for_each_elem(events, |e: L2Event<'a>| {
                    let snapshot = match e.kind {
                        "snapshot" => true,
                        "update" => false,
                        _ => {
                            return Err(MdError::Invalid {
                                field: "type",
                                problem: "expected snapshot or update",
                            })
                        }
                    };
                    levels.clear();
                    for_each_elem(e.updates, |u: L2Update<'_>| {
                        let side = match u.side {
                            "bid" => Side::Buy,
                            "offer" | "ask" => Side::Sell,
                            _ => {
                                return Err(MdError::Invalid {
                                    field: "side",
                                    problem: "expected bid or offer",
                                })
                            }
                        };
                        levels.push((
                            side,
                            decimal("price_level", u.price_level)?,
                            decimal("new_quantity", u.new_quantity)?,
                        ));
                        Ok(())
                    })?;
                    sink(&Msg {
                        symbol: e.product_id,
                        exch_ts_ns,
                        kind: MsgKind::Book(BookMsg {
                            snapshot,
                            levels: levels.as_slice(),
                            seq: conn_seq,
                            first_seq: None,
                            prev_seq: None,
                            cross_seq: None,
                            checksum: None,
                        }),
                    });
                    Ok(())
                })?;
            }
            "market_trades" => for_each_elem(events, |e: TradesEvent<'a>| {
                for_each_elem(e.trades, |t: TradeData<'a>| {
                    sink(&Msg {
                        symbol: t.product_id,
                        exch_ts_ns: rfc3339_ns("time", t.time)?,
                        kind: MsgKind::Trade(TradeMsg {
                            price: decimal("price", t.price)?,
                            qty: decimal("size", t.size)?,
                            side: aggressor(side("side", t.side)?),
                            trade_id: t.trade_id,
                        }),
                    });
                    Ok(())
                })
            })?,
            _ => for_each_elem(events, |e: TickerEvent<'a>| {
                for_each_elem(e.tickers, |t: TickerData<'a>| {
                    sink(&Msg {
                        symbol: t.product_id,
                        exch_ts_ns,
                        kind: MsgKind::Quote(QuoteMsg {
                            bid_px: decimal("best_bid", t.best_bid)?,
                            bid_qty: decimal("best_bid_quantity", t.best_bid_quantity)?,
                            ask_px: decimal("best_ask", t.best_ask)?,
                            ask_qty: decimal("best_ask_quantity", t.best_ask_quantity)?,
                            seq: conn_seq,
                        }),
                    });
                    Ok(())
                })
            })?,
        }
        Ok(Parsed {
            kind: crate::md::FrameKind::Data,
            conn_seq,
        })
    }
}

/// One subscribe message per channel for `symbols` (`BTC-USD`): `heartbeats`,
/// `market_trades`, `ticker`, `level2`.
pub fn subscribe_messages(symbols: &[&str]) -> Vec<String> {
    ["heartbeats", "market_trades", "ticker", "level2"]
        .iter()
        .map(|c| {
            serde_json::json!({"type": "subscribe", "product_ids": symbols, "channel": c})
                .to_string()
        })
        .collect()
}

/// The Coinbase market-data protocol for the Coinbase instruments of `instruments`.
pub fn protocol(instruments: Arc<Instruments>) -> MdProtocol<Normalizer> {
    let symbols = venue_symbols(&instruments, Venue::Coinbase);
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let wiring = Wiring {
        url: URL.to_string(),
        subscribe: subscribe_messages(&refs),
        // The `heartbeats` channel keeps the connection alive; the client sends nothing.
        heartbeat: Heartbeat::ServerOnly,
        max_session: None,
    };
    MdProtocol::new(Normalizer::new(), wiring, instruments, |_| {
        BookRule::Coinbase
    })
}

#[cfg(test)]
mod tests;
