//! The venue's rate limits as exact sliding windows: request weight and order count in one
//! budget.
//!
//! Binance counts in fixed windows (weight per minute, orders per 10 s). A token bucket sized
//! to the same rate can emit twice the limit inside one fixed window (a full bucket at the
//! end of one window, refilled at the start of the next), so the venue would answer 429. A
//! sliding window of the same length never lets more than `limit` units into any interval of
//! that length, so it never exceeds any fixed window either.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// At most `limit` units in any `window_ns` interval: a ring of the last `limit` unit
/// timestamps, allocated once. Checking and recording are O(n) in the units of one request
/// (1 for an order), independent of the limit; no allocation after `new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlidingWindow {
    /// Time of each of the last `len` units, oldest at `next`, once `used == len`.
    stamps: Box<[u64]>,
    next: usize,
    used: usize,
    window_ns: u64,
}

impl SlidingWindow {
    /// At most `limit` units per `window_ns`. A zero limit disables the window (everything
    /// passes).
    pub fn new(limit: u64, window_ns: u64) -> Self {
        let len = usize::try_from(limit).unwrap_or(usize::MAX).min(1 << 20);
        Self {
            stamps: vec![0; len].into_boxed_slice(),
            next: 0,
            used: 0,
            window_ns,
        }
    }

    /// True if the window limits nothing.
    pub fn is_disabled(&self) -> bool {
        self.stamps.is_empty()
    }

    /// True if `n` more units fit at `now_ns` (does not record them).
    pub fn can_take(&self, n: u64, now_ns: u64) -> bool {
        if self.is_disabled() {
            return true;
        }
        let len = self.stamps.len();
        let Ok(n) = usize::try_from(n) else {
            return false;
        };
        if n == 0 {
            return true;
        }
        if n > len {
            return false;
        }
        if self.used + n <= len {
            return true;
        }
        // Units leave in arrival order: the n-th oldest must have left the window.
        let slot = self.stamps[(self.next + n - 1) % len];
        now_ns.saturating_sub(slot) >= self.window_ns
    }

    /// Units that fit at `now_ns`.
    pub fn available(&self, now_ns: u64) -> u64 {
        if self.is_disabled() {
            return u64::MAX;
        }
        let len = self.stamps.len();
        let free = len - self.used;
        let expired = (0..self.used)
            .take_while(|k| {
                let slot = self.stamps[(self.next + free + k) % len];
                now_ns.saturating_sub(slot) >= self.window_ns
            })
            .count();
        (free + expired) as u64
    }

    /// Records `n` units at `now_ns` (even past the limit: the venue counts them anyway).
    pub fn take(&mut self, n: u64, now_ns: u64) {
        if self.is_disabled() {
            return;
        }
        let len = self.stamps.len();
        let n = usize::try_from(n).unwrap_or(len).min(len);
        for _ in 0..n {
            self.stamps[self.next] = now_ns;
            self.next = (self.next + 1) % len;
        }
        self.used = (self.used + n).min(len);
    }
}

/// What the venue itself last reported about our usage (REST `X-MBX-USED-WEIGHT-1M` /
/// `X-MBX-ORDER-COUNT-10S` headers, the WebSocket API's `rateLimits` arrays), shared between
/// the transports (writers) and the budget on the core thread (reader), lock-free.
///
/// Binance counts in fixed intervals aligned to the clock (a `1 MINUTE` interval starts every
/// minute, `10 SECOND` at :00, :10, ...); a report holds for the interval it was made in, so
/// the budget refuses while the venue's own count of the current interval is at its limit.
#[derive(Debug, Default)]
pub struct VenueUsage {
    weight: UsageSlot,
    orders: UsageSlot,
}

#[derive(Debug, Default)]
struct UsageSlot {
    /// Start of the venue interval the count belongs to, wall ms (0: no report).
    interval_start_ms: AtomicU64,
    count: AtomicU64,
    /// The venue's limit for the interval (0: unknown).
    limit: AtomicU64,
}

/// Which venue counter a report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageKind {
    /// `REQUEST_WEIGHT` per 1 minute.
    WeightPerMinute,
    /// `ORDERS` per 10 seconds.
    OrdersPer10s,
}

impl UsageKind {
    fn interval_ms(self) -> u64 {
        match self {
            UsageKind::WeightPerMinute => 60_000,
            UsageKind::OrdersPer10s => 10_000,
        }
    }
}

impl VenueUsage {
    /// A shared, empty usage record.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn slot(&self, kind: UsageKind) -> &UsageSlot {
        match kind {
            UsageKind::WeightPerMinute => &self.weight,
            UsageKind::OrdersPer10s => &self.orders,
        }
    }

    /// Records the venue's `count` (and `limit`, 0 if not given) of `kind` as of wall time
    /// `at_ms`. Within one interval the highest count wins (responses can arrive out of order).
    pub fn report(&self, kind: UsageKind, count: u64, limit: u64, at_ms: u64) {
        let slot = self.slot(kind);
        let start = at_ms - at_ms % kind.interval_ms();
        let prev = slot.interval_start_ms.load(Ordering::Acquire);
        if start > prev {
            slot.count.store(count, Ordering::Release);
            slot.interval_start_ms.store(start, Ordering::Release);
        } else if start == prev {
            slot.count.fetch_max(count, Ordering::AcqRel);
        } else {
            return;
        }
        if limit > 0 {
            slot.limit.store(limit, Ordering::Release);
        }
    }

    /// The venue's count of `kind` in the interval containing `now_ms` (0 if none reported).
    pub fn count(&self, kind: UsageKind, now_ms: u64) -> u64 {
        let slot = self.slot(kind);
        let start = now_ms - now_ms % kind.interval_ms();
        if slot.interval_start_ms.load(Ordering::Acquire) == start {
            slot.count.load(Ordering::Acquire)
        } else {
            0
        }
    }

    /// True if `n` more units of `kind` fit under `limit` (and the venue's own limit, when it
    /// reported one) by the venue's count at `now_ms`. A zero `limit` means only the venue's.
    pub fn allows(&self, kind: UsageKind, n: u64, limit: u64, now_ms: u64) -> bool {
        let venue_limit = self.slot(kind).limit.load(Ordering::Acquire);
        let limit = match (limit, venue_limit) {
            (0, 0) => return true,
            (0, v) => v,
            (l, 0) => l,
            (l, v) => l.min(v),
        };
        self.count(kind, now_ms).saturating_add(n) <= limit
    }
}

/// The account's request budget: Binance counts request weight per minute and orders per 10 s
/// (and per day) per account; every strategy draws from this one budget. Besides our own
/// sliding-window count, the venue's reported usage ([`VenueUsage`], when attached) must
/// leave room too (other clients of the account, reconciliation queries, connects).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateBudget {
    /// Request weight (1 per new order or cancel on Binance spot).
    pub weight: SlidingWindow,
    /// Order count (new orders only).
    pub orders: SlidingWindow,
    venue: Option<SharedUsage>,
    weight_limit: u64,
    orders_limit: u64,
}

/// [`VenueUsage`] behind an `Arc`, compared by identity.
#[derive(Clone, Debug)]
struct SharedUsage(Arc<VenueUsage>);

impl PartialEq for SharedUsage {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for SharedUsage {}

impl RateBudget {
    /// A budget of `weight_per_min` request weight per minute and `orders_per_10s` orders per
    /// ten seconds; zero disables either.
    pub fn new(weight_per_min: u64, orders_per_10s: u64) -> Self {
        Self {
            weight: SlidingWindow::new(weight_per_min, 60_000_000_000),
            orders: SlidingWindow::new(orders_per_10s, 10_000_000_000),
            venue: None,
            weight_limit: weight_per_min,
            orders_limit: orders_per_10s,
        }
    }

    /// Also respects the venue's reported usage (fed by the transports).
    pub fn with_venue_usage(mut self, usage: Arc<VenueUsage>) -> Self {
        self.venue = Some(SharedUsage(usage));
        self
    }

    /// True if a new order of `weight` can be sent now.
    pub fn can_send_order(&mut self, weight: u64, now_ns: u64) -> bool {
        self.weight.can_take(weight, now_ns)
            && self.orders.can_take(1, now_ns)
            && self.venue.as_ref().is_none_or(|v| {
                let wall_ms = u64::try_from(crate::clock::Clock::wall_ms()).unwrap_or(0);
                v.0.allows(
                    UsageKind::WeightPerMinute,
                    weight,
                    self.weight_limit,
                    wall_ms,
                ) && v
                    .0
                    .allows(UsageKind::OrdersPer10s, 1, self.orders_limit, wall_ms)
            })
    }

    /// Records a new order of `weight`.
    pub fn record_order(&mut self, weight: u64, now_ns: u64) {
        self.weight.take(weight, now_ns);
        self.orders.take(1, now_ns);
    }

    /// Records a request that is not a new order (a cancel, a query) of `weight`.
    pub fn record_request(&mut self, weight: u64, now_ns: u64) {
        self.weight.take(weight, now_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_admits_the_limit_and_frees_units_as_they_age_out() {
        let mut w = SlidingWindow::new(10, 10_000_000_000);
        let t0 = 1_000_000_000;
        for i in 0..10 {
            assert!(w.can_take(1, t0 + i));
            w.take(1, t0 + i);
        }
        assert!(!w.can_take(1, t0 + 20));
        assert_eq!(w.available(t0 + 20), 0);
        // The first unit leaves the window exactly 10 s after it entered.
        assert!(!w.can_take(1, t0 + 9_999_999_999));
        assert!(w.can_take(1, t0 + 10_000_000_000));
        assert!(!w.can_take(2, t0 + 10_000_000_000));
        assert_eq!(w.available(t0 + 10_000_000_001), 2);
        assert_eq!(w.available(t0 + 100_000_000_000), 10);
        assert!(!w.can_take(11, t0 + 100_000_000_000));
        assert!(SlidingWindow::new(0, 1).can_take(u64::MAX, 0));
    }

    #[test]
    fn no_fixed_window_ever_sees_more_than_the_limit() {
        // A sender that always sends when allowed, every 7 ms for 60 s, against a venue that
        // counts 100 per fixed 10 s window.
        let (limit, window) = (100u64, 10_000_000_000u64);
        let mut w = SlidingWindow::new(limit, window);
        let mut per_fixed = std::collections::BTreeMap::<u64, u64>::new();
        let mut t = 3_000_000_000u64;
        while t < 63_000_000_000 {
            if w.can_take(1, t) {
                w.take(1, t);
                *per_fixed.entry(t / window).or_default() += 1;
            }
            t += 7_000_000;
        }
        assert!(per_fixed.values().all(|&n| n <= limit), "{per_fixed:?}");
        assert!(per_fixed.values().any(|&n| n == limit), "{per_fixed:?}");
    }

    #[test]
    fn budget_needs_both_weight_and_order_count() {
        let mut r = RateBudget::new(3, 100);
        let t = 5;
        for _ in 0..3 {
            assert!(r.can_send_order(1, t));
            r.record_order(1, t);
        }
        assert!(!r.can_send_order(1, t), "weight exhausted");
        let mut r = RateBudget::new(6000, 2);
        r.record_order(1, t);
        r.record_request(1, t);
        r.record_order(1, t);
        assert!(!r.can_send_order(1, t), "order count exhausted");
        assert!(RateBudget::new(0, 0).can_send_order(1000, t));
    }

    #[test]
    fn venue_usage_blocks_while_the_venue_interval_is_full() {
        let u = VenueUsage::shared();
        let t = 1_700_000_000_000u64; // on a minute boundary: 1_700_000_000_000 % 60_000 == 20_000
        let start = t - t % 60_000;
        u.report(UsageKind::WeightPerMinute, 5, 6000, start + 1_000);
        u.report(UsageKind::WeightPerMinute, 3, 0, start + 2_000); // late, lower: ignored
        assert_eq!(u.count(UsageKind::WeightPerMinute, start + 3_000), 5);
        assert!(u.allows(UsageKind::WeightPerMinute, 5, 10, start + 3_000));
        assert!(!u.allows(UsageKind::WeightPerMinute, 6, 10, start + 3_000));
        assert!(
            u.allows(UsageKind::WeightPerMinute, 6, 10, start + 60_000),
            "next interval"
        );
        // The venue's own limit applies when lower than ours, and alone when ours is off.
        u.report(UsageKind::OrdersPer10s, 49, 50, start);
        assert!(u.allows(UsageKind::OrdersPer10s, 1, 100, start + 1));
        assert!(!u.allows(UsageKind::OrdersPer10s, 2, 0, start + 1));
        let mut b = RateBudget::new(6000, 100).with_venue_usage(u.clone());
        assert!(b.can_send_order(1, 0));
        let now = u64::try_from(crate::clock::Clock::wall_ms()).unwrap();
        u.report(UsageKind::OrdersPer10s, 100, 100, now);
        assert!(
            !b.can_send_order(1, 0),
            "the venue says the 10 s interval is full"
        );
        assert_eq!(b.clone(), b);
    }
}
