//! The persistence sink: a dedicated thread that batches [`SinkEvent`]s into the database.
//!
//! The core loop hands rows to a [`SinkSender`] (an unbounded channel: `send` never blocks
//! the hot path). The sink thread, with its own current-thread tokio runtime, collects them
//! and writes a batch when `batch_size` events are pending or the oldest pending one is
//! `batch_age` old: one transaction per batch, multi-row `INSERT`s, idempotent (fills and
//! risk events are inserted once on their natural keys; orders and positions are upserted
//! to their latest state, guarded by the event sequence). A failed write keeps the batch and
//! is retried with backoff, in order. With a [`SpoolConfig`], every event is first appended
//! to a durable, checksummed local spool and removed only after the database committed it,
//! so a database outage, a crash or `kill -9` loses nothing (see [`spool`]).
//!
//! Backends: SQLite (`sqlite://data/peregrine.db` or `sqlite::memory:`; money as exact
//! decimal TEXT) and PostgreSQL/Supabase (`postgres://…`; `numeric`, row-level security,
//! schema in `supabase/migrations/`, applied by `peregrine migrate`; see [`pg`]).
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
mod held_rows;
pub mod pg;
mod pg_follow;
pub mod pg_migrate;
pub mod remote_kill;
pub mod spool;
mod sqlite;
pub mod start_state;
pub mod strategy_rows;
pub mod tap;
pub mod vault_keys;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use sqlx::SqlitePool;

use crate::events::SinkEvent;
use crate::risk::KillSwitch;

pub use error::{redact_url, SinkError};
pub use spool::{FsyncPolicy, SpoolConfig};
pub use start_state::{StartQuery, StartState};

/// Where and how the sink writes.
#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// Database URL: `sqlite://data/peregrine.db` (file, created with its directory if
    /// missing), `sqlite::memory:` (gone when the sink stops), or `postgres://…`
    /// (Supabase; TLS verified unless loopback, see [`pg::connect_options`]).
    pub url: String,
    /// Flush once this many events are pending (500 by default). Must be at least 1.
    pub batch_size: usize,
    /// Flush once the oldest pending event is this old (50 ms by default).
    pub batch_age: Duration,
    /// Owner of every row (`auth.users.id`); required for PostgreSQL, unused by SQLite.
    pub user_id: Option<String>,
    /// The durable spool; `None` keeps pending events in memory only (tests).
    pub spool: Option<SpoolConfig>,
    /// When set, the sink engages this kill switch while database writes fail, and
    /// releases it once a write succeeds again (`halt_on_db_down`).
    pub halt_on_db_down: Option<KillSwitch>,
    /// The `[venue] account` label the venue trade-history checkpoints are kept under.
    pub account: String,
    /// When set, [`spawn_sink_with_start`] writes what the spool recovered, then reads this
    /// venue's start state before returning.
    pub start_query: Option<StartQuery>,
    /// Receives every accepted event once spooled (`[bus] events`: published on NATS).
    pub tap: Option<std::sync::Arc<dyn tap::EventTap>>,
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
            user_id: None,
            spool: None,
            halt_on_db_down: None,
            account: "default".into(),
            start_query: None,
            tap: None,
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

/// Live state of the sink, shared with the rest of the engine (metrics, health checks).
#[derive(Debug, Default)]
pub struct SinkGauges {
    /// Events received and not yet committed to the database.
    pub pending_events: AtomicU64,
    /// Bytes held in spool segments.
    pub spool_bytes: AtomicU64,
    /// True while database writes are failing.
    pub db_down: AtomicBool,
    /// Spool ranges quarantined at start (failed checksum).
    pub quarantined: AtomicU64,
}

impl SinkGauges {
    /// Events received and not yet committed to the database.
    pub fn pending_events(&self) -> u64 {
        self.pending_events.load(Ordering::Relaxed)
    }
    /// Bytes held in spool segments.
    pub fn spool_bytes(&self) -> u64 {
        self.spool_bytes.load(Ordering::Relaxed)
    }
    /// True while database writes are failing.
    pub fn db_down(&self) -> bool {
        self.db_down.load(Ordering::Relaxed)
    }
}

/// Handle on the sink thread, to wait for it to finish.
#[derive(Debug)]
pub struct SinkJoin {
    handle: JoinHandle<Result<SinkStats, SinkError>>,
    gauges: Arc<SinkGauges>,
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

    /// The sink's live gauges (pending events, spool bytes, database down).
    pub fn gauges(&self) -> Arc<SinkGauges> {
        self.gauges.clone()
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
    /// Equity snapshot rows inserted.
    pub equity_snapshots: u64,
    /// Strategy reload outcomes inserted.
    pub strategy_reloads: u64,
    /// Batches committed.
    pub batches: u64,
    /// Failed batch writes that were retried.
    pub retries: u64,
    /// Events a previous run left in the spool, replayed at start.
    pub recovered: u64,
    /// Spool ranges quarantined at start (failed checksum).
    pub quarantined: u64,
    /// Events still unwritten at shutdown (left in the spool for the next start).
    pub spooled_left: u64,
    /// Spool append/sync/commit failures (logged; events kept in memory).
    pub spool_errors: u64,
}

/// Starts the sink: opens or creates the database at `cfg.url` (SQLite: parent directory
/// and file created if missing, WAL journal, migrations applied; PostgreSQL: connected
/// lazily, schema applied beforehand by `peregrine migrate`), opens the spool (replaying
/// what a previous run left), then serves events on a dedicated thread (`peregrine-sink`)
/// with its own current-thread tokio runtime.
///
/// A bad URL, an unwritable path, a broken SQLite schema or an unusable spool directory
/// fail here, at start; an unreachable PostgreSQL does not (events are spooled). Safe to call from inside or outside a tokio
/// runtime (it blocks the caller until the database is ready).
pub fn spawn_sink(cfg: SinkConfig) -> Result<(SinkSender, SinkJoin), SinkError> {
    spawn_inner(cfg).map(|(tx, join, _)| (tx, join))
}

/// [`spawn_sink`], and then, before any new event is taken: writes every event the spool
/// recovered and reads the start state of `cfg.start_query` (an empty state without one).
/// Fails if the database cannot be written and read within 30 s: the engine must not
/// reconcile against a database that is missing what it already holds.
pub fn spawn_sink_with_start(
    cfg: SinkConfig,
) -> Result<(SinkSender, SinkJoin, StartState), SinkError> {
    spawn_inner(cfg).map(|(tx, join, st)| (tx, join, st.unwrap_or_default()))
}

fn spawn_inner(cfg: SinkConfig) -> Result<(SinkSender, SinkJoin, Option<StartState>), SinkError> {
    let url = redact_url(&cfg.url);
    if cfg.batch_size == 0 {
        return Err(SinkError::Config {
            url,
            reason: "batch_size must be at least 1".into(),
        });
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let gauges = Arc::new(SinkGauges::default());
    let thread_gauges = gauges.clone();
    let handle = std::thread::Builder::new()
        .name("peregrine-sink".into())
        .spawn(move || worker::run(cfg, rx, thread_gauges, ready_tx))
        .map_err(|source| SinkError::Start {
            url: url.clone(),
            source,
        })?;
    match ready_rx.recv() {
        Ok(Ok(start)) => Ok((
            SinkSender(tx),
            SinkJoin {
                handle,
                gauges,
                url,
            },
            start,
        )),
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
