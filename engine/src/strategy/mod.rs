//! The Rhai strategy host: a `.rhai` file compiled once, its callbacks called per event in a
//! sandboxed engine, its orders collected as actions for the core loop.
//!
//! A strategy keeps its state in `this` (a map that lives as long as the strategy, across hot
//! reloads). Callbacks, all optional, with their arity checked at load: `on_start()`,
//! `on_stop()`, `on_trade(t)`, `on_quote(q)`, `on_book(b)`, `on_bar(bar)`, `on_timer(name)`,
//! `on_order(o)`, `on_fill(f)`, `on_risk_reject(r)`, `on_reload()`, `on_signal(s)`. The functions a script can
//! call are listed in [`api`]; the quant-facing guide is `strategies/README.md`.

mod api;
mod check;
mod check_types;
pub mod declared;
mod diagnose;
mod error;
mod event_arg;
mod linked_orders;
pub mod params;
mod reload;
mod script_indicators;
mod views;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{CallFnOptions, Dynamic, Engine, ImmutableString, Map, Scope, AST};
use rust_decimal::Decimal;

pub use api::{params_to_map, round_price, round_qty};
pub use check::check_source;
pub use error::StrategyError;
pub use reload::{source_hash, ReloadOrigin, ReloadWatcher, Reloaded};
pub use views::{BarView, BookView, FillView, OrderView, QuoteView, RejectView, TradeView};

use crate::bars::{parse_timeframe, BarBuilder};
use crate::config::StrategyConfig;
use crate::order::{ClientOrderId, OrderIntent};
use crate::types::{InstrumentId, Instruments, Price, Qty, Side};

/// Sandbox limits applied to every callback.
#[derive(Clone, Copy, Debug)]
pub struct StrategyLimits {
    /// Operations per callback before it is stopped (catches infinite loops).
    pub max_operations: u64,
    /// Maximum function call depth.
    pub max_call_levels: usize,
    /// Maximum string length.
    pub max_string_size: usize,
    /// Maximum array length.
    pub max_array_size: usize,
    /// Maximum map size.
    pub max_map_size: usize,
}

impl Default for StrategyLimits {
    fn default() -> Self {
        Self {
            max_operations: 200_000,
            max_call_levels: 32,
            max_string_size: 16 * 1024,
            max_array_size: 100_000,
            max_map_size: 10_000,
        }
    }
}

/// What the core loop knows about one instrument, as scripts see it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct InstrumentView {
    /// Our signed position.
    pub position: Qty,
    /// Average entry price of the position.
    pub avg_price: Price,
    /// Realized PnL.
    pub realized_pnl: Price,
    /// Best bid, if known.
    pub best_bid: Option<Price>,
    /// Best ask, if known.
    pub best_ask: Option<Price>,
    /// Last trade price, if known.
    pub last_price: Option<Price>,
    /// Open quantity of our working buy orders.
    pub open_buy_qty: Qty,
    /// Open quantity of our working sell orders.
    pub open_sell_qty: Qty,
}

/// One of the strategy's working orders, as `open_orders()` shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenOrder {
    /// Our id.
    pub id: ClientOrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Limit price (`None` for market orders).
    pub price: Option<Price>,
    /// Ordered quantity.
    pub qty: Qty,
    /// Filled so far.
    pub filled: Qty,
}

/// One asset of the account as `balance(asset)` / `available(asset)` read it.
#[derive(Clone, Debug, PartialEq)]
pub struct AssetView {
    /// Asset name (`BTC`).
    pub asset: ImmutableString,
    /// Balance: the venue's at start plus our fills.
    pub balance: Decimal,
    /// Balance less what working orders hold.
    pub available: Decimal,
}

/// What a script asked the engine to do during a callback.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyAction {
    /// Place an order (the risk gate decides) under the id the script was given.
    Place(ClientOrderId, OrderIntent),
    /// Hold an order in the engine until its trigger fires on a trade of its instrument, then
    /// place it (the risk gate decides then) under this id.
    Conditional(ClientOrderId, crate::order::Trigger, OrderIntent),
    /// Place an entry order with exits that the engine arms as the entry fills (a bracket):
    /// sized by the filled quantity, one exit's trigger cancelling the other.
    Bracket {
        /// The entry's id.
        entry: ClientOrderId,
        /// The entry order (the risk gate decides).
        intent: OrderIntent,
        /// Its stop and take-profit.
        exits: crate::order::BracketExits,
    },
    /// Link two of this strategy's orders (held or working): the first of them to fill (even
    /// partly), trigger or end cancels the other.
    Oco(ClientOrderId, ClientOrderId),
    /// Cancel one working order of this strategy.
    Cancel(ClientOrderId),
    /// Cancel every working order of this strategy on an instrument.
    CancelAll(InstrumentId),
    /// Replace one working limit order of this strategy with a new one at `price` / `qty`
    /// (same instrument, side and time in force) under the id the script was given: one
    /// cancel-replace request, the new order placed only if the cancel succeeds.
    Replace {
        /// The working order to cancel.
        cancel: ClientOrderId,
        /// The new order's id.
        id: ClientOrderId,
        /// The new limit price (already on the tick).
        price: Price,
        /// The new quantity (already on the lot; not reduced by what the old order filled).
        qty: Qty,
        /// Monotonic receive time of the tick being handled.
        origin_recv_ns: u64,
    },
    /// Record a named value for the frontend (`signals` table).
    Signal {
        /// Instrument of the event being handled.
        instrument: InstrumentId,
        /// Signal name.
        name: ImmutableString,
        /// Value.
        value: f64,
    },
}

/// The source of client order ids, shared by the core loop and every strategy on its thread,
/// so that `limit(...)` can return the id the order will carry. Ids refused by the risk gate
/// are simply not used (gaps in the sequence are normal). A run has `u32::MAX` ids; after the
/// last one [`OrderIds::next_id`] returns `None` rather than repeat one.
#[derive(Clone, Debug)]
pub struct OrderIds {
    run: u64,
    next: Rc<Cell<u32>>,
}

impl OrderIds {
    /// Ids `pg<run>-1`, `pg<run>-2`, ... (`run` from [`crate::run_id`]).
    pub fn new(run: u64) -> Self {
        Self {
            run,
            next: Rc::new(Cell::new(1)),
        }
    }

    /// Takes the next id; `None` once the run's ids are used up (an id is never reused).
    pub fn next_id(&self) -> Option<ClientOrderId> {
        let seq = self.next.get();
        if seq == 0 {
            return None;
        }
        // After u32::MAX the cell holds 0: exhausted.
        self.next.set(seq.wrapping_add(1));
        Some(ClientOrderId { run: self.run, seq })
    }
}

/// A timer set by the script, driven by the engine clock.
#[derive(Clone, Debug)]
pub(crate) struct Timer {
    pub name: ImmutableString,
    pub due_ns: i64,
    /// Repeat interval (0 = one-shot).
    pub every_ns: i64,
}

/// Book levels of one side, best first.
pub(crate) type Levels = Vec<(Price, Qty)>;

/// Per-strategy state shared between the host and the native functions it registers.
#[derive(Debug)]
pub(crate) struct HostCtx {
    pub strategy: u16,
    pub name: String,
    pub instruments: Vec<InstrumentId>,
    pub symbols: Vec<ImmutableString>,
    /// The venue of each registry instrument.
    pub venues: Vec<ImmutableString>,
    /// Whether each registry instrument is on the trading venue (orders can go to it).
    pub tradable: Vec<bool>,
    pub tick_sizes: Vec<Price>,
    pub lot_sizes: Vec<Qty>,
    pub views: Vec<InstrumentView>,
    /// Top levels per instrument, (bids best first, asks best first).
    pub books: Vec<(Levels, Levels)>,
    pub open_orders: Vec<OpenOrder>,
    /// The account's assets, for `balance()` / `available()`.
    pub account: Vec<AssetView>,
    /// The account valued in the first instrument's quote asset, for `equity()`.
    pub equity: Decimal,
    pub current: InstrumentId,
    pub origin_recv_ns: u64,
    pub now_ns: i64,
    pub params: Map,
    pub actions: Vec<StrategyAction>,
    pub timers: Vec<Timer>,
    pub ids: OrderIds,
    /// The last [`BAR_HISTORY`] closed bars of each bar slot (same order as the host's slots),
    /// for `bars(n)`.
    pub bar_history: Vec<BarHistory>,
}

/// Closed bars of one (instrument, timeframe), oldest first.
#[derive(Debug)]
pub(crate) struct BarHistory {
    pub instrument: InstrumentId,
    pub label: ImmutableString,
    pub bars: std::collections::VecDeque<crate::bars::Bar>,
}

/// How many closed bars per instrument and timeframe `bars(n)` can return.
pub const BAR_HISTORY: usize = 1000;

/// The callbacks the host knows, with their arity.
pub const CALLBACKS: &[(&str, usize)] = &[
    ("on_start", 0),
    ("on_stop", 0),
    ("on_trade", 1),
    ("on_quote", 1),
    ("on_book", 1),
    ("on_bar", 1),
    ("on_timer", 1),
    ("on_order", 1),
    ("on_fill", 1),
    ("on_risk_reject", 1),
    ("on_reload", 0),
    ("on_signal", 1),
];

/// Number of book levels per side copied for `book_bids(n)` / `book_asks(n)`.
pub const BOOK_LEVELS: usize = 10;

/// Which callbacks a script defines.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Callbacks {
    on_start: bool,
    on_stop: bool,
    on_trade: bool,
    on_quote: bool,
    on_book: bool,
    on_bar: bool,
    on_timer: bool,
    on_order: bool,
    on_fill: bool,
    on_risk_reject: bool,
    on_reload: bool,
    on_signal: bool,
    /// The script calls `open_orders()` (the core then keeps the list current).
    uses_open_orders: bool,
    /// The script reads book levels (the core then copies them before its callbacks).
    uses_book: bool,
    /// The script reads `balance()`, `available()` or `equity()`.
    uses_account: bool,
}

impl Callbacks {
    fn set(&mut self, name: &str) {
        match name {
            "on_start" => self.on_start = true,
            "on_stop" => self.on_stop = true,
            "on_trade" => self.on_trade = true,
            "on_quote" => self.on_quote = true,
            "on_book" => self.on_book = true,
            "on_bar" => self.on_bar = true,
            "on_timer" => self.on_timer = true,
            "on_order" => self.on_order = true,
            "on_fill" => self.on_fill = true,
            "on_risk_reject" => self.on_risk_reject = true,
            "on_reload" => self.on_reload = true,
            "on_signal" => self.on_signal = true,
            _ => {}
        }
    }
}

struct BarSlot {
    instrument: InstrumentId,
    label: ImmutableString,
    builder: BarBuilder,
}

/// One loaded strategy.
pub struct StrategyHost {
    engine: Engine,
    ast: AST,
    scope: Scope<'static>,
    state: Dynamic,
    ctx: Rc<RefCell<HostCtx>>,
    file: PathBuf,
    has: Callbacks,
    bars: Vec<BarSlot>,
    source_hash: u64,
    /// The running source, to point at a callback when an error has no position of its own.
    source: String,
    /// The parameters as configured, before a declaring script's `params()` typed them (a
    /// reloaded version resolves them again against its own declarations).
    given_params: Map,
    /// `on_trade`'s and `on_quote`'s arguments, reused (no allocation per call).
    trade_arg: event_arg::EventArg,
    quote_arg: event_arg::EventArg,
}

impl std::fmt::Debug for StrategyHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategyHost")
            .field("file", &self.file)
            .field("callbacks", &self.has)
            .finish()
    }
}

impl StrategyHost {
    /// Compiles a strategy from its config, checks its callbacks, and runs `on_start`.
    /// `index` identifies the strategy in the order intents it produces. Order ids come from
    /// a private sequence (run 0); the core loop uses [`StrategyHost::load_shared`].
    pub fn load(
        index: u16,
        cfg: &StrategyConfig,
        instruments: &Instruments,
        limits: StrategyLimits,
    ) -> Result<Self, StrategyError> {
        Self::load_shared(index, cfg, instruments, limits, &OrderIds::new(0))
    }

    /// [`StrategyHost::load`] with the order-id source shared with the core loop.
    pub fn load_shared(
        index: u16,
        cfg: &StrategyConfig,
        instruments: &Instruments,
        limits: StrategyLimits,
        ids: &OrderIds,
    ) -> Result<Self, StrategyError> {
        let source = std::fs::read_to_string(&cfg.file).map_err(|e| StrategyError::Read {
            file: cfg.file.clone(),
            message: e.to_string(),
        })?;
        let config_err = |message: String| StrategyError::Config {
            strategy: cfg.name.clone(),
            message,
        };
        let mut inst = Vec::with_capacity(cfg.instruments.len());
        for sym in &cfg.instruments {
            // `SYMBOL` is on the trading venue; `venue:SYMBOL` on a market-data venue.
            let id = match sym.split_once(':') {
                Some((venue, symbol)) => instruments.on_venue(venue, symbol),
                None => instruments.by_symbol(sym),
            }
            .ok_or_else(|| config_err(format!("unknown instrument {sym:?}")))?;
            inst.push(id);
        }
        let mut timeframes = Vec::with_capacity(cfg.bars.len());
        for tf in &cfg.bars {
            let ns = parse_timeframe(tf).ok_or_else(|| {
                config_err(format!(
                    "bar timeframe {tf:?} is not a positive duration such as \"1m\" or \"5s\""
                ))
            })?;
            timeframes.push((tf.as_str(), ns));
        }
        let spec = HostSpec {
            index,
            name: &cfg.name,
            file: &cfg.file,
            instruments,
            ids: &inst,
            params: params_to_map(&cfg.params),
            limits,
            order_ids: ids.clone(),
            timeframes: &timeframes,
        };
        Self::build(spec, &source)
    }

    /// Compiles a strategy from source text (`file` is used in messages only) and runs
    /// `on_start`.
    #[allow(clippy::too_many_arguments)]
    pub fn from_source(
        index: u16,
        name: &str,
        file: &Path,
        source: &str,
        instruments: &Instruments,
        ids: &[InstrumentId],
        params: Map,
        limits: StrategyLimits,
    ) -> Result<Self, StrategyError> {
        Self::from_source_with_bars(
            index,
            name,
            file,
            source,
            instruments,
            ids,
            params,
            limits,
            &[],
        )
    }

    /// [`StrategyHost::from_source`] with bars of the given timeframes (`("1m", ns)`).
    #[allow(clippy::too_many_arguments)]
    pub fn from_source_with_bars(
        index: u16,
        name: &str,
        file: &Path,
        source: &str,
        instruments: &Instruments,
        ids: &[InstrumentId],
        params: Map,
        limits: StrategyLimits,
        timeframes: &[(&str, i64)],
    ) -> Result<Self, StrategyError> {
        let spec = HostSpec {
            index,
            name,
            file,
            instruments,
            ids,
            params,
            limits,
            order_ids: OrderIds::new(0),
            timeframes,
        };
        Self::build(spec, source)
    }

    fn build(spec: HostSpec<'_>, source: &str) -> Result<Self, StrategyError> {
        let first = *spec.ids.first().ok_or_else(|| StrategyError::Config {
            strategy: spec.name.to_string(),
            message: "no instruments".into(),
        })?;
        let n = spec.instruments.len();
        let ctx = Rc::new(RefCell::new(HostCtx {
            strategy: spec.index,
            name: spec.name.to_string(),
            instruments: spec.ids.to_vec(),
            symbols: spec
                .instruments
                .iter()
                .map(|(_, s)| ImmutableString::from(s.symbol.as_str()))
                .collect(),
            venues: spec
                .instruments
                .iter()
                .map(|(_, s)| ImmutableString::from(s.venue.as_str()))
                .collect(),
            tradable: spec
                .instruments
                .iter()
                .map(|(id, s)| spec.instruments.by_symbol(&s.symbol) == Some(id))
                .collect(),
            tick_sizes: spec.instruments.iter().map(|(_, s)| s.tick_size).collect(),
            lot_sizes: spec.instruments.iter().map(|(_, s)| s.lot_size).collect(),
            views: vec![InstrumentView::default(); n],
            books: vec![
                (
                    Vec::with_capacity(BOOK_LEVELS),
                    Vec::with_capacity(BOOK_LEVELS)
                );
                n
            ],
            open_orders: Vec::new(),
            account: Vec::new(),
            equity: rust_decimal::Decimal::ZERO,
            current: first,
            origin_recv_ns: 0,
            now_ns: 0,
            params: spec.params,
            actions: Vec::with_capacity(16),
            timers: Vec::new(),
            ids: spec.order_ids,
            bar_history: Vec::new(),
        }));
        let engine = api::build_engine(&ctx, spec.limits);
        let (ast, has) = compile_checked(&engine, spec.file, source)?;
        if has.on_bar && spec.timeframes.is_empty() {
            // Without timeframes no bar is ever built: `on_bar` would silently never run.
            return Err(StrategyError::Config {
                strategy: spec.name.to_string(),
                message: format!(
                    "{} defines on_bar but no bars are configured: list timeframes in the \
                     strategy's `bars` (bars = [\"1m\"]; `--bars 1m` for a backtest)",
                    spec.file.display()
                ),
            });
        }
        let given_params = ctx.borrow().params.clone();
        let resolved = resolve_params(&engine, &ast, spec.name, spec.file, &given_params)?;
        ctx.borrow_mut().params = resolved;
        let mut bars = Vec::new();
        for &id in spec.ids {
            for &(label, ns) in spec.timeframes {
                bars.push(BarSlot {
                    instrument: id,
                    label: label.into(),
                    builder: BarBuilder::new(ns),
                });
                ctx.borrow_mut().bar_history.push(BarHistory {
                    instrument: id,
                    label: label.into(),
                    bars: std::collections::VecDeque::with_capacity(BAR_HISTORY),
                });
            }
        }
        let mut host = Self {
            engine,
            ast,
            scope: Scope::new(),
            state: Dynamic::from_map(Map::new()),
            ctx,
            file: spec.file.to_path_buf(),
            has,
            bars,
            source_hash: source_hash(source),
            source: source.to_string(),
            given_params,
            trade_arg: Default::default(),
            quote_arg: Default::default(),
        };
        if host.has.on_start {
            host.call("on_start", ())?;
        }
        Ok(host)
    }

    /// Compiles a file and checks it without running anything (for `peregrine check`):
    /// the first problem found.
    pub fn check_file(file: &Path) -> Result<(), StrategyError> {
        match Self::check_file_all(file).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem in a file: syntax error, or callbacks with a wrong arity and calls of
    /// functions that neither the host nor the script defines, each with file:line:column.
    pub fn check_file_all(file: &Path) -> Vec<StrategyError> {
        match std::fs::read_to_string(file) {
            Ok(source) => check_source(file, &source),
            Err(e) => vec![StrategyError::Read {
                file: file.to_path_buf(),
                message: e.to_string(),
            }],
        }
    }

    /// The strategy's name.
    pub fn name(&self) -> String {
        self.ctx.borrow().name.clone()
    }

    /// The script file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Hash of the source currently running (see [`source_hash`]).
    pub fn current_source_hash(&self) -> u64 {
        self.source_hash
    }

    /// The instruments it trades.
    pub fn instruments(&self) -> Vec<InstrumentId> {
        self.ctx.borrow().instruments.clone()
    }

    /// True if the strategy trades `id`.
    pub fn trades(&self, id: InstrumentId) -> bool {
        self.ctx.borrow().instruments.contains(&id)
    }

    /// The number of instruments the strategy declared.
    pub fn instrument_count(&self) -> usize {
        self.ctx.borrow().instruments.len()
    }

    /// The `k`-th instrument the strategy declared.
    pub fn instrument_at(&self, k: usize) -> Option<InstrumentId> {
        self.ctx.borrow().instruments.get(k).copied()
    }

    /// True if the script calls `open_orders()`: the core then refreshes the list with
    /// [`StrategyHost::set_open_orders`] before each callback.
    pub fn wants_open_orders(&self) -> bool {
        self.has.uses_open_orders
    }

    /// True if the script reads `balance()`, `available()` or `equity()`: the core then
    /// refreshes them with [`StrategyHost::set_account`] before each callback.
    pub fn wants_account(&self) -> bool {
        self.has.uses_account
    }

    /// The account buffer, emptied, to be refilled and given back with
    /// [`StrategyHost::set_account`] (so a refresh does not allocate).
    pub fn take_account_buffer(&mut self) -> Vec<AssetView> {
        let mut v = std::mem::take(&mut self.ctx.borrow_mut().account);
        v.clear();
        v
    }

    /// Replaces what `balance()`, `available()` and `equity()` return.
    pub fn set_account(&mut self, assets: Vec<AssetView>, equity: Decimal) {
        let mut c = self.ctx.borrow_mut();
        c.account = assets;
        c.equity = equity;
    }

    /// True if the script has `on_book` or reads book levels.
    pub fn wants_book(&self) -> bool {
        self.has.on_book || self.has.uses_book
    }

    /// Updates what the script sees of an instrument.
    pub fn set_view(&mut self, id: InstrumentId, view: InstrumentView) {
        if let Some(v) = self.ctx.borrow_mut().views.get_mut(id.index()) {
            *v = view;
        }
    }

    /// Replaces the working orders `open_orders()` returns.
    pub fn set_open_orders(&mut self, orders: impl IntoIterator<Item = OpenOrder>) {
        let mut c = self.ctx.borrow_mut();
        c.open_orders.clear();
        c.open_orders.extend(orders);
    }

    /// Copies up to [`BOOK_LEVELS`] levels per side (best first) for `book_bids(n)` /
    /// `book_asks(n)`.
    pub fn set_book(
        &mut self,
        id: InstrumentId,
        bids: impl Iterator<Item = (Price, Qty)>,
        asks: impl Iterator<Item = (Price, Qty)>,
    ) {
        let mut c = self.ctx.borrow_mut();
        if let Some((b, a)) = c.books.get_mut(id.index()) {
            b.clear();
            b.extend(bids.take(BOOK_LEVELS));
            a.clear();
            a.extend(asks.take(BOOK_LEVELS));
        }
    }

    /// Feeds the trade to the bar builders (calling `on_bar` for each bar it closes), then
    /// calls `on_trade`. Returns the first error; the other callbacks still run.
    pub fn on_trade(
        &mut self,
        t: TradeView,
        origin_recv_ns: u64,
        now_ns: i64,
    ) -> Result<(), StrategyError> {
        let mut first_err = Ok(());
        if !self.bars.is_empty() {
            for i in 0..self.bars.len() {
                if self.bars[i].instrument != t.instrument {
                    continue;
                }
                if let Some(bar) = self.bars[i].builder.on_trade(now_ns, t.price, t.qty) {
                    let r = self.fire_bar(i, bar, now_ns);
                    keep_first(&mut first_err, r);
                }
            }
        }
        if self.has.on_trade {
            self.prepare(t.instrument, origin_recv_ns, now_ns);
            let arg = self.trade_arg.arg(t);
            let r = self.call("on_trade", (arg,));
            keep_first(&mut first_err, r);
        }
        first_err
    }

    /// Calls `on_quote` if the script has it.
    pub fn on_quote(
        &mut self,
        q: QuoteView,
        origin_recv_ns: u64,
        now_ns: i64,
    ) -> Result<(), StrategyError> {
        if !self.has.on_quote {
            return Ok(());
        }
        self.prepare(q.instrument, origin_recv_ns, now_ns);
        let arg = self.quote_arg.arg(q);
        self.call("on_quote", (arg,))
    }

    /// Calls `on_book` if the script has it (after a complete book update).
    pub fn on_book(
        &mut self,
        b: BookView,
        origin_recv_ns: u64,
        now_ns: i64,
    ) -> Result<(), StrategyError> {
        if !self.has.on_book {
            return Ok(());
        }
        self.prepare(b.instrument, origin_recv_ns, now_ns);
        self.call("on_book", (b,))
    }

    /// Calls `on_order` if the script has it (accepted, rejected, cancelled, expired).
    pub fn on_order(&mut self, o: OrderView, now_ns: i64) -> Result<(), StrategyError> {
        if !self.has.on_order {
            return Ok(());
        }
        self.prepare(o.instrument, 0, now_ns);
        self.call("on_order", (o,))
    }

    /// Calls `on_fill` if the script has it.
    pub fn on_fill(&mut self, f: FillView, now_ns: i64) -> Result<(), StrategyError> {
        if !self.has.on_fill {
            return Ok(());
        }
        self.prepare(f.instrument, 0, now_ns);
        self.call("on_fill", (f,))
    }

    /// Calls `on_risk_reject` if the script has it.
    pub fn on_risk_reject(&mut self, r: RejectView, now_ns: i64) -> Result<(), StrategyError> {
        if !self.has.on_risk_reject {
            return Ok(());
        }
        self.prepare(r.instrument, 0, now_ns);
        self.call("on_risk_reject", (r,))
    }

    /// Calls `on_signal(s)` if the script has it: `s` is a map with `strategy`, `name`,
    /// `value` (exact decimal) and `payload` (the sender's JSON object as a map); the current
    /// instrument is the strategy's first.
    pub fn on_signal(&mut self, s: rhai::Map, now_ns: i64) -> Result<(), StrategyError> {
        if !self.has.on_signal {
            return Ok(());
        }
        let first = self.ctx.borrow().instruments[0];
        self.prepare(first, 0, now_ns);
        self.call("on_signal", (rhai::Dynamic::from_map(s),))
    }

    /// Calls `on_stop` if the script has it.
    pub fn on_stop(&mut self, now_ns: i64) -> Result<(), StrategyError> {
        if !self.has.on_stop {
            return Ok(());
        }
        let first = self.ctx.borrow().instruments[0];
        self.prepare(first, 0, now_ns);
        self.call("on_stop", ())
    }

    /// Closes every forming bar now and calls `on_bar` for each (the end of the data in a
    /// backtest: the last bar is partial, ending at the last event). Returns the first error.
    pub fn close_bars(&mut self, now_ns: i64) -> Result<(), StrategyError> {
        let mut first_err = Ok(());
        for i in 0..self.bars.len() {
            if let Some(bar) = self.bars[i].builder.close() {
                let r = self.fire_bar(i, bar, now_ns);
                keep_first(&mut first_err, r);
            }
        }
        first_err
    }

    /// The next engine time at which [`StrategyHost::on_clock`] has work (a timer due or a
    /// bar to close), if any.
    pub fn next_deadline(&self) -> Option<i64> {
        let timers = self.ctx.borrow().timers.iter().map(|t| t.due_ns).min();
        let bars = if self.has.on_bar {
            self.bars.iter().filter_map(|b| b.builder.deadline()).min()
        } else {
            None
        };
        match (timers, bars) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances the strategy's clock: closes bars whose time is up (`on_bar`) and fires due
    /// timers (`on_timer`), earliest first, each at most once per call (a repeating timer
    /// that missed several periods fires once and is rescheduled after `now_ns`). Returns
    /// the first error; the other callbacks still run.
    pub fn on_clock(&mut self, now_ns: i64) -> Result<(), StrategyError> {
        let mut first_err = Ok(());
        for i in 0..self.bars.len() {
            if let Some(bar) = self.bars[i].builder.on_time(now_ns) {
                let r = self.fire_bar(i, bar, now_ns);
                keep_first(&mut first_err, r);
            }
        }
        // Timers due now, in (due, name) order; timers the callbacks set run on a later call.
        let mut due: Vec<Timer> = {
            let mut c = self.ctx.borrow_mut();
            let mut due = Vec::new();
            c.timers.retain_mut(|t| {
                if t.due_ns > now_ns {
                    return true;
                }
                due.push(t.clone());
                if t.every_ns > 0 {
                    let missed = (now_ns - t.due_ns) / t.every_ns + 1;
                    t.due_ns += missed * t.every_ns;
                    true
                } else {
                    false
                }
            });
            due
        };
        due.sort_by(|a, b| a.due_ns.cmp(&b.due_ns).then_with(|| a.name.cmp(&b.name)));
        if self.has.on_timer {
            let first = self.ctx.borrow().instruments[0];
            for t in due {
                self.prepare(first, 0, now_ns);
                let r = self.call("on_timer", (t.name,));
                keep_first(&mut first_err, r);
            }
        }
        first_err
    }

    /// Swaps in a new version of the script between events: compiles and checks it, keeps
    /// `this`, timers, bar builders, open orders and positions, then calls `on_reload()` if
    /// the new version has it. On error the old version keeps running.
    pub fn reload(&mut self, source: &str, now_ns: i64) -> Result<(), StrategyError> {
        self.reload_with(source, None, now_ns)
    }

    /// [`StrategyHost::reload`] with new parameters (`None`: the running ones), validated
    /// against the new source as at load; on an error nothing changes.
    pub fn reload_with(
        &mut self,
        source: &str,
        params: Option<&std::collections::BTreeMap<String, toml::Value>>,
        now_ns: i64,
    ) -> Result<(), StrategyError> {
        let (ast, has) = compile_checked(&self.engine, &self.file, source)?;
        let name = self.ctx.borrow().name.clone();
        if has.on_bar && self.bars.is_empty() {
            return Err(StrategyError::Config {
                strategy: name,
                message: format!(
                    "{}: the new version defines on_bar but no bars are configured",
                    self.file.display()
                ),
            });
        }
        let given = params.map_or_else(|| self.given_params.clone(), api::params_to_map);
        let resolved = resolve_params(&self.engine, &ast, &name, &self.file, &given)?;
        self.given_params = given;
        self.ctx.borrow_mut().params = resolved;
        self.ast = ast;
        self.has = has;
        self.source_hash = source_hash(source);
        self.source = source.to_string();
        if self.has.on_reload {
            let first = self.ctx.borrow().instruments[0];
            self.prepare(first, 0, now_ns);
            self.call("on_reload", ())?;
        }
        Ok(())
    }

    /// Moves the actions of the last callback(s) into `out`.
    pub fn drain_actions(&mut self, out: &mut Vec<StrategyAction>) {
        out.append(&mut self.ctx.borrow_mut().actions);
    }

    fn fire_bar(
        &mut self,
        slot: usize,
        bar: crate::bars::Bar,
        now_ns: i64,
    ) -> Result<(), StrategyError> {
        if let Some(h) = self.ctx.borrow_mut().bar_history.get_mut(slot) {
            if h.bars.len() == BAR_HISTORY {
                h.bars.pop_front();
            }
            h.bars.push_back(bar);
        }
        if !self.has.on_bar {
            return Ok(());
        }
        let s = &self.bars[slot];
        let instrument = s.instrument;
        let view = BarView {
            instrument,
            symbol: self
                .ctx
                .borrow()
                .symbols
                .get(instrument.index())
                .cloned()
                .unwrap_or_default(),
            timeframe: s.label.clone(),
            bar,
        };
        self.prepare(instrument, 0, now_ns);
        self.call("on_bar", (view,))
    }

    fn prepare(&mut self, id: InstrumentId, origin_recv_ns: u64, now_ns: i64) {
        let mut ctx = self.ctx.borrow_mut();
        ctx.current = id;
        ctx.origin_recv_ns = origin_recv_ns;
        ctx.now_ns = now_ns;
    }

    fn call(&mut self, name: &str, args: impl rhai::FuncArgs) -> Result<(), StrategyError> {
        let before = self.ctx.borrow().actions.len();
        let options = CallFnOptions::new()
            .eval_ast(false)
            .rewind_scope(false)
            .bind_this_ptr(&mut self.state);
        let result = self.engine.call_fn_with_options::<Dynamic>(
            options,
            &mut self.scope,
            &self.ast,
            name,
            args,
        );
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                // The callback is abandoned: whatever it asked for is dropped.
                self.ctx.borrow_mut().actions.truncate(before);
                let mut err = error::runtime(&self.ctx.borrow().name, &self.file, name, &e);
                if let StrategyError::Runtime {
                    line,
                    column,
                    message,
                    ..
                } = &mut err
                {
                    // The operation limit carries no position: point at the loop that ran
                    // (or, with several, the first one, naming the others), else at the
                    // callback itself.
                    if *line == 0 {
                        let loops = if error::is_operation_limit(&e) {
                            diagnose::reachable_loops(&self.ast, &self.source, name)
                        } else {
                            Vec::new()
                        };
                        match loops.as_slice() {
                            [] => (*line, *column) = check::fn_position(&self.source, name),
                            [only] => {
                                (*line, *column) =
                                    (only.line().unwrap_or(0), only.position().unwrap_or(0));
                                message.push_str(" in this loop");
                            }
                            [first, ..] => {
                                (*line, *column) =
                                    (first.line().unwrap_or(0), first.position().unwrap_or(0));
                                let lines: Vec<String> = loops
                                    .iter()
                                    .filter_map(|p| p.line().map(|l| l.to_string()))
                                    .collect();
                                message.push_str(&format!(
                                    " in one of the loops this callback can run (lines {})",
                                    lines.join(", ")
                                ));
                            }
                        }
                    }
                }
                Err(err)
            }
        }
    }
}

/// What a host is built from.
struct HostSpec<'a> {
    index: u16,
    name: &'a str,
    file: &'a Path,
    instruments: &'a Instruments,
    ids: &'a [InstrumentId],
    params: Map,
    limits: StrategyLimits,
    order_ids: OrderIds,
    timeframes: &'a [(&'a str, i64)],
}

fn keep_first(acc: &mut Result<(), StrategyError>, r: Result<(), StrategyError>) {
    if acc.is_ok() {
        *acc = r;
    }
}

/// The parameters a script runs with: for a script with `fn params()`, the configured ones
/// validated and typed against its declarations (see [`declared`]); otherwise as configured.
fn resolve_params(
    engine: &Engine,
    ast: &AST,
    strategy: &str,
    file: &Path,
    given: &Map,
) -> Result<Map, StrategyError> {
    let config = |message: String| StrategyError::Config {
        strategy: strategy.to_string(),
        message: format!("{}: {message}", file.display()),
    };
    match declared::declarations(engine, ast).map_err(config)? {
        None => Ok(given.clone()),
        Some(decls) => declared::resolve(&decls, given)
            .map_err(|(key, message)| config(format!("parameter `{key}`: {message}"))),
    }
}

/// Compiles and checks a script with a host engine: the first problem is the error.
fn compile_checked(
    engine: &Engine,
    file: &Path,
    source: &str,
) -> Result<(AST, Callbacks), StrategyError> {
    let mut ast = engine
        .compile(source)
        .map_err(|e| diagnose::compile_error(file, source, &e))?;
    ast.set_source(file.display().to_string());
    let (has, mut problems) = check::analyse(engine, &ast, file, source);
    if problems.is_empty() {
        Ok((ast, has))
    } else {
        Err(problems.swap_remove(0))
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_events;
#[cfg(test)]
mod tests_examples;
#[cfg(test)]
mod tests_linked;
