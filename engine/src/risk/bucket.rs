//! Token buckets for the venue's rate limits: request weight and order count in one budget.

/// One token bucket in integer micro-tokens: `capacity` tokens, refilled continuously at
/// `capacity` per `interval_ns` (the venue's window expressed as a rate). O(1), no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    capacity_micro: u64,
    tokens_micro: u64,
    /// `capacity_micro` micro-tokens are added per `interval_ns` (at most one micro-token is
    /// lost to rounding per refill).
    interval_ns: u64,
    last_ns: u64,
}

const MICRO: u64 = 1_000_000;

impl TokenBucket {
    /// A full bucket of `capacity` tokens that refills `capacity` tokens every `interval_ns`.
    /// A zero capacity disables the bucket (every take succeeds).
    pub fn new(capacity: u64, interval_ns: u64) -> Self {
        let capacity_micro = capacity.saturating_mul(MICRO);
        Self {
            capacity_micro,
            tokens_micro: capacity_micro,
            interval_ns: interval_ns.max(1),
            last_ns: 0,
        }
    }

    /// True if the bucket limits nothing.
    pub fn is_disabled(&self) -> bool {
        self.capacity_micro == 0
    }

    fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            let dt = (now_ns - self.last_ns) as u128;
            let add = dt * self.capacity_micro as u128 / self.interval_ns as u128;
            let add = u64::try_from(add).unwrap_or(u64::MAX);
            self.tokens_micro = self
                .tokens_micro
                .saturating_add(add)
                .min(self.capacity_micro);
            self.last_ns = now_ns;
        } else if self.last_ns == 0 {
            self.last_ns = now_ns;
        }
    }

    /// Whole tokens available at `now_ns`.
    pub fn available(&mut self, now_ns: u64) -> u64 {
        if self.is_disabled() {
            return u64::MAX;
        }
        self.refill(now_ns);
        self.tokens_micro / MICRO
    }

    /// True if `n` tokens are available at `now_ns` (does not take them).
    pub fn can_take(&mut self, n: u64, now_ns: u64) -> bool {
        self.is_disabled() || {
            self.refill(now_ns);
            self.tokens_micro >= n.saturating_mul(MICRO)
        }
    }

    /// Takes `n` tokens (saturating at empty: a request the venue will count anyway).
    pub fn take(&mut self, n: u64, now_ns: u64) {
        if self.is_disabled() {
            return;
        }
        self.refill(now_ns);
        self.tokens_micro = self.tokens_micro.saturating_sub(n.saturating_mul(MICRO));
    }
}

/// The account's request budget: Binance counts request weight per minute and orders per 10 s
/// (and per day) per account; every strategy draws from this one budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateBudget {
    /// Request weight (1 per new order or cancel on Binance spot).
    pub weight: TokenBucket,
    /// Order count (new orders only).
    pub orders: TokenBucket,
}

impl RateBudget {
    /// A budget of `weight_per_min` request weight per minute and `orders_per_10s` orders per
    /// ten seconds; zero disables either.
    pub fn new(weight_per_min: u64, orders_per_10s: u64) -> Self {
        Self {
            weight: TokenBucket::new(weight_per_min, 60_000_000_000),
            orders: TokenBucket::new(orders_per_10s, 10_000_000_000),
        }
    }

    /// True if a new order of `weight` can be sent now.
    pub fn can_send_order(&mut self, weight: u64, now_ns: u64) -> bool {
        self.weight.can_take(weight, now_ns) && self.orders.can_take(1, now_ns)
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
    fn bucket_empties_and_refills_at_the_window_rate() {
        let mut b = TokenBucket::new(10, 10_000_000_000);
        let t0 = 1_000_000_000;
        for _ in 0..10 {
            assert!(b.can_take(1, t0));
            b.take(1, t0);
        }
        assert!(!b.can_take(1, t0));
        // 1 token per second.
        assert!(!b.can_take(1, t0 + 999_000_000));
        assert!(b.can_take(1, t0 + 1_000_000_000));
        assert_eq!(b.available(t0 + 100_000_000_000), 10);
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
}
