//! Venue adapters and the built-in exchange simulator.
//!
//! - [`binance`]: Binance spot market data normalizer, request signer and REST order client.
//! - [`sim`]: a local exchange speaking Binance spot's wire protocol, with a matching engine.
//! - [`ws`]: the shared websocket connection manager every venue's market data runs on.

pub mod binance;
pub mod book_sync;
pub mod bus;
pub mod bybit;
pub mod coinbase;
pub mod kraken;
pub mod md;
pub mod okx;
pub mod protocols;
pub mod sim;
pub mod venue;
pub mod ws;
