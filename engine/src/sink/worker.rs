//! The sink thread: receive, spool, batch by size or age, write, retry, commit the spool.
//!
//! Every received event is first appended to the spool (when one is configured) and gets
//! its event sequence number; after each burst of appends the spool is synced per its
//! fsync policy. Pending events also sit in a FIFO queue in memory. A batch is the first
//! `batch_size` of them; it is flushed when that many are pending or the oldest is
//! `batch_age` old. A batch leaves the queue (and the spool) only after its transaction
//! committed, so a failed write is retried (with backoff) with exactly the same events, and
//! later events queue behind it: nothing is dropped or reordered.
//!
//! While the database is unreachable the engine keeps going: the queue and the spool grow,
//! a warning is logged (first failure, then every 10 s) and [`SinkGauges`] show it; with
//! `halt_on_db_down` the kill switch is engaged until a write succeeds again. At shutdown
//! the retries are bounded; what is still unwritten then stays in the spool and the next
//! start writes it first. Without a spool (tests, `sqlite::memory:`) it would be lost,
//! which [`SinkError::Write`] reports.
//!
//! Limitation: the in-memory queue holds every pending event (the spool is only re-read
//! at start), so memory grows with an outage like the spool does.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use sqlx::{PgPool, SqlitePool};

use super::batch::Batch;
use super::error::{redact_url, SinkError};
use super::spool::Spool;
use super::sqlite::Written;
use super::start_state::{self, StartQuery, StartState};
use super::{pg, sqlite};
use super::{SinkConfig, SinkGauges, SinkStats};
use crate::events::SinkEvent;

/// The kill-switch reason of a `halt_on_db_down` trip.
const HALT_REASON: &str = "halt_on_db_down: database unreachable";

/// First retry delay after a failed write.
const BACKOFF_START: Duration = Duration::from_millis(50);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Failed write attempts made after all senders are gone, before the sink gives up (a few
/// seconds of backoff in total).
const SHUTDOWN_ATTEMPTS: u32 = 6;
/// How long the start may wait for the database (spool written, state read).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the "database down" warning repeats.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Where batches go.
enum Backend {
    Sqlite {
        pool: SqlitePool,
        account: String,
    },
    Pg {
        pool: PgPool,
        user_id: String,
        account: String,
    },
}

impl Backend {
    async fn write(&self, batch: &Batch<'_>) -> Result<Written, sqlx::Error> {
        match self {
            Backend::Sqlite { pool, account } => sqlite::write_batch(pool, account, batch).await,
            Backend::Pg {
                pool,
                user_id,
                account,
            } => pg::write_batch(pool, user_id, account, batch).await,
        }
    }

    async fn read_start(&self, q: &StartQuery) -> Result<StartState, sqlx::Error> {
        match self {
            Backend::Sqlite { pool, .. } => start_state::read_sqlite(pool, q).await,
            Backend::Pg { pool, user_id, .. } => start_state::read_pg(pool, user_id, q).await,
        }
    }

    async fn close(&self) {
        match self {
            Backend::Sqlite { pool, .. } => pool.close().await,
            Backend::Pg { pool, .. } => pool.close().await,
        }
    }
}

/// Opens the backend for `cfg.url`: SQLite is opened and migrated now; PostgreSQL is
/// connected lazily (an unreachable server does not stop the start; the spool takes over).
async fn open_backend(cfg: &SinkConfig) -> Result<Backend, SinkError> {
    if pg::is_postgres_url(&cfg.url) {
        let user_id = cfg.user_id.clone().ok_or_else(|| SinkError::Config {
            url: redact_url(&cfg.url),
            reason: "a PostgreSQL sink needs the owning user id (PEREGRINE_USER_ID)".into(),
        })?;
        if !is_uuid(&user_id) {
            return Err(SinkError::Config {
                url: redact_url(&cfg.url),
                reason: format!("user id {user_id:?} is not a UUID (auth.users.id)"),
            });
        }
        let opts = pg::connect_options(&cfg.url)?;
        Ok(Backend::Pg {
            pool: pg::lazy_pool(opts),
            user_id,
            account: cfg.account.clone(),
        })
    } else {
        Ok(Backend::Sqlite {
            pool: sqlite::open(&cfg.url, 1).await?,
            account: cfg.account.clone(),
        })
    }
}

/// True for the canonical textual form of a UUID (8-4-4-4-12 hex digits).
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Body of the sink thread. Opens the database and the spool, reports the outcome on
/// `ready`, then serves `rx` until every sender is dropped and everything is written.
pub(crate) fn run(
    cfg: SinkConfig,
    rx: Receiver<SinkEvent>,
    gauges: Arc<SinkGauges>,
    ready: SyncSender<Result<Option<StartState>, SinkError>>,
) -> Result<SinkStats, SinkError> {
    let url = redact_url(&cfg.url);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(source) => {
            // The caller waits on `ready`; if it is gone there is nobody to tell.
            let _ = ready.send(Err(SinkError::Start { url, source }));
            return Ok(SinkStats::default());
        }
    };
    // sqlx spawns onto the runtime when pooled resources are dropped; keep it current.
    let _ctx = rt.enter();
    let backend = match rt.block_on(open_backend(&cfg)) {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e));
            return Ok(SinkStats::default());
        }
    };
    let mut stats = SinkStats::default();
    let mut pending = VecDeque::new();
    let (spool, next_seq) = match cfg.spool.clone().map(Spool::open) {
        None => (
            None,
            u64::try_from(crate::clock::Clock::wall_ns()).unwrap_or(1),
        ),
        Some(Ok((spool, recovered))) => {
            let now = Instant::now();
            stats.recovered = recovered.events.len() as u64;
            stats.quarantined = recovered.quarantined;
            gauges
                .quarantined
                .store(recovered.quarantined, Ordering::Relaxed);
            if !recovered.events.is_empty() {
                tracing::warn!(url = %url, events = recovered.events.len(),
                    "spool holds events a previous run did not get into the database; writing them first");
            }
            pending.extend(recovered.events.into_iter().map(|(seq, ev)| (now, seq, ev)));
            let next = spool.next_seq();
            (Some(spool), next)
        }
        Some(Err(e)) => {
            rt.block_on(backend.close());
            let _ = ready.send(Err(SinkError::Spool(e)));
            return Ok(SinkStats::default());
        }
    };
    let mut worker = Worker {
        cfg,
        url,
        rx,
        pending,
        open: true,
        stats,
        spool,
        next_seq,
        gauges,
        down_since: None,
        last_warn: None,
        halted: false,
    };
    worker.publish();
    // The start state is read once what a previous run left in the spool is in the database.
    let start = match worker.cfg.start_query.clone() {
        None => Ok(None),
        Some(q) => worker.read_start(&rt, &backend, &q).map(Some),
    };
    let failed = start.is_err();
    if ready.send(start).is_err() || failed {
        rt.block_on(backend.close());
        return Ok(worker.stats);
    }
    let result = worker.serve(&rt, &backend);
    rt.block_on(backend.close());
    result.map(|()| worker.stats)
}

/// State of the running sink.
struct Worker {
    cfg: SinkConfig,
    /// Redacted URL for logs and errors.
    url: String,
    rx: Receiver<SinkEvent>,
    /// Unwritten events, oldest first, with their arrival time and sequence number.
    pending: VecDeque<(Instant, u64, SinkEvent)>,
    /// False once every sender is dropped and the channel is empty.
    open: bool,
    stats: SinkStats,
    spool: Option<Spool>,
    /// Sequence for the next event when there is no spool.
    next_seq: u64,
    gauges: Arc<SinkGauges>,
    /// When the current run of failed writes began.
    down_since: Option<Instant>,
    last_warn: Option<Instant>,
    /// True while this sink holds the kill switch on (`halt_on_db_down`).
    halted: bool,
}

impl Worker {
    /// Main loop: runs until the channel is closed and drained and every batch is written.
    fn serve(&mut self, rt: &tokio::runtime::Runtime, backend: &Backend) -> Result<(), SinkError> {
        loop {
            if self.open && !self.flush_due(Instant::now()) {
                self.receive();
                continue;
            }
            if self.pending.is_empty() {
                return Ok(());
            }
            if !self.flush(rt, backend, None)? {
                return Ok(());
            }
        }
    }

    /// Writes every pending (recovered) event, then reads the start state. Fails if the
    /// database stays unwritable or unreadable for [`START_TIMEOUT`]: the engine must not
    /// trade on a view of its orders and fills that is missing what the database holds.
    fn read_start(
        &mut self,
        rt: &tokio::runtime::Runtime,
        backend: &Backend,
        q: &StartQuery,
    ) -> Result<StartState, SinkError> {
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.pending.is_empty() {
            if let Err(e) = self.flush(rt, backend, Some(deadline)) {
                return Err(match e {
                    SinkError::Write { source, .. } => SinkError::StartState {
                        url: self.url.clone(),
                        source,
                    },
                    other => other,
                });
            }
        }
        let mut backoff = BACKOFF_START;
        loop {
            match rt.block_on(backend.read_start(q)) {
                Ok(st) => return Ok(st),
                Err(source) if Instant::now() >= deadline => {
                    return Err(SinkError::StartState {
                        url: self.url.clone(),
                        source,
                    })
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "reading the start state failed; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Updates the shared gauges.
    fn publish(&self) {
        self.gauges
            .pending_events
            .store(self.pending.len() as u64, Ordering::Relaxed);
        self.gauges.spool_bytes.store(
            self.spool.as_ref().map_or(0, Spool::bytes),
            Ordering::Relaxed,
        );
    }

    /// True when a batch should be written now.
    fn flush_due(&self, now: Instant) -> bool {
        match self.pending.front() {
            None => false,
            Some((first, _, _)) => {
                self.pending.len() >= self.cfg.batch_size
                    || now.duration_since(*first) >= self.cfg.batch_age
            }
        }
    }

    /// Spools `ev` and queues it.
    fn accept(&mut self, ev: SinkEvent) {
        let seq = match self.spool.as_mut().map(|s| s.append(&ev)) {
            Some(Ok(seq)) => {
                self.next_seq = seq + 1;
                seq
            }
            Some(Err(e)) => {
                // Still written to the database in order; only crash safety is lost.
                tracing::error!(error = %e, "spool append failed; event kept in memory only");
                self.stats.spool_errors += 1;
                let seq = self.next_seq;
                self.next_seq += 1;
                seq
            }
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                seq
            }
        };
        if let Some(tap) = &self.cfg.tap {
            tap.event(seq, &ev);
        }
        self.pending.push_back((Instant::now(), seq, ev));
    }

    /// Makes the appends of a burst durable per the fsync policy.
    fn sync_spool(&mut self) {
        if let Some(spool) = self.spool.as_mut() {
            if let Err(e) = spool.sync() {
                tracing::error!(error = %e, "spool sync failed");
                self.stats.spool_errors += 1;
            }
        }
        self.publish();
    }

    /// Waits for events until a flush is due (or the channel closes), then takes whatever
    /// else is already queued, up to a full batch.
    fn receive(&mut self) {
        let got = match self.pending.front() {
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some((first, _, _)) => match first.checked_add(self.cfg.batch_age) {
                Some(deadline) => self.rx.recv_deadline(deadline),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            },
        };
        match got {
            Ok(ev) => self.accept(ev),
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => {
                self.open = false;
                return;
            }
        }
        while self.pending.len() < self.cfg.batch_size {
            match self.rx.try_recv() {
                Ok(ev) => self.accept(ev),
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.open = false;
                    break;
                }
            }
        }
        self.sync_spool();
    }

    /// Writes the first `batch_size` pending events, retrying with backoff until it
    /// succeeds (true) or, after shutdown, the retry budget is spent (false, with a spool;
    /// an error without one).
    /// With a `deadline`, a write still failing after it is an error instead of a retry.
    fn flush(
        &mut self,
        rt: &tokio::runtime::Runtime,
        backend: &Backend,
        deadline: Option<Instant>,
    ) -> Result<bool, SinkError> {
        let n = self.pending.len().min(self.cfg.batch_size);
        let mut backoff = BACKOFF_START;
        let mut attempts: u32 = 0;
        let mut attempts_closed: u32 = 0;
        loop {
            attempts += 1;
            if !self.open {
                attempts_closed += 1;
            }
            let batch = Batch::coalesce(self.pending.iter().take(n).map(|(_, s, ev)| (*s, ev)));
            let rows = batch.rows();
            match rt.block_on(backend.write(&batch)) {
                Ok(w) => {
                    self.stats.orders += w.orders;
                    self.stats.fills += w.fills;
                    self.stats.positions += w.positions;
                    self.stats.risk_events += w.risk_events;
                    self.stats.signals += w.signals;
                    self.stats.latency_stats += w.latency_stats;
                    self.stats.equity_snapshots += w.equity_snapshots;
                    self.stats.strategy_reloads += w.strategy_reloads;
                    self.stats.batches += 1;
                    let last_seq = batch.seq_range.1;
                    drop(batch);
                    self.pending.drain(..n);
                    if let Some(spool) = self.spool.as_mut() {
                        if let Err(e) = spool.commit(last_seq) {
                            // Harmless: the events are replayed at the next start and
                            // ignored by the database's keys.
                            tracing::error!(error = %e, "spool commit failed");
                            self.stats.spool_errors += 1;
                        }
                    }
                    self.recovered();
                    self.publish();
                    return Ok(true);
                }
                Err(source) => {
                    self.failed(n, rows, attempts, backoff, &source);
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(SinkError::Write {
                            url: self.url.clone(),
                            pending: self.pending.len(),
                            attempts,
                            source,
                        });
                    }
                    if attempts_closed >= SHUTDOWN_ATTEMPTS {
                        let pending = self.pending.len();
                        if self.spool.is_some() {
                            tracing::warn!(url = %self.url, pending, error = %source,
                                "sink stopping with the database unreachable; the events stay in the spool and the next start writes them");
                            self.stats.spooled_left = pending as u64;
                            return Ok(false);
                        }
                        tracing::error!(
                            url = %self.url, pending, attempts, error = %source,
                            "sink giving up at shutdown without a spool; unwritten events are lost"
                        );
                        return Err(SinkError::Write {
                            url: self.url.clone(),
                            pending,
                            attempts,
                            source,
                        });
                    }
                    self.stats.retries += 1;
                    self.wait_collecting(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Bookkeeping of a failed write: gauges, warnings, `halt_on_db_down`.
    fn failed(
        &mut self,
        events: usize,
        rows: usize,
        attempt: u32,
        retry_in: Duration,
        error: &sqlx::Error,
    ) {
        let now = Instant::now();
        self.gauges.db_down.store(true, Ordering::Relaxed);
        let since = *self.down_since.get_or_insert(now);
        if self
            .last_warn
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            self.last_warn = Some(now);
            tracing::warn!(
                url = %self.url, events, rows, attempt, ?retry_in, error = %error,
                down_for = ?now.duration_since(since),
                pending = self.pending.len(),
                spool_bytes = self.spool.as_ref().map_or(0, Spool::bytes),
                "database write failed; events are kept (spooled) and retried in order"
            );
        }
        if let Some(kill) = self.cfg.halt_on_db_down.as_ref() {
            if !self.halted {
                tracing::error!(url = %self.url, "halt_on_db_down: engaging the kill switch until the database is back");
                // Only a trip of ours is undone when the database is back.
                self.halted = kill.trip(HALT_REASON);
            }
        }
    }

    /// Bookkeeping of a successful write after failures.
    fn recovered(&mut self) {
        if let Some(since) = self.down_since.take() {
            self.last_warn = None;
            self.gauges.db_down.store(false, Ordering::Relaxed);
            tracing::warn!(url = %self.url, down_for = ?since.elapsed(), pending = self.pending.len(),
                "database reachable again; draining the spool in order");
        }
        if self.halted {
            if let Some(kill) = self.cfg.halt_on_db_down.as_ref() {
                // Someone may have reset and re-tripped it meanwhile: leave that trip alone.
                if kill.reason() == HALT_REASON {
                    kill.reset("halt_on_db_down: database reachable again");
                }
            }
            self.halted = false;
        }
    }

    /// Sleeps for `delay` while still moving newly sent events into the spool and the queue
    /// (behind the failing batch), so senders never wait and shutdown is noticed.
    fn wait_collecting(&mut self, delay: Duration) {
        let deadline = Instant::now() + delay;
        while self.open {
            match self.rx.recv_deadline(deadline) {
                Ok(ev) => {
                    self.accept(ev);
                    while let Ok(ev) = self.rx.try_recv() {
                        self.accept(ev);
                    }
                    self.sync_spool();
                }
                Err(RecvTimeoutError::Timeout) => return,
                Err(RecvTimeoutError::Disconnected) => self.open = false,
            }
        }
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    }
}
