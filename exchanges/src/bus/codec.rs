//! The bus's wire encoding of one normalized event: compact binary (version 1), or JSON for
//! humans. A decoder tells them apart by the first byte (`1` binary, `{` JSON).
//!
//! # Binary, version 1
//!
//! All integers are little-endian; `uvar` is unsigned LEB128 (7 bits per byte, low first,
//! high bit = more), `svar` is a zigzag-mapped `uvar`, `dec` is an exact decimal:
//! one byte `scale | 0x80 if negative` (scale 0..=28) then the unsigned 96-bit mantissa as
//! `uvar` (so `"0.0100"` is 2 bytes and keeps its scale: value = mantissa / 10^scale).
//!
//! ```text
//! u8    version (1)
//! u8    kind: 1 trade, 2 quote, 3 book_delta, 4 book_snapshot, 5 bar, 6 status
//! uvar  bus sequence: per subject, from 1, +1 per message (a jump is a gap)
//! svar  exchange time, ns since the Unix epoch (0: the venue gives none)
//! i64   publish time, wall clock ns since the Unix epoch (bus lag = receive - this)
//! payload by kind:
//!   trade          dec price, dec qty, u8 side (0 buy, 1 sell), uvar trade id
//!   quote          dec bid_px, dec bid_qty, dec ask_px, dec ask_qty, uvar venue update id
//!   book_delta,
//!   book_snapshot  uvar venue sequence, uvar n_bids, uvar n_asks,
//!                  then n_bids + n_asks levels (dec price, dec qty), bids then asks, in the
//!                  venue's order; a qty of 0 deletes the level (deltas)
//!   bar            svar start ns, svar timeframe ns, dec open, high, low, close, volume,
//!                  uvar trades
//!   status         u8: 0 connected, 1 disconnected, 2 stale, 3 resynced
//! ```
//! Nothing may follow the payload. A new field or kind means a new version; a decoder refuses
//! versions it does not know.
//!
//! # JSON
//!
//! One object: `bus_seq` and `pub_ts_ns` beside the fields of the tick interchange line
//! ([`EventLine`], money as exact decimal strings), written and read by the interchange's own
//! serde definitions. Bars use the interchange's `bar` kind.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use peregrine_engine::bars::Bar;
use peregrine_engine::interchange::{EventKind, EventLine, Level, StatusKind};
use peregrine_engine::tick::{FeedStatus, Quote, Trade};
use peregrine_engine::types::Side;

/// The binary encoding's version byte.
pub const VERSION: u8 = 1;

/// What one bus message carries; also the last token of its subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A public trade.
    Trade,
    /// Best bid and offer.
    Quote,
    /// Incremental L2 levels of one venue message.
    BookDelta,
    /// A full L2 book.
    BookSnapshot,
    /// A closed time bar.
    Bar,
    /// Feed or book status change.
    Status,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 6] = [
        Kind::Trade,
        Kind::Quote,
        Kind::BookDelta,
        Kind::BookSnapshot,
        Kind::Bar,
        Kind::Status,
    ];

    /// The subject token (`trade`, `quote`, `book_delta`, `book_snapshot`, `bar`, `status`).
    pub fn token(self) -> &'static str {
        match self {
            Kind::Trade => "trade",
            Kind::Quote => "quote",
            Kind::BookDelta => "book_delta",
            Kind::BookSnapshot => "book_snapshot",
            Kind::Bar => "bar",
            Kind::Status => "status",
        }
    }

    /// The kind of a subject token.
    pub fn from_token(t: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.token() == t)
    }

    /// The binary code (1..=6).
    pub fn code(self) -> u8 {
        match self {
            Kind::Trade => 1,
            Kind::Quote => 2,
            Kind::BookDelta => 3,
            Kind::BookSnapshot => 4,
            Kind::Bar => 5,
            Kind::Status => 6,
        }
    }

    fn from_code(c: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == c)
    }
}

/// The levels of one book message (a delta or a snapshot).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BookLevels {
    /// The venue's sequence of the message (Binance `u`, a snapshot's `lastUpdateId`).
    pub venue_seq: u64,
    /// Bid levels `[price, qty]`.
    pub bids: Vec<Level>,
    /// Ask levels `[price, qty]`.
    pub asks: Vec<Level>,
}

/// The payload of a [`BusEvent`].
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// A public trade.
    Trade(Trade),
    /// Best bid and offer.
    Quote(Quote),
    /// Incremental levels (absolute quantities; zero deletes).
    BookDelta(BookLevels),
    /// A full book, replacing the receiver's.
    BookSnapshot(BookLevels),
    /// A closed bar.
    Bar(Bar),
    /// Feed or book status.
    Status(FeedStatus),
}

impl Payload {
    /// The kind of this payload.
    pub fn kind(&self) -> Kind {
        match self {
            Payload::Trade(_) => Kind::Trade,
            Payload::Quote(_) => Kind::Quote,
            Payload::BookDelta(_) => Kind::BookDelta,
            Payload::BookSnapshot(_) => Kind::BookSnapshot,
            Payload::Bar(_) => Kind::Bar,
            Payload::Status(_) => Kind::Status,
        }
    }
}

/// One bus message: a normalized event with its per-subject sequence and publish time. The
/// venue and symbol are in the subject, not the payload.
#[derive(Clone, Debug, PartialEq)]
pub struct BusEvent {
    /// Per-subject sequence, from 1; a consumer seeing a jump has missed messages.
    pub seq: u64,
    /// Exchange time, ns since the Unix epoch (0 when the venue gives none).
    pub exch_ts_ns: i64,
    /// Wall-clock publish time, ns since the Unix epoch.
    pub pub_ts_ns: i64,
    /// What happened.
    pub payload: Payload,
}

/// Why a bus message could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The message is empty.
    #[error("empty bus message")]
    Empty,
    /// The binary version byte is not one this build reads.
    #[error("unsupported bus encoding version {0}")]
    Version(u8),
    /// Unknown kind code.
    #[error("unknown event kind code {0}")]
    Kind(u8),
    /// The message ends inside a field.
    #[error("message truncated at byte {0}")]
    Truncated(usize),
    /// Bytes follow the payload.
    #[error("{0} bytes after the payload")]
    Trailing(usize),
    /// A varint longer than its type allows.
    #[error("malformed varint at byte {0}")]
    Varint(usize),
    /// A decimal whose scale or mantissa is out of range.
    #[error("malformed decimal at byte {0}")]
    Decimal(usize),
    /// A side byte other than 0 or 1.
    #[error("bad side code {0}")]
    Side(u8),
    /// A status byte out of range.
    #[error("bad status code {0}")]
    Status(u8),
    /// More levels announced than the message can hold.
    #[error("{0} levels announced, more than the message holds")]
    Levels(u64),
    /// The JSON form did not parse.
    #[error("bad JSON event: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON form lacks a field its kind needs.
    #[error("JSON {kind:?} event without `{field}`")]
    Missing {
        /// The event's kind.
        kind: EventKind,
        /// The missing field.
        field: &'static str,
    },
}

// ---- binary -----------------------------------------------------------------------------

fn put_uvar(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_svar(out: &mut Vec<u8>, v: i64) {
    put_uvar(out, ((v << 1) ^ (v >> 63)) as u64 as u128);
}

fn put_dec(out: &mut Vec<u8>, d: Decimal) {
    let m = d.mantissa();
    let neg = if m < 0 { 0x80 } else { 0 };
    // The scale of a Decimal is at most 28, so it fits the low 7 bits.
    out.push(d.scale() as u8 | neg);
    put_uvar(out, m.unsigned_abs());
}

fn put_levels(out: &mut Vec<u8>, b: &BookLevels) {
    put_uvar(out, b.venue_seq as u128);
    put_uvar(out, b.bids.len() as u128);
    put_uvar(out, b.asks.len() as u128);
    for [p, q] in b.bids.iter().chain(b.asks.iter()) {
        put_dec(out, *p);
        put_dec(out, *q);
    }
}

fn status_code(s: FeedStatus) -> u8 {
    match s {
        FeedStatus::Connected => 0,
        FeedStatus::Disconnected => 1,
        FeedStatus::Stale => 2,
        FeedStatus::Resynced => 3,
    }
}

impl BusEvent {
    /// Appends the binary form to `out` (which the caller may reuse between messages).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.payload.kind().code());
        put_uvar(out, self.seq as u128);
        put_svar(out, self.exch_ts_ns);
        out.extend_from_slice(&self.pub_ts_ns.to_le_bytes());
        match &self.payload {
            Payload::Trade(t) => {
                put_dec(out, t.price);
                put_dec(out, t.qty);
                out.push(match t.side {
                    Side::Buy => 0,
                    Side::Sell => 1,
                });
                put_uvar(out, t.trade_id as u128);
            }
            Payload::Quote(q) => {
                for d in [q.bid_px, q.bid_qty, q.ask_px, q.ask_qty] {
                    put_dec(out, d);
                }
                put_uvar(out, q.update_id as u128);
            }
            Payload::BookDelta(b) | Payload::BookSnapshot(b) => put_levels(out, b),
            Payload::Bar(b) => {
                put_svar(out, b.start_ns);
                put_svar(out, b.timeframe_ns);
                for d in [b.open, b.high, b.low, b.close, b.volume] {
                    put_dec(out, d);
                }
                put_uvar(out, b.trades as u128);
            }
            Payload::Status(s) => out.push(status_code(*s)),
        }
    }

    /// The binary form in a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode(&mut out);
        out
    }

    /// Decodes a message in either form (binary or JSON, by its first byte).
    pub fn decode(bytes: &[u8]) -> Result<BusEvent, CodecError> {
        match bytes.first() {
            None => Err(CodecError::Empty),
            Some(b'{') => BusEvent::from_json(bytes),
            Some(&VERSION) => Reader { b: bytes, at: 0 }.event(),
            Some(&v) => Err(CodecError::Version(v)),
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, CodecError> {
        let v = *self.b.get(self.at).ok_or(CodecError::Truncated(self.at))?;
        self.at += 1;
        Ok(v)
    }

    fn uvar(&mut self, max_bits: u32) -> Result<u128, CodecError> {
        let start = self.at;
        let mut v: u128 = 0;
        let mut shift = 0u32;
        loop {
            let byte = self.u8()?;
            let bits = (byte & 0x7f) as u128;
            // No bit may land at or above `max_bits`.
            if shift >= max_bits || (shift + 7 > max_bits && bits >> (max_bits - shift) != 0) {
                return Err(CodecError::Varint(start));
            }
            v |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(self.uvar(64)? as u64)
    }

    fn svar(&mut self) -> Result<i64, CodecError> {
        let z = self.u64()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn dec(&mut self) -> Result<Decimal, CodecError> {
        let start = self.at;
        let head = self.u8()?;
        let scale = (head & 0x7f) as u32;
        let m = self.uvar(96)?;
        if scale > 28 || (m == 0 && head & 0x80 != 0) {
            return Err(CodecError::Decimal(start));
        }
        let m = m as i128;
        let m = if head & 0x80 != 0 { -m } else { m };
        Decimal::try_from_i128_with_scale(m, scale).map_err(|_| CodecError::Decimal(start))
    }

    fn levels(&mut self) -> Result<BookLevels, CodecError> {
        let venue_seq = self.u64()?;
        let nb = self.u64()?;
        let na = self.u64()?;
        // Each level takes at least 4 bytes: refuse counts the rest cannot hold before
        // reserving anything.
        let room = ((self.b.len() - self.at) / 4) as u64;
        if nb > room || na > room - nb {
            return Err(CodecError::Levels(nb.saturating_add(na)));
        }
        let mut side = |n: u64| -> Result<Vec<Level>, CodecError> {
            let mut v = Vec::with_capacity(n as usize);
            for _ in 0..n {
                v.push([self.dec()?, self.dec()?]);
            }
            Ok(v)
        };
        let bids = side(nb)?;
        let asks = side(na)?;
        Ok(BookLevels {
            venue_seq,
            bids,
            asks,
        })
    }

    fn event(mut self) -> Result<BusEvent, CodecError> {
        let _version = self.u8()?;
        let code = self.u8()?;
        let kind = Kind::from_code(code).ok_or(CodecError::Kind(code))?;
        let seq = self.u64()?;
        let exch_ts_ns = self.svar()?;
        let ts = self
            .b
            .get(self.at..self.at + 8)
            .ok_or(CodecError::Truncated(self.at))?;
        let mut le = [0u8; 8];
        le.copy_from_slice(ts);
        let pub_ts_ns = i64::from_le_bytes(le);
        self.at += 8;
        let payload = match kind {
            Kind::Trade => {
                let price = self.dec()?;
                let qty = self.dec()?;
                let side = match self.u8()? {
                    0 => Side::Buy,
                    1 => Side::Sell,
                    s => return Err(CodecError::Side(s)),
                };
                Payload::Trade(Trade {
                    price,
                    qty,
                    side,
                    trade_id: self.u64()?,
                })
            }
            Kind::Quote => Payload::Quote(Quote {
                bid_px: self.dec()?,
                bid_qty: self.dec()?,
                ask_px: self.dec()?,
                ask_qty: self.dec()?,
                update_id: self.u64()?,
            }),
            Kind::BookDelta => Payload::BookDelta(self.levels()?),
            Kind::BookSnapshot => Payload::BookSnapshot(self.levels()?),
            Kind::Bar => Payload::Bar(Bar {
                start_ns: self.svar()?,
                timeframe_ns: self.svar()?,
                open: self.dec()?,
                high: self.dec()?,
                low: self.dec()?,
                close: self.dec()?,
                volume: self.dec()?,
                trades: self.u64()?,
            }),
            Kind::Status => Payload::Status(match self.u8()? {
                0 => FeedStatus::Connected,
                1 => FeedStatus::Disconnected,
                2 => FeedStatus::Stale,
                3 => FeedStatus::Resynced,
                s => return Err(CodecError::Status(s)),
            }),
        };
        if self.at != self.b.len() {
            return Err(CodecError::Trailing(self.b.len() - self.at));
        }
        Ok(BusEvent {
            seq,
            exch_ts_ns,
            pub_ts_ns,
            payload,
        })
    }
}

// ---- JSON -------------------------------------------------------------------------------

/// The JSON form: the bus fields beside the interchange line's.
#[derive(Serialize, Deserialize)]
struct JsonEvent {
    bus_seq: u64,
    pub_ts_ns: i64,
    #[serde(flatten)]
    line: EventLine,
}

impl BusEvent {
    /// The interchange line of this event for `venue`/`symbol` (from the subject).
    pub fn to_event_line(&self, venue: &str, symbol: &str) -> EventLine {
        let mut ev = EventLine {
            venue: venue.to_string(),
            symbol: symbol.to_string(),
            exch_ts_ns: (self.exch_ts_ns != 0).then_some(self.exch_ts_ns),
            ..Default::default()
        };
        match &self.payload {
            Payload::Trade(t) => {
                ev.kind = Some(EventKind::Trade);
                ev.price = Some(t.price);
                ev.qty = Some(t.qty);
                ev.side = Some(t.side);
                ev.trade_id = Some(t.trade_id.to_string());
            }
            Payload::Quote(q) => {
                ev.kind = Some(EventKind::Quote);
                ev.bid_px = Some(q.bid_px);
                ev.bid_qty = Some(q.bid_qty);
                ev.ask_px = Some(q.ask_px);
                ev.ask_qty = Some(q.ask_qty);
                ev.seq = Some(q.update_id);
            }
            Payload::BookDelta(b) | Payload::BookSnapshot(b) => {
                ev.kind = Some(if matches!(self.payload, Payload::BookSnapshot(_)) {
                    EventKind::BookSnapshot
                } else {
                    EventKind::BookDelta
                });
                ev.seq = Some(b.venue_seq);
                ev.bids = b.bids.clone();
                ev.asks = b.asks.clone();
            }
            Payload::Bar(b) => {
                ev.kind = Some(EventKind::Bar);
                ev.bar = Some((*b).into());
            }
            Payload::Status(s) => {
                ev.kind = Some(EventKind::Status);
                ev.status = Some(match s {
                    FeedStatus::Connected => StatusKind::Connected,
                    FeedStatus::Disconnected => StatusKind::Disconnected,
                    FeedStatus::Stale => StatusKind::Stale,
                    FeedStatus::Resynced => StatusKind::Resynced,
                });
            }
        }
        ev
    }

    /// The JSON form (one object, no newline) for `venue`/`symbol`.
    pub fn to_json(&self, venue: &str, symbol: &str) -> Vec<u8> {
        let j = JsonEvent {
            bus_seq: self.seq,
            pub_ts_ns: self.pub_ts_ns,
            line: self.to_event_line(venue, symbol),
        };
        // Serializing plain data with string keys cannot fail.
        serde_json::to_vec(&j).unwrap_or_default()
    }

    /// Reads the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<BusEvent, CodecError> {
        let j: JsonEvent = serde_json::from_slice(bytes)?;
        let ev = j.line;
        let kind = ev.kind.ok_or(CodecError::Missing {
            kind: EventKind::Status,
            field: "kind",
        })?;
        let need =
            |v: Option<Decimal>, field: &'static str| v.ok_or(CodecError::Missing { kind, field });
        let payload = match kind {
            EventKind::Trade => Payload::Trade(Trade {
                price: need(ev.price, "price")?,
                qty: need(ev.qty, "qty")?,
                side: ev.side.ok_or(CodecError::Missing {
                    kind,
                    field: "side",
                })?,
                trade_id: ev.trade_id.as_deref().and_then(|t| t.parse().ok()).ok_or(
                    CodecError::Missing {
                        kind,
                        field: "trade_id",
                    },
                )?,
            }),
            EventKind::Quote => Payload::Quote(Quote {
                bid_px: need(ev.bid_px, "bid_px")?,
                bid_qty: need(ev.bid_qty, "bid_qty")?,
                ask_px: need(ev.ask_px, "ask_px")?,
                ask_qty: need(ev.ask_qty, "ask_qty")?,
                update_id: ev.seq.unwrap_or(0),
            }),
            EventKind::BookDelta | EventKind::BookSnapshot => {
                let b = BookLevels {
                    venue_seq: ev.seq.unwrap_or(0),
                    bids: ev.bids,
                    asks: ev.asks,
                };
                if kind == EventKind::BookSnapshot {
                    Payload::BookSnapshot(b)
                } else {
                    Payload::BookDelta(b)
                }
            }
            EventKind::Bar => Payload::Bar(
                ev.bar
                    .ok_or(CodecError::Missing { kind, field: "bar" })?
                    .into(),
            ),
            EventKind::Status => Payload::Status(
                match ev.status.ok_or(CodecError::Missing {
                    kind,
                    field: "status",
                })? {
                    StatusKind::Connected => FeedStatus::Connected,
                    StatusKind::Disconnected => FeedStatus::Disconnected,
                    StatusKind::Stale => FeedStatus::Stale,
                    StatusKind::Resynced => FeedStatus::Resynced,
                },
            ),
        };
        Ok(BusEvent {
            seq: j.bus_seq,
            exch_ts_ns: ev.exch_ts_ns.unwrap_or(0),
            pub_ts_ns: j.pub_ts_ns,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    /// One event of every kind, with decimals whose scale must survive.
    pub(crate) fn samples() -> Vec<BusEvent> {
        let ev = |seq, payload| BusEvent {
            seq,
            exch_ts_ns: 1_672_515_782_136_000_000,
            pub_ts_ns: 1_672_515_782_136_512_345,
            payload,
        };
        vec![
            ev(
                1,
                Payload::Trade(Trade {
                    price: d("30123.4500"),
                    qty: d("0.00100000"),
                    side: Side::Sell,
                    trade_id: 3_141_592_653,
                }),
            ),
            ev(
                u64::MAX,
                Payload::Quote(Quote {
                    bid_px: d("0.0100"),
                    bid_qty: d("79228162514264337593543950335"),
                    ask_px: d("0.0101"),
                    ask_qty: d("0.0000000000000000000000000001"),
                    update_id: 0,
                }),
            ),
            ev(
                7,
                Payload::BookDelta(BookLevels {
                    venue_seq: 42,
                    bids: vec![[d("100.10"), d("0")], [d("100.00"), d("2.5")]],
                    asks: vec![[d("100.20"), d("1.000")]],
                }),
            ),
            ev(
                8,
                Payload::BookSnapshot(BookLevels {
                    venue_seq: 41,
                    bids: vec![],
                    asks: vec![[d("1"), d("1")]],
                }),
            ),
            ev(
                2,
                Payload::Bar(Bar {
                    start_ns: 1_672_515_780_000_000_000,
                    timeframe_ns: 60_000_000_000,
                    open: d("10.0"),
                    high: d("12.50"),
                    low: d("9.99"),
                    close: d("11"),
                    volume: d("123.456"),
                    trades: 17,
                }),
            ),
            ev(3, Payload::Status(FeedStatus::Stale)),
            BusEvent {
                seq: 0,
                exch_ts_ns: -5,
                pub_ts_ns: i64::MIN,
                payload: Payload::Status(FeedStatus::Resynced),
            },
        ]
    }

    /// Decimals compared by value and scale (`Decimal`'s `==` ignores the scale).
    fn same(a: &BusEvent, b: &BusEvent) -> bool {
        a == b && format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn binary_round_trips_every_kind_exactly() {
        for ev in samples() {
            let bytes = ev.to_bytes();
            assert_eq!(bytes[0], VERSION);
            assert_eq!(bytes[1], ev.payload.kind().code());
            let back = BusEvent::decode(&bytes).unwrap();
            assert!(same(&ev, &back), "{ev:?} -> {back:?}");
        }
    }

    #[test]
    fn json_round_trips_every_kind_exactly_and_reads_as_interchange() {
        for ev in samples() {
            let json = ev.to_json("binance", "BTC-USDT");
            let back = BusEvent::decode(&json).unwrap();
            assert!(same(&ev, &back), "{}", String::from_utf8_lossy(&json));
            // The same object is an interchange line (the bus fields are extra).
            let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(v["venue"], "binance");
            assert_eq!(v["bus_seq"], ev.seq);
        }
        let json = samples()[0].to_json("sim", "BTC-USDT");
        let text = String::from_utf8(json).unwrap();
        assert!(text.contains(r#""price":"30123.4500""#), "{text}");
        assert!(text.contains(r#""qty":"0.00100000""#), "{text}");
    }

    #[test]
    fn binary_is_compact() {
        let s = samples();
        // Header 1+1+1+9+8; price 1+5 (mantissa 301234500), qty 1+3, side 1, trade id 5.
        assert_eq!(s[0].to_bytes().len(), 36);
        // A delta of three levels stays far below the JSON form.
        assert!(s[2].to_bytes().len() * 3 < s[2].to_json("binance", "BTC-USDT").len());
    }

    #[test]
    fn every_truncation_and_corruption_is_refused() {
        for ev in samples() {
            let bytes = ev.to_bytes();
            for n in 0..bytes.len() {
                assert!(BusEvent::decode(&bytes[..n]).is_err(), "{ev:?} cut at {n}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(matches!(
                BusEvent::decode(&longer),
                Err(CodecError::Trailing(1))
            ));
        }
        let mut b = samples()[0].to_bytes();
        b[0] = 2;
        assert!(matches!(BusEvent::decode(&b), Err(CodecError::Version(2))));
        b[0] = VERSION;
        b[1] = 9;
        assert!(matches!(BusEvent::decode(&b), Err(CodecError::Kind(9))));
        // A u64 varint of eleven bytes.
        let mut v = vec![VERSION, 6];
        v.extend_from_slice(&[0xff; 10]);
        v.push(0x01);
        assert!(matches!(BusEvent::decode(&v), Err(CodecError::Varint(2))));
        // A decimal of scale 29, and a mantissa of 97 bits.
        let head = {
            let mut h = vec![VERSION, 1, 1, 0];
            h.extend_from_slice(&0i64.to_le_bytes());
            h
        };
        let mut v = head.clone();
        v.extend_from_slice(&[29, 1]);
        assert!(matches!(BusEvent::decode(&v), Err(CodecError::Decimal(_))));
        let mut v = head.clone();
        v.push(0);
        v.extend_from_slice(&[0xff; 13]);
        v.push(0x02);
        assert!(BusEvent::decode(&v).is_err());
        // A book announcing more levels than it holds.
        let mut v = vec![VERSION, 3, 1, 0];
        v.extend_from_slice(&0i64.to_le_bytes());
        v.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0x0f, 0]);
        assert!(matches!(BusEvent::decode(&v), Err(CodecError::Levels(_))));
        assert!(matches!(BusEvent::decode(&[]), Err(CodecError::Empty)));
        assert!(BusEvent::decode(
            br#"{"bus_seq":1,"pub_ts_ns":0,"venue":"x","symbol":"A-B","kind":"trade"}"#
        )
        .is_err());
    }

    #[test]
    fn decimals_of_any_scale_and_sign_round_trip() {
        for s in [
            "0",
            "0.0",
            "-0.5",
            "1",
            "-79228162514264337593543950335",
            "7.9228162514264337593543950335",
            "0.0000000000000000000000000001",
            "123456789.123456789",
        ] {
            let v = Decimal::from_str(s).unwrap();
            let mut out = Vec::new();
            put_dec(&mut out, v);
            let mut r = Reader { b: &out, at: 0 };
            let back = r.dec().unwrap();
            assert_eq!(back.to_string(), v.to_string(), "{s}");
            assert_eq!(r.at, out.len());
        }
    }
}
