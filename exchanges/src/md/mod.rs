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
pub mod json;
pub mod num;
pub mod protocol;
#[cfg(test)]
pub(crate) mod testutil;

use std::fmt;

use peregrine_engine::interchange::{EventKind, EventLine};
use peregrine_engine::types::{Price, Qty, Side};
use rust_decimal::Decimal;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::venue::Venue;

/// One L2 level change: side, price, absolute quantity (zero deletes).
pub type Level = (Side, Price, Qty);

/// Why a frame could not be normalized. Names the field and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MdError {
    /// Not valid JSON, or a field of the wrong JSON type.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A field the message kind requires is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A number could not be read exactly.
    #[error("field `{field}`: bad number {value:?}")]
    BadNumber {
        /// The venue's field name.
        field: &'static str,
        /// The offending text.
        value: String,
    },
    /// A field has a value that makes no sense (negative price, bad side, bad time, ...).
    #[error("field `{field}`: {problem}")]
    Invalid {
        /// The venue's field name.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A well-formed message of a kind this normalizer does not handle.
    #[error("unsupported message {0:?}")]
    Unsupported(String),
}

impl MdError {
    pub(crate) fn json(e: serde_json::Error) -> Self {
        MdError::Malformed(e.to_string())
    }
}

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

/// Parses an exact, non-negative decimal string (`"0.0100"` keeps its scale).
#[inline]
pub fn decimal(field: &'static str, s: &str) -> Result<Decimal, MdError> {
    match num::parse_plain(s.as_bytes()) {
        Some(d) => Ok(d),
        None => decimal_general(field, s),
    }
}

/// [`decimal`] for the shapes the fast parser leaves out (exponents, signs, long mantissas).
#[cold]
fn decimal_general(field: &'static str, s: &str) -> Result<Decimal, MdError> {
    let bad = || MdError::BadNumber {
        field,
        value: s.to_string(),
    };
    let d = if s.bytes().any(|b| b == b'e' || b == b'E') {
        Decimal::from_scientific(s).map_err(|_| bad())?
    } else {
        Decimal::from_str_exact(s).map_err(|_| bad())?
    };
    if d.is_sign_negative() && !d.is_zero() {
        return Err(MdError::Invalid {
            field,
            problem: "negative",
        });
    }
    Ok(d)
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

/// Parses an RFC 3339 UTC time (`2023-02-09T20:32:50.714964855Z`, up to 9 fraction digits)
/// into ns since the epoch (times outside 1677-2262, which an `i64` cannot hold, are invalid).
#[inline]
pub fn rfc3339_ns(field: &'static str, s: &str) -> Result<i64, MdError> {
    rfc3339(s.as_bytes()).ok_or(MdError::Invalid {
        field,
        problem: "not an RFC 3339 UTC time",
    })
}

/// `10^(9 - k)` for a fraction of `k` digits: its value in nanoseconds per unit.
const NANOS_PER_DIGITS: [i64; 10] = [
    1_000_000_000,
    100_000_000,
    10_000_000,
    1_000_000,
    100_000,
    10_000,
    1_000,
    100,
    10,
    1,
];

#[inline]
fn rfc3339(b: &[u8]) -> Option<i64> {
    let [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T' | b't' | b' ', h0, h1, b':', mi0, mi1, b':', s0, s1, rest @ .., b'Z' | b'z'] =
        b
    else {
        return None;
    };
    let two = |x: u8, y: u8| {
        let (x, y) = (x.wrapping_sub(b'0'), y.wrapping_sub(b'0'));
        (x < 10 && y < 10).then_some(i64::from(x) * 10 + i64::from(y))
    };
    let y = two(*y0, *y1)? * 100 + two(*y2, *y3)?;
    let (mo, d) = (two(*mo0, *mo1)?, two(*d0, *d1)?);
    let (h, mi, sec) = (two(*h0, *h1)?, two(*mi0, *mi1)?, two(*s0, *s1)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut nanos = 0i64;
    if let Some((&dot, frac)) = rest.split_first() {
        if dot != b'.' || frac.is_empty() || frac.len() > 9 {
            return None;
        }
        let mut v = 0i64;
        for &c in frac {
            let digit = c.wrapping_sub(b'0');
            if digit >= 10 {
                return None;
            }
            v = v * 10 + i64::from(digit);
        }
        nanos = v * NANOS_PER_DIGITS[frac.len()];
    }
    // Days from the civil date (proleptic Gregorian), after H. Hinnant's algorithm, one
    // 400-year era later so that every quantity stays non-negative.
    let yy = y + 400 - i64::from(mo <= 2);
    let era = yy / 400;
    let yoe = yy - era * 400;
    let mp = if mo > 2 { mo - 3 } else { mo + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era - 1) * 146_097 + doe - 719_468;
    // ns since the epoch fit an i64 only from 1677 to 2262.
    (days * 86_400 + h * 3_600 + mi * 60 + sec)
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
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
    r.array(|r| {
        let (p, q) = r.decimal_pair()?;
        if !batch.failed() {
            match (p.decimal(field), q.decimal(field)) {
                (Ok(p), Ok(q)) => batch.push_level((side, p, q)),
                (Err(e), _) | (_, Err(e)) => batch.fail(e),
            }
        }
        Ok(())
    })
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
pub fn side(field: &'static str, s: &str) -> Result<Side, MdError> {
    if s.eq_ignore_ascii_case("buy") {
        Ok(Side::Buy)
    } else if s.eq_ignore_ascii_case("sell") {
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
        Venue::Binance | Venue::Bybit => QUOTES
            .iter()
            .find(|q| venue_symbol.len() > q.len() && venue_symbol.ends_with(*q))
            .map(|q| {
                let base = &venue_symbol[..venue_symbol.len() - q.len()];
                format!("{base}-{q}")
            })
            .unwrap_or_else(|| venue_symbol.to_string()),
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
    fn rfc3339_times() {
        assert_eq!(rfc3339_ns("t", "1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            rfc3339_ns("t", "2023-02-09T20:32:50.714964855Z"),
            Ok(1_675_974_770_714_964_855)
        );
        assert_eq!(
            rfc3339_ns("t", "2023-09-25T07:48:36.925533Z"),
            Ok(1_695_628_116_925_533_000)
        );
        assert_eq!(
            rfc3339_ns("t", "2019-08-14T20:42:27.265Z"),
            Ok(1_565_815_347_265_000_000)
        );
        for bad in [
            "",
            "2023-02-09",
            "2023-13-09T00:00:00Z",
            "2023-02-09T00:00:00+01:00",
            "2023-02-09T00:00:00.Z",
            "2023-02-09T00:00:00.1234567891Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert!(rfc3339_ns("t", bad).is_err(), "{bad}");
        }
    }

    /// The original parser, kept as the reference for [`rfc3339_ns`].
    fn rfc3339_reference(s: &str) -> Option<i64> {
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' || !matches!(b[b.len() - 1], b'Z' | b'z') {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let mut v = 0i64;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + i64::from(c - b'0');
            }
            Some(v)
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let mut nanos = 0i64;
        let rest = &b[19..b.len() - 1];
        if !rest.is_empty() {
            if rest[0] != b'.' || rest.len() < 2 || rest.len() > 10 {
                return None;
            }
            nanos = num(20..19 + rest.len())? * 10i64.pow(10 - rest.len() as u32);
        }
        let yy = if mo <= 2 { y - 1 } else { y };
        let era = yy.div_euclid(400);
        let yoe = yy - era * 400;
        let mp = (mo + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        // (Checked here: the original overflowed past 2262.)
        (days * 86_400 + h * 3_600 + mi * 60 + sec)
            .checked_mul(1_000_000_000)?
            .checked_add(nanos)
    }

    proptest::proptest! {
        /// Any time of years 0000 to 9999, well-formed or with one byte changed, parses as
        /// the reference parser says.
        #[test]
        fn rfc3339_matches_the_reference(
            y in 0u32..10_000, mo in 0u32..14, d in 0u32..33, h in 0u32..25, mi in 0u32..61,
            sec in 0u32..62, frac in "(\\.[0-9]{0,10})?", z in "[Zz]",
            poke in proptest::option::of((0usize..40, proptest::prelude::any::<u8>())),
        ) {
            let mut s = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}{frac}{z}").into_bytes();
            if let Some((i, byte)) = poke {
                if let Some(b) = s.get_mut(i) {
                    *b = byte.min(0x7f);
                }
            }
            let s = String::from_utf8(s).unwrap();
            proptest::prop_assert_eq!(rfc3339_ns("t", &s).ok(), rfc3339_reference(&s), "{}", s);
        }
    }

    #[test]
    fn decimals_are_exact_and_non_negative() {
        assert_eq!(decimal("p", "0.0100").unwrap().to_string(), "0.0100");
        assert_eq!(decimal("p", "1e-5").unwrap().to_string(), "0.00001");
        assert!(matches!(decimal("p", "-1"), Err(MdError::Invalid { .. })));
        assert!(matches!(decimal("p", "x"), Err(MdError::BadNumber { .. })));
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
