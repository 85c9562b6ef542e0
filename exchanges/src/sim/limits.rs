//! Request-weight and order-count accounting for the `X-MBX-USED-WEIGHT-1M` and
//! `X-MBX-ORDER-COUNT-10S` headers.
//!
//! Limits are not enforced yet; [`RateLimits::admit`] is the single place where 429/418
//! responses (or other injected faults) would be produced.

use std::sync::Mutex;

use super::error::ApiError;

/// Current usage, reported in response headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Request weight used in the current minute.
    pub weight_1m: u64,
    /// Orders placed in the current 10-second window (only for order requests).
    pub orders_10s: Option<u64>,
}

#[derive(Debug, Default)]
struct Counters {
    minute: i64,
    weight: u64,
    window_10s: i64,
    orders: u64,
}

/// Fixed-window counters per minute (weight) and per 10 seconds (orders).
#[derive(Debug, Default)]
pub struct RateLimits {
    counters: Mutex<Counters>,
}

impl RateLimits {
    /// Counts a request of `weight` (and an order if `is_order`) at `now_ms` and returns the
    /// usage to report. Never fails today; the `Result` is the hook for 429/418 injection.
    pub fn admit(&self, weight: u64, is_order: bool, now_ms: i64) -> Result<Usage, ApiError> {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let minute = now_ms.div_euclid(60_000);
        if c.minute != minute {
            c.minute = minute;
            c.weight = 0;
        }
        c.weight += weight;
        let mut usage = Usage {
            weight_1m: c.weight,
            orders_10s: None,
        };
        if is_order {
            let w = now_ms.div_euclid(10_000);
            if c.window_10s != w {
                c.window_10s = w;
                c.orders = 0;
            }
            c.orders += 1;
            usage.orders_10s = Some(c.orders);
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_reset() {
        let l = RateLimits::default();
        assert_eq!(
            l.admit(5, false, 60_000).unwrap(),
            Usage {
                weight_1m: 5,
                orders_10s: None
            }
        );
        assert_eq!(
            l.admit(1, true, 60_001).unwrap(),
            Usage {
                weight_1m: 6,
                orders_10s: Some(1)
            }
        );
        assert_eq!(
            l.admit(1, true, 70_001).unwrap(),
            Usage {
                weight_1m: 7,
                orders_10s: Some(1)
            }
        );
        assert_eq!(l.admit(1, false, 120_000).unwrap().weight_1m, 1);
    }
}
