//! The equity curve of a backtest and the statistics drawn from it.

use peregrine_engine::position::{Fee, Position};
use peregrine_engine::types::{Price, Side};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

/// One point of the equity curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EquityPoint {
    /// Engine (event) time, ns since the Unix epoch.
    pub ts_ns: i64,
    /// Realized PnL net of fees plus unrealized PnL at the mark, quote currency.
    pub equity: Decimal,
    /// Realized PnL net of fees.
    pub realized: Decimal,
    /// Fees paid so far.
    pub fees: Decimal,
    /// Net position over all instruments' base units (one instrument: its position).
    pub position: Decimal,
}

/// What an instrument is marked at.
#[derive(Clone, Copy, Debug)]
enum Mark {
    /// A price (the last trade).
    Price(Price),
    /// The mid of a bid and an ask (computed only when a point is taken).
    Mid(Price, Price),
}

impl Mark {
    fn price(self) -> Price {
        match self {
            Mark::Price(p) => p,
            Mark::Mid(b, a) => (b + a) / Decimal::TWO,
        }
    }
}

/// Marks positions to the recorded market and samples equity on a fixed event-time grid.
#[derive(Debug)]
pub struct EquityTracker {
    positions: Vec<Position>,
    marks: Vec<Option<Mark>>,
    interval_ns: i64,
    next_sample: Option<i64>,
    /// Sampled points, in time order.
    pub points: Vec<EquityPoint>,
}

impl EquityTracker {
    /// A tracker for `n` instruments sampling every `interval_ns` of event time (at least 1).
    pub fn new(n: usize, interval_ns: i64) -> Self {
        Self {
            positions: vec![Position::default(); n],
            marks: vec![None; n],
            interval_ns: interval_ns.max(1),
            next_sample: None,
            points: Vec::new(),
        }
    }

    /// Books one of our fills and its fee (a base-asset fee reduces the quantity held, as in
    /// the engine's positions).
    pub fn on_fill(&mut self, inst: usize, side: Side, price: Price, qty: Decimal, fee: Fee) {
        if let Some(p) = self.positions.get_mut(inst) {
            p.apply_fill_with_fee(side, price, qty, fee);
        }
        if let Some(m) = self.marks.get_mut(inst) {
            m.get_or_insert(Mark::Price(price));
        }
    }

    /// Marks an instrument at a price (the last trade).
    #[inline]
    pub fn mark(&mut self, inst: usize, price: Price) {
        if let Some(m) = self.marks.get_mut(inst) {
            *m = Some(Mark::Price(price));
        }
    }

    /// Marks an instrument at the mid of the recorded touch.
    #[inline]
    pub fn mark_mid(&mut self, inst: usize, bid: Price, ask: Price) {
        if let Some(m) = self.marks.get_mut(inst) {
            *m = Some(Mark::Mid(bid, ask));
        }
    }

    fn point(&self, ts_ns: i64) -> EquityPoint {
        let mut p = EquityPoint {
            ts_ns,
            equity: Decimal::ZERO,
            realized: Decimal::ZERO,
            fees: Decimal::ZERO,
            position: Decimal::ZERO,
        };
        for (pos, mark) in self.positions.iter().zip(&self.marks) {
            p.realized += pos.realized_pnl;
            p.fees += pos.fees;
            p.position += pos.qty;
            p.equity +=
                pos.realized_pnl + mark.map_or(Decimal::ZERO, |m| pos.unrealized_pnl(m.price()));
        }
        p.equity = p.equity.normalize();
        p.realized = p.realized.normalize();
        p.fees = p.fees.normalize();
        p.position = p.position.normalize();
        p
    }

    /// Called after each event at time `ts_ns`: records a point when the time grid is crossed.
    #[inline]
    pub fn observe(&mut self, ts_ns: i64) {
        match self.next_sample {
            None => {
                self.next_sample = Some(ts_ns.saturating_add(self.interval_ns));
                let p = self.point(ts_ns);
                self.points.push(p);
            }
            Some(next) if ts_ns >= next => {
                // Align to the grid so a gap in the data does not shift later samples.
                let steps = (ts_ns - next) / self.interval_ns + 1;
                self.next_sample = Some(next.saturating_add(steps * self.interval_ns));
                let p = self.point(ts_ns);
                self.points.push(p);
            }
            Some(_) => {}
        }
    }

    /// Records the final point at `ts_ns` (replacing a point at the same time).
    pub fn close(&mut self, ts_ns: i64) {
        let p = self.point(ts_ns);
        if self.points.last().is_some_and(|l| l.ts_ns == ts_ns) {
            self.points.pop();
        }
        self.points.push(p);
    }
}

/// Largest peak-to-trough fall of the equity curve (quote currency, >= 0).
pub fn max_drawdown(points: &[EquityPoint]) -> Decimal {
    let mut peak: Option<Decimal> = None;
    let mut worst = Decimal::ZERO;
    for p in points {
        let pk = *peak.get_or_insert(p.equity);
        let pk = pk.max(p.equity);
        peak = Some(pk);
        worst = worst.max(pk - p.equity);
    }
    worst.normalize()
}

/// Per-sample Sharpe ratio of the equity curve: the mean of the changes of equity between
/// consecutive samples divided by their sample standard deviation (n - 1). Not annualised;
/// multiply by the square root of samples per year to annualise. Equity is PnL (there is no
/// capital), so changes, not returns, are used. `None` with fewer than two changes or no
/// variation. A statistic, so f64.
pub fn sharpe_per_sample(points: &[EquityPoint]) -> Option<f64> {
    let diffs: Vec<f64> = points
        .windows(2)
        .filter_map(|w| (w[1].equity - w[0].equity).to_f64())
        .collect();
    if diffs.len() < 2 {
        return None;
    }
    let n = diffs.len() as f64;
    let mean = diffs.iter().sum::<f64>() / n;
    let var = diffs.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    if sd == 0.0 || !sd.is_finite() {
        return None;
    }
    Some(mean / sd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn pts(eq: &[Decimal]) -> Vec<EquityPoint> {
        eq.iter()
            .enumerate()
            .map(|(i, e)| EquityPoint {
                ts_ns: i as i64,
                equity: *e,
                realized: Decimal::ZERO,
                fees: Decimal::ZERO,
                position: Decimal::ZERO,
            })
            .collect()
    }

    #[test]
    fn drawdown_is_peak_to_trough() {
        let p = pts(&[dec!(0), dec!(5), dec!(2), dec!(7), dec!(1.5), dec!(3)]);
        assert_eq!(max_drawdown(&p), dec!(5.5));
        assert_eq!(max_drawdown(&pts(&[dec!(1), dec!(2)])), dec!(0));
    }

    #[test]
    fn sharpe_matches_hand_computation() {
        // Changes 1, 3, 2: mean 2, sample sd 1.
        let p = pts(&[dec!(0), dec!(1), dec!(4), dec!(6)]);
        let s = sharpe_per_sample(&p).unwrap();
        assert!((s - 2.0).abs() < 1e-12, "{s}");
        assert_eq!(sharpe_per_sample(&pts(&[dec!(0), dec!(1), dec!(2)])), None);
    }

    #[test]
    fn samples_on_the_event_time_grid() {
        let mut t = EquityTracker::new(1, 10);
        for ts in [0, 3, 9, 10, 11, 35, 36] {
            t.observe(ts);
        }
        let ts: Vec<i64> = t.points.iter().map(|p| p.ts_ns).collect();
        assert_eq!(ts, vec![0, 10, 35]);
        t.close(36);
        assert_eq!(t.points.last().map(|p| p.ts_ns), Some(36));
    }
}
