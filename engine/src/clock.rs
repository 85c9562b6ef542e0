//! Time: a monotonic clock for receive timestamps and latency, and wall time for venues.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static ANCHOR: OnceLock<Instant> = OnceLock::new();

/// The process clock. Monotonic nanoseconds for latency, wall milliseconds for venues.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock;

impl Clock {
    /// Monotonic nanoseconds since the first call in this process. Never goes backwards;
    /// comparable across threads. Use it for receive timestamps and latency only.
    #[inline]
    pub fn now_ns() -> u64 {
        let anchor = ANCHOR.get_or_init(Instant::now);
        anchor.elapsed().as_nanos() as u64
    }

    /// Wall-clock milliseconds since the Unix epoch (for signed request timestamps).
    pub fn wall_ms() -> i64 {
        Self::wall_ns() / 1_000_000
    }

    /// Wall-clock nanoseconds since the Unix epoch.
    pub fn wall_ns() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_never_goes_back() {
        let mut last = Clock::now_ns();
        for _ in 0..10_000 {
            let now = Clock::now_ns();
            assert!(now >= last);
            last = now;
        }
        assert!(Clock::wall_ms() > 1_600_000_000_000);
    }
}
