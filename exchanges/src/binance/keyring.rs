//! The account's API key as it is now, replaceable while the engine runs (a changed
//! `user_exchange_keys` row in Supabase): the REST client, the order gateway, the WebSocket
//! API and the core thread's order signer all read it from one [`KeyRing`]. A replacement
//! bumps the generation: the WebSocket API reconnects and logs on (or subscribes) with the new
//! key, the core's signer takes it before the next order it signs (one atomic load per order
//! otherwise, no allocation), REST requests use it from then on. Keys are never logged.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use peregrine_engine::secret::Secret;
use tokio::sync::watch;

use super::sign::{ApiKeySigner, KeyType};

/// One API key and its signer.
pub struct VenueKey {
    /// The API key (`X-MBX-APIKEY`, WebSocket API `apiKey`). Redacted.
    pub api_key: Secret,
    /// Its signer (HMAC secret or Ed25519 private key).
    pub signer: Arc<ApiKeySigner>,
}

impl VenueKey {
    /// A key and its signer.
    pub fn new(api_key: Secret, signer: Arc<ApiKeySigner>) -> Self {
        Self { api_key, signer }
    }

    /// The `apiKey` WebSocket API order requests carry: `Some` for HMAC keys (each request is
    /// signed), `None` for Ed25519 keys (the `session.logon` session authorizes them).
    pub fn ws_api_key(&self) -> Option<Secret> {
        match self.signer.key_type() {
            KeyType::Hmac => Some(self.api_key.clone()),
            KeyType::Ed25519 => None,
        }
    }
}

impl fmt::Debug for VenueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VenueKey")
            .field("api_key", &self.api_key)
            .field("key_type", &self.signer.key_type())
            .finish()
    }
}

/// The shared, replaceable key of one venue account.
pub struct KeyRing {
    current: Mutex<Arc<VenueKey>>,
    generation: AtomicU64,
    changed: watch::Sender<u64>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &*self.current())
            .field("generation", &self.generation())
            .finish()
    }
}

impl KeyRing {
    /// A ring holding `key` (generation 0).
    pub fn new(key: VenueKey) -> Arc<Self> {
        Arc::new(Self {
            current: Mutex::new(Arc::new(key)),
            generation: AtomicU64::new(0),
            changed: watch::channel(0).0,
        })
    }

    /// The key now.
    pub fn current(&self) -> Arc<VenueKey> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// How many times the key was replaced (one atomic load).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replaces the key; every reader sees the new one from now on and the WebSocket API
    /// reconnects with it. Returns the new generation.
    pub fn replace(&self, key: VenueKey) -> u64 {
        let g = {
            let mut cur = self
                .current
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *cur = Arc::new(key);
            self.generation.fetch_add(1, Ordering::AcqRel) + 1
        };
        self.changed.send_replace(g);
        g
    }

    /// Changes of the generation (the WebSocket API's reconnect trigger).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_key_is_seen_by_every_reader_and_wakes_subscribers() {
        let ring = KeyRing::new(VenueKey::new(
            Secret::new("old-key"),
            Arc::new(ApiKeySigner::hmac(b"old")),
        ));
        let mut rx = ring.subscribe();
        assert_eq!(ring.generation(), 0);
        assert_eq!(ring.current().api_key.expose(), "old-key");
        assert!(ring.current().ws_api_key().is_some());
        let (pem, _) = super::super::sign::generate_ed25519().unwrap();
        let ed = ApiKeySigner::ed25519_from_pem(pem.expose()).unwrap();
        assert_eq!(
            ring.replace(VenueKey::new(Secret::new("new-key"), Arc::new(ed))),
            1
        );
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 1);
        assert_eq!(ring.current().api_key.expose(), "new-key");
        assert!(ring.current().ws_api_key().is_none());
        let shown = format!("{ring:?}");
        assert!(
            !shown.contains("new-key") && !shown.contains("old-key"),
            "{shown}"
        );
    }
}
