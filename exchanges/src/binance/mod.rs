//! Binance spot: market-data normalizer, REST depth snapshots, feed protocol, request signers
//! (HMAC and Ed25519), REST client, WebSocket API client, order gateway and User Data Stream.
//!
//! - [`normalize`]: websocket frames and the REST depth snapshot to [`crate::md::Msg`]s on the
//!   shared `md` reader (allocation-free), like every other venue.
//! - [`depth`]: the REST depth snapshot a local book starts from (the book is sequenced by
//!   [`crate::book_sync`]).
//! - [`feed`]: [`feed::BinanceProtocol`] (normalize, sync books, REST snapshots) run by the
//!   shared connection manager [`crate::ws`].
//! - [`signer`]: [`signer::BinanceSigner`], the engine's [`peregrine_engine::gateway::OrderSigner`].
//! - [`rest`]: [`rest::BinanceRest`], the REST client.
//! - [`gateway`]: the order transport ([`gateway::run_gateway`]).
//! - [`user_stream`]: the User Data Stream event parser (`executionReport` -> exec reports).
//! - [`ws_api`]: the WebSocket API connection: order entry and the User Data Stream
//!   ([`ws_api::spawn_ws_api`]).
//! - [`sign`]: [`sign::ApiKeySigner`], the one signing abstraction (HMAC, Ed25519).
//! - [`keyring`]: [`keyring::KeyRing`], the account's API key, replaceable while running.
//! - [`ledger`]: the exactly-once guard for acks/rejects reported by two sources.
//! - [`venue_truth`]: the whole account's orders and trades at start, against the database.
//! - [`reconcile`]: the periodic / after-reconnect reconciliation that continues from it.

/// Moved to [`crate::ws::backoff`]; re-exported so existing paths keep working.
pub use crate::ws::backoff;
pub mod clock_skew;
pub mod depth;
pub mod errors;
pub mod feed;
pub mod gateway;
pub mod keyring;
pub mod ledger;
pub mod normalize;
pub mod reconcile;
pub mod rest;
pub mod sbe;
pub mod sign;
pub mod signer;
pub mod user_stream;
pub mod venue_truth;
pub mod ws_api;

#[cfg(test)]
mod net_tests;
#[cfg(test)]
mod risk_scenarios;
#[cfg(test)]
mod venue_truth_tests;

pub use feed::{
    run_feed, run_feed_with_stats, BinanceProtocol, FeedConfig, FeedStats, FeedStatsSnapshot,
};
pub use gateway::{run_gateway, GatewayConfig, GatewayStats};
pub use ledger::ExecLedger;
pub use normalize::Normalizer;
pub use rest::{BinanceRest, RestError};
pub use signer::BinanceSigner;
pub use ws_api::{spawn_ws_api, WsApi, WsApiConfig};
