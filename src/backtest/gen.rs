//! `peregrine gen-ticks`: SYNTHETIC tick files from the simulator's seeded market
//! ([`peregrine_exchanges::sim::tape`]), written in the interchange format. No network; the
//! same seed, symbol, start, step and duration give the same bytes.

use std::io::Write;

use peregrine_engine::interchange::{EventKind, EventLine};
use peregrine_engine::types::InstrumentSpec;
use peregrine_exchanges::binance::normalize::Normalizer;
use peregrine_exchanges::md::{MsgKind, VenueNormalizer};
use peregrine_exchanges::sim::tape::SyntheticTape;
use peregrine_exchanges::sim::{MarketParams, SimConfig, SimError, SimSymbol};
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
    /// The price and activity process (volatility, drift, jumps, regimes, seasonality): the
    /// live simulator's model.
    pub market: MarketParams,
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
        market: cfg.market.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn config(minutes: u64, market: MarketParams) -> GenConfig {
        GenConfig {
            seed: 9,
            symbol: "BTC-USDT".into(),
            start_price: dec!(60000),
            tick_size: dec!(0.01),
            lot_size: dec!(0.00001),
            start_ms: 1_767_225_600_000 + 14 * 3_600_000,
            step_ms: 100,
            steps: minutes * 600,
            market,
        }
    }

    /// (realized vol of 1-minute mid returns scaled to a day, trades per minute); every
    /// price an exact multiple of the tick.
    fn character(cfg: &GenConfig) -> (f64, f64) {
        let mut out = Vec::new();
        let stats = generate(cfg, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut minute_mids: Vec<f64> = Vec::new();
        let mut minute = i64::MIN;
        for line in text.lines() {
            let ev: EventLine = serde_json::from_str(line).unwrap();
            for px in [ev.price, ev.bid_px, ev.ask_px].into_iter().flatten() {
                assert!((px % cfg.tick_size).is_zero(), "{px} is not on the tick");
            }
            if let (Some(b), Some(a)) = (ev.bid_px, ev.ask_px) {
                let m = ev.exch_ts_ns.unwrap() / 60_000_000_000;
                let mid = ((b + a) / Decimal::TWO).to_string().parse::<f64>().unwrap();
                if m != minute {
                    minute = m;
                    minute_mids.push(mid);
                } else if let Some(last) = minute_mids.last_mut() {
                    *last = mid;
                }
            }
        }
        let rets: Vec<f64> = minute_mids.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
        let per_day = 1440.0 / rets.len() as f64;
        let vol = (rets.iter().map(|r| r * r).sum::<f64>() * per_day).sqrt();
        let minutes = cfg.steps as f64 * cfg.step_ms as f64 / 60_000.0;
        (vol, stats.trades as f64 / minutes)
    }

    #[test]
    fn generated_ticks_have_the_models_character_and_knobs_move_it() {
        // 30 minutes around the 14:30 UTC peak, calm regime only (so the figure is the
        // diffusion's): sd of a day = 2.5 %, times sqrt(1.5) for the peak's activity.
        let calm = MarketParams {
            turbulent_share: 0.0,
            jumps_per_day: 0.0,
            ..MarketParams::default()
        };
        let (vol, trades_per_min) = character(&config(30, calm.clone()));
        assert!((0.02..0.045).contains(&vol), "daily vol {vol}");
        // 35/s at the mean, 1.5x at the peak, at most one per 100 ms step here: 600/min cap.
        assert!(trades_per_min > 400.0, "{trades_per_min} trades/min");
        let (vol_hi, _) = character(&config(
            30,
            MarketParams {
                daily_vol: 0.1,
                ..calm.clone()
            },
        ));
        assert!(vol_hi / vol > 2.5, "{vol} -> {vol_hi}");
        let (_, quiet) = character(&config(
            30,
            MarketParams {
                takers_per_s: 1.0,
                ..calm
            },
        ));
        assert!(quiet < 300.0, "{quiet} trades/min");
    }

    #[test]
    fn same_seed_same_bytes() {
        let cfg = config(1, MarketParams::default());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        generate(&cfg, &mut a).unwrap();
        generate(&cfg, &mut b).unwrap();
        assert_eq!(a, b);
        let mut c = Vec::new();
        generate(&GenConfig { seed: 10, ..cfg }, &mut c).unwrap();
        assert_ne!(a, c);
    }
}
