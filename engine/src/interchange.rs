//! The tick interchange format: one normalized market-data event per line of JSON.
//!
//! `peregrine normalize` writes it, `peregrine record` captures the raw frames it is made from,
//! and replay and backtests read it. One line is one venue message (a depth update with many
//! levels is one `book_delta` line), so the venue's sequence fields stay attached to the levels
//! they describe.
//!
//! Money fields are JSON strings holding the exact decimal the venue sent: `"0.0100"` stays
//! `"0.0100"` (a [`Decimal`] keeps its scale through parse and print).
//!
//! ```json
//! {"venue":"binance","symbol":"BTC-USDT","kind":"trade","exch_ts_ns":1672515782136000000,
//!  "price":"0.001","qty":"100","side":"buy","trade_id":"12345"}
//! ```

use std::io::{self, BufRead, Write};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::bars::Bar;
use crate::types::Side;

/// What one interchange line describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A public trade.
    Trade,
    /// Best bid and offer.
    Quote,
    /// A full L2 book: replaces whatever the reader holds.
    BookSnapshot,
    /// Incremental L2 levels (absolute quantities; `"0"` deletes a level).
    BookDelta,
    /// Feed or book status change (see [`EventLine::status`]).
    Status,
    /// A closed time bar (see [`EventLine::bar`]); the market-data bus carries them, a
    /// backtest builds its own from trades and skips these lines.
    Bar,
}

/// Feed status carried by a `status` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    /// Connected and subscribed.
    Connected,
    /// Disconnected.
    Disconnected,
    /// The book or feed cannot be trusted; a resync is underway.
    Stale,
    /// The book was rebuilt from a fresh snapshot.
    Resynced,
}

/// One `[price, qty]` level.
pub type Level = [Decimal; 2];

/// One normalized event, the unit of the interchange format.
///
/// Fields that do not apply to the line's `kind` are `None`/empty and are left out of the JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// Venue name, lower case (`binance`, `bybit`, `okx`, `kraken`, `coinbase`, `sim`).
    pub venue: String,
    /// Canonical symbol (`BTC-USDT`).
    pub symbol: String,
    /// What this line is.
    pub kind: Option<EventKind>,
    /// Local receive time of the frame, ns (monotonic or wall, as recorded), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts_ns: Option<u64>,
    /// Exchange time, ns since the Unix epoch, when the venue gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exch_ts_ns: Option<i64>,

    /// Trade price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    /// Trade quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qty: Option<Decimal>,
    /// Trade aggressor side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// Venue trade id, as the venue spells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_id: Option<String>,

    /// Best bid price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_px: Option<Decimal>,
    /// Quantity at the best bid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_qty: Option<Decimal>,
    /// Best ask price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_px: Option<Decimal>,
    /// Quantity at the best ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_qty: Option<Decimal>,

    /// Book bid levels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bids: Vec<Level>,
    /// Book ask levels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asks: Vec<Level>,
    /// The venue's sequence of this message (Binance `u`, Bybit `u`, OKX `seqId`,
    /// Coinbase `sequence_num`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The first sequence the message covers (Binance `U`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    /// The sequence of the previous message (OKX `prevSeqId`); a gap when it differs from the
    /// last `seq` seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_seq: Option<i64>,
    /// A second, cross-sequence the venue sends (Bybit `seq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_seq: Option<u64>,
    /// The venue's book checksum for this message (OKX `checksum`, Kraken `checksum`), as a
    /// signed 64-bit value so both venues' spellings fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<i64>,

    /// The status carried by a `status` line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusKind>,
    /// Why the status changed (gap, checksum, silence, ...), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// The bar carried by a `bar` line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bar: Option<BarFields>,
}

/// The OHLCV of a `bar` line (exact decimals, strings in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BarFields {
    /// Bucket start, ns since the epoch.
    pub start_ns: i64,
    /// Bucket length, ns.
    pub timeframe_ns: i64,
    /// First trade price.
    pub open: Decimal,
    /// Highest trade price.
    pub high: Decimal,
    /// Lowest trade price.
    pub low: Decimal,
    /// Last trade price.
    pub close: Decimal,
    /// Traded quantity.
    pub volume: Decimal,
    /// Number of trades.
    pub trades: u64,
}

impl From<Bar> for BarFields {
    fn from(b: Bar) -> Self {
        BarFields {
            start_ns: b.start_ns,
            timeframe_ns: b.timeframe_ns,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            trades: b.trades,
        }
    }
}

impl From<BarFields> for Bar {
    fn from(b: BarFields) -> Self {
        Bar {
            start_ns: b.start_ns,
            timeframe_ns: b.timeframe_ns,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            trades: b.trades,
        }
    }
}

/// Why an interchange line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InterchangeError {
    /// Reading the input failed.
    #[error("line {line}: read failed: {source}")]
    Io {
        /// 1-based line number.
        line: usize,
        /// The I/O error.
        source: io::Error,
    },
    /// The line is not a valid event.
    #[error("line {line}: {source}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// The JSON error, with its column.
        source: serde_json::Error,
    },
    /// The line parsed but has no `kind`.
    #[error("line {line}: missing field `kind`")]
    MissingKind {
        /// 1-based line number.
        line: usize,
    },
}

impl EventLine {
    /// Parses one line; `line` (1-based) is used in the error.
    pub fn parse(text: &str, line: usize) -> Result<Self, InterchangeError> {
        let ev: EventLine = serde_json::from_str(text)
            .map_err(|source| InterchangeError::Parse { line, source })?;
        if ev.kind.is_none() {
            return Err(InterchangeError::MissingKind { line });
        }
        Ok(ev)
    }

    /// Writes the event as one JSON line (with the trailing newline).
    pub fn write_line<W: Write>(&self, out: &mut W) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self)?;
        out.write_all(b"\n")
    }
}

/// Reads an interchange stream line by line, skipping blank lines. Each item is one event or
/// the error of one line; the caller decides whether to stop at the first error.
pub fn read_lines<R: BufRead>(
    input: R,
) -> impl Iterator<Item = Result<EventLine, InterchangeError>> {
    input
        .lines()
        .enumerate()
        .filter_map(|(i, line)| match line {
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => Some(EventLine::parse(&text, i + 1)),
            Err(source) => Some(Err(InterchangeError::Io {
                line: i + 1,
                source,
            })),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn decimals_keep_their_scale_both_ways() {
        let text = r#"{"venue":"okx","symbol":"BTC-USDT","kind":"book_delta","bids":[["8476.98","0.0100"]],"asks":[["8477","0"]],"seq":123,"prev_seq":-1,"checksum":-855196043}"#;
        let ev = EventLine::parse(text, 1).unwrap();
        assert_eq!(ev.bids[0][1].to_string(), "0.0100");
        assert_eq!(ev.prev_seq, Some(-1));
        let mut out = Vec::new();
        ev.write_line(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().trim_end(), text);
    }

    #[test]
    fn trade_round_trips() {
        let ev = EventLine {
            venue: "binance".into(),
            symbol: "BTC-USDT".into(),
            kind: Some(EventKind::Trade),
            exch_ts_ns: Some(1_672_515_782_136_000_000),
            price: Some(Decimal::from_str("0.001").unwrap()),
            qty: Some(Decimal::from_str("100.00").unwrap()),
            side: Some(Side::Buy),
            trade_id: Some("12345".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        ev.write_line(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""qty":"100.00""#), "{text}");
        assert!(text.contains(r#""side":"buy""#), "{text}");
        assert_eq!(EventLine::parse(text.trim_end(), 1).unwrap(), ev);
    }

    #[test]
    fn errors_name_the_line() {
        let input = "\n{\"venue\":\"x\",\"symbol\":\"A-B\"}\nnot json\n";
        let errs: Vec<String> = read_lines(input.as_bytes())
            .map(|r| r.unwrap_err().to_string())
            .collect();
        assert_eq!(errs.len(), 2);
        assert!(
            errs[0].starts_with("line 2: missing field `kind`"),
            "{}",
            errs[0]
        );
        assert!(errs[1].starts_with("line 3:"), "{}", errs[1]);
    }
}
