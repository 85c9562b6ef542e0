//! The sink thread: receive, batch by size or age, write, retry.
//!
//! Pending events sit in a FIFO queue with their arrival time. A batch is the first
//! `batch_size` of them; it is flushed when that many are pending or the oldest is
//! `batch_age` old. A batch leaves the queue only after its transaction committed, so a
//! failed write is retried (with backoff) with exactly the same events, and later events
//! queue behind it: nothing is dropped or reordered while the thread lives.
//!
//! Until the disk spool of a later issue exists, a batch that keeps failing is held in
//! memory only (and the queue grows); at shutdown the retries are bounded so that
//! [`SinkJoin::join`](super::SinkJoin::join) terminates.

use std::collections::VecDeque;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use sqlx::SqlitePool;

use super::batch::Batch;
use super::error::{redact_url, SinkError};
use super::sqlite;
use super::{SinkConfig, SinkStats};
use crate::events::SinkEvent;

/// First retry delay after a failed write.
const BACKOFF_START: Duration = Duration::from_millis(50);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Failed write attempts made after all senders are gone, before the sink gives up (about
/// 6 s of backoff in total).
const SHUTDOWN_ATTEMPTS: u32 = 8;

/// Body of the sink thread. Opens the database and runs migrations, reports the outcome on
/// `ready`, then serves `rx` until every sender is dropped and everything is written.
pub(crate) fn run(
    cfg: SinkConfig,
    rx: Receiver<SinkEvent>,
    ready: SyncSender<Result<(), SinkError>>,
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
    let pool = match rt.block_on(sqlite::open(&cfg.url, 1)) {
        Ok(pool) => pool,
        Err(e) => {
            let _ = ready.send(Err(e));
            return Ok(SinkStats::default());
        }
    };
    if ready.send(Ok(())).is_err() {
        rt.block_on(pool.close());
        return Ok(SinkStats::default());
    }
    let mut worker = Worker {
        cfg,
        url,
        rx,
        pending: VecDeque::new(),
        open: true,
        stats: SinkStats::default(),
    };
    let result = worker.serve(&rt, &pool);
    rt.block_on(pool.close());
    result.map(|()| worker.stats)
}

/// State of the running sink.
struct Worker {
    cfg: SinkConfig,
    /// Redacted URL for logs and errors.
    url: String,
    rx: Receiver<SinkEvent>,
    /// Unwritten events, oldest first, with their arrival time.
    pending: VecDeque<(Instant, SinkEvent)>,
    /// False once every sender is dropped and the channel is empty.
    open: bool,
    stats: SinkStats,
}

impl Worker {
    /// Main loop: runs until the channel is closed and drained and every batch is written.
    fn serve(&mut self, rt: &tokio::runtime::Runtime, pool: &SqlitePool) -> Result<(), SinkError> {
        loop {
            if self.open && !self.flush_due(Instant::now()) {
                self.receive();
                continue;
            }
            if self.pending.is_empty() {
                return Ok(());
            }
            self.flush(rt, pool)?;
        }
    }

    /// True when a batch should be written now.
    fn flush_due(&self, now: Instant) -> bool {
        match self.pending.front() {
            None => false,
            Some((first, _)) => {
                self.pending.len() >= self.cfg.batch_size
                    || now.duration_since(*first) >= self.cfg.batch_age
            }
        }
    }

    /// Waits for events until a flush is due (or the channel closes), then takes whatever
    /// else is already queued, up to a full batch.
    fn receive(&mut self) {
        let got = match self.pending.front() {
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some((first, _)) => match first.checked_add(self.cfg.batch_age) {
                Some(deadline) => self.rx.recv_deadline(deadline),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            },
        };
        match got {
            Ok(ev) => self.pending.push_back((Instant::now(), ev)),
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => {
                self.open = false;
                return;
            }
        }
        while self.pending.len() < self.cfg.batch_size {
            match self.rx.try_recv() {
                Ok(ev) => self.pending.push_back((Instant::now(), ev)),
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.open = false;
                    break;
                }
            }
        }
    }

    /// Writes the first `batch_size` pending events, retrying with backoff until it
    /// succeeds (or, after shutdown, until the retry budget is spent).
    fn flush(&mut self, rt: &tokio::runtime::Runtime, pool: &SqlitePool) -> Result<(), SinkError> {
        let n = self.pending.len().min(self.cfg.batch_size);
        let mut backoff = BACKOFF_START;
        let mut attempts: u32 = 0;
        let mut attempts_closed: u32 = 0;
        loop {
            attempts += 1;
            if !self.open {
                attempts_closed += 1;
            }
            let batch = Batch::coalesce(self.pending.iter().take(n).map(|(_, ev)| ev));
            let rows = batch.rows();
            match rt.block_on(sqlite::write_batch(pool, &batch)) {
                Ok(w) => {
                    self.stats.orders += w.orders;
                    self.stats.fills += w.fills;
                    self.stats.positions += w.positions;
                    self.stats.risk_events += w.risk_events;
                    self.stats.signals += w.signals;
                    self.stats.latency_stats += w.latency_stats;
                    self.stats.batches += 1;
                    self.pending.drain(..n);
                    return Ok(());
                }
                Err(source) => {
                    if attempts_closed >= SHUTDOWN_ATTEMPTS {
                        tracing::error!(
                            url = %self.url, pending = self.pending.len(), attempts,
                            error = %source,
                            "sink giving up at shutdown; unwritten events are lost"
                        );
                        return Err(SinkError::Write {
                            url: self.url.clone(),
                            pending: self.pending.len(),
                            attempts,
                            source,
                        });
                    }
                    tracing::warn!(
                        url = %self.url, events = n, rows, attempt = attempts,
                        retry_in = ?backoff, error = %source,
                        "sink batch write failed; keeping the batch and retrying"
                    );
                    self.stats.retries += 1;
                    self.wait_collecting(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Sleeps for `delay` while still moving newly sent events into the queue (behind the
    /// failing batch), so senders never see a full channel and shutdown is noticed.
    fn wait_collecting(&mut self, delay: Duration) {
        let deadline = Instant::now() + delay;
        while self.open {
            match self.rx.recv_deadline(deadline) {
                Ok(ev) => self.pending.push_back((Instant::now(), ev)),
                Err(RecvTimeoutError::Timeout) => return,
                Err(RecvTimeoutError::Disconnected) => self.open = false,
            }
        }
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    }
}
