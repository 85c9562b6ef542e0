//! The Rhai strategy host: a `.rhai` file compiled once, its callbacks called per event in a
//! sandboxed engine, its orders collected as actions for the core loop.
//!
//! A strategy keeps its state in `this` (a map that lives as long as the strategy). Callbacks,
//! all optional: `on_start()`, `on_stop()`, `on_trade(t)`, `on_quote(q)`, `on_fill(f)`.
//! The functions a script can call are listed in [`api`].

mod api;
mod error;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{CallFnOptions, Dynamic, Engine, ImmutableString, Map, Scope, AST};

pub use api::{FillView, QuoteView, TradeView};
pub use error::StrategyError;

use crate::config::StrategyConfig;
use crate::order::OrderIntent;
use crate::types::{InstrumentId, Instruments, Price, Qty};

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

/// What a script asked the engine to do during a callback.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StrategyAction {
    /// Place an order (the risk gate decides).
    Place(OrderIntent),
    /// Cancel every working order of this strategy on an instrument.
    CancelAll(InstrumentId),
}

/// Per-strategy state shared between the host and the native functions it registers.
#[derive(Debug)]
pub(crate) struct HostCtx {
    pub strategy: u16,
    pub name: String,
    pub instruments: Vec<InstrumentId>,
    pub symbols: Vec<ImmutableString>,
    pub tick_sizes: Vec<Price>,
    pub lot_sizes: Vec<Qty>,
    pub views: Vec<InstrumentView>,
    pub current: InstrumentId,
    pub origin_recv_ns: u64,
    pub now_ns: i64,
    pub params: Map,
    pub actions: Vec<StrategyAction>,
}

/// The callbacks the host knows, with their arity.
const CALLBACKS: &[(&str, usize)] = &[
    ("on_start", 0),
    ("on_stop", 0),
    ("on_trade", 1),
    ("on_quote", 1),
    ("on_fill", 1),
];

/// One loaded strategy.
pub struct StrategyHost {
    engine: Engine,
    ast: AST,
    scope: Scope<'static>,
    state: Dynamic,
    ctx: Rc<RefCell<HostCtx>>,
    file: PathBuf,
    has: Callbacks,
}

#[derive(Clone, Copy, Debug, Default)]
struct Callbacks {
    on_start: bool,
    on_stop: bool,
    on_trade: bool,
    on_quote: bool,
    on_fill: bool,
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
    /// `index` identifies the strategy in the order intents it produces.
    pub fn load(
        index: u16,
        cfg: &StrategyConfig,
        instruments: &Instruments,
        limits: StrategyLimits,
    ) -> Result<Self, StrategyError> {
        let source = std::fs::read_to_string(&cfg.file).map_err(|e| StrategyError::Read {
            file: cfg.file.clone(),
            message: e.to_string(),
        })?;
        let mut ids = Vec::with_capacity(cfg.instruments.len());
        for sym in &cfg.instruments {
            let id = instruments
                .by_symbol(sym)
                .ok_or_else(|| StrategyError::Config {
                    strategy: cfg.name.clone(),
                    message: format!("unknown instrument {sym:?}"),
                })?;
            ids.push(id);
        }
        let params = api::params_to_map(&cfg.params);
        Self::from_source(
            index,
            &cfg.name,
            &cfg.file,
            &source,
            instruments,
            &ids,
            params,
            limits,
        )
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
        let first = *ids.first().ok_or_else(|| StrategyError::Config {
            strategy: name.to_string(),
            message: "no instruments".into(),
        })?;
        let n = instruments.len();
        let ctx = Rc::new(RefCell::new(HostCtx {
            strategy: index,
            name: name.to_string(),
            instruments: ids.to_vec(),
            symbols: instruments
                .iter()
                .map(|(_, s)| ImmutableString::from(s.symbol.as_str()))
                .collect(),
            tick_sizes: instruments.iter().map(|(_, s)| s.tick_size).collect(),
            lot_sizes: instruments.iter().map(|(_, s)| s.lot_size).collect(),
            views: vec![InstrumentView::default(); n],
            current: first,
            origin_recv_ns: 0,
            now_ns: 0,
            params,
            actions: Vec::with_capacity(16),
        }));
        let engine = api::build_engine(&ctx, limits);
        let ast = compile(&engine, file, source)?;
        let has = check_callbacks(&ast, file)?;
        let mut host = Self {
            engine,
            ast,
            scope: Scope::new(),
            state: Dynamic::from_map(Map::new()),
            ctx,
            file: file.to_path_buf(),
            has,
        };
        if host.has.on_start {
            host.call("on_start", ())?;
        }
        Ok(host)
    }

    /// Compiles a file and checks its callbacks without running anything (for `peregrine check`).
    pub fn check_file(file: &Path) -> Result<(), StrategyError> {
        let source = std::fs::read_to_string(file).map_err(|e| StrategyError::Read {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        let ctx = Rc::new(RefCell::new(HostCtx {
            strategy: 0,
            name: String::new(),
            instruments: vec![InstrumentId(0)],
            symbols: Vec::new(),
            tick_sizes: Vec::new(),
            lot_sizes: Vec::new(),
            views: Vec::new(),
            current: InstrumentId(0),
            origin_recv_ns: 0,
            now_ns: 0,
            params: Map::new(),
            actions: Vec::new(),
        }));
        let engine = api::build_engine(&ctx, StrategyLimits::default());
        let ast = compile(&engine, file, &source)?;
        check_callbacks(&ast, file).map(|_| ())
    }

    /// The strategy's name.
    pub fn name(&self) -> String {
        self.ctx.borrow().name.clone()
    }

    /// The instruments it trades.
    pub fn instruments(&self) -> Vec<InstrumentId> {
        self.ctx.borrow().instruments.clone()
    }

    /// True if the strategy trades `id`.
    pub fn trades(&self, id: InstrumentId) -> bool {
        self.ctx.borrow().instruments.contains(&id)
    }

    /// Updates what the script sees of an instrument.
    pub fn set_view(&mut self, id: InstrumentId, view: InstrumentView) {
        if let Some(v) = self.ctx.borrow_mut().views.get_mut(id.index()) {
            *v = view;
        }
    }

    /// Calls `on_trade` if the script has it.
    pub fn on_trade(
        &mut self,
        t: TradeView,
        origin_recv_ns: u64,
        now_ns: i64,
    ) -> Result<(), StrategyError> {
        if !self.has.on_trade {
            return Ok(());
        }
        self.prepare(t.instrument, origin_recv_ns, now_ns);
        self.call("on_trade", (t,))
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
        self.call("on_quote", (q,))
    }

    /// Calls `on_fill` if the script has it.
    pub fn on_fill(&mut self, f: FillView, now_ns: i64) -> Result<(), StrategyError> {
        if !self.has.on_fill {
            return Ok(());
        }
        self.prepare(f.instrument, 0, now_ns);
        self.call("on_fill", (f,))
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

    /// Moves the actions of the last callback into `out`.
    pub fn drain_actions(&mut self, out: &mut Vec<StrategyAction>) {
        out.append(&mut self.ctx.borrow_mut().actions);
    }

    fn prepare(&mut self, id: InstrumentId, origin_recv_ns: u64, now_ns: i64) {
        let mut ctx = self.ctx.borrow_mut();
        ctx.current = id;
        ctx.origin_recv_ns = origin_recv_ns;
        ctx.now_ns = now_ns;
    }

    fn call(&mut self, name: &str, args: impl rhai::FuncArgs) -> Result<(), StrategyError> {
        let options = CallFnOptions::new()
            .eval_ast(false)
            .rewind_scope(true)
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
                self.ctx.borrow_mut().actions.clear();
                Err(error::runtime(
                    &self.ctx.borrow().name,
                    &self.file,
                    name,
                    &e,
                ))
            }
        }
    }
}

fn compile(engine: &Engine, file: &Path, source: &str) -> Result<AST, StrategyError> {
    let mut ast = engine
        .compile(source)
        .map_err(|e| error::compile(file, &e))?;
    ast.set_source(file.display().to_string());
    Ok(ast)
}

fn check_callbacks(ast: &AST, file: &Path) -> Result<Callbacks, StrategyError> {
    let mut has = Callbacks::default();
    for f in ast.iter_functions() {
        if !f.name.starts_with("on_") {
            continue;
        }
        let Some((_, arity)) = CALLBACKS.iter().find(|(n, _)| *n == f.name) else {
            let known: Vec<&str> = CALLBACKS.iter().map(|(n, _)| *n).collect();
            return Err(StrategyError::Callback {
                file: file.to_path_buf(),
                message: format!(
                    "unknown callback `{}`; this version calls {}",
                    f.name,
                    known.join(", ")
                ),
            });
        };
        if f.params.len() != *arity {
            return Err(StrategyError::Callback {
                file: file.to_path_buf(),
                message: format!(
                    "callback `{}` takes {} parameter(s), the script declares {}",
                    f.name,
                    arity,
                    f.params.len()
                ),
            });
        }
        match f.name {
            "on_start" => has.on_start = true,
            "on_stop" => has.on_stop = true,
            "on_trade" => has.on_trade = true,
            "on_quote" => has.on_quote = true,
            "on_fill" => has.on_fill = true,
            _ => {}
        }
    }
    Ok(has)
}

#[cfg(test)]
mod tests;
