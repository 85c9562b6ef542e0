//! Bybit v5 public market data (spot and linear): normalizer and websocket wiring.
//!
//! Topics: `publicTrade.{symbol}` (trades, `S` = taker side), `orderbook.1.{symbol}` (best
//! bid/offer), `orderbook.50.{symbol}` (L2: `snapshot` then `delta`, `u` update id, `seq`
//! cross sequence), `tickers.{symbol}` (linear: a `snapshot` then `delta`s carrying only the
//! changed fields, merged per symbol into a full quote of `bid1Price`/`bid1Size`/`ask1Price`/
//! `ask1Size` with `cs` as its sequence; spot: snapshots without a best bid/offer, read and
//! yielding nothing). Control frames: subscribe acks and pongs (`{"success":true,"ret_msg":..,
//! "op":..}`, or `{"op":"pong",..}`), failures `success:false` with `ret_msg`.
//! Keep-alive: the client sends `{"op":"ping"}` every 20 s.
//!
//! Sources: Bybit v5 docs "WebSocket Stream / Public / Orderbook", "Trade", "Connect"
//! (bybit-exchange.github.io/docs/v5/ws/connect); see `exchanges/tests/SOURCES.md`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::types::{InstrumentSpec, Instruments, Side};
use rust_decimal::Decimal;

use crate::book_sync::BookRule;
use crate::md::batch::Batch;
use crate::md::channels::Channels;
use crate::md::json::{JsonResult, Num, Reader};
use crate::md::protocol::{venue_symbols, MdProtocol, Wiring};
use crate::md::{
    ms_to_ns, read_first_str_level, read_str_levels, side, BookMsg, MdError, Msg, Parsed, QuoteMsg,
    VenueNormalizer,
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

/// The Bybit v5 normalizer: one pass over each frame with [`Reader`], messages collected in a
/// reusable [`Batch`] (no allocation per frame once grown).
#[derive(Debug, Default)]
pub struct Normalizer {
    batch: Batch,
    /// Per symbol, the `tickers` best bid/offer so far (`bid1Price`, `bid1Size`, `ask1Price`,
    /// `ask1Size`): a linear `delta` carries only the fields that changed.
    tickers: Vec<(Box<str>, [Option<Decimal>; 4])>,
}

impl Normalizer {
    /// A new normalizer.
    pub fn new() -> Self {
        Self {
            batch: Batch::new(),
            tickers: Vec::new(),
        }
    }
}

/// The fields of a `tickers` data object this normalizer reads.
#[derive(Default, Clone, Copy)]
struct Ticker<'a> {
    symbol: Option<&'a str>,
    /// `bid1Price`, `bid1Size`, `ask1Price`, `ask1Size`.
    bbo: [Option<Num<'a>>; 4],
}

const TICKER_FIELDS: [&str; 4] = ["bid1Price", "bid1Size", "ask1Price", "ask1Size"];

fn read_ticker<'a>(r: &mut Reader<'a>) -> JsonResult<Ticker<'a>> {
    let mut t = Ticker::default();
    r.object(|r, key| {
        match key {
            b"symbol" => t.symbol = Some(r.str()?),
            b"bid1Price" => t.bbo[0] = Some(r.decimal_str()?),
            b"bid1Size" => t.bbo[1] = Some(r.decimal_str()?),
            b"ask1Price" => t.bbo[2] = Some(r.decimal_str()?),
            b"ask1Size" => t.bbo[3] = Some(r.decimal_str()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(t)
}

/// What a topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic {
    Trade,
    Bbo,
    Book,
    Tickers,
    Other,
}

fn topic_kind(topic: &str) -> Topic {
    if topic.starts_with("publicTrade.") {
        Topic::Trade
    } else if topic.starts_with("tickers.") {
        Topic::Tickers
    } else if let Some(rest) = topic.strip_prefix("orderbook.") {
        if rest.starts_with("1.") {
            Topic::Bbo
        } else {
            Topic::Book
        }
    } else {
        Topic::Other
    }
}

/// The envelope's fields.
#[derive(Default)]
struct Envelope<'a> {
    topic: Option<&'a str>,
    kind: Option<&'a str>,
    ts: Option<u64>,
    cts: Option<u64>,
    /// `data` was present: read in place, or skipped and its position kept (when it came
    /// before `topic`).
    data: bool,
    data_at: Option<usize>,
    success: Option<bool>,
    ret_msg: Option<Cow<'a, str>>,
    op: Option<&'a str>,
    /// A `tickers` data object.
    ticker: Option<Ticker<'a>>,
    /// `cs`, the cross sequence of a `tickers` push.
    cs: Option<u64>,
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
        let batch = &mut self.batch;
        batch.clear();
        let mut env = Envelope::default();
        let mut r = Reader::new(frame);
        let read = r.object(|r, key| {
            match key {
                b"topic" => env.topic = r.opt_str()?,
                b"type" => env.kind = r.opt_str()?,
                b"ts" => env.ts = r.opt_u64()?,
                b"cts" => env.cts = r.opt_u64()?,
                b"data" => {
                    if env.data {
                        return Err(r.fail("a single `data` field"));
                    }
                    if r.null()? {
                        return Ok(());
                    }
                    env.data = true;
                    match env.topic.map(topic_kind) {
                        Some(Topic::Tickers) => env.ticker = Some(read_ticker(r)?),
                        Some(kind) => read_data(r, frame, kind, batch)?,
                        None => {
                            env.data_at = Some(r.pos());
                            r.skip()?;
                        }
                    }
                }
                b"success" => env.success = r.opt_bool()?,
                b"ret_msg" => env.ret_msg = r.opt_str_cow()?,
                b"op" => env.op = r.opt_str()?,
                b"cs" => env.cs = r.opt_u64()?,
                _ => r.skip()?,
            }
            Ok(())
        });
        if read.and_then(|()| r.end()).is_err() {
            return Err(r.error());
        }
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
        if !env.data {
            return Err(MdError::MissingField("data"));
        }
        let ts_ms = env.cts.or(env.ts).ok_or(MdError::MissingField("ts"))?;
        let exch_ts_ns = ms_to_ns("ts", ts_ms)?;
        let kind = topic_kind(topic);
        if kind == Topic::Other {
            return Err(MdError::Unsupported(topic.to_string()));
        }
        if let Some(at) = env.data_at {
            let mut r = Reader::at(frame, at);
            let read = if kind == Topic::Tickers {
                read_ticker(&mut r).map(|t| env.ticker = Some(t))
            } else {
                read_data(&mut r, frame, kind, batch)
            };
            if read.is_err() {
                return Err(r.error());
            }
        }
        if kind == Topic::Tickers {
            let snapshot = match env.kind {
                Some("snapshot") => true,
                Some("delta") => false,
                _ => return Err(MdError::MissingField("type")),
            };
            let ticker = env.ticker.ok_or(MdError::MissingField("data"))?;
            self.merge_ticker(frame, ticker, snapshot, env.cs)?;
            self.batch.emit(frame, exch_ts_ns, false, sink)?;
            return Ok(Parsed::data());
        }
        let batch = &mut self.batch;
        let mut snapshot = false;
        if kind != Topic::Trade {
            if let Some(e) = batch.take_error() {
                return Err(e);
            }
            snapshot = match env.kind {
                Some("snapshot") => true,
                Some("delta") => false,
                _ => return Err(MdError::MissingField("type")),
            };
        }
        batch.emit(frame, exch_ts_ns, snapshot, sink)?;
        Ok(Parsed::data())
    }
}

impl Normalizer {
    /// Merges a `tickers` push into the symbol's best bid/offer (a snapshot replaces it, a
    /// delta changes the fields it carries) and collects a quote once all four are known.
    /// Spot tickers carry no best bid/offer: they are read and yield nothing.
    fn merge_ticker(
        &mut self,
        frame: &str,
        t: Ticker<'_>,
        snapshot: bool,
        cs: Option<u64>,
    ) -> Result<(), MdError> {
        let symbol = t.symbol.ok_or(MdError::MissingField("symbol"))?;
        if symbol.is_empty() {
            return Err(MdError::EmptySymbol);
        }
        let mut values = [None; 4];
        for (i, n) in t.bbo.iter().enumerate() {
            if let Some(n) = n {
                values[i] = Some(n.decimal(TICKER_FIELDS[i])?);
            }
        }
        let at = match self.tickers.iter().position(|(s, _)| **s == *symbol) {
            Some(i) => i,
            None => {
                self.tickers.push((symbol.into(), [None; 4]));
                self.tickers.len() - 1
            }
        };
        let state = &mut self.tickers[at].1;
        for (slot, v) in state.iter_mut().zip(values) {
            if snapshot || v.is_some() {
                *slot = v;
            }
        }
        if let [Some(bid_px), Some(bid_qty), Some(ask_px), Some(ask_qty)] = *state {
            let quote = QuoteMsg {
                bid_px,
                bid_qty,
                ask_px,
                ask_qty,
                seq: cs,
            };
            self.batch.quote(frame, symbol, None, quote);
        }
        match self.batch.take_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Reads the `data` value of a `kind` topic into `batch`.
fn read_data<'a>(
    r: &mut Reader<'a>,
    frame: &'a str,
    kind: Topic,
    batch: &mut Batch,
) -> JsonResult<()> {
    match kind {
        Topic::Trade => r.array(|r| read_trade(r, frame, batch)),
        Topic::Bbo | Topic::Book => read_book(r, frame, kind == Topic::Bbo, batch),
        Topic::Tickers | Topic::Other => r.skip(),
    }
}

/// One `publicTrade` element.
fn read_trade<'a>(r: &mut Reader<'a>, frame: &'a str, batch: &mut Batch) -> JsonResult<()> {
    let (mut time, mut s, mut taker, mut v, mut p, mut i) = (None, None, None, None, None, None);
    r.object(|r, key| {
        match key {
            b"T" => time = Some(r.u64()?),
            b"s" => s = Some(r.str()?),
            b"S" => taker = Some(r.str()?),
            b"v" => v = Some(r.decimal_str()?),
            b"p" => p = Some(r.decimal_str()?),
            b"i" => i = Some(r.str()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if batch.failed() {
        return Ok(());
    }
    let fields = (|| -> Result<_, MdError> {
        let time = time.ok_or(MdError::MissingField("T"))?;
        let s = s.ok_or(MdError::MissingField("s"))?;
        let taker = taker.ok_or(MdError::MissingField("S"))?;
        let v = v.ok_or(MdError::MissingField("v"))?;
        let p = p.ok_or(MdError::MissingField("p"))?;
        let i = i.ok_or(MdError::MissingField("i"))?;
        Ok((
            s,
            ms_to_ns("T", time)?,
            p.decimal("p")?,
            v.decimal("v")?,
            side("S", taker)?,
            i,
        ))
    })();
    if let Some((s, ts, price, qty, side, id)) = batch.check(fields) {
        batch.trade(frame, s, ts, price, qty, side, id);
    }
    Ok(())
}

/// An `orderbook` data object: the best bid and offer (`bbo`) or all levels.
fn read_book<'a>(
    r: &mut Reader<'a>,
    frame: &'a str,
    bbo: bool,
    batch: &mut Batch,
) -> JsonResult<()> {
    let start = batch.level_count();
    let (mut s, mut u, mut seq) = (None, None, None);
    let (mut bids, mut asks) = (false, false);
    let (mut best_bid, mut best_ask) = (None, None);
    r.object(|r, key| {
        match key {
            b"s" => s = Some(r.str()?),
            b"u" => u = Some(r.u64()?),
            b"seq" => seq = r.opt_u64()?,
            b"b" if bbo => best_bid = Some(read_first_str_level(r)?),
            b"a" if bbo => best_ask = Some(read_first_str_level(r)?),
            b"b" => {
                read_str_levels(r, Side::Buy, "b", batch)?;
                bids = true;
            }
            b"a" => {
                read_str_levels(r, Side::Sell, "a", batch)?;
                asks = true;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    let missing = if s.is_none() {
        Some("s")
    } else if !bids && best_bid.is_none() {
        Some("b")
    } else if !asks && best_ask.is_none() {
        Some("a")
    } else if u.is_none() {
        Some("u")
    } else {
        None
    };
    if let Some(field) = missing {
        batch.fail(MdError::MissingField(field));
    }
    let (Some(s), Some(u)) = (s, u) else {
        return Ok(());
    };
    if bbo {
        let quote = (|| -> Result<_, MdError> {
            let (Some(Some((bp, bq))), Some(Some((ap, aq)))) = (best_bid, best_ask) else {
                return Ok(None);
            };
            Ok(Some(QuoteMsg {
                bid_px: bp.decimal("b")?,
                bid_qty: bq.decimal("b")?,
                ask_px: ap.decimal("a")?,
                ask_qty: aq.decimal("a")?,
                seq: Some(u),
            }))
        })();
        if let Some(Some(q)) = batch.check(quote) {
            batch.quote(frame, s, None, q);
        }
        return Ok(());
    }
    batch.book(
        frame,
        s,
        None,
        None,
        start,
        BookMsg {
            snapshot: false,
            levels: &[],
            seq: Some(u),
            first_seq: None,
            prev_seq: None,
            cross_seq: seq,
            checksum: None,
        },
    );
    Ok(())
}

/// The public endpoint of a category.
pub fn url(category: Category) -> &'static str {
    match category {
        Category::Spot => "wss://stream.bybit.com/v5/public/spot",
        Category::Linear => "wss://stream.bybit.com/v5/public/linear",
    }
}

/// What [`protocol`] subscribes to unless the config names other channels (topic prefixes).
pub const DEFAULT_CHANNELS: [&str; 3] = ["publicTrade", "orderbook.1", "orderbook.50"];

/// Subscribe requests for `symbols` (venue spelling): topic `<channel>.<symbol>` for each of
/// `channels` (e.g. `orderbook.50.BTCUSDT`). Spot accepts at most 10 args per request, so
/// topics are sent in chunks of 10.
pub fn subscribe_messages(symbols: &[&str], channels: &Channels) -> Vec<String> {
    let topics: Vec<String> = symbols
        .iter()
        .flat_map(|s| channels.names().iter().map(move |c| format!("{c}.{s}")))
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

/// The Bybit market-data protocol for the Bybit instruments of `instruments`, subscribing to
/// `channels` (`None`: [`DEFAULT_CHANNELS`]).
pub fn protocol(
    instruments: Arc<Instruments>,
    category: Category,
    channels: Option<&Channels>,
) -> MdProtocol<Normalizer> {
    let symbols = venue_symbols(&instruments, Venue::Bybit);
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let default = Channels::of(&DEFAULT_CHANNELS);
    let wiring = Wiring {
        url: url(category).to_string(),
        subscribe: subscribe_messages(&refs, channels.unwrap_or(&default)),
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
pub(crate) mod tests;
