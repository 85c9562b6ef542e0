//! `peregrine normalize --venue VENUE [FILE|-]`: raw venue frames in, interchange lines out.
//!
//! Input: one frame per line, either bare (the websocket text as received, or a Binance REST
//! depth snapshot) or in the `peregrine record` format
//! `{"ts_ns":..,"venue":"..","frame":"<raw text>"}` (its `ts_ns` becomes the line's `ts_ns`;
//! record lines of other venues are skipped and counted). Output: one
//! [`EventLine`] per venue message, decoded by the venue's normalizer on the shared `md`
//! reader (all five venues, Binance's REST depth snapshot too); control frames
//! (acks, pongs, heartbeats, error replies) produce nothing. A line that cannot be decoded
//! gets one error on stderr (`line N: reason`); the tool goes on and reports failure at the
//! end.

use std::io::{self, BufRead, Write};

use peregrine_engine::interchange::EventLine;
use peregrine_exchanges::md::{event_line, VenueNormalizer};
use peregrine_exchanges::protocols::normalizer;
use peregrine_exchanges::venue::Venue;
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
    md: Box<dyn VenueNormalizer>,
}

impl FrameDecoder {
    /// A decoder for `venue`. `symbol` (canonical) names the instrument of frames that do not
    /// carry one (Binance's REST depth snapshot and raw partial-depth stream).
    pub fn new(venue: Venue, symbol: Option<String>) -> Self {
        let md = match normalizer(venue) {
            Some(n) => n,
            None => Box::new(peregrine_exchanges::binance::Normalizer::new()),
        };
        Self { venue, symbol, md }
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
        let venue = self.venue;
        let start = out.len();
        let r = self
            .md
            .normalize(frame, &mut |m| out.push(event_line(venue, m, ts_ns)));
        if let Err(e) = r {
            out.truncate(start);
            return Err(e.to_string());
        }
        // A frame that names no symbol: the one given on the command line.
        for ev in &mut out[start..] {
            if ev.symbol.is_empty() {
                match &self.symbol {
                    Some(s) => ev.symbol = s.clone(),
                    None => {
                        out.truncate(start);
                        return Err(
                            "a REST depth snapshot or raw partial depth names no symbol: \
                                    pass --symbol (canonical, e.g. BTC-USDT)"
                                .into(),
                        );
                    }
                }
            }
        }
        Ok(())
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
