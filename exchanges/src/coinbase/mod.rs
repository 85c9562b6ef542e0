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

use crate::book_sync::BookRule;
use crate::md::batch::Batch;
use crate::md::channels::Channels;
use crate::md::json::{JsonResult, Reader};
use crate::md::protocol::{venue_symbols, MdProtocol, Wiring};
use crate::md::{
    side, BookMsg, FrameKind, MdError, Msg, Parsed, QuoteMsg, TimeCache, VenueNormalizer,
};
use crate::venue::{Heartbeat, Venue};

/// Public market-data endpoint.
pub const URL: &str = "wss://advanced-trade-ws.coinbase.com";

/// The Coinbase Advanced Trade normalizer: one pass over each frame with [`Reader`], messages
/// collected in a reusable [`Batch`] (no allocation per frame once grown).
#[derive(Debug, Default)]
pub struct Normalizer {
    batch: Batch,
    times: TimeCache,
}

impl Normalizer {
    /// A new normalizer.
    pub fn new() -> Self {
        Self {
            batch: Batch::new(),
            times: TimeCache::new(),
        }
    }
}

/// The aggressor of a `market_trades` print whose `side` is the maker's side.
pub fn aggressor(maker_side: Side) -> Side {
    maker_side.opposite()
}

/// What a channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    L2,
    Trades,
    Ticker,
    Control,
    Other,
}

fn channel_kind(channel: &[u8]) -> Channel {
    match channel {
        b"l2_data" => Channel::L2,
        b"market_trades" => Channel::Trades,
        b"ticker" => Channel::Ticker,
        b"heartbeats" | b"subscriptions" => Channel::Control,
        _ => Channel::Other,
    }
}

/// The envelope's fields.
#[derive(Default)]
struct Envelope<'a> {
    channel: Option<&'a [u8]>,
    timestamp: Option<&'a [u8]>,
    sequence_num: Option<u64>,
    /// `events` was present: read in place, or skipped and its position kept (when it came
    /// before `channel`).
    events: bool,
    events_at: Option<usize>,
    kind: Option<&'a [u8]>,
    message: Option<Cow<'a, str>>,
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
        let batch = &mut self.batch;
        let times = &mut self.times;
        batch.clear();
        let mut env = Envelope::default();
        let mut r = Reader::new(frame);
        let read = r.object(|r, key| {
            match key {
                b"channel" => env.channel = r.opt_str_bytes()?,
                b"timestamp" => env.timestamp = r.opt_str_bytes()?,
                b"sequence_num" => env.sequence_num = r.opt_u64()?,
                b"events" => {
                    if env.events {
                        return Err(r.fail("a single `events` field"));
                    }
                    if r.null()? {
                        return Ok(());
                    }
                    env.events = true;
                    match env.channel.map(channel_kind) {
                        Some(kind) => read_events(r, frame, kind, batch, times)?,
                        None => {
                            env.events_at = Some(r.pos());
                            r.skip()?;
                        }
                    }
                }
                b"type" => env.kind = r.opt_str_bytes()?,
                b"message" => env.message = r.opt_str_cow()?,
                _ => r.skip()?,
            }
            Ok(())
        });
        if read.and_then(|()| r.end()).is_err() {
            return Err(r.error());
        }
        let Some(channel) = env.channel else {
            if env.kind == Some(b"error") {
                return Ok(Parsed::venue_error(
                    env.message.as_deref().unwrap_or("error").to_string(),
                ));
            }
            return Err(MdError::MissingField("channel"));
        };
        let conn_seq = env.sequence_num;
        let kind = channel_kind(channel);
        match kind {
            Channel::Control => {
                let mut p = Parsed::control();
                p.conn_seq = conn_seq;
                return Ok(p);
            }
            Channel::Other => {
                return Err(MdError::Unsupported(
                    String::from_utf8_lossy(channel).into_owned(),
                ))
            }
            Channel::L2 | Channel::Trades | Channel::Ticker => {}
        }
        if !env.events {
            return Err(MdError::MissingField("events"));
        }
        let ts = env.timestamp.ok_or(MdError::MissingField("timestamp"))?;
        let exch_ts_ns = times.ns("timestamp", ts)?;
        if let Some(at) = env.events_at {
            let mut r = Reader::at(frame, at);
            if read_events(&mut r, frame, kind, batch, times).is_err() {
                return Err(r.error());
            }
        }
        // Every book and quote message carries the connection's sequence.
        batch.set_seq(conn_seq);
        batch.emit(frame, exch_ts_ns, false, sink)?;
        Ok(Parsed {
            kind: FrameKind::Data,
            conn_seq,
        })
    }
}

/// Reads the `events` array of a `kind` channel into `batch`.
fn read_events<'a>(
    r: &mut Reader<'a>,
    frame: &'a str,
    kind: Channel,
    batch: &mut Batch,
    times: &mut TimeCache,
) -> JsonResult<()> {
    match kind {
        Channel::L2 => r.array(|r| read_l2_event(r, frame, batch)),
        Channel::Trades => r.array(|r| {
            let mut trades = false;
            r.object(|r, key| {
                if key == b"trades" {
                    trades = true;
                    r.array(|r| read_trade(r, frame, batch, times))
                } else {
                    r.skip()
                }
            })?;
            if !trades {
                batch.fail(MdError::MissingField("trades"));
            }
            Ok(())
        }),
        Channel::Ticker => r.array(|r| {
            let mut tickers = false;
            r.object(|r, key| {
                if key == b"tickers" {
                    tickers = true;
                    r.array(|r| read_ticker(r, frame, batch))
                } else {
                    r.skip()
                }
            })?;
            if !tickers {
                batch.fail(MdError::MissingField("tickers"));
            }
            Ok(())
        }),
        Channel::Control | Channel::Other => r.skip(),
    }
}

/// One `l2_data` event: a snapshot or update of one product.
fn read_l2_event<'a>(r: &mut Reader<'a>, frame: &'a str, batch: &mut Batch) -> JsonResult<()> {
    let start = batch.level_count();
    let (mut kind, mut product_id, mut updates) = (None, None, false);
    r.object(|r, key| {
        match key {
            b"type" => kind = Some(r.str_bytes()?),
            b"product_id" => product_id = Some(r.str()?),
            b"updates" => {
                updates = true;
                let mut more = r.array_start()?;
                while more {
                    read_update(r, batch)?;
                    more = r.array_next()?;
                }
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    let head = (|| -> Result<_, MdError> {
        let kind = kind.ok_or(MdError::MissingField("type"))?;
        let product_id = product_id.ok_or(MdError::MissingField("product_id"))?;
        if !updates {
            return Err(MdError::MissingField("updates"));
        }
        let snapshot = match kind {
            b"snapshot" => true,
            b"update" => false,
            _ => {
                return Err(MdError::Invalid {
                    field: "type",
                    problem: "expected snapshot or update",
                })
            }
        };
        Ok((product_id, snapshot))
    })();
    match batch.check(head) {
        Some((product_id, snapshot)) => batch.book(
            frame,
            product_id,
            None,
            Some(snapshot),
            start,
            BookMsg {
                snapshot,
                levels: &[],
                seq: None,
                first_seq: None,
                prev_seq: None,
                cross_seq: None,
                checksum: None,
            },
        ),
        None => batch.truncate_levels(start),
    }
    Ok(())
}

/// One level update of an `l2_data` event.
fn read_update(r: &mut Reader<'_>, batch: &mut Batch) -> JsonResult<()> {
    let (mut side, mut price, mut qty) = (None, None, None);
    r.object(|r, key| {
        match key {
            b"side" => side = Some(r.str_bytes()?),
            b"price_level" => price = Some(r.decimal_str()?),
            b"new_quantity" => qty = Some(r.decimal_str()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if batch.failed() {
        return Ok(());
    }
    let level = (|| -> Result<_, MdError> {
        let side = side.ok_or(MdError::MissingField("side"))?;
        let price = price.ok_or(MdError::MissingField("price_level"))?;
        let qty = qty.ok_or(MdError::MissingField("new_quantity"))?;
        let side = match side {
            b"bid" => Side::Buy,
            b"offer" | b"ask" => Side::Sell,
            _ => {
                return Err(MdError::Invalid {
                    field: "side",
                    problem: "expected bid or offer",
                })
            }
        };
        Ok((
            side,
            price.decimal("price_level")?,
            qty.decimal("new_quantity")?,
        ))
    })();
    if let Some(level) = batch.check(level) {
        batch.push_level(level);
    }
    Ok(())
}

/// One `market_trades` trade.
fn read_trade<'a>(
    r: &mut Reader<'a>,
    frame: &'a str,
    batch: &mut Batch,
    times: &mut TimeCache,
) -> JsonResult<()> {
    let (mut trade_id, mut product_id, mut price, mut size, mut maker, mut time) =
        (None, None, None, None, None, None);
    r.object(|r, key| {
        match key {
            b"trade_id" => trade_id = Some(r.str()?),
            b"product_id" => product_id = Some(r.str()?),
            b"price" => price = Some(r.decimal_str()?),
            b"size" => size = Some(r.decimal_str()?),
            b"side" => maker = Some(r.str_bytes()?),
            b"time" => time = Some(r.str_bytes()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if batch.failed() {
        return Ok(());
    }
    let fields = (|| -> Result<_, MdError> {
        let trade_id = trade_id.ok_or(MdError::MissingField("trade_id"))?;
        let product_id = product_id.ok_or(MdError::MissingField("product_id"))?;
        let price = price.ok_or(MdError::MissingField("price"))?;
        let size = size.ok_or(MdError::MissingField("size"))?;
        let maker = maker.ok_or(MdError::MissingField("side"))?;
        let time = time.ok_or(MdError::MissingField("time"))?;
        Ok((
            product_id,
            times.ns("time", time)?,
            price.decimal("price")?,
            size.decimal("size")?,
            aggressor(side("side", maker)?),
            trade_id,
        ))
    })();
    if let Some((symbol, ts, price, qty, side, id)) = batch.check(fields) {
        batch.trade(frame, symbol, ts, price, qty, side, id);
    }
    Ok(())
}

/// One `ticker` entry: the best bid and offer.
fn read_ticker<'a>(r: &mut Reader<'a>, frame: &'a str, batch: &mut Batch) -> JsonResult<()> {
    let (mut product_id, mut bid, mut bid_qty, mut ask, mut ask_qty) =
        (None, None, None, None, None);
    r.object(|r, key| {
        match key {
            b"product_id" => product_id = Some(r.str()?),
            b"best_bid" => bid = Some(r.decimal_str()?),
            b"best_bid_quantity" => bid_qty = Some(r.decimal_str()?),
            b"best_ask" => ask = Some(r.decimal_str()?),
            b"best_ask_quantity" => ask_qty = Some(r.decimal_str()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if batch.failed() {
        return Ok(());
    }
    let fields = (|| -> Result<_, MdError> {
        let product_id = product_id.ok_or(MdError::MissingField("product_id"))?;
        let bid = bid.ok_or(MdError::MissingField("best_bid"))?;
        let bid_qty = bid_qty.ok_or(MdError::MissingField("best_bid_quantity"))?;
        let ask = ask.ok_or(MdError::MissingField("best_ask"))?;
        let ask_qty = ask_qty.ok_or(MdError::MissingField("best_ask_quantity"))?;
        Ok((
            product_id,
            QuoteMsg {
                bid_px: bid.decimal("best_bid")?,
                bid_qty: bid_qty.decimal("best_bid_quantity")?,
                ask_px: ask.decimal("best_ask")?,
                ask_qty: ask_qty.decimal("best_ask_quantity")?,
                seq: None,
            },
        ))
    })();
    if let Some((symbol, quote)) = batch.check(fields) {
        batch.quote(frame, symbol, None, quote);
    }
    Ok(())
}

/// One subscribe message per channel for `symbols` (`BTC-USD`): `heartbeats`,
/// `market_trades`, `ticker`, `level2`.
pub fn subscribe_messages(symbols: &[&str], channels: &Channels) -> Vec<String> {
    std::iter::once("heartbeats")
        .chain(channels.names().iter().copied())
        .map(|c| {
            serde_json::json!({"type": "subscribe", "product_ids": symbols, "channel": c})
                .to_string()
        })
        .collect()
}

/// What [`protocol`] subscribes to (besides `heartbeats`) unless the config names fewer.
pub const DEFAULT_CHANNELS: [&str; 3] = ["market_trades", "ticker", "level2"];

/// The Coinbase market-data protocol for the Coinbase instruments of `instruments`.
/// Subscribes to `heartbeats` and `channels` (`None`: [`DEFAULT_CHANNELS`]).
pub fn protocol(
    instruments: Arc<Instruments>,
    channels: Option<&Channels>,
) -> MdProtocol<Normalizer> {
    let symbols = venue_symbols(&instruments, Venue::Coinbase);
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let default = Channels::of(&DEFAULT_CHANNELS);
    let wiring = Wiring {
        url: URL.to_string(),
        subscribe: subscribe_messages(&refs, channels.unwrap_or(&default)),
        // The `heartbeats` channel keeps the connection alive; the client sends nothing.
        heartbeat: Heartbeat::ServerOnly,
        max_session: None,
    };
    MdProtocol::new(Normalizer::new(), wiring, instruments, |_| {
        BookRule::Coinbase
    })
}

#[cfg(test)]
pub(crate) mod tests;
