//! The persistence sink: a dedicated thread that batches [`SinkEvent`]s into the database.
//!
//! The core loop hands rows to a [`SinkSender`] (an unbounded channel: `send` never blocks
//! the hot path). The sink thread, with its own current-thread tokio runtime, collects them
//! and writes a batch when `batch_size` events are pending or the oldest pending one is
//! `batch_age` old: one transaction per batch, multi-row `INSERT`s, idempotent (fills and
//! risk events are inserted once on their natural keys; orders and positions are upserted
//! to their latest state). A failed write keeps the batch in memory and is retried with
//! backoff, in order; a disk spool that survives a crash comes in a later issue.
//!
//! The backend here is SQLite (`sqlite://data/peregrine.db` or `sqlite::memory:`); money
//! is stored as exact decimal TEXT. The Supabase Postgres schema of the same shape lives in
//! `supabase/migrations/`; its sink is a later issue.
//!
//! ```no_run
//! # fn main() -> Result<(), peregrine_engine::sink::SinkError> {
//! use peregrine_engine::sink::{spawn_sink, SinkConfig};
//! let (tx, join) = spawn_sink(SinkConfig::new("sqlite://data/peregrine.db"))?;
//! // ... tx.send(event)? from the core loop ...
//! drop(tx);
//! let stats = join.join()?;
//! # let _ = stats; Ok(()) }
//! ```

mod batch;
mod error;
mod sqlite;
mod worker;

#[cfg(test)]
mod tests;

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use sqlx::SqlitePool;

use crate::events::SinkEvent;

pub use error::{redact_url, SinkError};

/// Where and how the sink writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkConfig {
    /// Database URL: `sqlite://data/peregrine.db` (file, created with its directory if
    /// missing) or `sqlite::memory:` (gone when the sink stops).
    pub url: String,
    /// Flush once this many events are pending (500 by default). Must be at least 1.
    pub batch_size: usize,
    /// Flush once the oldest pending event is this old (50 ms by default).
    pub batch_age: Duration,
}

impl SinkConfig {
    /// Default batch size (events).
    pub const DEFAULT_BATCH_SIZE: usize = 500;
    /// Default batch age.
    pub const DEFAULT_BATCH_AGE: Duration = Duration::from_millis(50);

    /// A config for `url` with the default batch size and age.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            batch_size: Self::DEFAULT_BATCH_SIZE,
            batch_age: Self::DEFAULT_BATCH_AGE,
        }
    }
}

impl Default for SinkConfig {
    /// The embedded default database, `sqlite://data/peregrine.db`, with default batching.
    fn default() -> Self {
        Self::new("sqlite://data/peregrine.db")
    }
}

/// The sending end of the sink, for the core loop. Cheap to clone; the sink stops (after
/// draining) once every clone is dropped.
#[derive(Clone, Debug)]
pub struct SinkSender(Sender<SinkEvent>);

impl SinkSender {
    /// Queues `ev` for persistence. Never blocks (the channel is unbounded) and never loses
    /// an event while the sink thread lives. Returns [`SinkError::Closed`], with the event,
    /// if the sink thread is gone (it failed or panicked).
    pub fn send(&self, ev: SinkEvent) -> Result<(), SinkError> {
        self.0
            .send(ev)
            .map_err(|e| SinkError::Closed(Box::new(e.into_inner())))
    }

    /// Number of events queued in the channel and not yet taken by the sink thread.
    pub fn queued(&self) -> usize {
        self.0.len()
    }
}

/// Handle on the sink thread, to wait for it to finish.
#[derive(Debug)]
pub struct SinkJoin {
    handle: JoinHandle<Result<SinkStats, SinkError>>,
    /// Redacted URL, for the panic error.
    url: String,
}

impl SinkJoin {
    /// Waits for the sink thread. Call it after dropping every [`SinkSender`] (otherwise it
    /// waits for that): the thread then writes everything still queued, flushes and closes
    /// the database. Returns what was written, or [`SinkError::Write`] if the database
    /// stayed unwritable through the shutdown retries, or [`SinkError::Panicked`].
    pub fn join(self) -> Result<SinkStats, SinkError> {
        match self.handle.join() {
            Ok(result) => result,
            Err(_) => Err(SinkError::Panicked { url: self.url }),
        }
    }

    /// True once the sink thread has ended (all senders dropped and drained, or failed).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// What the sink wrote, counted in rows the database reports as written.
///
/// A duplicate fill or risk event ignored by `ON CONFLICT DO NOTHING` is not counted;
/// several updates of one order (or position) coalesced within a batch count once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Order rows inserted or updated.
    pub orders: u64,
    /// Fill rows inserted.
    pub fills: u64,
    /// Position rows inserted or updated.
    pub positions: u64,
    /// Risk event rows inserted.
    pub risk_events: u64,
    /// Signal rows inserted.
    pub signals: u64,
    /// Latency window rows inserted.
    pub latency_stats: u64,
    /// Batches committed.
    pub batches: u64,
    /// Failed batch writes that were retried.
    pub retries: u64,
}

/// Starts the sink: opens or creates the database at `cfg.url` (parent directory and file
/// created if missing, WAL journal), applies the migrations, then serves events on a
/// dedicated thread (`peregrine-sink`) with its own current-thread tokio runtime.
///
/// The database is opened and migrated before this returns, so a bad URL, an unwritable
/// path or a broken schema fail here, at start. Safe to call from inside or outside a tokio
/// runtime (it blocks the caller until the database is ready).
pub fn spawn_sink(cfg: SinkConfig) -> Result<(SinkSender, SinkJoin), SinkError> {
    let url = redact_url(&cfg.url);
    if cfg.batch_size == 0 {
        return Err(SinkError::Config {
            url,
            reason: "batch_size must be at least 1".into(),
        });
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let handle = std::thread::Builder::new()
        .name("peregrine-sink".into())
        .spawn(move || worker::run(cfg, rx, ready_tx))
        .map_err(|source| SinkError::Start {
            url: url.clone(),
            source,
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((SinkSender(tx), SinkJoin { handle, url })),
        Ok(Err(e)) => {
            // The thread returns right after reporting; reap it.
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(SinkError::Panicked { url })
        }
    }
}

/// Opens the SQLite database at `url` (creating it and applying the migrations if needed)
/// as a small pool, for tests and the CLI summary to read what the sink wrote. Note that
/// `sqlite::memory:` here is a new, empty database, not the sink's.
pub async fn sqlite_pool(url: &str) -> Result<SqlitePool, SinkError> {
    sqlite::open(url, 4).await
}
