//! Binance's binary (SBE) market data: the four stream events of `stream-sbe.binance.com`
//! decoded, without allocation, into the same [`Msg`]s as the JSON normalizer, so both
//! encodings feed one book sequencer and one set of value checks.
//!
//! Layout (schema `sbe/schemas/stream_1_0.xml` of `binance/binance-spot-api-docs`, schema id 1,
//! version 0, little endian; dated in `exchanges/tests/SOURCES.md`): an 8-byte message header
//! (`blockLength`, `templateId`, `schemaId`, `version`, all `u16`), the root block of
//! `blockLength` bytes, repeating groups (a `u16` entry length, then a `u32` count for
//! `trades` or a `u16` count for `bids`/`asks`), and the `symbol` as a `u8`-length UTF-8 string
//! at the end. Prices and quantities are `i64` mantissas with one `i8` exponent per message
//! (decoded exactly: mantissa `2535190000` with exponent `-8` is `25.35190000`, the JSON
//! text); times are microseconds. A block or group entry longer than the fields read here (a
//! later schema version) is skipped by its stated length.
//!
//! | template | event | stream | message |
//! | --- | --- | --- | --- |
//! | 10000 | `TradesStreamEvent` | `<sym>@trade` | one [`MsgKind::Trade`] per group entry |
//! | 10001 | `BestBidAskStreamEvent` | `<sym>@bestBidAsk` | [`MsgKind::Quote`] (`bookUpdateId` as its sequence) |
//! | 10002 | `DepthSnapshotStreamEvent` | `<sym>@depth20` | [`MsgKind::Book`] snapshot (`bookUpdateId`) |
//! | 10003 | `DepthDiffStreamEvent` | `<sym>@depth` | [`MsgKind::Book`] update (`firstBookUpdateId`/`lastBookUpdateId` as `U`/`u`) |

use peregrine_engine::types::{Price, Side};
use rust_decimal::Decimal;

use crate::md::batch::{quote_problem, trade_problem};
use crate::md::{BookMsg, FrameKind, Level, MdError, Msg, MsgKind, Parsed, QuoteMsg, TradeMsg};

/// `schemaId` of the market-data stream schema.
pub const SCHEMA_ID: u16 = 1;
/// `TradesStreamEvent`.
pub const TEMPLATE_TRADES: u16 = 10000;
/// `BestBidAskStreamEvent`.
pub const TEMPLATE_BEST_BID_ASK: u16 = 10001;
/// `DepthSnapshotStreamEvent`.
pub const TEMPLATE_DEPTH_SNAPSHOT: u16 = 10002;
/// `DepthDiffStreamEvent`.
pub const TEMPLATE_DEPTH_DIFF: u16 = 10003;

/// Bytes of the message header.
const HEADER: usize = 8;
/// Root block bytes read per template (the schema's fields up to the first group).
const TRADES_ROOT: usize = 18;
const BBA_ROOT: usize = 50;
const SNAPSHOT_ROOT: usize = 18;
const DIFF_ROOT: usize = 26;
/// Group entry bytes read: a trade (`id`, `price`, `qty`, `isBuyerMaker`) and a level.
const TRADE_ENTRY: usize = 25;
const LEVEL_ENTRY: usize = 16;

/// Decodes SBE frames; owns the scratch space its messages borrow (levels, trade id text).
#[derive(Debug, Default)]
pub struct SbeDecoder {
    levels: Vec<Level>,
    trade_id: IdText,
}

impl SbeDecoder {
    /// A decoder with room for a 5000-level book message before it grows.
    pub fn new() -> Self {
        Self {
            levels: Vec::with_capacity(5000),
            trade_id: IdText::default(),
        }
    }

    /// Decodes one binary frame and passes its messages to `sink`, in frame order.
    pub fn decode(
        &mut self,
        frame: &[u8],
        sink: &mut dyn FnMut(&Msg<'_, '_>),
    ) -> Result<Parsed, MdError> {
        let mut r = Reader { buf: frame, pos: 0 };
        let block = usize::from(r.u16()?);
        let template = r.u16()?;
        let schema = r.u16()?;
        let _version = r.u16()?;
        if schema != SCHEMA_ID {
            return Err(MdError::Invalid {
                field: "schemaId",
                problem: "not the market-data stream schema (1)",
            });
        }
        let root = match template {
            TEMPLATE_TRADES => TRADES_ROOT,
            TEMPLATE_BEST_BID_ASK => BBA_ROOT,
            TEMPLATE_DEPTH_SNAPSHOT => SNAPSHOT_ROOT,
            TEMPLATE_DEPTH_DIFF => DIFF_ROOT,
            other => return Err(MdError::Unsupported(format!("SBE template {other}"))),
        };
        if block < root {
            return Err(MdError::Invalid {
                field: "blockLength",
                problem: "shorter than the message's fields",
            });
        }
        let body = HEADER + block;
        match template {
            TEMPLATE_TRADES => self.trades(&mut r, body, sink)?,
            TEMPLATE_BEST_BID_ASK => best_bid_ask(&mut r, body, sink)?,
            _ => self.depth(&mut r, body, template == TEMPLATE_DEPTH_SNAPSHOT, sink)?,
        }
        Ok(Parsed {
            kind: FrameKind::Data,
            conn_seq: None,
        })
    }

    fn trades(
        &mut self,
        r: &mut Reader<'_>,
        body: usize,
        sink: &mut dyn FnMut(&Msg<'_, '_>),
    ) -> Result<(), MdError> {
        let _event_us = r.i64()?;
        let ts = us_to_ns(r.i64()?)?;
        let (pe, qe) = (r.i8()?, r.i8()?);
        r.pos = body;
        let entry = usize::from(r.u16()?);
        let count = r.u32()? as usize;
        if entry < TRADE_ENTRY {
            return Err(short_entry("trades"));
        }
        let first = r.pos;
        r.pos = first
            .checked_add(entry.checked_mul(count).ok_or_else(truncated)?)
            .ok_or_else(truncated)?;
        let symbol = r.symbol()?;
        for k in 0..count {
            let mut e = Reader {
                buf: r.buf,
                pos: first + k * entry,
            };
            let id = e.i64()?;
            let price = decimal("price", e.i64()?, pe)?;
            let qty = decimal("qty", e.i64()?, qe)?;
            let side = match e.u8()? {
                0 => Side::Buy, // the buyer is the taker
                1 => Side::Sell,
                _ => {
                    return Err(MdError::Invalid {
                        field: "isBuyerMaker",
                        problem: "not a boolEnum",
                    })
                }
            };
            if id < 0 {
                return Err(MdError::Negative { field: "id" });
            }
            let trade_id = self.trade_id.format(id);
            if let Some(err) = trade_problem(symbol, trade_id, price, qty) {
                return Err(err);
            }
            sink(&Msg {
                symbol,
                exch_ts_ns: ts,
                kind: MsgKind::Trade(TradeMsg {
                    price,
                    qty,
                    side,
                    trade_id,
                }),
            });
        }
        Ok(())
    }

    fn depth(
        &mut self,
        r: &mut Reader<'_>,
        body: usize,
        snapshot: bool,
        sink: &mut dyn FnMut(&Msg<'_, '_>),
    ) -> Result<(), MdError> {
        let ts = us_to_ns(r.i64()?)?;
        let (first_seq, seq) = if snapshot {
            (None, update_id(r.i64()?)?)
        } else {
            (Some(update_id(r.i64()?)?), update_id(r.i64()?)?)
        };
        let (pe, qe) = (r.i8()?, r.i8()?);
        r.pos = body;
        self.levels.clear();
        for side in [Side::Buy, Side::Sell] {
            let entry = usize::from(r.u16()?);
            let count = usize::from(r.u16()?);
            if entry < LEVEL_ENTRY {
                return Err(short_entry("levels"));
            }
            for _ in 0..count {
                let start = r.pos;
                let price = decimal("price", r.i64()?, pe)?;
                let qty = decimal("qty", r.i64()?, qe)?;
                if price.is_zero() {
                    return Err(MdError::NonPositivePrice {
                        field: "level price",
                    });
                }
                self.levels.push((side, price, qty));
                r.pos = start + entry;
            }
        }
        let symbol = r.symbol()?;
        if symbol.is_empty() {
            return Err(MdError::EmptySymbol);
        }
        sink(&Msg {
            symbol,
            exch_ts_ns: ts,
            kind: MsgKind::Book(BookMsg {
                snapshot,
                levels: &self.levels,
                seq: Some(seq),
                first_seq,
                prev_seq: None,
                cross_seq: None,
                checksum: None,
            }),
        });
        Ok(())
    }
}

fn best_bid_ask(
    r: &mut Reader<'_>,
    body: usize,
    sink: &mut dyn FnMut(&Msg<'_, '_>),
) -> Result<(), MdError> {
    let ts = us_to_ns(r.i64()?)?;
    let seq = update_id(r.i64()?)?;
    let (pe, qe) = (r.i8()?, r.i8()?);
    let quote = QuoteMsg {
        bid_px: decimal("bidPrice", r.i64()?, pe)?,
        bid_qty: decimal("bidQty", r.i64()?, qe)?,
        ask_px: decimal("askPrice", r.i64()?, pe)?,
        ask_qty: decimal("askQty", r.i64()?, qe)?,
        seq: Some(seq),
    };
    r.pos = body;
    let symbol = r.symbol()?;
    if let Some(err) = quote_problem(symbol, &quote) {
        return Err(err);
    }
    sink(&Msg {
        symbol,
        exch_ts_ns: ts,
        kind: MsgKind::Quote(quote),
    });
    Ok(())
}

/// The exact decimal `mantissa * 10^exponent`, keeping the exponent as its scale (so it
/// prints as the JSON stream's text). A negative mantissa is refused like a signed text.
#[inline]
fn decimal(field: &'static str, mantissa: i64, exponent: i8) -> Result<Price, MdError> {
    if mantissa < 0 {
        return Err(MdError::Negative { field });
    }
    let out_of_range = MdError::Invalid {
        field,
        problem: "mantissa and exponent out of the decimal range",
    };
    if exponent <= 0 {
        Decimal::try_from_i128_with_scale(i128::from(mantissa), u32::from(exponent.unsigned_abs()))
            .map_err(|_| out_of_range)
    } else {
        10i128
            .checked_pow(u32::from(exponent.unsigned_abs()))
            .and_then(|p| p.checked_mul(i128::from(mantissa)))
            .and_then(|v| Decimal::try_from_i128_with_scale(v, 0).ok())
            .ok_or(out_of_range)
    }
}

/// A book update id (`int64` in the schema, never negative).
fn update_id(v: i64) -> Result<u64, MdError> {
    u64::try_from(v).map_err(|_| MdError::Negative {
        field: "bookUpdateId",
    })
}

/// Microseconds since the epoch to nanoseconds.
fn us_to_ns(us: i64) -> Result<i64, MdError> {
    if us < 0 {
        return Err(MdError::Negative { field: "time" });
    }
    us.checked_mul(1000).ok_or(MdError::Invalid {
        field: "time",
        problem: "time out of range",
    })
}

fn truncated() -> MdError {
    MdError::Malformed("truncated SBE frame".into())
}

fn short_entry(group: &'static str) -> MdError {
    MdError::Invalid {
        field: group,
        problem: "group entries shorter than their fields",
    }
}

/// The decimal text of a trade id (the JSON stream's `t`), written in place.
#[derive(Debug, Default)]
struct IdText {
    digits: [u8; 20],
}

impl IdText {
    /// `id` (not negative) in decimal digits.
    fn format(&mut self, id: i64) -> &str {
        let mut v = id.unsigned_abs();
        let mut at = self.digits.len();
        loop {
            at -= 1;
            self.digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        // Only ASCII digits were written.
        std::str::from_utf8(&self.digits[at..]).unwrap_or_default()
    }
}

/// A bounds-checked little-endian cursor over one frame.
struct Reader<'f> {
    buf: &'f [u8],
    pos: usize,
}

impl<'f> Reader<'f> {
    #[inline]
    fn take<const N: usize>(&mut self) -> Result<[u8; N], MdError> {
        let end = self.pos.checked_add(N).ok_or_else(truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
    #[inline]
    fn u8(&mut self) -> Result<u8, MdError> {
        Ok(self.take::<1>()?[0])
    }
    #[inline]
    fn i8(&mut self) -> Result<i8, MdError> {
        Ok(i8::from_le_bytes(self.take::<1>()?))
    }
    #[inline]
    fn u16(&mut self) -> Result<u16, MdError> {
        Ok(u16::from_le_bytes(self.take::<2>()?))
    }
    #[inline]
    fn u32(&mut self) -> Result<u32, MdError> {
        Ok(u32::from_le_bytes(self.take::<4>()?))
    }
    #[inline]
    fn i64(&mut self) -> Result<i64, MdError> {
        Ok(i64::from_le_bytes(self.take::<8>()?))
    }
    /// The `varString8` symbol at the cursor.
    fn symbol(&mut self) -> Result<&'f str, MdError> {
        let len = usize::from(self.u8()?);
        let end = self.pos.checked_add(len).ok_or_else(truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        std::str::from_utf8(bytes).map_err(|_| MdError::Invalid {
            field: "symbol",
            problem: "not UTF-8",
        })
    }
}

#[cfg(test)]
mod tests;
