//! The backtest gateway: an [`OrderSigner`] that hands the approved request to the backtest
//! venue, and the venue that fills our orders against the recorded market with the
//! simulator's price-time matching engine ([`peregrine_exchanges::sim::matching`]).
//!
//! Fill model (documented in the README):
//! - **Taking**: a market order, an IOC/FOK limit or a limit that crosses the recorded best
//!   opposite level trades against that level only (its recorded price and size; from the
//!   last `quote` line or the top of the recorded L2 book, whichever came last). The remainder
//!   of a market/IOC order is cancelled, a FOK that cannot fill completely expires, the
//!   remainder of a GTC limit rests at its price. A post-only order that would take is
//!   rejected.
//! - **Resting**: our resting buy fills (as maker, at its own price) when a recorded trade
//!   prints at or below its price, or when the recorded best ask moves to or below it; a sell
//!   symmetrically. The trade's (or the crossing quote's) size is the most that can fill from
//!   that one event, shared in price-time priority among our orders.
//! - **Queue position**: an order resting at a price where the recorded market displays size
//!   (the touch's size at the touch, the L2 level's behind it) queues behind that size: prints
//!   at our price trade it first, and only their excess fills us; a print or a touch through
//!   our price fills us as before. The volume ahead only shrinks: to the size displayed at
//!   our price whenever the touch or book changes (cancellations ahead of us), to zero when the
//!   touch moves behind our price. Resting behind a touch with no depth data, the queue is
//!   unknown until the touch reaches our price; the size shown then is put ahead of us.
//! - **Latency**: requests reach the venue `latency_ns` of event time after they were sent
//!   (zero: at once, against the market as of the event that caused them).
//! - **Fees**: the simulator's fee model ([`FeeModel`]): maker/taker rates, the commission
//!   rounded to 8 decimals and taken, as Binance does, from what the fill delivers (a buy in
//!   the base asset, a sell in the quote asset) unless the model charges the quote asset.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use peregrine_engine::book::OrderBook as L2Book;
use peregrine_engine::gateway::OrderSigner;
use peregrine_engine::gateway::{HttpMethod, SignError, SignedAction, SignedOrder};
use peregrine_engine::order::{
    ClientOrderId, ExecKind, ExecReport, FillInfo, OrderRequest, OrderType, TimeInForce,
};
use peregrine_engine::tick::{Tick, TickKind};
use peregrine_engine::types::{InstrumentId, Instruments, Price, Qty, Side};
use peregrine_exchanges::sim::fees::{Charged, FeeModel};
use peregrine_exchanges::sim::matching::{
    Incoming, MatchError, OrderBook, OrderKind, Owner, TimeInForce as SimTif,
};
use rust_decimal::Decimal;

/// The signer of a backtest: no credentials; it passes the approved request to the venue.
#[derive(Debug)]
pub struct BacktestSigner {
    requests: Sender<OrderRequest>,
}

impl BacktestSigner {
    /// A signer and the receiver the venue reads requests from.
    pub fn new() -> (Self, Receiver<OrderRequest>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Self { requests: tx }, rx)
    }
}

impl BacktestSigner {
    /// A new order or a cancel-replace: the request goes to the venue, the signed form carries
    /// what it is.
    fn sign_placement(
        &mut self,
        req: &OrderRequest,
        action: SignedAction,
    ) -> Result<SignedOrder, SignError> {
        self.requests
            .send(*req)
            .map_err(|_| SignError::Unsupported("the backtest venue is gone"))?;
        Ok(SignedOrder {
            action,
            client_order_id: req.client_order_id,
            instrument: req.intent.instrument,
            side: req.intent.side,
            method: HttpMethod::Post,
            path: "backtest/order",
            params: String::new(),
            origin_recv_ns: req.intent.origin_recv_ns,
        })
    }
}

impl OrderSigner for BacktestSigner {
    fn sign_new(&mut self, req: &OrderRequest, _wall_ms: i64) -> Result<SignedOrder, SignError> {
        self.sign_placement(req, SignedAction::New)
    }

    fn sign_replace(
        &mut self,
        cancel: ClientOrderId,
        req: &OrderRequest,
        _wall_ms: i64,
    ) -> Result<SignedOrder, SignError> {
        self.sign_placement(req, SignedAction::Replace { cancel })
    }

    fn sign_cancel(
        &mut self,
        client_order_id: ClientOrderId,
        instrument: InstrumentId,
        side: Side,
        _wall_ms: i64,
    ) -> Result<SignedOrder, SignError> {
        Ok(SignedOrder {
            action: SignedAction::Cancel,
            client_order_id,
            instrument,
            side,
            method: HttpMethod::Delete,
            path: "backtest/order",
            params: String::new(),
            origin_recv_ns: 0,
        })
    }
}

/// The recorded market of one instrument plus our resting orders.
struct Market {
    quote_bid: Option<(Price, Qty)>,
    quote_ask: Option<(Price, Qty)>,
    book: L2Book,
    /// Which source set the touch last: true = the L2 book.
    book_is_newer: bool,
    /// Our resting buys (only ours: two books so our own orders never meet).
    bids: OrderBook,
    /// Our resting sells.
    asks: OrderBook,
    quote_asset: String,
    base_asset: String,
    /// Queue model: per resting order of ours (by venue order id), the recorded volume
    /// ahead of it.
    queue: BTreeMap<u64, QueueSpot>,
    /// Reused list of the queue's ids (no allocation per event).
    scratch_ids: Vec<u64>,
}

/// The recorded volume ahead of one of our resting orders: a synthetic order of that size
/// placed in front of ours at its price, so prints at the price trade it first.
#[derive(Clone, Copy, Debug)]
struct QueueSpot {
    side: Side,
    price: Price,
    /// The synthetic order ahead, if any volume is ahead.
    ahead: Option<u64>,
    /// Whether the displayed size at the price has been seen (not yet: resting behind a touch
    /// with no depth data; the first sight of the price at the touch sets the queue).
    known: bool,
}

fn improves(side: Side, a: Price, b: Price) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

impl Market {
    /// The recorded size displayed at `price` on `side`, when the recorded market shows it:
    /// the touch's size at the touch, zero at a better price (or with nothing recorded on that
    /// side), the L2 level's size behind the touch; `None` behind a touch without depth.
    fn displayed(&self, side: Side, price: Price) -> Option<Qty> {
        let Some((bp, bq)) = self.best(side) else {
            return Some(Decimal::ZERO);
        };
        if bp == price {
            return Some(bq);
        }
        if improves(side, price, bp) {
            return Some(Decimal::ZERO);
        }
        let has_depth = match side {
            Side::Buy => self.book.best_bid().is_some(),
            Side::Sell => self.book.best_ask().is_some(),
        };
        has_depth.then(|| {
            self.book
                .levels(side)
                .find(|(p, _)| *p == price)
                .map_or(Decimal::ZERO, |(_, q)| q)
        })
    }

    fn book_mut(&mut self, side: Side) -> &mut OrderBook {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Rests our order `id` of `qty` at `price`, behind the recorded volume displayed there.
    fn rest(&mut self, id: u64, side: Side, price: Price, qty: Qty, next_synthetic: &mut u64) {
        let ahead = self.displayed(side, price);
        let mut spot = QueueSpot {
            side,
            price,
            ahead: None,
            known: ahead.is_some(),
        };
        let book = self.book_mut(side);
        if let Some(a) = ahead.filter(|a| *a > Decimal::ZERO) {
            spot.ahead = Some(rest_limit(
                book,
                *next_synthetic,
                Owner::Synthetic,
                side,
                price,
                a,
            ));
            *next_synthetic += 1;
        }
        rest_limit(book, id, Owner::Account, side, price, qty);
        self.queue.insert(id, spot);
    }

    /// Our order `id` left the book: the volume that was ahead of it goes too.
    fn forget(&mut self, id: u64) {
        if let Some(spot) = self.queue.remove(&id) {
            if let Some(sid) = spot.ahead {
                let book = self.book_mut(spot.side);
                let _ = book.cancel(sid);
                let _ = book.take_changes();
            }
        }
    }

    /// A print at `price`: our orders at better prices than it (bids above, asks below) had
    /// their whole level traded through, so nothing is ahead of them any more.
    fn traded_through(&mut self, price: Price) {
        let Market {
            queue, bids, asks, ..
        } = self;
        for q in queue.values_mut() {
            if !improves(q.side, q.price, price) {
                continue;
            }
            if let Some(sid) = q.ahead.take() {
                let book = match q.side {
                    Side::Buy => &mut *bids,
                    Side::Sell => &mut *asks,
                };
                let _ = book.cancel(sid);
                let _ = book.take_changes();
            }
            q.known = true;
        }
    }

    /// After the recorded market changed: the volume ahead of each of our orders shrinks to
    /// what is displayed at its price (cancellations ahead of us), and an order whose queue
    /// was unknown gets the size first displayed at its price ahead of it.
    fn observe_queues(&mut self, next_synthetic: &mut u64) {
        if self.queue.is_empty() {
            return;
        }
        let mut ids = std::mem::take(&mut self.scratch_ids);
        ids.clear();
        ids.extend(self.queue.keys().copied());
        for &id in &ids {
            let Some(spot) = self.queue.get(&id).copied() else {
                continue;
            };
            let Some(shown) = self.displayed(spot.side, spot.price) else {
                continue;
            };
            let book = self.book_mut(spot.side);
            if !spot.known {
                let mut spot = spot;
                spot.known = true;
                if shown > Decimal::ZERO {
                    if let Some(open) = book.cancel(id) {
                        spot.ahead = Some(rest_limit(
                            book,
                            *next_synthetic,
                            Owner::Synthetic,
                            spot.side,
                            spot.price,
                            shown,
                        ));
                        *next_synthetic += 1;
                        rest_limit(book, id, Owner::Account, spot.side, spot.price, open);
                    }
                }
                self.queue.insert(id, spot);
            } else if let Some(sid) = spot.ahead {
                let _ = book.reduce(sid, shown);
                let _ = book.take_changes();
            }
        }
        self.scratch_ids = ids;
    }
}

/// Rests a GTC limit order in one of our books; returns its id.
fn rest_limit(
    book: &mut OrderBook,
    id: u64,
    owner: Owner,
    side: Side,
    price: Price,
    qty: Qty,
) -> u64 {
    let _ = book.submit(Incoming {
        id,
        owner,
        side,
        qty,
        kind: OrderKind::Limit {
            price,
            tif: SimTif::Gtc,
            post_only: false,
        },
    });
    let _ = book.take_changes();
    id
}

impl Market {
    fn best(&self, side: Side) -> Option<(Price, Qty)> {
        let (q, b) = match side {
            Side::Buy => (self.quote_bid, self.book.best_bid()),
            Side::Sell => (self.quote_ask, self.book.best_ask()),
        };
        if self.book_is_newer {
            b.or(q)
        } else {
            q.or(b)
        }
    }
}

/// Counters of what the venue did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VenueStats {
    /// New-order requests received.
    pub new_orders: u64,
    /// Cancel requests received.
    pub cancels: u64,
    /// Cancel requests for orders no longer open.
    pub cancel_misses: u64,
    /// Fills made.
    pub fills: u64,
}

/// The simulated venue of a backtest.
pub struct BacktestVenue {
    run_id: u64,
    markets: Vec<Market>,
    requests: Receiver<OrderRequest>,
    /// Requests by client order id, until final.
    live: BTreeMap<ClientOrderId, OrderRequest>,
    pending: VecDeque<(i64, SignedOrder)>,
    fees: FeeModel,
    latency_ns: i64,
    next_trade_id: u64,
    next_synthetic_id: u64,
    /// What the venue did.
    pub stats: VenueStats,
}

/// Ids of the synthetic (recorded-market) orders used to match ours start here.
const SYNTHETIC_ID_BASE: u64 = 1 << 62;

fn order_id(id: ClientOrderId) -> u64 {
    u64::from(id.seq)
}

impl BacktestVenue {
    /// A venue for the orders of run `run_id` on `instruments`, reading approved requests from `requests`.
    pub fn new(
        run_id: u64,
        instruments: &Arc<Instruments>,
        requests: Receiver<OrderRequest>,
        fees: FeeModel,
        latency_ns: u64,
    ) -> Self {
        let markets = instruments
            .iter()
            .map(|(_, spec)| Market {
                quote_bid: None,
                quote_ask: None,
                book: L2Book::default(),
                book_is_newer: false,
                bids: OrderBook::new(1, 1),
                asks: OrderBook::new(1, 1),
                quote_asset: spec.quote.clone(),
                base_asset: spec.base.clone(),
                queue: BTreeMap::new(),
                scratch_ids: Vec::new(),
            })
            .collect();
        Self {
            run_id,
            markets,
            requests,
            live: BTreeMap::new(),
            pending: VecDeque::new(),
            fees,
            latency_ns: i64::try_from(latency_ns).unwrap_or(i64::MAX),
            next_trade_id: 1,
            next_synthetic_id: SYNTHETIC_ID_BASE,
            stats: VenueStats::default(),
        }
    }

    /// Receives one signed request sent by the core at engine time `now`; processes it at
    /// once or queues it for the configured latency.
    pub fn submit(&mut self, signed: SignedOrder, now: i64, out: &mut Vec<ExecReport>) {
        while let Ok(req) = self.requests.try_recv() {
            self.live.insert(req.client_order_id, req);
        }
        if self.latency_ns == 0 {
            self.process(signed, now, out);
        } else {
            self.pending
                .push_back((now.saturating_add(self.latency_ns), signed));
        }
    }

    /// Processes queued requests whose arrival time is at or before `now`.
    pub fn activate_due(&mut self, now: i64, out: &mut Vec<ExecReport>) {
        while self.pending.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((due, signed)) = self.pending.pop_front() {
                self.process(signed, due, out);
            }
        }
    }

    /// Requests still in flight (latency).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn process(&mut self, signed: SignedOrder, now: i64, out: &mut Vec<ExecReport>) {
        match signed.action {
            SignedAction::New => {
                self.stats.new_orders += 1;
                if let Some(req) = self.live.get(&signed.client_order_id).copied() {
                    self.place(req, now, out);
                }
            }
            SignedAction::Cancel => {
                self.stats.cancels += 1;
                self.cancel(signed.client_order_id, signed.instrument, signed.side, out);
            }
            // As the venue does it with STOP_ON_FAILURE: the new order only if the cancel
            // went through; otherwise the old order's cancel and the new order are refused.
            SignedAction::Replace { cancel } => {
                self.stats.new_orders += 1;
                self.stats.cancels += 1;
                let Some(req) = self.live.get(&signed.client_order_id).copied() else {
                    return;
                };
                if self.cancel(cancel, signed.instrument, signed.side, out) {
                    self.place(req, now, out);
                    return;
                }
                self.live.remove(&req.client_order_id);
                out.push(ExecReport {
                    client_order_id: cancel,
                    instrument: signed.instrument,
                    side: signed.side,
                    kind: ExecKind::CancelRejected {
                        code: -2011,
                        reason: "Unknown order sent.".into(),
                    },
                    recv_ns: 0,
                });
                out.push(self.report(
                    &req,
                    ExecKind::Rejected {
                        code: -2022,
                        reason: "Order cancel-replace failed.".into(),
                    },
                ));
            }
        }
    }

    fn report(&self, req: &OrderRequest, kind: ExecKind) -> ExecReport {
        ExecReport {
            client_order_id: req.client_order_id,
            instrument: req.intent.instrument,
            side: req.intent.side,
            kind,
            recv_ns: 0,
        }
    }

    fn fill_report(
        &mut self,
        req: &OrderRequest,
        price: Price,
        qty: Qty,
        leaves_qty: Qty,
        maker: bool,
        now: i64,
    ) -> ExecReport {
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        self.stats.fills += 1;
        let m = &self.markets[req.intent.instrument.index()];
        let (fee, fee_asset) = match self.fees.charge(req.intent.side, price, qty, maker) {
            Charged::Base(f) => (f, m.base_asset.clone()),
            Charged::Quote(f) => (f, m.quote_asset.clone()),
        };
        self.report(
            req,
            ExecKind::Fill(FillInfo {
                trade_id,
                price,
                qty,
                fee,
                fee_asset,
                is_maker: maker,
                leaves_qty,
                exch_ts_ns: now,
            }),
        )
    }

    fn place(&mut self, req: OrderRequest, now: i64, out: &mut Vec<ExecReport>) {
        let i = req.intent;
        let Some(m) = self.markets.get(i.instrument.index()) else {
            return;
        };
        out.push(self.report(
            &req,
            ExecKind::Ack {
                venue_order_id: order_id(req.client_order_id),
            },
        ));
        let kind = match (i.order_type, i.price) {
            (OrderType::Market, _) => OrderKind::Market,
            (OrderType::Limit, Some(price)) => OrderKind::Limit {
                price,
                tif: match i.tif {
                    TimeInForce::Gtc => SimTif::Gtc,
                    TimeInForce::Ioc => SimTif::Ioc,
                    TimeInForce::Fok => SimTif::Fok,
                },
                post_only: i.post_only,
            },
            (OrderType::Limit, None) => {
                out.push(self.report(
                    &req,
                    ExecKind::Rejected {
                        code: -1102,
                        reason: "a limit order needs a price".into(),
                    },
                ));
                self.live.remove(&req.client_order_id);
                return;
            }
        };
        // The recorded opposite touch, as one synthetic resting order in a scratch book.
        let mut scratch = OrderBook::new(1, 1);
        if let Some((px, qty)) = m.best(i.side.opposite()) {
            if px > Decimal::ZERO && qty > Decimal::ZERO {
                let id = self.next_synthetic_id;
                self.next_synthetic_id += 1;
                let _ = scratch.submit(Incoming {
                    id,
                    owner: Owner::Synthetic,
                    side: i.side.opposite(),
                    qty,
                    kind: OrderKind::Limit {
                        price: px,
                        tif: SimTif::Gtc,
                        post_only: false,
                    },
                });
            }
        }
        let exec = scratch.submit(Incoming {
            id: order_id(req.client_order_id),
            owner: Owner::Account,
            side: i.side,
            qty: i.qty,
            kind,
        });
        let exec = match exec {
            Ok(e) => e,
            Err(e) => {
                let (code, reason) = match e {
                    MatchError::WouldTake => (-2010, "Order would immediately match and take."),
                    MatchError::DuplicateId => (-2010, "Duplicate order sent."),
                    MatchError::NotPositive => (-1013, "Quantity and price must be positive."),
                };
                out.push(self.report(
                    &req,
                    ExecKind::Rejected {
                        code,
                        reason: reason.into(),
                    },
                ));
                self.live.remove(&req.client_order_id);
                return;
            }
        };
        let mut left = i.qty;
        for f in &exec.fills {
            left -= f.qty;
            let rep = self.fill_report(&req, f.price, f.qty, left, false, now);
            out.push(rep);
        }
        if !exec.rested.is_zero() {
            if let OrderKind::Limit { price, .. } = kind {
                self.markets[i.instrument.index()].rest(
                    order_id(req.client_order_id),
                    i.side,
                    price,
                    exec.rested,
                    &mut self.next_synthetic_id,
                );
            }
            return;
        }
        if !exec.expired.is_zero() {
            let kind = if i.tif == TimeInForce::Fok && exec.fills.is_empty() {
                ExecKind::Expired
            } else {
                ExecKind::Cancelled
            };
            out.push(self.report(&req, kind));
        }
        self.live.remove(&req.client_order_id);
    }

    /// Cancels one of our orders (queued or resting); false if it is no longer there.
    fn cancel(
        &mut self,
        id: ClientOrderId,
        instrument: InstrumentId,
        side: Side,
        out: &mut Vec<ExecReport>,
    ) -> bool {
        // Still in flight: the cancel overtakes nothing; it removes the queued request.
        if let Some(pos) = self
            .pending
            .iter()
            .position(|(_, s)| s.action == SignedAction::New && s.client_order_id == id)
        {
            self.pending.remove(pos);
            if let Some(req) = self.live.remove(&id) {
                out.push(self.report(&req, ExecKind::Cancelled));
            }
            return true;
        }
        let Some(m) = self.markets.get_mut(instrument.index()) else {
            return false;
        };
        let book = match side {
            Side::Buy => &mut m.bids,
            Side::Sell => &mut m.asks,
        };
        if book.cancel(order_id(id)).is_some() {
            let _ = book.take_changes();
            m.forget(order_id(id));
            if let Some(req) = self.live.remove(&id) {
                out.push(self.report(&req, ExecKind::Cancelled));
            }
            true
        } else {
            self.stats.cancel_misses += 1;
            false
        }
    }

    /// Applies one recorded market event: updates the recorded touch and fills our resting
    /// orders that the event trades through or crosses.
    pub fn on_market(&mut self, tick: &Tick, out: &mut Vec<ExecReport>) {
        let now = tick.exch_ts_ns;
        let Some(m) = self.markets.get_mut(tick.instrument.index()) else {
            return;
        };
        match tick.kind {
            TickKind::Trade(t) => {
                m.traded_through(t.price);
                // A print at P reaches our bids at P or above and our asks at P or below.
                self.hit_resting(tick.instrument, Side::Buy, t.price, t.qty, now, out);
                self.hit_resting(tick.instrument, Side::Sell, t.price, t.qty, now, out);
            }
            TickKind::Quote(q) => {
                m.quote_bid = Some((q.bid_px, q.bid_qty));
                m.quote_ask = Some((q.ask_px, q.ask_qty));
                m.book_is_newer = false;
                self.cross_resting(tick.instrument, now, out);
            }
            TickKind::BookSnapshot { seq } => {
                m.book.clear(seq);
                m.book_is_newer = true;
            }
            TickKind::BookDelta(d) => {
                m.book.apply(&d);
                m.book_is_newer = true;
                if d.is_end_of_batch() {
                    self.cross_resting(tick.instrument, now, out);
                }
            }
            TickKind::Status(_) => {}
        }
    }

    /// Our resting orders on each side that the recorded opposite touch now reaches.
    fn cross_resting(&mut self, id: InstrumentId, now: i64, out: &mut Vec<ExecReport>) {
        self.markets[id.index()].observe_queues(&mut self.next_synthetic_id);
        let m = &self.markets[id.index()];
        let ask = m.best(Side::Sell);
        let bid = m.best(Side::Buy);
        if let Some((px, qty)) = ask {
            self.hit_resting(id, Side::Buy, px, qty, now, out);
        }
        if let Some((px, qty)) = bid {
            self.hit_resting(id, Side::Sell, px, qty, now, out);
        }
    }

    /// Market liquidity of `qty` at `price` meets our resting orders on `side`: a synthetic
    /// IOC from the other side, matched by the simulator's engine in price-time priority.
    fn hit_resting(
        &mut self,
        id: InstrumentId,
        side: Side,
        price: Price,
        qty: Qty,
        now: i64,
        out: &mut Vec<ExecReport>,
    ) {
        let m = &mut self.markets[id.index()];
        let book = match side {
            Side::Buy => &mut m.bids,
            Side::Sell => &mut m.asks,
        };
        let reaches = match side {
            Side::Buy => book.best_bid().is_some_and(|(p, _)| p >= price),
            Side::Sell => book.best_ask().is_some_and(|(p, _)| p <= price),
        };
        if !reaches || qty <= Decimal::ZERO || price <= Decimal::ZERO {
            return;
        }
        let sid = self.next_synthetic_id;
        self.next_synthetic_id += 1;
        let exec = book.submit(Incoming {
            id: sid,
            owner: Owner::Synthetic,
            side: side.opposite(),
            qty,
            kind: OrderKind::Limit {
                price,
                tif: SimTif::Ioc,
                post_only: false,
            },
        });
        let _ = book.take_changes();
        let Ok(exec) = exec else {
            return;
        };
        for f in exec.fills {
            let Ok(seq) = u32::try_from(f.maker_id) else {
                continue;
            };
            let Some(req) = self.live.get(&ClientOrderId {
                run: self.run_id,
                seq,
            }) else {
                continue;
            };
            let req = *req;
            let rep = self.fill_report(&req, f.price, f.qty, f.maker_remaining, true, now);
            out.push(rep);
            if f.maker_remaining.is_zero() {
                self.live.remove(&req.client_order_id);
                self.markets[id.index()].forget(f.maker_id);
            }
        }
    }
}
