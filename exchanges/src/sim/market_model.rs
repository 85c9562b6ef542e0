//! The synthetic market's price and activity process, shared by the live simulator
//! ([`super::market`]) and `peregrine gen-ticks` (which steps the same simulator offline
//! through [`super::tape`]).
//!
//! The log price follows a diffusion with drift, Poisson jumps, two volatility regimes (calm and
//! turbulent, switching after exponentially distributed spells) and an intraday seasonality of
//! activity (a cosine over the UTC day: more market orders and more variance at the peak
//! hour). Time is the step's event time in ms, so the same parameters give the same behaviour
//! per hour whatever the step interval.
//!
//! The process is a statistic, so it runs in `f64`; it only chooses the integer number of ticks
//! the makers quote around, and every price and quantity the simulator prints is an exact
//! decimal (ticks times the tick size). Deterministic: one `ChaCha8Rng` stream per symbol.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Milliseconds in a day.
const DAY_MS: f64 = 86_400_000.0;
/// A step longer than this (a paused simulator resuming) moves the market as this much time.
const MAX_STEP_MS: i64 = 60_000;
/// Stream offset of the model's RNG, apart from the makers' and takers' stream of the symbol.
const STREAM_OFFSET: u64 = 1 << 32;
/// At most this many synthetic market orders in one step.
const MAX_TAKERS_PER_STEP: u32 = 256;

/// The knobs of the synthetic market. The defaults are BTC-like: about 2.5 % daily volatility
/// (a daily high-low range of roughly 3-6 %), a few jumps a day, turbulent spells of about 1.5 h
/// with 2.5 times the calm volatility, and activity peaking at the US open (14:30 UTC) at 1.5
/// times the daily mean. Deserializes from a table of these field names (a missing one keeps
/// its default; `[sim.market]` of the engine config).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketParams {
    /// Standard deviation of the diffusion's log return over one day, averaged over the
    /// regimes and the time of day (0.025 = 2.5 %). Jumps add to it.
    pub daily_vol: f64,
    /// Expected log return per day (0.001 = +0.1 % a day).
    pub drift_per_day: f64,
    /// Mean number of jumps per day (a Poisson process).
    pub jumps_per_day: f64,
    /// Standard deviation of one jump's log size (mean zero).
    pub jump_vol: f64,
    /// Share of the time spent in the turbulent regime, `0 <= s < 1` (0: always calm).
    pub turbulent_share: f64,
    /// Volatility of the turbulent regime over that of the calm one (`>= 1`). Activity (market
    /// orders) scales by the same ratio.
    pub turbulent_vol_ratio: f64,
    /// Mean length of a turbulent spell, minutes (a calm spell lasts `(1 - s) / s` times this).
    pub turbulent_minutes: f64,
    /// Amplitude of the intraday seasonality, `0 <= a < 1`: activity is
    /// `1 + a cos(2 pi (hour - peak) / 24)` times its mean, variance follows activity.
    pub seasonality: f64,
    /// UTC hour of peak activity, `0 <= h < 24`.
    pub peak_hour_utc: f64,
    /// Synthetic market orders per second at mean activity (at most 256 per step).
    pub takers_per_s: f64,
}

impl Default for MarketParams {
    fn default() -> Self {
        MarketParams {
            daily_vol: 0.025,
            drift_per_day: 0.0,
            jumps_per_day: 4.0,
            jump_vol: 0.003,
            turbulent_share: 0.15,
            turbulent_vol_ratio: 2.5,
            turbulent_minutes: 90.0,
            seasonality: 0.5,
            peak_hour_utc: 14.5,
            takers_per_s: 35.0,
        }
    }
}

impl MarketParams {
    /// A calm market: about 3 bp of daily volatility, no jumps, no regimes, no seasonality,
    /// 70 market orders a second (what the simulator's walk was before this model at the
    /// 5 ms step the integration tests use). The live
    /// simulator's default ([`crate::sim::SimConfig::default`]), which the integration tests
    /// trade against at the touch; `[sim.market]` or `SimConfig::market` choose another.
    pub fn calm() -> Self {
        MarketParams {
            daily_vol: 0.0003,
            jumps_per_day: 0.0,
            turbulent_share: 0.0,
            seasonality: 0.0,
            takers_per_s: 70.0,
            ..MarketParams::default()
        }
    }

    /// Checks the ranges; the error names the knob.
    pub fn validate(&self) -> Result<(), String> {
        let finite = [
            ("daily_vol", self.daily_vol),
            ("drift_per_day", self.drift_per_day),
            ("jumps_per_day", self.jumps_per_day),
            ("jump_vol", self.jump_vol),
            ("turbulent_share", self.turbulent_share),
            ("turbulent_vol_ratio", self.turbulent_vol_ratio),
            ("turbulent_minutes", self.turbulent_minutes),
            ("seasonality", self.seasonality),
            ("peak_hour_utc", self.peak_hour_utc),
            ("takers_per_s", self.takers_per_s),
        ];
        if let Some((name, v)) = finite.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("market {name} = {v} is not a finite number"));
        }
        let checks = [
            ("daily_vol", (0.0..=1.0).contains(&self.daily_vol), "0..=1"),
            ("drift_per_day", self.drift_per_day.abs() <= 1.0, "-1..=1"),
            ("jumps_per_day", self.jumps_per_day >= 0.0, ">= 0"),
            ("jump_vol", (0.0..=1.0).contains(&self.jump_vol), "0..=1"),
            (
                "turbulent_share",
                (0.0..1.0).contains(&self.turbulent_share),
                "0 <= s < 1",
            ),
            (
                "turbulent_vol_ratio",
                self.turbulent_vol_ratio >= 1.0,
                ">= 1",
            ),
            ("turbulent_minutes", self.turbulent_minutes > 0.0, "> 0"),
            (
                "seasonality",
                (0.0..1.0).contains(&self.seasonality),
                "0 <= a < 1",
            ),
            (
                "peak_hour_utc",
                (0.0..24.0).contains(&self.peak_hour_utc),
                "0 <= h < 24",
            ),
            ("takers_per_s", self.takers_per_s >= 0.0, ">= 0"),
        ];
        match checks.iter().find(|(_, ok, _)| !ok) {
            Some((name, _, range)) => Err(format!("market {name} must be {range}")),
            None => Ok(()),
        }
    }

    /// Activity at `now_ms` (ms since the epoch) relative to the daily mean, from the
    /// seasonality alone.
    pub fn seasonal_activity(&self, now_ms: i64) -> f64 {
        let hour = now_ms.rem_euclid(DAY_MS as i64) as f64 / 3_600_000.0;
        let phase = (hour - self.peak_hour_utc) / 24.0 * std::f64::consts::TAU;
        1.0 + self.seasonality * phase.cos()
    }
}

/// What one step of the model decided.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelStep {
    /// The fundamental price: the start price times the exponential of the log return so far.
    pub price: f64,
    /// Synthetic market orders to send in this step.
    pub takers: u32,
}

/// The state of the process for one symbol.
#[derive(Debug)]
pub struct MarketModel {
    params: MarketParams,
    rng: ChaCha8Rng,
    start_price: f64,
    log_return: f64,
    turbulent: bool,
    /// Volatility multipliers of the calm and turbulent regimes (mean variance 1).
    calm_mult: f64,
    last_ms: Option<i64>,
}

impl MarketModel {
    /// The process of the symbol at position `index` of the config, from `start_price`.
    pub fn new(params: &MarketParams, seed: u64, index: u64, start_price: f64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index.wrapping_add(STREAM_OFFSET));
        let s = params.turbulent_share;
        let k = params.turbulent_vol_ratio;
        let turbulent = s > 0.0 && rng.random_bool(s.clamp(0.0, 1.0));
        MarketModel {
            rng,
            start_price,
            log_return: 0.0,
            turbulent,
            calm_mult: 1.0 / (1.0 - s + s * k * k).sqrt(),
            last_ms: None,
            params: params.clone(),
        }
    }

    /// Whether the turbulent regime is on.
    pub fn turbulent(&self) -> bool {
        self.turbulent
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1: f64 = 1.0 - self.rng.random::<f64>();
        let u2: f64 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Advances the process to `now_ms` (ms since the epoch; the first call only sets the
    /// clock, a call with an earlier time moves nothing).
    pub fn step(&mut self, now_ms: i64) -> ModelStep {
        let dt_ms = self
            .last_ms
            .map_or(0, |last| (now_ms - last).clamp(0, MAX_STEP_MS));
        self.last_ms = Some(self.last_ms.map_or(now_ms, |l| l.max(now_ms)));
        if dt_ms == 0 {
            return ModelStep {
                price: self.price(),
                takers: 0,
            };
        }
        let p = &self.params;
        let dt = dt_ms as f64 / DAY_MS;
        // Regime switch: exponential spells.
        let s = p.turbulent_share;
        if s > 0.0 {
            let mean_days = if self.turbulent {
                p.turbulent_minutes / 1440.0
            } else {
                p.turbulent_minutes / 1440.0 * (1.0 - s) / s
            };
            if self.rng.random::<f64>() < dt / mean_days {
                self.turbulent = !self.turbulent;
            }
        }
        let regime = if self.turbulent {
            self.calm_mult * p.turbulent_vol_ratio
        } else {
            self.calm_mult
        };
        let activity = p.seasonal_activity(now_ms);
        let sd = p.daily_vol * regime * activity.sqrt() * dt.sqrt();
        let (drift, jumps, jump_vol) = (p.drift_per_day, p.jumps_per_day, p.jump_vol);
        let z = self.normal();
        self.log_return += drift * dt + sd * z;
        if jumps > 0.0 && self.rng.random::<f64>() < jumps * dt {
            self.log_return += jump_vol * self.normal();
        }
        let expected = self.params.takers_per_s * dt_ms as f64 / 1000.0 * activity * regime;
        // The whole part always arrives, the fraction with its probability.
        let mut takers = expected.floor();
        if self.rng.random::<f64>() < expected - takers {
            takers += 1.0;
        }
        ModelStep {
            price: self.price(),
            takers: (takers as u32).min(MAX_TAKERS_PER_STEP),
        }
    }

    fn price(&self) -> f64 {
        self.start_price * self.log_return.exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One day (from midnight UTC) of 1 s steps: (realized vol of 1-minute log returns
    /// scaled to a day, high-low range over the open, market orders per hour of the day).
    fn day(params: &MarketParams, seed: u64) -> (f64, f64, Vec<u64>) {
        let start = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let mut m = MarketModel::new(params, seed, 0, 60_000.0);
        m.step(start);
        let (mut hi, mut lo) = (60_000.0f64, 60_000.0f64);
        let mut minute_closes = vec![60_000.0f64];
        let mut per_hour = vec![0u64; 24];
        for s in 1..=86_400i64 {
            let st = m.step(start + s * 1000);
            hi = hi.max(st.price);
            lo = lo.min(st.price);
            per_hour[((s - 1) / 3600) as usize] += u64::from(st.takers);
            if s % 60 == 0 {
                minute_closes.push(st.price);
            }
        }
        let rets: Vec<f64> = minute_closes
            .windows(2)
            .map(|w| (w[1] / w[0]).ln())
            .collect();
        let var = rets.iter().map(|r| r * r).sum::<f64>();
        (var.sqrt(), (hi - lo) / 60_000.0, per_hour)
    }

    fn mean_over_seeds(params: &MarketParams) -> (f64, f64) {
        let seeds = 1..=8u64;
        let n = seeds.clone().count() as f64;
        let (v, r) = seeds
            .map(|s| day(params, s))
            .fold((0.0, 0.0), |(v, r), d| (v + d.0, r + d.1));
        (v / n, r / n)
    }

    #[test]
    fn defaults_are_btc_like_and_knobs_move_them() {
        let base = MarketParams::default();
        base.validate().unwrap();
        let (vol, range) = mean_over_seeds(&base);
        // sqrt(0.025^2 + 4 * 0.003^2) = 2.57 % expected; a day's range ~1.6 sigma.
        assert!((0.018..0.034).contains(&vol), "daily realized vol {vol}");
        assert!((0.02..0.08).contains(&range), "daily range {range}");
        for seed in 1..=8 {
            let (_, r, _) = day(&base, seed);
            assert!((0.008..0.15).contains(&r), "seed {seed}: daily range {r}");
        }
        // Twice the volatility: about twice the realized vol and range.
        let (vol2, range2) = mean_over_seeds(&MarketParams {
            daily_vol: 0.05,
            ..base.clone()
        });
        assert!(vol2 / vol > 1.6 && vol2 / vol < 2.4, "{vol} -> {vol2}");
        assert!(range2 / range > 1.4, "{range} -> {range2}");
        // A quiet market stays quiet.
        let (vol0, _) = mean_over_seeds(&MarketParams {
            daily_vol: 0.002,
            jumps_per_day: 0.0,
            ..base.clone()
        });
        assert!(vol0 < 0.003, "{vol0}");
    }

    #[test]
    fn drift_moves_the_mean_return() {
        let up = MarketParams {
            drift_per_day: 0.05,
            daily_vol: 0.005,
            jumps_per_day: 0.0,
            ..MarketParams::default()
        };
        for seed in 1..=4 {
            let mut m = MarketModel::new(&up, seed, 0, 100.0);
            m.step(0);
            let mut last = 0.0;
            for s in 1..=86_400i64 {
                last = m.step(s * 1000).price;
            }
            let r = (last / 100.0).ln();
            assert!((0.035..0.065).contains(&r), "seed {seed}: {r}");
        }
    }

    #[test]
    fn seasonality_and_regimes_shape_activity() {
        let base = MarketParams {
            turbulent_share: 0.0,
            ..MarketParams::default()
        };
        let (_, _, per_hour) = day(&base, 3);
        // Peak at 14:30 UTC (1.5x the mean), trough at 02:30 (0.5x): 35/s * 3600 = 126,000.
        let peak = per_hour[14] as f64;
        let trough = per_hour[2] as f64;
        assert!((peak / 126_000.0 - 1.5).abs() < 0.05, "peak {peak}");
        assert!((trough / 126_000.0 - 0.5).abs() < 0.05, "trough {trough}");
        let flat = MarketParams {
            seasonality: 0.0,
            ..base.clone()
        };
        let (_, _, per_hour) = day(&flat, 3);
        assert!(per_hour
            .iter()
            .all(|&n| (n as f64 / 126_000.0 - 1.0).abs() < 0.03));
        // Regimes switch and spend about the configured share turbulent.
        let mut m = MarketModel::new(&MarketParams::default(), 5, 0, 100.0);
        m.step(0);
        let (mut on, mut switches, mut was) = (0u64, 0u64, m.turbulent());
        let days = 20;
        for s in 1..=(86_400 * days) {
            m.step(s * 1000);
            on += u64::from(m.turbulent());
            switches += u64::from(m.turbulent() != was);
            was = m.turbulent();
        }
        let share = on as f64 / (86_400 * days) as f64;
        assert!((0.07..0.25).contains(&share), "turbulent share {share}");
        // Mean cycle 90 min / 0.15 = 10 h: about 2.4 cycles (4.8 switches) a day.
        assert!(switches > 40 && switches < 160, "{switches} switches");
    }

    #[test]
    fn same_seed_same_path_and_bad_knobs_are_named() {
        let p = MarketParams::default();
        let path = |seed| {
            let mut m = MarketModel::new(&p, seed, 0, 100.0);
            (0..1000).map(|i| m.step(i * 10)).collect::<Vec<_>>()
        };
        assert_eq!(path(1), path(1));
        assert_ne!(path(1), path(2));
        let bad = MarketParams {
            seasonality: 1.0,
            ..MarketParams::default()
        };
        assert!(bad.validate().unwrap_err().contains("seasonality"));
        let bad = MarketParams {
            daily_vol: f64::NAN,
            ..MarketParams::default()
        };
        assert!(bad.validate().unwrap_err().contains("daily_vol"));
    }
}
