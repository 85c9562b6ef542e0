//! The exchange state behind one lock: books, our account (balances, orders), the ledger, and
//! the emission of market-data and user-data events for every change.
//!
//! All mutation goes through [`Exchange`] methods, which publish the resulting events while the
//! state is still locked, so event order always equals state order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use peregrine_engine::types::Side;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::config::{SimConfig, SimSymbol};
use super::error::{ApiError, SimError};
use super::fanout::Fanout;
use super::history::{MarketHistory, TradeRec};
use super::ledger::LedgerFill;
use super::market::Synth;
use super::matching::{
    Execution, Fill, Incoming, MatchError, OrderBook, OrderId, OrderKind, Owner, PriceLevel,
    TimeInForce,
};
use super::wire::{dec, side_str};
use super::BookSnapshot;

/// Binance order types the simulator accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderType {
    /// `MARKET`
    Market,
    /// `LIMIT`
    Limit,
    /// `LIMIT_MAKER` (post-only)
    LimitMaker,
}

impl OrderType {
    /// Binance's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "MARKET",
            OrderType::Limit => "LIMIT",
            OrderType::LimitMaker => "LIMIT_MAKER",
        }
    }
}

/// Binance order status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// Accepted, nothing filled.
    New,
    /// Some quantity filled, order still open.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled by us.
    Canceled,
    /// Expired (IOC/FOK/market remainder).
    Expired,
    /// Expired by self-trade prevention.
    ExpiredInMatch,
}

impl OrderStatus {
    /// Binance's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "NEW",
            OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Canceled => "CANCELED",
            OrderStatus::Expired => "EXPIRED",
            OrderStatus::ExpiredInMatch => "EXPIRED_IN_MATCH",
        }
    }

    /// Whether the order can still trade.
    pub fn is_open(self) -> bool {
        matches!(self, OrderStatus::New | OrderStatus::PartiallyFilled)
    }
}

/// Binance's time-in-force name.
pub fn tif_str(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
    }
}

/// One of our orders, open or closed.
#[derive(Clone, Debug)]
pub struct AccountOrder {
    /// Symbol.
    pub symbol: String,
    /// Order id.
    pub order_id: OrderId,
    /// Client order id.
    pub client_order_id: String,
    /// Side.
    pub side: Side,
    /// Order type.
    pub order_type: OrderType,
    /// Time in force (GTC for MARKET and LIMIT_MAKER, as Binance reports).
    pub tif: TimeInForce,
    /// Limit price (zero for MARKET).
    pub price: Decimal,
    /// Ordered quantity.
    pub orig_qty: Decimal,
    /// Filled quantity.
    pub executed_qty: Decimal,
    /// Sum of price * qty over fills.
    pub cum_quote: Decimal,
    /// Status.
    pub status: OrderStatus,
    /// Creation time (ms).
    pub time: i64,
    /// Time of the last change (ms).
    pub update_time: i64,
    /// Funds still locked for this order (quote for buys, base for sells).
    pub locked_left: Decimal,
    /// When the order started working on the book (ms); `None` if it never rested (filled or
    /// expired on arrival, MARKET, IOC, FOK). Binance's `workingTime` / executionReport `W`.
    pub working_time: Option<i64>,
    /// `quoteOrderQty` of a MARKET order given in quote units (zero otherwise).
    pub orig_quote_qty: Decimal,
}

/// A fill as reported to the client (REST `fills` and executionReport).
#[derive(Clone, Debug)]
pub struct FillReport {
    /// Trade id.
    pub trade_id: u64,
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// Commission.
    pub commission: Decimal,
    /// Commission asset.
    pub commission_asset: String,
    /// Whether our order was the maker.
    pub is_maker: bool,
}

/// A validated new-order request.
#[derive(Clone, Debug)]
pub struct NewOrder {
    /// Symbol (must be listed).
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force (LIMIT only).
    pub tif: TimeInForce,
    /// Quantity (ignored when `quote_qty` is set).
    pub qty: Decimal,
    /// `quoteOrderQty` of a MARKET order: the quantity is computed from the book at entry
    /// ([`Exchange::resolve_quote_qty`]).
    pub quote_qty: Option<Decimal>,
    /// Price (LIMIT and LIMIT_MAKER).
    pub price: Option<Decimal>,
    /// Client order id (generated if absent).
    pub client_order_id: Option<String>,
}

/// The result of placing an order.
#[derive(Clone, Debug)]
pub struct Placed {
    /// The order after matching.
    pub order: AccountOrder,
    /// Its fills from this request.
    pub fills: Vec<FillReport>,
    /// Match time (ms).
    pub transact_time: i64,
}

/// Free and locked amounts of one asset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// Available.
    pub free: Decimal,
    /// Locked by open orders.
    pub locked: Decimal,
}

/// Accumulates book changes into one `depthUpdate` event.
#[derive(Debug, Default)]
pub struct DepthAccumulator {
    first: Option<u64>,
    last: u64,
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

impl DepthAccumulator {
    fn add(&mut self, update_id: u64, side: Side, price: Decimal, qty: Decimal) {
        self.first.get_or_insert(update_id);
        self.last = update_id;
        match side {
            Side::Buy => self.bids.insert(price, qty),
            Side::Sell => self.asks.insert(price, qty),
        };
    }

    /// The pending `depthUpdate` event, if any change accumulated; resets the accumulator.
    fn take_event(&mut self, symbol: &str, now: i64) -> Option<String> {
        let first = self.first.take()?;
        let levels = |m: &BTreeMap<Decimal, Decimal>, rev: bool| -> Vec<Value> {
            let it = m.iter().map(|(p, q)| json!([dec(*p), dec(*q)]));
            if rev {
                it.rev().collect()
            } else {
                it.collect()
            }
        };
        let ev = json!({
            "e": "depthUpdate", "E": now, "s": symbol, "U": first, "u": self.last,
            "b": levels(&self.bids, true), "a": levels(&self.asks, false),
        });
        self.bids.clear();
        self.asks.clear();
        Some(ev.to_string())
    }
}

/// Per-symbol state.
#[derive(Debug)]
pub struct SymbolState {
    /// Listing and filters.
    pub spec: SimSymbol,
    /// Lower-case stream prefix, e.g. `btcusdt`.
    pub stream_prefix: String,
    /// The order book (synthetic and our orders).
    pub book: OrderBook,
    /// Pending changes for `@depth@100ms`.
    pub depth_fast: DepthAccumulator,
    /// Pending changes for `@depth` (1000 ms).
    pub depth_slow: DepthAccumulator,
    /// Last published best bid/ask, to emit bookTicker on change.
    pub last_top: Option<(Option<PriceLevel>, Option<PriceLevel>)>,
    /// Synthetic market state.
    pub synth: Synth,
    /// Public trade history (trades, aggregate trades, bars).
    pub history: MarketHistory,
}

/// Which depth stream to flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthSpeed {
    /// `<sym>@depth@100ms`
    Fast,
    /// `<sym>@depth` (1000 ms)
    Slow,
}

/// The whole exchange.
#[derive(Debug)]
pub struct Exchange {
    pub(super) maker_fee: Decimal,
    pub(super) taker_fee: Decimal,
    pub(super) symbols: BTreeMap<String, SymbolState>,
    balances: BTreeMap<String, Balance>,
    orders: HashMap<OrderId, AccountOrder>,
    client_ids: HashMap<(String, String), OrderId>,
    ledger: Vec<LedgerFill>,
    next_order_id: OrderId,
    next_client_id: u64,
    /// Execution id of the next executionReport (its `I` field), unique and increasing.
    next_exec_id: u64,
    pub(super) fanout: Fanout,
    /// Assets whose balance changed during the current operation.
    touched: BTreeSet<String>,
}

impl Exchange {
    /// Builds the exchange from a validated config.
    pub fn new(cfg: &SimConfig, fanout: Fanout) -> Result<Self, SimError> {
        if cfg.symbols.is_empty() {
            return Err(SimError::Config("no symbols".into()));
        }
        let mut symbols = BTreeMap::new();
        for (i, spec) in cfg.symbols.iter().enumerate() {
            let synth = Synth::new(cfg.seed, i as u64, spec, &cfg.market)?;
            let state = SymbolState {
                stream_prefix: spec.symbol.to_lowercase(),
                book: OrderBook::new(1_000_000, 1),
                depth_fast: DepthAccumulator::default(),
                depth_slow: DepthAccumulator::default(),
                last_top: None,
                synth,
                history: MarketHistory::default(),
                spec: spec.clone(),
            };
            if symbols.insert(spec.symbol.clone(), state).is_some() {
                return Err(SimError::Config(format!(
                    "duplicate symbol {}",
                    spec.symbol
                )));
            }
        }
        let mut balances = BTreeMap::new();
        for (asset, amount) in &cfg.balances {
            balances
                .entry(asset.clone())
                .or_insert_with(Balance::default)
                .free += *amount;
        }
        Ok(Exchange {
            maker_fee: cfg.maker_fee,
            taker_fee: cfg.taker_fee,
            symbols,
            balances,
            orders: HashMap::new(),
            client_ids: HashMap::new(),
            ledger: Vec::new(),
            next_order_id: 1,
            next_client_id: 1,
            next_exec_id: 1,
            fanout,
            touched: BTreeSet::new(),
        })
    }

    /// A new order id (shared by synthetic and our orders, like a venue's sequence).
    pub(super) fn alloc_order_id(&mut self) -> OrderId {
        let id = self.next_order_id;
        self.next_order_id += 1;
        id
    }

    /// Listed symbols.
    pub fn symbols(&self) -> impl Iterator<Item = &SimSymbol> {
        self.symbols.values().map(|s| &s.spec)
    }

    /// The listing of `symbol`.
    pub fn symbol(&self, symbol: &str) -> Option<&SimSymbol> {
        self.symbols.get(symbol).map(|s| &s.spec)
    }

    /// Copy of the ledger.
    pub fn ledger(&self) -> Vec<LedgerFill> {
        self.ledger.clone()
    }

    /// All balances.
    pub fn balances(&self) -> &BTreeMap<String, Balance> {
        &self.balances
    }

    /// Book snapshot: `(lastUpdateId, bids, asks)` with up to `limit` levels per side.
    pub fn depth(&self, symbol: &str, limit: usize) -> Option<BookSnapshot> {
        let s = self.symbols.get(symbol)?;
        let (b, a) = s.book.depth(limit);
        Some((s.book.update_id(), b, a))
    }

    /// Our open orders, optionally for one symbol, oldest first.
    pub fn open_orders(&self, symbol: Option<&str>) -> Vec<AccountOrder> {
        let mut v: Vec<_> = self
            .orders
            .values()
            .filter(|o| o.status.is_open() && symbol.iter().all(|s| *s == o.symbol))
            .cloned()
            .collect();
        v.sort_by_key(|o| o.order_id);
        v
    }

    /// All our orders on a symbol (any status), oldest first.
    pub fn all_orders(&self, symbol: &str) -> Vec<AccountOrder> {
        let mut v: Vec<_> = self
            .orders
            .values()
            .filter(|o| o.symbol == symbol)
            .cloned()
            .collect();
        v.sort_by_key(|o| o.order_id);
        v
    }

    /// Finds one of our orders by id or client id.
    pub fn find_order(
        &self,
        symbol: &str,
        order_id: Option<OrderId>,
        client_id: Option<&str>,
    ) -> Option<&AccountOrder> {
        let id = match (order_id, client_id) {
            (Some(id), _) => id,
            (None, Some(c)) => *self.client_ids.get(&(symbol.to_string(), c.to_string()))?,
            (None, None) => return None,
        };
        self.orders
            .get(&id)
            .filter(|o| o.symbol == symbol && client_id.iter().all(|c| *c == o.client_order_id))
    }

    fn balance_mut(&mut self, asset: &str) -> &mut Balance {
        self.touched.insert(asset.to_string());
        self.balances.entry(asset.to_string()).or_default()
    }

    /// Places one of our orders: checks balance, locks funds, matches, and publishes every
    /// resulting event (executionReports, account position, trades, depth, bookTicker).
    pub fn place_order(&mut self, mut req: NewOrder, now: i64) -> Result<Placed, ApiError> {
        self.resolve_quote_qty(&mut req)?;
        let Some(sym) = self.symbols.get(&req.symbol) else {
            return Err(ApiError::invalid_symbol());
        };
        let (base, quote) = (sym.spec.base.clone(), sym.spec.quote.clone());
        let client_order_id = match req.client_order_id.clone() {
            Some(c) => c,
            None => {
                let c = format!("sim{:017}", self.next_client_id);
                self.next_client_id += 1;
                c
            }
        };
        let key = (req.symbol.clone(), client_order_id.clone());
        if let Some(prev) = self.client_ids.get(&key).and_then(|id| self.orders.get(id)) {
            if prev.status.is_open() {
                return Err(ApiError::order_rejected("Duplicate order sent."));
            }
        }
        // Funds to lock.
        let (lock_asset, lock_amount) = match (req.side, req.order_type, req.price) {
            (Side::Sell, _, _) => (base.clone(), req.qty),
            (Side::Buy, OrderType::Market, _) => {
                let (_, cost) = sym.book.fillable(Side::Buy, req.qty, None, Owner::Account);
                (quote.clone(), cost)
            }
            (Side::Buy, _, Some(p)) => (quote.clone(), p * req.qty),
            (Side::Buy, _, None) => return Err(ApiError::mandatory("price")),
        };
        let free = self
            .balances
            .get(&lock_asset)
            .map(|b| b.free)
            .unwrap_or_default();
        if free < lock_amount {
            return Err(ApiError::insufficient_balance());
        }
        let kind = match (req.order_type, req.price) {
            (OrderType::Market, _) => OrderKind::Market,
            (OrderType::Limit, Some(price)) => OrderKind::Limit {
                price,
                tif: req.tif,
                post_only: false,
            },
            (OrderType::LimitMaker, Some(price)) => OrderKind::Limit {
                price,
                tif: TimeInForce::Gtc,
                post_only: true,
            },
            (_, None) => return Err(ApiError::mandatory("price")),
        };
        let order_id = self.alloc_order_id();
        let incoming = Incoming {
            id: order_id,
            owner: Owner::Account,
            side: req.side,
            qty: req.qty,
            kind,
        };
        let exec = {
            let Some(sym) = self.symbols.get_mut(&req.symbol) else {
                return Err(ApiError::invalid_symbol());
            };
            match sym.book.submit(incoming) {
                Ok(e) => e,
                Err(MatchError::WouldTake) => {
                    return Err(ApiError::order_rejected(
                        "Order would immediately match and take.",
                    ))
                }
                Err(MatchError::NotPositive) => return Err(ApiError::filter("LOT_SIZE")),
                Err(MatchError::DuplicateId) => {
                    return Err(ApiError::order_rejected("Duplicate order sent."))
                }
            }
        };
        // Accepted: lock funds, record the order, announce NEW.
        let bal = self.balance_mut(&lock_asset);
        bal.free -= lock_amount;
        bal.locked += lock_amount;
        let order = AccountOrder {
            symbol: req.symbol.clone(),
            order_id,
            client_order_id: client_order_id.clone(),
            side: req.side,
            order_type: req.order_type,
            tif: if req.order_type == OrderType::Limit {
                req.tif
            } else {
                TimeInForce::Gtc
            },
            price: req.price.unwrap_or_default(),
            orig_qty: req.qty,
            executed_qty: Decimal::ZERO,
            cum_quote: Decimal::ZERO,
            status: OrderStatus::New,
            time: now,
            update_time: now,
            locked_left: lock_amount,
            working_time: (!exec.rested.is_zero()).then_some(now),
            orig_quote_qty: req.quote_qty.unwrap_or_default(),
        };
        self.client_ids.insert(key, order_id);
        self.user_execution_report(&order, "NEW", now, None, None);
        self.orders.insert(order_id, order);

        let fills = self.process_execution(&req.symbol, &exec, Some(order_id), now);
        if !exec.expired.is_zero() {
            self.close_order(order_id, OrderStatus::Expired, "EXPIRED", now, None);
        }
        self.publish_book_changes(&req.symbol, now);
        self.publish_account_position(now);
        let order = self
            .orders
            .get(&order_id)
            .cloned()
            .ok_or_else(ApiError::no_such_order)?;
        Ok(Placed {
            order,
            fills,
            transact_time: now,
        })
    }

    /// Cancels one of our open orders. `cancel_client_id` is the new client id of the cancel
    /// request (generated if absent).
    pub fn cancel_order(
        &mut self,
        symbol: &str,
        order_id: Option<OrderId>,
        orig_client_id: Option<&str>,
        cancel_client_id: Option<String>,
        now: i64,
    ) -> Result<(AccountOrder, String), ApiError> {
        if !self.symbols.contains_key(symbol) {
            return Err(ApiError::invalid_symbol());
        }
        let id = match self.find_order(symbol, order_id, orig_client_id) {
            Some(o) if o.status.is_open() => o.order_id,
            _ => return Err(ApiError::unknown_order()),
        };
        let cancel_id = cancel_client_id.unwrap_or_else(|| {
            let c = format!("simcxl{:014}", self.next_client_id);
            self.next_client_id += 1;
            c
        });
        if let Some(sym) = self.symbols.get_mut(symbol) {
            sym.book.cancel(id);
        }
        self.close_order(id, OrderStatus::Canceled, "CANCELED", now, Some(&cancel_id));
        self.publish_book_changes(symbol, now);
        self.publish_account_position(now);
        let order = self
            .orders
            .get(&id)
            .cloned()
            .ok_or_else(ApiError::unknown_order)?;
        Ok((order, cancel_id))
    }

    /// Submits a synthetic participant's order (market maker or taker).
    pub(super) fn submit_synthetic(
        &mut self,
        symbol: &str,
        side: Side,
        qty: Decimal,
        kind: OrderKind,
        now: i64,
    ) {
        let id = self.alloc_order_id();
        let Some(sym) = self.symbols.get_mut(symbol) else {
            return;
        };
        let incoming = Incoming {
            id,
            owner: Owner::Synthetic,
            side,
            qty,
            kind,
        };
        match sym.book.submit(incoming) {
            Ok(exec) => {
                self.process_execution(symbol, &exec, None, now);
            }
            Err(e) => tracing::debug!(symbol, error = %e, "synthetic order refused"),
        }
    }

    /// Cancels a synthetic order.
    pub(super) fn cancel_synthetic(&mut self, symbol: &str, id: OrderId) {
        if let Some(sym) = self.symbols.get_mut(symbol) {
            sym.book.cancel(id);
        }
    }

    /// Applies the consequences of a match: trade events, our fills (ledger, balances,
    /// executionReports), self-trade-prevention expirations. Returns the fills of our taker
    /// order `taker`, if any.
    fn process_execution(
        &mut self,
        symbol: &str,
        exec: &Execution,
        taker: Option<OrderId>,
        now: i64,
    ) -> Vec<FillReport> {
        let mut taker_fills = Vec::new();
        for s in &exec.stp_expired {
            self.close_order(
                s.id,
                OrderStatus::ExpiredInMatch,
                "TRADE_PREVENTION",
                now,
                None,
            );
        }
        for f in &exec.fills {
            self.publish_trade(symbol, f, now);
            if f.maker_owner == Owner::Account {
                self.apply_our_fill(f.maker_id, f.trade_id, f.price, f.qty, true, now);
            }
            if taker == Some(f.taker_id) {
                if let Some(r) =
                    self.apply_our_fill(f.taker_id, f.trade_id, f.price, f.qty, false, now)
                {
                    taker_fills.push(r);
                }
            }
        }
        self.close_agg_trade(symbol, now);
        if taker.is_none() {
            self.publish_book_changes(symbol, now);
            self.publish_account_position(now);
        }
        taker_fills
    }

    /// One fill of our order: balances, order state, ledger, executionReport.
    fn apply_our_fill(
        &mut self,
        id: OrderId,
        trade_id: u64,
        price: Decimal,
        qty: Decimal,
        is_maker: bool,
        now: i64,
    ) -> Option<FillReport> {
        let mut order = self.orders.get(&id)?.clone();
        let spec = self.symbols.get(&order.symbol)?.spec.clone();
        let model = super::fees::FeeModel {
            maker: self.maker_fee,
            taker: self.taker_fee,
            asset: super::fees::FeeAsset::Received,
        };
        let charged = model.charge(order.side, price, qty, is_maker);
        let quote_qty = price * qty;
        let (commission, commission_asset) = match order.side {
            Side::Buy => {
                let consume = match order.order_type {
                    OrderType::Market => quote_qty,
                    _ => order.price * qty,
                }
                .min(order.locked_left);
                order.locked_left -= consume;
                let q = self.balance_mut(&spec.quote);
                q.locked -= consume;
                q.free += consume - quote_qty;
                let (commission, asset) = charged_in(charged, &spec);
                let net = if asset == spec.base {
                    qty - commission
                } else {
                    qty
                };
                self.balance_mut(&spec.base).free += net;
                if asset == spec.quote {
                    self.balance_mut(&spec.quote).free -= commission;
                }
                (commission, asset)
            }
            Side::Sell => {
                let consume = qty.min(order.locked_left);
                order.locked_left -= consume;
                self.balance_mut(&spec.base).locked -= consume;
                let (commission, asset) = charged_in(charged, &spec);
                let net = if asset == spec.quote {
                    quote_qty - commission
                } else {
                    quote_qty
                };
                self.balance_mut(&spec.quote).free += net;
                if asset == spec.base {
                    self.balance_mut(&spec.base).free -= commission;
                }
                (commission, asset)
            }
        };
        order.executed_qty += qty;
        order.cum_quote += quote_qty;
        order.update_time = now;
        order.status = if order.executed_qty >= order.orig_qty {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        let report = FillReport {
            trade_id,
            price,
            qty,
            commission,
            commission_asset: commission_asset.clone(),
            is_maker,
        };
        self.ledger.push(LedgerFill {
            symbol: order.symbol.clone(),
            trade_id,
            order_id: id,
            client_order_id: order.client_order_id.clone(),
            side: order.side,
            price,
            qty,
            commission,
            commission_asset,
            is_maker,
            time_ms: now,
        });
        self.user_execution_report(&order, "TRADE", now, Some(&report), None);
        let filled = order.status == OrderStatus::Filled;
        self.orders.insert(id, order);
        if filled {
            self.release_locked(id);
        }
        Some(report)
    }

    /// Moves an open order to a final status, releases its locked funds and reports it.
    fn close_order(
        &mut self,
        id: OrderId,
        status: OrderStatus,
        exec_type: &str,
        now: i64,
        cancel_client_id: Option<&str>,
    ) {
        let Some(order) = self.orders.get_mut(&id) else {
            return;
        };
        if !order.status.is_open() {
            return;
        }
        order.status = status;
        order.update_time = now;
        let snapshot = order.clone();
        self.release_locked(id);
        self.user_execution_report(&snapshot, exec_type, now, None, cancel_client_id);
    }

    fn release_locked(&mut self, id: OrderId) {
        let Some(order) = self.orders.get_mut(&id) else {
            return;
        };
        let left = std::mem::take(&mut order.locked_left);
        if left.is_zero() {
            return;
        }
        let (symbol, side) = (order.symbol.clone(), order.side);
        let Some(spec) = self.symbols.get(&symbol).map(|s| s.spec.clone()) else {
            return;
        };
        let asset = match side {
            Side::Buy => spec.quote,
            Side::Sell => spec.base,
        };
        let b = self.balance_mut(&asset);
        b.locked -= left;
        b.free += left;
    }

    fn user_execution_report(
        &mut self,
        o: &AccountOrder,
        exec_type: &str,
        now: i64,
        fill: Option<&FillReport>,
        cancel_client_id: Option<&str>,
    ) {
        let (c, orig_c) = match cancel_client_id {
            Some(cid) => (cid, o.client_order_id.as_str()),
            None => (o.client_order_id.as_str(), ""),
        };
        let zero = Decimal::ZERO;
        let exec_id = self.next_exec_id;
        self.next_exec_id += 1;
        let mut ev = json!({
            "e": "executionReport", "E": now, "s": o.symbol, "c": c,
            "S": side_str(o.side), "o": o.order_type.as_str(), "f": tif_str(o.tif),
            "q": dec(o.orig_qty), "p": dec(o.price), "P": dec(zero), "F": dec(zero), "g": -1,
            "C": orig_c, "x": exec_type, "X": o.status.as_str(), "r": "NONE", "i": o.order_id,
            "l": dec(fill.map(|f| f.qty).unwrap_or_default()),
            "z": dec(o.executed_qty),
            "L": dec(fill.map(|f| f.price).unwrap_or_default()),
            "n": dec(fill.map(|f| f.commission).unwrap_or_default()),
            "N": fill.map(|f| Value::String(f.commission_asset.clone())).unwrap_or(Value::Null),
            "T": now, "t": fill.map(|f| f.trade_id as i64).unwrap_or(-1), "I": exec_id,
            "w": o.status.is_open() && o.working_time.is_some(),
            "m": fill.is_some_and(|f| f.is_maker), "M": false, "O": o.time,
            "Z": dec(o.cum_quote),
            "Y": dec(fill.map(|f| f.price * f.qty).unwrap_or_default()),
            "Q": dec(o.orig_quote_qty), "V": "EXPIRE_MAKER",
        });
        // `W` (working time) appears only for orders that were placed on the book.
        if let (Some(w), Value::Object(m)) = (o.working_time, &mut ev) {
            m.insert("W".into(), json!(w));
        }
        self.fanout.user(ev.to_string());
    }

    /// Emits `outboundAccountPosition` for the assets touched since the last call.
    fn publish_account_position(&mut self, now: i64) {
        if self.touched.is_empty() {
            return;
        }
        let touched = std::mem::take(&mut self.touched);
        let b: Vec<Value> = touched
            .iter()
            .map(|a| {
                let bal = self.balances.get(a).copied().unwrap_or_default();
                json!({"a": a, "f": dec(bal.free), "l": dec(bal.locked)})
            })
            .collect();
        let ev = json!({"e": "outboundAccountPosition", "E": now, "u": now, "B": b});
        self.fanout.user(ev.to_string());
    }

    /// Publishes a trade, records it in the symbol's history and publishes the aggregate
    /// trade it closed, if any.
    fn publish_trade(&mut self, symbol: &str, f: &Fill, now: i64) {
        let Some(sym) = self.symbols.get_mut(symbol) else {
            return;
        };
        let (trade_id, price, qty) = (f.trade_id, f.price, f.qty);
        let ev = json!({
            "e": "trade", "E": now, "s": symbol, "t": trade_id, "p": dec(price), "q": dec(qty),
            "T": now, "m": f.taker_side == Side::Sell, "M": true,
        });
        self.fanout
            .market(format!("{}@trade", sym.stream_prefix), ev.to_string());
        let rec = TradeRec {
            id: trade_id,
            price,
            qty,
            time: now,
            buyer_maker: f.taker_side == Side::Sell,
        };
        if let Some(agg) = sym.history.record(rec, f.taker_id) {
            publish_agg(&self.fanout, sym, &agg, now);
        }
    }

    /// Closes and publishes the open aggregate trade of `symbol` (its taker finished).
    fn close_agg_trade(&mut self, symbol: &str, now: i64) {
        if let Some(sym) = self.symbols.get_mut(symbol) {
            if let Some(agg) = sym.history.flush_agg() {
                publish_agg(&self.fanout, sym, &agg, now);
            }
        }
    }

    /// Moves the book's recorded changes into the depth accumulators and emits a bookTicker
    /// if the top of the book changed.
    pub(super) fn publish_book_changes(&mut self, symbol: &str, _now: i64) {
        let Some(sym) = self.symbols.get_mut(symbol) else {
            return;
        };
        for ch in sym.book.take_changes() {
            sym.depth_fast.add(ch.update_id, ch.side, ch.price, ch.qty);
            sym.depth_slow.add(ch.update_id, ch.side, ch.price, ch.qty);
        }
        let top = (sym.book.best_bid(), sym.book.best_ask());
        if sym.last_top != Some(top) {
            sym.last_top = Some(top);
            let (b, a) = top;
            let z = Decimal::ZERO;
            let ev = json!({
                "u": sym.book.update_id(), "s": symbol,
                "b": dec(b.map(|x| x.0).unwrap_or(z)), "B": dec(b.map(|x| x.1).unwrap_or(z)),
                "a": dec(a.map(|x| x.0).unwrap_or(z)), "A": dec(a.map(|x| x.1).unwrap_or(z)),
            });
            self.fanout
                .market(format!("{}@bookTicker", sym.stream_prefix), ev.to_string());
        }
    }

    /// Emits the pending `depthUpdate` of every symbol for one depth stream.
    pub fn flush_depth(&mut self, speed: DepthSpeed, now: i64) {
        for (name, sym) in self.symbols.iter_mut() {
            let (acc, stream) = match speed {
                DepthSpeed::Fast => (
                    &mut sym.depth_fast,
                    format!("{}@depth@100ms", sym.stream_prefix),
                ),
                DepthSpeed::Slow => (&mut sym.depth_slow, format!("{}@depth", sym.stream_prefix)),
            };
            if let Some(ev) = acc.take_event(name, now) {
                self.fanout.market(stream, ev);
            }
        }
    }
}

/// A commission from the fee model, with the asset it was taken in.
fn charged_in(c: super::fees::Charged, spec: &SimSymbol) -> (Decimal, String) {
    match c {
        super::fees::Charged::Base(v) => (v, spec.base.clone()),
        super::fees::Charged::Quote(v) => (v, spec.quote.clone()),
    }
}

/// Publishes an aggregate trade on `<symbol>@aggTrade` if anyone subscribed to it.
fn publish_agg(fanout: &Fanout, sym: &SymbolState, agg: &super::history::AggRec, now: i64) {
    let stream = format!("{}@aggTrade", sym.stream_prefix);
    if fanout.wants(&stream) {
        let ev = super::market_data::agg_event(&sym.spec.symbol, agg, now);
        fanout.market(stream, ev.to_string());
    }
}
