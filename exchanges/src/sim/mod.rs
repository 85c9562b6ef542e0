//! `sim`: the built-in exchange simulator.
//!
//! A local server on one port speaking Binance spot's wire protocol as Binance serves it
//! today: every documented market-data stream (`@trade`, `@aggTrade`, `@bookTicker`, diff and
//! partial depth, tickers, klines, `@avgPrice`; raw, combined and SUBSCRIBE), the public REST
//! market data (depth, trades, aggregate trades, klines, tickers, average price, all built from
//! the simulator's own trades), the signed REST order API (HMAC-SHA256 or Ed25519 keys,
//! `quoteOrderQty`, `order/test`, Binance's error codes; unknown paths answer Binance's JSON
//! error), and the WebSocket API at `/ws-api/v3` (session logon, order entry and queries, User
//! Data Stream subscriptions with events on the same connection). The retired listenKey
//! endpoints answer HTTP 410 as on Binance since 2026-02-20, unless
//! [`SimConfig::legacy_listen_key`] keeps the old listenKey stream. Behind it, a seeded
//! synthetic market and a price-time-priority matching engine in which our orders really
//! match, partially fill and rest; REST and WebSocket API share it, the ledger
//! ([`SimHandle::ledger`]) and the request-weight budget.
//!
//! ```no_run
//! # async fn demo() -> Result<(), peregrine_exchanges::sim::SimError> {
//! use peregrine_exchanges::sim::{spawn, SimConfig};
//! let sim = spawn(SimConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("REST {} / WS {} / WS API {}", sim.rest_base_url(), sim.ws_base_url(), sim.ws_api_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Modules: [`config`] (settings), [`matching`] (pure order book), `market` (synthetic flow),
//! [`market_model`] (its price and activity process: volatility, drift, jumps, regimes, intraday
//! seasonality),
//! `exchange` (accounts, orders, event emission), `quote_qty` (`quoteOrderQty` at entry),
//! `history` (trade ring, aggregate trades, bars), `klines` (intervals, bars),
//! `market_data` (public REST endpoints), `periodic` (timed streams), `rest` (HTTP handlers),
//! `auth` (API keys, HMAC and Ed25519 signature and timestamp checks), `ws` (market streams),
//! `ws_api` (the WebSocket API), `user_stream` (the 410 for listen keys, legacy listen keys),
//! `ledger`, `limits` (usage counters, shared by REST and WebSocket API), `fanout`
//! (broadcast), `wire` (formatting), `wire_latency` (frame-written / order-read stamps:
//! tick-to-trade, [`SimHandle::wire_latency`], `GET /sim/latency`), [`fault`] (fault injection into the market-data
//! websockets, [`SimHandle::inject`]).

mod auth;
mod cancel_replace;
pub mod config;
mod error;
mod exchange;
mod fanout;
pub mod fault;
pub mod fees;
mod history;
mod klines;
mod ledger;
mod limits;
mod market;
mod market_data;
pub mod market_model;
pub mod matching;
mod periodic;
mod quote_qty;
mod rest;
mod state;
pub mod tape;
mod user_stream;
mod wire;
mod wire_latency;
mod ws;
mod ws_api;

#[cfg(test)]
pub(crate) mod test_keys;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_public;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rust_decimal::Decimal;
use tokio::task::JoinHandle;

pub use config::{SimConfig, SimEd25519Key, SimSymbol};
pub use error::{ApiError, SimError};
pub use fault::Fault;
pub use ledger::LedgerFill;
pub use market_model::MarketParams;
pub use wire_latency::WireLatencyReport;
pub use ws_api::faults::OrderDrop;

use state::Shared;

/// A running simulator. Dropping it stops it too (without waiting); prefer
/// [`SimHandle::shutdown`], which waits for the server to finish.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    market: JoinHandle<()>,
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        self.market.abort();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A book snapshot: `(last update id, bids best first, asks best first)` of `(price, qty)`.
pub type BookSnapshot = (u64, Vec<matching::PriceLevel>, Vec<matching::PriceLevel>);

/// Starts a simulator listening on `bind` (use `127.0.0.1:0` for an ephemeral port).
/// Must be called inside a tokio runtime. The book is seeded before this returns.
pub async fn spawn(cfg: SimConfig, bind: SocketAddr) -> Result<SimHandle, SimError> {
    let shared = Arc::new(Shared::new(&cfg)?);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| SimError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr: bind, source })?;
    {
        // Seed the book so the first snapshot is two-sided.
        let mut ex = shared.exchange();
        for _ in 0..5 {
            ex.market_step(wire::now_ms());
        }
    }
    let market = tokio::spawn(market::run(shared.clone()));
    let app = rest::router(shared.clone());
    let mut stop = shared.shutdown.subscribe();
    // TCP_NODELAY on every accepted socket, as a venue's gateway has it: back-to-back frames
    // and responses go out at once instead of waiting for the peer's (delayed) ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "simulator: cannot set TCP_NODELAY");
        }
    });
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.changed().await;
            })
            .await
    });
    tracing::info!(%addr, "exchange simulator listening");
    Ok(SimHandle {
        addr,
        shared,
        server: Some(server),
        market,
    })
}

/// Runs a simulator until `shutdown` completes (e.g. `tokio::signal::ctrl_c()` mapped to
/// `()`), then stops it. For the CLI (`peregrine sim --port N`): call it from
/// `#[tokio::main]` or `Runtime::block_on`. Returns early with an error if the server fails.
pub async fn run_until(
    cfg: SimConfig,
    bind: SocketAddr,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SimError> {
    let mut handle = spawn(cfg, bind).await?;
    let Some(mut server) = handle.server.take() else {
        return Ok(());
    };
    tokio::select! {
        _ = shutdown => {
            handle.shared.shutdown.send_replace(true);
            handle.market.abort();
            wait_for_server(server).await;
            Ok(())
        }
        res = &mut server => {
            drop(handle);
            match res {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(SimError::Serve(e)),
                Err(e) => Err(SimError::Serve(std::io::Error::other(e))),
            }
        }
    }
}

/// Waits up to 5 s for the (already signalled) server task, then aborts it.
async fn wait_for_server(mut server: JoinHandle<std::io::Result<()>>) {
    let wait = tokio::time::timeout(std::time::Duration::from_secs(5), &mut server).await;
    if wait.is_err() {
        tracing::warn!("simulator server did not stop within 5 s; aborting it");
        server.abort();
    }
}

impl SimHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Websocket base URL, `ws://127.0.0.1:PORT` (append `/ws/<stream>`, `/stream?streams=`).
    pub fn ws_base_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// WebSocket API URL, `ws://127.0.0.1:PORT/ws-api/v3`.
    pub fn ws_api_url(&self) -> String {
        format!("ws://{}/ws-api/v3", self.addr)
    }

    /// REST base URL, `http://127.0.0.1:PORT` (append `/api/v3/...`).
    pub fn rest_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Revokes one of the account's API keys: every later request with it is refused
    /// (-2015), also on a WebSocket API session logged on with it.
    pub fn revoke_api_key(&self, api_key: &str) {
        self.shared.keys.revoke(api_key);
    }

    /// Every fill of our account's orders so far, in match order.
    pub fn ledger(&self) -> Vec<LedgerFill> {
        self.shared.exchange().ledger()
    }

    /// Our balances as `(asset, free, locked)`, sorted by asset.
    pub fn balances(&self) -> Vec<(String, Decimal, Decimal)> {
        self.shared
            .exchange()
            .balances()
            .iter()
            .map(|(a, b)| (a.clone(), b.free, b.locked))
            .collect()
    }

    /// The current book of `symbol` (up to `limit` levels per side) with its update id, as the
    /// depth streams describe it. `None` for an unknown symbol.
    pub fn book(&self, symbol: &str, limit: usize) -> Option<BookSnapshot> {
        self.shared.exchange().depth(symbol, limit)
    }

    /// Stops the synthetic market (no walk, makers or takers); streams keep flowing and our
    /// orders still match against the book. For deterministic tests and fault scenarios.
    pub fn pause_market(&self) {
        self.shared.paused.store(true, Ordering::Relaxed);
    }

    /// Restarts the synthetic market after [`SimHandle::pause_market`].
    pub fn resume_market(&self) {
        self.shared.paused.store(false, Ordering::Relaxed);
    }

    /// Injects `fault` into every market-data websocket open now (see [`Fault`]); returns how
    /// many connections got it. Connections opened later are not affected.
    pub fn inject(&self, fault: Fault) -> usize {
        self.shared.faults.inject(fault)
    }

    /// Wire-to-wire tick-to-trade so far, on the simulator's monotonic clock: each order read
    /// against the latest market frame of its symbol written before it (`GET /sim/latency`
    /// serves the same).
    pub fn wire_latency(&self) -> WireLatencyReport {
        self.shared.wire.report()
    }

    /// Market-data websocket connections open now.
    pub fn md_connections(&self) -> usize {
        self.shared.faults.connections()
    }

    /// Makes the next `order.place` requests on the WebSocket API (any connection, one per
    /// entry) drop their connection without a response: after placing the order
    /// ([`OrderDrop::AfterPlacing`]: it is at the venue, the client does not know) or before
    /// ([`OrderDrop::BeforePlacing`]: it never reached the venue).
    pub fn drop_ws_api_on_orders(&self, drops: &[OrderDrop]) {
        self.shared.ws_api_faults.arm(drops);
    }

    /// The connections dropped by [`SimHandle::drop_ws_api_on_orders`] so far, each with the
    /// client order id of its `order.place`.
    pub fn ws_api_drops(&self) -> Vec<(OrderDrop, String)> {
        self.shared.ws_api_faults.dropped()
    }

    /// Refuses new WebSocket API connections (HTTP 503 on the upgrade) for `d` from now;
    /// open connections are not affected.
    pub fn refuse_ws_api_for(&self, d: std::time::Duration) {
        self.shared.ws_api_faults.refuse_for(d);
    }

    /// Makes the next `count` REST requests fail with HTTP `status` (429 or 418), Binance code
    /// -1003 and a `Retry-After: retry_after_s` header.
    pub fn inject_rate_limit(&self, status: u16, retry_after_s: u64, count: usize) {
        self.shared.limits.inject(status, retry_after_s, count);
    }

    /// Sets the server clock offset: `/api/v3/time` and the `timestamp`/`recvWindow` check of
    /// signed requests use real time plus `ms`.
    pub fn set_clock_offset_ms(&self, ms: i64) {
        self.shared.limits.set_clock_offset_ms(ms);
    }

    /// Our open orders as `(symbol, client order id)`, oldest first (the venue's view).
    pub fn open_orders(&self) -> Vec<(String, String)> {
        self.shared
            .exchange()
            .open_orders(None)
            .into_iter()
            .map(|o| (o.symbol, o.client_order_id))
            .collect()
    }

    /// Stops the server, closes every websocket and waits (up to 5 s) for the server to end.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        self.market.abort();
        if let Some(server) = self.server.take() {
            wait_for_server(server).await;
        }
    }
}
