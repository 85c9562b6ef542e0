//! OKX v5 public market data: normalizer and websocket wiring.
//!
//! Channels on `wss://ws.okx.com:8443/ws/v5/public`: `trades` (`side` = taker side,
//! `tradeId`), `bbo-tbt` (best bid/offer), `tickers` (its `bidPx`/`bidSz`/`askPx`/`askSz` as a
//! quote without sequence), `books` (400 levels every 100 ms), `books50-l2-tbt` (50 levels)
//! and `books-l2-tbt` (400 levels, both tick by tick: `action` `snapshot` then `update`,
//! `seqId`/`prevSeqId`, optional `checksum`), `books5` (a 5-level snapshot every push, no
//! `action`, `seqId` only). Levels are `[px, sz, "0", numOrders]` strings. OKX serves the two
//! `-l2-tbt` channels only to logged-in VIP4+ accounts (others get error 64003, reported as a
//! venue error); this connection does not log in. Control: `{"event":"subscribe",..}` acks,
//! `{"event":"error","code":..,"msg":..}`, `notice` events and the text `pong`. Keep-alive:
//! send the text `ping` when nothing was received for < 30 s.
//!
//! Sources: OKX v5 docs "WebSocket / Public channel / Trades channel, Order book channel"
//! and "Connect" (www.okx.com/docs-v5/en/); see `exchanges/tests/SOURCES.md`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::types::{InstrumentSpec, Instruments, Side};

use crate::book_sync::BookRule;
use crate::md::batch::Batch;
use crate::md::channels::Channels;
use crate::md::json::{JsonResult, Reader};
use crate::md::protocol::{venue_symbols, MdProtocol, Wiring};
use crate::md::{
    ms_to_ns, read_first_str_level, read_str_levels, side, uint_str, BookMsg, MdError, Msg, Parsed,
    QuoteMsg, VenueNormalizer,
};
use crate::venue::{Heartbeat, Venue};

/// Public websocket endpoint.
pub const URL: &str = "wss://ws.okx.com:8443/ws/v5/public";

/// The OKX v5 normalizer: one pass over each frame with [`Reader`], messages collected in a
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

/// What a channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Trades,
    Bbo,
    Tickers,
    /// Snapshot then updates.
    Books,
    /// A full snapshot every push (`books5`).
    Books5,
    Other,
}

fn channel_kind(channel: &str) -> Channel {
    match channel {
        "trades" | "trades-all" => Channel::Trades,
        "bbo-tbt" => Channel::Bbo,
        "tickers" => Channel::Tickers,
        "books" | "books-l2-tbt" | "books50-l2-tbt" => Channel::Books,
        "books5" => Channel::Books5,
        _ => Channel::Other,
    }
}

/// What [`protocol`] subscribes to unless the config names other channels.
pub const DEFAULT_CHANNELS: [&str; 3] = ["trades", "bbo-tbt", "books"];

/// The subscription a push belongs to.
#[derive(Clone, Copy)]
struct Arg<'a> {
    channel: &'a str,
    inst_id: Option<&'a str>,
}

fn read_arg<'a>(r: &mut Reader<'a>) -> JsonResult<Option<Arg<'a>>> {
    if r.null()? {
        return Ok(None);
    }
    let (mut channel, mut inst_id) = (None, None);
    r.object(|r, key| {
        match key {
            b"channel" => channel = Some(r.str()?),
            b"instId" => inst_id = r.opt_str()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    let channel = channel.ok_or_else(|| r.fail("a `channel` in `arg`"))?;
    Ok(Some(Arg { channel, inst_id }))
}

/// The envelope's fields.
#[derive(Default)]
struct Envelope<'a> {
    arg: Option<Arg<'a>>,
    action: Option<&'a str>,
    /// `data` was present: read in place, or skipped and its position kept (when it came
    /// before `arg`).
    data: bool,
    data_at: Option<usize>,
    event: Option<&'a str>,
    code: Option<Cow<'a, str>>,
    msg: Option<Cow<'a, str>>,
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
        let batch = &mut self.batch;
        batch.clear();
        let mut env = Envelope::default();
        let mut r = Reader::new(frame);
        let read = r.object(|r, key| {
            match key {
                b"arg" => env.arg = read_arg(r)?,
                b"action" => env.action = r.opt_str()?,
                b"data" => {
                    if env.data {
                        return Err(r.fail("a single `data` field"));
                    }
                    if r.null()? {
                        return Ok(());
                    }
                    env.data = true;
                    match env.arg {
                        Some(arg) => read_data(r, frame, arg, batch)?,
                        None => {
                            env.data_at = Some(r.pos());
                            r.skip()?;
                        }
                    }
                }
                b"event" => env.event = r.opt_str()?,
                b"code" => env.code = r.opt_str_cow()?,
                b"msg" => env.msg = r.opt_str_cow()?,
                _ => r.skip()?,
            }
            Ok(())
        });
        if read.and_then(|()| r.end()).is_err() {
            return Err(r.error());
        }
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
        if !env.data {
            return Err(MdError::MissingField("data"));
        }
        let mut snapshot = false;
        match channel_kind(arg.channel) {
            Channel::Trades | Channel::Tickers => {}
            Channel::Bbo => {
                arg.inst_id.ok_or(MdError::MissingField("instId"))?;
            }
            Channel::Books5 => {
                arg.inst_id.ok_or(MdError::MissingField("instId"))?;
                snapshot = true;
            }
            Channel::Books => {
                arg.inst_id.ok_or(MdError::MissingField("instId"))?;
                snapshot = match env.action {
                    Some("snapshot") => true,
                    Some("update") => false,
                    _ => return Err(MdError::MissingField("action")),
                };
            }
            Channel::Other => return Err(MdError::Unsupported(arg.channel.to_string())),
        }
        if let Some(at) = env.data_at {
            let mut r = Reader::at(frame, at);
            if read_data(&mut r, frame, arg, batch).is_err() {
                return Err(r.error());
            }
        }
        batch.emit(frame, 0, snapshot, sink)?;
        Ok(Parsed::data())
    }
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

/// Reads the `data` array of a push on `arg` into `batch`.
fn read_data<'a>(
    r: &mut Reader<'a>,
    frame: &'a str,
    arg: Arg<'a>,
    batch: &mut Batch,
) -> JsonResult<()> {
    match (channel_kind(arg.channel), arg.inst_id) {
        (Channel::Trades, _) => r.array(|r| read_trade(r, frame, batch)),
        (Channel::Tickers, _) => r.array(|r| read_ticker(r, frame, batch)),
        (Channel::Bbo, Some(symbol)) => r.array(|r| read_book(r, frame, symbol, true, batch)),
        (Channel::Books | Channel::Books5, Some(symbol)) => {
            r.array(|r| read_book(r, frame, symbol, false, batch))
        }
        // Reported from the envelope (missing instId, unsupported channel).
        _ => r.skip(),
    }
}

/// One `trades` element.
fn read_trade<'a>(r: &mut Reader<'a>, frame: &'a str, batch: &mut Batch) -> JsonResult<()> {
    let (mut inst_id, mut trade_id, mut px, mut sz, mut taker, mut ts) =
        (None, None, None, None, None, None);
    r.object(|r, key| {
        match key {
            b"instId" => inst_id = Some(r.str()?),
            b"tradeId" => trade_id = Some(r.str()?),
            b"px" => px = Some(r.decimal_str()?),
            b"sz" => sz = Some(r.decimal_str()?),
            b"side" => taker = Some(r.str()?),
            b"ts" => ts = Some(r.str()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if batch.failed() {
        return Ok(());
    }
    let fields = (|| -> Result<_, MdError> {
        let inst_id = inst_id.ok_or(MdError::MissingField("instId"))?;
        let trade_id = trade_id.ok_or(MdError::MissingField("tradeId"))?;
        let px = px.ok_or(MdError::MissingField("px"))?;
        let sz = sz.ok_or(MdError::MissingField("sz"))?;
        let taker = taker.ok_or(MdError::MissingField("side"))?;
        let ts = ts.ok_or(MdError::MissingField("ts"))?;
        Ok((
            inst_id,
            ms_to_ns("ts", uint_str("ts", ts)?)?,
            px.decimal("px")?,
            sz.decimal("sz")?,
            side("side", taker)?,
            trade_id,
        ))
    })();
    if let Some((symbol, ts, price, qty, side, id)) = batch.check(fields) {
        batch.trade(frame, symbol, ts, price, qty, side, id);
    }
    Ok(())
}

/// One `tickers` element: its best bid and offer as a quote (`last`/`lastSz` carry no trade
/// id and the 24 h fields are not market data of the interchange: both are skipped).
fn read_ticker<'a>(r: &mut Reader<'a>, frame: &'a str, batch: &mut Batch) -> JsonResult<()> {
    let (mut inst_id, mut ts) = (None, None);
    let mut bbo = [None; 4];
    r.object(|r, key| {
        match key {
            b"instId" => inst_id = Some(r.str()?),
            b"bidPx" => bbo[0] = Some(r.decimal_str()?),
            b"bidSz" => bbo[1] = Some(r.decimal_str()?),
            b"askPx" => bbo[2] = Some(r.decimal_str()?),
            b"askSz" => bbo[3] = Some(r.decimal_str()?),
            b"ts" => ts = Some(r.str()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if batch.failed() {
        return Ok(());
    }
    const FIELDS: [&str; 4] = ["bidPx", "bidSz", "askPx", "askSz"];
    let fields = (|| -> Result<_, MdError> {
        let inst_id = inst_id.ok_or(MdError::MissingField("instId"))?;
        let ts = ts.ok_or(MdError::MissingField("ts"))?;
        let mut v = [rust_decimal::Decimal::ZERO; 4];
        for (i, n) in bbo.iter().enumerate() {
            v[i] = n
                .ok_or(MdError::MissingField(FIELDS[i]))?
                .decimal(FIELDS[i])?;
        }
        let quote = QuoteMsg {
            bid_px: v[0],
            bid_qty: v[1],
            ask_px: v[2],
            ask_qty: v[3],
            seq: None,
        };
        Ok((inst_id, ms_to_ns("ts", uint_str("ts", ts)?)?, quote))
    })();
    if let Some((symbol, ts, quote)) = batch.check(fields) {
        batch.quote(frame, symbol, Some(ts), quote);
    }
    Ok(())
}

/// One `books` / `books5` / `bbo-tbt` element: all levels, or the best bid and offer (`bbo`).
fn read_book<'a>(
    r: &mut Reader<'a>,
    frame: &'a str,
    symbol: &'a str,
    bbo: bool,
    batch: &mut Batch,
) -> JsonResult<()> {
    let start = batch.level_count();
    let (mut ts, mut checksum, mut prev_seq, mut seq) = (None, None, None, None);
    let (mut bids, mut asks) = (false, false);
    let (mut best_bid, mut best_ask) = (None, None);
    r.object(|r, key| {
        match key {
            b"ts" => ts = Some(r.str()?),
            b"checksum" => checksum = r.opt_i64()?,
            b"prevSeqId" => prev_seq = r.opt_i64()?,
            b"seqId" => seq = r.opt_i64()?,
            b"bids" if bbo => best_bid = Some(read_first_str_level(r)?),
            b"asks" if bbo => best_ask = Some(read_first_str_level(r)?),
            b"bids" => {
                read_str_levels(r, Side::Buy, "bids", batch)?;
                bids = true;
            }
            b"asks" => {
                read_str_levels(r, Side::Sell, "asks", batch)?;
                asks = true;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    let missing = if !bids && best_bid.is_none() {
        Some("bids")
    } else if !asks && best_ask.is_none() {
        Some("asks")
    } else if ts.is_none() {
        Some("ts")
    } else {
        None
    };
    if let Some(field) = missing {
        batch.fail(MdError::MissingField(field));
    }
    let Some(ts) = ts else {
        batch.truncate_levels(start);
        return Ok(());
    };
    if bbo {
        let quote = (|| -> Result<_, MdError> {
            let bid = best_bid
                .flatten()
                .map(|(p, q)| Ok::<_, MdError>((p.decimal("bids")?, q.decimal("bids")?)))
                .transpose()?;
            let ask = best_ask
                .flatten()
                .map(|(p, q)| Ok::<_, MdError>((p.decimal("asks")?, q.decimal("asks")?)))
                .transpose()?;
            let exch_ts_ns = ms_to_ns("ts", uint_str("ts", ts)?)?;
            let (Some((bid_px, bid_qty)), Some((ask_px, ask_qty))) = (bid, ask) else {
                return Ok(None);
            };
            let quote = QuoteMsg {
                bid_px,
                bid_qty,
                ask_px,
                ask_qty,
                seq: seq_u64("seqId", seq)?,
            };
            Ok(Some((exch_ts_ns, quote)))
        })();
        if let Some(Some((exch_ts_ns, q))) = batch.check(quote) {
            batch.quote(frame, symbol, Some(exch_ts_ns), q);
        }
        return Ok(());
    }
    let head = (|| -> Result<_, MdError> {
        Ok((ms_to_ns("ts", uint_str("ts", ts)?)?, seq_u64("seqId", seq)?))
    })();
    match batch.check(head) {
        Some((exch_ts_ns, seq)) => batch.book(
            frame,
            symbol,
            Some(exch_ts_ns),
            None,
            start,
            BookMsg {
                snapshot: false,
                levels: &[],
                seq,
                first_seq: None,
                prev_seq,
                cross_seq: None,
                checksum,
            },
        ),
        None => batch.truncate_levels(start),
    }
    Ok(())
}

/// One subscribe request for `symbols` (instIds): each of `channels` per symbol.
pub fn subscribe_messages(symbols: &[&str], channels: &Channels) -> Vec<String> {
    let args: Vec<serde_json::Value> = symbols
        .iter()
        .flat_map(|s| {
            channels
                .names()
                .iter()
                .map(move |c| serde_json::json!({"channel": c, "instId": s}))
        })
        .collect();
    vec![serde_json::json!({"id": "1", "op": "subscribe", "args": args}).to_string()]
}

/// The OKX market-data protocol for the OKX instruments of `instruments`, subscribing to
/// `channels` (`None`: [`DEFAULT_CHANNELS`]).
pub fn protocol(
    instruments: Arc<Instruments>,
    channels: Option<&Channels>,
) -> MdProtocol<Normalizer> {
    let symbols = venue_symbols(&instruments, Venue::Okx);
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let default = Channels::of(&DEFAULT_CHANNELS);
    let wiring = Wiring {
        url: URL.to_string(),
        subscribe: subscribe_messages(&refs, channels.unwrap_or(&default)),
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
pub(crate) mod tests;
