//! Binance spot: market-data normalizer, request signer, REST order client.

pub mod sign;
