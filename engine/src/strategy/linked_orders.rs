//! The script functions for linked orders: `bracket(side, price, qty, exits[, opts])` (an
//! entry with a stop and/or take-profit the engine arms as the entry fills) and `oco(a, b)`
//! (two of the strategy's orders, the first to fill, trigger or end cancelling the other).
//! The core does the rest (`core/linked.rs`).

use std::cell::RefCell;
use std::rc::Rc;

use rhai::{Dynamic, Engine, Map};

use super::api::{build_order, parse_opts, round_price, to_decimal, OrderOpts, RhaiResult, GTC};
use super::{HostCtx, StrategyAction};
use crate::order::{BracketExit, BracketExits, ClientOrderId, Trigger};
use crate::types::{Price, Side};

/// The exits map of `bracket`, checked: trigger prices and optional limit prices.
#[derive(Debug, Default)]
struct ExitSpec {
    stop: Option<(Price, Option<Price>)>,
    take_profit: Option<(Price, Option<Price>)>,
}

fn parse_exits(m: &Map) -> RhaiResult<ExitSpec> {
    let get = |k: &str| m.get(k).map(|v| to_decimal(k, v)).transpose();
    for k in m.keys() {
        if !matches!(
            k.as_str(),
            "stop" | "stop_limit" | "take_profit" | "take_profit_limit"
        ) {
            return Err(format!(
                "unknown bracket exit {k:?} (known: stop, stop_limit, take_profit, take_profit_limit)"
            )
            .into());
        }
    }
    let pair = |trigger: &str, limit: &str| -> RhaiResult<Option<(Price, Option<Price>)>> {
        match (get(trigger)?, get(limit)?) {
            (Some(t), l) if t > Price::ZERO && l.is_none_or(|l| l > Price::ZERO) => {
                Ok(Some((t, l)))
            }
            (Some(_), _) => Err(format!("bracket {trigger} and {limit} must be positive").into()),
            (None, Some(_)) => Err(format!("bracket {limit} needs a {trigger} trigger").into()),
            (None, None) => Ok(None),
        }
    };
    let spec = ExitSpec {
        stop: pair("stop", "stop_limit")?,
        take_profit: pair("take_profit", "take_profit_limit")?,
    };
    if spec.stop.is_none() && spec.take_profit.is_none() {
        return Err("bracket needs a stop, a take_profit, or both".into());
    }
    Ok(spec)
}

/// Checks that the stop is on the losing side and the take-profit on the winning side of the
/// entry (`price`, if a limit) and of each other.
fn check_sides(side: Side, price: Option<Price>, spec: &ExitSpec) -> RhaiResult<()> {
    // A buy's stop is below and its take-profit above; a sell's the other way round.
    let below = |a: Price, b: Price| match side {
        Side::Buy => a < b,
        Side::Sell => a > b,
    };
    let word = match side {
        Side::Buy => "below",
        Side::Sell => "above",
    };
    let points = [
        spec.stop.map(|s| ("stop", s.0)),
        price.map(|p| ("entry price", p)),
        spec.take_profit.map(|t| ("take_profit", t.0)),
    ];
    let mut prev: Option<(&str, Price)> = None;
    for (name, p) in points.into_iter().flatten() {
        if let Some((pn, pp)) = prev {
            if !below(pp, p) {
                return Err(format!(
                    "a {} bracket needs its {pn} ({pp}) {word} its {name} ({p})",
                    side.as_str()
                )
                .into());
            }
        }
        prev = Some((name, p));
    }
    Ok(())
}

fn bracket(
    ctx: &Rc<RefCell<HostCtx>>,
    side: &str,
    price: &Dynamic,
    qty: &Dynamic,
    exits: &Map,
    opts: OrderOpts,
) -> RhaiResult<Map> {
    let spec = parse_exits(exits)?;
    let price = (!price.is_unit()).then_some(price);
    let (entry, intent) = build_order(ctx, side, price, qty, opts)?;
    check_sides(intent.side, intent.price, &spec)?;
    let mut c = ctx.borrow_mut();
    let tick = c
        .tick_sizes
        .get(intent.instrument.index())
        .copied()
        .unwrap_or_default();
    let exit_side = intent.side.opposite();
    let exit = |s: Option<(Price, Option<Price>)>, stop: bool| -> RhaiResult<_> {
        let Some((trigger, limit)) = s else {
            return Ok(None);
        };
        let id = c
            .ids
            .next_id()
            .ok_or("this run has used every client order id (u32::MAX); restart the engine")?;
        Ok(Some(BracketExit {
            id,
            trigger: if stop {
                Trigger::Stop { price: trigger }
            } else {
                Trigger::TakeProfit { price: trigger }
            },
            price: limit.map(|l| round_price(l, tick, exit_side)),
        }))
    };
    let exits = BracketExits {
        stop: exit(spec.stop, true)?,
        take_profit: exit(spec.take_profit, false)?,
    };
    c.actions.push(StrategyAction::Bracket {
        entry,
        intent,
        exits,
    });
    let id = |e: Option<BracketExit>| e.map_or(Dynamic::UNIT, |e| e.id.to_string().into());
    let mut out = Map::new();
    out.insert("entry".into(), entry.to_string().into());
    out.insert("stop".into(), id(exits.stop));
    out.insert("take_profit".into(), id(exits.take_profit));
    Ok(out)
}

fn order_id(what: &str, id: &str) -> RhaiResult<ClientOrderId> {
    id.parse()
        .map_err(|_| format!("{what}: {id:?} is not an order id").into())
}

/// Registers `bracket` and `oco`.
pub(super) fn register(engine: &mut Engine, ctx: &Rc<RefCell<HostCtx>>) {
    let c = ctx.clone();
    engine.register_fn(
        "bracket",
        move |side: &str, price: Dynamic, qty: Dynamic, exits: Map| {
            bracket(&c, side, &price, &qty, &exits, GTC)
        },
    );
    let c = ctx.clone();
    engine.register_fn(
        "bracket",
        move |side: &str, price: Dynamic, qty: Dynamic, exits: Map, opts: Map| {
            bracket(&c, side, &price, &qty, &exits, parse_opts(&opts)?)
        },
    );
    let c = ctx.clone();
    engine.register_fn("oco", move |a: &str, b: &str| -> RhaiResult<()> {
        let (a, b) = (order_id("oco", a)?, order_id("oco", b)?);
        if a == b {
            return Err(format!("oco: both legs are {a}").into());
        }
        c.borrow_mut().actions.push(StrategyAction::Oco(a, b));
        Ok(())
    });
}
