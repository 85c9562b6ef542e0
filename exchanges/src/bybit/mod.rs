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

use crate::book_sync::BookRule;
use crate::md::batch::Batch;
use crate::md::json::{JsonResult, Reader};
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

/// Depth of the L2 topic subscribed to (`orderbook.50`).
pub const BOOK_DEPTH: u32 = 50;

/// The Bybit v5 normalizer: one pass over each frame with [`Reader`], messages collected in a
/// reusable [`Batch`] (no allocation per frame once grown).
#[derive(Debug, Default)]
pub struct Normalizer {
    batch: Batch,
}

impl Normalizer {
    /// A new normalizer.
    pub fn new() -> Self {
        Self {
            batch: Batch::new(),
        }
    }
}

/// What a topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic {
    Trade,
    Bbo,
    Book,
    Other,
}

fn topic_kind(topic: &str) -> Topic {
    if topic.starts_with("publicTrade.") {
        Topic::Trade
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
            if read_data(&mut r, frame, kind, batch).is_err() {
                return Err(r.error());
            }
        }
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
        Topic::Other => r.skip(),
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
pub(crate) mod tests;
