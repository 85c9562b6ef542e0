//! Latency recording with hdrhistogram: nanosecond values, percentiles at the end.

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in nanoseconds (1 ns to 60 s, 3 significant digits). Recording does
/// not allocate.
#[derive(Clone, Debug)]
pub struct LatencyRecorder {
    hist: Histogram<u64>,
}

/// Percentiles of a [`LatencyRecorder`], in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        // Bounds are constants that hdrhistogram accepts; a failure here is a programming error.
        let hist =
            Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds");
        Self { hist }
    }

    /// Records one sample; values beyond the range are clamped to it.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.hist.saturating_record(ns.max(1));
    }

    /// Adds every sample of `other` (same bounds: does not allocate).
    pub fn add(&mut self, other: &LatencyRecorder) {
        // Both histograms have the same fixed bounds, so adding cannot fail or resize.
        let _ = self.hist.add(&other.hist);
    }

    /// Empties the recorder, keeping its memory.
    pub fn reset(&mut self) {
        self.hist.reset();
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// The underlying histogram (for exporters).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// Percentiles so far.
    pub fn summary(&self) -> LatencySummary {
        if self.hist.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: self.hist.len(),
            p50: self.hist.value_at_quantile(0.50),
            p99: self.hist.value_at_quantile(0.99),
            p999: self.hist.value_at_quantile(0.999),
            max: self.hist.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut r = LatencyRecorder::new();
        for v in 1..=1000u64 {
            r.record(v * 1000);
        }
        let s = r.summary();
        assert_eq!(s.count, 1000);
        assert!((499_000..=501_000).contains(&s.p50), "{s:?}");
        assert!((989_000..=991_000).contains(&s.p99), "{s:?}");
        assert!(s.max >= 999_000 && s.max <= 1_001_000, "{s:?}");
        assert_eq!(LatencyRecorder::new().summary(), LatencySummary::default());
    }
}
