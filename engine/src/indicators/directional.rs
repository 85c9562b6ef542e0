//! Wilder's directional movement system as TA-Lib computes it: `PLUS_DI`, `MINUS_DI` and `ADX`
//! in one incremental type.

/// TA-Lib treats magnitudes below this as zero (`TA_IS_ZERO`).
const ZERO: f64 = 1e-8;

fn is_zero(x: f64) -> bool {
    x.abs() < ZERO
}

/// Directional movement index (TA-Lib `PLUS_DI`, `MINUS_DI`, `ADX`).
///
/// Per bar from the second on: +DM = high − previous high and −DM = previous low − low, the
/// larger one kept if positive and the other set to 0 (both 0 on a tie); true range as for ATR.
/// The three are summed over the first `period − 1` moves, then smoothed with Wilder's rule
/// `s = s − s / period + x`; +DI = 100 × +DM / TR and −DI = 100 × −DM / TR (ready after
/// `period + 1` bars); DX = 100 × |+DI − −DI| / (+DI + −DI). ADX is the mean of the first
/// `period` DX values, then `adx = (adx × (period − 1) + dx) / period`; ready after
/// `2 × period` bars. As in TA-Lib, a bar whose true-range sum or DI sum is zero leaves ADX
/// unchanged.
#[derive(Clone, Debug)]
pub struct Adx {
    period: usize,
    prev: Option<(f64, f64, f64)>,
    moves: usize,
    plus_dm: f64,
    minus_dm: f64,
    tr: f64,
    plus_di: f64,
    minus_di: f64,
    dx_sum: f64,
    dx_count: usize,
    adx: f64,
}

impl Adx {
    /// A new ADX; `period` is clamped to at least 2 (the usual one is 14).
    pub fn new(period: usize) -> Self {
        Self {
            period: period.max(2),
            prev: None,
            moves: 0,
            plus_dm: 0.0,
            minus_dm: 0.0,
            tr: 0.0,
            plus_di: f64::NAN,
            minus_di: f64::NAN,
            dx_sum: 0.0,
            dx_count: 0,
            adx: f64::NAN,
        }
    }

    /// Feeds one bar; returns ADX (NaN until ready).
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> f64 {
        let Some((ph, pl, pc)) = self.prev.replace((high, low, close)) else {
            return self.adx;
        };
        let up = high - ph;
        let down = pl - low;
        let (pdm, mdm) = if down > 0.0 && up < down {
            (0.0, down)
        } else if up > 0.0 && up > down {
            (up, 0.0)
        } else {
            (0.0, 0.0)
        };
        let tr = (high - low).max((high - pc).abs()).max((low - pc).abs());
        self.moves += 1;
        let n = self.period as f64;
        if self.moves < self.period {
            self.plus_dm += pdm;
            self.minus_dm += mdm;
            self.tr += tr;
            return self.adx;
        }
        self.plus_dm = self.plus_dm - self.plus_dm / n + pdm;
        self.minus_dm = self.minus_dm - self.minus_dm / n + mdm;
        self.tr = self.tr - self.tr / n + tr;
        let dx = if is_zero(self.tr) {
            self.plus_di = 0.0;
            self.minus_di = 0.0;
            None
        } else {
            self.plus_di = 100.0 * self.plus_dm / self.tr;
            self.minus_di = 100.0 * self.minus_dm / self.tr;
            let sum = self.plus_di + self.minus_di;
            (!is_zero(sum)).then(|| 100.0 * (self.plus_di - self.minus_di).abs() / sum)
        };
        if self.dx_count < self.period {
            self.dx_count += 1;
            self.dx_sum += dx.unwrap_or(0.0);
            if self.dx_count == self.period {
                self.adx = self.dx_sum / n;
            }
        } else if let Some(dx) = dx {
            self.adx = (self.adx * (n - 1.0) + dx) / n;
        }
        self.adx
    }

    /// ADX (NaN until ready).
    pub fn value(&self) -> f64 {
        self.adx
    }

    /// +DI (NaN until `period + 1` bars were seen).
    pub fn plus_di(&self) -> f64 {
        self.plus_di
    }

    /// −DI (NaN until `period + 1` bars were seen).
    pub fn minus_di(&self) -> f64 {
        self.minus_di
    }

    /// True once ADX is ready (`2 × period` bars).
    pub fn ready(&self) -> bool {
        !self.adx.is_nan()
    }
}
