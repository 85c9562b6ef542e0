//! The functions and types a script can use. Registered into a raw Rhai engine with only the
//! standard packages (no file, module or network access).
//!
//! | function | what it does |
//! | --- | --- |
//! | `market(side, qty)` | market order on the event's instrument (`side`: `"buy"`/`"sell"`) |
//! | `limit(side, price, qty)` / `limit(side, price, qty, tif)` | limit order; `tif`: `"GTC"` (default), `"IOC"`, `"FOK"`, `"POST_ONLY"` |
//! | `cancel_all()` | cancel this strategy's working orders on the event's instrument |
//! | `position()` | signed position (exact decimal) |
//! | `avg_price()`, `realized_pnl()` | position details (decimals) |
//! | `best_bid()`, `best_ask()`, `last_price()` | decimals, or `()` while unknown |
//! | `open_buy_qty()`, `open_sell_qty()` | our working quantity per side |
//! | `tick_size()`, `lot_size()`, `symbol()` | the event instrument's rules and name |
//! | `param(name)`, `param(name, default)` | strategy parameters from the config file |
//! | `now()` | engine time in ns since the epoch (event time in backtests) |
//! | `ema(period)`, `sma(period)` | native incremental indicators: `.update(x)`, `.value`, `.ready` |
//! | `log(x)`, `print(x)` | to the engine's log, tagged with the strategy name |
//!
//! Rounding rule of the order functions: limit prices are rounded to the instrument's tick
//! size toward the passive side (buys down, sells up: never more aggressive than asked);
//! quantities are rounded down to the lot size. An order whose quantity rounds to zero reaches
//! the risk gate as is and is refused there, with a recorded reason. Quantities and prices
//! may be decimals, integers, numeric strings, or floats (a float is taken as the decimal it
//! prints as, e.g. `0.1` is exactly 0.1).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::str::FromStr;

use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, Map};
use rust_decimal::Decimal;

use super::{HostCtx, StrategyAction, StrategyLimits};
use crate::indicators::{Ema, Sma};
use crate::order::{OrderIntent, OrderType, TimeInForce};
use crate::types::{InstrumentId, Price, Qty, Side};

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// A trade as a script sees it: `t.price`, `t.qty`, `t.side` (aggressor, `"buy"`/`"sell"`),
/// `t.symbol`, `t.id`, `t.ts` (exchange ns).
#[derive(Clone, Debug)]
pub struct TradeView {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Canonical symbol.
    pub symbol: ImmutableString,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Aggressor side.
    pub side: Side,
    /// Venue trade id.
    pub trade_id: u64,
    /// Exchange time, ns.
    pub exch_ts_ns: i64,
}

/// Best bid/offer as a script sees it: `q.bid`, `q.bid_qty`, `q.ask`, `q.ask_qty`, `q.symbol`.
#[derive(Clone, Debug)]
pub struct QuoteView {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Canonical symbol.
    pub symbol: ImmutableString,
    /// Best bid.
    pub bid: Price,
    /// Bid quantity.
    pub bid_qty: Qty,
    /// Best ask.
    pub ask: Price,
    /// Ask quantity.
    pub ask_qty: Qty,
}

/// One of our fills as a script sees it: `f.price`, `f.qty`, `f.side`, `f.fee`,
/// `f.fee_asset`, `f.partial` (order still open), `f.order_id`, `f.symbol`.
#[derive(Clone, Debug)]
pub struct FillView {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Canonical symbol.
    pub symbol: ImmutableString,
    /// Our order's id.
    pub order_id: ImmutableString,
    /// Our side.
    pub side: Side,
    /// Fill price.
    pub price: Price,
    /// Fill quantity.
    pub qty: Qty,
    /// Fee.
    pub fee: Price,
    /// Fee asset.
    pub fee_asset: ImmutableString,
    /// True if the order still has open quantity.
    pub partial: bool,
}

/// Converts config parameters to a Rhai map: integers, floats, booleans as such; strings that
/// are decimals become exact decimals; other strings stay strings; arrays and tables recurse.
pub fn params_to_map(params: &BTreeMap<String, toml::Value>) -> Map {
    params
        .iter()
        .map(|(k, v)| (k.as_str().into(), toml_to_dynamic(v)))
        .collect()
}

fn toml_to_dynamic(v: &toml::Value) -> Dynamic {
    match v {
        toml::Value::String(s) => match Decimal::from_str_exact(s) {
            Ok(d) => Dynamic::from_decimal(d),
            Err(_) => Dynamic::from(s.clone()),
        },
        toml::Value::Integer(i) => Dynamic::from_int(*i),
        toml::Value::Float(f) => Dynamic::from_float(*f),
        toml::Value::Boolean(b) => Dynamic::from_bool(*b),
        toml::Value::Datetime(d) => Dynamic::from(d.to_string()),
        toml::Value::Array(a) => Dynamic::from_array(a.iter().map(toml_to_dynamic).collect()),
        toml::Value::Table(t) => Dynamic::from_map(
            t.iter()
                .map(|(k, v)| (k.as_str().into(), toml_to_dynamic(v)))
                .collect(),
        ),
    }
}

/// Reads a script value as an exact decimal (see the module docs for the accepted types).
fn to_decimal(what: &str, v: &Dynamic) -> RhaiResult<Decimal> {
    if let Some(d) = v.clone().try_cast::<Decimal>() {
        return Ok(d);
    }
    if let Ok(i) = v.as_int() {
        return Ok(Decimal::from(i));
    }
    if let Ok(f) = v.as_float() {
        return Decimal::from_str(&f.to_string())
            .map_err(|_| format!("{what}: {f} is not a finite decimal number").into());
    }
    if let Some(s) = v.read_lock::<ImmutableString>() {
        return Decimal::from_str_exact(s.as_str())
            .map_err(|_| format!("{what}: {:?} is not a decimal number", s.as_str()).into());
    }
    Err(format!("{what} must be a number, got {}", v.type_name()).into())
}

fn to_f64(v: &Dynamic) -> RhaiResult<f64> {
    if let Ok(f) = v.as_float() {
        return Ok(f);
    }
    if let Ok(i) = v.as_int() {
        return Ok(i as f64);
    }
    if let Some(d) = v.clone().try_cast::<Decimal>() {
        use rust_decimal::prelude::ToPrimitive;
        return d
            .to_f64()
            .ok_or_else(|| "indicator input out of range".into());
    }
    Err(format!("indicator input must be a number, got {}", v.type_name()).into())
}

fn parse_side(s: &str) -> RhaiResult<Side> {
    match s {
        "buy" | "BUY" | "Buy" => Ok(Side::Buy),
        "sell" | "SELL" | "Sell" => Ok(Side::Sell),
        other => Err(format!("side must be \"buy\" or \"sell\", got {other:?}").into()),
    }
}

fn parse_tif(s: &str) -> RhaiResult<(TimeInForce, bool)> {
    match s.to_ascii_uppercase().as_str() {
        "GTC" => Ok((TimeInForce::Gtc, false)),
        "IOC" => Ok((TimeInForce::Ioc, false)),
        "FOK" => Ok((TimeInForce::Fok, false)),
        "POST_ONLY" | "POSTONLY" | "GTX" => Ok((TimeInForce::Gtc, true)),
        _ => Err(format!("time in force must be GTC, IOC, FOK or POST_ONLY, got {s:?}").into()),
    }
}

/// Rounds a quantity down to the lot size.
pub fn round_qty(qty: Qty, lot: Qty) -> Qty {
    if lot.is_zero() {
        return qty;
    }
    ((qty / lot).floor() * lot).normalize()
}

/// Rounds a limit price to the tick toward the passive side (buys down, sells up).
pub fn round_price(price: Price, tick: Price, side: Side) -> Price {
    if tick.is_zero() {
        return price;
    }
    let steps = price / tick;
    let steps = match side {
        Side::Buy => steps.floor(),
        Side::Sell => steps.ceil(),
    };
    (steps * tick).normalize()
}

fn place(
    ctx: &Rc<RefCell<HostCtx>>,
    side: &str,
    price: Option<&Dynamic>,
    qty: &Dynamic,
    tif: &str,
) -> RhaiResult<()> {
    let side = parse_side(side)?;
    let (tif, post_only) = parse_tif(tif)?;
    let qty = to_decimal("quantity", qty)?;
    let mut c = ctx.borrow_mut();
    let id = c.current;
    let lot = c.lot_sizes.get(id.index()).copied().unwrap_or_default();
    let tick = c.tick_sizes.get(id.index()).copied().unwrap_or_default();
    let price = match price {
        Some(p) => Some(round_price(to_decimal("price", p)?, tick, side)),
        None => None,
    };
    let intent = OrderIntent {
        strategy: c.strategy,
        instrument: id,
        side,
        order_type: if price.is_some() {
            OrderType::Limit
        } else {
            OrderType::Market
        },
        price,
        qty: round_qty(qty, lot),
        tif,
        reduce_only: false,
        post_only,
        origin_recv_ns: c.origin_recv_ns,
    };
    c.actions.push(StrategyAction::Place(intent));
    Ok(())
}

fn opt_decimal(v: Option<Decimal>) -> Dynamic {
    v.map(Dynamic::from_decimal).unwrap_or(Dynamic::UNIT)
}

/// Builds the sandboxed engine for one strategy with the API above bound to `ctx`.
pub(super) fn build_engine(ctx: &Rc<RefCell<HostCtx>>, limits: StrategyLimits) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(64, 64)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true);

    let name = ctx.borrow().name.clone();
    let n = name.clone();
    engine.on_print(move |s| tracing::info!(strategy = %n, "{s}"));
    let n = name.clone();
    engine.on_debug(move |s, _, pos| tracing::debug!(strategy = %n, %pos, "{s}"));
    let n = name;
    engine.register_fn(
        "log",
        move |x: Dynamic| tracing::info!(strategy = %n, "{x}"),
    );

    register_views(&mut engine);
    register_indicators(&mut engine);
    register_orders(&mut engine, ctx);
    register_queries(&mut engine, ctx);
    engine
}

fn register_views(engine: &mut Engine) {
    engine
        .register_type_with_name::<TradeView>("Trade")
        .register_get("price", |t: &mut TradeView| t.price)
        .register_get("qty", |t: &mut TradeView| t.qty)
        .register_get("side", |t: &mut TradeView| {
            ImmutableString::from(t.side.as_str())
        })
        .register_get("symbol", |t: &mut TradeView| t.symbol.clone())
        .register_get("id", |t: &mut TradeView| t.trade_id as i64)
        .register_get("ts", |t: &mut TradeView| t.exch_ts_ns);
    engine
        .register_type_with_name::<QuoteView>("Quote")
        .register_get("bid", |q: &mut QuoteView| q.bid)
        .register_get("bid_qty", |q: &mut QuoteView| q.bid_qty)
        .register_get("ask", |q: &mut QuoteView| q.ask)
        .register_get("ask_qty", |q: &mut QuoteView| q.ask_qty)
        .register_get("symbol", |q: &mut QuoteView| q.symbol.clone());
    engine
        .register_type_with_name::<FillView>("Fill")
        .register_get("price", |f: &mut FillView| f.price)
        .register_get("qty", |f: &mut FillView| f.qty)
        .register_get("side", |f: &mut FillView| {
            ImmutableString::from(f.side.as_str())
        })
        .register_get("fee", |f: &mut FillView| f.fee)
        .register_get("fee_asset", |f: &mut FillView| f.fee_asset.clone())
        .register_get("partial", |f: &mut FillView| f.partial)
        .register_get("order_id", |f: &mut FillView| f.order_id.clone())
        .register_get("symbol", |f: &mut FillView| f.symbol.clone());
}

fn register_indicators(engine: &mut Engine) {
    engine
        .register_type_with_name::<Ema>("Ema")
        .register_fn("ema", |period: i64| Ema::new(period.max(1) as usize))
        .register_fn("update", |e: &mut Ema, x: Dynamic| -> RhaiResult<f64> {
            Ok(e.update(to_f64(&x)?))
        })
        .register_get("value", |e: &mut Ema| e.value())
        .register_get("ready", |e: &mut Ema| e.ready());
    engine
        .register_type_with_name::<Sma>("Sma")
        .register_fn("sma", |period: i64| Sma::new(period.max(1) as usize))
        .register_fn("update", |s: &mut Sma, x: Dynamic| -> RhaiResult<f64> {
            Ok(s.update(to_f64(&x)?))
        })
        .register_get("value", |s: &mut Sma| s.value())
        .register_get("ready", |s: &mut Sma| s.ready());
}

fn register_orders(engine: &mut Engine, ctx: &Rc<RefCell<HostCtx>>) {
    let c = ctx.clone();
    engine.register_fn("market", move |side: &str, qty: Dynamic| {
        place(&c, side, None, &qty, "GTC")
    });
    let c = ctx.clone();
    engine.register_fn("limit", move |side: &str, price: Dynamic, qty: Dynamic| {
        place(&c, side, Some(&price), &qty, "GTC")
    });
    let c = ctx.clone();
    engine.register_fn(
        "limit",
        move |side: &str, price: Dynamic, qty: Dynamic, tif: &str| {
            place(&c, side, Some(&price), &qty, tif)
        },
    );
    let c = ctx.clone();
    engine.register_fn("cancel_all", move || {
        let mut c = c.borrow_mut();
        let id = c.current;
        c.actions.push(StrategyAction::CancelAll(id));
    });
}

fn register_queries(engine: &mut Engine, ctx: &Rc<RefCell<HostCtx>>) {
    fn view<T>(ctx: &Rc<RefCell<HostCtx>>, f: impl Fn(&super::InstrumentView) -> T) -> T {
        let c = ctx.borrow();
        let v = c.views.get(c.current.index()).copied().unwrap_or_default();
        f(&v)
    }
    let c = ctx.clone();
    engine.register_fn("position", move || view(&c, |v| v.position));
    let c = ctx.clone();
    engine.register_fn("avg_price", move || view(&c, |v| v.avg_price));
    let c = ctx.clone();
    engine.register_fn("realized_pnl", move || view(&c, |v| v.realized_pnl));
    let c = ctx.clone();
    engine.register_fn("best_bid", move || view(&c, |v| opt_decimal(v.best_bid)));
    let c = ctx.clone();
    engine.register_fn("best_ask", move || view(&c, |v| opt_decimal(v.best_ask)));
    let c = ctx.clone();
    engine.register_fn("last_price", move || {
        view(&c, |v| opt_decimal(v.last_price))
    });
    let c = ctx.clone();
    engine.register_fn("open_buy_qty", move || view(&c, |v| v.open_buy_qty));
    let c = ctx.clone();
    engine.register_fn("open_sell_qty", move || view(&c, |v| v.open_sell_qty));
    let c = ctx.clone();
    engine.register_fn("tick_size", move || {
        let c = c.borrow();
        c.tick_sizes
            .get(c.current.index())
            .copied()
            .unwrap_or_default()
    });
    let c = ctx.clone();
    engine.register_fn("lot_size", move || {
        let c = c.borrow();
        c.lot_sizes
            .get(c.current.index())
            .copied()
            .unwrap_or_default()
    });
    let c = ctx.clone();
    engine.register_fn("symbol", move || {
        let c = c.borrow();
        c.symbols
            .get(c.current.index())
            .cloned()
            .unwrap_or_default()
    });
    let c = ctx.clone();
    engine.register_fn("now", move || c.borrow().now_ns);
    let c = ctx.clone();
    engine.register_fn("param", move |name: &str| -> RhaiResult<Dynamic> {
        let c = c.borrow();
        c.params.get(name).cloned().ok_or_else(|| {
            format!("parameter {name:?} is not set in the strategy's [strategies.params]").into()
        })
    });
    let c = ctx.clone();
    engine.register_fn("param", move |name: &str, default: Dynamic| -> Dynamic {
        c.borrow().params.get(name).cloned().unwrap_or(default)
    });
}
