//! Brackets and OCO pairs in the backtest: the exits follow the entry's fills, one cancels
//! the other, and cancelling or refusing the entry arms nothing.

use super::*;

/// The last state of each order, in the order they were placed.
fn states(out: &BacktestOutcome) -> Vec<(String, OrderStatus)> {
    let mut last: Vec<(String, OrderStatus)> = Vec::new();
    for o in &out.orders {
        match last.iter_mut().find(|(id, _)| *id == o.client_order_id) {
            Some(l) => l.1 = o.status,
            None => last.push((o.client_order_id.clone(), o.status)),
        }
    }
    last
}

/// A resting bracket entry fills in two parts; its exits are armed at the first and resized
/// at the second; the take-profit fires for the 0.3 filled, the stop is dropped with it, and
/// the entry's unfilled 0.2 is cancelled, so later trades through the stop do nothing.
#[test]
fn bracket_exits_follow_partial_fills_and_the_take_profit_cancels_the_stop() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
        fn on_start() { this.n = 0; }
        fn on_quote(q) {
            this.n += 1;
            if this.n == 1 {
                let b = bracket("buy", "100", "0.5", #{stop: "95", take_profit: "110"});
                this.ids = b;
            }
        }
    "#;
    let cfg = config(dir.path(), script, dec!(0), dec!(0));
    let lines = vec![
        quote(0, "99.9", "100.1", "5"),   // entry buy 0.5 @ 100 rests
        trade(1, "100", "0.2", "sell"),   // 0.2 fills: exits armed for 0.2
        quote(2, "99.9", "99.95", "0.1"), // 0.1 more fills at 100: exits for 0.3
        quote(3, "110.9", "111.1", "5"),  // no trade yet: nothing fires on quotes
        trade(4, "111", "1", "buy"),      // take-profit: sell 0.3 at 110.9
        quote(5, "93.9", "94.1", "5"),
        trade(6, "94", "1", "sell"), // the stop was dropped: nothing
        trade(7, "99", "5", "sell"), // the entry's rest was cancelled: nothing
    ];
    let out = run(cfg, &lines);
    assert_eq!(
        timed_fills(&out),
        vec![
            (1, "buy", dec!(100), dec!(0.2)),
            (2, "buy", dec!(100), dec!(0.1)),
            (4, "sell", dec!(110.9), dec!(0.3)),
        ]
    );
    let st: Vec<OrderStatus> = states(&out).into_iter().map(|s| s.1).collect();
    assert_eq!(st, vec![OrderStatus::Cancelled, OrderStatus::Filled]);
    assert_eq!(out.summary.final_position, Decimal::ZERO);
    assert_eq!(out.summary.risk_rejects, 0, "{:?}", out.risk_events);
}

/// A market bracket entry fills at once; the stop fires on the first trade at or below it
/// and the take-profit is dropped (a later trade through it sells nothing).
#[test]
fn bracket_stop_fires_and_drops_the_take_profit() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
        fn on_start() { this.done = false; }
        fn on_quote(q) {
            if !this.done {
                this.done = true;
                bracket("buy", (), "1", #{stop: "95", stop_limit: "94", take_profit: "110"});
            }
        }
    "#;
    let cfg = config(dir.path(), script, dec!(0), dec!(0));
    let lines = vec![
        quote(0, "99.9", "100.1", "5"), // market buy 1 at 100.1
        quote(1, "94.4", "94.6", "5"),
        trade(2, "94.5", "1", "sell"), // stop: a sell limit at 94, marketable: 94.4
        quote(3, "110.9", "111.1", "5"),
        trade(4, "111", "1", "buy"), // the take-profit went with the stop
    ];
    let out = run(cfg, &lines);
    assert_eq!(
        timed_fills(&out),
        vec![
            (0, "buy", dec!(100.1), dec!(1)),
            (2, "sell", dec!(94.4), dec!(1))
        ]
    );
    assert_eq!(out.summary.orders, 2);
    assert_eq!(out.summary.final_position, Decimal::ZERO);
}

/// A bracket entry cancelled before any fill arms nothing: trades through both exits later
/// place no order.
#[test]
fn cancelled_bracket_entry_arms_no_exit() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
        fn on_start() { this.n = 0; }
        fn on_quote(q) {
            this.n += 1;
            if this.n == 1 { this.b = bracket("buy", "99", "1", #{stop: "95", take_profit: "110"}); }
            if this.n == 2 { cancel(this.b.entry); }
        }
    "#;
    let cfg = config(dir.path(), script, dec!(0), dec!(0));
    let lines = vec![
        quote(0, "99.9", "100.1", "5"),
        quote(1, "99.9", "100.1", "5"),
        trade(2, "111", "1", "buy"),
        trade(3, "94", "1", "sell"),
    ];
    let out = run(cfg, &lines);
    assert!(out.fills.is_empty(), "{:?}", out.fills);
    assert_eq!(out.summary.orders, 1);
    let st: Vec<OrderStatus> = states(&out).into_iter().map(|s| s.1).collect();
    assert_eq!(st, vec![OrderStatus::Cancelled]);
}

/// OCO of a resting take-profit limit and a held stop: the limit's fill drops the stop; in
/// a second run the stop's trigger cancels the limit.
#[test]
fn oco_fill_drops_the_held_leg_and_a_trigger_cancels_the_working_leg() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
        fn on_start() { this.n = 0; }
        fn on_quote(q) {
            this.n += 1;
            if this.n == 1 { market("buy", "1"); }
            if this.n == 2 {
                let tp = limit("sell", "110", "1");
                let sl = stop("sell", "95", "1");
                oco(tp, sl);
            }
        }
    "#;
    let cfg = config(dir.path(), script, dec!(0), dec!(0));
    let lines = vec![
        quote(0, "99.9", "100.1", "5"), // buy 1 at 100.1
        quote(1, "99.9", "100.1", "5"), // sell 1 @ 110 rests, stop 95 held
        trade(2, "110.5", "2", "buy"),  // the limit fills: the stop is dropped
        quote(3, "93.9", "94.1", "5"),
        trade(4, "94", "1", "sell"), // nothing
    ];
    let out = run(cfg, &lines);
    assert_eq!(
        timed_fills(&out),
        vec![
            (0, "buy", dec!(100.1), dec!(1)),
            (2, "sell", dec!(110), dec!(1))
        ]
    );
    assert_eq!(out.summary.orders, 2);

    let cfg = config(dir.path(), script, dec!(0), dec!(0));
    let lines = vec![
        quote(0, "99.9", "100.1", "5"),
        quote(1, "99.9", "100.1", "5"),
        quote(2, "93.9", "94.1", "5"),
        trade(3, "94", "1", "sell"), // the stop fires: sell 1 at 93.9, the limit cancelled
        trade(4, "110.5", "2", "buy"), // the limit is gone: nothing
    ];
    let out = run(cfg, &lines);
    assert_eq!(
        timed_fills(&out),
        vec![
            (0, "buy", dec!(100.1), dec!(1)),
            (3, "sell", dec!(93.9), dec!(1))
        ]
    );
    let st: Vec<OrderStatus> = states(&out).into_iter().map(|s| s.1).collect();
    assert_eq!(
        st,
        vec![
            OrderStatus::Filled,
            OrderStatus::Cancelled,
            OrderStatus::Filled
        ]
    );
    assert_eq!(out.summary.final_position, Decimal::ZERO);
}
