//! A tap on the sink: every event the sink accepts is also handed, once it is in the durable
//! spool, to an [`EventTap`] (the NATS event publisher of `peregrine run`, `[bus] events`), so
//! services can react faster than a database poll. The database stays the source of truth:
//! a tap sees events in the sink's order with the sink's sequence, and a tap that cannot keep
//! up loses its own copy, never the database's.

use super::SinkEvent;

/// Receives each accepted event with its sink sequence. Called on the sink thread: it must
/// not block (hand the work to another thread).
pub trait EventTap: Send + Sync + std::fmt::Debug {
    /// One event, after it was spooled.
    fn event(&self, seq: u64, ev: &SinkEvent);
}

/// The kind token of the events a tap publishes (`order`, `fill`, `position`, `signal`,
/// `risk`), `None` for the sink's bookkeeping rows (latency, checkpoints, runs, equity,
/// reloads).
pub fn kind_token(ev: &SinkEvent) -> Option<&'static str> {
    match ev {
        SinkEvent::Order(_) => Some("order"),
        SinkEvent::Fill(_) => Some("fill"),
        SinkEvent::Position(_) => Some("position"),
        SinkEvent::Signal(_) => Some("signal"),
        SinkEvent::Risk(_) => Some("risk"),
        _ => None,
    }
}

/// The JSON of a published event: `{"seq": .., "kind": .., "data": <the row>}` (money as
/// decimal strings, as the rows serialize), `None` for kinds that are not published.
pub fn event_json(seq: u64, ev: &SinkEvent) -> Option<Vec<u8>> {
    let kind = kind_token(ev)?;
    let data = match ev {
        SinkEvent::Order(r) => serde_json::to_value(r),
        SinkEvent::Fill(r) => serde_json::to_value(r),
        SinkEvent::Position(r) => serde_json::to_value(r),
        SinkEvent::Signal(r) => serde_json::to_value(r),
        SinkEvent::Risk(r) => serde_json::to_value(r),
        _ => return None,
    }
    .ok()?;
    serde_json::to_vec(&serde_json::json!({ "seq": seq, "kind": kind, "data": data })).ok()
}
