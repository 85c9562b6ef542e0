//! The callbacks and API added on top of trades: timers, bars, order and risk events, order
//! options, cancels, signals, book levels, static checks and reload.

use std::path::Path;

use rhai::Map;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::tests::{instruments, trade};
use super::*;
use crate::order::{OrderType, TimeInForce};

fn host_with_bars(src: &str, bars: &[(&str, i64)]) -> StrategyHost {
    StrategyHost::from_source_with_bars(
        0,
        "t",
        Path::new("t.rhai"),
        src,
        &instruments(),
        &[InstrumentId(0)],
        Map::new(),
        StrategyLimits::default(),
        bars,
    )
    .unwrap()
}

fn host(src: &str) -> StrategyHost {
    host_with_bars(src, &[])
}

fn drain(h: &mut StrategyHost) -> Vec<StrategyAction> {
    let mut out = Vec::new();
    h.drain_actions(&mut out);
    out
}

fn signals(actions: &[StrategyAction]) -> Vec<(String, f64)> {
    actions
        .iter()
        .filter_map(|a| match a {
            StrategyAction::Signal { name, value, .. } => Some((name.to_string(), *value)),
            _ => None,
        })
        .collect()
}

const MS: i64 = 1_000_000;

#[test]
fn timers_fire_on_the_engine_clock_in_order() {
    let src = r#"
        fn on_start() { this.n = 0; every("tick", 100); set_timer("once", 250); }
        fn on_timer(name) { this.n += 1; signal(name, now()); }
    "#;
    let mut h = host(src);
    assert_eq!(h.next_deadline(), Some(100 * MS));
    h.on_clock(99 * MS).unwrap();
    assert!(drain(&mut h).is_empty());
    h.on_clock(100 * MS).unwrap();
    h.on_clock(260 * MS).unwrap(); // "tick" at 200 and "once" at 250 are both due
    let got = signals(&drain(&mut h));
    assert_eq!(
        got,
        vec![
            ("tick".to_string(), (100 * MS) as f64),
            ("tick".to_string(), (260 * MS) as f64),
            ("once".to_string(), (260 * MS) as f64),
        ]
    );
    // The repeating timer was rescheduled after now; the one-shot is gone.
    assert_eq!(h.next_deadline(), Some(300 * MS));
    // A long gap fires a repeating timer once, not once per missed period.
    h.on_clock(10_000 * MS).unwrap();
    assert_eq!(signals(&drain(&mut h)).len(), 1);
}

#[test]
fn bars_close_on_the_next_bucket_or_on_the_clock() {
    let src = r#"
        fn on_bar(b) {
            signal(`${b.timeframe}:open`, b.open);
            signal(`${b.timeframe}:high`, b.high);
            signal(`${b.timeframe}:low`, b.low);
            signal(`${b.timeframe}:close`, b.close);
            signal(`${b.timeframe}:volume`, b.volume);
        }
    "#;
    let mut h = host_with_bars(src, &[("1s", 1_000 * MS)]);
    for (t, p) in [(0, 100), (200, 103), (900, 99), (999, 101)] {
        h.on_trade(trade(Decimal::from(p)), 0, t * MS).unwrap();
    }
    assert!(drain(&mut h).is_empty());
    h.on_trade(trade(dec!(102)), 0, 1_000 * MS).unwrap();
    let got: Vec<f64> = signals(&drain(&mut h)).iter().map(|s| s.1).collect();
    assert_eq!(got, vec![100.0, 103.0, 99.0, 101.0, 4.0]);
    // No further trade: the clock closes the second bar once its second is over.
    assert_eq!(h.next_deadline(), Some(2_000 * MS));
    h.on_clock(2_000 * MS).unwrap();
    let got = signals(&drain(&mut h));
    assert_eq!(got[0], ("1s:open".to_string(), 102.0));
    // The end of the data closes the forming bar, partial as it is.
    h.on_trade(trade(dec!(104)), 0, 2_100 * MS).unwrap();
    h.on_trade(trade(dec!(98)), 0, 2_300 * MS).unwrap();
    assert!(drain(&mut h).is_empty());
    h.close_bars(2_300 * MS).unwrap();
    let got: Vec<f64> = signals(&drain(&mut h)).iter().map(|s| s.1).collect();
    assert_eq!(got, vec![104.0, 104.0, 98.0, 98.0, 2.0]);
    h.close_bars(2_400 * MS).unwrap();
    assert!(drain(&mut h).is_empty(), "a closed bar is not closed twice");
}

#[test]
fn order_options_ids_cancel_close_position() {
    let src = r#"
        fn on_trade(t) {
            let a = limit("buy", "99.999", 1, #{tif: "IOC"});
            let b = limit("sell", 101, 1, #{post_only: true});
            let c = limit("buy", 99, "0.5", "FOK");
            cancel(a);
            let d = close_position();
            this.ids = [a, b, c, d];
        }
    "#;
    let mut h = host(src);
    h.set_view(
        InstrumentId(0),
        InstrumentView {
            position: dec!(-0.3),
            ..Default::default()
        },
    );
    h.on_trade(trade(dec!(100)), 0, 0).unwrap();
    let out = drain(&mut h);
    let [StrategyAction::Place(ia, a), StrategyAction::Place(_, b), StrategyAction::Place(_, c), StrategyAction::Cancel(cancelled), StrategyAction::Place(_, d)] =
        out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(cancelled, ia);
    assert_eq!(
        (a.tif, a.post_only, a.price),
        (TimeInForce::Ioc, false, Some(dec!(99.99)))
    );
    assert_eq!((b.tif, b.post_only), (TimeInForce::Gtc, true));
    assert_eq!((c.tif, c.qty), (TimeInForce::Fok, dec!(0.5)));
    assert_eq!(
        (d.order_type, d.side, d.qty, d.reduce_only),
        (OrderType::Market, Side::Buy, dec!(0.3), true)
    );
    // Bad options are script errors, with position.
    let mut h =
        host("fn on_trade(t) {\n  limit(\"buy\", 1, 1, #{post_only: true, tif: \"IOC\"});\n}");
    let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
    assert!(
        msg.starts_with("t.rhai:2:") && msg.contains("post_only"),
        "{msg}"
    );
    let mut h = host("fn on_trade(t) { limit(\"buy\", 1, 1, #{hidden: true}); }");
    let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
    assert!(msg.contains("unknown order option"), "{msg}");
}

#[test]
fn order_and_risk_events_reach_their_callbacks() {
    let src = r#"
        fn on_order(o) { signal(`${o.status}:${o.reason}`, o.qty); }
        fn on_risk_reject(r) { signal(r.reason, r.qty); log(r.message); }
        fn on_fill(f) { signal(if f.partial { "partial" } else { "done" }, f.qty); }
    "#;
    let mut h = host(src);
    let order = |status, reason: &str| OrderView {
        instrument: InstrumentId(0),
        symbol: "BTC-USDT".into(),
        id: "pg0-1".into(),
        status,
        reason: reason.into(),
        side: Side::Buy,
        price: Some(dec!(1)),
        qty: dec!(2),
        filled: dec!(0),
    };
    h.on_order(order("accepted", ""), 0).unwrap();
    h.on_order(order("rejected", "insufficient balance"), 0)
        .unwrap();
    h.on_risk_reject(
        RejectView {
            instrument: InstrumentId(0),
            symbol: "BTC-USDT".into(),
            id: "".into(),
            reason: "max_position".into(),
            message: "too big".into(),
            side: Side::Buy,
            price: None,
            qty: dec!(3),
        },
        0,
    )
    .unwrap();
    h.on_fill(
        FillView {
            instrument: InstrumentId(0),
            symbol: "BTC-USDT".into(),
            order_id: "pg0-1".into(),
            side: Side::Buy,
            price: dec!(1),
            qty: dec!(1),
            fee: dec!(0),
            fee_asset: "USDT".into(),
            partial: true,
        },
        0,
    )
    .unwrap();
    let got = signals(&drain(&mut h));
    assert_eq!(
        got,
        vec![
            ("accepted:".to_string(), 2.0),
            ("rejected:insufficient balance".to_string(), 2.0),
            ("max_position".to_string(), 3.0),
            ("partial".to_string(), 1.0),
        ]
    );
}

#[test]
fn open_orders_book_levels_and_unrealized_pnl() {
    let src = r#"
        fn on_trade(t) {
            for o in open_orders() { cancel(o.id); }
            let bids = book_bids(2);
            signal("levels", bids.len());
            signal("second_bid", bids[1].price);
            signal("upnl", unrealized_pnl());
        }
    "#;
    let mut h = host(src);
    assert!(h.wants_open_orders() && h.wants_book());
    let id = ClientOrderId { run: 7, seq: 3 };
    h.set_open_orders([OpenOrder {
        id,
        instrument: InstrumentId(0),
        side: Side::Sell,
        price: Some(dec!(105)),
        qty: dec!(1),
        filled: dec!(0),
    }]);
    h.set_book(
        InstrumentId(0),
        [
            (dec!(99), dec!(1)),
            (dec!(98), dec!(2)),
            (dec!(97), dec!(3)),
        ]
        .into_iter(),
        [(dec!(101), dec!(1))].into_iter(),
    );
    h.set_view(
        InstrumentId(0),
        InstrumentView {
            position: dec!(2),
            avg_price: dec!(95),
            last_price: Some(dec!(100)),
            ..Default::default()
        },
    );
    h.on_trade(trade(dec!(100)), 0, 0).unwrap();
    let out = drain(&mut h);
    assert_eq!(out[0], StrategyAction::Cancel(id));
    assert_eq!(
        signals(&out),
        vec![
            ("levels".to_string(), 2.0),
            ("second_bid".to_string(), 98.0),
            ("upnl".to_string(), 10.0),
        ]
    );
}

#[test]
fn check_reports_every_problem_with_its_position() {
    let src = "fn on_trade(t) {\n  let e = ema(3);\n  e.update();\n  lmit(\"buy\", 1, 1);\n  helper(1, 2);\n}\nfn helper(x) { x }\n\nfn on_bar() {}\n";
    let problems: Vec<String> = check_source(Path::new("s.rhai"), src)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].starts_with("s.rhai:3:") && problems[0].contains("`update` takes"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("s.rhai:4:3:") && problems[1].contains("unknown function `lmit`")
    );
    assert!(problems[2].starts_with("s.rhai:5:3:") && problems[2].contains("`helper` takes 1"));
    assert!(problems[3].starts_with("s.rhai:9:1:") && problems[3].contains("on_bar"));
    // Every shipped strategy passes.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../strategies");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "rhai") {
            n += 1;
            let errs = StrategyHost::check_file_all(&p);
            assert!(errs.is_empty(), "{}: {errs:?}", p.display());
        }
    }
    assert!(n >= 4, "only {n} shipped strategies");
}

#[test]
fn reload_swaps_code_and_keeps_this_and_timers() {
    let mut h = host(
        "fn on_start() { this.n = 0; every(\"t\", 10); }\nfn on_trade(t) { this.n += 1; signal(\"v1\", this.n); }",
    );
    h.on_trade(trade(dec!(1)), 0, 0).unwrap();
    // A broken version is refused and the old one keeps running.
    let err = h.reload("fn on_trade(t) { this.n += ; }", 0).unwrap_err();
    assert!(err.to_string().starts_with("t.rhai:1:"), "{err}");
    h.on_trade(trade(dec!(1)), 0, 0).unwrap();
    h.reload(
        "fn on_reload() { this.k = 10; }\nfn on_trade(t) { this.n += 1; signal(\"v2\", this.n + this.k); }",
        0,
    )
    .unwrap();
    h.on_trade(trade(dec!(1)), 0, 0).unwrap();
    assert_eq!(
        signals(&drain(&mut h)),
        vec![
            ("v1".to_string(), 1.0),
            ("v1".to_string(), 2.0),
            ("v2".to_string(), 13.0),
        ]
    );
    assert_eq!(h.next_deadline(), Some(10 * MS));
}

/// The trade argument is reused between calls, but a trade the script keeps is its own: the
/// next call does not change what `this.first` holds.
#[test]
fn a_kept_trade_is_not_overwritten_by_the_next_call() {
    let mut h = host(
        r#"
        fn on_start() { this.first = (); }
        fn on_trade(t) {
            if this.first == () { this.first = t; }
            signal("first", this.first.price);
            signal("now", t.price);
        }
        "#,
    );
    for p in [dec!(100), dec!(101), dec!(102)] {
        h.on_trade(trade(p), 1, 0).unwrap();
    }
    assert_eq!(
        signals(&drain(&mut h)),
        vec![
            ("first".to_string(), 100.0),
            ("now".to_string(), 100.0),
            ("first".to_string(), 100.0),
            ("now".to_string(), 101.0),
            ("first".to_string(), 100.0),
            ("now".to_string(), 102.0),
        ]
    );
}
