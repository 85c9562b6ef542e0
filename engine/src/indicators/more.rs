//! The indicators beyond SMA/EMA. Each is O(1) per update (amortized where a window sum is
//! periodically recomputed) and says when it is warmed up with `ready()`.

use std::collections::VecDeque;

use super::Ema;

/// Weighted moving average (TA-Lib `WMA`): weights 1..=period, newest heaviest, divided by
/// `period * (period + 1) / 2`. Kept with a running plain sum and a running weighted sum.
#[derive(Clone, Debug)]
pub struct Wma {
    period: usize,
    window: VecDeque<f64>,
    sum: f64,
    wsum: f64,
    since_resum: usize,
}

impl Wma {
    /// A new WMA; `period` is clamped to at least 1.
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Self {
            period,
            window: VecDeque::with_capacity(period),
            sum: 0.0,
            wsum: 0.0,
            since_resum: 0,
        }
    }

    /// Feeds one value; returns the current WMA (NaN until ready).
    pub fn update(&mut self, x: f64) -> f64 {
        let n = self.period as f64;
        if self.window.len() == self.period {
            // Every weight drops by one (the oldest, weight 1, leaves), the new value gets n.
            let old = self.window.pop_front().unwrap_or(0.0);
            self.wsum -= self.sum;
            self.sum -= old;
            self.window.push_back(x);
            self.sum += x;
            self.wsum += n * x;
        } else {
            self.window.push_back(x);
            self.sum += x;
            self.wsum += self.window.len() as f64 * x;
        }
        self.since_resum += 1;
        if self.since_resum >= self.period {
            self.since_resum = 0;
            self.sum = self.window.iter().sum();
            self.wsum = self
                .window
                .iter()
                .enumerate()
                .map(|(i, v)| (i + 1) as f64 * v)
                .sum();
        }
        self.value()
    }

    /// The current value (NaN until ready).
    pub fn value(&self) -> f64 {
        if self.ready() {
            let n = self.period as f64;
            self.wsum / (n * (n + 1.0) / 2.0)
        } else {
            f64::NAN
        }
    }

    /// True once `period` values have been seen.
    pub fn ready(&self) -> bool {
        self.window.len() == self.period
    }
}

/// Rolling population standard deviation over `period` values (TA-Lib `STDDEV` with
/// `nbdev = 1`), with the mean and the z-score of the newest value.
#[derive(Clone, Debug)]
pub struct StdDev {
    period: usize,
    window: VecDeque<f64>,
    mean: f64,
    m2: f64,
    since_resum: usize,
}

impl StdDev {
    /// A new rolling standard deviation; `period` is clamped to at least 1.
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Self {
            period,
            window: VecDeque::with_capacity(period),
            mean: 0.0,
            m2: 0.0,
            since_resum: 0,
        }
    }

    /// Feeds one value; returns the current standard deviation (NaN until ready).
    pub fn update(&mut self, x: f64) -> f64 {
        if self.window.len() == self.period {
            // Windowed Welford: replace the oldest value by the new one.
            let old = self.window.pop_front().unwrap_or(0.0);
            self.window.push_back(x);
            let old_mean = self.mean;
            self.mean += (x - old) / self.period as f64;
            self.m2 += (x - old) * (x - self.mean + old - old_mean);
        } else {
            self.window.push_back(x);
            let k = self.window.len() as f64;
            let d = x - self.mean;
            self.mean += d / k;
            self.m2 += d * (x - self.mean);
        }
        self.since_resum += 1;
        if self.since_resum >= self.period {
            self.since_resum = 0;
            let k = self.window.len() as f64;
            self.mean = self.window.iter().sum::<f64>() / k;
            self.m2 = self.window.iter().map(|v| (v - self.mean).powi(2)).sum();
        }
        self.value()
    }

    /// The current standard deviation (NaN until ready).
    pub fn value(&self) -> f64 {
        if self.ready() {
            (self.m2.max(0.0) / self.period as f64).sqrt()
        } else {
            f64::NAN
        }
    }

    /// Mean of the window (NaN until ready).
    pub fn mean(&self) -> f64 {
        if self.ready() {
            self.mean
        } else {
            f64::NAN
        }
    }

    /// `(newest - mean) / stddev` (NaN until ready; 0 when the window is flat).
    pub fn zscore(&self) -> f64 {
        let sd = self.value();
        match self.window.back() {
            Some(x) if self.ready() => {
                if sd > 0.0 {
                    (x - self.mean) / sd
                } else {
                    0.0
                }
            }
            _ => f64::NAN,
        }
    }

    /// True once `period` values have been seen.
    pub fn ready(&self) -> bool {
        self.window.len() == self.period
    }
}

/// Bollinger bands (TA-Lib `BBANDS` with an SMA middle): middle = SMA(period),
/// upper/lower = middle ± k × population standard deviation.
#[derive(Clone, Debug)]
pub struct Bollinger {
    sd: StdDev,
    k: f64,
}

impl Bollinger {
    /// New bands over `period` values, `k` standard deviations wide.
    pub fn new(period: usize, k: f64) -> Self {
        Self {
            sd: StdDev::new(period),
            k,
        }
    }

    /// Feeds one value; returns the middle band (NaN until ready).
    pub fn update(&mut self, x: f64) -> f64 {
        self.sd.update(x);
        self.middle()
    }

    /// Middle band.
    pub fn middle(&self) -> f64 {
        self.sd.mean()
    }

    /// Upper band.
    pub fn upper(&self) -> f64 {
        self.sd.mean() + self.k * self.sd.value()
    }

    /// Lower band.
    pub fn lower(&self) -> f64 {
        self.sd.mean() - self.k * self.sd.value()
    }

    /// Standard deviation of the window.
    pub fn stddev(&self) -> f64 {
        self.sd.value()
    }

    /// True once the window is full.
    pub fn ready(&self) -> bool {
        self.sd.ready()
    }
}

/// Relative strength index with Wilder's smoothing (TA-Lib `RSI`): the first average gain and
/// loss are simple means of the first `period` changes, then
/// `avg = (avg × (period − 1) + change) / period`. RSI = 100 × gain / (gain + loss); 0 when
/// both are 0 (as TA-Lib). Ready after `period + 1` inputs.
#[derive(Clone, Debug)]
pub struct Rsi {
    period: usize,
    prev: Option<f64>,
    changes: usize,
    gain: f64,
    loss: f64,
}

impl Rsi {
    /// A new RSI; `period` is clamped to at least 1.
    pub fn new(period: usize) -> Self {
        Self {
            period: period.max(1),
            prev: None,
            changes: 0,
            gain: 0.0,
            loss: 0.0,
        }
    }

    /// Feeds one value; returns the current RSI (NaN until ready).
    pub fn update(&mut self, x: f64) -> f64 {
        if let Some(p) = self.prev {
            let ch = x - p;
            let (g, l) = if ch > 0.0 { (ch, 0.0) } else { (0.0, -ch) };
            let n = self.period as f64;
            self.changes += 1;
            if self.changes <= self.period {
                self.gain += g / n;
                self.loss += l / n;
            } else {
                self.gain = (self.gain * (n - 1.0) + g) / n;
                self.loss = (self.loss * (n - 1.0) + l) / n;
            }
        }
        self.prev = Some(x);
        self.value()
    }

    /// The current value (NaN until ready).
    pub fn value(&self) -> f64 {
        if !self.ready() {
            return f64::NAN;
        }
        let total = self.gain + self.loss;
        if total > 0.0 {
            100.0 * self.gain / total
        } else {
            0.0
        }
    }

    /// True once `period` changes have been seen.
    pub fn ready(&self) -> bool {
        self.changes >= self.period
    }
}

/// How [`Macd`] seeds its fast EMA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MacdSeeding {
    /// Each EMA is seeded with the SMA of its own first inputs (see [`Ema`]): the fast EMA
    /// starts at the first input. The default.
    #[default]
    Own,
    /// As TA-Lib `MACD`: the fast EMA is seeded with the SMA of the `fast` inputs that end where
    /// the slow EMA's seed ends, so both EMAs start on the same input. Values equal TA-Lib's
    /// from the first one on; with [`MacdSeeding::Own`] they differ for the first few hundred
    /// inputs and converge after.
    TaLib,
}

/// MACD: `macd = EMA(fast) − EMA(slow)`, `signal = EMA(signal)` of the MACD line, `hist =
/// macd − signal`. The signal EMA starts with the first MACD value, i.e. once the slow EMA is
/// ready; the fast EMA's seed is chosen by [`MacdSeeding`].
#[derive(Clone, Debug)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    macd: f64,
    seeding: MacdSeeding,
    /// With [`MacdSeeding::TaLib`]: the last `fast` inputs until the slow EMA is ready.
    warmup: VecDeque<f64>,
}

impl Macd {
    /// A new MACD seeded as [`MacdSeeding::Own`] (usual periods: 12, 26, 9).
    pub fn new(fast: usize, slow: usize, signal: usize) -> Self {
        Self::with_seeding(fast, slow, signal, MacdSeeding::Own)
    }

    /// A new MACD with the given seeding of its fast EMA.
    pub fn with_seeding(fast: usize, slow: usize, signal: usize, seeding: MacdSeeding) -> Self {
        let fast = Ema::new(fast);
        let warmup = match seeding {
            MacdSeeding::Own => VecDeque::new(),
            MacdSeeding::TaLib => VecDeque::with_capacity(fast.period()),
        };
        Self {
            fast,
            slow: Ema::new(slow),
            signal: Ema::new(signal),
            macd: f64::NAN,
            seeding,
            warmup,
        }
    }

    /// Feeds one value; returns the MACD line (NaN until the slow EMA is ready).
    pub fn update(&mut self, x: f64) -> f64 {
        let s = self.slow.update(x);
        let f = match self.seeding {
            MacdSeeding::Own => self.fast.update(x),
            MacdSeeding::TaLib if self.fast.ready() => self.fast.update(x),
            MacdSeeding::TaLib => {
                if self.warmup.len() == self.fast.period() {
                    self.warmup.pop_front();
                }
                self.warmup.push_back(x);
                if !self.slow.ready() {
                    return self.macd;
                }
                let mut f = f64::NAN;
                for v in self.warmup.drain(..) {
                    f = self.fast.update(v);
                }
                f
            }
        };
        if self.slow.ready() {
            self.macd = f - s;
            self.signal.update(self.macd);
        }
        self.macd
    }

    /// The MACD line.
    pub fn value(&self) -> f64 {
        self.macd
    }

    /// The signal line (NaN until ready).
    pub fn signal(&self) -> f64 {
        self.signal.value()
    }

    /// MACD − signal (NaN until ready).
    pub fn hist(&self) -> f64 {
        self.macd - self.signal.value()
    }

    /// True once the signal line is ready.
    pub fn ready(&self) -> bool {
        self.signal.ready()
    }
}

/// Rate of change (TA-Lib `ROC`): `100 × (x − x[period ago]) / x[period ago]`. Ready after
/// `period + 1` inputs; NaN if the old value is 0.
#[derive(Clone, Debug)]
pub struct Roc {
    period: usize,
    window: VecDeque<f64>,
}

impl Roc {
    /// A new ROC; `period` is clamped to at least 1.
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Self {
            period,
            window: VecDeque::with_capacity(period + 1),
        }
    }

    /// Feeds one value; returns the current ROC (NaN until ready).
    pub fn update(&mut self, x: f64) -> f64 {
        if self.window.len() == self.period + 1 {
            self.window.pop_front();
        }
        self.window.push_back(x);
        self.value()
    }

    /// The current value (NaN until ready).
    pub fn value(&self) -> f64 {
        match (self.window.front(), self.window.back()) {
            (Some(old), Some(new)) if self.ready() && *old != 0.0 => 100.0 * (new - old) / old,
            _ => f64::NAN,
        }
    }

    /// True once `period + 1` values have been seen.
    pub fn ready(&self) -> bool {
        self.window.len() == self.period + 1
    }
}

/// Rolling extreme of the last `period` inputs by a monotonic deque of (index, value) that
/// keeps the window's extreme at the front: each value is pushed and popped at most once, so
/// updates are amortized O(1). `MAX = true`: [`Highest`] (TA-Lib `MAX`); `false`: [`Lowest`]
/// (TA-Lib `MIN`).
#[derive(Clone, Debug)]
pub struct Extreme<const MAX: bool> {
    period: usize,
    seen: u64,
    deque: VecDeque<(u64, f64)>,
}

/// Highest value of the last `period` inputs.
pub type Highest = Extreme<true>;
/// Lowest value of the last `period` inputs.
pub type Lowest = Extreme<false>;

impl<const MAX: bool> Extreme<MAX> {
    /// A new rolling extreme; `period` is clamped to at least 1.
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Self {
            period,
            seen: 0,
            deque: VecDeque::with_capacity(period),
        }
    }

    /// Feeds one value; returns the extreme (NaN until ready).
    pub fn update(&mut self, x: f64) -> f64 {
        let i = self.seen;
        self.seen += 1;
        while let Some(&(_, v)) = self.deque.back() {
            let dominated = if MAX { v <= x } else { v >= x };
            if !dominated {
                break;
            }
            self.deque.pop_back();
        }
        self.deque.push_back((i, x));
        while let Some(&(j, _)) = self.deque.front() {
            if j + self.period as u64 > i {
                break;
            }
            self.deque.pop_front();
        }
        self.value()
    }

    /// The current extreme (NaN until ready).
    pub fn value(&self) -> f64 {
        match self.deque.front() {
            Some(&(_, v)) if self.ready() => v,
            _ => f64::NAN,
        }
    }

    /// True once `period` values have been seen.
    pub fn ready(&self) -> bool {
        self.seen >= self.period as u64
    }
}

/// Average true range with Wilder's smoothing (TA-Lib `ATR`): true range =
/// max(high − low, |high − previous close|, |low − previous close|), defined from the second
/// bar on; the first ATR is the mean of the first `period` true ranges, then
/// `atr = (atr × (period − 1) + tr) / period`. Ready after `period + 1` bars.
#[derive(Clone, Debug)]
pub struct Atr {
    period: usize,
    prev_close: Option<f64>,
    count: usize,
    value: f64,
}

impl Atr {
    /// A new ATR; `period` is clamped to at least 1.
    pub fn new(period: usize) -> Self {
        Self {
            period: period.max(1),
            prev_close: None,
            count: 0,
            value: 0.0,
        }
    }

    /// Feeds one bar; returns the current ATR (NaN until ready).
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> f64 {
        if let Some(pc) = self.prev_close {
            let tr = (high - low).max((high - pc).abs()).max((low - pc).abs());
            let n = self.period as f64;
            self.count += 1;
            if self.count <= self.period {
                self.value += tr / n;
            } else {
                self.value = (self.value * (n - 1.0) + tr) / n;
            }
        }
        self.prev_close = Some(close);
        self.value()
    }

    /// The current value (NaN until ready).
    pub fn value(&self) -> f64 {
        if self.ready() {
            self.value
        } else {
            f64::NAN
        }
    }

    /// True once `period` true ranges have been seen.
    pub fn ready(&self) -> bool {
        self.count >= self.period
    }
}

/// Volume-weighted average price since the last `reset()`: Σ(price × volume) / Σ volume.
#[derive(Clone, Debug, Default)]
pub struct Vwap {
    pv: f64,
    v: f64,
}

impl Vwap {
    /// A new, empty VWAP.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a trade (or a bar's typical price and volume); returns the VWAP (NaN until some
    /// volume was seen).
    pub fn update(&mut self, price: f64, volume: f64) -> f64 {
        self.pv += price * volume;
        self.v += volume;
        self.value()
    }

    /// The current value (NaN until ready).
    pub fn value(&self) -> f64 {
        if self.ready() {
            self.pv / self.v
        } else {
            f64::NAN
        }
    }

    /// True once some volume was seen.
    pub fn ready(&self) -> bool {
        self.v > 0.0
    }

    /// Starts a new session.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Cross detector for two series: `update(a, b)` returns 1 when `a` crosses above `b` (it was
/// at or below and is now above), −1 when it crosses below, 0 otherwise (and on the first
/// update, which has no previous values).
#[derive(Clone, Debug, Default)]
pub struct Cross {
    prev: Option<(f64, f64)>,
    last: i64,
}

impl Cross {
    /// A new detector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the current values of both series; returns 1, −1 or 0 (see the type docs).
    /// NaN inputs (indicators still warming up) never cross and are not remembered.
    pub fn update(&mut self, a: f64, b: f64) -> i64 {
        if a.is_nan() || b.is_nan() {
            self.last = 0;
            return 0;
        }
        self.last = match self.prev {
            Some((pa, pb)) => cross(pa, pb, a, b),
            None => 0,
        };
        self.prev = Some((a, b));
        self.last
    }

    /// True if the last update was a cross above.
    pub fn above(&self) -> bool {
        self.last == 1
    }

    /// True if the last update was a cross below.
    pub fn below(&self) -> bool {
        self.last == -1
    }
}

/// 1 if `a` crossed above `b` between the previous and the current values, −1 if it crossed
/// below, else 0.
pub fn cross(prev_a: f64, prev_b: f64, a: f64, b: f64) -> i64 {
    if prev_a <= prev_b && a > b {
        1
    } else if prev_a >= prev_b && a < b {
        -1
    } else {
        0
    }
}
