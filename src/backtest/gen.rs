//! `peregrine gen-ticks`: SYNTHETIC tick files from the simulator's seeded market
//! ([`peregrine_exchanges::sim::tape`]), written in the interchange format. No network; the
//! same seed, symbol, start, step and duration give the same bytes.

use std::io::Write;

use peregrine_engine::interchange::{EventKind, EventLine};
use peregrine_engine::types::InstrumentSpec;
use peregrine_exchanges::binance::normalize::Normalizer;
use peregrine_exchanges::md::{MsgKind, VenueNormalizer};
use peregrine_exchanges::sim::tape::SyntheticTape;
use peregrine_exchanges::sim::{SimConfig, SimError, SimSymbol};
use rust_decimal::Decimal;

use super::BacktestError;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Seed of the synthetic market.
    pub seed: u64,
    /// Canonical symbol (`BTC-USDT`).
    pub symbol: String,
    /// Start price, tick and lot size of the synthetic market.
    pub start_price: Decimal,
    /// Price increment.
    pub tick_size: Decimal,
    /// Quantity increment.
    pub lot_size: Decimal,
    /// Event time of the first step, ms since the epoch.
    pub start_ms: i64,
    /// Market step, ms of event time.
    pub step_ms: i64,
    /// Number of steps.
    pub steps: u64,
}

/// What was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Trade lines.
    pub trades: u64,
    /// Quote lines.
    pub quotes: u64,
}

/// Writes trade and quote lines (venue `sim`) of the synthetic market to `out`. Depth updates
/// are not written (the backtest fill model uses trades and the best quote).
pub fn generate<W: Write>(cfg: &GenConfig, mut out: W) -> Result<GenStats, BacktestError> {
    let spec = InstrumentSpec::from_canonical("binance", &cfg.symbol, cfg.tick_size, cfg.lot_size)
        .ok_or_else(|| SimError::Config(format!("symbol {:?} is not BASE-QUOTE", cfg.symbol)))?;
    let sim_symbol = SimSymbol {
        symbol: spec.venue_symbol.clone(),
        base: spec.base.clone(),
        quote: spec.quote.clone(),
        start_price: cfg.start_price,
        tick_size: cfg.tick_size,
        lot_size: cfg.lot_size,
        min_qty: cfg.lot_size,
        ..SimSymbol::btcusdt()
    };
    let sim = SimConfig {
        seed: cfg.seed,
        symbols: vec![sim_symbol],
        ..SimConfig::default()
    };
    let mut norm = Normalizer::new();
    let mut tape = SyntheticTape::new(&sim, cfg.start_ms, cfg.step_ms)?;
    let mut stats = GenStats::default();
    let mut lines: Vec<EventLine> = Vec::new();
    let mut io_err = None;
    let mut malformed = 0u64;
    for _ in 0..cfg.steps {
        let now_ms = tape.now_ms();
        let ts = now_ms.saturating_mul(1_000_000);
        lines.clear();
        tape.step(|stream, json| {
            if !(stream.ends_with("@trade") || stream.ends_with("@bookTicker")) {
                return;
            }
            let res = norm.normalize(json, &mut |m| {
                let mut ev = EventLine {
                    venue: "sim".into(),
                    symbol: cfg.symbol.clone(),
                    exch_ts_ns: Some(ts),
                    ..EventLine::default()
                };
                match m.kind {
                    MsgKind::Trade(tr) => {
                        ev.kind = Some(EventKind::Trade);
                        ev.price = Some(tr.price.normalize());
                        ev.qty = Some(tr.qty.normalize());
                        ev.side = Some(tr.side);
                        ev.trade_id = Some(tr.trade_id.to_string());
                    }
                    // A one-sided book (the first instants) has no quote to write.
                    MsgKind::Quote(q) if q.bid_px.is_zero() || q.ask_px.is_zero() => return,
                    MsgKind::Quote(q) => {
                        ev.kind = Some(EventKind::Quote);
                        ev.bid_px = Some(q.bid_px.normalize());
                        ev.bid_qty = Some(q.bid_qty.normalize());
                        ev.ask_px = Some(q.ask_px.normalize());
                        ev.ask_qty = Some(q.ask_qty.normalize());
                        ev.seq = q.seq;
                    }
                    MsgKind::Book(_) => return,
                }
                lines.push(ev);
            });
            if res.is_err() {
                malformed += 1;
            }
        });
        for ev in &lines {
            match ev.kind {
                Some(EventKind::Trade) => stats.trades += 1,
                _ => stats.quotes += 1,
            }
            if let Err(e) = ev.write_line(&mut out) {
                io_err = Some(e);
                break;
            }
        }
        if let Some(source) = io_err.take() {
            return Err(BacktestError::Write {
                path: "tick output".into(),
                source,
            });
        }
    }
    out.flush().map_err(|source| BacktestError::Write {
        path: "tick output".into(),
        source,
    })?;
    if tape.lost() > 0 || malformed > 0 {
        return Err(SimError::Config(format!(
            "the synthetic market produced {malformed} unreadable and lost {} frames",
            tape.lost()
        ))
        .into());
    }
    Ok(stats)
}
