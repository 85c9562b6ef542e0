//! Fault tests of the connection manager and the Binance feed against the simulator on
//! 127.0.0.1: every fault ends with the client's book equal, level by level, to the
//! simulator's true book, with the right status ticks and counters, and no panic.
//! The manager's venue-independent paths (resubscribe, text heartbeats, acks and error
//! replies, `Resync`) are tested against a small purpose-built server at the end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Receiver;
use peregrine_engine::book::OrderBook;
use peregrine_engine::tick::{BookDelta, FeedStatus, Quote, Tick, TickKind};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{run_connection, FeedStats, FeedStatsSnapshot, FrameTap, WsConfig};
use crate::binance::feed::{run_feed_with_stats, FeedConfig};
use crate::md::channels::Channels;
use crate::sim::{self, Fault, SimConfig, SimHandle};
use crate::venue::{FrameError, FrameOutcome, Heartbeat, Venue, VenueProtocol};

use FeedStatus::{Connected, Disconnected, Resynced, Stale};

fn registry() -> Arc<Instruments> {
    let mut r = Instruments::new();
    r.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001)).unwrap(),
    );
    Arc::new(r)
}

/// One side of a book: `(price, qty)` levels, best first.
type Levels = Vec<(Decimal, Decimal)>;

/// The client's view of the book, rebuilt from the ticks with the core's own [`OrderBook`].
#[derive(Default, Debug)]
struct Mirror {
    book: OrderBook,
    snapshots: usize,
    statuses: Vec<FeedStatus>,
    trades: usize,
    last_quote: Option<Quote>,
}

impl Mirror {
    fn apply(&mut self, t: &Tick) {
        match t.kind {
            TickKind::BookSnapshot { seq } => {
                self.book.clear(seq);
                self.snapshots += 1;
            }
            TickKind::BookDelta(d) => self.book.apply(&d),
            TickKind::Status(s) => self.statuses.push(s),
            TickKind::Trade(_) => self.trades += 1,
            TickKind::Quote(q) => self.last_quote = Some(q),
        }
    }

    fn levels(&self) -> (Levels, Levels) {
        (
            self.book.levels(Side::Buy).collect(),
            self.book.levels(Side::Sell).collect(),
        )
    }
}

struct Harness {
    sim: SimHandle,
    rx: Receiver<Tick>,
    stop: watch::Sender<bool>,
    task: JoinHandle<FeedStatsSnapshot>,
    stats: Arc<FeedStats>,
    mirror: Mirror,
}

async fn start(tune: impl FnOnce(&mut FeedConfig)) -> Harness {
    let sim = sim::spawn(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut cfg = FeedConfig::new(sim.ws_base_url(), sim.rest_base_url());
    cfg.reconnect_min = Duration::from_millis(20);
    cfg.reconnect_max = Duration::from_millis(100);
    cfg.refetch_delay = Duration::from_millis(20);
    tune(&mut cfg);
    let (tx, rx) = crossbeam_channel::bounded(1 << 16);
    let (stop, stop_rx) = watch::channel(false);
    let stats = Arc::new(FeedStats::default());
    let task = tokio::spawn(run_feed_with_stats(
        cfg,
        registry(),
        tx,
        stop_rx,
        stats.clone(),
    ));
    let mut h = Harness {
        sim,
        rx,
        stop,
        task,
        stats,
        mirror: Mirror::default(),
    };
    h.wait_for("the first snapshot", |h| {
        h.mirror.snapshots >= 1 && h.sim.md_connections() == 1
    })
    .await;
    h
}

impl Harness {
    fn drain(&mut self) {
        for t in self.rx.try_iter() {
            self.mirror.apply(&t);
        }
    }

    async fn wait_for(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            self.drain();
            if done(self) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; statuses {:?}, stats {:?}",
                self.mirror.statuses,
                self.stats.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Lets the market run, pauses it, and waits until the client's book is the simulator's
    /// true book, level by level. Returns the statuses seen up to then.
    async fn settle(&mut self, run_for: Duration) -> Vec<FeedStatus> {
        self.settle_top(run_for, 5000).await
    }

    /// [`Harness::settle`] against the simulator's top `levels` levels per side (partial
    /// depth shows no more).
    async fn settle_top(&mut self, run_for: Duration, levels: usize) -> Vec<FeedStatus> {
        tokio::time::sleep(run_for).await;
        self.sim.pause_market();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            self.drain();
            let (id, bids, asks) = self.sim.book("BTCUSDT", levels).unwrap();
            let (my_bids, my_asks) = self.mirror.levels();
            let trusted = matches!(self.mirror.statuses.last(), Some(Connected | Resynced));
            if trusted && self.mirror.book.seq == id && my_bids == bids && my_asks == asks {
                assert!(
                    bids.len() >= levels.min(10) && asks.len() >= levels.min(10),
                    "a real two-sided book"
                );
                return self.mirror.statuses.clone();
            }
            if tokio::time::Instant::now() >= deadline {
                // Fails with the level-by-level difference.
                assert_eq!(
                    self.mirror.book.seq, id,
                    "update id; statuses {:?}",
                    self.mirror.statuses
                );
                assert_eq!(my_bids, bids, "bids");
                assert_eq!(my_asks, asks, "asks");
                panic!("book equal but not trusted: {:?}", self.mirror.statuses);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> FeedStatsSnapshot {
        self.stop.send_replace(true);
        let s = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the feed stops")
            .expect("the feed task does not panic");
        self.sim.shutdown().await;
        s
    }
}

/// Starts a synced feed, injects `fault`, lets the market run for `run_for`, then checks the
/// book against the simulator's and the statuses against `expected`; returns the counters.
async fn fault_case(
    tune: impl FnOnce(&mut FeedConfig),
    fault: Fault,
    run_for: Duration,
    expected: &[FeedStatus],
) -> FeedStatsSnapshot {
    let mut h = start(tune).await;
    assert_eq!(h.sim.inject(fault), 1, "one market-data connection");
    let statuses = h.settle(run_for).await;
    assert_eq!(statuses, expected);
    let s = h.stop().await;
    assert_eq!(s.dropped, 0, "{s:?}");
    s
}

const RUN: Duration = Duration::from_millis(600);

/// Every Binance market stream over a live socket to the simulator, in the sets a user picks
/// with `[venue] channels`: trades from `trade` or `aggTrade`, quotes from `bookTicker`, the
/// book from the diff stream (`depth` at 1000 ms) or from partial depth (`depth5/10/20`, at
/// 1000 ms or `@100ms`), whose every push replaces the top levels. The book ends equal to the
/// simulator's (its top N for partial depth) with no resync, trades arrive, and the last quote
/// is the true top.
#[tokio::test]
async fn every_binance_channel_set_decodes_over_the_simulator() {
    for (names, levels) in [
        (&["aggTrade", "bookTicker", "depth"][..], 5000),
        (&["trade", "bookTicker", "depth5"], 5),
        (&["aggTrade", "depth10@100ms"], 10),
        (&["trade", "depth20@100ms"], 20),
    ] {
        let list: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let channels = Channels::parse(Venue::Binance, &list).expect("valid channels");
        let mut h = start(|c| c.channels = Some(channels)).await;
        let statuses = h.settle_top(Duration::from_millis(1500), levels).await;
        assert_eq!(statuses, [Connected], "{names:?}");
        assert!(h.mirror.trades > 0, "{names:?}: trades arrive");
        if names.contains(&"bookTicker") {
            let (_, bids, asks) = h.sim.book("BTCUSDT", 1).unwrap();
            h.wait_for("the last quote to be the true top", |h| {
                h.mirror.last_quote.is_some_and(|q| {
                    (q.bid_px, q.bid_qty, q.ask_px, q.ask_qty)
                        == (bids[0].0, bids[0].1, asks[0].0, asks[0].1)
                })
            })
            .await;
        } else {
            assert!(h.mirror.last_quote.is_none(), "{names:?}: no quote stream");
        }
        if levels < 5000 {
            assert!(
                h.mirror.snapshots > 1,
                "{names:?}: partial depth replaces the book on each push"
            );
        }
        let s = h.stop().await;
        assert_eq!(
            (s.resync_requests, s.malformed, s.dropped),
            (0, 0, 0),
            "{names:?} {s:?}"
        );
    }
}

#[tokio::test]
async fn disconnect_mid_stream_reconnects_and_resyncs() {
    let expected = [Connected, Disconnected, Connected, Resynced];
    let s = fault_case(|_| {}, Fault::Disconnect, RUN, &expected).await;
    assert_eq!(
        (s.reconnects, s.stale, s.malformed, s.oversized),
        (1, 0, 0, 0),
        "{s:?}"
    );
}

#[tokio::test]
async fn sequence_gap_marks_stale_and_resyncs_without_reconnecting() {
    let s = fault_case(|_| {}, Fault::SkipDepth, RUN, &[Connected, Stale, Resynced]).await;
    assert_eq!((s.reconnects, s.resyncs, s.malformed), (0, 1, 0), "{s:?}");
}

#[tokio::test]
async fn duplicate_update_is_ignored() {
    // A duplicate is no gap: no status, no resync.
    let s = fault_case(|_| {}, Fault::DuplicateDepth, RUN, &[Connected]).await;
    assert_eq!((s.reconnects, s.resyncs, s.malformed), (0, 0, 0), "{s:?}");
}

#[tokio::test]
async fn out_of_order_updates_resync_and_the_late_one_is_ignored() {
    let s = fault_case(
        |_| {},
        Fault::ReorderDepth,
        RUN,
        &[Connected, Stale, Resynced],
    )
    .await;
    assert_eq!((s.reconnects, s.resyncs, s.malformed), (0, 1, 0), "{s:?}");
}

#[tokio::test]
async fn malformed_json_is_counted_and_skipped() {
    let s = fault_case(|_| {}, Fault::Malformed, RUN, &[Connected]).await;
    assert_eq!((s.malformed, s.reconnects, s.resyncs), (1, 0, 0), "{s:?}");
    // Counted under its reason too, and only there.
    assert_eq!(s.rejected(crate::md::Reason::Malformed), 1, "{s:?}");
    assert_eq!(s.rejected.iter().sum::<u64>(), 1, "{s:?}");
}

#[tokio::test]
async fn oversized_frame_is_an_error_and_a_reconnect() {
    let expected = [Connected, Disconnected, Connected, Resynced];
    let tune = |c: &mut FeedConfig| c.max_frame_bytes = 64 << 10;
    let s = fault_case(tune, Fault::Oversized(256 << 10), RUN, &expected).await;
    assert_eq!((s.oversized, s.reconnects, s.malformed), (1, 1, 0), "{s:?}");
}

#[tokio::test]
async fn server_shutdown_notice_replaces_the_connection_at_once() {
    let expected = [Connected, Disconnected, Connected, Resynced];
    let s = fault_case(|_| {}, Fault::ServerShutdown, RUN, &expected).await;
    assert_eq!((s.scheduled, s.reconnects, s.malformed), (1, 1, 0), "{s:?}");
}

#[tokio::test]
async fn silent_stall_trips_the_watchdog() {
    let mut h = start(|c| c.idle_timeout = Duration::from_millis(1500)).await;
    assert_eq!(h.sim.inject(Fault::Stall), 1);
    h.wait_for("the watchdog", |h| h.mirror.statuses.contains(&Stale))
        .await;
    let statuses = h.settle(Duration::from_millis(300)).await;
    assert_eq!(
        statuses,
        [Connected, Stale, Disconnected, Connected, Resynced]
    );
    let s = h.stop().await;
    assert_eq!((s.stale, s.reconnects, s.scheduled), (1, 1, 0), "{s:?}");
}

#[tokio::test]
async fn scheduled_reconnect_before_the_session_limit() {
    let mut h = start(|c| c.max_session = Some(Duration::from_millis(1200))).await;
    let statuses = h.settle(Duration::from_millis(2000)).await;
    let (first, rest) = statuses.split_first().unwrap();
    assert_eq!(*first, Connected);
    assert!(!rest.is_empty() && rest.len() % 3 == 0, "{statuses:?}");
    for cycle in rest.chunks(3) {
        assert_eq!(cycle, [Disconnected, Connected, Resynced], "{statuses:?}");
    }
    let k = (rest.len() / 3) as u64;
    let s = h.stop().await;
    assert!(s.scheduled >= k && s.reconnects == s.scheduled, "{s:?}");
    assert_eq!((s.stale, s.malformed, s.oversized), (0, 0, 0), "{s:?}");
}

#[tokio::test]
async fn raw_tap_sees_every_text_frame() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tap_seen = seen.clone();
    let tap = FrameTap(Arc::new(move |venue: Venue, ts: u64, frame: &str| {
        tap_seen
            .lock()
            .unwrap()
            .push((venue, ts, frame.to_string()));
    }));
    let mut h = start(|c| c.tap = Some(tap)).await;
    h.settle(Duration::from_millis(300)).await;
    let s = h.stop().await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len() as u64, s.frames);
    assert!(seen.iter().all(|(v, ts, f)| *v == Venue::Binance
        && *ts > 0
        && f.starts_with(r#"{"stream":"btcusdt@"#)));
}

// ---------------------------------------------------------------------------------------------
// Venue-independent paths, against a purpose-built server.

/// A line protocol: the server expects `SUB` and answers `ACK`; data frames are `N <seq>`;
/// `ERR <text>` is a venue error; a gap in `<seq>` asks for a resync.
struct SeqProtocol {
    url: String,
    last: Option<u64>,
}

impl VenueProtocol for SeqProtocol {
    fn venue(&self) -> Venue {
        Venue::Okx
    }
    fn url(&self) -> String {
        self.url.clone()
    }
    fn subscribe_messages(&self) -> Vec<String> {
        vec!["SUB".into()]
    }
    fn heartbeat(&self) -> Heartbeat {
        Heartbeat::Text {
            every: Duration::from_millis(50),
            payload: "ping".into(),
        }
    }
    fn on_connect(&mut self, out: &mut dyn FnMut(Tick)) {
        self.last = None;
        out(status(Connected));
    }
    fn on_disconnect(&mut self, out: &mut dyn FnMut(Tick)) {
        out(status(Disconnected));
    }
    fn on_frame(
        &mut self,
        frame: &str,
        _recv_ns: u64,
        out: &mut dyn FnMut(Tick),
    ) -> Result<FrameOutcome, FrameError> {
        if frame == "ACK" || frame == "pong" {
            return Ok(FrameOutcome::Control);
        }
        if let Some(e) = frame.strip_prefix("ERR ") {
            return Ok(FrameOutcome::VenueError(e.to_string()));
        }
        let seq: u64 = frame
            .strip_prefix("N ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| FrameError::malformed(format!("not a data frame: {frame:?}")))?;
        if let Some(last) = self.last {
            if seq != last + 1 {
                out(status(Stale));
                return Ok(FrameOutcome::Resync(format!("gap {last} -> {seq}")));
            }
        }
        self.last = Some(seq);
        out(Tick {
            kind: TickKind::BookDelta(BookDelta {
                side: Side::Buy,
                price: Decimal::from(seq),
                qty: Decimal::ONE,
                seq,
                flags: BookDelta::END_OF_BATCH,
            }),
            ..status(Connected)
        });
        Ok(FrameOutcome::Data)
    }
}

fn status(s: FeedStatus) -> Tick {
    Tick {
        instrument: InstrumentId(0),
        exch_ts_ns: 0,
        recv_ns: 1,
        kind: TickKind::Status(s),
    }
}

/// The server side: the n-th connection plays `scripts[n]` (none: it stays quiet).
struct SeqSrv {
    scripts: Vec<Vec<&'static str>>,
    connections: AtomicUsize,
    subs: AtomicUsize,
    pings: AtomicUsize,
}

/// Serves `scripts` on 127.0.0.1; returns the server state and the protocol for it.
async fn seq_server(scripts: Vec<Vec<&'static str>>) -> (Arc<SeqSrv>, SeqProtocol) {
    use axum::extract::{State, WebSocketUpgrade};
    let srv = Arc::new(SeqSrv {
        scripts,
        connections: AtomicUsize::new(0),
        subs: AtomicUsize::new(0),
        pings: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .route(
            "/ws",
            axum::routing::get(
                |ws: WebSocketUpgrade, State(s): State<Arc<SeqSrv>>| async move {
                    ws.on_upgrade(move |socket| seq_conn(socket, s))
                },
            ),
        )
        .with_state(srv.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let proto = SeqProtocol {
        url: format!("ws://{addr}/ws"),
        last: None,
    };
    (srv, proto)
}

async fn seq_conn(mut socket: axum::extract::ws::WebSocket, s: Arc<SeqSrv>) {
    use axum::extract::ws::Message;
    let n = s.connections.fetch_add(1, Ordering::SeqCst);
    // Wait for the subscription before sending anything.
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "SUB" => break,
            Some(Ok(_)) => continue,
            _ => return,
        }
    }
    s.subs.fetch_add(1, Ordering::SeqCst);
    for f in s.scripts.get(n).cloned().unwrap_or_default() {
        if socket.send(Message::Text(f.into())).await.is_err() {
            return;
        }
    }
    // Stay open, answering text pings, until the client goes.
    while let Some(Ok(m)) = socket.recv().await {
        if let Message::Text(t) = m {
            if t.as_str() == "ping" {
                s.pings.fetch_add(1, Ordering::SeqCst);
                let _ = socket.send(Message::Text("pong".into())).await;
            }
        }
    }
}

/// A running manager over `proto`: its tick queue, stop switch, counters and task.
struct Running {
    rx: Receiver<Tick>,
    stop: watch::Sender<bool>,
    stats: Arc<FeedStats>,
    task: JoinHandle<FeedStatsSnapshot>,
}

fn spawn_manager(proto: SeqProtocol, backoff: (u64, u64), queue: usize) -> Running {
    let cfg = WsConfig {
        backoff_min: Duration::from_millis(backoff.0),
        backoff_max: Duration::from_millis(backoff.1),
        ..WsConfig::default()
    };
    let (tx, rx) = crossbeam_channel::bounded(queue);
    let (stop, stop_rx) = watch::channel(false);
    let stats = Arc::new(FeedStats::default());
    let task = tokio::spawn(run_connection(proto, cfg, tx, stop_rx, stats.clone()));
    Running {
        rx,
        stop,
        stats,
        task,
    }
}

impl Running {
    async fn stop(self) -> FeedStatsSnapshot {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the manager stops")
            .expect("the manager does not panic")
    }
}

#[tokio::test]
async fn manager_resubscribes_heartbeats_counts_acks_errors_and_resyncs() {
    let (srv, proto) = seq_server(vec![
        vec!["ACK", "N 1", "N 2", "ERR channel refused", "bogus", "N 4"],
        vec!["ACK", "N 10", "N 11"],
    ])
    .await;
    let m = spawn_manager(proto, (10, 50), 1024);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while srv.subs.load(Ordering::SeqCst) < 2 || m.stats.snapshot().control < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            m.stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rx = m.rx.clone();
    let s = m.stop().await;
    let statuses: Vec<FeedStatus> = rx
        .try_iter()
        .filter_map(|t| match t.kind {
            TickKind::Status(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [Connected, Stale, Disconnected, Connected, Disconnected]
    );
    assert_eq!(
        srv.connections.load(Ordering::SeqCst),
        2,
        "resubscribed once"
    );
    assert_eq!(s.venue_errors, 1, "{s:?}");
    assert_eq!(s.malformed, 1, "{s:?}");
    assert_eq!(s.resync_requests, 1, "{s:?}");
    assert_eq!(s.reconnects, 1, "{s:?}");
    assert!(s.control >= 2 + 2, "two acks and the pongs: {s:?}");
    assert!(
        srv.pings.load(Ordering::SeqCst) >= 2,
        "text heartbeats sent"
    );
}

#[tokio::test]
async fn a_lost_book_tick_resubscribes_by_default_and_the_hole_is_never_hidden() {
    let (srv, proto) = seq_server(vec![
        vec!["ACK", "N 1", "N 2", "N 3", "N 4", "N 5"],
        vec!["ACK", "N 10", "N 11"],
    ])
    .await;
    // Room for `Connected` and two deltas: delta 3 is lost and the manager resubscribes
    // before 4 and 5 are read.
    let m = spawn_manager(proto, (300, 300), 3);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while m.stats.snapshot().resync_requests == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            m.stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut got: Vec<String> = Vec::new();
    while !got.iter().any(|g| g == "d11") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{got:?} {:?}",
            m.stats.snapshot()
        );
        got.extend(m.rx.try_iter().map(|t| match t.kind {
            TickKind::BookDelta(d) => format!("d{}", d.seq),
            TickKind::Status(s) => format!("{s:?}"),
            _ => "other".into(),
        }));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let s = m.stop().await;
    // The owed `Stale` goes out first if the queue had room by the time the connection was
    // dropped; otherwise the later `Disconnected` (also untrusted) takes its place.
    let with_stale = [
        "Connected",
        "d1",
        "d2",
        "Stale",
        "Disconnected",
        "Connected",
        "d10",
        "d11",
    ];
    let without = [
        "Connected",
        "d1",
        "d2",
        "Disconnected",
        "Connected",
        "d10",
        "d11",
    ];
    assert!(got == with_stale || got == without, "{got:?}");
    assert_eq!(srv.subs.load(Ordering::SeqCst), 2, "resubscribed");
    assert_eq!((s.resync_requests, s.reconnects), (1, 1), "{s:?}");
    // Delta 3, and the `Disconnected` when it found the queue still full.
    let lost = if got == with_stale { 1 } else { 2 };
    assert_eq!(s.dropped, lost, "{s:?}");
}
