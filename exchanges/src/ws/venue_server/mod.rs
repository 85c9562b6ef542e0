//! A purpose-built local venue websocket server for the venue fault tests
//! (`ws/venue_fault_tests.rs`): it speaks Bybit v5, OKX v5, Kraken v2 or Coinbase Advanced
//! Trade market data on 127.0.0.1, keeps a TRUE book per symbol (exact decimals, evolved by
//! seeded random level changes), and injects scripted faults into the current connection.
//!
//! Per connection: it acks the client's subscriptions, sends a book snapshot (and BBO) of every
//! symbol once the book channel is subscribed, then one incremental update every few
//! milliseconds with the venue's sequence fields and checksums, BBO when the top changes,
//! trades now and then and, for Kraken and Coinbase, server heartbeats. The newest
//! connection drives the market; an older one that is still open stops at its next step, so a
//! book change is never sent to a connection nobody reads.
//!
//! [`VenueServer::freeze`] stops the market: the server prints one last trade per symbol and
//! then only sends heartbeats, so the test can compare the client's book with
//! [`VenueServer::view`], level by level.

mod market;
mod wire;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use peregrine_engine::types::Side;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use crate::venue::Venue;
pub(crate) use market::{BookShape, Levels};
use market::{Diff, TrueBook};
pub(crate) use wire::TradeRec;
use wire::{Encoder, SeqState, SymWire};

/// A fault the server plays on the current connection at its next step. Book faults hit
/// symbol 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Drop the connection (no close frame).
    Disconnect,
    /// Change the best bid, don't send that update (its sequence id is used up), then
    /// change the best ask and send that.
    Gap,
    /// Change the best bid and send the update twice.
    Duplicate,
    /// Change the best bid, then the best ask; send the second update first.
    Swap,
    /// Change the best bid and send the update with a wrong checksum (OKX, Kraken).
    BadChecksum,
    /// Send a frame that is not valid JSON (no sequence number is used up).
    Malformed,
    /// Send a valid text frame of this many bytes.
    Oversized(usize),
    /// Stop sending anything (no data, heartbeats or pongs), keeping the socket open.
    Stall,
}

/// One symbol of the test venue.
#[derive(Debug, Clone)]
pub(crate) struct SymbolSetup {
    /// How the book looks and moves.
    pub shape: BookShape,
    /// Kraken price precision (decimal places).
    pub price_dp: u32,
    /// Kraken quantity precision.
    pub qty_dp: u32,
}

#[derive(Debug)]
struct Market {
    rng: ChaCha8Rng,
    books: Vec<TrueBook>,
    seqs: Vec<SeqState>,
    last_trade: Vec<Option<TradeRec>>,
    next_trade_id: u64,
    /// Bumped by each connection that starts streaming; only the newest one steps.
    generation: u64,
    /// Depth of the book the current connection subscribed to (Kraken), else everything.
    depth: usize,
    /// Symbols (indices) the current connection subscribed to.
    subscribed: Vec<usize>,
    pending: VecDeque<Fault>,
    faults_done: usize,
    frozen: bool,
    /// The closing prints of the current freeze were sent.
    quiet: bool,
    steps: u64,
}

#[derive(Debug)]
struct Shared {
    venue: Venue,
    syms: Vec<SymWire>,
    market: Mutex<Market>,
    connections: AtomicUsize,
    streams: AtomicUsize,
    step_every: Duration,
}

impl Shared {
    fn market(&self) -> MutexGuard<'_, Market> {
        // A panicking test thread poisons nothing we cannot read.
        self.market.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running test venue on 127.0.0.1.
#[derive(Debug, Clone)]
pub(crate) struct VenueServer {
    shared: Arc<Shared>,
    url: String,
}

/// What the connection task does next.
enum Out {
    Text(String),
    Drop,
    Stall,
}

impl VenueServer {
    /// Serves `venue` with `symbols` on an ephemeral port of 127.0.0.1; the market is seeded
    /// with `seed` and steps every `step_every`.
    pub async fn start(
        venue: Venue,
        symbols: Vec<SymbolSetup>,
        seed: u64,
        step_every: Duration,
    ) -> std::io::Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let books: Vec<TrueBook> = symbols
            .iter()
            .map(|s| TrueBook::new(s.shape.clone(), &mut rng))
            .collect();
        let syms = symbols
            .iter()
            .map(|s| SymWire {
                symbol: s.shape.symbol.clone(),
                price_dp: s.price_dp,
                qty_dp: s.qty_dp,
            })
            .collect();
        let n = books.len();
        let shared = Arc::new(Shared {
            venue,
            syms,
            market: Mutex::new(Market {
                rng,
                books,
                seqs: vec![SeqState::default(); n],
                last_trade: vec![None; n],
                next_trade_id: 130_639_474,
                generation: 0,
                depth: usize::MAX,
                subscribed: Vec::new(),
                pending: VecDeque::new(),
                faults_done: 0,
                frozen: false,
                quiet: false,
                steps: 0,
            }),
            connections: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            step_every,
        });
        let app = axum::Router::new()
            .route(
                "/ws",
                axum::routing::get(
                    |ws: WebSocketUpgrade, State(s): State<Arc<Shared>>| async move {
                        ws.on_upgrade(move |socket| serve(socket, s))
                    },
                ),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}/ws", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { shared, url })
    }

    /// The websocket URL (`ws://127.0.0.1:<port>/ws`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Connections that subscribed and got their snapshots.
    pub fn streams(&self) -> usize {
        self.shared.streams.load(Ordering::SeqCst)
    }

    /// Book steps taken so far.
    pub fn steps(&self) -> u64 {
        self.shared.market().steps
    }

    /// Queues `fault` for the current connection's next step.
    pub fn inject(&self, fault: Fault) {
        self.shared.market().pending.push_back(fault);
    }

    /// Faults played so far.
    pub fn faults_done(&self) -> usize {
        self.shared.market().faults_done
    }

    /// Stops the market; the current connection then prints one last trade per symbol.
    pub fn freeze(&self) {
        let mut m = self.shared.market();
        m.frozen = true;
        m.quiet = false;
    }

    /// True once frozen and the closing prints were sent.
    pub fn is_quiet(&self) -> bool {
        let m = self.shared.market();
        m.frozen && m.quiet
    }

    /// The true book of symbol `i` as the venue shows it (its subscribed depth window):
    /// bids best first, asks best first.
    pub fn view(&self, i: usize) -> (Levels, Levels) {
        let m = self.shared.market();
        (m.books[i].bids(m.depth), m.books[i].asks(m.depth))
    }

    /// The last trade printed for symbol `i`.
    pub fn last_trade(&self, i: usize) -> Option<TradeRec> {
        self.shared.market().last_trade[i]
    }
}

async fn send(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

/// One client connection.
async fn serve(mut socket: WebSocket, s: Arc<Shared>) {
    s.connections.fetch_add(1, Ordering::SeqCst);
    let mut enc = Encoder::new(s.venue, s.syms.clone());
    // Subscriptions: ack each request until the book channel is subscribed.
    let (symbols, depth) = loop {
        let text = match tokio::time::timeout(Duration::from_secs(5), socket.recv()).await {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
            _ => return,
        };
        let reply = match enc.on_client(text.as_str()) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "test venue: bad client request");
                return;
            }
        };
        for f in reply.frames {
            if !send(&mut socket, f).await {
                return;
            }
        }
        if let Some(book) = reply.book {
            break book;
        }
    };
    let (gen, first) = {
        let mut m = s.market();
        m.generation += 1;
        m.depth = depth.unwrap_or(usize::MAX);
        m.subscribed = (0..s.syms.len())
            .filter(|&i| symbols.iter().any(|x| *x == s.syms[i].symbol))
            .collect();
        let frames = snapshots(&mut m, &mut enc);
        (m.generation, frames)
    };
    for f in first {
        if !send(&mut socket, f).await {
            return;
        }
    }
    s.streams.fetch_add(1, Ordering::SeqCst);
    let mut tick = tokio::time::interval(s.step_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stalled = false;
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) if !stalled => {
                    // Pings (a late subscription would be acked too).
                    if let Ok(r) = enc.on_client(t.as_str()) {
                        for f in r.frames {
                            if !send(&mut socket, f).await {
                                return;
                            }
                        }
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            _ = tick.tick() => {
                ticks += 1;
                let outs = {
                    let mut m = s.market();
                    if m.generation != gen {
                        return;
                    }
                    if stalled {
                        continue;
                    }
                    step(&mut m, &mut enc, ticks)
                };
                for out in outs {
                    match out {
                        Out::Text(f) => {
                            if !send(&mut socket, f).await {
                                return;
                            }
                        }
                        Out::Drop => return,
                        Out::Stall => stalled = true,
                    }
                }
            }
        }
    }
}

/// Book snapshot and BBO of every subscribed symbol.
fn snapshots(m: &mut Market, enc: &mut Encoder) -> Vec<String> {
    let mut out = Vec::new();
    let depth = m.depth;
    for i in m.subscribed.clone() {
        let (bids, asks) = (m.books[i].bids(depth), m.books[i].asks(depth));
        let Market { seqs, rng, .. } = &mut *m;
        out.push(enc.book(
            i,
            &mut seqs[i],
            rng,
            true,
            &bids,
            &asks,
            (&bids, &asks),
            false,
        ));
        if let Some((b, a)) = m.books[i].top() {
            out.extend(enc.bbo(i, &m.seqs[i], b, a));
        }
    }
    out
}

/// Applies `change` to symbol `i`'s book and encodes the venue's update for it.
fn update(
    m: &mut Market,
    enc: &mut Encoder,
    i: usize,
    corrupt: bool,
    change: impl FnOnce(&mut TrueBook, &mut ChaCha8Rng),
) -> String {
    let depth = m.depth;
    let kraken = enc.venue() == Venue::Kraken;
    let Market {
        books, seqs, rng, ..
    } = &mut *m;
    let Diff { bids, asks } = books[i].change(depth, kraken, |b| change(b, rng));
    // Checksums cover the top 25 (OKX) or 10 (Kraken) of the book after the update.
    let view = (books[i].bids(depth.min(25)), books[i].asks(depth.min(25)));
    enc.book(
        i,
        &mut seqs[i],
        rng,
        false,
        &bids,
        &asks,
        (&view.0, &view.1),
        corrupt,
    )
}

/// One step of the current connection: a fault if one is queued, else a random book change
/// (with BBO and sometimes a trade); frozen: the closing prints once, then heartbeats.
fn step(m: &mut Market, enc: &mut Encoder, ticks: u64) -> Vec<Out> {
    let mut out = Vec::new();
    if ticks.is_multiple_of(25) {
        out.extend(enc.heartbeat().map(Out::Text));
    }
    if m.frozen {
        if !m.quiet {
            for i in m.subscribed.clone() {
                out.push(Out::Text(print_trade(m, enc, i)));
            }
            m.quiet = true;
        }
        return out;
    }
    let Some(&first) = m.subscribed.first() else {
        return out;
    };
    let tops: Vec<_> = m.books.iter().map(TrueBook::top).collect();
    let mut touched = vec![first];
    if let Some(fault) = m.pending.pop_front() {
        m.faults_done += 1;
        let bid = |b: &mut TrueBook, _: &mut ChaCha8Rng| b.bump_top(Side::Buy);
        let ask = |b: &mut TrueBook, _: &mut ChaCha8Rng| b.bump_top(Side::Sell);
        match fault {
            Fault::Disconnect => return vec![Out::Drop],
            Fault::Stall => return vec![Out::Stall],
            Fault::Oversized(n) => out.push(Out::Text(enc.oversized(n))),
            Fault::Malformed => out.push(Out::Text(enc.malformed(first))),
            Fault::Gap => {
                let _lost = update(m, enc, first, false, bid);
                out.push(Out::Text(update(m, enc, first, false, ask)));
            }
            Fault::Duplicate => {
                let f = update(m, enc, first, false, bid);
                out.push(Out::Text(f.clone()));
                out.push(Out::Text(f));
            }
            Fault::Swap => {
                let a = update(m, enc, first, false, bid);
                let b = update(m, enc, first, false, ask);
                out.push(Out::Text(b));
                out.push(Out::Text(a));
            }
            Fault::BadChecksum => out.push(Out::Text(update(m, enc, first, true, bid))),
        }
    } else {
        let n = m.subscribed.len();
        let i = m.subscribed[m.rng.random_range(0..n)];
        touched = vec![i];
        out.push(Out::Text(update(m, enc, i, false, |b, rng| b.step(rng))));
        if m.rng.random_range(0..8) == 0 {
            out.push(Out::Text(print_trade(m, enc, i)));
        }
    }
    m.steps += 1;
    for i in touched {
        if let Some((b, a)) = m.books[i].top() {
            if tops[i] != Some((b, a)) {
                out.extend(enc.bbo(i, &m.seqs[i], b, a).into_iter().map(Out::Text));
            }
        }
    }
    out
}

/// A trade of symbol `i` at the touch, recorded as its last.
fn print_trade(m: &mut Market, enc: &mut Encoder, i: usize) -> String {
    let taker_buys = m.rng.random_bool(0.5);
    let price = match m.books[i].top() {
        Some((_, (ask, _))) if taker_buys => ask,
        Some(((bid, _), _)) => bid,
        None => Decimal::ONE,
    };
    let qty = m.books[i].random_qty(&mut m.rng);
    m.next_trade_id += 1;
    let t = TradeRec {
        price,
        qty,
        taker_buys,
        id: m.next_trade_id,
    };
    m.last_trade[i] = Some(t);
    enc.trade(i, &t)
}
