//! A pure price-time-priority limit order book for one symbol.
//!
//! No I/O, no clocks, no randomness: the book takes orders and returns what happened
//! (fills, self-trade-prevention expirations, what rested, what expired). Every change to a
//! price level's total quantity increments the book's update id and is recorded as a
//! [`LevelChange`], which the simulator turns into Binance `depthUpdate` events.

use std::collections::{BTreeMap, HashMap, VecDeque};

use peregrine_engine::types::Side;
use rust_decimal::Decimal;

/// Order identifier, unique across the simulator.
pub type OrderId = u64;

/// A price level as `(price, total quantity)`.
pub type PriceLevel = (Decimal, Decimal);

/// Both sides of a book, best first: `(bids, asks)`.
pub type Depth = (Vec<PriceLevel>, Vec<PriceLevel>);

/// Who owns an order. Self-trade prevention applies only between two orders of our account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The simulated client account (the one trading over the REST API).
    Account,
    /// Synthetic market participants (market makers and takers).
    Synthetic,
}

/// How long an unfilled limit order remains active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeInForce {
    /// Good till cancelled: the remainder rests on the book.
    Gtc,
    /// Immediate or cancel: the remainder expires.
    Ioc,
    /// Fill or kill: fills completely at once or expires without any fill.
    Fok,
}

/// The kind of an incoming order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderKind {
    /// A limit order; `post_only` orders are rejected if they would take liquidity.
    Limit {
        /// Limit price.
        price: Decimal,
        /// Time in force.
        tif: TimeInForce,
        /// Reject instead of taking (Binance `LIMIT_MAKER`).
        post_only: bool,
    },
    /// A market order: takes what is there; the remainder expires.
    Market,
}

/// An order submitted to [`OrderBook::submit`].
#[derive(Clone, Copy, Debug)]
pub struct Incoming {
    /// Order id (must not already rest on the book).
    pub id: OrderId,
    /// Owner, for self-trade prevention.
    pub owner: Owner,
    /// Buy or sell.
    pub side: Side,
    /// Quantity in base units (> 0).
    pub qty: Decimal,
    /// Limit or market.
    pub kind: OrderKind,
}

/// One trade between a resting (maker) and an incoming (taker) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fill {
    /// The symbol's trade id.
    pub trade_id: u64,
    /// Execution price (the maker's price).
    pub price: Decimal,
    /// Executed quantity.
    pub qty: Decimal,
    /// The resting order.
    pub maker_id: OrderId,
    /// Owner of the resting order.
    pub maker_owner: Owner,
    /// Quantity of the resting order still open after this fill.
    pub maker_remaining: Decimal,
    /// The incoming order.
    pub taker_id: OrderId,
    /// Side of the incoming order (the aggressor).
    pub taker_side: Side,
}

/// A resting order removed by self-trade prevention (EXPIRE_MAKER).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StpExpired {
    /// The resting order that expired.
    pub id: OrderId,
    /// Its open quantity at the time it expired.
    pub remaining: Decimal,
}

/// What happened to an incoming order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Execution {
    /// Fills in execution order.
    pub fills: Vec<Fill>,
    /// Resting orders of the same account expired by self-trade prevention.
    pub stp_expired: Vec<StpExpired>,
    /// Total quantity filled.
    pub filled: Decimal,
    /// Quantity placed on the book (GTC remainder), zero if none.
    pub rested: Decimal,
    /// Quantity that expired without resting (IOC/FOK/market remainder).
    pub expired: Decimal,
}

/// Why the book refused an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// A post-only order would have crossed the spread.
    #[error("order would immediately match and take")]
    WouldTake,
    /// The order id already rests on the book.
    #[error("duplicate order id")]
    DuplicateId,
    /// Quantity or price is not positive.
    #[error("quantity and price must be positive")]
    NotPositive,
}

/// A change of one price level's total quantity (absolute; zero means the level is gone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LevelChange {
    /// Book update id assigned to this change.
    pub update_id: u64,
    /// Bid or ask side.
    pub side: Side,
    /// Level price.
    pub price: Decimal,
    /// New total quantity at the level.
    pub qty: Decimal,
}

/// An order resting in a level's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resting {
    /// Order id.
    pub id: OrderId,
    /// Owner.
    pub owner: Owner,
    /// Open quantity.
    pub qty: Decimal,
}

/// One price level: FIFO queue plus cached total.
#[derive(Clone, Debug, Default)]
struct Level {
    orders: VecDeque<Resting>,
    total: Decimal,
}

/// Update-id counter and change log, kept apart from the sides so both can be borrowed at once.
#[derive(Debug)]
struct ChangeLog {
    update_id: u64,
    changes: Vec<LevelChange>,
}

impl ChangeLog {
    fn record(&mut self, side: Side, price: Decimal, qty: Decimal) {
        self.update_id += 1;
        self.changes.push(LevelChange {
            update_id: self.update_id,
            side,
            price,
            qty,
        });
    }
}

/// A price-time-priority order book for one symbol.
#[derive(Debug)]
pub struct OrderBook {
    bids: BTreeMap<Decimal, Level>,
    asks: BTreeMap<Decimal, Level>,
    index: HashMap<OrderId, (Side, Decimal)>,
    log: ChangeLog,
    next_trade_id: u64,
}

impl Default for OrderBook {
    fn default() -> Self {
        Self::new(1, 1)
    }
}

impl OrderBook {
    /// An empty book whose first change gets `first_update_id` and first trade `first_trade_id`.
    pub fn new(first_update_id: u64, first_trade_id: u64) -> Self {
        OrderBook {
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            index: HashMap::new(),
            log: ChangeLog {
                update_id: first_update_id.saturating_sub(1),
                changes: Vec::new(),
            },
            next_trade_id: first_trade_id,
        }
    }

    /// The id of the last change applied to the book.
    pub fn update_id(&self) -> u64 {
        self.log.update_id
    }

    /// Takes the changes recorded since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<LevelChange> {
        std::mem::take(&mut self.log.changes)
    }

    /// Best bid price and total quantity.
    pub fn best_bid(&self) -> Option<(Decimal, Decimal)> {
        self.bids.iter().next_back().map(|(p, l)| (*p, l.total))
    }

    /// Best ask price and total quantity.
    pub fn best_ask(&self) -> Option<(Decimal, Decimal)> {
        self.asks.iter().next().map(|(p, l)| (*p, l.total))
    }

    /// Whether `id` rests on the book.
    pub fn contains(&self, id: OrderId) -> bool {
        self.index.contains_key(&id)
    }

    /// Number of resting orders.
    pub fn order_count(&self) -> usize {
        self.index.len()
    }

    /// Up to `limit` levels per side, best first: `(bids, asks)` of `(price, total qty)`.
    pub fn depth(&self, limit: usize) -> Depth {
        let bids = self
            .bids
            .iter()
            .rev()
            .take(limit)
            .map(|(p, l)| (*p, l.total))
            .collect();
        let asks = self
            .asks
            .iter()
            .take(limit)
            .map(|(p, l)| (*p, l.total))
            .collect();
        (bids, asks)
    }

    /// Every resting order on `side` as `(price, order)`, best price first, FIFO within a level.
    pub fn orders_on(&self, side: Side) -> Vec<(Decimal, Resting)> {
        let mut out = Vec::new();
        let levels: Box<dyn Iterator<Item = (&Decimal, &Level)>> = match side {
            Side::Buy => Box::new(self.bids.iter().rev()),
            Side::Sell => Box::new(self.asks.iter()),
        };
        for (p, l) in levels {
            out.extend(l.orders.iter().map(|o| (*p, o.clone())));
        }
        out
    }

    /// Total quantity at `price` on `side` owned by `owner`.
    pub fn level_qty_of(&self, side: Side, price: Decimal, owner: Owner) -> Decimal {
        let book = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        book.get(&price)
            .map(|l| {
                l.orders
                    .iter()
                    .filter(|o| o.owner == owner)
                    .map(|o| o.qty)
                    .sum()
            })
            .unwrap_or(Decimal::ZERO)
    }

    /// Quantity and quote cost an order would fill right now, skipping liquidity that
    /// self-trade prevention would expire instead of trading (same-account orders).
    pub fn fillable(
        &self,
        side: Side,
        qty: Decimal,
        limit: Option<Decimal>,
        owner: Owner,
    ) -> (Decimal, Decimal) {
        let mut left = qty;
        let mut cost = Decimal::ZERO;
        let levels: Box<dyn Iterator<Item = (&Decimal, &Level)>> = match side {
            Side::Buy => Box::new(self.asks.iter()),
            Side::Sell => Box::new(self.bids.iter().rev()),
        };
        for (price, level) in levels {
            if left.is_zero() || !crosses(side, *price, limit) {
                break;
            }
            for o in &level.orders {
                if left.is_zero() {
                    break;
                }
                if owner == Owner::Account && o.owner == Owner::Account {
                    continue;
                }
                let q = left.min(o.qty);
                left -= q;
                cost += q * *price;
            }
        }
        (qty - left, cost)
    }

    /// Submits an order: matches it against the opposite side in price-time priority and
    /// handles the remainder according to its kind and time in force.
    pub fn submit(&mut self, order: Incoming) -> Result<Execution, MatchError> {
        if order.qty <= Decimal::ZERO {
            return Err(MatchError::NotPositive);
        }
        if self.index.contains_key(&order.id) {
            return Err(MatchError::DuplicateId);
        }
        let (limit, tif, post_only) = match order.kind {
            OrderKind::Limit {
                price,
                tif,
                post_only,
            } => {
                if price <= Decimal::ZERO {
                    return Err(MatchError::NotPositive);
                }
                (Some(price), tif, post_only)
            }
            OrderKind::Market => (None, TimeInForce::Ioc, false),
        };
        let best_opposite = match order.side {
            Side::Buy => self.best_ask(),
            Side::Sell => self.best_bid(),
        };
        if post_only {
            if let Some((p, _)) = best_opposite {
                if crosses(order.side, p, limit) {
                    return Err(MatchError::WouldTake);
                }
            }
        }
        if tif == TimeInForce::Fok {
            let (can, _) = self.fillable(order.side, order.qty, limit, order.owner);
            if can < order.qty {
                return Ok(Execution {
                    expired: order.qty,
                    ..Execution::default()
                });
            }
        }

        let mut exec = self.take_liquidity(&order, limit);
        let left = order.qty - exec.filled;
        if !left.is_zero() {
            match (tif, limit) {
                (TimeInForce::Gtc, Some(price)) => {
                    self.rest(
                        order.side,
                        price,
                        Resting {
                            id: order.id,
                            owner: order.owner,
                            qty: left,
                        },
                    );
                    exec.rested = left;
                }
                _ => exec.expired = left,
            }
        }
        Ok(exec)
    }

    /// Removes a resting order; returns its open quantity, or `None` if it is not on the book.
    pub fn cancel(&mut self, id: OrderId) -> Option<Decimal> {
        let (side, price) = self.index.remove(&id)?;
        let book = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let level = book.get_mut(&price)?;
        let pos = level.orders.iter().position(|o| o.id == id)?;
        let removed = level.orders.remove(pos)?;
        level.total -= removed.qty;
        let total = level.total;
        if level.orders.is_empty() {
            book.remove(&price);
        }
        self.log.record(side, price, total);
        Some(removed.qty)
    }

    /// Lowers a resting order's open quantity to `qty`, keeping its place in the queue (an
    /// amend that only reduces); `qty` zero removes it. Returns the quantity taken off, or
    /// `None` if the order is not on the book or `qty` is not below its open quantity.
    pub fn reduce(&mut self, id: OrderId, qty: Decimal) -> Option<Decimal> {
        if qty.is_zero() {
            return self.cancel(id);
        }
        let &(side, price) = self.index.get(&id)?;
        let book = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let level = book.get_mut(&price)?;
        let order = level.orders.iter_mut().find(|o| o.id == id)?;
        if qty >= order.qty || qty < Decimal::ZERO {
            return None;
        }
        let cut = order.qty - qty;
        order.qty = qty;
        level.total -= cut;
        let total = level.total;
        self.log.record(side, price, total);
        Some(cut)
    }

    fn rest(&mut self, side: Side, price: Decimal, order: Resting) {
        self.index.insert(order.id, (side, price));
        let book = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let level = book.entry(price).or_default();
        level.total += order.qty;
        level.orders.push_back(order);
        let total = level.total;
        self.log.record(side, price, total);
    }

    fn take_liquidity(&mut self, order: &Incoming, limit: Option<Decimal>) -> Execution {
        let mut exec = Execution::default();
        let mut left = order.qty;
        let opposite_side = order.side.opposite();
        let OrderBook {
            bids,
            asks,
            index,
            log,
            next_trade_id,
        } = self;
        let book = match order.side {
            Side::Buy => asks,
            Side::Sell => bids,
        };
        while !left.is_zero() {
            let best = match order.side {
                Side::Buy => book.keys().next().copied(),
                Side::Sell => book.keys().next_back().copied(),
            };
            let Some(price) = best else { break };
            if !crosses(order.side, price, limit) {
                break;
            }
            let Some(level) = book.get_mut(&price) else {
                break;
            };
            while !left.is_zero() {
                let Some(front) = level.orders.front_mut() else {
                    break;
                };
                if order.owner == Owner::Account && front.owner == Owner::Account {
                    // Self-trade prevention, EXPIRE_MAKER: the resting order goes away.
                    let q = front.qty;
                    let id = front.id;
                    level.orders.pop_front();
                    level.total -= q;
                    index.remove(&id);
                    exec.stp_expired.push(StpExpired { id, remaining: q });
                    log.record(opposite_side, price, level.total);
                    continue;
                }
                let q = left.min(front.qty);
                front.qty -= q;
                left -= q;
                level.total -= q;
                exec.filled += q;
                exec.fills.push(Fill {
                    trade_id: *next_trade_id,
                    price,
                    qty: q,
                    maker_id: front.id,
                    maker_owner: front.owner,
                    maker_remaining: front.qty,
                    taker_id: order.id,
                    taker_side: order.side,
                });
                *next_trade_id += 1;
                if front.qty.is_zero() {
                    let id = front.id;
                    level.orders.pop_front();
                    index.remove(&id);
                }
                log.record(opposite_side, price, level.total);
            }
            if level.orders.is_empty() {
                book.remove(&price);
            }
        }
        exec
    }
}

/// Whether an order on `side` with `limit` (None = market) would trade at `opposite_price`.
fn crosses(side: Side, opposite_price: Decimal, limit: Option<Decimal>) -> bool {
    match (side, limit) {
        (_, None) => true,
        (Side::Buy, Some(l)) => opposite_price <= l,
        (Side::Sell, Some(l)) => opposite_price >= l,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn limit(id: OrderId, owner: Owner, side: Side, price: Decimal, qty: Decimal) -> Incoming {
        Incoming {
            id,
            owner,
            side,
            qty,
            kind: OrderKind::Limit {
                price,
                tif: TimeInForce::Gtc,
                post_only: false,
            },
        }
    }

    fn with_tif(mut o: Incoming, tif: TimeInForce) -> Incoming {
        if let OrderKind::Limit {
            price, post_only, ..
        } = o.kind
        {
            o.kind = OrderKind::Limit {
                price,
                tif,
                post_only,
            };
        }
        o
    }

    #[test]
    fn price_then_time_priority() {
        let mut b = OrderBook::default();
        b.submit(limit(1, Owner::Synthetic, Side::Sell, dec!(101), dec!(1)))
            .unwrap();
        b.submit(limit(2, Owner::Synthetic, Side::Sell, dec!(100), dec!(1)))
            .unwrap();
        b.submit(limit(3, Owner::Account, Side::Sell, dec!(100), dec!(1)))
            .unwrap();
        let ex = b
            .submit(limit(4, Owner::Synthetic, Side::Buy, dec!(101), dec!(2.5)))
            .unwrap();
        let makers: Vec<_> = ex
            .fills
            .iter()
            .map(|f| (f.maker_id, f.price, f.qty))
            .collect();
        assert_eq!(
            makers,
            vec![
                (2, dec!(100), dec!(1)),
                (3, dec!(100), dec!(1)),
                (1, dec!(101), dec!(0.5))
            ]
        );
        let ids: Vec<_> = ex.fills.iter().map(|f| f.trade_id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(ex.filled, dec!(2.5));
        assert_eq!(ex.rested, dec!(0));
        assert_eq!(b.best_ask(), Some((dec!(101), dec!(0.5))));
        assert_eq!(ex.fills[2].maker_remaining, dec!(0.5));
    }

    #[test]
    fn reduce_keeps_queue_priority() {
        let mut b = OrderBook::default();
        b.submit(limit(1, Owner::Synthetic, Side::Buy, dec!(100), dec!(3)))
            .unwrap();
        b.submit(limit(2, Owner::Account, Side::Buy, dec!(100), dec!(1)))
            .unwrap();
        assert_eq!(b.reduce(1, dec!(1)), Some(dec!(2)));
        assert_eq!(b.reduce(1, dec!(5)), None, "only reduces");
        assert_eq!(b.best_bid(), Some((dec!(100), dec!(2))));
        let ex = b
            .submit(limit(3, Owner::Synthetic, Side::Sell, dec!(100), dec!(1.5)))
            .unwrap();
        let makers: Vec<_> = ex.fills.iter().map(|f| (f.maker_id, f.qty)).collect();
        assert_eq!(makers, vec![(1, dec!(1)), (2, dec!(0.5))]);
        assert_eq!(b.reduce(2, dec!(0)), Some(dec!(0.5)));
        assert_eq!(b.best_bid(), None);
    }

    #[test]
    fn partial_fill_rests_remainder() {
        let mut b = OrderBook::default();
        b.submit(limit(1, Owner::Synthetic, Side::Sell, dec!(100), dec!(0.4)))
            .unwrap();
        let ex = b
            .submit(limit(2, Owner::Account, Side::Buy, dec!(100), dec!(1)))
            .unwrap();
        assert_eq!(ex.filled, dec!(0.4));
        assert_eq!(ex.rested, dec!(0.6));
        assert_eq!(b.best_bid(), Some((dec!(100), dec!(0.6))));
        assert_eq!(b.best_ask(), None);
        assert!(b.contains(2));
        assert!(!b.contains(1));
    }

    #[test]
    fn ioc_expires_remainder_and_market_takes_what_is_there() {
        let mut b = OrderBook::default();
        b.submit(limit(1, Owner::Synthetic, Side::Buy, dec!(99), dec!(1)))
            .unwrap();
        b.submit(limit(2, Owner::Synthetic, Side::Buy, dec!(98), dec!(1)))
            .unwrap();
        let ioc = with_tif(
            limit(3, Owner::Account, Side::Sell, dec!(99), dec!(3)),
            TimeInForce::Ioc,
        );
        let ex = b.submit(ioc).unwrap();
        assert_eq!(
            (ex.filled, ex.rested, ex.expired),
            (dec!(1), dec!(0), dec!(2))
        );
        assert!(!b.contains(3));
        let mkt = Incoming {
            id: 4,
            owner: Owner::Account,
            side: Side::Sell,
            qty: dec!(5),
            kind: OrderKind::Market,
        };
        let ex = b.submit(mkt).unwrap();
        assert_eq!((ex.filled, ex.expired), (dec!(1), dec!(4)));
        assert_eq!(ex.fills[0].price, dec!(98));
        assert_eq!(b.order_count(), 0);
    }

    #[test]
    fn fok_all_or_nothing() {
        let mut b = OrderBook::default();
        b.submit(limit(1, Owner::Synthetic, Side::Sell, dec!(100), dec!(1)))
            .unwrap();
        b.submit(limit(2, Owner::Synthetic, Side::Sell, dec!(102), dec!(1)))
            .unwrap();
        let before = b.update_id();
        let fok = with_tif(
            limit(3, Owner::Account, Side::Buy, dec!(101), dec!(1.5)),
            TimeInForce::Fok,
        );
        let ex = b.submit(fok).unwrap();
        assert!(ex.fills.is_empty());
        assert_eq!(ex.expired, dec!(1.5));
        assert_eq!(
            b.update_id(),
            before,
            "a killed FOK must not touch the book"
        );
        let fok = with_tif(
            limit(4, Owner::Account, Side::Buy, dec!(102), dec!(1.5)),
            TimeInForce::Fok,
        );
        let ex = b.submit(fok).unwrap();
        assert_eq!(ex.filled, dec!(1.5));
        assert_eq!(b.best_ask(), Some((dec!(102), dec!(0.5))));
    }

    #[test]
    fn post_only_rejects_when_crossing() {
        let mut b = OrderBook::default();
        b.submit(limit(1, Owner::Synthetic, Side::Sell, dec!(100), dec!(1)))
            .unwrap();
        let mut po = limit(2, Owner::Account, Side::Buy, dec!(100), dec!(1));
        po.kind = OrderKind::Limit {
            price: dec!(100),
            tif: TimeInForce::Gtc,
            post_only: true,
        };
        assert_eq!(b.submit(po), Err(MatchError::WouldTake));
        po.kind = OrderKind::Limit {
            price: dec!(99),
            tif: TimeInForce::Gtc,
            post_only: true,
        };
        let ex = b.submit(po).unwrap();
        assert_eq!(ex.rested, dec!(1));
        assert_eq!(b.best_bid(), Some((dec!(99), dec!(1))));
    }

    #[test]
    fn self_trade_prevention_expires_our_resting_order() {
        let mut b = OrderBook::default();
        b.submit(limit(1, Owner::Account, Side::Sell, dec!(100), dec!(1)))
            .unwrap();
        b.submit(limit(2, Owner::Synthetic, Side::Sell, dec!(100), dec!(1)))
            .unwrap();
        let ex = b
            .submit(limit(3, Owner::Account, Side::Buy, dec!(100), dec!(1.5)))
            .unwrap();
        assert_eq!(
            ex.stp_expired,
            vec![StpExpired {
                id: 1,
                remaining: dec!(1)
            }]
        );
        assert_eq!(ex.fills.len(), 1);
        assert_eq!(ex.fills[0].maker_id, 2);
        assert_eq!(ex.rested, dec!(0.5));
        assert!(!b.contains(1));
        // Synthetic orders trade with each other and with ours freely.
        let ex = b
            .submit(limit(4, Owner::Synthetic, Side::Sell, dec!(100), dec!(0.5)))
            .unwrap();
        assert_eq!(ex.fills[0].maker_id, 3);
        assert_eq!(ex.fills[0].maker_owner, Owner::Account);
        // fillable() skips what STP would expire.
        b.submit(limit(5, Owner::Account, Side::Sell, dec!(101), dec!(2)))
            .unwrap();
        assert_eq!(
            b.fillable(Side::Buy, dec!(1), None, Owner::Account),
            (dec!(0), dec!(0))
        );
        assert_eq!(
            b.fillable(Side::Buy, dec!(1), None, Owner::Synthetic),
            (dec!(1), dec!(101))
        );
    }

    #[test]
    fn cancel_and_change_log() {
        let mut b = OrderBook::new(100, 1);
        b.submit(limit(1, Owner::Account, Side::Buy, dec!(99), dec!(1)))
            .unwrap();
        b.submit(limit(2, Owner::Synthetic, Side::Buy, dec!(99), dec!(2)))
            .unwrap();
        assert_eq!(b.cancel(1), Some(dec!(1)));
        assert_eq!(b.cancel(1), None);
        assert_eq!(b.best_bid(), Some((dec!(99), dec!(2))));
        assert_eq!(b.cancel(2), Some(dec!(2)));
        assert_eq!(b.best_bid(), None);
        let ch = b.take_changes();
        let got: Vec<_> = ch.iter().map(|c| (c.update_id, c.qty)).collect();
        assert_eq!(
            got,
            vec![
                (100, dec!(1)),
                (101, dec!(3)),
                (102, dec!(2)),
                (103, dec!(0))
            ]
        );
        assert_eq!(b.update_id(), 103);
        assert!(b.take_changes().is_empty());
        assert_eq!(
            b.submit(limit(3, Owner::Account, Side::Buy, dec!(1), dec!(0))),
            Err(MatchError::NotPositive)
        );
    }
}
