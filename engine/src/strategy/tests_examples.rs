//! The shipped example strategies, each driven through the real host with a deterministic
//! event sequence; the tests check the orders they place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::order::{OrderType, TimeInForce};
use crate::types::InstrumentSpec;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../strategies")
        .join(name)
}

fn load(name: &str, params: &[(&str, toml::Value)], bars: &[&str]) -> StrategyHost {
    let mut instruments = Instruments::new();
    instruments.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001)).unwrap(),
    );
    let cfg = StrategyConfig {
        name: name.into(),
        file: example(name),
        instruments: vec!["BTC-USDT".into()],
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        bars: bars.iter().map(|b| b.to_string()).collect(),
        hot_reload: false,
    };
    StrategyHost::load(0, &cfg, &instruments, StrategyLimits::default()).unwrap()
}

fn s(v: &str) -> toml::Value {
    toml::Value::String(v.into())
}

fn trade(price: Decimal) -> TradeView {
    TradeView {
        instrument: InstrumentId(0),
        symbol: "BTC-USDT".into(),
        price,
        qty: dec!(0.1),
        side: Side::Buy,
        trade_id: 1,
        exch_ts_ns: 0,
    }
}

fn quote(bid: Decimal, ask: Decimal) -> QuoteView {
    QuoteView {
        instrument: InstrumentId(0),
        symbol: "BTC-USDT".into(),
        bid,
        bid_qty: dec!(1),
        ask,
        ask_qty: dec!(1),
    }
}

fn view(position: Decimal, bid: Decimal, ask: Decimal) -> InstrumentView {
    InstrumentView {
        position,
        best_bid: Some(bid),
        best_ask: Some(ask),
        ..Default::default()
    }
}

fn drain(h: &mut StrategyHost) -> Vec<StrategyAction> {
    let mut out = Vec::new();
    h.drain_actions(&mut out);
    out
}

/// (side, type, price, qty, tif, post_only, reduce_only) of the placed orders.
type Placed = (
    Side,
    OrderType,
    Option<Decimal>,
    Decimal,
    TimeInForce,
    bool,
    bool,
);

fn placed(actions: &[StrategyAction]) -> Vec<Placed> {
    actions
        .iter()
        .filter_map(|a| match a {
            StrategyAction::Place(_, i) => Some((
                i.side,
                i.order_type,
                i.price,
                i.qty,
                i.tif,
                i.post_only,
                i.reduce_only,
            )),
            _ => None,
        })
        .collect()
}

fn cancels(actions: &[StrategyAction]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, StrategyAction::Cancel(_)))
        .count()
}

const GTC: TimeInForce = TimeInForce::Gtc;

#[test]
fn bollinger_mean_reversion_buys_below_the_band_and_exits_at_the_mean() {
    let mut h = load(
        "bollinger_mr.rhai",
        &[
            ("period", toml::Value::Integer(10)),
            ("k", toml::Value::Float(2.0)),
            ("qty", s("0.01")),
        ],
        &[],
    );
    h.set_view(InstrumentId(0), view(dec!(0), dec!(94.9), dec!(95.1)));
    for p in [100, 1005, 995, 100, 100, 1005, 995, 100, 100] {
        let p = if p > 200 {
            Decimal::new(p, 1)
        } else {
            Decimal::from(p)
        };
        h.on_trade(trade(p), 0, 0).unwrap();
    }
    assert!(drain(&mut h).is_empty(), "inside the bands: no order");
    // With 95 in the window: mean 99.5, population stddev ~1.53, lower band ~96.43.
    h.on_trade(trade(dec!(95)), 0, 0).unwrap();
    let out = drain(&mut h);
    assert_eq!(
        placed(&out),
        vec![(
            Side::Buy,
            OrderType::Limit,
            Some(dec!(95.1)),
            dec!(0.01),
            TimeInForce::Ioc,
            false,
            false
        )]
    );
    // While the entry is in flight, another low print does not double it.
    h.on_trade(trade(dec!(94)), 0, 0).unwrap();
    assert!(placed(&drain(&mut h)).is_empty());
    // Filled: long; a print back at the middle band closes the position, reduce-only.
    h.set_view(InstrumentId(0), view(dec!(0.01), dec!(99), dec!(99.1)));
    h.on_trade(trade(dec!(100)), 0, 0).unwrap();
    assert_eq!(
        placed(&drain(&mut h)),
        vec![(
            Side::Sell,
            OrderType::Market,
            None,
            dec!(0.01),
            GTC,
            false,
            true
        )]
    );
}

#[test]
fn market_maker_quotes_both_sides_and_skews_by_inventory() {
    let mut h = load(
        "market_maker.rhai",
        &[
            ("qty", s("0.01")),
            ("max_inventory", s("0.02")),
            ("half_spread", toml::Value::Integer(2)),
            ("skew", toml::Value::Integer(1)),
        ],
        &[],
    );
    h.set_view(InstrumentId(0), view(dec!(0), dec!(100), dec!(100.1)));
    h.on_quote(quote(dec!(100), dec!(100.1)), 0, 0).unwrap();
    let out = drain(&mut h);
    assert_eq!(
        placed(&out),
        vec![
            (
                Side::Buy,
                OrderType::Limit,
                Some(dec!(100.03)),
                dec!(0.01),
                GTC,
                true,
                false
            ),
            (
                Side::Sell,
                OrderType::Limit,
                Some(dec!(100.07)),
                dec!(0.01),
                GTC,
                true,
                false
            ),
        ]
    );
    // Same book: the quotes stay, no traffic.
    h.on_quote(quote(dec!(100), dec!(100.1)), 0, 0).unwrap();
    assert!(drain(&mut h).is_empty());
    // What the core shows the script: its working quotes (ids as placed).
    let open = |out: &[StrategyAction]| -> Vec<OpenOrder> {
        out.iter()
            .filter_map(|a| match a {
                StrategyAction::Place(id, i) => Some((*id, i.side, i.price, i.qty)),
                StrategyAction::Replace { id, price, qty, .. } => {
                    Some((*id, Side::Buy, Some(*price), *qty))
                }
                _ => None,
            })
            .map(|(id, side, price, qty)| OpenOrder {
                id,
                instrument: InstrumentId(0),
                side,
                price,
                qty,
                filled: dec!(0),
            })
            .collect()
    };
    let order_event = |id: ClientOrderId, status: &'static str| OrderView {
        instrument: InstrumentId(0),
        symbol: "BTC-USDT".into(),
        id: id.to_string().into(),
        status,
        reason: "".into(),
        side: Side::Buy,
        price: None,
        qty: dec!(0.01),
        filled: dec!(0),
    };
    let quotes = open(&out);
    h.set_open_orders(quotes.clone());
    // Long one lot: both quotes move down a tick, each in one cancel-replace.
    h.set_view(InstrumentId(0), view(dec!(0.01), dec!(100), dec!(100.1)));
    h.on_quote(quote(dec!(100), dec!(100.1)), 0, 0).unwrap();
    let out = drain(&mut h);
    let moves: Vec<(ClientOrderId, Decimal, Decimal)> = out
        .iter()
        .filter_map(|a| match a {
            StrategyAction::Replace {
                cancel, price, qty, ..
            } => Some((*cancel, *price, *qty)),
            _ => None,
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            (quotes[0].id, dec!(100.02), dec!(0.01)),
            (quotes[1].id, dec!(100.06), dec!(0.01)),
        ]
    );
    assert_eq!((cancels(&out), placed(&out).len()), (0, 0), "{out:?}");
    // Another update while the moves are in flight: nothing more is sent.
    h.on_quote(quote(dec!(100), dec!(100.1)), 0, 0).unwrap();
    assert!(drain(&mut h).is_empty());
    // The bid's move fails at the venue (its cancel refused): the old bid is kept and moved
    // again on the next update; the ask's move is acknowledged.
    let moved = open(&out);
    h.on_order(order_event(quotes[0].id, "cancel_rejected"), 0)
        .unwrap();
    h.on_order(order_event(moved[0].id, "rejected"), 0).unwrap();
    h.on_order(order_event(quotes[1].id, "cancelled"), 0)
        .unwrap();
    h.on_order(order_event(moved[1].id, "accepted"), 0).unwrap();
    assert!(
        placed(&drain(&mut h)).is_empty(),
        "a refused move does not double the quote"
    );
    let mut ask = moved[1];
    ask.side = Side::Sell;
    h.set_open_orders(vec![quotes[0], ask]);
    h.on_quote(quote(dec!(100), dec!(100.1)), 0, 0).unwrap();
    let out = drain(&mut h);
    assert!(
        matches!(out.as_slice(), [StrategyAction::Replace { cancel, price, .. }] if *cancel == quotes[0].id && *price == dec!(100.02)),
        "{out:?}"
    );
    h.on_order(order_event(quotes[0].id, "cancelled"), 0)
        .unwrap();
    let bid = open(&out)[0];
    h.on_order(order_event(bid.id, "accepted"), 0).unwrap();
    h.set_open_orders(vec![bid, ask]);
    // At the inventory limit: the bid is pulled (cancelled), the ask moves further down.
    h.set_view(InstrumentId(0), view(dec!(0.02), dec!(100), dec!(100.1)));
    h.on_quote(quote(dec!(100), dec!(100.1)), 0, 0).unwrap();
    let out = drain(&mut h);
    assert_eq!(cancels(&out), 1);
    assert!(
        out.iter().any(|a| matches!(a, StrategyAction::Replace { cancel, price, .. } if *cancel == ask.id && *price == dec!(100.05))),
        "{out:?}"
    );
    // The refresh timer re-quotes from the last known book without an update.
    assert_eq!(h.next_deadline(), Some(1_000_000_000));
    h.on_clock(1_000_000_000).unwrap();
    assert!(
        placed(&drain(&mut h)).is_empty(),
        "nothing moved: nothing sent"
    );
}

#[test]
fn breakout_buys_a_new_high_and_stops_out() {
    let mut h = load(
        "breakout.rhai",
        &[
            ("qty", s("0.02")),
            ("lookback", toml::Value::Integer(3)),
            ("atr_period", toml::Value::Integer(2)),
            ("atr_mult", toml::Value::Float(2.0)),
        ],
        &["1s"],
    );
    const S: i64 = 1_000_000_000;
    h.set_view(InstrumentId(0), view(dec!(0), dec!(105), dec!(105.2)));
    // One trade per second: each closes the previous second's bar.
    let mut t = 0;
    let mut feed = |h: &mut StrategyHost, p: Decimal| {
        t += 1;
        h.on_trade(trade(p), 0, t * S).unwrap();
    };
    for p in [dec!(100), dec!(101), dec!(100), dec!(101), dec!(100)] {
        feed(&mut h, p);
    }
    assert!(drain(&mut h).is_empty());
    feed(&mut h, dec!(105)); // closes the bar at 100
    feed(&mut h, dec!(105)); // closes the bar at 105: above the 3-bar high of 101
    let out = drain(&mut h);
    let [StrategyAction::Bracket { intent, exits, .. }, StrategyAction::Signal { .. }] =
        out.as_slice()
    else {
        panic!("a bracket entry and its signal: {out:?}")
    };
    assert_eq!(
        (
            intent.side,
            intent.order_type,
            intent.price,
            intent.qty,
            intent.tif
        ),
        (
            Side::Buy,
            OrderType::Limit,
            Some(dec!(105.2)),
            dec!(0.02),
            TimeInForce::Ioc
        )
    );
    // The stop: 2 x ATR(2) below the close, held by the engine; no take-profit.
    let stop = exits.stop.expect("a stop");
    assert_eq!(stop.price, None, "a stop-market exit");
    let crate::order::Trigger::Stop { price } = stop.trigger else {
        panic!("{stop:?}")
    };
    assert!(price > dec!(90) && price < dec!(105), "stop at {price}");
    assert!(exits.take_profit.is_none());
    h.set_view(InstrumentId(0), view(dec!(0.02), dec!(99), dec!(99.2)));
    feed(&mut h, dec!(104)); // the 105 bar closes: still above every stop
    assert!(placed(&drain(&mut h)).is_empty());
    feed(&mut h, dec!(99.5)); // the 104 bar closes: fine
    assert!(placed(&drain(&mut h)).is_empty());
    feed(&mut h, dec!(99.5)); // the 99.5 bar closes below the 3-bar low (100): exit
    let out = drain(&mut h);
    assert!(
        matches!(out.first(), Some(StrategyAction::CancelAll(_))),
        "the held stop is cancelled first: {out:?}"
    );
    assert_eq!(
        placed(&out),
        vec![(
            Side::Sell,
            OrderType::Market,
            None,
            dec!(0.02),
            GTC,
            false,
            true
        )]
    );
}

/// BTC-USDT and ETH-USDT on the trading venue, BTC-USDT on a market-data venue.
fn pair_instruments() -> Instruments {
    let mut i = Instruments::new();
    for (venue, sym, tick, lot) in [
        ("binance", "BTC-USDT", dec!(0.01), dec!(0.00001)),
        ("binance", "ETH-USDT", dec!(0.01), dec!(0.0001)),
        ("okx", "BTC-USDT", dec!(0.1), dec!(0.00000001)),
    ] {
        i.intern(InstrumentSpec::from_canonical(venue, sym, tick, lot).unwrap());
    }
    i
}

fn load_pairs(params: &[(&str, toml::Value)]) -> StrategyHost {
    let cfg = StrategyConfig {
        name: "pairs".into(),
        file: example("pairs_spread.rhai"),
        instruments: vec!["BTC-USDT".into(), "ETH-USDT".into()],
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        bars: Vec::new(),
        hot_reload: false,
    };
    StrategyHost::load(0, &cfg, &pair_instruments(), StrategyLimits::default()).unwrap()
}

/// Sets both legs' touch (1 tick wide) and positions, then a BTC trade.
fn pair_step(
    h: &mut StrategyHost,
    btc: Decimal,
    eth: Decimal,
    pos: (Decimal, Decimal),
) -> Vec<StrategyAction> {
    h.set_view(
        InstrumentId(0),
        view(pos.0, btc - dec!(0.01), btc + dec!(0.01)),
    );
    h.set_view(
        InstrumentId(1),
        view(pos.1, eth - dec!(0.01), eth + dec!(0.01)),
    );
    h.on_trade(trade(btc), 0, 0).unwrap();
    drain(h)
}

#[test]
fn pairs_spread_trades_both_legs_when_the_ratio_leaves_its_band_and_closes_both_on_return() {
    let mut h = load_pairs(&[
        ("qty_a", s("0.01")),
        ("lookback", toml::Value::Integer(20)),
        ("entry_z", toml::Value::Float(2.0)),
        ("exit_z", toml::Value::Float(0.5)),
    ]);
    // A stable ratio with a little noise: nothing happens.
    for k in 0..30 {
        let wiggle = Decimal::from(k % 3) - dec!(1);
        let out = pair_step(
            &mut h,
            dec!(60000) + wiggle * dec!(5),
            dec!(3000),
            (dec!(0), dec!(0)),
        );
        assert!(placed(&out).is_empty(), "{k}: {out:?}");
    }
    // BTC jumps 2 % against ETH: BTC is rich: sell BTC at its bid, buy ETH at its ask, both IOC,
    // the ETH quantity hedging the BTC notional (0.01 × 61200 / 3000 = 0.204).
    let out = pair_step(&mut h, dec!(61200), dec!(3000), (dec!(0), dec!(0)));
    let orders: Vec<(InstrumentId, Side, Option<Decimal>, Decimal, TimeInForce)> = out
        .iter()
        .filter_map(|a| match a {
            StrategyAction::Place(_, i) => Some((i.instrument, i.side, i.price, i.qty, i.tif)),
            _ => None,
        })
        .collect();
    assert_eq!(
        orders,
        vec![
            (
                InstrumentId(0),
                Side::Sell,
                Some(dec!(61199.99)),
                dec!(0.01),
                TimeInForce::Ioc
            ),
            (
                InstrumentId(1),
                Side::Buy,
                Some(dec!(3000.01)),
                dec!(0.204),
                TimeInForce::Ioc
            ),
        ]
    );
    // Filled: short BTC, long ETH. The ratio comes back: both legs are closed, reduce-only.
    pair_step(&mut h, dec!(61200), dec!(3000), (dec!(-0.01), dec!(0.204)));
    let mut closed = Vec::new();
    for _ in 0..40 {
        let out = pair_step(&mut h, dec!(60000), dec!(3000), (dec!(-0.01), dec!(0.204)));
        closed.extend(out.into_iter().filter_map(|a| match a {
            StrategyAction::Place(_, i) => Some((i.instrument, i.side, i.qty, i.reduce_only)),
            _ => None,
        }));
        if !closed.is_empty() {
            break;
        }
    }
    assert_eq!(
        closed,
        vec![
            (InstrumentId(0), Side::Buy, dec!(0.01), true),
            (InstrumentId(1), Side::Sell, dec!(0.204), true),
        ]
    );
}

#[test]
fn a_strategy_reads_and_trades_each_of_its_instruments_by_name() {
    let src = r#"
        fn on_trade(t) {
            signal("eth_pos", position("ETH-USDT"));
            signal("eth_bid", best_bid("ETH-USDT"));
            signal("eth_tick", tick_size("ETH-USDT"));
            signal("okx_bid", best_bid("okx:BTC-USDT"));
            signal("n", instruments().len());
            limit("buy", "2999.999", "0.12345", #{ symbol: "ETH-USDT" });
        }
    "#;
    let inst = pair_instruments();
    let mut h = StrategyHost::from_source(
        0,
        "multi",
        Path::new("multi.rhai"),
        src,
        &inst,
        &[InstrumentId(0), InstrumentId(1), InstrumentId(2)],
        Map::new(),
        StrategyLimits::default(),
    )
    .unwrap();
    h.set_view(InstrumentId(1), view(dec!(0.5), dec!(3000), dec!(3000.01)));
    h.set_view(InstrumentId(2), view(dec!(0), dec!(60000.5), dec!(60000.6)));
    h.on_trade(trade(dec!(60000)), 0, 0).unwrap();
    let out = drain(&mut h);
    let sig: std::collections::HashMap<String, f64> = out
        .iter()
        .filter_map(|a| match a {
            StrategyAction::Signal { name, value, .. } => Some((name.to_string(), *value)),
            _ => None,
        })
        .collect();
    assert_eq!(
        (
            sig["eth_pos"],
            sig["eth_bid"],
            sig["eth_tick"],
            sig["okx_bid"],
            sig["n"]
        ),
        (0.5, 3000.0, 0.01, 60000.5, 3.0)
    );
    // Rounded by ETH-USDT's own rules: buy price down to its tick, qty down to its lot.
    let orders: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            StrategyAction::Place(_, i) => Some((i.instrument, i.price, i.qty)),
            _ => None,
        })
        .collect();
    assert_eq!(
        orders,
        vec![(InstrumentId(1), Some(dec!(2999.99)), dec!(0.1234))]
    );
    // Not declared, or market data only: clear errors.
    for (call, want) in [
        ("position(\"SOL-USDT\")", "\"SOL-USDT\" is not one of this strategy's instruments (BTC-USDT, ETH-USDT, okx:BTC-USDT)"),
        ("limit(\"buy\", 1, 1, #{ symbol: \"okx:BTC-USDT\" })", "okx:BTC-USDT is a market-data instrument: orders go only to the trading venue"),
    ] {
        let src = format!("fn on_trade(t) {{ {call}; }}");
        let mut h = StrategyHost::from_source(
            0,
            "multi",
            Path::new("multi.rhai"),
            &src,
            &inst,
            &[InstrumentId(0), InstrumentId(1), InstrumentId(2)],
            Map::new(),
            StrategyLimits::default(),
        )
        .unwrap();
        let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
        assert!(msg.contains(want), "{call}: {msg}");
    }
}
