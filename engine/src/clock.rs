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

/// Where the core loop and strategies' `now()` read engine time. Live runs use the wall
/// clock; a backtest replays the recorded exchange time of the event being processed, so the
/// same input gives the same timestamps (and the same outputs) on every run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineClock {
    /// Wall-clock time ([`Clock::wall_ns`]).
    #[default]
    Wall,
    /// Replayed time: the latest event time handed to [`EngineClock::advance_to`].
    Replay {
        /// Current replayed time, ns since the Unix epoch.
        now_ns: i64,
    },
}

impl EngineClock {
    /// A replay clock starting at `start_ns`.
    pub fn replay(start_ns: i64) -> Self {
        EngineClock::Replay { now_ns: start_ns }
    }

    /// Engine time, ns since the Unix epoch.
    #[inline]
    pub fn now_ns(&self) -> i64 {
        match self {
            EngineClock::Wall => Clock::wall_ns(),
            EngineClock::Replay { now_ns } => *now_ns,
        }
    }

    /// Time for intervals (rate budgets, data freshness): the monotonic clock
    /// ([`Clock::now_ns`]) live, the replayed time in a backtest (so a replay takes the same
    /// decisions however fast it runs).
    #[inline]
    pub fn interval_ns(&self) -> u64 {
        match self {
            EngineClock::Wall => Clock::now_ns(),
            EngineClock::Replay { now_ns } => u64::try_from(*now_ns).unwrap_or(0),
        }
    }

    /// When data received at `recv_ns` arrived, on the [`EngineClock::interval_ns`] time base: its
    /// local receive time live, the replayed time in a backtest.
    #[inline]
    pub fn arrival_ns(&self, recv_ns: u64) -> u64 {
        match self {
            EngineClock::Wall => recv_ns,
            EngineClock::Replay { .. } => self.interval_ns(),
        }
    }

    /// Engine time, ms since the Unix epoch.
    #[inline]
    pub fn now_ms(&self) -> i64 {
        self.now_ns().div_euclid(1_000_000)
    }

    /// Moves a replay clock forward to `ns` (never backwards; a zero or earlier time leaves it
    /// where it is). No effect on the wall clock.
    #[inline]
    pub fn advance_to(&mut self, ns: i64) {
        if let EngineClock::Replay { now_ns } = self {
            if ns > *now_ns {
                *now_ns = ns;
            }
        }
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

    #[test]
    fn replay_clock_only_moves_forward() {
        let mut c = EngineClock::replay(5_000_000);
        c.advance_to(7_000_000);
        c.advance_to(6_000_000);
        c.advance_to(0);
        assert_eq!(c.now_ns(), 7_000_000);
        assert_eq!(c.now_ms(), 7);
        let mut w = EngineClock::Wall;
        w.advance_to(1);
        assert!(w.now_ns() > 1_600_000_000_000_000_000);
    }
}
