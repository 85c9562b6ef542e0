//! Peregrine's engine: core types, the single-writer core loop, the Rhai strategy host, the
//! risk gate, order and position tracking, sinks and latency recorders. It never imports a
//! venue: adapters plug in through [`gateway`] and by producing [`tick::Tick`]s.

pub mod account;
pub mod bars;
pub mod book;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod core;
pub mod events;
pub mod gateway;
pub mod indicators;
pub mod interchange;
pub mod latency;
pub mod order;
pub mod orders;
pub mod position;
pub mod risk;
pub mod run_id;
pub mod secret;
pub mod signal;
pub mod sink;
pub mod stages;
pub mod strategy;
pub mod tick;
pub mod tuning;
pub mod types;
pub mod warn_limit;
