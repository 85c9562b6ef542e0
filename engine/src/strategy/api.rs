//! The functions a script can use. Registered into a raw Rhai engine with only the standard
//! packages (no file, module, network or `eval` access). The quant-facing guide, with
//! examples, is `strategies/README.md`.
//!
//! | function | what it does |
//! | --- | --- |
//! | `market(side, qty)`, `market(side, qty, opts)` | market order on the event's instrument (`side`: `"buy"`/`"sell"`); returns its id |
//! | `limit(side, price, qty)`, `limit(side, price, qty, opts)` | limit order; returns its id. `opts`: `"GTC"` (default), `"IOC"`, `"FOK"`, `"POST_ONLY"`, or a map `#{tif: "IOC", post_only: true, reduce_only: true}` |
//! | `stop(side, trigger, qty[, opts])`, `stop_limit(side, trigger, price, qty[, opts])` | a stop held by the engine: when a trade is at or beyond `trigger` against the position (a sell at or below, a buy at or above) a market / limit order is placed under the returned id |
//! | `take_profit(side, trigger, qty[, opts])`, `take_profit_limit(side, trigger, price, qty[, opts])` | the same, triggered the other way (a sell at or above, a buy at or below) |
//! | `trailing_stop(side, qty, #{amount: x} \| #{percent: p}[, opts])` | a market order once a trade is `x` (or `p` %) beyond the best trade since it was placed (a sell below the highest, a buy above the lowest) |
//! | `bracket(side, price, qty, exits[, opts])`, `oco(a, b)` | an entry with a stop and/or take-profit armed as it fills; two orders the first of which to fill, trigger or end cancels the other (see [`super::linked_orders`]) |
//! | `cancel(id)`, `cancel_all()` | cancel one of this strategy's orders / all of them on the event's instrument |
//! | `replace(id, price)`, `replace(id, price, qty)` | move a working limit order in one cancel-replace (new order only if the cancel succeeds; quantity defaults to what is left); returns the new id, or `()` if `id` is no longer open |
//! | `close_position()` | reduce-only market order flattening the position; its id, or `()` when flat |
//! | `position()`, `avg_price()`, `realized_pnl()`, `unrealized_pnl()` | position details (decimals; the position is its tradable part, a multiple of the lot size: sub-lot dust left by base-asset fees is held but not shown, so a closed position reads exactly 0; unrealized: at the last trade, else the mid, else `()`) |
//! | `open_orders()` | array of `#{id, side, price, qty, filled, symbol}` (working, no cancel in flight) |
//! | `balance(asset)`, `available(asset)` | the account's balance of `asset` (the venue's at start plus our fills) and what working orders leave of it (0 for an asset never held) |
//! | `equity()` | the account valued in the quote asset of the strategy's first instrument, other assets at their mark on the trading venue (one without an instrument against that quote is left out) |
//! | `best_bid()`, `best_ask()`, `last_price()` | decimals, or `()` while unknown |
//! | `book_bids(n)`, `book_asks(n)` | up to `n` (<= 10) levels `#{price, qty}`, best first |
//! | `open_buy_qty()`, `open_sell_qty()` | our working quantity per side |
//! | `tick_size()`, `lot_size()`, `symbol()` | the event instrument's rules and name |
//! | `param(name)`, `param(name, default)` | strategy parameters from the config file |
//! | `now()` | engine time in ns since the epoch (event time in backtests) |
//! | `set_timer(name, ms)`, `every(name, ms)`, `cancel_timer(name)` | one-shot / repeating `on_timer(name)` on the engine clock |
//! | `signal(name, value)` | records a signal row (`signals` table) for the frontend |
//! | `log(x)`, `print(x)` | to the engine's log, tagged with the strategy name (`log` also with `event_ts_ns`: the engine time of the callback, the replayed event time in a backtest) |
//! | `instruments()`, `utc()`, `in_session(..)`, `bars(..)`, `to_decimal(x)` | the strategy's instrument names; UTC fields of engine time; daily UTC windows; closed-bar history; an exact decimal |
//! | indicators | see [`super::script_indicators`] |
//!
//! Every query and `close_position`/`cancel_all` also take an instrument first
//! (`position("ETH-USDT")`, `book_bids("ETH-USDT", 5)`, `"okx:BTC-USDT"` for a market-data
//! venue's) among the strategy's declared `instruments`; orders take `#{symbol: "ETH-USDT"}`
//! in their options (trading venue only).
//!
//! Rounding rule of the order functions: limit prices are rounded to the instrument's tick
//! size toward the passive side (buys down, sells up: never more aggressive than asked);
//! quantities are rounded down to the lot size. An order whose quantity rounds to zero reaches
//! the risk gate as is and is refused there, with a recorded reason. Quantities and prices
//! may be decimals, integers, numeric strings, or floats (a float is taken as the decimal it
//! prints as, e.g. `0.1` is exactly 0.1).
//!
//! Reduce-only (Binance spot has no such flag): the core loop clamps a reduce-only order to
//! the strategy's position minus its working orders on the same side, refuses it (risk event
//! `invalid_order`) if nothing is left to reduce, and sends it as a plain order.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::str::FromStr;

use rhai::packages::{Package, StandardPackage};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map};
use rust_decimal::Decimal;

use super::views::BarView;
use super::{HostCtx, StrategyAction, StrategyLimits, Timer, BAR_HISTORY};
use crate::calendar::UtcTime;
use crate::order::{ClientOrderId, OrderIntent, OrderType, TimeInForce, Trigger};
use crate::types::{InstrumentId, Price, Qty, Side};

pub(super) type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

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
pub(super) fn to_decimal(what: &str, v: &Dynamic) -> RhaiResult<Decimal> {
    // `as_decimal` reads in place; `try_cast` would clone the boxed decimal first.
    if let Ok(d) = v.as_decimal() {
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

pub(super) fn to_f64(v: &Dynamic) -> RhaiResult<f64> {
    // Prices (decimals) first: the common case.
    if let Ok(d) = v.as_decimal() {
        use rust_decimal::prelude::ToPrimitive;
        return d
            .to_f64()
            .ok_or_else(|| "indicator input out of range".into());
    }
    if let Ok(f) = v.as_float() {
        return Ok(f);
    }
    if let Ok(i) = v.as_int() {
        return Ok(i as f64);
    }
    Err(format!("indicator input must be a number, got {}", v.type_name()).into())
}

pub(super) fn parse_side(s: &str) -> RhaiResult<Side> {
    match s {
        "buy" | "BUY" | "Buy" => Ok(Side::Buy),
        "sell" | "SELL" | "Sell" => Ok(Side::Sell),
        other => Err(format!("side must be \"buy\" or \"sell\", got {other:?}").into()),
    }
}

/// Order options: time in force and flags.
#[derive(Clone, Debug)]
pub(super) struct OrderOpts {
    tif: TimeInForce,
    post_only: bool,
    reduce_only: bool,
    /// The instrument (`SYMBOL` or `venue:SYMBOL`); `None`: the current event's.
    symbol: Option<ImmutableString>,
}

pub(super) const GTC: OrderOpts = OrderOpts {
    tif: TimeInForce::Gtc,
    post_only: false,
    reduce_only: false,
    symbol: None,
};

fn parse_tif(s: &str) -> RhaiResult<OrderOpts> {
    let (tif, post_only) = match s.to_ascii_uppercase().as_str() {
        "GTC" => (TimeInForce::Gtc, false),
        "IOC" => (TimeInForce::Ioc, false),
        "FOK" => (TimeInForce::Fok, false),
        "POST_ONLY" | "POSTONLY" | "GTX" => (TimeInForce::Gtc, true),
        _ => {
            return Err(
                format!("time in force must be GTC, IOC, FOK or POST_ONLY, got {s:?}").into(),
            )
        }
    };
    Ok(OrderOpts {
        tif,
        post_only,
        reduce_only: false,
        symbol: None,
    })
}

pub(super) fn parse_opts(m: &Map) -> RhaiResult<OrderOpts> {
    let mut o = GTC;
    for (k, v) in m {
        let flag = || {
            v.as_bool()
                .map_err(|t| format!("order option {k} must be true or false, got {t}"))
        };
        match k.as_str() {
            "tif" => {
                let s = v
                    .clone()
                    .into_immutable_string()
                    .map_err(|t| format!("order option tif must be a string, got {t}"))?;
                let t = parse_tif(&s)?;
                o.tif = t.tif;
                o.post_only |= t.post_only;
            }
            "post_only" => o.post_only = flag()?,
            "reduce_only" => o.reduce_only = flag()?,
            "symbol" => {
                o.symbol = Some(
                    v.clone()
                        .into_immutable_string()
                        .map_err(|t| format!("order option symbol must be a string, got {t}"))?,
                )
            }
            other => {
                return Err(format!(
                    "unknown order option {other:?} (known: tif, post_only, reduce_only, symbol)"
                )
                .into())
            }
        }
    }
    if o.post_only && o.tif != TimeInForce::Gtc {
        return Err("post_only orders rest on the book: they cannot be IOC or FOK".into());
    }
    Ok(o)
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
    opts: OrderOpts,
) -> RhaiResult<ImmutableString> {
    let (cid, intent) = build_order(ctx, side, price, qty, opts)?;
    ctx.borrow_mut()
        .actions
        .push(StrategyAction::Place(cid, intent));
    Ok(cid.to_string().into())
}

/// A conditional order: held by the engine until `trigger` fires, then placed as a market
/// order (`price` `None`) or a limit order.
fn conditional(
    ctx: &Rc<RefCell<HostCtx>>,
    side: &str,
    trigger: Trigger,
    price: Option<&Dynamic>,
    qty: &Dynamic,
    opts: OrderOpts,
) -> RhaiResult<ImmutableString> {
    if let Trigger::Stop { price: p } | Trigger::TakeProfit { price: p } = trigger {
        if p <= Decimal::ZERO {
            return Err(format!("trigger price must be positive, got {p}").into());
        }
    }
    let (cid, intent) = build_order(ctx, side, price, qty, opts)?;
    ctx.borrow_mut()
        .actions
        .push(StrategyAction::Conditional(cid, trigger, intent));
    Ok(cid.to_string().into())
}

/// `#{amount: x}` or `#{percent: p}` of `trailing_stop`.
fn trailing(m: &Map) -> RhaiResult<Trigger> {
    let (offset, percent) = match (m.get("amount"), m.get("percent"), m.len()) {
        (Some(a), None, 1) => (to_decimal("amount", a)?, false),
        (None, Some(p), 1) => (to_decimal("percent", p)?, true),
        _ => return Err("trailing_stop takes #{amount: x} or #{percent: p} (one of them)".into()),
    };
    if offset <= Decimal::ZERO || (percent && offset >= Decimal::ONE_HUNDRED) {
        return Err(format!(
            "trailing distance must be positive (and a percent below 100), got {offset}"
        )
        .into());
    }
    Ok(Trigger::Trailing {
        offset,
        percent,
        extreme: None,
    })
}

/// Validates an order's fields and gives it an id (the action is pushed by the caller).
pub(super) fn build_order(
    ctx: &Rc<RefCell<HostCtx>>,
    side: &str,
    price: Option<&Dynamic>,
    qty: &Dynamic,
    opts: OrderOpts,
) -> RhaiResult<(ClientOrderId, OrderIntent)> {
    let side = parse_side(side)?;
    let qty = to_decimal("quantity", qty)?;
    let c = ctx.borrow();
    let id = match &opts.symbol {
        Some(sym) => instrument_named(&c, sym)?,
        None => c.current,
    };
    if c.tradable.get(id.index()) != Some(&true) {
        return Err(format!(
            "{} is a market-data instrument: orders go only to the trading venue",
            instrument_name(&c, id)
        )
        .into());
    }
    let lot = c.lot_sizes.get(id.index()).copied().unwrap_or_default();
    let tick = c.tick_sizes.get(id.index()).copied().unwrap_or_default();
    let price = match price {
        Some(p) => Some(round_price(to_decimal("price", p)?, tick, side)),
        None => None,
    };
    if price.is_none() && opts.post_only {
        return Err("a market order cannot be post-only".into());
    }
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
        tif: opts.tif,
        reduce_only: opts.reduce_only,
        post_only: opts.post_only,
        origin_recv_ns: c.origin_recv_ns,
    };
    let cid = c
        .ids
        .next_id()
        .ok_or("this run has used every client order id (u32::MAX); restart the engine")?;
    Ok((cid, intent))
}

/// `replace(id, price[, qty])`: moves one of the strategy's working limit orders to a new
/// price (and quantity; without one, what is left of the old order) in one cancel-replace.
/// Returns the new order's id, or `()` if `id` is not among the strategy's open orders (it
/// filled or was cancelled in the meantime), so a requote after a fill is not an error.
fn replace(
    ctx: &Rc<RefCell<HostCtx>>,
    id: &str,
    price: &Dynamic,
    qty: Option<&Dynamic>,
) -> RhaiResult<Dynamic> {
    let cancel: ClientOrderId = id
        .parse()
        .map_err(|_| format!("replace: {id:?} is not an order id"))?;
    let price = to_decimal("price", price)?;
    let qty = qty.map(|q| to_decimal("quantity", q)).transpose()?;
    let mut c = ctx.borrow_mut();
    let Some(old) = c.open_orders.iter().find(|o| o.id == cancel).copied() else {
        return Ok(Dynamic::UNIT);
    };
    if old.price.is_none() {
        return Err(
            format!("replace: {id} is a market order; only limit orders can be replaced").into(),
        );
    }
    let lot = c
        .lot_sizes
        .get(old.instrument.index())
        .copied()
        .unwrap_or_default();
    let tick = c
        .tick_sizes
        .get(old.instrument.index())
        .copied()
        .unwrap_or_default();
    let qty = round_qty(qty.unwrap_or(old.qty - old.filled), lot);
    let price = round_price(price, tick, old.side);
    let new_id = c
        .ids
        .next_id()
        .ok_or("this run has used every client order id (u32::MAX); restart the engine")?;
    let origin_recv_ns = c.origin_recv_ns;
    c.actions.push(StrategyAction::Replace {
        cancel,
        id: new_id,
        price,
        qty,
        origin_recv_ns,
    });
    Ok(Dynamic::from(new_id.to_string()))
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
    engine.disable_symbol("eval");

    let name = ctx.borrow().name.clone();
    let n = name.clone();
    engine.on_print(move |s| tracing::info!(strategy = %n, "{s}"));
    let n = name.clone();
    engine.on_debug(move |s, _, pos| tracing::debug!(strategy = %n, %pos, "{s}"));
    let n = name;
    let c = ctx.clone();
    // The engine time of the callback (the replayed event's time in a backtest), besides the
    // logger's own wall-clock timestamp.
    engine.register_fn("log", move |x: Dynamic| {
        let event_ts_ns = c.borrow().now_ns;
        tracing::info!(strategy = %n, event_ts_ns, "{x}")
    });

    super::views::register(&mut engine);
    super::script_indicators::register(&mut engine);
    register_orders(&mut engine, ctx);
    super::linked_orders::register(&mut engine, ctx);
    register_queries(&mut engine, ctx);
    register_clock(&mut engine, ctx);
    register_bar_history(&mut engine, ctx);
    register_mixed_comparisons(&mut engine);
    engine
}

/// Comparisons between a decimal (a price) and a float (an indicator value), so that
/// `t.price < bb.lower` works. The decimal is converted to the nearest float. Arithmetic is
/// not mixed: money stays decimal (`x.to_float()` / `to_decimal(x)` convert explicitly).
fn register_mixed_comparisons(engine: &mut Engine) {
    use rust_decimal::prelude::ToPrimitive;
    fn f(d: Decimal) -> f64 {
        d.to_f64().unwrap_or(f64::NAN)
    }
    macro_rules! cmp {
        ($($op:tt),*) => {$(
            engine.register_fn(stringify!($op), |a: Decimal, b: f64| f(a) $op b);
            engine.register_fn(stringify!($op), |a: f64, b: Decimal| a $op f(b));
        )*};
    }
    cmp!(<, <=, >, >=, ==, !=);
    // `to_decimal` for strings (Rhai's own covers the number types), exact: "0.1" is 0.1.
    engine.register_fn("to_decimal", |s: ImmutableString| -> RhaiResult<Decimal> {
        to_decimal("to_decimal", &Dynamic::from(s))
    });
}

fn register_orders(engine: &mut Engine, ctx: &Rc<RefCell<HostCtx>>) {
    let c = ctx.clone();
    engine.register_fn("market", move |side: &str, qty: Dynamic| {
        place(&c, side, None, &qty, GTC)
    });
    let c = ctx.clone();
    engine.register_fn("market", move |side: &str, qty: Dynamic, opts: Map| {
        place(&c, side, None, &qty, parse_opts(&opts)?)
    });
    let c = ctx.clone();
    engine.register_fn("limit", move |side: &str, price: Dynamic, qty: Dynamic| {
        place(&c, side, Some(&price), &qty, GTC)
    });
    let c = ctx.clone();
    engine.register_fn(
        "limit",
        move |side: &str, price: Dynamic, qty: Dynamic, tif: &str| {
            place(&c, side, Some(&price), &qty, parse_tif(tif)?)
        },
    );
    let c = ctx.clone();
    engine.register_fn(
        "limit",
        move |side: &str, price: Dynamic, qty: Dynamic, opts: Map| {
            place(&c, side, Some(&price), &qty, parse_opts(&opts)?)
        },
    );
    // Conditional orders, held by the engine and placed when their trigger fires.
    let trig = |p: &Dynamic, stop: bool| -> RhaiResult<Trigger> {
        let price = to_decimal("trigger", p)?;
        Ok(if stop {
            Trigger::Stop { price }
        } else {
            Trigger::TakeProfit { price }
        })
    };
    for (name, stop) in [("stop", true), ("take_profit", false)] {
        let c = ctx.clone();
        engine.register_fn(name, move |side: &str, trigger: Dynamic, qty: Dynamic| {
            conditional(&c, side, trig(&trigger, stop)?, None, &qty, GTC)
        });
        let c = ctx.clone();
        engine.register_fn(
            name,
            move |side: &str, trigger: Dynamic, qty: Dynamic, opts: Map| {
                conditional(
                    &c,
                    side,
                    trig(&trigger, stop)?,
                    None,
                    &qty,
                    parse_opts(&opts)?,
                )
            },
        );
    }
    for (name, stop) in [("stop_limit", true), ("take_profit_limit", false)] {
        let c = ctx.clone();
        engine.register_fn(
            name,
            move |side: &str, trigger: Dynamic, price: Dynamic, qty: Dynamic| {
                conditional(&c, side, trig(&trigger, stop)?, Some(&price), &qty, GTC)
            },
        );
        let c = ctx.clone();
        engine.register_fn(
            name,
            move |side: &str, trigger: Dynamic, price: Dynamic, qty: Dynamic, opts: Map| {
                let o = parse_opts(&opts)?;
                conditional(&c, side, trig(&trigger, stop)?, Some(&price), &qty, o)
            },
        );
    }
    let c = ctx.clone();
    engine.register_fn(
        "trailing_stop",
        move |side: &str, qty: Dynamic, dist: Map| {
            conditional(&c, side, trailing(&dist)?, None, &qty, GTC)
        },
    );
    let c = ctx.clone();
    engine.register_fn(
        "trailing_stop",
        move |side: &str, qty: Dynamic, dist: Map, opts: Map| {
            conditional(&c, side, trailing(&dist)?, None, &qty, parse_opts(&opts)?)
        },
    );
    fn close(ctx: &Rc<RefCell<HostCtx>>, sym: Option<&str>) -> RhaiResult<Dynamic> {
        let (pos, symbol) = {
            let c = ctx.borrow();
            let id = match sym {
                Some(s) => instrument_named(&c, s)?,
                None => c.current,
            };
            let pos = c
                .views
                .get(id.index())
                .map(|v| v.position)
                .unwrap_or_default();
            (pos, sym.map(ImmutableString::from))
        };
        if pos.is_zero() {
            return Ok(Dynamic::UNIT);
        }
        let side = if pos > Decimal::ZERO { "sell" } else { "buy" };
        let opts = OrderOpts {
            reduce_only: true,
            symbol,
            ..GTC
        };
        place(ctx, side, None, &Dynamic::from_decimal(pos.abs()), opts).map(Dynamic::from)
    }
    let c = ctx.clone();
    engine.register_fn("close_position", move || close(&c, None));
    let c = ctx.clone();
    engine.register_fn("close_position", move |sym: &str| close(&c, Some(sym)));
    let c = ctx.clone();
    engine.register_fn("cancel", move |id: &str| -> RhaiResult<()> {
        let id = id
            .parse()
            .map_err(|_| format!("cancel: {id:?} is not an order id"))?;
        c.borrow_mut().actions.push(StrategyAction::Cancel(id));
        Ok(())
    });
    let c = ctx.clone();
    engine.register_fn(
        "replace",
        move |id: &str, price: Dynamic, qty: Dynamic| -> RhaiResult<Dynamic> {
            replace(&c, id, &price, Some(&qty))
        },
    );
    let c = ctx.clone();
    engine.register_fn(
        "replace",
        move |id: &str, price: Dynamic| -> RhaiResult<Dynamic> { replace(&c, id, &price, None) },
    );
    let c = ctx.clone();
    engine.register_fn("cancel_all", move || {
        let mut c = c.borrow_mut();
        let id = c.current;
        c.actions.push(StrategyAction::CancelAll(id));
    });
    let c = ctx.clone();
    engine.register_fn("cancel_all", move |sym: &str| -> RhaiResult<()> {
        let mut c = c.borrow_mut();
        let id = instrument_named(&c, sym)?;
        c.actions.push(StrategyAction::CancelAll(id));
        Ok(())
    });
    let c = ctx.clone();
    engine.register_fn(
        "signal",
        move |name: ImmutableString, value: Dynamic| -> RhaiResult<()> {
            let value = to_f64(&value)?;
            let mut c = c.borrow_mut();
            let instrument = c.current;
            c.actions.push(StrategyAction::Signal {
                instrument,
                name,
                value,
            });
            Ok(())
        },
    );
}

/// Resolves `SYMBOL` (the trading venue's instrument first) or `venue:SYMBOL` among the
/// strategy's own instruments.
pub(super) fn instrument_named(c: &HostCtx, name: &str) -> RhaiResult<InstrumentId> {
    let (venue, symbol) = match name.split_once(':') {
        Some((v, s)) => (Some(v), s),
        None => (None, name),
    };
    let mut best: Option<InstrumentId> = None;
    for &id in &c.instruments {
        let i = id.index();
        let same_symbol = c.symbols.get(i).is_some_and(|s| s.as_str() == symbol);
        let same_venue = venue.is_none_or(|v| c.venues.get(i).is_some_and(|x| x.as_str() == v));
        if same_symbol && same_venue && (best.is_none() || c.tradable.get(i) == Some(&true)) {
            best = Some(id);
        }
    }
    best.ok_or_else(|| {
        let names: Vec<String> = c
            .instruments
            .iter()
            .map(|id| instrument_name(c, *id))
            .collect();
        format!(
            "{name:?} is not one of this strategy's instruments ({}): list it in the \
             strategy's `instruments`",
            names.join(", ")
        )
        .into()
    })
}

/// How scripts name an instrument: `SYMBOL` on the trading venue, `venue:SYMBOL` elsewhere.
fn instrument_name(c: &HostCtx, id: InstrumentId) -> String {
    let i = id.index();
    let symbol = c.symbols.get(i).map(|s| s.as_str()).unwrap_or_default();
    if c.tradable.get(i) == Some(&true) {
        symbol.to_string()
    } else {
        format!(
            "{}:{symbol}",
            c.venues.get(i).map(|s| s.as_str()).unwrap_or_default()
        )
    }
}

fn register_queries(engine: &mut Engine, ctx: &Rc<RefCell<HostCtx>>) {
    fn view<T>(ctx: &Rc<RefCell<HostCtx>>, f: impl Fn(&super::InstrumentView) -> T) -> T {
        let c = ctx.borrow();
        let v = c.views.get(c.current.index()).copied().unwrap_or_default();
        f(&v)
    }
    fn view_of<T>(
        ctx: &Rc<RefCell<HostCtx>>,
        name: &str,
        f: impl Fn(&super::InstrumentView) -> T,
    ) -> RhaiResult<T> {
        let c = ctx.borrow();
        let id = instrument_named(&c, name)?;
        let v = c.views.get(id.index()).copied().unwrap_or_default();
        Ok(f(&v))
    }
    /// Registers `name()` (the instrument of the current event) and `name(symbol)`.
    macro_rules! query {
        ($name:literal, $f:expr) => {{
            let c = ctx.clone();
            engine.register_fn($name, move || view(&c, $f));
            let c = ctx.clone();
            engine.register_fn($name, move |sym: &str| view_of(&c, sym, $f));
        }};
    }
    fn unrealized(v: &super::InstrumentView) -> Dynamic {
        let mid = match (v.best_bid, v.best_ask) {
            (Some(b), Some(a)) => Some((b + a) / Decimal::TWO),
            _ => None,
        };
        opt_decimal(v.last_price.or(mid).map(|m| (m - v.avg_price) * v.position))
    }
    query!("position", |v: &super::InstrumentView| v.position);
    query!("avg_price", |v: &super::InstrumentView| v.avg_price);
    query!("realized_pnl", |v: &super::InstrumentView| v.realized_pnl);
    query!("unrealized_pnl", unrealized);
    query!("best_bid", |v: &super::InstrumentView| opt_decimal(
        v.best_bid
    ));
    query!("best_ask", |v: &super::InstrumentView| opt_decimal(
        v.best_ask
    ));
    query!("last_price", |v: &super::InstrumentView| opt_decimal(
        v.last_price
    ));
    query!("open_buy_qty", |v: &super::InstrumentView| v.open_buy_qty);
    query!("open_sell_qty", |v: &super::InstrumentView| v.open_sell_qty);
    let c = ctx.clone();
    engine.register_fn("instruments", move || -> Array {
        let c = c.borrow();
        c.instruments
            .iter()
            .map(|id| Dynamic::from(instrument_name(&c, *id)))
            .collect()
    });
    fn orders(c: &HostCtx, only: Option<InstrumentId>) -> Array {
        c.open_orders
            .iter()
            .filter(|o| only.is_none_or(|id| o.instrument == id))
            .map(|o| {
                let mut m = Map::new();
                m.insert("id".into(), Dynamic::from(o.id.to_string()));
                m.insert("side".into(), Dynamic::from(o.side.as_str()));
                m.insert("price".into(), opt_decimal(o.price));
                m.insert("qty".into(), Dynamic::from_decimal(o.qty));
                m.insert("filled".into(), Dynamic::from_decimal(o.filled));
                m.insert(
                    "symbol".into(),
                    Dynamic::from(instrument_name(c, o.instrument)),
                );
                Dynamic::from_map(m)
            })
            .collect()
    }
    let c = ctx.clone();
    engine.register_fn("balance", move |asset: &str| -> Decimal {
        c.borrow()
            .account
            .iter()
            .find(|a| a.asset == asset)
            .map_or(Decimal::ZERO, |a| a.balance)
    });
    let c = ctx.clone();
    engine.register_fn("available", move |asset: &str| -> Decimal {
        c.borrow()
            .account
            .iter()
            .find(|a| a.asset == asset)
            .map_or(Decimal::ZERO, |a| a.available)
    });
    let c = ctx.clone();
    engine.register_fn("equity", move || c.borrow().equity);
    let c = ctx.clone();
    engine.register_fn("open_orders", move || orders(&c.borrow(), None));
    let c = ctx.clone();
    engine.register_fn("open_orders", move |sym: &str| -> RhaiResult<Array> {
        let c = c.borrow();
        Ok(orders(&c, Some(instrument_named(&c, sym)?)))
    });
    for (name, bids) in [("book_bids", true), ("book_asks", false)] {
        let c = ctx.clone();
        engine.register_fn(name, move |n: i64| {
            let id = c.borrow().current;
            levels(&c, id, n, bids)
        });
        let c = ctx.clone();
        engine.register_fn(name, move |sym: &str, n: i64| -> RhaiResult<Array> {
            let id = instrument_named(&c.borrow(), sym)?;
            Ok(levels(&c, id, n, bids))
        });
    }
    /// Registers `name()` and `name(symbol)` for a per-instrument constant.
    macro_rules! spec {
        ($name:literal, $field:ident) => {{
            let c = ctx.clone();
            engine.register_fn($name, move || {
                let c = c.borrow();
                c.$field.get(c.current.index()).copied().unwrap_or_default()
            });
            let c = ctx.clone();
            engine.register_fn($name, move |sym: &str| -> RhaiResult<Decimal> {
                let c = c.borrow();
                let id = instrument_named(&c, sym)?;
                Ok(c.$field.get(id.index()).copied().unwrap_or_default())
            });
        }};
    }
    spec!("tick_size", tick_sizes);
    spec!("lot_size", lot_sizes);
    let c = ctx.clone();
    engine.register_fn("symbol", move || {
        let c = c.borrow();
        c.symbols
            .get(c.current.index())
            .cloned()
            .unwrap_or_default()
    });
    let c = ctx.clone();
    engine.register_fn("param", move |name: &str| -> RhaiResult<Dynamic> {
        let c = c.borrow();
        c.params.get(name).cloned().ok_or_else(|| {
            format!("parameter {name:?} is not set in the strategy's [strategies.params]").into()
        })
    });
    let c = ctx.clone();
    engine.register_fn("param", move |name: &str, default: Dynamic| -> Dynamic {
        c.borrow().params.get(name).cloned().unwrap_or_else(|| {
            // A decimal written as a string is a decimal, as it is when the config sets it.
            match default
                .read_lock::<ImmutableString>()
                .map(|s| Decimal::from_str_exact(s.trim()))
            {
                Some(Ok(d)) => Dynamic::from_decimal(d),
                _ => default,
            }
        })
    });
}

fn levels(ctx: &Rc<RefCell<HostCtx>>, id: InstrumentId, n: i64, bids: bool) -> Array {
    let c = ctx.borrow();
    let Some((b, a)) = c.books.get(id.index()) else {
        return Array::new();
    };
    let side = if bids { b } else { a };
    side.iter()
        .take(n.max(0) as usize)
        .map(|(p, q)| {
            let mut m = Map::new();
            m.insert("price".into(), Dynamic::from_decimal(*p));
            m.insert("qty".into(), Dynamic::from_decimal(*q));
            Dynamic::from_map(m)
        })
        .collect()
}

/// Timers: at least 1 ms; setting a timer with an existing name replaces it.
fn register_clock(engine: &mut Engine, ctx: &Rc<RefCell<HostCtx>>) {
    fn set(ctx: &Rc<RefCell<HostCtx>>, name: ImmutableString, ms: i64, repeat: bool) {
        let mut c = ctx.borrow_mut();
        let ns = ms.max(1).saturating_mul(1_000_000);
        let due_ns = c.now_ns.saturating_add(ns);
        c.timers.retain(|t| t.name != name);
        c.timers.push(Timer {
            name,
            due_ns,
            every_ns: if repeat { ns } else { 0 },
        });
    }
    let c = ctx.clone();
    engine.register_fn("now", move || c.borrow().now_ns);
    let c = ctx.clone();
    engine.register_fn("set_timer", move |name: ImmutableString, ms: i64| {
        set(&c, name, ms, false)
    });
    let c = ctx.clone();
    engine.register_fn("every", move |name: ImmutableString, ms: i64| {
        set(&c, name, ms, true)
    });
    let c = ctx.clone();
    engine.register_fn("cancel_timer", move |name: &str| {
        c.borrow_mut().timers.retain(|t| t.name != name);
    });

    // UTC calendar fields of an engine time, and session windows.
    engine
        .register_type_with_name::<UtcTime>("UtcTime")
        .register_get("year", |t: &mut UtcTime| t.year)
        .register_get("month", |t: &mut UtcTime| t.month)
        .register_get("day", |t: &mut UtcTime| t.day)
        .register_get("hour", |t: &mut UtcTime| t.hour)
        .register_get("minute", |t: &mut UtcTime| t.minute)
        .register_get("second", |t: &mut UtcTime| t.second)
        .register_get("millisecond", |t: &mut UtcTime| t.millisecond)
        .register_get("weekday", |t: &mut UtcTime| t.weekday)
        .register_get("day_of_year", |t: &mut UtcTime| t.day_of_year)
        .register_fn("to_string", |t: &mut UtcTime| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                t.year, t.month, t.day, t.hour, t.minute, t.second, t.millisecond
            )
        });
    engine.register_fn("utc", UtcTime::from_ns);
    let c = ctx.clone();
    engine.register_fn("utc", move || UtcTime::from_ns(c.borrow().now_ns));
    let c = ctx.clone();
    engine.register_fn(
        "in_session",
        move |from: &str, to: &str| -> RhaiResult<bool> {
            in_session(c.borrow().now_ns, from, to, "Mon-Sun")
        },
    );
    let c = ctx.clone();
    engine.register_fn(
        "in_session",
        move |from: &str, to: &str, days: &str| -> RhaiResult<bool> {
            in_session(c.borrow().now_ns, from, to, days)
        },
    );
}

/// Whether `now_ns` (UTC) is in the daily window [`from`, `to`) ("HH:MM", a window that ends
/// before it starts runs over midnight and belongs to the day it starts) on one of `days`
/// ("Mon-Fri", "Sat,Sun", "Mon-Wed,Fri").
pub(super) fn in_session(now_ns: i64, from: &str, to: &str, days: &str) -> RhaiResult<bool> {
    fn minute_of_day(s: &str) -> RhaiResult<i64> {
        let bad = || format!("session time {s:?} is not HH:MM (00:00 to 24:00)");
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m != 0) {
            return Err(bad().into());
        }
        Ok(h * 60 + m)
    }
    fn weekday(s: &str) -> RhaiResult<i64> {
        const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s.trim()))
            .map(|i| i as i64 + 1)
            .ok_or_else(|| format!("{s:?} is not a weekday (Mon, Tue, ... Sun)").into())
    }
    let (start, end) = (minute_of_day(from)?, minute_of_day(to)?);
    let t = UtcTime::from_ns(now_ns);
    let now = t.hour * 60 + t.minute;
    // The day the window we may be in started on.
    let (inside, day) = if start <= end {
        (start <= now && now < end, t.weekday)
    } else if now >= start {
        (true, t.weekday)
    } else {
        (now < end, (t.weekday + 5) % 7 + 1)
    };
    if !inside {
        return Ok(false);
    }
    for part in days.split(',') {
        let hit = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (weekday(a)?, weekday(b)?);
                if a <= b {
                    (a..=b).contains(&day)
                } else {
                    day >= a || day <= b
                }
            }
            None => weekday(part)? == day,
        };
        if hit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `bars(...)`: the last `n` closed bars of a slot, oldest first, as `Bar` values.
fn register_bar_history(engine: &mut Engine, ctx: &Rc<RefCell<HostCtx>>) {
    fn history(
        c: &HostCtx,
        id: InstrumentId,
        timeframe: Option<&str>,
        n: i64,
    ) -> RhaiResult<Array> {
        let slot = c
            .bar_history
            .iter()
            .find(|h| h.instrument == id && timeframe.is_none_or(|tf| h.label.as_str() == tf));
        let Some(h) = slot else {
            let configured: Vec<&str> = c
                .bar_history
                .iter()
                .filter(|h| h.instrument == id)
                .map(|h| h.label.as_str())
                .collect();
            return Err(match timeframe {
                Some(tf) => format!(
                    "no {tf:?} bars: the strategy's `bars` are [{}]",
                    configured.join(", ")
                ),
                None => "no bars: list timeframes in the strategy's `bars` (\"1m\", ...)".into(),
            }
            .into());
        };
        let symbol = c.symbols.get(id.index()).cloned().unwrap_or_default();
        let n = n.clamp(0, BAR_HISTORY as i64) as usize;
        let skip = h.bars.len().saturating_sub(n);
        Ok(h.bars
            .iter()
            .skip(skip)
            .map(|b| {
                Dynamic::from(BarView {
                    instrument: id,
                    symbol: symbol.clone(),
                    timeframe: h.label.clone(),
                    bar: *b,
                })
            })
            .collect())
    }
    let c = ctx.clone();
    engine.register_fn("bars", move |n: i64| {
        let c = c.borrow();
        history(&c, c.current, None, n)
    });
    let c = ctx.clone();
    engine.register_fn("bars", move |tf: &str, n: i64| {
        let c = c.borrow();
        history(&c, c.current, Some(tf), n)
    });
    let c = ctx.clone();
    engine.register_fn("bars", move |sym: &str, tf: &str, n: i64| {
        let c = c.borrow();
        let id = instrument_named(&c, sym)?;
        history(&c, id, Some(tf), n)
    });
}
