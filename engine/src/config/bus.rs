//! `[bus]`: the NATS JetStream market-data bus that `peregrine feed` publishes to.
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
    }
}
