//! Indicators of price and volume together: [`Obv`] and [`Cci`] (the latter on the typical
//! price, kept here as the other bar-input oscillator that is not a moving average).

use std::collections::VecDeque;

/// On-balance volume (TA-Lib `OBV`): starts at the first bar's volume, then adds the volume
/// of a bar that closes above the previous close, subtracts it when below, and keeps the
/// total on an unchanged close.
#[derive(Clone, Debug, Default)]
pub struct Obv {
    prev_close: Option<f64>,
    value: f64,
}

impl Obv {
    /// A new OBV.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one bar's close and volume; returns OBV (NaN before the first bar).
    pub fn update(&mut self, close: f64, volume: f64) -> f64 {
        match self.prev_close {
            None => self.value = volume,
            Some(pc) if close > pc => self.value += volume,
            Some(pc) if close < pc => self.value -= volume,
            Some(_) => {}
        }
        self.prev_close = Some(close);
        self.value
    }

    /// The running total (NaN before the first bar).
    pub fn value(&self) -> f64 {
        if self.ready() {
            self.value
        } else {
            f64::NAN
        }
    }

    /// True once a bar was seen.
    pub fn ready(&self) -> bool {
        self.prev_close.is_some()
    }
}

/// Commodity channel index (TA-Lib `CCI`): typical price tp = (high + low + close) / 3; CCI =
/// (tp − SMA(tp)) / (0.015 × mean absolute deviation of tp from that SMA) over `period` bars,
/// 0 when the deviation is 0. The mean deviation needs the whole window each bar, so an
/// update is O(`period`) (as in TA-Lib), not O(1).
#[derive(Clone, Debug)]
pub struct Cci {
    period: usize,
    window: VecDeque<f64>,
    value: f64,
}

impl Cci {
    /// A new CCI; `period` is clamped to at least 2 (the usual one is 20).
    pub fn new(period: usize) -> Self {
        let period = period.max(2);
        Self {
            period,
            window: VecDeque::with_capacity(period),
            value: f64::NAN,
        }
    }

    /// Feeds one bar; returns CCI (NaN until `period` bars were seen).
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> f64 {
        if self.window.len() == self.period {
            self.window.pop_front();
        }
        let tp = (high + low + close) / 3.0;
        self.window.push_back(tp);
        if self.window.len() == self.period {
            let n = self.period as f64;
            let mean = self.window.iter().sum::<f64>() / n;
            let dev = self.window.iter().map(|x| (x - mean).abs()).sum::<f64>() / n;
            self.value = if dev != 0.0 {
                (tp - mean) / (0.015 * dev)
            } else {
                0.0
            };
        }
        self.value
    }

    /// CCI (NaN until ready).
    pub fn value(&self) -> f64 {
        self.value
    }

    /// True once `period` bars were seen.
    pub fn ready(&self) -> bool {
        !self.value.is_nan()
    }
}
