//! State shared by the HTTP handlers, websocket connections and the market task.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use super::auth::ApiKeys;
use super::config::SimConfig;
use super::error::SimError;
use super::exchange::Exchange;
use super::fanout::Fanout;
use super::fault::Faults;
use super::limits::RateLimits;
use super::user_stream::ListenKeys;
use super::wire_latency::WireLatency;
use super::ws_api::faults::WsApiFaults;

/// Everything a connection or task needs, behind one `Arc`.
#[derive(Debug)]
pub struct Shared {
    /// The exchange (never held across an `.await`).
    exchange: Mutex<Exchange>,
    /// Event fan-out.
    pub fanout: Fanout,
    /// The account's API keys (signature checks).
    pub keys: ApiKeys,
    /// Serve the retired listenKey endpoints ([`SimConfig::legacy_listen_key`]).
    pub legacy_listen_key: bool,
    /// Weight and order counters.
    pub limits: RateLimits,
    /// User-data-stream listen keys.
    pub listen_keys: ListenKeys,
    /// When set, the synthetic market stands still (depth streams keep flushing).
    pub paused: AtomicBool,
    /// Market step interval.
    pub md_interval: Duration,
    /// Server websocket ping interval.
    pub ping_interval: Duration,
    /// Close a websocket with no pong for this long.
    pub pong_timeout: Duration,
    /// Flips to `true` when the simulator shuts down.
    pub shutdown: watch::Sender<bool>,
    /// Fault injection into the market-data websockets.
    pub faults: Faults,
    /// Frame-written and order-read stamps: wire-to-wire tick-to-trade.
    pub wire: WireLatency,
    /// Fault injection into the WebSocket API connections.
    pub ws_api_faults: WsApiFaults,
}

impl Shared {
    /// Builds the shared state from `cfg`.
    pub fn new(cfg: &SimConfig) -> Result<Self, SimError> {
        if cfg.md_interval_ms == 0 || cfg.ws_ping_interval_ms == 0 {
            return Err(SimError::Config(
                "md_interval_ms and ws_ping_interval_ms must be > 0".into(),
            ));
        }
        let fanout = Fanout::new();
        let exchange = Exchange::new(cfg, fanout.clone())?;
        Ok(Shared {
            exchange: Mutex::new(exchange),
            fanout,
            keys: ApiKeys::new(cfg)?,
            legacy_listen_key: cfg.legacy_listen_key,
            limits: RateLimits::default(),
            listen_keys: ListenKeys::new(cfg.seed),
            paused: AtomicBool::new(false),
            md_interval: Duration::from_millis(cfg.md_interval_ms),
            ping_interval: Duration::from_millis(cfg.ws_ping_interval_ms),
            pong_timeout: Duration::from_millis(
                cfg.ws_pong_timeout_ms.max(cfg.ws_ping_interval_ms),
            ),
            shutdown: watch::channel(false).0,
            faults: Faults::default(),
            wire: WireLatency::new(cfg.symbols.iter().map(|s| s.symbol.as_str())),
            ws_api_faults: WsApiFaults::default(),
        })
    }

    /// Locks the exchange. A poisoned lock is recovered: every mutation leaves the state
    /// consistent before anything that could panic.
    pub fn exchange(&self) -> MutexGuard<'_, Exchange> {
        self.exchange.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the synthetic market is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
}
