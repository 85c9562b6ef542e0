//! `bracket(..)` and `oco(..)` as a script calls them: the actions they produce, the ids
//! they return, and the mistakes they refuse.

use super::tests::{host, trade};
use super::*;
use crate::order::Trigger;
use rust_decimal_macros::dec;

fn run(src: &str) -> Result<Vec<StrategyAction>, StrategyError> {
    let mut h = host(src, Map::new())?;
    h.on_trade(trade(dec!(100)), 1, 0)?;
    let mut out = Vec::new();
    h.drain_actions(&mut out);
    Ok(out)
}

#[test]
fn bracket_returns_its_ids_and_rounds_the_exit_limits() {
    let out = run(r#"
        fn on_trade(t) {
            let b = bracket("buy", "100.004", "0.5", #{stop: "95", stop_limit: "94.999", take_profit: "110"});
            signal("ids", if b.entry != b.stop && b.stop != b.take_profit { 1 } else { 0 });
            oco(b.stop, b.take_profit);
        }
    "#)
    .unwrap();
    let [StrategyAction::Bracket {
        entry,
        intent,
        exits,
    }, StrategyAction::Signal { value, .. }, StrategyAction::Oco(a, b)] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(*value, 1.0);
    assert_eq!((intent.side, intent.price), (Side::Buy, Some(dec!(100))));
    let stop = exits.stop.unwrap();
    let tp = exits.take_profit.unwrap();
    assert_eq!(stop.trigger, Trigger::Stop { price: dec!(95) });
    // The exit sells: its limit is rounded up (never more aggressive than asked).
    assert_eq!(stop.price, Some(dec!(95.00)));
    assert_eq!(tp.trigger, Trigger::TakeProfit { price: dec!(110) });
    assert_eq!(tp.price, None);
    assert_eq!((entry.seq + 1, entry.seq + 2), (stop.id.seq, tp.id.seq));
    assert_eq!((*a, *b), (stop.id, tp.id));
}

#[test]
fn bracket_and_oco_refuse_the_usual_mistakes() {
    let cases = [
        (
            r#"bracket("buy", "100", "1", #{stop: "105", take_profit: "110"})"#,
            "stop (105) below its entry price (100)",
        ),
        (
            r#"bracket("sell", (), "1", #{stop: "90", take_profit: "110"})"#,
            "stop (90) above its take_profit (110)",
        ),
        (
            r#"bracket("buy", "100", "1", #{})"#,
            "needs a stop, a take_profit, or both",
        ),
        (
            r#"bracket("buy", "100", "1", #{stop_limit: "90"})"#,
            "stop_limit needs a stop trigger",
        ),
        (
            r#"bracket("buy", "100", "1", #{stop: "90", target: "110"})"#,
            "unknown bracket exit \"target\"",
        ),
        (
            r#"bracket("buy", "100", "1", #{stop: "-1"})"#,
            "must be positive",
        ),
        (r#"oco("pg1-1", "pg1-1")"#, "both legs are pg1-1"),
        (r#"oco("pg1-1", "x")"#, "\"x\" is not an order id"),
    ];
    for (call, want) in cases {
        let err = run(&format!("fn on_trade(t) {{ {call}; }}")).unwrap_err();
        assert!(err.to_string().contains(want), "{call}: {err}");
    }
}

#[test]
fn check_knows_bracket_and_oco_and_their_arity() {
    let ok = "fn on_trade(t) { let b = bracket(\"buy\", (), 1, #{stop: 90}); oco(b.entry, b.stop); bracket(\"sell\", 101, 1, #{take_profit: 90}, #{tif: \"GTC\"}); }";
    assert!(
        check_source(Path::new("t.rhai"), ok).is_empty(),
        "{:?}",
        check_source(Path::new("t.rhai"), ok)
    );
    let bad = "fn on_trade(t) { oco(\"pg1-1\"); }";
    let problems = check_source(Path::new("t.rhai"), bad);
    assert!(
        problems.iter().any(|p| p.to_string().contains("oco")),
        "{problems:?}"
    );
}
