//! Native, incremental indicators for strategies: O(1) per update (CCI: O(period)), with a
//! warm-up flag.
//!
//! Indicator values are statistics, not money: they are computed in `f64`. Prices enter
//! exactly and orders are always priced in `Decimal`.
//!
//! Definitions follow TA-Lib unless a type's docs say otherwise. Windows are rings allocated
//! once; running sums are recomputed from the window every `period` updates so that
//! floating-point drift stays bounded (amortized O(1)).
//!
//! `reference_tests` checks every indicator against values computed independently of this
//! code (TA-Lib's C library, or numpy from the textbook definition where TA-Lib has none):
//! `engine/tests/indicators/`.

use std::collections::VecDeque;

mod channels;
mod directional;
mod more;
mod stochastic;
mod volume;

pub use channels::{Donchian, Keltner, Supertrend};
pub use directional::Adx;
pub use more::{
    cross, Atr, Bollinger, Cross, Extreme, Highest, Lowest, Macd, MacdSeeding, Roc, Rsi, StdDev,
    Vwap, Wma,
};
pub use stochastic::{Stoch, StochF};
pub use volume::{Cci, Obv};

/// Exponential moving average, seeded with the simple average of the first `period` inputs
/// (TA-Lib's default), smoothing `2 / (period + 1)`.
#[derive(Clone, Debug)]
pub struct Ema {
    period: usize,
    alpha: f64,
    count: usize,
    seed_sum: f64,
    value: f64,
}

impl Ema {
    /// A new EMA; `period` is clamped to at least 1.
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Self {
            period,
            alpha: 2.0 / (period as f64 + 1.0),
            count: 0,
            seed_sum: 0.0,
            value: f64::NAN,
        }
    }

    /// Feeds one value; returns the current EMA (NaN until ready).
    pub fn update(&mut self, x: f64) -> f64 {
        self.count += 1;
        if self.count < self.period {
            self.seed_sum += x;
        } else if self.count == self.period {
            self.value = (self.seed_sum + x) / self.period as f64;
        } else {
            self.value += self.alpha * (x - self.value);
        }
        self.value
    }

    /// The current value (NaN until ready).
    pub fn value(&self) -> f64 {
        self.value
    }

    /// True once `period` values have been seen.
    pub fn ready(&self) -> bool {
        self.count >= self.period
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }
}

/// Simple moving average over the last `period` values (running sum; the window is a ring
/// allocated once).
#[derive(Clone, Debug)]
pub struct Sma {
    period: usize,
    window: VecDeque<f64>,
    sum: f64,
    since_resum: usize,
}

impl Sma {
    /// A new SMA; `period` is clamped to at least 1.
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Self {
            period,
            window: VecDeque::with_capacity(period),
            sum: 0.0,
            since_resum: 0,
        }
    }

    /// Feeds one value; returns the current SMA (NaN until ready).
    pub fn update(&mut self, x: f64) -> f64 {
        if self.window.len() == self.period {
            if let Some(old) = self.window.pop_front() {
                self.sum -= old;
            }
        }
        self.window.push_back(x);
        self.sum += x;
        self.since_resum += 1;
        if self.since_resum >= self.period {
            self.since_resum = 0;
            self.sum = self.window.iter().sum();
        }
        self.value()
    }

    /// The current value (NaN until ready).
    pub fn value(&self) -> f64 {
        if self.ready() {
            self.sum / self.period as f64
        } else {
            f64::NAN
        }
    }

    /// True once `period` values have been seen.
    pub fn ready(&self) -> bool {
        self.window.len() == self.period
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }
}

#[cfg(test)]
mod reference_tests;
#[cfg(test)]
mod tests;
