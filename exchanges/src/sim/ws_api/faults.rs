//! Faults of the WebSocket API, for tests of a client's recovery: drop the connection with an
//! `order.place` in flight (the order executed or not, the response never sent), and refuse
//! new connections for a while (so the client must use REST meanwhile).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to do with the next `order.place` read on any WebSocket API connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderDrop {
    /// Place the order, then drop the connection without the response.
    AfterPlacing,
    /// Drop the connection without placing the order.
    BeforePlacing,
}

/// Armed WebSocket API faults (see the module docs).
#[derive(Debug, Default)]
pub struct WsApiFaults {
    armed: Mutex<Vec<OrderDrop>>,
    dropped: Mutex<Vec<(OrderDrop, String)>>,
    refuse_until: Mutex<Option<Instant>>,
}

impl WsApiFaults {
    /// The next `order.place` requests (in `drops` order, one each) drop their connection.
    pub fn arm(&self, drops: &[OrderDrop]) {
        self.lock_armed().extend_from_slice(drops);
    }

    fn lock_armed(&self) -> std::sync::MutexGuard<'_, Vec<OrderDrop>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether any drop is armed (cheap check before looking at a frame's method).
    pub fn any_armed(&self) -> bool {
        !self.lock_armed().is_empty()
    }

    /// Takes the next armed drop for the order with client order id `coid`, recording it.
    pub fn take(&self, coid: &str) -> Option<OrderDrop> {
        let mut armed = self.lock_armed();
        if armed.is_empty() {
            return None;
        }
        let drop = armed.remove(0);
        self.lock_dropped().push((drop, coid.to_string()));
        Some(drop)
    }

    fn lock_dropped(&self) -> std::sync::MutexGuard<'_, Vec<(OrderDrop, String)>> {
        self.dropped.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The drops taken so far, with the client order id of each order.
    pub fn dropped(&self) -> Vec<(OrderDrop, String)> {
        self.lock_dropped().clone()
    }

    /// New connections are refused (HTTP 503 on the upgrade) for `d` from now.
    pub fn refuse_for(&self, d: Duration) {
        *self.refuse_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + d);
    }

    /// Whether new connections are refused now.
    pub fn refusing(&self) -> bool {
        self.refuse_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| Instant::now() < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_taken_in_order_and_counted() {
        let f = WsApiFaults::default();
        assert!(!f.any_armed() && f.take("x").is_none());
        f.arm(&[OrderDrop::AfterPlacing, OrderDrop::BeforePlacing]);
        assert!(f.any_armed());
        assert_eq!(f.take("a"), Some(OrderDrop::AfterPlacing));
        assert_eq!(f.take("b"), Some(OrderDrop::BeforePlacing));
        assert_eq!(f.take("c"), None);
        assert_eq!(
            f.dropped(),
            vec![
                (OrderDrop::AfterPlacing, "a".to_string()),
                (OrderDrop::BeforePlacing, "b".to_string())
            ]
        );
        assert!(!f.refusing());
        f.refuse_for(Duration::from_secs(60));
        assert!(f.refusing());
        f.refuse_for(Duration::ZERO);
        assert!(!f.refusing());
    }
}
