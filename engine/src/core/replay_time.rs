//! Time on a replay clock: between two recorded events nothing wakes the core, so the timers
//! and time-closed bars that came due in between are fired when the next event arrives, each
//! at its own due time (the replayed time moves to it), before the event is processed. A live
//! core on the wall clock fires them the same way from its idle wait; the backtest and the
//! live loop fed by a replay source therefore see the same callbacks at the same times.

use super::Core;

/// Callbacks at one and the same replayed time after which the catch-up moves on (a timer a
/// callback keeps re-arming with no delay would otherwise never let time advance).
const MAX_ROUNDS_AT_ONE_TIME: u32 = 1_000;

impl Core {
    /// The earliest engine time at which a running strategy has a timer due or a bar to
    /// close, if any.
    pub fn next_deadline(&self) -> Option<i64> {
        self.strategies
            .iter()
            .filter(|s| !s.halted)
            .filter_map(|s| s.host.next_deadline())
            .min()
    }

    /// Fires every timer and time-closed bar due at or before `until_ns`, earliest first,
    /// each at its due time (a replay clock is moved to it; it never goes back). On the wall
    /// clock it polls once at the current time. The caller applies the resulting orders as
    /// after any callback.
    pub fn advance_clock(&mut self, until_ns: i64) {
        if !matches!(self.clock, crate::clock::EngineClock::Replay { .. }) {
            self.poll_clock();
            return;
        }
        if self.clock.now_ns() == 0 {
            // Nothing replayed yet: what `on_start` set due fires once, at the first event's
            // time, as a live core's first poll fires it at once (no catch-up from 1970).
            self.clock.advance_to(until_ns);
            self.poll_clock();
            return;
        }
        let mut last = None;
        let mut rounds = 0u32;
        while let Some(due) = self.next_deadline().filter(|d| *d <= until_ns) {
            let at = due.max(self.clock.now_ns());
            if last == Some(at) {
                rounds += 1;
                if rounds >= MAX_ROUNDS_AT_ONE_TIME {
                    break;
                }
            } else {
                rounds = 0;
            }
            last = Some(at);
            self.clock.advance_to(at);
            self.poll_clock();
        }
    }
}
