//! The `peregrine` application: wiring of the engine, a venue adapter, the simulator and the
//! sink into one run. The command line lives in `main.rs`; integration tests drive
//! [`app::run_engine`] directly.

pub mod app;
pub mod backtest;
pub mod bus_source;
pub mod download;
pub mod events_out;
pub mod feed;
pub mod import;
pub mod kill;
pub mod metrics;
pub mod normalize_cli;
pub mod run_record;
pub mod summary;
pub mod topology;
pub mod venue_guard;
pub mod venue_keys;
pub mod venues;
