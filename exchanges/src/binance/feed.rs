//! The Binance market-data feed task: websocket -> normalize -> book sync -> tick queue.
//!
//! One combined-stream connection carries `<sym>@trade`, `<sym>@bookTicker` and
//! `<sym>@depth@100ms` for every configured instrument. Each frame is stamped with
//! [`Clock::now_ns`] on arrival. Ticks are pushed with `try_send`: a full queue never blocks the
//! socket; the lost tick is counted, and if it was a book tick the book is marked stale
//! (`Status(Stale)`, delivered as soon as the queue has room) and resynced from a new snapshot.
//! Status ticks that could not be delivered are owed and sent before that instrument's next
//! tick.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use futures_util::{SinkExt, StreamExt};
use peregrine_engine::clock::Clock;
use peregrine_engine::secret::ApiCredentials;
use peregrine_engine::tick::{FeedStatus, Tick, TickKind};
use peregrine_engine::types::{InstrumentId, Instruments};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::backoff::Backoff;
use super::depth::{DepthSnapshot, DepthSync, SyncAction};
use super::normalize::{Control, Frame, Normalizer};
use super::rest::{BinanceRest, RestError};
use super::user_stream::wait_or_shutdown;

/// Feed configuration.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Websocket base, e.g. `wss://stream.binance.com:9443` or the simulator's `ws://127.0.0.1:PORT`.
    pub ws_base: String,
    /// REST base for depth snapshots, e.g. `https://api.binance.com`.
    pub rest_base: String,
    /// Instruments to subscribe; empty means every instrument in the registry.
    pub instruments: Vec<InstrumentId>,
    /// `limit` of `GET /api/v3/depth` (Binance: up to 5000).
    pub depth_limit: u32,
    /// First reconnect delay; doubles up to `reconnect_max`, with jitter.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// No frame (data, ping or pong) for this long means the connection is dead.
    pub idle_timeout: Duration,
    /// We send a ping this often, so a quiet market still proves the connection alive.
    pub ping_interval: Duration,
    /// Wait before refetching a snapshot that was older than the buffered events, or failed.
    pub refetch_delay: Duration,
    /// Timeout of one snapshot request.
    pub rest_timeout: Duration,
}

impl FeedConfig {
    /// Defaults for the given endpoints: all instruments, depth limit 1000, reconnect
    /// 250 ms .. 30 s, ping every 20 s, idle timeout 60 s, refetch after 250 ms, REST timeout
    /// 10 s.
    pub fn new(ws_base: impl Into<String>, rest_base: impl Into<String>) -> Self {
        Self {
            ws_base: ws_base.into(),
            rest_base: rest_base.into(),
            instruments: Vec::new(),
            depth_limit: 1000,
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(20),
            refetch_delay: Duration::from_millis(250),
            rest_timeout: Duration::from_secs(10),
        }
    }
}

/// Live feed counters, shared with whoever wants to watch them.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Websocket text frames received.
    pub frames: AtomicU64,
    /// Ticks delivered to the queue.
    pub ticks: AtomicU64,
    /// Frames that could not be normalized (logged with the reason).
    pub malformed: AtomicU64,
    /// Ticks lost to a full queue.
    pub dropped: AtomicU64,
    /// Successful reconnections after the first connection.
    pub reconnects: AtomicU64,
    /// Books resynced after having been in sync.
    pub resyncs: AtomicU64,
    /// Control frames (subscription replies, venue errors).
    pub control: AtomicU64,
    /// Where the feed's stage latency (normalize, feed delay) is recorded.
    pub latency: Arc<peregrine_engine::stages::LatencyHub>,
}

/// A point-in-time copy of [`FeedStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStatsSnapshot {
    /// See [`FeedStats::frames`].
    pub frames: u64,
    /// See [`FeedStats::ticks`].
    pub ticks: u64,
    /// See [`FeedStats::malformed`].
    pub malformed: u64,
    /// See [`FeedStats::dropped`].
    pub dropped: u64,
    /// See [`FeedStats::reconnects`].
    pub reconnects: u64,
    /// See [`FeedStats::resyncs`].
    pub resyncs: u64,
    /// See [`FeedStats::control`].
    pub control: u64,
}

impl FeedStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> FeedStatsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FeedStatsSnapshot {
            frames: r(&self.frames),
            ticks: r(&self.ticks),
            malformed: r(&self.malformed),
            dropped: r(&self.dropped),
            reconnects: r(&self.reconnects),
            resyncs: r(&self.resyncs),
            control: r(&self.control),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// Runs the feed until `shutdown` becomes `true` or the tick receiver is dropped; returns the
/// final counters. See [`run_feed_with_stats`] to watch the counters while it runs.
pub async fn run_feed(
    cfg: FeedConfig,
    instruments: Arc<Instruments>,
    out: Sender<Tick>,
    shutdown: watch::Receiver<bool>,
) -> FeedStatsSnapshot {
    run_feed_with_stats(
        cfg,
        instruments,
        out,
        shutdown,
        Arc::new(FeedStats::default()),
    )
    .await
}

/// [`run_feed`], counting into `stats`.
pub async fn run_feed_with_stats(
    cfg: FeedConfig,
    instruments: Arc<Instruments>,
    out: Sender<Tick>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<FeedStats>,
) -> FeedStatsSnapshot {
    let rest = match BinanceRest::new(
        &cfg.rest_base,
        ApiCredentials::default(),
        5000,
        cfg.rest_timeout,
    ) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "binance feed: cannot build the REST client");
            return stats.snapshot();
        }
    };
    let ids: Vec<InstrumentId> = if cfg.instruments.is_empty() {
        instruments.iter().map(|(id, _)| id).collect()
    } else {
        cfg.instruments
            .iter()
            .copied()
            .filter(|id| id.index() < instruments.len())
            .collect()
    };
    if ids.is_empty() {
        tracing::error!("binance feed: no instruments to subscribe");
        return stats.snapshot();
    }
    let streams: Vec<String> = ids
        .iter()
        .flat_map(|id| {
            let s = instruments.spec(*id).venue_symbol.to_lowercase();
            [
                format!("{s}@trade"),
                format!("{s}@bookTicker"),
                format!("{s}@depth@100ms"),
            ]
        })
        .collect();
    let url = format!(
        "{}/stream?streams={}",
        cfg.ws_base.trim_end_matches('/'),
        streams.join("/")
    );
    let mut st = State::new(&cfg, instruments.clone(), &ids, out, stats.clone(), rest);
    let mut backoff = Backoff::new(cfg.reconnect_min, cfg.reconnect_max);
    let mut connected_before = false;
    while !*shutdown.borrow() {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((ws, _)) => {
                if connected_before {
                    bump(&stats.reconnects);
                }
                connected_before = true;
                tracing::info!(streams = streams.len(), "binance feed connected");
                let end = st
                    .run_connection(ws, &cfg, &mut shutdown, &mut backoff)
                    .await;
                st.disconnected();
                if end == End::Stop {
                    break;
                }
            }
            Err(e) => tracing::warn!(error = %e, "binance feed: connect failed"),
        }
        if wait_or_shutdown(backoff.next_delay(), &mut shutdown).await {
            break;
        }
    }
    stats.snapshot()
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Reconnect,
    Stop,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A snapshot fetch result: (connection epoch, local index, result).
type SnapshotResult = (u64, usize, Result<DepthSnapshot, RestError>);

/// Per-instrument state.
struct Book {
    id: InstrumentId,
    symbol: String,
    sync: DepthSync,
    /// A status the queue had no room for; sent before this instrument's next tick.
    owed: Option<FeedStatus>,
    fetching: bool,
}

struct State {
    normalizer: Normalizer,
    books: Vec<Book>,
    /// InstrumentId index -> index into `books`.
    local: HashMap<InstrumentId, usize>,
    out: Sender<Tick>,
    stats: Arc<FeedStats>,
    rest: BinanceRest,
    depth_limit: u32,
    refetch_delay: Duration,
    epoch: u64,
    snap_tx: mpsc::UnboundedSender<SnapshotResult>,
    snap_rx: mpsc::UnboundedReceiver<SnapshotResult>,
    scratch: Vec<Tick>,
    emitted: Vec<Tick>,
    receiver_gone: bool,
}

impl State {
    fn new(
        cfg: &FeedConfig,
        instruments: Arc<Instruments>,
        ids: &[InstrumentId],
        out: Sender<Tick>,
        stats: Arc<FeedStats>,
        rest: BinanceRest,
    ) -> Self {
        let books: Vec<Book> = ids
            .iter()
            .map(|id| Book {
                id: *id,
                symbol: instruments.spec(*id).venue_symbol.clone(),
                sync: DepthSync::new(*id),
                owed: None,
                fetching: false,
            })
            .collect();
        let local = books.iter().enumerate().map(|(i, b)| (b.id, i)).collect();
        let (snap_tx, snap_rx) = mpsc::unbounded_channel();
        Self {
            normalizer: Normalizer::new(instruments),
            books,
            local,
            out,
            stats,
            rest,
            depth_limit: cfg.depth_limit,
            refetch_delay: cfg.refetch_delay,
            epoch: 0,
            snap_tx,
            snap_rx,
            scratch: Vec::with_capacity(256),
            emitted: Vec::with_capacity(256),
            receiver_gone: false,
        }
    }

    async fn run_connection(
        &mut self,
        mut ws: Ws,
        cfg: &FeedConfig,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> End {
        self.reset_books(FeedStatus::Connected);
        let idle = tokio::time::sleep(cfg.idle_timeout);
        tokio::pin!(idle);
        let mut ping =
            tokio::time::interval_at(Instant::now() + cfg.ping_interval, cfg.ping_interval);
        let mut healthy = false;
        loop {
            if self.receiver_gone {
                tracing::warn!("binance feed: tick receiver is gone; stopping");
                let _ = ws.close(None).await;
                return End::Stop;
            }
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        let _ = ws.close(None).await;
                        return End::Stop;
                    }
                }
                Some((epoch, i, result)) = self.snap_rx.recv() => {
                    if epoch == self.epoch {
                        self.on_snapshot(i, result);
                    }
                }
                _ = ping.tick() => {
                    if let Err(e) = ws.send(Message::Ping(Default::default())).await {
                        tracing::warn!(error = %e, "binance feed: ping failed");
                        return End::Reconnect;
                    }
                }
                () = &mut idle => {
                    tracing::warn!(timeout = ?cfg.idle_timeout, "binance feed: no frames; reconnecting");
                    return End::Reconnect;
                }
                msg = ws.next() => {
                    let recv_ns = Clock::now_ns();
                    idle.as_mut().reset(Instant::now() + cfg.idle_timeout);
                    match msg {
                        Some(Ok(Message::Text(text))) => {
                            bump(&self.stats.frames);
                            if !healthy {
                                healthy = true;
                                backoff.reset();
                            }
                            self.on_frame(text.as_str(), recv_ns);
                        }
                        Some(Ok(Message::Ping(_))) => {
                            // tungstenite queued the pong (echoing the payload); push it out now.
                            if let Err(e) = ws.flush().await {
                                tracing::warn!(error = %e, "binance feed: pong failed");
                                return End::Reconnect;
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            tracing::warn!(?frame, "binance feed closed by the server");
                            return End::Reconnect;
                        }
                        Some(Ok(Message::Binary(_))) => {
                            bump(&self.stats.malformed);
                            tracing::warn!("binance feed: unexpected binary frame");
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "binance feed: websocket error");
                            return End::Reconnect;
                        }
                        None => {
                            tracing::warn!("binance feed: connection ended");
                            return End::Reconnect;
                        }
                    }
                }
            }
        }
    }

    fn on_frame(&mut self, text: &str, recv_ns: u64) {
        self.scratch.clear();
        let scratch = &mut self.scratch;
        let normalized = self
            .normalizer
            .normalize(text, recv_ns, |t| scratch.push(t));
        let normalize_ns = Clock::now_ns().saturating_sub(recv_ns);
        let exch_ts_ns = self.scratch.first().map_or(0, |t| t.exch_ts_ns);
        let recv_wall_ns = Clock::wall_ns().saturating_sub(normalize_ns as i64);
        self.stats
            .latency
            .record_frame(normalize_ns, exch_ts_ns, recv_wall_ns);
        match normalized {
            Ok(Frame::Trade | Frame::Quote) => {
                for k in 0..self.scratch.len() {
                    let t = self.scratch[k];
                    if let Some(&i) = self.local.get(&t.instrument) {
                        self.push(i, t);
                    }
                }
            }
            Ok(Frame::Depth(hdr)) => {
                let Some(&i) = self.local.get(&hdr.instrument) else {
                    return;
                };
                self.emitted.clear();
                let emitted = &mut self.emitted;
                let action = self.books[i]
                    .sync
                    .on_update(&hdr, &self.scratch, &mut |t| emitted.push(t));
                self.push_book_ticks(i);
                if action == SyncAction::FetchSnapshot {
                    self.fetch(i, Duration::ZERO);
                }
            }
            Ok(Frame::Control(Control::Error { code, msg })) => {
                bump(&self.stats.control);
                tracing::warn!(code, msg, "binance feed: venue error frame");
            }
            Ok(Frame::Control(Control::Response { id })) => {
                bump(&self.stats.control);
                tracing::debug!(?id, "binance feed: control response");
            }
            Err(e) => {
                bump(&self.stats.malformed);
                let head: String = text.chars().take(160).collect();
                tracing::warn!(reason = %e, frame = %head, "binance feed: malformed frame skipped");
            }
        }
    }

    fn on_snapshot(&mut self, i: usize, result: Result<DepthSnapshot, RestError>) {
        self.books[i].fetching = false;
        match result {
            Ok(snap) => {
                self.emitted.clear();
                let emitted = &mut self.emitted;
                let action = self.books[i]
                    .sync
                    .on_snapshot(&snap, Clock::now_ns(), &mut |t| emitted.push(t));
                self.push_book_ticks(i);
                if action == SyncAction::FetchSnapshot {
                    self.fetch(i, self.refetch_delay);
                }
            }
            Err(e) => {
                tracing::warn!(symbol = %self.books[i].symbol, error = %e, "binance feed: depth snapshot failed; retrying");
                self.fetch(i, self.refetch_delay);
            }
        }
    }

    /// Pushes the book sync's output; if a book tick is lost, the rest of the batch is dropped
    /// with it and the book goes stale (resynced with the next event).
    fn push_book_ticks(&mut self, i: usize) {
        for k in 0..self.emitted.len() {
            let t = self.emitted[k];
            if t.kind == TickKind::Status(FeedStatus::Resynced) {
                bump(&self.stats.resyncs);
            }
            if !self.push(i, t) {
                let lost = (self.emitted.len() - k - 1) as u64;
                self.stats.dropped.fetch_add(lost, Ordering::Relaxed);
                break;
            }
        }
    }

    /// Tries to deliver `t` (after any owed status). False if it was lost.
    fn push(&mut self, i: usize, t: Tick) -> bool {
        if let Some(owed) = self.books[i].owed {
            let owed_tick = status(self.books[i].id, owed, t.recv_ns);
            if !self.try_send(owed_tick) {
                self.lost(i, t);
                return false;
            }
            self.books[i].owed = None;
        }
        if self.try_send(t) {
            true
        } else {
            self.lost(i, t);
            false
        }
    }

    fn try_send(&mut self, t: Tick) -> bool {
        match self.out.try_send(t) {
            Ok(()) => {
                bump(&self.stats.ticks);
                true
            }
            Err(TrySendError::Full(_)) => false,
            Err(TrySendError::Disconnected(_)) => {
                self.receiver_gone = true;
                false
            }
        }
    }

    fn lost(&mut self, i: usize, t: Tick) {
        bump(&self.stats.dropped);
        let b = &mut self.books[i];
        match t.kind {
            TickKind::BookDelta(_) | TickKind::BookSnapshot { .. } => {
                if b.owed != Some(FeedStatus::Stale) {
                    tracing::warn!(symbol = %b.symbol, "binance feed: queue full, book delta lost; book stale, resyncing");
                }
                b.sync.invalidate();
                b.owed = Some(FeedStatus::Stale);
            }
            TickKind::Status(s) => b.owed = Some(s),
            TickKind::Trade(_) | TickKind::Quote(_) => {}
        }
    }

    fn fetch(&mut self, i: usize, delay: Duration) {
        if self.books[i].fetching {
            return;
        }
        self.books[i].fetching = true;
        let rest = self.rest.clone();
        let symbol = self.books[i].symbol.clone();
        let limit = self.depth_limit;
        let tx = self.snap_tx.clone();
        let epoch = self.epoch;
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let result = rest.depth_snapshot(&symbol, limit).await;
            let _ = tx.send((epoch, i, result));
        });
    }

    fn disconnected(&mut self) {
        self.reset_books(FeedStatus::Disconnected);
    }

    /// A new connection epoch: every book must resync; tells downstream why.
    fn reset_books(&mut self, why: FeedStatus) {
        self.epoch += 1;
        let now = Clock::now_ns();
        for i in 0..self.books.len() {
            self.books[i].sync.invalidate();
            self.books[i].fetching = false;
            let id = self.books[i].id;
            self.push(i, status(id, why, now));
        }
    }
}

fn status(instrument: InstrumentId, s: FeedStatus, recv_ns: u64) -> Tick {
    Tick {
        instrument,
        exch_ts_ns: 0,
        recv_ns,
        kind: TickKind::Status(s),
    }
}
