//! Reading interchange lines ([`EventLine`]) into engine [`Tick`]s for a backtest.

use std::io::BufRead;
use std::sync::Arc;

use peregrine_engine::interchange::{EventKind, EventLine, InterchangeError, StatusKind};
use peregrine_engine::tick::{BookDelta, FeedStatus, Quote, Tick, TickKind, Trade};
use peregrine_engine::types::{InstrumentId, Instruments};
use rust_decimal::Decimal;

use super::BacktestError;

/// Converts interchange events of known instruments to ticks; lines of other symbols are
/// counted and skipped.
#[derive(Debug)]
pub struct TickDecoder {
    instruments: Arc<Instruments>,
    /// Lines skipped because their symbol is not a configured instrument.
    pub skipped: u64,
}

fn missing(line: usize, field: &'static str, kind: EventKind) -> BacktestError {
    BacktestError::Data {
        line,
        message: format!("a {kind:?} line needs `{field}`"),
    }
}

impl TickDecoder {
    /// A decoder resolving canonical symbols (`BTC-USDT`) through `instruments`.
    pub fn new(instruments: Arc<Instruments>) -> Self {
        Self {
            instruments,
            skipped: 0,
        }
    }

    /// Appends the ticks of one event to `out` (a book line gives one tick per level).
    pub fn decode(
        &mut self,
        ev: &EventLine,
        line: usize,
        out: &mut Vec<Tick>,
    ) -> Result<(), BacktestError> {
        let Some(instrument) = self.instruments.by_symbol(&ev.symbol) else {
            self.skipped += 1;
            return Ok(());
        };
        let Some(kind) = ev.kind else {
            return Err(BacktestError::Interchange(InterchangeError::MissingKind {
                line,
            }));
        };
        let exch_ts_ns = ev
            .exch_ts_ns
            .or(ev.ts_ns.and_then(|t| i64::try_from(t).ok()))
            .unwrap_or(0);
        let tick = |kind: TickKind| Tick {
            instrument,
            exch_ts_ns,
            recv_ns: 0,
            kind,
        };
        match kind {
            EventKind::Trade => {
                let price = ev.price.ok_or_else(|| missing(line, "price", kind))?;
                let qty = ev.qty.ok_or_else(|| missing(line, "qty", kind))?;
                let side = ev.side.ok_or_else(|| missing(line, "side", kind))?;
                positive(line, "price", price)?;
                positive(line, "qty", qty)?;
                let trade_id = ev
                    .trade_id
                    .as_deref()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(line as u64);
                out.push(tick(TickKind::Trade(Trade {
                    price,
                    qty,
                    side,
                    trade_id,
                })));
            }
            EventKind::Quote => {
                let q = Quote {
                    bid_px: ev.bid_px.ok_or_else(|| missing(line, "bid_px", kind))?,
                    bid_qty: ev.bid_qty.ok_or_else(|| missing(line, "bid_qty", kind))?,
                    ask_px: ev.ask_px.ok_or_else(|| missing(line, "ask_px", kind))?,
                    ask_qty: ev.ask_qty.ok_or_else(|| missing(line, "ask_qty", kind))?,
                    update_id: ev.seq.unwrap_or(0),
                };
                out.push(tick(TickKind::Quote(q)));
            }
            EventKind::BookSnapshot | EventKind::BookDelta => {
                let seq = ev.seq.unwrap_or(0);
                let snapshot = kind == EventKind::BookSnapshot;
                out.extend(BookDelta::message(&ev.bids, &ev.asks, seq, snapshot).map(tick));
            }
            EventKind::Status => {
                let s = match ev.status.ok_or_else(|| missing(line, "status", kind))? {
                    StatusKind::Connected => FeedStatus::Connected,
                    StatusKind::Disconnected => FeedStatus::Disconnected,
                    StatusKind::Stale => FeedStatus::Stale,
                    StatusKind::Resynced => FeedStatus::Resynced,
                };
                out.push(tick(TickKind::Status(s)));
            }
            // The backtest builds bars from the trades it replays; recorded bars add nothing.
            EventKind::Bar => {}
        }
        Ok(())
    }

    /// The instrument id of a canonical symbol, if configured.
    pub fn instrument(&self, symbol: &str) -> Option<InstrumentId> {
        self.instruments.by_symbol(symbol)
    }
}

fn positive(line: usize, field: &str, v: Decimal) -> Result<(), BacktestError> {
    if v <= Decimal::ZERO {
        return Err(BacktestError::Data {
            line,
            message: format!("`{field}` must be positive, got {v}"),
        });
    }
    Ok(())
}

/// Reads an interchange stream line by line into a reused buffer, calling `each` with every
/// event and its 1-based line number; blank lines are skipped. Stops at the first error.
pub fn for_each_line<R: BufRead>(
    mut input: R,
    mut each: impl FnMut(EventLine, usize) -> Result<(), BacktestError>,
) -> Result<u64, BacktestError> {
    let mut buf = String::with_capacity(512);
    let mut line = 0usize;
    let mut events = 0u64;
    loop {
        buf.clear();
        line += 1;
        let n = input
            .read_line(&mut buf)
            .map_err(|source| BacktestError::Interchange(InterchangeError::Io { line, source }))?;
        if n == 0 {
            return Ok(events);
        }
        let text = buf.trim_end();
        if text.trim_start().is_empty() {
            continue;
        }
        let ev = EventLine::parse(text, line)?;
        events += 1;
        each(ev, line)?;
    }
}
