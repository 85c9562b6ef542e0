//! The Binance market-data feed: [`BinanceProtocol`] (normalize -> book sync -> ticks) run by
//! the shared connection manager ([`crate::ws`]).
//!
//! One combined-stream connection carries `<sym>@trade`, `<sym>@bookTicker` and
//! `<sym>@depth@100ms` for every configured instrument (the streams are in the URL, so a
//! reconnect resubscribes by itself). Each frame is stamped with [`Clock::now_ns`] on arrival.
//! Books follow Binance's documented procedure ([`super::depth`]); the REST depth snapshot is
//! fetched in the background and handed back through
//! [`VenueProtocol::poll_deferred`], so a gap is repaired without dropping the connection.
//! Ticks are pushed with `try_send`: a full queue never blocks the socket; the lost tick is
//! counted, and if it was a book tick the book is marked stale (`Status(Stale)`, delivered as
//! soon as the queue has room) and resynced from a new snapshot.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crossbeam_channel::Sender;
use peregrine_engine::clock::Clock;
use peregrine_engine::secret::ApiCredentials;
use peregrine_engine::tick::{FeedStatus, Tick};
use peregrine_engine::types::{InstrumentId, Instruments};
use tokio::sync::{mpsc, watch};

use super::depth::{DepthSnapshot, DepthSync, SyncAction};
use super::normalize::{Control, Frame, NormalizeError, Normalizer};
use super::rest::{BinanceRest, RestError};
use crate::venue::{FrameOutcome, Heartbeat, Venue, VenueProtocol};
use crate::ws::{run_connection, FrameTap, WsConfig};

pub use crate::ws::stats::{FeedStats, FeedStatsSnapshot};

/// Binance closes every websocket connection after 24 hours.
pub const BINANCE_MAX_SESSION: Duration = Duration::from_secs(24 * 3600);

/// Feed configuration.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Websocket base, e.g. `wss://stream.binance.com:9443` or the simulator's `ws://127.0.0.1:PORT`.
    pub ws_base: String,
    /// REST base for depth snapshots, e.g. `https://api.binance.com`.
    pub rest_base: String,
    /// Instruments to subscribe; empty means every Binance instrument in the registry.
    pub instruments: Vec<InstrumentId>,
    /// `limit` of `GET /api/v3/depth` (Binance: up to 5000).
    pub depth_limit: u32,
    /// First reconnect delay; doubles up to `reconnect_max`, with jitter.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Stale-feed watchdog: no text frame for this long means the feed is stale; reconnect.
    pub idle_timeout: Duration,
    /// We send a ping this often, so a quiet market still proves the connection alive.
    pub ping_interval: Duration,
    /// Wait before refetching a snapshot that was older than the buffered events, or failed.
    pub refetch_delay: Duration,
    /// Timeout of one snapshot request.
    pub rest_timeout: Duration,
    /// Replace the connection after this long; `None`: shortly before Binance's 24 h cut.
    pub max_session: Option<Duration>,
    /// Largest accepted websocket frame in bytes.
    pub max_frame_bytes: usize,
    /// Raw-frame tap (`peregrine record`).
    pub tap: Option<FrameTap>,
}

impl FeedConfig {
    /// Defaults for the given endpoints: all instruments, depth limit 1000, reconnect
    /// 250 ms .. 30 s, ping every 20 s, stale after 30 s without a frame, refetch after
    /// 250 ms, REST timeout 10 s, session replaced 5 % before 24 h, frames up to 16 MiB.
    pub fn new(ws_base: impl Into<String>, rest_base: impl Into<String>) -> Self {
        Self {
            ws_base: ws_base.into(),
            rest_base: rest_base.into(),
            instruments: Vec::new(),
            depth_limit: 1000,
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(20),
            refetch_delay: Duration::from_millis(250),
            rest_timeout: Duration::from_secs(10),
            max_session: None,
            max_frame_bytes: 16 << 20,
            tap: None,
        }
    }

    /// The connection manager's part of this configuration.
    pub fn ws_config(&self) -> WsConfig {
        WsConfig {
            backoff_min: self.reconnect_min,
            backoff_max: self.reconnect_max,
            stale_after: self.idle_timeout,
            max_session: self.max_session,
            max_frame_bytes: self.max_frame_bytes,
            tap: self.tap.clone(),
            ..WsConfig::default()
        }
    }
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
    shutdown: watch::Receiver<bool>,
    stats: Arc<FeedStats>,
) -> FeedStatsSnapshot {
    let proto = match BinanceProtocol::new(&cfg, instruments) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "binance feed: cannot start");
            return stats.snapshot();
        }
    };
    run_connection(proto, cfg.ws_config(), out, shutdown, stats).await
}

/// Why a [`BinanceProtocol`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FeedSetupError {
    /// The REST client for depth snapshots could not be built.
    #[error("cannot build the REST client: {0}")]
    Rest(#[from] RestError),
    /// No configured instrument is in the registry.
    #[error("no instruments to subscribe")]
    NoInstruments,
}

type SnapshotResult = (u64, usize, Result<DepthSnapshot, RestError>);

/// One instrument's book state.
struct Book {
    id: InstrumentId,
    symbol: String,
    sync: DepthSync,
    fetching: bool,
}

/// Binance spot market data as a [`VenueProtocol`]: combined streams, the documented
/// local-order-book procedure, REST depth snapshots fetched in the background.
pub struct BinanceProtocol {
    url: String,
    ping_interval: Duration,
    normalizer: Normalizer,
    books: Vec<Book>,
    /// InstrumentId -> index into `books`.
    local: HashMap<InstrumentId, usize>,
    rest: BinanceRest,
    depth_limit: u32,
    refetch_delay: Duration,
    /// Connection epoch: snapshots fetched for an earlier connection are ignored.
    epoch: u64,
    snap_tx: mpsc::UnboundedSender<SnapshotResult>,
    snap_rx: mpsc::UnboundedReceiver<SnapshotResult>,
    scratch: Vec<Tick>,
}

impl BinanceProtocol {
    /// The protocol for `cfg`'s instruments (every Binance instrument of `instruments` if
    /// none are listed).
    pub fn new(cfg: &FeedConfig, instruments: Arc<Instruments>) -> Result<Self, FeedSetupError> {
        let rest = BinanceRest::new(
            &cfg.rest_base,
            ApiCredentials::default(),
            5000,
            cfg.rest_timeout,
        )?;
        let ids: Vec<InstrumentId> = if cfg.instruments.is_empty() {
            instruments
                .iter()
                .filter(|(_, s)| is_binance(&s.venue))
                .map(|(id, _)| id)
                .collect()
        } else {
            cfg.instruments
                .iter()
                .copied()
                .filter(|id| id.index() < instruments.len())
                .collect()
        };
        if ids.is_empty() {
            return Err(FeedSetupError::NoInstruments);
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
        let books: Vec<Book> = ids
            .iter()
            .map(|id| Book {
                id: *id,
                symbol: instruments.spec(*id).venue_symbol.clone(),
                sync: DepthSync::new(*id),
                fetching: false,
            })
            .collect();
        let local = books.iter().enumerate().map(|(i, b)| (b.id, i)).collect();
        let (snap_tx, snap_rx) = mpsc::unbounded_channel();
        Ok(Self {
            url,
            ping_interval: cfg.ping_interval,
            normalizer: Normalizer::new(instruments),
            books,
            local,
            rest,
            depth_limit: cfg.depth_limit,
            refetch_delay: cfg.refetch_delay,
            epoch: 0,
            snap_tx,
            snap_rx,
            scratch: Vec::with_capacity(256),
        })
    }

    /// A new connection epoch: every book must resync; tells downstream why.
    fn reset_books(&mut self, why: FeedStatus, out: &mut dyn FnMut(Tick)) {
        self.epoch += 1;
        let now = Clock::now_ns();
        for b in &mut self.books {
            b.sync.invalidate();
            b.fetching = false;
            out(status(b.id, why, now));
        }
    }

    fn on_snapshot(
        &mut self,
        i: usize,
        result: Result<DepthSnapshot, RestError>,
        out: &mut dyn FnMut(Tick),
    ) {
        self.books[i].fetching = false;
        match result {
            Ok(snap) => {
                let action = self.books[i]
                    .sync
                    .on_snapshot(&snap, Clock::now_ns(), &mut |t| out(t));
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

    /// Starts a background snapshot request for book `i` (after `delay`).
    fn fetch(&mut self, i: usize, delay: Duration) {
        if self.books[i].fetching {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::error!("binance feed: no async runtime to fetch a depth snapshot on");
            self.books[i].sync.snapshot_failed();
            return;
        };
        self.books[i].fetching = true;
        let rest = self.rest.clone();
        let symbol = self.books[i].symbol.clone();
        let limit = self.depth_limit;
        let tx = self.snap_tx.clone();
        let epoch = self.epoch;
        rt.spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let result = rest.depth_snapshot(&symbol, limit).await;
            let _ = tx.send((epoch, i, result));
        });
    }
}

impl VenueProtocol for BinanceProtocol {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn subscribe_messages(&self) -> Vec<String> {
        // Combined streams are named in the URL.
        Vec::new()
    }

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat::WsPing(self.ping_interval)
    }

    fn max_session(&self) -> Option<Duration> {
        Some(BINANCE_MAX_SESSION)
    }

    fn on_connect(&mut self, out: &mut dyn FnMut(Tick)) {
        self.reset_books(FeedStatus::Connected, out);
    }

    fn on_disconnect(&mut self, out: &mut dyn FnMut(Tick)) {
        self.reset_books(FeedStatus::Disconnected, out);
    }

    fn on_stale(&mut self, out: &mut dyn FnMut(Tick)) {
        let now = Clock::now_ns();
        for b in &self.books {
            out(status(b.id, FeedStatus::Stale, now));
        }
    }

    fn on_frame(
        &mut self,
        frame: &str,
        recv_ns: u64,
        out: &mut dyn FnMut(Tick),
    ) -> Result<FrameOutcome, String> {
        self.scratch.clear();
        let scratch = &mut self.scratch;
        let kind = match self
            .normalizer
            .normalize(frame, recv_ns, |t| scratch.push(t))
        {
            Ok(kind) => kind,
            // Binance: "A serverShutdown event will be sent when the server is about to
            // shutdown, resulting in disconnection. Please establish a new connection as soon
            // as possible" (WebSocket Streams, General WSS information). Only the event name
            // is relied on.
            Err(NormalizeError::Unsupported(event)) if event == "serverShutdown" => {
                return Ok(FrameOutcome::Reconnect("serverShutdown".into()));
            }
            Err(e) => return Err(e.to_string()),
        };
        match kind {
            Frame::Trade | Frame::Quote => {
                for t in &self.scratch {
                    if self.local.contains_key(&t.instrument) {
                        out(*t);
                    }
                }
                Ok(FrameOutcome::Data)
            }
            Frame::Depth(hdr) => {
                let Some(&i) = self.local.get(&hdr.instrument) else {
                    return Ok(FrameOutcome::Data);
                };
                let action = self.books[i]
                    .sync
                    .on_update(&hdr, &self.scratch, &mut |t| out(t));
                if action == SyncAction::FetchSnapshot {
                    self.fetch(i, Duration::ZERO);
                }
                Ok(FrameOutcome::Data)
            }
            Frame::Control(Control::Error { code, msg }) => {
                Ok(FrameOutcome::VenueError(format!("code {code}: {msg}")))
            }
            Frame::Control(Control::Response { .. }) => Ok(FrameOutcome::Control),
        }
    }

    fn poll_deferred(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut dyn FnMut(Tick),
    ) -> Poll<FrameOutcome> {
        while let Poll::Ready(Some((epoch, i, result))) = self.snap_rx.poll_recv(cx) {
            if epoch == self.epoch && i < self.books.len() {
                self.on_snapshot(i, result, out);
                return Poll::Ready(FrameOutcome::Data);
            }
        }
        Poll::Pending
    }

    fn on_book_tick_lost(&mut self, instrument: InstrumentId) -> FrameOutcome {
        if let Some(&i) = self.local.get(&instrument) {
            // The next depth event asks for a fresh snapshot; the manager owes `Stale`.
            self.books[i].sync.invalidate();
        }
        FrameOutcome::Data
    }
}

/// True for the venue name of Binance instruments (a registry may hold other venues' too).
fn is_binance(venue: &str) -> bool {
    venue.eq_ignore_ascii_case(Venue::Binance.as_str())
}

fn status(instrument: InstrumentId, s: FeedStatus, recv_ns: u64) -> Tick {
    Tick {
        instrument,
        exch_ts_ns: 0,
        recv_ns,
        kind: peregrine_engine::tick::TickKind::Status(s),
    }
}
