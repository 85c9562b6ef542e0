//! Request-weight and order-count accounting for the `X-MBX-USED-WEIGHT-1M` and
//! `X-MBX-ORDER-COUNT-10S` / `X-MBX-ORDER-COUNT-1D` headers, enforcement of both limits (HTTP 429 with `Retry-After`,
//! Binance code -1003 / -1015), injected rate-limit faults (429 or 418 with `Retry-After`),
//! and the server clock offset used to test clock-skew handling.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use axum::http::StatusCode;

use super::error::ApiError;

/// Request weight allowed per minute (as advertised in exchangeInfo).
pub const WEIGHT_PER_MINUTE: u64 = 6000;
/// Orders allowed per 10 seconds (as advertised in exchangeInfo).
pub const ORDERS_PER_10S: u64 = 100;
/// Orders allowed per UTC day (Binance's documented `rateLimit/order` example: 160000).
pub const ORDERS_PER_DAY: u64 = 160_000;

/// Current usage, reported in response headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Request weight used in the current minute.
    pub weight_1m: u64,
    /// Orders placed in the current 10-second window (only for order requests).
    pub orders_10s: Option<u64>,
    /// Orders placed in the current UTC day (only for order requests).
    pub orders_1d: Option<u64>,
}

/// A request refused by the limits: the error and the `Retry-After` seconds to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limited {
    /// The Binance error (HTTP 429 or 418).
    pub error: ApiError,
    /// Seconds for the `Retry-After` header.
    pub retry_after_s: u64,
}

#[derive(Debug, Default)]
struct Counters {
    minute: i64,
    weight: u64,
    window_10s: i64,
    orders: u64,
    day: i64,
    orders_day: u64,
}

/// An injected refusal: HTTP status (429 or 418) and `Retry-After` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectedLimit {
    /// 429 or 418.
    pub status: u16,
    /// `Retry-After` seconds.
    pub retry_after_s: u64,
}

/// Fixed-window counters per minute (weight), per 10 seconds and per UTC day (orders), plus
/// faults.
#[derive(Debug, Default)]
pub struct RateLimits {
    counters: Mutex<Counters>,
    injected: Mutex<VecDeque<InjectedLimit>>,
    /// Server clock minus real clock, ms.
    clock_offset_ms: AtomicI64,
}

impl RateLimits {
    /// Counts a request of `weight` (and an order if `is_order`) at `now_ms` and returns the
    /// usage to report, or the refusal: an injected fault first, else 429 when the minute's
    /// weight, the 10 s or the day's order count is exceeded.
    pub fn admit(&self, weight: u64, is_order: bool, now_ms: i64) -> Result<Usage, Limited> {
        if let Some(f) = self
            .injected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
        {
            let (status, msg) = if f.status == 418 {
                (
                    StatusCode::IM_A_TEAPOT,
                    format!(
                        "Way too much request weight used; IP banned until {}. Please use WebSocket Streams for live updates to avoid bans.",
                        now_ms + (f.retry_after_s as i64) * 1000
                    ),
                )
            } else {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too much request weight used; current limit is {WEIGHT_PER_MINUTE} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."),
                )
            };
            return Err(Limited {
                error: ApiError {
                    status,
                    code: -1003,
                    msg,
                },
                retry_after_s: f.retry_after_s,
            });
        }
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let minute = now_ms.div_euclid(60_000);
        if c.minute != minute {
            c.minute = minute;
            c.weight = 0;
        }
        c.weight += weight;
        if c.weight > WEIGHT_PER_MINUTE {
            return Err(Limited {
                error: ApiError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: -1003,
                    msg: format!("Too much request weight used; current limit is {WEIGHT_PER_MINUTE} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."),
                },
                retry_after_s: secs_until(now_ms, 60_000),
            });
        }
        let mut usage = Usage {
            weight_1m: c.weight,
            orders_10s: None,
            orders_1d: None,
        };
        if is_order {
            let w = now_ms.div_euclid(10_000);
            if c.window_10s != w {
                c.window_10s = w;
                c.orders = 0;
            }
            let day = now_ms.div_euclid(DAY_MS);
            if c.day != day {
                c.day = day;
                c.orders_day = 0;
            }
            c.orders += 1;
            c.orders_day += 1;
            if c.orders_day > ORDERS_PER_DAY {
                return Err(Limited {
                    error: ApiError {
                        status: StatusCode::TOO_MANY_REQUESTS,
                        code: -1015,
                        msg: format!(
                            "Too many new orders; current limit is {ORDERS_PER_DAY} orders per 1 DAY."
                        ),
                    },
                    retry_after_s: secs_until(now_ms, DAY_MS),
                });
            }
            if c.orders > ORDERS_PER_10S {
                return Err(Limited {
                    error: ApiError {
                        status: StatusCode::TOO_MANY_REQUESTS,
                        code: -1015,
                        msg: format!(
                            "Too many new orders; current limit is {ORDERS_PER_10S} orders per 10 SECOND."
                        ),
                    },
                    retry_after_s: secs_until(now_ms, 10_000),
                });
            }
            usage.orders_10s = Some(c.orders);
            usage.orders_1d = Some(c.orders_day);
        }
        Ok(usage)
    }

    /// Orders counted in the 10-second window and in the UTC day containing `now_ms`
    /// (`GET /api/v3/rateLimit/order`).
    pub fn orders_in_windows(&self, now_ms: i64) -> (u64, u64) {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let ten_s = if c.window_10s == now_ms.div_euclid(10_000) {
            c.orders
        } else {
            0
        };
        let day = if c.day == now_ms.div_euclid(DAY_MS) {
            c.orders_day
        } else {
            0
        };
        (ten_s, day)
    }

    /// Makes the next `count` requests fail with `status` (429 or 418) and `Retry-After`.
    pub fn inject(&self, status: u16, retry_after_s: u64, count: usize) {
        let mut q = self.injected.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..count {
            q.push_back(InjectedLimit {
                status,
                retry_after_s,
            });
        }
    }

    /// Sets the server clock offset (server minus real time, ms).
    pub fn set_clock_offset_ms(&self, ms: i64) {
        self.clock_offset_ms.store(ms, Ordering::Relaxed);
    }

    /// The server's clock, ms since the epoch (real time plus the configured offset).
    pub fn server_ms(&self, real_now_ms: i64) -> i64 {
        real_now_ms + self.clock_offset_ms.load(Ordering::Relaxed)
    }
}

const DAY_MS: i64 = 86_400_000;

/// Whole seconds (at least 1) until the end of the current `window_ms` window.
fn secs_until(now_ms: i64, window_ms: i64) -> u64 {
    let left = window_ms - now_ms.rem_euclid(window_ms);
    (left as u64).div_ceil(1000).max(1)
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
                orders_10s: None,
                orders_1d: None,
            }
        );
        assert_eq!(
            l.admit(1, true, 60_001).unwrap(),
            Usage {
                weight_1m: 6,
                orders_10s: Some(1),
                orders_1d: Some(1),
            }
        );
        assert_eq!(
            l.admit(1, true, 70_001).unwrap(),
            Usage {
                weight_1m: 7,
                orders_10s: Some(1),
                orders_1d: Some(2),
            }
        );
        assert_eq!(l.admit(1, false, 120_000).unwrap().weight_1m, 1);
        assert_eq!(l.orders_in_windows(75_000), (1, 2));
        assert_eq!(
            l.orders_in_windows(80_000),
            (0, 2),
            "the 10 s window turned"
        );
        assert_eq!(l.orders_in_windows(DAY_MS), (0, 0), "the day turned");
        assert_eq!(l.admit(1, true, DAY_MS + 1).unwrap().orders_1d, Some(1));
    }

    #[test]
    fn limits_are_enforced_and_faults_injected() {
        let l = RateLimits::default();
        for _ in 0..ORDERS_PER_10S {
            l.admit(1, true, 1_000).unwrap();
        }
        let e = l.admit(1, true, 1_500).unwrap_err();
        assert_eq!((e.error.code, e.retry_after_s), (-1015, 9));
        let e = l.admit(WEIGHT_PER_MINUTE, false, 2_000).unwrap_err();
        assert_eq!((e.error.status.as_u16(), e.error.code), (429, -1003));
        assert_eq!(e.retry_after_s, 58);
        l.inject(418, 120, 1);
        let e = l.admit(1, false, 70_000).unwrap_err();
        assert_eq!((e.error.status.as_u16(), e.retry_after_s), (418, 120));
        assert!(l.admit(1, false, 70_000).is_ok(), "one injected fault only");
        l.set_clock_offset_ms(2000);
        assert_eq!(l.server_ms(1000), 3000);
    }
}
