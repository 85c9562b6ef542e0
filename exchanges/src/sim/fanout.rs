//! Broadcast fan-out of serialized frames to websocket connections.
//!
//! Each event is serialized once; every connection gets a cheap reference-counted clone
//! (`Utf8Bytes` is backed by `Bytes`), so fan-out copies no text. Streams that cost work to
//! build (aggregate trades, tickers, klines, partial depth, average price) are published only
//! while some connection subscribes to them ([`Fanout::wants`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

/// Capacity of the broadcast channels. A connection that falls this far behind is closed
/// (never silently skipped), so a client always notices lost data.
pub const CHANNEL_CAPACITY: usize = 1 << 16;

/// One market-data event, pre-serialized for raw and combined streams.
#[derive(Clone, Debug)]
pub struct MdFrame {
    /// Stream name, e.g. `btcusdt@trade`.
    pub stream: Arc<str>,
    /// The event as sent on a raw `/ws/<stream>` connection.
    pub raw: Utf8Bytes,
    /// The event wrapped as `{"stream":..,"data":..}` for combined streams.
    pub combined: Utf8Bytes,
}

/// Senders for market data and user-data events, and the streams connections subscribe to.
#[derive(Clone, Debug)]
pub struct Fanout {
    md: broadcast::Sender<MdFrame>,
    user: broadcast::Sender<Utf8Bytes>,
    interest: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for Fanout {
    fn default() -> Self {
        Self::new()
    }
}

impl Fanout {
    /// New channels with [`CHANNEL_CAPACITY`].
    pub fn new() -> Self {
        let (md, _) = broadcast::channel(CHANNEL_CAPACITY);
        let (user, _) = broadcast::channel(CHANNEL_CAPACITY);
        Fanout {
            md,
            user,
            interest: Arc::default(),
        }
    }

    fn interest(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.interest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one more subscriber of market stream `name`.
    pub fn add_interest(&self, name: &str) {
        *self.interest().entry(name.to_string()).or_default() += 1;
    }

    /// Counts one subscriber of `name` less.
    pub fn remove_interest(&self, name: &str) {
        let mut m = self.interest();
        if let Some(n) = m.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                m.remove(name);
            }
        }
    }

    /// Whether any connection subscribes to market stream `name`.
    pub fn wants(&self, name: &str) -> bool {
        self.md.receiver_count() > 0 && self.interest().contains_key(name)
    }

    /// Publishes a market-data event (`data` is the serialized JSON of the event).
    pub fn market(&self, stream: String, data: String) {
        if self.md.receiver_count() == 0 {
            return;
        }
        let combined = format!(
            "{{\"stream\":{},\"data\":{}}}",
            serde_json::Value::String(stream.clone()),
            data
        );
        let frame = MdFrame {
            stream: stream.into(),
            raw: data.into(),
            combined: combined.into(),
        };
        // An error only means nobody is subscribed, which is fine for market data.
        let _ = self.md.send(frame);
    }

    /// Publishes a user-data event; undelivered if no user stream is connected (as on Binance).
    pub fn user(&self, data: String) {
        let _ = self.user.send(data.into());
    }

    /// A receiver for market data.
    pub fn subscribe_market(&self) -> broadcast::Receiver<MdFrame> {
        self.md.subscribe()
    }

    /// A receiver for user-data events.
    pub fn subscribe_user(&self) -> broadcast::Receiver<Utf8Bytes> {
        self.user.subscribe()
    }
}
