//! Rate limiting of a warning that can repeat on every tick or report: the first occurrence is
//! logged, then at most one line per window, each carrying how many identical warnings were
//! suppressed since the previous line (`suppressed = N`).
//!
//! ```
//! # use std::time::{Duration, Instant};
//! # use peregrine_engine::warn_limit::WarnLimiter;
//! let mut unknown_cancel = WarnLimiter::new(Duration::from_secs(10));
//! if let Some(suppressed) = unknown_cancel.allow(Instant::now()) {
//!     tracing::warn!(suppressed, "cancel of an unknown order ignored");
//! }
//! ```

use std::time::{Duration, Instant};

/// The default window: one line per warning site per 10 s.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

/// One warning site's limiter. No allocation; `Copy`-sized state.
#[derive(Clone, Copy, Debug)]
pub struct WarnLimiter {
    window: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Default for WarnLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW)
    }
}

impl WarnLimiter {
    /// A limiter logging at most once per `window`.
    pub const fn new(window: Duration) -> Self {
        Self {
            window,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether to log the occurrence at `now`: `Some(n)` with the number suppressed since the
    /// previous logged line, or `None` (counted as suppressed).
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.window => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// Occurrences suppressed since the last logged line (to report at the end of a run).
    pub fn pending(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_logged_then_one_per_window_with_the_count() {
        let t0 = Instant::now();
        let mut l = WarnLimiter::new(Duration::from_secs(10));
        assert_eq!(l.allow(t0), Some(0));
        for ms in 1..=660 {
            assert_eq!(l.allow(t0 + Duration::from_millis(ms * 15)), None);
        }
        assert_eq!(l.pending(), 660);
        assert_eq!(l.allow(t0 + Duration::from_secs(10)), Some(660));
        assert_eq!(l.pending(), 0);
        assert_eq!(l.allow(t0 + Duration::from_secs(11)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(25)), Some(1));
    }
}
