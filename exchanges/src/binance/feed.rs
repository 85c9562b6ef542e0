//! The Binance market-data feed: [`BinanceProtocol`] (normalize -> book sync -> ticks) run by
//! the shared connection manager ([`crate::ws`]).
//!
//! One combined-stream connection carries the configured streams of every instrument
//! ([`FeedConfig::channels`]; by default `<sym>@trade`, `<sym>@bookTicker` and
//! `<sym>@depth@100ms`). The streams are in the URL, so a reconnect resubscribes by itself.
//! With partial depth (`<sym>@depth5/10/20[@100ms]`) instead of the diff stream, every push
//! is a snapshot of the top levels that replaces the book on the same sequencer, and no REST
//! snapshot is fetched. Each frame is stamped with [`Clock::now_ns`] on arrival.
//! Books follow Binance's documented procedure on the shared sequencer
//! ([`crate::book_sync::BookSequencer`] with [`BookRule::Binance`]: updates buffered until the
//! REST snapshot, `U`/`u` against `lastUpdateId`); the REST depth snapshot is fetched in the
//! background and handed back through [`VenueProtocol::poll_deferred`], so a gap is repaired
//! from a new snapshot without dropping the connection.
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
use peregrine_engine::tick::{FeedStatus, Tick, TickKind};
use peregrine_engine::types::{InstrumentId, Instruments, Side};
use tokio::sync::{mpsc, watch};

use super::depth::DepthSnapshot;
use super::normalize::Normalizer;
use super::rest::{BinanceRest, RestError};
use crate::book_sync::{BookRule, BookSequencer, SyncOutcome};
use crate::md::channels::Channels;
use crate::md::protocol::market_tick;
use crate::md::{BookMsg, FrameKind, Level, MdError, MsgKind, VenueNormalizer};
use crate::venue::{FrameError, FrameOutcome, Heartbeat, Venue, VenueProtocol};
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
    /// The streams per instrument, by Binance's names without `<symbol>@`; `None`:
    /// [`DEFAULT_CHANNELS`].
    pub channels: Option<Channels>,
}

/// The streams subscribed per instrument when [`FeedConfig::channels`] is `None`.
pub const DEFAULT_CHANNELS: [&str; 3] = ["trade", "bookTicker", "depth@100ms"];

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
            channels: None,
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
    sync: BookSequencer,
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
    /// The levels of one REST snapshot, as the sequencer reads them.
    levels: Vec<Level>,
    /// Messages of symbols this connection does not follow (dropped).
    unknown_symbols: u64,
    /// The book stream is partial depth: snapshots only, no REST snapshot.
    partial_depth: bool,
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
        let default = Channels::of(&DEFAULT_CHANNELS);
        let channels = cfg.channels.as_ref().unwrap_or(&default);
        let partial_depth = channels.names().iter().any(|n| is_partial_depth(n));
        let streams: Vec<String> = ids
            .iter()
            .flat_map(|id| {
                let s = instruments.spec(*id).venue_symbol.to_lowercase();
                channels.names().iter().map(move |c| format!("{s}@{c}"))
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
                sync: BookSequencer::new(*id, BookRule::Binance),
                fetching: false,
            })
            .collect();
        let local = books.iter().enumerate().map(|(i, b)| (b.id, i)).collect();
        let (snap_tx, snap_rx) = mpsc::unbounded_channel();
        Ok(Self {
            url,
            ping_interval: cfg.ping_interval,
            normalizer: Normalizer::new(),
            books,
            local,
            rest,
            depth_limit: cfg.depth_limit,
            refetch_delay: cfg.refetch_delay,
            epoch: 0,
            snap_tx,
            snap_rx,
            levels: Vec::with_capacity(256),
            unknown_symbols: 0,
            partial_depth,
        })
    }

    /// A new connection epoch: every book must resync; tells downstream why.
    fn reset_books(&mut self, why: FeedStatus, out: &mut dyn FnMut(Tick)) {
        self.epoch += 1;
        let now = Clock::now_ns();
        for b in &mut self.books {
            b.sync.reset();
            b.fetching = false;
            out(status(b.id, why, now));
        }
    }

    /// Hands a REST snapshot to book `i`'s sequencer (which replays the buffered updates that
    /// follow it), or asks for another one if it was unusable or the request failed.
    fn on_snapshot(
        &mut self,
        i: usize,
        result: Result<DepthSnapshot, RestError>,
        out: &mut dyn FnMut(Tick),
    ) {
        self.books[i].fetching = false;
        let snap = match result {
            Ok(snap) => snap,
            Err(e) => {
                tracing::warn!(symbol = %self.books[i].symbol, error = %e, "binance feed: depth snapshot failed; retrying");
                self.fetch(i, self.refetch_delay);
                return;
            }
        };
        if self.books[i].sync.is_synced() {
            return; // a late answer: the book is already in sync
        }
        self.levels.clear();
        self.levels
            .extend(snap.bids.iter().map(|&(p, q)| (Side::Buy, p, q)));
        self.levels
            .extend(snap.asks.iter().map(|&(p, q)| (Side::Sell, p, q)));
        let msg = BookMsg {
            snapshot: true,
            levels: &self.levels,
            seq: Some(snap.last_update_id),
            first_seq: None,
            prev_seq: None,
            cross_seq: None,
            checksum: None,
        };
        // Older than the buffered updates, or a gap among them: fetch again.
        if let SyncOutcome::Resync(why) = self.books[i].sync.on_book(&msg, 0, Clock::now_ns(), out)
        {
            tracing::info!(symbol = %self.books[i].symbol, reason = %why, "binance feed: snapshot not usable; fetching another");
            self.fetch(i, self.refetch_delay);
        }
    }

    /// Starts a background snapshot request for book `i` (after `delay`).
    fn fetch(&mut self, i: usize, delay: Duration) {
        if self.books[i].fetching {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            // The next buffered update asks again.
            tracing::error!("binance feed: no async runtime to fetch a depth snapshot on");
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
    ) -> Result<FrameOutcome, FrameError> {
        let books = &mut self.books;
        let unknown = &mut self.unknown_symbols;
        let partial = &self.partial_depth;
        // A book that needs a snapshot after this frame.
        let mut fetch = None;
        let parsed = self.normalizer.normalize(frame, &mut |msg| {
            // Stream names spell symbols in lower case, payloads in upper case.
            let Some(i) = books
                .iter()
                .position(|b| b.symbol.eq_ignore_ascii_case(msg.symbol))
            else {
                *unknown += 1;
                return;
            };
            let book = &mut books[i];
            match msg.kind {
                MsgKind::Trade(_) | MsgKind::Quote(_) => {
                    if let Some(t) = market_tick(book.id, msg, recv_ns) {
                        out(t);
                    }
                }
                // Partial depth: each push replaces the book (the sequencer keeps it in sync
                // without a status). Never next to the diff stream, whose sequence its
                // snapshots would bypass (one book channel, checked with the config).
                MsgKind::Book(b) if b.snapshot => {
                    if *partial {
                        book.sync.on_book(&b, msg.exch_ts_ns, recv_ns, out);
                    }
                }
                MsgKind::Book(b) => {
                    // Buffered until a snapshot; a gap marks the book stale and fetches a new
                    // snapshot, keeping the connection.
                    let mut outcome = book.sync.on_book(&b, msg.exch_ts_ns, recv_ns, out);
                    if let SyncOutcome::Resync(why) = &outcome {
                        // `Stale` was emitted and the book forgotten; keep this update for the
                        // next snapshot, which may still need it.
                        tracing::info!(symbol = %book.symbol, reason = %why, "binance feed: book lost sync; fetching a snapshot");
                        outcome = book.sync.on_book(&b, msg.exch_ts_ns, recv_ns, out);
                    }
                    if outcome == SyncOutcome::Buffered {
                        fetch = Some(i);
                    }
                }
            }
        });
        if let Some(i) = fetch {
            self.fetch(i, Duration::ZERO);
        }
        match parsed {
            Ok(p) => Ok(match p.kind {
                FrameKind::Data => FrameOutcome::Data,
                FrameKind::Control => FrameOutcome::Control,
                FrameKind::VenueError(e) => FrameOutcome::VenueError(e),
            }),
            // Binance: "A serverShutdown event will be sent when the server is about to
            // shutdown, resulting in disconnection. Please establish a new connection as soon
            // as possible" (WebSocket Streams, General WSS information). Only the event name
            // is relied on.
            Err(MdError::Unsupported(event)) if event == "serverShutdown" => {
                Ok(FrameOutcome::Reconnect("serverShutdown".into()))
            }
            Err(e) => {
                if let MdError::CrossedQuote { symbol, .. } = &e {
                    // A crossed top of book: not passed on; the book is stale until a new
                    // snapshot.
                    let found = self
                        .books
                        .iter()
                        .position(|b| b.symbol.eq_ignore_ascii_case(symbol));
                    if let Some(i) = found {
                        self.books[i].sync.mark_stale(0, recv_ns, out);
                        // Partial depth repairs itself with its next push.
                        if !self.partial_depth {
                            self.fetch(i, Duration::ZERO);
                        }
                    }
                }
                Err(e.into())
            }
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
            // The next depth event is buffered and asks for a fresh snapshot; the manager owes
            // `Stale`.
            self.books[i].sync.reset();
        }
        FrameOutcome::Data
    }
}

/// True for a partial-depth stream name (`depth5`, `depth10@100ms`, ...).
fn is_partial_depth(name: &str) -> bool {
    let levels = name.split('@').next().unwrap_or_default();
    matches!(levels, "depth5" | "depth10" | "depth20")
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
        kind: TickKind::Status(s),
    }
}

#[cfg(test)]
mod tests {
    use peregrine_engine::types::InstrumentSpec;
    use rust_decimal_macros::dec;

    use super::*;

    fn protocol() -> BinanceProtocol {
        let mut r = Instruments::new();
        r.intern(
            InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
                .expect("canonical"),
        );
        // Snapshot requests go to a closed local port; the tests hand snapshots in directly.
        let cfg = FeedConfig::new("ws://127.0.0.1:1", "http://127.0.0.1:1");
        BinanceProtocol::new(&cfg, Arc::new(r)).expect("protocol")
    }

    fn depth(first: u64, last: u64) -> String {
        format!(
            r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":1700000000000,"s":"BTCUSDT","U":{first},"u":{last},"b":[["100.{last}","1"]],"a":[["101.5","2"]]}}}}"#
        )
    }

    fn snapshot(last: u64) -> DepthSnapshot {
        DepthSnapshot {
            last_update_id: last,
            bids: vec![(dec!(100), dec!(1))],
            asks: vec![(dec!(101), dec!(3))],
        }
    }

    /// One word per tick: `snapN`, `S` (snapshot level), `dN` (delta of update N), statuses.
    fn describe(ticks: &[Tick]) -> Vec<String> {
        ticks
            .iter()
            .map(|t| match t.kind {
                TickKind::BookDelta(d) if d.flags & BookDelta::SNAPSHOT != 0 => "S".to_string(),
                TickKind::BookDelta(d) => format!("d{}", d.seq),
                TickKind::BookSnapshot { seq } => format!("snap{seq}"),
                TickKind::Status(s) => format!("{s:?}"),
                _ => "other".to_string(),
            })
            .collect()
    }

    use peregrine_engine::tick::BookDelta;

    #[tokio::test]
    async fn gap_keeps_the_connection_refetches_and_a_late_snapshot_is_ignored() {
        let mut p = protocol();
        let mut got = Vec::new();
        let mut out = |t: Tick| got.push(t);
        p.on_connect(&mut out);
        // Buffered until the snapshot; 101..105 straddles lastUpdateId 103 + 1.
        assert_eq!(
            p.on_frame(&depth(101, 105), 1, &mut out),
            Ok(FrameOutcome::Data)
        );
        assert!(p.books[0].fetching, "the first update asks for a snapshot");
        p.on_snapshot(0, Ok(snapshot(103)), &mut out);
        // A second, older answer once in sync changes nothing.
        p.on_snapshot(0, Ok(snapshot(90)), &mut out);
        // 106..107 lost: the book is stale; the update is kept for the next snapshot and the
        // frame is still `Data` (no reconnect).
        assert_eq!(
            p.on_frame(&depth(108, 112), 2, &mut out),
            Ok(FrameOutcome::Data)
        );
        assert!(p.books[0].fetching, "the gap asks for a snapshot");
        p.on_snapshot(0, Ok(snapshot(110)), &mut out);
        assert_eq!(
            p.on_frame(&depth(113, 113), 3, &mut out),
            Ok(FrameOutcome::Data)
        );
        assert_eq!(
            describe(&got),
            [
                "Connected",
                "snap103",
                "S",
                "S",
                "d105",
                "d105",
                "Stale",
                "snap110",
                "S",
                "S",
                "d112",
                "d112",
                "Resynced",
                "d113",
                "d113",
            ]
        );
        assert_eq!(p.books[0].sync.stale_events(), 1);
    }

    #[tokio::test]
    async fn trades_quotes_and_a_crossed_quote_through_the_protocol() {
        let mut p = protocol();
        let got = std::cell::RefCell::new(Vec::new());
        let mut out = |t: Tick| got.borrow_mut().push(t);
        p.on_connect(&mut out);
        p.on_frame(&depth(101, 105), 1, &mut out).expect("data");
        p.on_snapshot(0, Ok(snapshot(103)), &mut out);
        let trade = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"100.5","q":"0.5","T":2,"m":false,"M":true}}"#;
        assert_eq!(p.on_frame(trade, 3, &mut out), Ok(FrameOutcome::Data));
        let quote = |b: &str| {
            format!(
                r#"{{"stream":"btcusdt@bookTicker","data":{{"u":9,"s":"BTCUSDT","b":"{b}","B":"1","a":"101","A":"2"}}}}"#
            )
        };
        assert_eq!(
            p.on_frame(&quote("100"), 4, &mut out),
            Ok(FrameOutcome::Data)
        );
        let before = got.borrow().len();
        let e = p.on_frame(&quote("101"), 5, &mut out).unwrap_err();
        assert_eq!(e.reason, crate::md::Reason::CrossedQuote);
        assert_eq!(describe(&got.borrow()[before..]), ["Stale"]);
        assert!(p.books[0].fetching, "a new snapshot is asked for");
        let kinds: Vec<_> = got.borrow()[..before]
            .iter()
            .filter_map(|t| match t.kind {
                TickKind::Trade(tr) => Some(format!("trade {} {}", tr.trade_id, tr.price)),
                TickKind::Quote(q) => Some(format!("quote {}/{}", q.bid_px, q.ask_px)),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, ["trade 7 100.5", "quote 100/101"]);
        assert_eq!(
            p.on_frame(r#"{"e":"serverShutdown","E":1}"#, 6, &mut out),
            Ok(FrameOutcome::Reconnect("serverShutdown".into()))
        );
    }

    #[tokio::test]
    async fn a_lost_book_tick_resyncs_from_a_new_snapshot_without_reconnecting() {
        let mut p = protocol();
        let got = std::cell::RefCell::new(Vec::new());
        let mut out = |t: Tick| got.borrow_mut().push(t);
        p.on_connect(&mut out);
        p.on_frame(&depth(101, 105), 1, &mut out).expect("data");
        p.on_snapshot(0, Ok(snapshot(103)), &mut out);
        let id = p.books[0].id;
        assert_eq!(p.on_book_tick_lost(id), FrameOutcome::Data);
        assert!(!p.books[0].sync.is_synced());
        let before = got.borrow().len();
        p.on_frame(&depth(106, 107), 2, &mut out).expect("data");
        assert_eq!(got.borrow().len(), before, "buffered, nothing emitted");
        assert!(p.books[0].fetching);
        // An older snapshot is refused (the book stays out of sync), a newer one used.
        p.on_snapshot(0, Ok(snapshot(100)), &mut out);
        assert!(!p.books[0].sync.is_synced());
        p.on_snapshot(0, Ok(snapshot(106)), &mut out);
        assert_eq!(
            describe(&got.borrow()[before..]),
            ["Stale", "snap106", "S", "S", "d107", "d107", "Resynced"]
        );
    }
}
