//! The borrowed market-data message every non-Binance venue normalizer yields, and the pieces
//! they share: exact decimal parsing, RFC 3339 times, level lists read straight out of the
//! frame, canonical symbols, and the conversion of one message into an interchange
//! [`EventLine`].
//!
//! One parser per venue: its normalizer turns a frame into [`Msg`]s (borrowing strings from the
//! frame and levels from a scratch buffer it owns), and both the hot path
//! ([`protocol::MdProtocol`] → `Tick`s) and `peregrine normalize` (→ [`EventLine`]) are built
//! from those messages.

pub mod batch;
pub mod channels;
#[cfg(test)]
mod checks_tests;
mod error;
pub mod json;
pub mod num;
pub mod protocol;
#[cfg(test)]
pub(crate) mod testutil;
pub mod time;

use std::fmt;

use peregrine_engine::interchange::{EventKind, EventLine};
use peregrine_engine::types::{Price, Qty, Side};
use rust_decimal::Decimal;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::venue::Venue;

pub use error::{MdError, Reason};
pub use time::{rfc3339_ns, TimeCache};

/// One L2 level change: side, price, absolute quantity (zero deletes).
pub type Level = (Side, Price, Qty);

/// A public trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeMsg<'a> {
    /// Execution price.
    pub price: Price,
    /// Executed quantity.
    pub qty: Qty,
    /// The aggressor (taker) side.
    pub side: Side,
    /// The venue's trade id, as sent.
    pub trade_id: &'a str,
}

/// Best bid and offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteMsg {
    /// Best bid price.
    pub bid_px: Price,
    /// Quantity at the best bid.
    pub bid_qty: Qty,
    /// Best ask price.
    pub ask_px: Price,
    /// Quantity at the best ask.
    pub ask_qty: Qty,
    /// The venue's sequence for it, when it sends one.
    pub seq: Option<u64>,
}

/// An L2 book message: a full snapshot or incremental levels, with the venue's sequence
/// fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookMsg<'l> {
    /// True for a full snapshot (replaces the book).
    pub snapshot: bool,
    /// The levels in the order sent (absolute quantities; zero deletes).
    pub levels: &'l [Level],
    /// The message's sequence (Binance `u` / `lastUpdateId`, Bybit `u`, OKX `seqId`,
    /// Coinbase `sequence_num`).
    pub seq: Option<u64>,
    /// The first sequence it covers (Binance `U`).
    pub first_seq: Option<u64>,
    /// The previous message's sequence (OKX `prevSeqId`).
    pub prev_seq: Option<i64>,
    /// A cross sequence for ordering only (Bybit `seq`).
    pub cross_seq: Option<u64>,
    /// The venue's checksum of the book after this message (OKX signed, Kraken unsigned).
    pub checksum: Option<i64>,
}

/// What a message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind<'a, 'l> {
    /// A trade.
    Trade(TradeMsg<'a>),
    /// Best bid/offer.
    Quote(QuoteMsg),
    /// Book snapshot or delta.
    Book(BookMsg<'l>),
}

/// One venue message for one symbol, borrowed from the frame (`'a`) and the normalizer's
/// level buffer (`'l`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg<'a, 'l> {
    /// The venue's spelling of the symbol (`BTCUSDT`, `BTC/USD`, ...).
    pub symbol: &'a str,
    /// Exchange time, ns since the epoch (0 when the venue gives none).
    pub exch_ts_ns: i64,
    /// The payload.
    pub kind: MsgKind<'a, 'l>,
}

/// What a frame was, besides the messages it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameKind {
    /// Market data (zero or more messages were passed to the sink).
    Data,
    /// An ack, pong, heartbeat or status frame.
    Control,
    /// An error reply from the venue.
    VenueError(String),
}

/// The result of normalizing one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// What the frame was.
    pub kind: FrameKind,
    /// A per-connection sequence the frame carried (Coinbase `sequence_num`), for gap
    /// detection across all channels of the connection.
    pub conn_seq: Option<u64>,
}

impl Parsed {
    pub(crate) fn data() -> Self {
        Parsed {
            kind: FrameKind::Data,
            conn_seq: None,
        }
    }
    pub(crate) fn control() -> Self {
        Parsed {
            kind: FrameKind::Control,
            conn_seq: None,
        }
    }
    pub(crate) fn venue_error(msg: String) -> Self {
        Parsed {
            kind: FrameKind::VenueError(msg),
            conn_seq: None,
        }
    }
}

/// A venue's market-data normalizer: one frame in, its messages out through `sink`.
///
/// Messages are passed in frame order as they are read: when a frame carrying several
/// messages fails part-way, the complete messages before the bad one have been passed.
pub trait VenueNormalizer: Send {
    /// The venue.
    fn venue(&self) -> Venue;

    /// Normalizes one text frame.
    fn normalize<'a>(
        &mut self,
        frame: &'a str,
        sink: &mut dyn FnMut(&Msg<'a, '_>),
    ) -> Result<Parsed, MdError>;
}

/// Parses an exact, unsigned decimal string (`"0.0100"` keeps its scale). The text is kept
/// exactly as sent or refused, never rewritten: a sign (`-1`, `-0`, `+1`) or an exponent
/// (`1.5E+3`) is an error.
#[inline]
pub fn decimal(field: &'static str, s: &str) -> Result<Decimal, MdError> {
    match num::parse_plain(s.as_bytes()) {
        Some(d) => Ok(d),
        None => decimal_general(field, s),
    }
}

/// [`decimal`] for the shapes the fast parser leaves out (long mantissas, and the errors).
#[cold]
fn decimal_general(field: &'static str, s: &str) -> Result<Decimal, MdError> {
    let b = s.as_bytes();
    if b.first() == Some(&b'-') {
        return Err(MdError::Negative { field });
    }
    let numeric = |c: &u8| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-');
    let exponent = b.first().is_some_and(u8::is_ascii_digit)
        && b.iter().all(numeric)
        && b.iter().any(|&c| c == b'e' || c == b'E');
    if exponent {
        return Err(MdError::Exponent {
            field,
            value: s.to_string(),
        });
    }
    // `digits[.digits]`: nothing `from_str_exact` would rewrite (`.5`, `1.`, `+1`, `1_000`).
    let plain = b.first().is_some_and(u8::is_ascii_digit)
        && b.last().is_some_and(u8::is_ascii_digit)
        && b.iter().all(|&c| c.is_ascii_digit() || c == b'.')
        && b.iter().filter(|&&c| c == b'.').count() <= 1;
    match Decimal::from_str_exact(s) {
        Ok(d) if plain => Ok(d),
        _ => Err(MdError::BadNumber {
            field,
            value: s.to_string(),
        }),
    }
}

/// Parses an unsigned integer sent as a string (OKX `ts`).
pub fn uint_str(field: &'static str, s: &str) -> Result<u64, MdError> {
    s.parse().map_err(|_| MdError::BadNumber {
        field,
        value: s.to_string(),
    })
}

/// Milliseconds since the epoch to nanoseconds.
pub fn ms_to_ns(field: &'static str, ms: u64) -> Result<i64, MdError> {
    i64::try_from(ms)
        .ok()
        .and_then(|v| v.checked_mul(1_000_000))
        .ok_or(MdError::Invalid {
            field,
            problem: "time out of range",
        })
}

/// A venue trade id as the `u64` a `Tick` carries: the number itself when it is one (up to 19
/// digits), else a stable 64-bit hash of the text (Bybit linear ids are UUIDs) that takes it
/// eight bytes at a time. Distinct ids of the same length never share a hash: each step
/// (xor a word, multiply by an odd constant, xor-shift) is a bijection of the state.
#[inline]
pub fn trade_id_u64(id: &str) -> u64 {
    let b = id.as_bytes();
    let mut n = 0u64;
    let mut digits = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        n = n.wrapping_mul(10).wrapping_add(u64::from(d));
        digits += 1;
    }
    if digits == b.len() && (1..=19).contains(&digits) {
        return n;
    }
    // What else `u64::from_str` takes: a leading `+`, 20 digits.
    if matches!(b.first(), Some(b'+' | b'1')) {
        if let Ok(n) = id.parse::<u64>() {
            return n;
        }
    }
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ (b.len() as u64);
    let mut words = b.chunks_exact(8);
    for chunk in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        h = mix(h, u64::from_le_bytes(w));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let w = rest
            .iter()
            .rev()
            .fold(0u64, |w, &c| (w << 8) | u64::from(c));
        h = mix(h, w);
    }
    h
}

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    let h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// Calls `f` for every element of the JSON array `raw`, deserialized as `T`, without
/// collecting them. The first error (JSON or from `f`) stops the walk.
pub fn for_each_elem<'de, T, F>(raw: &'de RawValue, f: F) -> Result<(), MdError>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), MdError>,
{
    let mut err = None;
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let r = ElemSeed {
        f,
        err: &mut err,
        _t: std::marker::PhantomData,
    }
    .deserialize(&mut de);
    match (r, err) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(MdError::json(e)),
        (Ok(()), None) => Ok(()),
    }
}

struct ElemSeed<'e, T, F> {
    f: F,
    err: &'e mut Option<MdError>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<'de, T, F> DeserializeSeed<'de> for ElemSeed<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), MdError>,
{
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T, F> Visitor<'de> for ElemSeed<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), MdError>,
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<S: SeqAccess<'de>>(mut self, mut seq: S) -> Result<(), S::Error> {
        while let Some(el) = seq.next_element::<T>()? {
            if let Err(e) = (self.f)(el) {
                let msg = e.to_string();
                *self.err = Some(e);
                return Err(de::Error::custom(msg));
            }
        }
        Ok(())
    }
}

/// A `[price, qty, ...]` level of decimal strings (extra elements are skipped).
pub struct StrLevel<'a>(pub &'a str, pub &'a str);

impl<'de> Deserialize<'de> for StrLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrLevel<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [price, qty] array of decimal strings")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<StrLevel<'de>, S::Error> {
                let p = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let q = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StrLevel(p, q))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Appends the `[price, qty, ...]` string levels of `raw` to `out` with `side`.
pub fn push_str_levels(
    raw: &RawValue,
    side: Side,
    field: &'static str,
    out: &mut Vec<Level>,
) -> Result<(), MdError> {
    for_each_elem(raw, |StrLevel(p, q)| {
        out.push((side, decimal(field, p)?, decimal(field, q)?));
        Ok(())
    })
}

/// The first `[price, qty]` level of `raw`, if any.
pub fn first_str_level(
    raw: &RawValue,
    field: &'static str,
) -> Result<Option<(Price, Qty)>, MdError> {
    let mut first = None;
    for_each_elem(raw, |StrLevel(p, q)| {
        if first.is_none() {
            first = Some((decimal(field, p)?, decimal(field, q)?));
        }
        Ok(())
    })?;
    Ok(first)
}

/// Reads a JSON array of `[price, qty, ...]` decimal-string levels into `batch` with `side`.
/// A bad number is kept as the batch's error (the array is still read to its end).
#[inline]
pub fn read_str_levels(
    r: &mut json::Reader<'_>,
    side: Side,
    field: &'static str,
    batch: &mut batch::Batch,
) -> json::JsonResult<()> {
    let mut more = r.array_start()?;
    while more {
        let (p, q) = r.decimal_pair()?;
        if !batch.failed() {
            if let (Some(p), Some(q)) = (p.value(), q.value()) {
                batch.push_level((side, p, q));
            } else {
                match (p.decimal(field), q.decimal(field)) {
                    (Ok(p), Ok(q)) => batch.push_level((side, p, q)),
                    (Err(e), _) | (_, Err(e)) => batch.fail(e),
                }
            }
        }
        more = r.array_next()?;
    }
    Ok(())
}

/// Reads a JSON array of `[price, qty, ...]` decimal-string levels and returns the first
/// one (the others are only checked for shape).
#[inline]
pub fn read_first_str_level<'a>(
    r: &mut json::Reader<'a>,
) -> json::JsonResult<Option<(json::Num<'a>, json::Num<'a>)>> {
    let mut first = None;
    r.array(|r| {
        let pair = r.decimal_pair()?;
        first.get_or_insert(pair);
        Ok(())
    })?;
    Ok(first)
}

/// Parses a taker side spelled `buy`/`sell` in any case.
pub fn side(field: &'static str, s: impl AsRef<[u8]>) -> Result<Side, MdError> {
    let s = s.as_ref();
    if s.eq_ignore_ascii_case(b"buy") {
        Ok(Side::Buy)
    } else if s.eq_ignore_ascii_case(b"sell") {
        Ok(Side::Sell)
    } else {
        Err(MdError::Invalid {
            field,
            problem: "expected buy or sell",
        })
    }
}

/// Quote currencies recognised when splitting a concatenated symbol (`BTCUSDT`), longest
/// first.
const QUOTES: [&str; 16] = [
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDE", "USD", "EUR", "GBP", "JPY", "TRY", "BRL",
    "BTC", "ETH", "BNB", "DAI",
];

/// The canonical `BASE-QUOTE` spelling of a venue symbol; symbols that cannot be split
/// (derivatives such as `BTC-USDT-SWAP`) are returned as sent.
pub fn canonical_symbol(venue: Venue, venue_symbol: &str) -> String {
    match venue {
        // Binance stream names spell the symbol in lower case.
        Venue::Binance | Venue::Bybit => {
            let upper = venue_symbol.to_ascii_uppercase();
            QUOTES
                .iter()
                .find(|q| upper.len() > q.len() && upper.ends_with(*q))
                .map(|q| {
                    let base = &upper[..upper.len() - q.len()];
                    format!("{base}-{q}")
                })
                .unwrap_or(upper)
        }
        Venue::Kraken => venue_symbol.replace('/', "-"),
        Venue::Okx | Venue::Coinbase => venue_symbol.to_string(),
    }
}

/// The interchange line for one message (`ts_ns`: the frame's local receive time, if known).
pub fn event_line(venue: Venue, msg: &Msg<'_, '_>, ts_ns: Option<u64>) -> EventLine {
    let mut ev = EventLine {
        venue: venue.as_str().to_string(),
        symbol: canonical_symbol(venue, msg.symbol),
        ts_ns,
        exch_ts_ns: (msg.exch_ts_ns != 0).then_some(msg.exch_ts_ns),
        ..Default::default()
    };
    match msg.kind {
        MsgKind::Trade(t) => {
            ev.kind = Some(EventKind::Trade);
            ev.price = Some(t.price);
            ev.qty = Some(t.qty);
            ev.side = Some(t.side);
            ev.trade_id = Some(t.trade_id.to_string());
        }
        MsgKind::Quote(q) => {
            ev.kind = Some(EventKind::Quote);
            ev.bid_px = Some(q.bid_px);
            ev.bid_qty = Some(q.bid_qty);
            ev.ask_px = Some(q.ask_px);
            ev.ask_qty = Some(q.ask_qty);
            ev.seq = q.seq;
        }
        MsgKind::Book(b) => {
            ev.kind = Some(if b.snapshot {
                EventKind::BookSnapshot
            } else {
                EventKind::BookDelta
            });
            for &(side, p, q) in b.levels {
                match side {
                    Side::Buy => ev.bids.push([p, q]),
                    Side::Sell => ev.asks.push([p, q]),
                }
            }
            ev.seq = b.seq;
            ev.first_seq = b.first_seq;
            ev.prev_seq = b.prev_seq;
            ev.cross_seq = b.cross_seq;
            ev.checksum = b.checksum;
        }
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_unsigned_and_never_rewritten() {
        assert_eq!(decimal("p", "0.0100").unwrap().to_string(), "0.0100");
        assert_eq!(
            decimal("p", "12345678901234567890.5").unwrap().to_string(),
            "12345678901234567890.5"
        );
        for exp in ["1e-5", "1.5E+3", "0E0"] {
            assert_eq!(
                decimal("p", exp),
                Err(MdError::Exponent {
                    field: "p",
                    value: exp.into()
                }),
                "{exp}"
            );
        }
        for neg in ["-1", "-0", "-0.0"] {
            assert_eq!(
                decimal("p", neg),
                Err(MdError::Negative { field: "p" }),
                "{neg}"
            );
        }
        for bad in ["x", "+1", " 1", "1_000", ".5", "1.", ""] {
            assert!(
                matches!(decimal("p", bad), Err(MdError::BadNumber { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn trade_ids_numeric_or_hashed() {
        assert_eq!(trade_id_u64("130639474"), 130_639_474);
        let h = trade_id_u64("20f43950-d8dd-5b31-9112-a178eb6023af");
        assert_eq!(h, trade_id_u64("20f43950-d8dd-5b31-9112-a178eb6023af"));
        assert_ne!(h, trade_id_u64("20f43950-d8dd-5b31-9112-a178eb6023ae"));
        assert_ne!(h, trade_id_u64("30f43950-d8dd-5b31-9112-a178eb6023af"));
        assert_eq!(trade_id_u64("+7"), 7, "what `u64::from_str` accepts");
        assert_eq!(trade_id_u64("18446744073709551615"), u64::MAX);
        assert_ne!(trade_id_u64("x"), trade_id_u64("x\0"));
    }

    #[test]
    fn canonical_symbols() {
        assert_eq!(canonical_symbol(Venue::Bybit, "BTCUSDT"), "BTC-USDT");
        assert_eq!(canonical_symbol(Venue::Binance, "BNBBTC"), "BNB-BTC");
        assert_eq!(canonical_symbol(Venue::Kraken, "BTC/USD"), "BTC-USD");
        assert_eq!(
            canonical_symbol(Venue::Okx, "BTC-USDT-SWAP"),
            "BTC-USDT-SWAP"
        );
        assert_eq!(canonical_symbol(Venue::Bybit, "USDT"), "USDT");
    }
}
