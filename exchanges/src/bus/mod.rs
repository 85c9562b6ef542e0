//! The market-data bus: normalized events on NATS JetStream, so one feed node holds the venue
//! connections and any number of engines and services read the same ticks.
//!
//! - [`subject`]: `<prefix>.md.<venue>.<symbol>.<kind>` (prefix `peregrine`), and the book
//!   snapshot request subject `<prefix>.snap.<venue>.<symbol>`.
//! - [`codec`]: the compact binary encoding (versioned, documented there) and JSON for humans.
//! - [`assemble`]: the feed side's `Tick`s (one per book level) to bus events (one per venue
//!   message), with the per-subject sequences consumers use to detect gaps.
//! - [`publish`]: the JetStream stream (created if missing) and the publisher with its book
//!   snapshot responder (request/reply), used by `peregrine feed`.
//! - [`sequencer`] and [`consume`]: the engine's side (`[bus] consume = true`): gaps, stale
//!   books and snapshot resyncs, ticks into the core's queue as from a direct feed.

pub mod assemble;
pub mod codec;
pub mod consume;
pub mod publish;
pub mod sequencer;
pub mod subject;

pub use codec::{BookLevels, BusEvent, CodecError, Kind, Payload};
pub use subject::Subjects;
