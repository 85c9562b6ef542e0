//! The seeded synthetic market: a mid price following the process of [`super::market_model`]
//! (volatility, drift, jumps, regimes, intraday seasonality), rounded to ticks, market makers
//! quoting about 20 levels per side around it, and takers sending market orders at the
//! model's rate. Synthetic orders live in the
//! same books as ours, so takers fill our resting orders and makers re-quoting through a moved
//! mid trade against them.
//!
//! All randomness comes from `ChaCha8Rng` streams per symbol seeded from the config seed (one for
//! the price process, one for makers and takers), and all prices and sizes are integer
//! multiples of the tick and lot size (exact decimals).

use std::sync::Arc;

use peregrine_engine::types::Side;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::config::SimSymbol;
use super::error::SimError;
use super::exchange::{DepthSpeed, Exchange};
use super::market_model::{MarketModel, MarketParams};
use super::matching::{OrderKind, Owner, TimeInForce};
use super::state::Shared;
use super::wire::now_ms;

/// Price levels quoted by the synthetic makers on each side.
pub const QUOTED_LEVELS: i64 = 20;
/// Synthetic quotes further than this many ticks from the touch are pulled.
const PULL_BEYOND: i64 = QUOTED_LEVELS + 5;

/// Per-symbol synthetic market state.
#[derive(Debug)]
pub struct Synth {
    rng: ChaCha8Rng,
    model: MarketModel,
    /// Synthetic market orders due in the current step (from the model).
    takers: u32,
    start_ticks: i64,
    mid_ticks: i64,
    spread_ticks: i64,
    tick: Decimal,
    lot: Decimal,
    min_qty: Decimal,
    max_qty: Decimal,
    min_notional: Decimal,
}

impl Synth {
    /// State for the symbol at position `index` of the config, its price following `market`.
    pub fn new(
        seed: u64,
        index: u64,
        spec: &SimSymbol,
        market: &MarketParams,
    ) -> Result<Self, SimError> {
        let bad = |what: &str| SimError::Config(format!("{}: {what}", spec.symbol));
        if spec.tick_size <= Decimal::ZERO || spec.lot_size <= Decimal::ZERO {
            return Err(bad("tick_size and lot_size must be positive"));
        }
        if spec.min_qty <= Decimal::ZERO || spec.max_qty < spec.min_qty {
            return Err(bad("need 0 < min_qty <= max_qty"));
        }
        let mid_ticks = (spec.start_price / spec.tick_size)
            .round()
            .to_i64()
            .ok_or_else(|| bad("start_price / tick_size out of range"))?;
        if mid_ticks < 4 * PULL_BEYOND {
            return Err(bad("start_price must be at least 100 ticks"));
        }
        market.validate().map_err(SimError::Config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index);
        Ok(Synth {
            rng,
            model: MarketModel::new(market, seed, index, mid_ticks as f64),
            takers: 0,
            start_ticks: mid_ticks,
            mid_ticks,
            spread_ticks: 1,
            tick: spec.tick_size,
            lot: spec.lot_size,
            min_qty: spec.min_qty,
            max_qty: spec.max_qty,
            min_notional: if spec.min_notional > Decimal::ZERO {
                spec.min_notional
            } else {
                Decimal::ONE
            },
        })
    }

    fn price(&self, ticks: i64) -> Decimal {
        self.tick * Decimal::from(ticks)
    }

    /// A quantity worth about `k_min..=k_max` times the min notional at `price`, in lots.
    fn draw_qty(&mut self, price: Decimal, k_min: u32, k_max: u32) -> Decimal {
        let k = self.rng.random_range(k_min..=k_max);
        let notional = self.min_notional * Decimal::from(k);
        let lots = (notional / (price * self.lot)).floor();
        (lots * self.lot).max(self.min_qty).min(self.max_qty)
    }

    /// Advances the price process to `now` (ms); returns the desired best bid and ask in
    /// ticks and records how many market orders are due.
    fn advance(&mut self, now: i64) -> (i64, i64) {
        let step = self.model.step(now);
        self.takers = step.takers;
        // The model runs in ticks (its start price is the start in ticks).
        let target = step.price.round();
        self.mid_ticks = if target.is_finite() && target < i64::MAX as f64 / 2.0 {
            (target as i64).max(4 * PULL_BEYOND)
        } else {
            self.start_ticks
        };
        if self.rng.random_bool(0.05) {
            self.spread_ticks = self.rng.random_range(1..=3);
        }
        let bid = self.mid_ticks - self.spread_ticks / 2;
        (bid, bid + self.spread_ticks)
    }
}

impl Exchange {
    /// One step of the synthetic market for every symbol.
    pub fn market_step(&mut self, now: i64) {
        let names: Vec<String> = self.symbols.keys().cloned().collect();
        for name in names {
            self.step_symbol(&name, now);
        }
    }

    fn step_symbol(&mut self, symbol: &str, now: i64) {
        // 1. Move the mid; decide which synthetic quotes to pull.
        let Some(sym) = self.symbols.get_mut(symbol) else {
            return;
        };
        let (bid, ask) = sym.synth.advance(now);
        let (bid_px, ask_px) = (sym.synth.price(bid), sym.synth.price(ask));
        let (low_bid, high_ask) = (
            sym.synth.price(bid - PULL_BEYOND),
            sym.synth.price(ask + PULL_BEYOND),
        );
        let mut pull = Vec::new();
        let mut churn = Vec::new();
        for side in [Side::Buy, Side::Sell] {
            for (price, o) in sym.book.orders_on(side) {
                if o.owner != Owner::Synthetic {
                    continue;
                }
                let stale = match side {
                    Side::Buy => price > bid_px || price < low_bid,
                    Side::Sell => price < ask_px || price > high_ask,
                };
                if stale {
                    pull.push(o.id);
                } else {
                    churn.push(o.id);
                }
            }
        }
        if !churn.is_empty() && sym.synth.rng.random_bool(0.2) {
            let i = sym.synth.rng.random_range(0..churn.len());
            pull.push(churn[i]);
        }
        for id in pull {
            self.cancel_synthetic(symbol, id);
        }

        // 2. Replenish thin levels.
        let Some(sym) = self.symbols.get_mut(symbol) else {
            return;
        };
        let thin = sym.synth.min_notional * Decimal::from(40);
        let mut quotes = Vec::new();
        for i in 0..QUOTED_LEVELS {
            for (side, ticks) in [(Side::Buy, bid - i), (Side::Sell, ask + i)] {
                let price = sym.synth.price(ticks);
                let have = sym.book.level_qty_of(side, price, Owner::Synthetic);
                if have * price >= thin {
                    continue;
                }
                if !have.is_zero() && !sym.synth.rng.random_bool(0.3) {
                    continue;
                }
                let qty = sym.synth.draw_qty(price, 40, 2000);
                quotes.push((side, price, qty));
            }
        }
        for (side, price, qty) in quotes {
            let kind = OrderKind::Limit {
                price,
                tif: TimeInForce::Gtc,
                post_only: false,
            };
            self.submit_synthetic(symbol, side, qty, kind, now);
        }

        // 3. The takers the model sends in this step.
        let Some(sym) = self.symbols.get_mut(symbol) else {
            return;
        };
        for _ in 0..sym.synth.takers {
            let Some(sym) = self.symbols.get_mut(symbol) else {
                return;
            };
            let side = if sym.synth.rng.random_bool(0.5) {
                Side::Buy
            } else {
                Side::Sell
            };
            let ref_px = sym.synth.price(sym.synth.mid_ticks);
            let qty = sym.synth.draw_qty(ref_px, 2, 300);
            self.submit_synthetic(symbol, side, qty, OrderKind::Market, now);
        }
        self.publish_book_changes(symbol, now);
    }
}

/// The work of the 100 ms / 1000 ms timers: flush the diff-depth streams, publish the timed
/// streams (partial depth, tickers, average price, klines).
fn timed(shared: &Shared, speed: DepthSpeed) {
    let now = now_ms();
    let mut ex = shared.exchange();
    ex.flush_depth(speed, now);
    ex.publish_periodic(speed, now);
}

/// The market task: steps the synthetic market every `md_interval` (unless paused) and runs
/// the 100 ms and 1000 ms timers ([`timed`]), until shutdown.
pub async fn run(shared: Arc<Shared>) {
    use tokio::time::{interval, Duration, MissedTickBehavior};
    let mut step = interval(shared.md_interval);
    let mut fast = interval(Duration::from_millis(100));
    let mut slow = interval(Duration::from_millis(1000));
    for i in [&mut step, &mut fast, &mut slow] {
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    }
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = step.tick() => {
                if !shared.is_paused() {
                    shared.exchange().market_step(now_ms());
                }
            }
            _ = fast.tick() => timed(&shared, DepthSpeed::Fast),
            _ = slow.tick() => timed(&shared, DepthSpeed::Slow),
            _ = shutdown.changed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::SimConfig;
    use crate::sim::fanout::Fanout;

    fn run(seed: u64, steps: usize) -> Exchange {
        let cfg = SimConfig {
            seed,
            ..SimConfig::default()
        };
        let mut ex = Exchange::new(&cfg, Fanout::new()).unwrap();
        for i in 0..steps {
            ex.market_step(i as i64);
        }
        ex
    }

    #[test]
    fn book_is_two_sided_and_seed_reproducible() {
        let a = run(7, 500);
        let b = run(7, 500);
        let c = run(8, 500);
        let da = a.depth("BTCUSDT", 50).unwrap();
        assert_eq!(da, b.depth("BTCUSDT", 50).unwrap());
        assert_ne!(da, c.depth("BTCUSDT", 50).unwrap());
        let (_, bids, asks) = da;
        assert!(
            bids.len() >= 15 && asks.len() >= 15,
            "{} {}",
            bids.len(),
            asks.len()
        );
        assert!(bids.len() <= 30 && asks.len() <= 30);
        let spread = asks[0].0 - bids[0].0;
        assert!(spread > Decimal::ZERO, "book crossed");
    }
}
