//! The price of the first traded instrument at each equity sample: the price panel of
//! `report.html`, on the same event-time grid as the equity curve.

use rust_decimal::Decimal;

/// One sampled mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkPoint {
    /// Event time, ns since the Unix epoch.
    pub ts_ns: i64,
    /// The mark (mid of the touch, or the last trade before the first quote).
    pub price: Decimal,
}

/// Follows the equity tracker's samples and records the mark at each.
#[derive(Debug, Default)]
pub struct MarkSeries {
    samples_seen: usize,
    /// Recorded marks, in time order (samples taken before the first mark have none).
    pub points: Vec<MarkPoint>,
}

impl MarkSeries {
    /// Called after each event: when the equity curve has `samples` points, more than seen
    /// before, records `mark` at `ts_ns` (once per new sample).
    #[inline]
    pub fn follow(&mut self, samples: usize, ts_ns: i64, mark: Option<Decimal>) {
        if samples <= self.samples_seen {
            return;
        }
        self.samples_seen = samples;
        if let Some(price) = mark {
            self.points.push(MarkPoint { ts_ns, price });
        }
    }

    /// The final sample at `ts_ns` (as the equity tracker's `close`: a mark at the same time
    /// is replaced).
    pub fn close(&mut self, ts_ns: i64, mark: Option<Decimal>) {
        let Some(price) = mark else {
            return;
        };
        if self.points.last().is_some_and(|p| p.ts_ns == ts_ns) {
            self.points.pop();
        }
        self.points.push(MarkPoint { ts_ns, price });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn one_mark_per_new_sample_and_close_replaces() {
        let mut m = MarkSeries::default();
        m.follow(1, 0, None);
        m.follow(2, 10, Some(dec!(1)));
        m.follow(2, 11, Some(dec!(2)));
        m.follow(3, 20, Some(dec!(3)));
        m.close(20, Some(dec!(4)));
        m.close(25, Some(dec!(5)));
        let got: Vec<(i64, Decimal)> = m.points.iter().map(|p| (p.ts_ns, p.price)).collect();
        assert_eq!(got, vec![(10, dec!(1)), (20, dec!(4)), (25, dec!(5))]);
    }
}
