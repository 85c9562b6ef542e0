//! Account-level protection: the latched kill switch and the daily loss / drawdown guard.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;

use crate::types::Price;

#[derive(Debug, Default)]
struct KillInner {
    on: AtomicBool,
    /// Bumped on every trip and reset, so a watcher sees a trip-reset-trip it slept through.
    generation: AtomicU64,
    reason: Mutex<String>,
}

/// The account's kill switch. LATCHED: once tripped (by a limit, the kill file, a signal or
/// config) every new order is refused until [`KillSwitch::reset`] is called explicitly; the
/// core records both acts as risk events. Reading it is one relaxed atomic load.
#[derive(Clone, Debug, Default)]
pub struct KillSwitch(Arc<KillInner>);

impl KillSwitch {
    /// A switch in the given state (`true`: tripped by configuration).
    pub fn new(on: bool) -> Self {
        let k = Self::default();
        if on {
            k.trip("kill_switch = true in the configuration");
        }
        k
    }

    /// Trips the switch with a reason. Returns false if it was already tripped (the first
    /// reason is kept).
    pub fn trip(&self, reason: &str) -> bool {
        let mut r = self.0.reason.lock().unwrap_or_else(|p| p.into_inner());
        if self.0.on.load(Ordering::Relaxed) {
            return false;
        }
        *r = reason.to_string();
        self.0.on.store(true, Ordering::Release);
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Explicitly resets a tripped switch, with the operator's reason. Returns false if it was
    /// not tripped.
    pub fn reset(&self, reason: &str) -> bool {
        let mut r = self.0.reason.lock().unwrap_or_else(|p| p.into_inner());
        if !self.0.on.load(Ordering::Relaxed) {
            return false;
        }
        *r = reason.to_string();
        self.0.on.store(false, Ordering::Release);
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Trips (`true`) or resets (`false`) with a generic reason; kept for callers that only
    /// have a boolean.
    pub fn set(&self, on: bool) {
        if on {
            self.trip("manual");
        } else {
            self.reset("manual reset");
        }
    }

    /// True while orders must be refused.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.0.on.load(Ordering::Relaxed)
    }

    /// The reason of the last trip or reset.
    pub fn reason(&self) -> String {
        self.0
            .reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counts trips and resets; changes on every transition.
    pub fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }
}

/// Account-level loss limits (quote currency; `None` = off).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AccountLimits {
    /// Largest loss of the UTC day (realized + unrealized, net of fees) before the switch trips.
    pub daily_loss_limit: Option<Price>,
    /// Largest fall of equity from the day's peak before the switch trips.
    pub max_drawdown: Option<Price>,
}

/// Why the guard tripped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountBreach {
    /// Day's PnL below `-daily_loss_limit`.
    DailyLoss,
    /// Equity more than `max_drawdown` below the day's peak.
    Drawdown,
}

impl AccountBreach {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountBreach::DailyLoss => "daily_loss_limit",
            AccountBreach::Drawdown => "max_drawdown",
        }
    }
}

const DAY_NS: i64 = 86_400_000_000_000;

/// Follows the account's equity (PnL since the engine started: realized + unrealized, net of
/// fees) through the UTC day and reports a breach of [`AccountLimits`].
#[derive(Clone, Debug, Default)]
pub struct AccountGuard {
    limits: AccountLimits,
    day: Option<i64>,
    day_start: Price,
    peak: Price,
}

impl AccountGuard {
    /// A guard for these limits.
    pub fn new(limits: AccountLimits) -> Self {
        Self {
            limits,
            ..Default::default()
        }
    }

    /// True if any limit is configured (otherwise the core need not compute equity).
    pub fn is_enabled(&self) -> bool {
        self.limits.daily_loss_limit.is_some() || self.limits.max_drawdown.is_some()
    }

    /// The limits.
    pub fn limits(&self) -> AccountLimits {
        self.limits
    }

    /// Observes the equity at wall time `now_ns`; returns a breach with a message.
    pub fn observe(&mut self, equity: Price, now_ns: i64) -> Option<(AccountBreach, String)> {
        let day = now_ns.div_euclid(DAY_NS);
        if self.day != Some(day) {
            self.day = Some(day);
            self.day_start = equity;
            self.peak = equity;
        }
        if equity > self.peak {
            self.peak = equity;
        }
        let pnl = equity - self.day_start;
        if let Some(limit) = self.limits.daily_loss_limit {
            if -pnl > limit {
                return Some((
                    AccountBreach::DailyLoss,
                    format!("day's PnL {pnl} is beyond the daily loss limit {limit}"),
                ));
            }
        }
        if let Some(dd) = self.limits.max_drawdown {
            let fall = self.peak - equity;
            if fall > dd {
                return Some((
                    AccountBreach::Drawdown,
                    format!(
                        "equity {equity} is {fall} below the day's peak {}, beyond max_drawdown {dd}",
                        self.peak
                    ),
                ));
            }
        }
        None
    }

    /// The day's peak equity so far.
    pub fn peak(&self) -> Decimal {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn kill_switch_latches_until_an_explicit_reset() {
        let k = KillSwitch::new(false);
        let g0 = k.generation();
        assert!(k.trip("daily loss"));
        assert!(!k.trip("second"), "already tripped");
        assert_eq!(k.reason(), "daily loss");
        assert!(k.is_on());
        assert!(k.reset("operator: checked positions"));
        assert!(!k.is_on());
        assert_eq!(k.reason(), "operator: checked positions");
        assert_eq!(k.generation(), g0 + 2);
        assert!(!k.reset("again"));
        assert!(KillSwitch::new(true).is_on());
    }

    #[test]
    fn guard_trips_on_daily_loss_and_drawdown_and_rolls_the_day() {
        let mut g = AccountGuard::new(AccountLimits {
            daily_loss_limit: Some(dec!(10)),
            max_drawdown: None,
        });
        let t = 5 * DAY_NS;
        assert_eq!(g.observe(dec!(100), t), None);
        assert_eq!(g.observe(dec!(90), t + 1), None, "exactly at the limit");
        assert_eq!(
            g.observe(dec!(89.99), t + 2).map(|b| b.0),
            Some(AccountBreach::DailyLoss)
        );
        // Next day: the baseline is the equity at the day's first observation.
        assert_eq!(g.observe(dec!(80), t + DAY_NS), None);

        let mut g = AccountGuard::new(AccountLimits {
            daily_loss_limit: None,
            max_drawdown: Some(dec!(5)),
        });
        assert_eq!(g.observe(dec!(0), t), None);
        assert_eq!(g.observe(dec!(20), t), None);
        assert_eq!(g.observe(dec!(15), t), None);
        let (b, msg) = g.observe(dec!(14.5), t).unwrap();
        assert_eq!(b, AccountBreach::Drawdown);
        assert!(msg.contains("peak 20"), "{msg}");
        assert_eq!(g.peak(), dec!(20));
    }
}
