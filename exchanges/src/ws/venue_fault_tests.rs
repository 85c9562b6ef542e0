//! Websocket-level fault tests of the Bybit v5, OKX v5, Kraken v2 and Coinbase Advanced Trade
//! market data, against the purpose-built test venue (`venue_server`) on 127.0.0.1.
//!
//! Each test drives the real path: `protocols::market_data_protocol` (normalizer + book
//! sequencer) on `ws::run_connection`, with only the URL pointed at the local server. The
//! client's books are rebuilt from the ticks with the core's own `OrderBook`; after the fault
//! the market is frozen and every book must equal the server's true book level by level
//! (same depth window), the last quote its top, the last trade its last print; the status
//! ticks per instrument and the connection counters must be exactly the expected ones, and
//! nothing may panic. Every failure message names the venue and the fault.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crossbeam_channel::Receiver;
use peregrine_engine::book::OrderBook;
use peregrine_engine::tick::{FeedStatus, Quote, Tick, TickKind, Trade};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use rust_decimal::Decimal;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::venue_server::{BookShape, Fault, SymbolSetup, VenueServer};
use super::{run_connection, FeedStats, FeedStatsSnapshot, WsConfig};
use crate::md::channels::Channels;
use crate::protocols::{market_data_protocol, ProtocolOptions};
use crate::venue::{FrameError, FrameOutcome, Heartbeat, Venue, VenueProtocol};

use FeedStatus::{Disconnected, Resynced, Stale};

/// How often the test venue steps its market.
const STEP: Duration = Duration::from_millis(3);
/// Longest wait for any one phase of a case.
const PHASE: Duration = Duration::from_secs(10);

fn d(s: &str) -> Decimal {
    Decimal::from_str_exact(s).expect("a decimal literal")
}

/// A venue's protocol with its URL pointed at the local server; everything else is the
/// protocol's own.
struct Local {
    inner: Box<dyn VenueProtocol>,
    url: String,
}

impl VenueProtocol for Local {
    fn venue(&self) -> Venue {
        self.inner.venue()
    }
    fn url(&self) -> String {
        self.url.clone()
    }
    fn subscribe_messages(&self) -> Vec<String> {
        self.inner.subscribe_messages()
    }
    fn heartbeat(&self) -> Heartbeat {
        self.inner.heartbeat()
    }
    fn max_session(&self) -> Option<Duration> {
        self.inner.max_session()
    }
    fn on_connect(&mut self, out: &mut dyn FnMut(Tick)) {
        self.inner.on_connect(out)
    }
    fn on_disconnect(&mut self, out: &mut dyn FnMut(Tick)) {
        self.inner.on_disconnect(out)
    }
    fn on_frame(
        &mut self,
        frame: &str,
        recv_ns: u64,
        out: &mut dyn FnMut(Tick),
    ) -> Result<FrameOutcome, FrameError> {
        self.inner.on_frame(frame, recv_ns, out)
    }
    fn poll_deferred(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut dyn FnMut(Tick),
    ) -> Poll<FrameOutcome> {
        self.inner.poll_deferred(cx, out)
    }
    fn on_stale(&mut self, out: &mut dyn FnMut(Tick)) {
        self.inner.on_stale(out)
    }
    fn on_book_tick_lost(&mut self, instrument: InstrumentId) -> FrameOutcome {
        self.inner.on_book_tick_lost(instrument)
    }
}

/// One test symbol: canonical name, tick, lot, the venue's spelling and book shape.
struct Sym {
    canonical: &'static str,
    venue_symbol: &'static str,
    center: &'static str,
    tick: &'static str,
    lot: &'static str,
    qty_dp: u32,
}

/// The two symbols of each venue. Kraken's books are deeper than the subscribed 25 levels, so
/// levels fall out of (and come back into) the window.
fn symbols(venue: Venue) -> ([Sym; 2], u32) {
    let s = |canonical, venue_symbol, center, tick, lot, qty_dp| Sym {
        canonical,
        venue_symbol,
        center,
        tick,
        lot,
        qty_dp,
    };
    match venue {
        Venue::Bybit => (
            [
                s("BTC-USDT", "BTCUSDT", "20000.00", "0.01", "0.000001", 3),
                s("ETH-USDT", "ETHUSDT", "1500.00", "0.01", "0.0001", 4),
            ],
            30,
        ),
        Venue::Okx => (
            [
                s("BTC-USDT", "BTC-USDT", "30000.0", "0.1", "0.00000001", 6),
                s("ETH-USDT", "ETH-USDT", "2000.00", "0.01", "0.0001", 2),
            ],
            30,
        ),
        Venue::Kraken => (
            [
                s("BTC-USD", "BTC/USD", "45000.0", "0.1", "0.00000001", 6),
                s("ETH-USD", "ETH/USD", "2500.00", "0.01", "0.00000001", 5),
            ],
            40,
        ),
        Venue::Coinbase | Venue::Binance => (
            [
                s("BTC-USD", "BTC-USD", "21000.00", "0.01", "0.00000001", 6),
                s("ETH-USD", "ETH-USD", "1600.00", "0.01", "0.00000001", 4),
            ],
            30,
        ),
    }
}

/// The client's view of one instrument, rebuilt from its ticks.
#[derive(Debug, Default)]
struct Mirror {
    book: OrderBook,
    snapshots: usize,
    statuses: Vec<FeedStatus>,
    quote: Option<Quote>,
    trade: Option<Trade>,
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
            TickKind::Quote(q) => self.quote = Some(q),
            TickKind::Trade(t) => self.trade = Some(t),
        }
    }

    /// In sync as far as the feed says: a snapshot, and no untrusted status since.
    fn trusted(&self) -> bool {
        self.snapshots > 0 && matches!(self.statuses.last(), None | Some(Resynced))
    }

    fn levels(&self, side: Side) -> Vec<(Decimal, Decimal)> {
        self.book.levels(side).collect()
    }
}

/// What a case must end with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expect {
    /// Status ticks after the first sync, per symbol.
    statuses: [Vec<FeedStatus>; 2],
    /// `(reconnects, resync_requests, malformed, oversized, stale)`.
    counters: (u64, u64, u64, u64, u64),
}

/// The expected outcome of `fault` on `venue`.
fn expect(venue: Venue, fault: Fault) -> Expect {
    let none = || [vec![], vec![]];
    let reconnect = || vec![Disconnected, Resynced];
    let stale = || vec![Stale, Disconnected, Resynced];
    let (statuses, counters) = match fault {
        Fault::Disconnect => ([reconnect(), reconnect()], (1, 0, 0, 0, 0)),
        Fault::Oversized(_) => ([reconnect(), reconnect()], (1, 0, 0, 1, 0)),
        // The watchdog marks every book stale, then the connection is replaced.
        Fault::Stall => ([stale(), stale()], (1, 0, 0, 0, 1)),
        Fault::Malformed => (none(), (0, 0, 1, 0, 0)),
        // Coinbase's only sequence is the connection's: any break in it (a repeat included)
        // makes every book of the connection stale.
        Fault::Gap | Fault::Swap | Fault::Duplicate if venue == Venue::Coinbase => {
            ([stale(), stale()], (1, 1, 0, 0, 0))
        }
        // A repeated update is recognised (Bybit `u`, OKX `seqId`) or idempotent and matches
        // its checksum (Kraken): ignored.
        Fault::Duplicate => (none(), (0, 0, 0, 0, 0)),
        // Only the broken book is stale; the resubscription resyncs both.
        Fault::Gap | Fault::Swap | Fault::BadChecksum => ([stale(), reconnect()], (1, 1, 0, 0, 0)),
    };
    Expect { statuses, counters }
}

struct Case {
    venue: Venue,
    fault: Option<Fault>,
    srv: VenueServer,
    rx: Receiver<Tick>,
    stop: watch::Sender<bool>,
    task: JoinHandle<FeedStatsSnapshot>,
    stats: Arc<FeedStats>,
    mirrors: [Mirror; 2],
}

impl Case {
    /// Starts the test venue and a connection manager on it; `stale_after` is the watchdog.
    async fn start(venue: Venue, fault: Option<Fault>, seed: u64, stale_after: Duration) -> Self {
        Self::start_with(venue, fault, seed, stale_after, None).await
    }

    /// [`Case::start`] subscribing to `channels` (the venue's names) instead of its default.
    async fn start_with(
        venue: Venue,
        fault: Option<Fault>,
        seed: u64,
        stale_after: Duration,
        channels: Option<&[&str]>,
    ) -> Self {
        let (syms, max_ticks) = symbols(venue);
        let mut reg = Instruments::new();
        let mut setups = Vec::new();
        for s in &syms {
            let spec =
                InstrumentSpec::from_canonical(venue.as_str(), s.canonical, d(s.tick), d(s.lot))
                    .expect("a canonical symbol");
            reg.intern(spec);
            setups.push(SymbolSetup {
                shape: BookShape {
                    symbol: s.venue_symbol.to_string(),
                    center: d(s.center),
                    tick: d(s.tick),
                    qty_dp: s.qty_dp,
                    max_ticks,
                },
                price_dp: d(s.tick).scale(),
                qty_dp: d(s.lot).scale(),
            });
        }
        let srv = VenueServer::start(venue, setups, seed, STEP)
            .await
            .expect("the test venue binds 127.0.0.1");
        let options = ProtocolOptions {
            channels: channels.map(|c| {
                let names: Vec<String> = c.iter().map(|s| s.to_string()).collect();
                Channels::parse(venue, &names).expect("valid channels")
            }),
            ..ProtocolOptions::default()
        };
        let inner =
            market_data_protocol(venue, Arc::new(reg), options).expect("a market-data protocol");
        let proto = Local {
            inner,
            url: srv.url().to_string(),
        };
        let cfg = WsConfig {
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            stale_after,
            max_frame_bytes: 64 << 10,
            connect_timeout: Duration::from_secs(2),
            ..WsConfig::default()
        };
        let (tx, rx) = crossbeam_channel::bounded(1 << 16);
        let (stop, stop_rx) = watch::channel(false);
        let stats = Arc::new(FeedStats::default());
        let task = tokio::spawn(run_connection(proto, cfg, tx, stop_rx, stats.clone()));
        Self {
            venue,
            fault,
            srv,
            rx,
            stop,
            task,
            stats,
            mirrors: Default::default(),
        }
    }

    fn drain(&mut self) {
        for t in self.rx.try_iter() {
            if let Some(m) = self.mirrors.get_mut(t.instrument.index()) {
                m.apply(&t);
            }
        }
    }

    /// Waits until `done`, failing with the case's state after [`PHASE`].
    async fn wait_for(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + PHASE;
        loop {
            self.drain();
            if done(self) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "[{} {:?}] timed out waiting for {what}; statuses {:?} / {:?}, stats {:?}, server: {} connections, {} steps",
                self.venue,
                self.fault,
                self.mirrors[0].statuses,
                self.mirrors[1].statuses,
                self.stats.snapshot(),
                self.srv.connections(),
                self.srv.steps()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// True when instrument `i` equals the server's true book level by level, its last quote
    /// is the true top and its last trade the last print.
    fn in_sync(&self, i: usize) -> bool {
        let m = &self.mirrors[i];
        let (bids, asks) = self.srv.view(i);
        let top = match (bids.first(), asks.first()) {
            (Some(b), Some(a)) => Some((*b, *a)),
            _ => None,
        };
        let quote = m
            .quote
            .map(|q| ((q.bid_px, q.bid_qty), (q.ask_px, q.ask_qty)));
        let trade = self.srv.last_trade(i).map(|t| {
            let side = if t.taker_buys { Side::Buy } else { Side::Sell };
            (t.price, t.qty, side, t.id)
        });
        m.trusted()
            && m.levels(Side::Buy) == bids
            && m.levels(Side::Sell) == asks
            && quote == top
            && m.trade.map(|t| (t.price, t.qty, t.side, t.trade_id)) == trade
    }

    /// Fails with the level-by-level difference of instrument `i`.
    fn explain(&self, i: usize) -> String {
        let m = &self.mirrors[i];
        let (bids, asks) = self.srv.view(i);
        let diff = |mine: Vec<(Decimal, Decimal)>, truth: &[(Decimal, Decimal)]| {
            let n = mine.len().max(truth.len());
            (0..n)
                .filter(|&k| mine.get(k) != truth.get(k))
                .map(|k| format!("#{k}: client {:?} true {:?}", mine.get(k), truth.get(k)))
                .take(5)
                .collect::<Vec<_>>()
        };
        format!(
            "symbol {i}: trusted {} statuses {:?}; bids {} vs {} levels {:?}; asks {} vs {} levels {:?}; quote {:?} true top {:?}/{:?}; trade {:?} true {:?}",
            m.trusted(),
            m.statuses,
            m.book.depth().0,
            bids.len(),
            diff(m.levels(Side::Buy), &bids),
            m.book.depth().1,
            asks.len(),
            diff(m.levels(Side::Sell), &asks),
            m.quote,
            bids.first(),
            asks.first(),
            m.trade,
            self.srv.last_trade(i)
        )
    }
}

/// Runs one venue x fault case end to end.
async fn run(venue: Venue, fault: Fault) {
    let tag = format!("[{venue} {fault:?}]");
    let want = expect(venue, fault);
    // Frames flow every few ms; the watchdog is short only where it is the thing under test.
    let stale_after = if fault == Fault::Stall {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(5)
    };
    let mut c = Case::start(venue, Some(fault), 42, stale_after).await;
    // 1. Synced and streaming.
    c.wait_for("the first snapshots and some updates", |c| {
        c.mirrors.iter().all(|m| m.snapshots == 1) && c.srv.steps() >= 30
    })
    .await;
    assert!(
        c.mirrors.iter().all(|m| m.statuses.is_empty()),
        "{tag} no status before the fault: {:?}",
        c.mirrors.iter().map(|m| &m.statuses).collect::<Vec<_>>()
    );
    // 2. The fault, and recovery.
    c.srv.inject(fault);
    c.wait_for("the fault to be played", |c| c.srv.faults_done() == 1)
        .await;
    let reconnects = want.counters.0;
    let after = c.srv.steps();
    c.wait_for("recovery", |c| {
        let s = c.stats.snapshot();
        c.srv.streams() as u64 > reconnects
            && (0..2).all(|i| c.mirrors[i].statuses.len() >= want.statuses[i].len())
            && s.malformed >= want.counters.2
            && c.srv.steps() >= after + 40
    })
    .await;
    // 3. Freeze the market and compare, level by level.
    c.srv.freeze();
    c.wait_for("the market to freeze", |c| c.srv.is_quiet())
        .await;
    let deadline = tokio::time::Instant::now() + PHASE;
    let s = loop {
        c.drain();
        if (0..2).all(|i| c.in_sync(i)) {
            // Counters as of the moment the books matched.
            break c.stats.snapshot();
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "{tag} the client's books never matched the true books:\n{}\n{}\nstats {:?}",
                c.explain(0),
                c.explain(1),
                c.stats.snapshot()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let statuses = [c.mirrors[0].statuses.clone(), c.mirrors[1].statuses.clone()];
    c.stop.send_replace(true);
    let end = tokio::time::timeout(Duration::from_secs(5), c.task)
        .await
        .unwrap_or_else(|_| panic!("{tag} the connection manager stops"));
    assert!(end.is_ok(), "{tag} the connection manager panicked");
    // 4. The right status ticks and counters.
    assert_eq!(statuses, want.statuses, "{tag} status ticks per symbol");
    let got = (
        s.reconnects,
        s.resync_requests,
        s.malformed,
        s.oversized,
        s.stale,
    );
    assert_eq!(
        got, want.counters,
        "{tag} (reconnects, resync_requests, malformed, oversized, stale); {s:?}"
    );
    let resynced = want.statuses.iter().flatten().filter(|s| **s == Resynced);
    assert_eq!(s.resyncs, resynced.count() as u64, "{tag} resyncs; {s:?}");
    assert_eq!(
        (s.dropped, s.venue_errors),
        (0, 0),
        "{tag} nothing dropped, no venue error; {s:?}"
    );
}

macro_rules! fault_tests {
    ($($name:ident: $venue:ident, $fault:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                run(Venue::$venue, $fault).await;
            }
        )*
    };
}

/// An oversized frame: four times the test's 64 KiB limit.
const BIG: Fault = Fault::Oversized(256 << 10);

fault_tests! {
    bybit_disconnect_mid_stream: Bybit, Fault::Disconnect;
    bybit_sequence_gap: Bybit, Fault::Gap;
    bybit_duplicate_update: Bybit, Fault::Duplicate;
    bybit_out_of_order_updates: Bybit, Fault::Swap;
    bybit_malformed_json: Bybit, Fault::Malformed;
    bybit_oversized_frame: Bybit, BIG;
    bybit_silent_stall: Bybit, Fault::Stall;

    okx_disconnect_mid_stream: Okx, Fault::Disconnect;
    okx_sequence_gap: Okx, Fault::Gap;
    okx_duplicate_update: Okx, Fault::Duplicate;
    okx_out_of_order_updates: Okx, Fault::Swap;
    okx_bad_checksum: Okx, Fault::BadChecksum;
    okx_malformed_json: Okx, Fault::Malformed;
    okx_oversized_frame: Okx, BIG;
    okx_silent_stall: Okx, Fault::Stall;

    kraken_disconnect_mid_stream: Kraken, Fault::Disconnect;
    kraken_lost_update: Kraken, Fault::Gap;
    kraken_duplicate_update: Kraken, Fault::Duplicate;
    kraken_out_of_order_updates: Kraken, Fault::Swap;
    kraken_bad_checksum: Kraken, Fault::BadChecksum;
    kraken_malformed_json: Kraken, Fault::Malformed;
    kraken_oversized_frame: Kraken, BIG;
    kraken_silent_stall: Kraken, Fault::Stall;

    coinbase_disconnect_mid_stream: Coinbase, Fault::Disconnect;
    coinbase_sequence_gap: Coinbase, Fault::Gap;
    coinbase_duplicate_update: Coinbase, Fault::Duplicate;
    coinbase_out_of_order_updates: Coinbase, Fault::Swap;
    coinbase_malformed_json: Coinbase, Fault::Malformed;
    coinbase_oversized_frame: Coinbase, BIG;
    coinbase_silent_stall: Coinbase, Fault::Stall;
}

/// Without faults, a longer run keeps every venue's book equal to the true book (the test
/// venue itself is sound: no spurious status, no resync).
#[tokio::test]
async fn every_venue_stays_in_sync_without_faults() {
    for venue in [Venue::Bybit, Venue::Okx, Venue::Kraken, Venue::Coinbase] {
        in_sync_without_faults(venue, None).await;
    }
}

/// Every OKX book and quote channel over a live socket: `books5` (a 5-level snapshot every
/// push: the book is replaced each time without a status), the tick-by-tick `books50-l2-tbt`
/// and `books-l2-tbt`, `tickers` alone as the quote source or next to `bbo-tbt`. The client's
/// book must equal the venue's (its depth window) and its last quote the true top.
#[tokio::test]
async fn okx_channels_stay_in_sync_over_a_live_socket() {
    for channels in [
        &["trades", "books5", "tickers"][..],
        &["trades", "books50-l2-tbt", "tickers"],
        &["trades", "books-l2-tbt", "bbo-tbt", "tickers"],
    ] {
        let snapshots = in_sync_without_faults(Venue::Okx, Some(channels)).await;
        if channels.contains(&"books5") {
            assert!(
                snapshots.iter().all(|&n| n > 10),
                "{channels:?}: books5 replaces the book on every push: {snapshots:?}"
            );
        } else {
            assert_eq!(
                snapshots,
                [1, 1],
                "{channels:?}: one snapshot, then updates"
            );
        }
    }
}

/// Bybit's `tickers` over a live socket, alone as the quote source and next to `orderbook.1`:
/// the linear snapshot, then deltas carrying only the changed best bid/offer fields, merged
/// into a full quote that must end equal to the true top.
#[tokio::test]
async fn bybit_tickers_stay_in_sync_over_a_live_socket() {
    for channels in [
        &["publicTrade", "orderbook.50", "tickers"][..],
        &["publicTrade", "orderbook.50", "orderbook.1", "tickers"],
    ] {
        let snapshots = in_sync_without_faults(Venue::Bybit, Some(channels)).await;
        assert_eq!(
            snapshots,
            [1, 1],
            "{channels:?}: one snapshot, then updates"
        );
    }
}

/// Runs `venue` (subscribing to `channels`, else its default) for 300 steps without faults,
/// freezes it, and checks every book, quote and trade against the truth, with no status and
/// no resync. Returns the snapshots each instrument received.
async fn in_sync_without_faults(venue: Venue, channels: Option<&[&str]>) -> [usize; 2] {
    let tag = format!("[{venue} no fault, channels {channels:?}]");
    let mut c = Case::start_with(venue, None, 7, Duration::from_secs(5), channels).await;
    c.wait_for("300 steps", |c| c.srv.steps() >= 300).await;
    c.srv.freeze();
    c.wait_for("the market to freeze", |c| c.srv.is_quiet())
        .await;
    let deadline = tokio::time::Instant::now() + PHASE;
    while !(0..2).all(|i| c.in_sync(i)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{tag}\n{}\n{}",
            c.explain(0),
            c.explain(1)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        c.drain();
    }
    let s = c.stats.snapshot();
    assert_eq!(
        (
            s.reconnects,
            s.resync_requests,
            s.malformed,
            s.stale,
            s.dropped,
            s.venue_errors
        ),
        (0, 0, 0, 0, 0, 0),
        "{tag} {s:?}"
    );
    assert!(
        c.mirrors.iter().all(|m| m.statuses.is_empty()),
        "{tag} {:?}",
        c.mirrors.iter().map(|m| &m.statuses).collect::<Vec<_>>()
    );
    c.stop.send_replace(true);
    let _ = c.task.await;
    [c.mirrors[0].snapshots, c.mirrors[1].snapshots]
}
