//! `[bus]`: the NATS JetStream market-data bus that `peregrine feed` publishes to, and that
//! `peregrine run` takes its ticks from instead of venue sockets with `consume = true`.
//!
//! Nothing here is used unless a command asks for the bus: the embedded default needs no NATS.

use serde::Deserialize;

/// How a feed node encodes bus messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusEncoding {
    /// The compact binary encoding (version 1; `exchanges::bus::codec`).
    #[default]
    Binary,
    /// JSON, one object per message, for humans and tools without the binary decoder.
    Json,
}

/// Where JetStream keeps the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusStorage {
    /// On disk (survives a server restart).
    #[default]
    File,
    /// In memory.
    Memory,
}

/// The `[bus]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusSection {
    /// Server URL (`nats://host:port`; credentials in it are never logged).
    #[serde(default = "default_url")]
    pub url: String,
    /// Subject prefix: subjects are `<prefix>.md.<venue>.<symbol>.<kind>`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// The JetStream stream capturing `<prefix>.md.>` (created if missing).
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Retention: messages older than this are removed (seconds; 0 = no age limit).
    #[serde(default = "default_max_age_s")]
    pub max_age_s: u64,
    /// Retention: the stream's size limit in bytes (0 = no size limit); oldest go first.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Retention: messages kept per subject (0 = no limit).
    #[serde(default)]
    pub max_msgs_per_subject: u64,
    /// Where the stream is stored.
    #[serde(default)]
    pub storage: BusStorage,
    /// How messages are encoded.
    #[serde(default)]
    pub encoding: BusEncoding,
    /// Capacity of the feed node's tick queue (ticks beyond it are dropped and counted, and
    /// the books they belonged to marked stale, as in an engine).
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// `peregrine run` takes its market data from the bus (a feed node publishes it) instead
    /// of opening venue connections; orders still go to the venue. `false`: venue sockets.
    #[serde(default)]
    pub consume: bool,
    /// `peregrine run` also publishes its orders, fills, positions, signals and risk events
    /// on `<prefix>.ev.<user>.<kind>` (JSON; the database stays the source of truth).
    #[serde(default)]
    pub events: bool,
    /// `peregrine run` follows `<prefix>.sig.>` (signals from services such as the Python
    /// bridge) and hands each to the named strategy's `on_signal(s)`.
    #[serde(default)]
    pub signals: bool,
    /// The engine's durable JetStream consumer name: a restarted engine resumes after the
    /// last message it acknowledged. Empty: an ephemeral consumer from new messages on. Two
    /// engines must not share a name (they would split the messages between them).
    #[serde(default)]
    pub durable: String,
    /// How often a feed node publishes its heartbeat on `<prefix>.hb` (ms).
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// An engine that hears no heartbeat (and no message) for this long marks every book
    /// stale until resynced (ms).
    #[serde(default = "default_heartbeat_timeout_ms")]
    pub heartbeat_timeout_ms: u64,
    /// A book snapshot request unanswered for this long is sent again (ms).
    #[serde(default = "default_snapshot_timeout_ms")]
    pub snapshot_timeout_ms: u64,
    /// Book deltas an engine holds per instrument while it waits for a snapshot.
    #[serde(default = "default_max_buffered")]
    pub max_buffered: usize,
}

impl Default for BusSection {
    fn default() -> Self {
        Self {
            url: default_url(),
            prefix: default_prefix(),
            stream: default_stream(),
            max_age_s: default_max_age_s(),
            max_bytes: default_max_bytes(),
            max_msgs_per_subject: 0,
            storage: BusStorage::default(),
            encoding: BusEncoding::default(),
            queue_capacity: default_queue(),
            consume: false,
            events: false,
            signals: false,
            durable: String::new(),
            heartbeat_ms: default_heartbeat_ms(),
            heartbeat_timeout_ms: default_heartbeat_timeout_ms(),
            snapshot_timeout_ms: default_snapshot_timeout_ms(),
            max_buffered: default_max_buffered(),
        }
    }
}

fn default_url() -> String {
    "nats://127.0.0.1:4222".into()
}
fn default_prefix() -> String {
    "peregrine".into()
}
fn default_stream() -> String {
    "PEREGRINE_MD".into()
}
fn default_max_age_s() -> u64 {
    24 * 3600
}
fn default_max_bytes() -> u64 {
    1 << 30
}
fn default_queue() -> usize {
    65_536
}
fn default_heartbeat_ms() -> u64 {
    500
}
fn default_heartbeat_timeout_ms() -> u64 {
    2_000
}
fn default_snapshot_timeout_ms() -> u64 {
    1_000
}
fn default_max_buffered() -> usize {
    10_000
}

/// `(dotted field, message)` of the first unusable `[bus]` value.
pub(super) fn validate(b: &BusSection) -> Result<(), (String, String)> {
    let bad_token = |t: &str| {
        t.is_empty()
            || t.chars()
                .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace())
    };
    if b.prefix.split('.').any(bad_token) {
        return Err((
            "bus.prefix".into(),
            format!(
                "{:?}: tokens joined by '.', none empty or with '*', '>' or whitespace",
                b.prefix
            ),
        ));
    }
    // JetStream names end up in subjects and file names.
    if bad_token(&b.stream) || b.stream.contains(['/', '\\']) {
        return Err((
            "bus.stream".into(),
            format!(
                "{:?}: a stream name has no '.', '*', '>', '/', '\\' or whitespace",
                b.stream
            ),
        ));
    }
    if !b.durable.is_empty() && (bad_token(&b.durable) || b.durable.contains(['/', '\\'])) {
        return Err((
            "bus.durable".into(),
            format!(
                "{:?}: a consumer name has no '.', '*', '>', '/', '\\' or whitespace",
                b.durable
            ),
        ));
    }
    if b.heartbeat_ms == 0 || b.heartbeat_timeout_ms <= b.heartbeat_ms {
        return Err((
            "bus.heartbeat_timeout_ms".into(),
            "heartbeat_ms must be at least 1 and heartbeat_timeout_ms above it".into(),
        ));
    }
    if b.snapshot_timeout_ms == 0 || b.max_buffered == 0 {
        return Err((
            "bus.snapshot_timeout_ms".into(),
            "snapshot_timeout_ms and max_buffered must be at least 1".into(),
        ));
    }
    if b.queue_capacity == 0 {
        return Err(("bus.queue_capacity".into(), "must be at least 1".into()));
    }
    if b.max_bytes > i64::MAX as u64 || b.max_msgs_per_subject > i64::MAX as u64 {
        return Err(("bus.max_bytes".into(), "too large".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_names_are_refused() {
        validate(&BusSection::default()).unwrap();
        let with = |f: fn(&mut BusSection)| {
            let mut b = BusSection::default();
            f(&mut b);
            validate(&b).map_err(|(field, _)| field)
        };
        assert_eq!(with(|b| b.prefix = "a..b".into()), Err("bus.prefix".into()));
        assert_eq!(with(|b| b.prefix = "md>".into()), Err("bus.prefix".into()));
        assert_eq!(with(|b| b.stream = "A.B".into()), Err("bus.stream".into()));
        assert_eq!(with(|b| b.stream = "a/b".into()), Err("bus.stream".into()));
        assert_eq!(
            with(|b| b.queue_capacity = 0),
            Err("bus.queue_capacity".into())
        );
        assert_eq!(with(|b| b.prefix = "t1.feed".into()), Ok(()));
        assert_eq!(
            with(|b| b.durable = "a.b".into()),
            Err("bus.durable".into())
        );
        assert_eq!(with(|b| b.durable = "engine-a".into()), Ok(()));
        assert_eq!(
            with(|b| b.heartbeat_timeout_ms = 500),
            Err("bus.heartbeat_timeout_ms".into())
        );
    }
}
