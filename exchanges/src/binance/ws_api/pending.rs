//! Requests waiting for their response, by id: bounded, and the single place that decides
//! whether a request may still be written (so a request whose caller gave up never goes out).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::frame::Reply;
use super::WsApiError;

type Waiter = oneshot::Sender<Result<Reply, WsApiError>>;

#[derive(Default)]
struct Entry {
    waiter: Option<Waiter>,
    written: bool,
}

/// The in-flight requests of one WebSocket API client.
pub struct Pending {
    map: Mutex<HashMap<u64, Entry>>,
    capacity: usize,
}

impl Pending {
    /// At most `capacity` requests in flight.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::with_capacity(capacity.min(1024))),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Registers request `id`; `Err(TooManyInFlight)` when full.
    pub fn insert(&self, id: u64, waiter: Waiter) -> Result<(), WsApiError> {
        let mut m = self.lock();
        if m.len() >= self.capacity {
            return Err(WsApiError::TooManyInFlight);
        }
        m.insert(
            id,
            Entry {
                waiter: Some(waiter),
                written: false,
            },
        );
        Ok(())
    }

    /// True (and marks it written) if `id`'s caller still waits: only then may the frame be
    /// written.
    pub fn mark_written(&self, id: u64) -> bool {
        match self.lock().get_mut(&id) {
            Some(e) => {
                e.written = true;
                true
            }
            None => false,
        }
    }

    /// Hands `reply` to `id`'s caller. False if nobody waits for it (late or unknown id).
    pub fn complete(&self, id: u64, reply: Result<Reply, WsApiError>) -> bool {
        let entry = self.lock().remove(&id);
        match entry.and_then(|e| e.waiter) {
            Some(w) => w.send(reply).is_ok(),
            None => false,
        }
    }

    /// The caller gave up (timeout): forget `id`. Returns whether the frame had been written.
    pub fn abandon(&self, id: u64) -> bool {
        self.lock().remove(&id).is_some_and(|e| e.written)
    }

    /// Fails every request: written ones with `lost` (outcome unknown), the others with
    /// `NotSent`.
    pub fn fail_all(&self) {
        let drained: Vec<(u64, Entry)> = self.lock().drain().collect();
        for (_, e) in drained {
            if let Some(w) = e.waiter {
                let err = if e.written {
                    WsApiError::ConnectionLost
                } else {
                    WsApiError::NotSent
                };
                let _ = w.send(Err(err));
            }
        }
    }

    /// Requests in flight.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True if none are in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> Reply {
        Reply {
            status: 200,
            result: "{}".into(),
            error: None,
            rate_limits: Vec::new(),
        }
    }

    #[tokio::test]
    async fn bounded_matched_by_id_and_never_written_after_abandon() {
        let p = Pending::new(2);
        let (t1, r1) = oneshot::channel();
        let (t2, r2) = oneshot::channel();
        let (t3, _r3) = oneshot::channel();
        p.insert(1, t1).unwrap();
        p.insert(2, t2).unwrap();
        assert!(matches!(p.insert(3, t3), Err(WsApiError::TooManyInFlight)));
        assert!(p.mark_written(2));
        // Responses are matched by id, in any order.
        assert!(p.complete(2, Ok(reply())));
        assert_eq!(r2.await.unwrap().unwrap().status, 200);
        assert!(
            !p.complete(2, Ok(reply())),
            "a second reply for the id is dropped"
        );
        // A caller that gave up: its frame may not be written any more.
        assert!(!p.abandon(1), "never written");
        assert!(!p.mark_written(1));
        assert!(r1.await.is_err());
        let (t4, r4) = oneshot::channel();
        let (t5, r5) = oneshot::channel();
        p.insert(4, t4).unwrap();
        p.insert(5, t5).unwrap();
        assert!(p.mark_written(4));
        p.fail_all();
        assert!(matches!(r4.await.unwrap(), Err(WsApiError::ConnectionLost)));
        assert!(matches!(r5.await.unwrap(), Err(WsApiError::NotSent)));
        assert!(p.is_empty());
    }
}
