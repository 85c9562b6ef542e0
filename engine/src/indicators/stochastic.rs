//! Stochastic oscillators as TA-Lib names them: [`StochF`] (TA-Lib `STOCHF`, the fast one) and
//! [`Stoch`] (TA-Lib `STOCH`, the slow one, what charting tools show by default). Both use
//! simple moving averages for their smoothing (TA-Lib's `MA_Type` 0).

use super::{Highest, Lowest, Sma};

/// Fast stochastic (TA-Lib `STOCHF`): fast %K = 100 × (close − lowest low) / (highest high −
/// lowest low) over `fastk_period` bars (0 when that range is 0, as TA-Lib), fast %D =
/// SMA(`fastd_period`) of fast %K.
#[derive(Clone, Debug)]
pub struct StochF {
    high: Highest,
    low: Lowest,
    fastd: Sma,
    fastk: f64,
}

impl StochF {
    /// A new fast stochastic (usual periods: 14, 3).
    pub fn new(fastk_period: usize, fastd_period: usize) -> Self {
        Self {
            high: Highest::new(fastk_period),
            low: Lowest::new(fastk_period),
            fastd: Sma::new(fastd_period),
            fastk: f64::NAN,
        }
    }

    /// Feeds one bar; returns fast %K (NaN until `fastk_period` bars were seen).
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> f64 {
        let hh = self.high.update(high);
        let ll = self.low.update(low);
        if self.high.ready() {
            self.fastk = if hh > ll {
                100.0 * (close - ll) / (hh - ll)
            } else {
                0.0
            };
            self.fastd.update(self.fastk);
        }
        self.fastk
    }

    /// Fast %K (NaN until `fastk_period` bars were seen).
    pub fn fastk(&self) -> f64 {
        self.fastk
    }

    /// Fast %D (NaN until ready).
    pub fn fastd(&self) -> f64 {
        self.fastd.value()
    }

    /// True once fast %D is ready (`fastk_period + fastd_period − 1` bars).
    pub fn ready(&self) -> bool {
        self.fastd.ready()
    }
}

/// Slow stochastic (TA-Lib `STOCH`): slow %K = SMA(`slowk_period`) of the fast %K over
/// `fastk_period` bars, slow %D = SMA(`slowd_period`) of slow %K. `Stoch::new(14, 3, 3)` is
/// the usual "stochastic 14 3 3".
#[derive(Clone, Debug)]
pub struct Stoch {
    fast: StochF,
    slowd: Sma,
    slowk: f64,
}

impl Stoch {
    /// A new slow stochastic (usual periods: 14, 3, 3).
    pub fn new(fastk_period: usize, slowk_period: usize, slowd_period: usize) -> Self {
        Self {
            // The fast oscillator's %D *is* the slow %K.
            fast: StochF::new(fastk_period, slowk_period),
            slowd: Sma::new(slowd_period),
            slowk: f64::NAN,
        }
    }

    /// Feeds one bar; returns slow %K (NaN until `fastk_period + slowk_period − 1` bars).
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> f64 {
        self.fast.update(high, low, close);
        if self.fast.ready() {
            self.slowk = self.fast.fastd();
            self.slowd.update(self.slowk);
        }
        self.slowk
    }

    /// Slow %K (NaN until `fastk_period + slowk_period − 1` bars were seen).
    pub fn slowk(&self) -> f64 {
        self.slowk
    }

    /// Slow %D (NaN until ready).
    pub fn slowd(&self) -> f64 {
        self.slowd.value()
    }

    /// True once slow %D is ready (`fastk_period + slowk_period + slowd_period − 2` bars).
    pub fn ready(&self) -> bool {
        self.slowd.ready()
    }
}
