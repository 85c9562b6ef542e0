//! Price channels around a trend: [`Keltner`], [`Donchian`] and [`Supertrend`]. None of them
//! is in TA-Lib; each type's docs give the definition it follows.

use super::{Atr, Ema, Highest, Lowest};

/// Keltner channel (Chester Keltner as revised by Linda Raschke, the usual charting form):
/// middle = EMA(`period`) of the close (seeded as [`Ema`]), upper/lower = middle ± `mult` ×
/// ATR(`atr_period`) (Wilder's, as [`Atr`]).
#[derive(Clone, Debug)]
pub struct Keltner {
    middle: Ema,
    atr: Atr,
    mult: f64,
}

impl Keltner {
    /// A new channel (usual: 20, 10, 2).
    pub fn new(period: usize, atr_period: usize, mult: f64) -> Self {
        Self {
            middle: Ema::new(period),
            atr: Atr::new(atr_period),
            mult,
        }
    }

    /// Feeds one bar; returns the middle line (NaN until ready).
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> f64 {
        self.middle.update(close);
        self.atr.update(high, low, close);
        self.middle()
    }

    /// The middle line (NaN until ready).
    pub fn middle(&self) -> f64 {
        if self.ready() {
            self.middle.value()
        } else {
            f64::NAN
        }
    }

    /// The upper band (NaN until ready).
    pub fn upper(&self) -> f64 {
        self.middle() + self.mult * self.atr.value()
    }

    /// The lower band (NaN until ready).
    pub fn lower(&self) -> f64 {
        self.middle() - self.mult * self.atr.value()
    }

    /// True once both the EMA and the ATR are ready.
    pub fn ready(&self) -> bool {
        self.middle.ready() && self.atr.ready()
    }
}

/// Donchian channel: upper = highest high and lower = lowest low of the last `period` bars
/// (the current one included), middle = their mean.
#[derive(Clone, Debug)]
pub struct Donchian {
    high: Highest,
    low: Lowest,
}

impl Donchian {
    /// A new channel (usual: 20).
    pub fn new(period: usize) -> Self {
        Self {
            high: Highest::new(period),
            low: Lowest::new(period),
        }
    }

    /// Feeds one bar; returns the middle line (NaN until ready).
    pub fn update(&mut self, high: f64, low: f64) -> f64 {
        self.high.update(high);
        self.low.update(low);
        self.middle()
    }

    /// Highest high of the window (NaN until ready).
    pub fn upper(&self) -> f64 {
        self.high.value()
    }

    /// Lowest low of the window (NaN until ready).
    pub fn lower(&self) -> f64 {
        self.low.value()
    }

    /// (upper + lower) / 2 (NaN until ready).
    pub fn middle(&self) -> f64 {
        (self.upper() + self.lower()) / 2.0
    }

    /// True once `period` bars were seen.
    pub fn ready(&self) -> bool {
        self.high.ready()
    }
}

/// Supertrend as TradingView defines it, on Wilder's ATR ([`Atr`], as TA-Lib): basic bands
/// (high + low) / 2 ± `mult` × ATR(`period`); the final upper band only moves down unless the
/// previous close was above it, the final lower band only up unless the previous close was
/// below it. The first ready bar is in the down trend (TradingView's convention); the trend
/// turns up when the close rises above the final upper band and down when it falls below the
/// final lower band. The value is the final lower band in an up trend (a trailing stop under
/// longs) and the final upper band in a down trend.
#[derive(Clone, Debug)]
pub struct Supertrend {
    atr: Atr,
    mult: f64,
    prev_close: f64,
    bands: Option<(f64, f64)>,
    up: bool,
}

impl Supertrend {
    /// A new Supertrend (usual: 10, 3).
    pub fn new(period: usize, mult: f64) -> Self {
        Self {
            atr: Atr::new(period),
            mult,
            prev_close: f64::NAN,
            bands: None,
            up: false,
        }
    }

    /// Feeds one bar; returns the Supertrend line (NaN until ready).
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> f64 {
        let atr = self.atr.update(high, low, close);
        if self.atr.ready() {
            let mid = (high + low) / 2.0;
            let (basic_upper, basic_lower) = (mid + self.mult * atr, mid - self.mult * atr);
            let (upper, lower) = match self.bands {
                None => (basic_upper, basic_lower),
                Some((upper, lower)) => {
                    let pc = self.prev_close;
                    (
                        if basic_upper < upper || pc > upper {
                            basic_upper
                        } else {
                            upper
                        },
                        if basic_lower > lower || pc < lower {
                            basic_lower
                        } else {
                            lower
                        },
                    )
                }
            };
            if self.bands.is_some() {
                if self.up && close < lower {
                    self.up = false;
                } else if !self.up && close > upper {
                    self.up = true;
                }
            }
            self.bands = Some((upper, lower));
        }
        self.prev_close = close;
        self.value()
    }

    /// The Supertrend line: the final lower band in an up trend, the upper one in a down trend
    /// (NaN until ready).
    pub fn value(&self) -> f64 {
        match self.bands {
            Some((_, lower)) if self.up => lower,
            Some((upper, _)) => upper,
            None => f64::NAN,
        }
    }

    /// 1 in an up trend, −1 in a down trend, 0 until ready.
    pub fn direction(&self) -> i64 {
        match (self.bands, self.up) {
            (None, _) => 0,
            (Some(_), true) => 1,
            (Some(_), false) => -1,
        }
    }

    /// True once the ATR is ready (`period + 1` bars).
    pub fn ready(&self) -> bool {
        self.bands.is_some()
    }
}
