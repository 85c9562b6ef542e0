//! `peregrine normalize --venue VENUE [FILE|-]`: raw venue frames in, interchange lines out.
//!
//! Input: one frame per line, either bare (the websocket text as received, or a Binance REST
//! depth snapshot) or in the `peregrine record` format
//! `{"ts_ns":..,"venue":"..","frame":"<raw text>"}` (its `ts_ns` becomes the line's `ts_ns`;
//! record lines of other venues are skipped and counted). Output: one
//! [`EventLine`] per venue message, decoded by the venue's own normalizer; control frames
//! (acks, pongs, heartbeats, error replies) produce nothing. A line that cannot be decoded
//! gets one error on stderr (`line N: reason`); the tool goes on and reports failure at the
//! end.

use std::io::{self, BufRead, Write};
use std::sync::Arc;

use peregrine_engine::interchange::{EventKind, EventLine};
use peregrine_engine::tick::{Tick, TickKind};
use peregrine_engine::types::{InstrumentSpec, Instruments, Side};
use peregrine_exchanges::binance::normalize::{Frame, NormalizeError};
use peregrine_exchanges::binance::rest::parse_depth_snapshot;
use peregrine_exchanges::binance::Normalizer as BinanceNormalizer;
use peregrine_exchanges::md::{canonical_symbol, event_line, FrameKind, VenueNormalizer};
use peregrine_exchanges::protocols::normalizer;
use peregrine_exchanges::venue::Venue;
use rust_decimal::Decimal;
use serde::Deserialize;

/// Counts of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Non-blank input lines read.
    pub lines: usize,
    /// Interchange lines written.
    pub events: usize,
    /// Lines that failed.
    pub failed: usize,
    /// Record lines of another venue, skipped.
    pub skipped: usize,
}

/// A `peregrine record` line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    ts_ns: u64,
    venue: String,
    frame: String,
}

/// Decodes frames of one venue into interchange lines.
pub struct FrameDecoder {
    venue: Venue,
    symbol: Option<String>,
    md: Option<Box<dyn VenueNormalizer>>,
    binance: Option<BinanceDecoder>,
}

struct BinanceDecoder {
    registry: Instruments,
    normalizer: BinanceNormalizer,
    ticks: Vec<Tick>,
}

impl FrameDecoder {
    /// A decoder for `venue`. `symbol` (canonical) names the instrument of frames that do not
    /// carry one (Binance's REST depth snapshot).
    pub fn new(venue: Venue, symbol: Option<String>) -> Self {
        let binance = (venue == Venue::Binance).then(|| BinanceDecoder {
            registry: Instruments::new(),
            normalizer: BinanceNormalizer::new(Arc::new(Instruments::new())),
            ticks: Vec::new(),
        });
        Self {
            venue,
            symbol,
            md: normalizer(venue),
            binance,
        }
    }

    /// Decodes one line (bare frame or record) into `out`. `Ok(false)`: a record of another
    /// venue, skipped.
    pub fn decode_line(&mut self, line: &str, out: &mut Vec<EventLine>) -> Result<bool, String> {
        let (frame, ts_ns) = match serde_json::from_str::<Record>(line) {
            Ok(rec) => {
                let v: Venue = rec.venue.parse().map_err(|e| format!("record: {e}"))?;
                if v != self.venue {
                    return Ok(false);
                }
                (rec.frame, Some(rec.ts_ns))
            }
            Err(_) => (line.to_string(), None),
        };
        self.decode_frame(&frame, ts_ns, out)?;
        Ok(true)
    }

    /// Decodes one raw frame into `out` (nothing for a control frame).
    pub fn decode_frame(
        &mut self,
        frame: &str,
        ts_ns: Option<u64>,
        out: &mut Vec<EventLine>,
    ) -> Result<(), String> {
        if let Some(md) = self.md.as_mut() {
            let venue = self.venue;
            let start = out.len();
            let r = md.normalize(frame, &mut |m| out.push(event_line(venue, m, ts_ns)));
            return match r {
                Ok(p) => match p.kind {
                    FrameKind::Data | FrameKind::Control | FrameKind::VenueError(_) => Ok(()),
                },
                Err(e) => {
                    out.truncate(start);
                    Err(e.to_string())
                }
            };
        }
        let symbol = self.symbol.clone();
        let b = self
            .binance
            .as_mut()
            .ok_or_else(|| format!("no decoder for {}", self.venue))?;
        b.decode(frame, ts_ns, symbol.as_deref(), out)
    }
}

impl BinanceDecoder {
    fn decode(
        &mut self,
        frame: &str,
        ts_ns: Option<u64>,
        symbol: Option<&str>,
        out: &mut Vec<EventLine>,
    ) -> Result<(), String> {
        if frame.contains("\"lastUpdateId\"") && !frame.contains("\"stream\"") {
            let snap = parse_depth_snapshot(frame).map_err(|e| e.to_string())?;
            let symbol = symbol.ok_or(
                "a REST depth snapshot names no symbol: pass --symbol (canonical, e.g. BTC-USDT)",
            )?;
            let mut ev = base(Venue::Binance, symbol.to_string(), ts_ns, 0);
            ev.kind = Some(EventKind::BookSnapshot);
            ev.bids = snap.bids.iter().map(|&(p, q)| [p, q]).collect();
            ev.asks = snap.asks.iter().map(|&(p, q)| [p, q]).collect();
            ev.seq = Some(snap.last_update_id);
            out.push(ev);
            return Ok(());
        }
        // Symbols are learnt as they appear: an unknown one is registered and the frame
        // decoded again.
        for _ in 0..2 {
            self.ticks.clear();
            let ticks = &mut self.ticks;
            match self.normalizer.normalize(frame, 0, |t| ticks.push(t)) {
                Ok(f) => return self.emit(f, ts_ns, out),
                Err(NormalizeError::UnknownSymbol(s)) => {
                    let canonical = canonical_symbol(Venue::Binance, &s);
                    let spec = InstrumentSpec::from_canonical(
                        "binance",
                        &canonical,
                        Decimal::ZERO,
                        Decimal::ZERO,
                    )
                    .filter(|spec| spec.venue_symbol == s)
                    .ok_or_else(|| format!("cannot tell base from quote in symbol {s:?}"))?;
                    self.registry.intern(spec);
                    self.normalizer = BinanceNormalizer::new(Arc::new(self.registry.clone()));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("symbol could not be registered".into())
    }

    fn emit(
        &self,
        frame: Frame<'_>,
        ts_ns: Option<u64>,
        out: &mut Vec<EventLine>,
    ) -> Result<(), String> {
        let symbol_of = |t: &Tick| self.registry.spec(t.instrument).symbol.clone();
        match frame {
            Frame::Control(_) => {}
            Frame::Trade | Frame::Quote => {
                for t in &self.ticks {
                    let mut ev = base(Venue::Binance, symbol_of(t), ts_ns, t.exch_ts_ns);
                    match t.kind {
                        TickKind::Trade(tr) => {
                            ev.kind = Some(EventKind::Trade);
                            ev.price = Some(tr.price);
                            ev.qty = Some(tr.qty);
                            ev.side = Some(tr.side);
                            ev.trade_id = Some(tr.trade_id.to_string());
                        }
                        TickKind::Quote(q) => {
                            ev.kind = Some(EventKind::Quote);
                            ev.bid_px = Some(q.bid_px);
                            ev.bid_qty = Some(q.bid_qty);
                            ev.ask_px = Some(q.ask_px);
                            ev.ask_qty = Some(q.ask_qty);
                            ev.seq = Some(q.update_id);
                        }
                        _ => continue,
                    }
                    out.push(ev);
                }
            }
            Frame::Depth(h) => {
                let symbol = self.registry.spec(h.instrument).symbol.clone();
                let mut ev = base(Venue::Binance, symbol, ts_ns, h.exch_ts_ns);
                ev.kind = Some(EventKind::BookDelta);
                for t in &self.ticks {
                    if let TickKind::BookDelta(d) = t.kind {
                        match d.side {
                            Side::Buy => ev.bids.push([d.price, d.qty]),
                            Side::Sell => ev.asks.push([d.price, d.qty]),
                        }
                    }
                }
                ev.first_seq = Some(h.first_update_id);
                ev.seq = Some(h.final_update_id);
                out.push(ev);
            }
        }
        Ok(())
    }
}

fn base(venue: Venue, symbol: String, ts_ns: Option<u64>, exch_ts_ns: i64) -> EventLine {
    EventLine {
        venue: venue.as_str().to_string(),
        symbol,
        ts_ns,
        exch_ts_ns: (exch_ts_ns != 0).then_some(exch_ts_ns),
        ..Default::default()
    }
}

/// Runs the tool over `input`, writing interchange lines to `out` and one error per failed
/// line to `err`.
pub fn run<R: BufRead, W: Write, E: Write>(
    venue: Venue,
    symbol: Option<String>,
    input: R,
    mut out: W,
    mut err: E,
) -> io::Result<Summary> {
    let mut dec = FrameDecoder::new(venue, symbol);
    let mut summary = Summary::default();
    let mut events = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                summary.failed += 1;
                writeln!(err, "line {n}: read failed: {e}")?;
                continue;
            }
        };
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        summary.lines += 1;
        events.clear();
        match dec.decode_line(text, &mut events) {
            Ok(true) => {
                for ev in &events {
                    ev.write_line(&mut out)?;
                }
                summary.events += events.len();
            }
            Ok(false) => summary.skipped += 1,
            Err(reason) => {
                summary.failed += 1;
                writeln!(err, "line {n}: {reason}")?;
            }
        }
    }
    out.flush()?;
    if summary.skipped > 0 {
        writeln!(
            err,
            "skipped {} record line(s) of other venues",
            summary.skipped
        )?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(venue: Venue, input: &str) -> (Summary, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let s = run(
            venue,
            Some("BNB-BTC".into()),
            input.as_bytes(),
            &mut out,
            &mut err,
        )
        .unwrap();
        (
            s,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn binance_frames_records_and_errors() {
        let trade = r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}"#;
        let record =
            serde_json::json!({"ts_ns": 5, "venue": "binance", "frame": trade}).to_string();
        let other = serde_json::json!({"ts_ns": 6, "venue": "okx", "frame": "pong"}).to_string();
        let input =
            format!("{trade}\n\n{record}\nnot json\n{other}\n{{\"result\":null,\"id\":1}}\n");
        let (s, out, err) = go(Venue::Binance, &input);
        assert_eq!(
            s,
            Summary {
                lines: 5,
                events: 2,
                failed: 1,
                skipped: 1
            }
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"venue":"binance","symbol":"BNB-BTC","kind":"trade","exch_ts_ns":1672515782136000000,"price":"0.001","qty":"100","side":"sell","trade_id":"12345"}"#
        );
        assert!(lines[1].contains(r#""ts_ns":5"#), "{}", lines[1]);
        assert!(err.starts_with("line 4: malformed frame"), "{err}");
    }
}
