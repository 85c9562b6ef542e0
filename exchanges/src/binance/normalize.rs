//! Binance spot market data on the shared `md` reader: websocket frames (and the REST depth
//! snapshot) to borrowed [`Msg`]s, like every other venue.
//!
//! Accepts combined-stream frames (`{"stream":"btcusdt@trade","data":{...}}`) and raw payloads
//! (`{"e":"trade",...}`) of the `trade`, `aggTrade`, `bookTicker`, diff depth (`@depth`,
//! `@depth@100ms`) and partial depth (`@depth<5|10|20>[@100ms]`) streams, the REST
//! `GET /api/v3/depth` body, and the control frames a market-data socket sends
//! (`{"result":null,"id":1}`, `{"code":..,"msg":..}`).
//!
//! One pass over the frame with [`Reader`]; `b`/`a` are read by their JSON shape (an order id
//! in old trade payloads, a price in `bookTicker`, levels in `depthUpdate`), so the payload
//! can be read before its kind is known. The kind is taken from `e` when present, else from
//! the stream name, else from the shape (a raw `bookTicker` has no `e`; a raw partial depth
//! and the REST snapshot are `lastUpdateId` + `bids` + `asks`). A partial depth names its
//! symbol only in the stream name (lower case, as Binance spells stream names); raw, it names
//! none and its message's symbol is empty (the consumer knows the instrument it asked for).
//! An `e` this normalizer does not decode is [`MdError::Unsupported`] with the event name
//! (the feed reconnects on `serverShutdown`).

use std::borrow::Cow;

use peregrine_engine::types::Side;

use crate::md::batch::Batch;
use crate::md::json::{JsonResult, Num, Reader};
use crate::md::{
    ms_to_ns, read_str_levels, BookMsg, MdError, Msg, Parsed, QuoteMsg, VenueNormalizer,
};
use crate::venue::Venue;

/// The Binance normalizer: one pass over each frame with [`Reader`], its message collected in
/// a reusable [`Batch`] (no allocation per frame once grown).
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

/// `b`/`a`, by their shape.
#[derive(Clone, Copy)]
enum Ba<'a> {
    /// An integer (an order id in old trade payloads).
    Id,
    /// A decimal string (a `bookTicker` price).
    Num(Num<'a>),
    /// An array of levels (a `depthUpdate` side), collected in the batch.
    Levels,
}

/// Everything one pass collects, from the envelope and the payload alike (their keys don't
/// collide).
#[derive(Default)]
struct Fields<'a> {
    stream: Option<&'a str>,
    data: bool,
    result: bool,
    code: Option<i64>,
    msg: Option<Cow<'a, str>>,
    event: Option<&'a str>,
    event_time: Option<u64>,
    trade_time: Option<u64>,
    symbol: Option<&'a str>,
    trade_id: Option<&'a str>,
    p: Option<Num<'a>>,
    q: Option<Num<'a>>,
    m: Option<bool>,
    u: Option<u64>,
    big_u: Option<u64>,
    b: Option<Ba<'a>>,
    a: Option<Ba<'a>>,
    agg_id: Option<&'a str>,
    big_b: Option<Num<'a>>,
    big_a: Option<Num<'a>>,
    last_update_id: Option<u64>,
    bids: bool,
    asks: bool,
}

/// What a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Trade,
    AggTrade,
    BookTicker,
    Depth,
    PartialDepth,
}

impl VenueNormalizer for Normalizer {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    fn normalize<'a>(
        &mut self,
        frame: &'a str,
        sink: &mut dyn FnMut(&Msg<'a, '_>),
    ) -> Result<Parsed, MdError> {
        let batch = &mut self.batch;
        batch.clear();
        let mut f = Fields::default();
        let mut r = Reader::new(frame);
        let read = r.object(|r, key| {
            match key {
                b"stream" => f.stream = Some(r.str()?),
                b"data" => {
                    f.data = true;
                    r.object(|r, key| payload_key(r, key, &mut f, batch))?;
                }
                b"result" => {
                    f.result = true;
                    r.skip()?;
                }
                b"code" => f.code = Some(r.i64()?),
                b"msg" => f.msg = r.opt_str_cow()?,
                _ => payload_key(r, key, &mut f, batch)?,
            }
            Ok(())
        });
        if read.and_then(|()| r.end()).is_err() {
            return Err(r.error());
        }
        if !f.data {
            if let Some(code) = f.code {
                let msg = f.msg.as_deref().unwrap_or("");
                return Ok(Parsed::venue_error(format!("code {code}: {msg}")));
            }
            if f.result {
                return Ok(Parsed::control());
            }
        }
        let kind = kind(&f)?;
        if !batch.failed() {
            let built = build(frame, kind, &f, batch);
            batch.check(built);
        }
        batch.emit(frame, 0, false, sink)?;
        Ok(Parsed::data())
    }
}

/// Reads one payload key into `f` (levels into `batch`); other keys are skipped.
#[inline(always)]
fn payload_key<'a>(
    r: &mut Reader<'a>,
    key: &[u8],
    f: &mut Fields<'a>,
    batch: &mut Batch,
) -> JsonResult<()> {
    match key {
        b"e" => f.event = Some(r.str()?),
        b"E" => f.event_time = Some(r.u64()?),
        b"s" => f.symbol = Some(r.str()?),
        b"t" => f.trade_id = Some(r.uint_text()?),
        b"p" => f.p = Some(r.decimal_str()?),
        b"q" => f.q = Some(r.decimal_str()?),
        b"T" => f.trade_time = Some(r.u64()?),
        b"m" => f.m = Some(r.bool()?),
        b"u" => f.u = Some(r.u64()?),
        b"U" => f.big_u = Some(r.u64()?),
        b"b" => f.b = Some(read_ba(r, Side::Buy, "b", &mut f.agg_id, batch)?),
        b"a" => f.a = Some(read_ba(r, Side::Sell, "a", &mut f.agg_id, batch)?),
        b"B" => f.big_b = Some(r.decimal_str()?),
        b"A" => f.big_a = Some(r.decimal_str()?),
        b"lastUpdateId" => f.last_update_id = Some(r.u64()?),
        b"bids" => {
            read_str_levels(r, Side::Buy, "bids", batch)?;
            f.bids = true;
        }
        b"asks" => {
            read_str_levels(r, Side::Sell, "asks", batch)?;
            f.asks = true;
        }
        _ => r.skip()?,
    }
    Ok(())
}

/// Reads `b`/`a` by its shape; an integer `a` is kept as the aggregate trade id.
#[inline(always)]
fn read_ba<'a>(
    r: &mut Reader<'a>,
    side: Side,
    field: &'static str,
    agg_id: &mut Option<&'a str>,
    batch: &mut Batch,
) -> JsonResult<Ba<'a>> {
    match r.peek() {
        Some(b'[') => {
            read_str_levels(r, side, field, batch)?;
            Ok(Ba::Levels)
        }
        Some(b'"') => Ok(Ba::Num(r.decimal_str()?)),
        _ => {
            let id = r.uint_text()?;
            if side == Side::Sell {
                *agg_id = Some(id);
            }
            Ok(Ba::Id)
        }
    }
}

/// The payload's kind: from `e`, else the stream name, else the shape.
fn kind(f: &Fields<'_>) -> Result<Kind, MdError> {
    if let Some(e) = f.event {
        return match e {
            "trade" => Ok(Kind::Trade),
            "aggTrade" => Ok(Kind::AggTrade),
            "depthUpdate" => Ok(Kind::Depth),
            "bookTicker" => Ok(Kind::BookTicker),
            other => Err(MdError::Unsupported(other.to_string())),
        };
    }
    if let Some(stream) = f.stream {
        let name = stream.split_once('@').map(|(_, k)| k).unwrap_or("");
        return match name {
            "bookTicker" => Ok(Kind::BookTicker),
            n if is_partial_depth(n) => Ok(Kind::PartialDepth),
            "trade" | "aggTrade" | "depth" | "depth@100ms" | "depth@1000ms" => {
                Err(MdError::MissingField("e"))
            }
            _ => Err(MdError::Unsupported(stream.to_string())),
        };
    }
    if f.last_update_id.is_some() {
        return Ok(Kind::PartialDepth);
    }
    if matches!((f.b, f.a), (Some(Ba::Num(_)), Some(Ba::Num(_)))) {
        return Ok(Kind::BookTicker);
    }
    Err(MdError::MissingField("e"))
}

/// `depth5`, `depth10`, `depth20`, each optionally `@100ms` or `@1000ms`.
fn is_partial_depth(name: &str) -> bool {
    let (levels, speed) = match name.split_once('@') {
        Some((l, s)) => (l, Some(s)),
        None => (name, None),
    };
    matches!(levels, "depth5" | "depth10" | "depth20")
        && matches!(speed, None | Some("100ms" | "1000ms"))
}

fn need<T>(v: Option<T>, field: &'static str) -> Result<T, MdError> {
    v.ok_or(MdError::MissingField(field))
}

fn price<'a>(v: Option<Ba<'a>>, field: &'static str) -> Result<Num<'a>, MdError> {
    match v {
        Some(Ba::Num(n)) => Ok(n),
        Some(_) => Err(MdError::Invalid {
            field,
            problem: "expected a decimal string",
        }),
        None => Err(MdError::MissingField(field)),
    }
}

fn levels(v: Option<Ba<'_>>, field: &'static str) -> Result<(), MdError> {
    match v {
        Some(Ba::Levels) => Ok(()),
        Some(_) => Err(MdError::Invalid {
            field,
            problem: "expected an array of levels",
        }),
        None => Err(MdError::MissingField(field)),
    }
}

/// Collects the message of a `kind` payload into `batch`.
#[inline(always)]
fn build<'a>(frame: &'a str, kind: Kind, f: &Fields<'a>, batch: &mut Batch) -> Result<(), MdError> {
    match kind {
        Kind::Trade | Kind::AggTrade => {
            let symbol = need(f.symbol, "s")?;
            let price = need(f.p, "p")?.decimal("p")?;
            let qty = need(f.q, "q")?.decimal("q")?;
            let id = if kind == Kind::Trade {
                need(f.trade_id, "t")?
            } else {
                need(f.agg_id, "a")?
            };
            // `m`: the buyer was the maker, so the aggressor sold.
            let side = if need(f.m, "m")? {
                Side::Sell
            } else {
                Side::Buy
            };
            let ts = match (f.trade_time, f.event_time) {
                (Some(t), _) => ms_to_ns("T", t)?,
                (None, Some(e)) => ms_to_ns("E", e)?,
                (None, None) => return Err(MdError::MissingField("T")),
            };
            batch.trade(frame, symbol, ts, price, qty, side, id);
        }
        Kind::BookTicker => {
            let symbol = need(f.symbol, "s")?;
            let quote = QuoteMsg {
                bid_px: price(f.b, "b")?.decimal("b")?,
                bid_qty: need(f.big_b, "B")?.decimal("B")?,
                ask_px: price(f.a, "a")?.decimal("a")?,
                ask_qty: need(f.big_a, "A")?.decimal("A")?,
                seq: Some(need(f.u, "u")?),
            };
            let ts = f.event_time.map(|e| ms_to_ns("E", e)).transpose()?;
            batch.quote(frame, symbol, Some(ts.unwrap_or(0)), quote);
        }
        Kind::Depth => {
            let symbol = need(f.symbol, "s")?;
            let first = need(f.big_u, "U")?;
            let last = need(f.u, "u")?;
            if first > last {
                return Err(MdError::Invalid {
                    field: "U",
                    problem: "greater than u",
                });
            }
            levels(f.b, "b")?;
            levels(f.a, "a")?;
            if f.bids || f.asks {
                return Err(MdError::Invalid {
                    field: "bids",
                    problem: "not a field of a depth update",
                });
            }
            let ts = ms_to_ns("E", need(f.event_time, "E")?)?;
            let head = BookMsg {
                snapshot: false,
                levels: &[],
                seq: Some(last),
                first_seq: Some(first),
                prev_seq: None,
                cross_seq: None,
                checksum: None,
            };
            batch.book(frame, symbol, Some(ts), Some(false), 0, head);
        }
        Kind::PartialDepth => {
            let last = need(f.last_update_id, "lastUpdateId")?;
            if !f.bids {
                return Err(MdError::MissingField("bids"));
            }
            if !f.asks {
                return Err(MdError::MissingField("asks"));
            }
            if f.b.is_some() || f.a.is_some() {
                return Err(MdError::Invalid {
                    field: "b",
                    problem: "not a field of a partial depth",
                });
            }
            let ts = f.event_time.map(|e| ms_to_ns("E", e)).transpose()?;
            let head = BookMsg {
                snapshot: true,
                levels: &[],
                seq: Some(last),
                first_seq: None,
                prev_seq: None,
                cross_seq: None,
                checksum: None,
            };
            match f.stream.and_then(|s| s.split_once('@')) {
                Some((symbol, _)) => batch.book(frame, symbol, ts, Some(true), 0, head),
                None => batch.book_unnamed(ts, Some(true), 0, head),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
