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

use crate::book_sync::BookRule;
use crate::md::batch::Batch;
use crate::md::channels::Channels;
use crate::md::json::{JsonResult, Num, Reader};
use crate::md::protocol::{venue_symbols, MdProtocol, Wiring};
use crate::md::{side, BookMsg, MdError, Msg, Parsed, QuoteMsg, TimeCache, VenueNormalizer};
use crate::venue::{Heartbeat, Venue};

/// Public websocket endpoint.
pub const URL: &str = "wss://ws.kraken.com/v2";

/// Depth of the `book` subscription (the checksum always covers the top 10).
pub const BOOK_DEPTH: usize = 25;

/// The Kraken v2 normalizer: one pass over each frame with [`Reader`], messages collected in
/// a reusable [`Batch`] (no allocation per frame once grown).
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

/// What a channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Trade,
    Ticker,
    Book,
    Control,
    Other,
}

fn channel_kind(channel: &str) -> Channel {
    match channel {
        "trade" => Channel::Trade,
        "ticker" => Channel::Ticker,
        "book" => Channel::Book,
        "heartbeat" | "status" => Channel::Control,
        _ => Channel::Other,
    }
}

/// The envelope's fields.
#[derive(Default)]
struct Envelope<'a> {
    channel: Option<&'a str>,
    kind: Option<&'a str>,
    /// `data` was present: read in place, or skipped and its position kept (when it came
    /// before `channel`).
    data: bool,
    data_at: Option<usize>,
    method: Option<&'a str>,
    success: Option<bool>,
    error: Option<Cow<'a, str>>,
}

/// A number exactly as the frame spells it: a JSON number's own text, or a decimal string's
/// content. Any other value gives its JSON text (a bad number).
#[inline(always)]
fn number<'a>(r: &mut Reader<'a>) -> JsonResult<Num<'a>> {
    match r.peek() {
        Some(b'"') => r.decimal_str(),
        Some(b'-' | b'0'..=b'9') => r.decimal_number(),
        _ => Ok(Num::text_only(r.raw()?.as_bytes())),
    }
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
        let batch = &mut self.batch;
        let times = &mut self.times;
        batch.clear();
        let mut env = Envelope::default();
        let mut r = Reader::new(frame);
        let read = r.object(|r, key| {
            match key {
                b"channel" => env.channel = r.opt_str()?,
                b"type" => env.kind = r.opt_str()?,
                b"data" => {
                    if env.data {
                        return Err(r.fail("a single `data` field"));
                    }
                    if r.null()? {
                        return Ok(());
                    }
                    env.data = true;
                    match env.channel.map(channel_kind) {
                        Some(kind) => read_data(r, frame, kind, batch, times)?,
                        None => {
                            env.data_at = Some(r.pos());
                            r.skip()?;
                        }
                    }
                }
                b"method" => env.method = r.opt_str()?,
                b"success" => env.success = r.opt_bool()?,
                b"error" => env.error = r.opt_str_cow()?,
                _ => r.skip()?,
            }
            Ok(())
        });
        if read.and_then(|()| r.end()).is_err() {
            return Err(r.error());
        }
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
        let kind = channel_kind(channel);
        match kind {
            Channel::Control => return Ok(Parsed::control()),
            Channel::Other => return Err(MdError::Unsupported(channel.to_string())),
            Channel::Trade | Channel::Ticker | Channel::Book => {}
        }
        if !env.data {
            return Err(MdError::MissingField("data"));
        }
        let mut snapshot = false;
        if kind == Channel::Book {
            snapshot = match env.kind {
                Some("snapshot") => true,
                Some("update") => false,
                _ => return Err(MdError::MissingField("type")),
            };
        }
        if let Some(at) = env.data_at {
            let mut r = Reader::at(frame, at);
            if read_data(&mut r, frame, kind, batch, times).is_err() {
                return Err(r.error());
            }
        }
        batch.emit(frame, 0, snapshot, sink)?;
        Ok(Parsed::data())
    }
}

/// Reads the `data` array of a `kind` channel into `batch`.
fn read_data<'a>(
    r: &mut Reader<'a>,
    frame: &'a str,
    kind: Channel,
    batch: &mut Batch,
    times: &mut TimeCache,
) -> JsonResult<()> {
    match kind {
        Channel::Trade => r.array(|r| read_trade(r, frame, batch, times)),
        Channel::Ticker => r.array(|r| read_ticker(r, frame, batch, times)),
        Channel::Book => r.array(|r| read_book(r, frame, batch, times)),
        Channel::Control | Channel::Other => r.skip(),
    }
}

fn opt_time(times: &mut TimeCache, field: &'static str, t: Option<&str>) -> Result<i64, MdError> {
    t.map_or(Ok(0), |t| times.ns(field, t))
}

/// One `trade` element.
fn read_trade<'a>(
    r: &mut Reader<'a>,
    frame: &'a str,
    batch: &mut Batch,
    times: &mut TimeCache,
) -> JsonResult<()> {
    let (mut symbol, mut taker, mut price, mut qty, mut trade_id, mut timestamp) =
        (None, None, None, None, None, None);
    r.object(|r, key| {
        match key {
            b"symbol" => symbol = Some(r.str()?),
            b"side" => taker = Some(r.str()?),
            b"price" => price = Some(number(r)?),
            b"qty" => qty = Some(number(r)?),
            b"trade_id" => trade_id = Some(r.raw()?),
            b"timestamp" => timestamp = Some(r.str()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if batch.failed() {
        return Ok(());
    }
    let fields = (|| -> Result<_, MdError> {
        let symbol = symbol.ok_or(MdError::MissingField("symbol"))?;
        let taker = taker.ok_or(MdError::MissingField("side"))?;
        let price = price.ok_or(MdError::MissingField("price"))?;
        let qty = qty.ok_or(MdError::MissingField("qty"))?;
        let id = trade_id.ok_or(MdError::MissingField("trade_id"))?;
        let timestamp = timestamp.ok_or(MdError::MissingField("timestamp"))?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MdError::Invalid {
                field: "trade_id",
                problem: "expected an integer",
            });
        }
        Ok((
            symbol,
            times.ns("timestamp", timestamp)?,
            price.decimal("price")?,
            qty.decimal("qty")?,
            side("side", taker)?,
            id,
        ))
    })();
    if let Some((symbol, ts, price, qty, side, id)) = batch.check(fields) {
        batch.trade(frame, symbol, ts, price, qty, side, id);
    }
    Ok(())
}

/// One `ticker` element: the best bid and offer.
fn read_ticker<'a>(
    r: &mut Reader<'a>,
    frame: &'a str,
    batch: &mut Batch,
    times: &mut TimeCache,
) -> JsonResult<()> {
    let (mut symbol, mut bid, mut bid_qty, mut ask, mut ask_qty, mut timestamp) =
        (None, None, None, None, None, None);
    r.object(|r, key| {
        match key {
            b"symbol" => symbol = Some(r.str()?),
            b"bid" => bid = Some(number(r)?),
            b"bid_qty" => bid_qty = Some(number(r)?),
            b"ask" => ask = Some(number(r)?),
            b"ask_qty" => ask_qty = Some(number(r)?),
            b"timestamp" => timestamp = r.opt_str()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if batch.failed() {
        return Ok(());
    }
    let fields = (|| -> Result<_, MdError> {
        let symbol = symbol.ok_or(MdError::MissingField("symbol"))?;
        let bid = bid.ok_or(MdError::MissingField("bid"))?;
        let bid_qty = bid_qty.ok_or(MdError::MissingField("bid_qty"))?;
        let ask = ask.ok_or(MdError::MissingField("ask"))?;
        let ask_qty = ask_qty.ok_or(MdError::MissingField("ask_qty"))?;
        Ok((
            symbol,
            opt_time(times, "timestamp", timestamp)?,
            QuoteMsg {
                bid_px: bid.decimal("bid")?,
                bid_qty: bid_qty.decimal("bid_qty")?,
                ask_px: ask.decimal("ask")?,
                ask_qty: ask_qty.decimal("ask_qty")?,
                seq: None,
            },
        ))
    })();
    if let Some((symbol, ts, quote)) = batch.check(fields) {
        batch.quote(frame, symbol, Some(ts), quote);
    }
    Ok(())
}

/// Reads `[{"price":..,"qty":..},..]` into `batch` with `side`; a bad number is kept as the
/// batch's error.
fn read_levels(
    r: &mut Reader<'_>,
    side: Side,
    field: &'static str,
    batch: &mut Batch,
) -> JsonResult<()> {
    let mut more = r.array_start()?;
    while more {
        let (mut price, mut qty) = (None, None);
        r.object(|r, key| {
            match key {
                b"price" => price = Some(number(r)?),
                b"qty" => qty = Some(number(r)?),
                _ => r.skip()?,
            }
            Ok(())
        })?;
        let (Some(price), Some(qty)) = (price, qty) else {
            return Err(r.fail("a level with price and qty"));
        };
        if !batch.failed() {
            if let (Some(p), Some(q)) = (price.value(), qty.value()) {
                batch.push_level((side, p, q));
            } else {
                match (price.decimal(field), qty.decimal(field)) {
                    (Ok(p), Ok(q)) => batch.push_level((side, p, q)),
                    (Err(e), _) | (_, Err(e)) => batch.fail(e),
                }
            }
        }
        more = r.array_next()?;
    }
    Ok(())
}

/// One `book` element.
fn read_book<'a>(
    r: &mut Reader<'a>,
    frame: &'a str,
    batch: &mut Batch,
    times: &mut TimeCache,
) -> JsonResult<()> {
    let start = batch.level_count();
    let (mut symbol, mut checksum, mut timestamp) = (None, None, None);
    r.object(|r, key| {
        match key {
            b"symbol" => symbol = Some(r.str()?),
            b"checksum" => {
                checksum = match r.opt_u64()? {
                    Some(c) => Some(u32::try_from(c).map_err(|_| r.fail("a 32-bit checksum"))?),
                    None => None,
                }
            }
            b"timestamp" => timestamp = r.opt_str()?,
            b"bids" => {
                if !r.null()? {
                    read_levels(r, Side::Buy, "bids", batch)?;
                }
            }
            b"asks" => {
                if !r.null()? {
                    read_levels(r, Side::Sell, "asks", batch)?;
                }
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    let Some(symbol) = symbol else {
        batch.fail(MdError::MissingField("symbol"));
        return Ok(());
    };
    let ts = opt_time(times, "timestamp", timestamp);
    match batch.check(ts) {
        Some(ts) => batch.book(
            frame,
            symbol,
            Some(ts),
            None,
            start,
            BookMsg {
                snapshot: false,
                levels: &[],
                seq: None,
                first_seq: None,
                prev_seq: None,
                cross_seq: None,
                checksum: checksum.map(i64::from),
            },
        ),
        None => batch.truncate_levels(start),
    }
    Ok(())
}

/// What [`protocol`] subscribes to unless the config names fewer channels.
pub const DEFAULT_CHANNELS: [&str; 3] = ["trade", "ticker", "book"];

/// Subscribe requests for `symbols` (`BTC/USD`), for each of `channels`: trades (no snapshot
/// of past trades), the BBO-triggered ticker, the book at [`BOOK_DEPTH`].
pub fn subscribe_messages(symbols: &[&str], channels: &Channels) -> Vec<String> {
    let all = [
        serde_json::json!({"method": "subscribe", "params": {"channel": "trade", "symbol": symbols, "snapshot": false}, "req_id": 1}),
        serde_json::json!({"method": "subscribe", "params": {"channel": "ticker", "symbol": symbols, "event_trigger": "bbo"}, "req_id": 2}),
        serde_json::json!({"method": "subscribe", "params": {"channel": "book", "symbol": symbols, "depth": BOOK_DEPTH, "snapshot": true}, "req_id": 3}),
    ];
    all.iter()
        .filter(|m| {
            m["params"]["channel"]
                .as_str()
                .is_some_and(|c| channels.has(c))
        })
        .map(serde_json::Value::to_string)
        .collect()
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
/// `price_increment`/`qty_increment`. Subscribes to `channels` (`None`: [`DEFAULT_CHANNELS`]).
pub fn protocol(
    instruments: Arc<Instruments>,
    channels: Option<&Channels>,
) -> MdProtocol<Normalizer> {
    let symbols = venue_symbols(&instruments, Venue::Kraken);
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let default = Channels::of(&DEFAULT_CHANNELS);
    let wiring = Wiring {
        url: URL.to_string(),
        subscribe: subscribe_messages(&refs, channels.unwrap_or(&default)),
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
pub(crate) mod tests;
