//! Core-loop tests of the strategy hooks: several strategies at once with a runaway and a
//! throwing one contained, reduce-only enforcement with order and risk-reject callbacks,
//! signals, timers and hot reload.

use std::thread;
use std::time::{Duration, Instant};

use rust_decimal_macros::dec;

use super::tests::{fill, recv_order, start_many, trade_tick, Harness};
use super::*;
use crate::gateway::SignedAction;
use crate::risk::{KillSwitch, RiskLimits};

fn limits() -> RiskLimits {
    RiskLimits {
        max_order_notional: dec!(1000),
        max_position: dec!(1),
    }
}

/// Stops the feed and returns the report.
fn stop(mut h: Harness) -> (CoreReport, Harness) {
    h.ticks = crossbeam_channel::bounded(1).0;
    let core = std::mem::replace(&mut h.core, thread::spawn(|| Ok(CoreReport::default())));
    (core.join().unwrap().unwrap(), h)
}

/// Signal rows seen so far (name, value).
fn take_signals(h: &Harness, into: &mut Vec<(String, f64)>) {
    for e in h.sink.try_iter() {
        if let SinkEvent::Signal(s) = e {
            into.push((s.name, s.value));
        }
    }
}

#[test]
fn a_runaway_and_a_throwing_strategy_are_halted_while_another_keeps_trading() {
    let thrower = r#"
        fn on_start() { this.n = 0; }
        fn on_trade(t) {
            this.n += 1;
            if this.n == 1 { limit("buy", t.price, "0.01"); } else { throw "boom"; }
        }"#;
    let mut h = start_many(
        &[
            ("looper", "fn on_trade(t) {\n    loop { }\n}"),
            ("thrower", thrower),
            (
                "good",
                r#"fn on_trade(t) { limit("buy", t.price, "0.01"); }"#,
            ),
        ],
        limits(),
        KillSwitch::new(false),
        |_| {},
    );
    for i in 0..6 {
        h.ticks.send(trade_tick(dec!(100), i)).unwrap();
    }
    // thrower's order, then good's 6 (one per trade), then the cancel of thrower's order
    // when it is halted.
    let mut news = Vec::new();
    let mut cancels = Vec::new();
    for _ in 0..8 {
        let o = recv_order(&mut h);
        match o.action {
            SignedAction::New => news.push(o.client_order_id),
            SignedAction::Cancel => cancels.push(o.client_order_id),
            SignedAction::Replace { .. } => panic!("no strategy here replaces: {o:?}"),
        }
    }
    assert_eq!(news.len(), 7);
    assert_eq!(
        cancels,
        vec![news[0]],
        "the halted strategy's order is cancelled"
    );
    let (report, h) = stop(h);
    assert_eq!(report.ticks, 6);
    assert_eq!(report.strategy_errors, 6, "3 each, then halted");
    let rows: Vec<RiskEventRow> = h
        .sink
        .try_iter()
        .filter_map(|e| match e {
            SinkEvent::Risk(r) => Some(r),
            _ => None,
        })
        .collect();
    let of = |who: &str, reason: &str| {
        rows.iter()
            .filter(|r| r.strategy.as_deref() == Some(who) && r.reason == reason)
            .collect::<Vec<_>>()
    };
    let loops = of("looper", "strategy_error");
    assert_eq!(loops.len(), 3);
    assert!(
        // At the loop, not at the callback (Rhai gives the limit no position).
        loops[0].message.contains("looper.rhai:2:5:")
            && loops[0].message.contains("operation limit")
            && loops[0].message.contains("in this loop"),
        "{}",
        loops[0].message
    );
    let throws = of("thrower", "strategy_error");
    assert!(throws[0].message.contains("thrower.rhai:5:") && throws[0].message.contains("boom"));
    assert_eq!(of("looper", "strategy_halted").len(), 1);
    assert_eq!(of("thrower", "strategy_halted").len(), 1);
    assert!(of("good", "strategy_error").is_empty());
}

#[test]
fn reduce_only_is_clamped_then_refused_and_callbacks_see_order_and_risk_events() {
    let script = r#"
        fn on_trade(t) {
            if t.id == 1 { limit("buy", t.price, "0.01"); }
            else { market("sell", "0.05", #{reduce_only: true}); }
        }
        fn on_order(o) { signal(`order_${o.status}`, o.qty); }
        fn on_risk_reject(r) { signal(`reject_${r.reason}`, r.qty); }
    "#;
    let mut h = start_many(&[("s1", script)], limits(), KillSwitch::new(false), |_| {});
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    let buy = recv_order(&mut h);
    h.execs
        .send(ExecReport {
            client_order_id: buy.client_order_id,
            instrument: buy.instrument,
            side: Side::Buy,
            kind: ExecKind::Ack { venue_order_id: 9 },
            recv_ns: Clock::now_ns(),
        })
        .unwrap();
    h.execs.send(fill(&buy, 1, dec!(0.01), dec!(0))).unwrap();
    thread::sleep(Duration::from_millis(50));
    // Long 0.01: a reduce-only sell of 0.05 goes out as a plain sell of 0.01.
    h.ticks.send(trade_tick(dec!(100), 2)).unwrap();
    let sell = recv_order(&mut h);
    assert_eq!(sell.params, "sell|0.01|0", "{}", sell.params);
    // That sell still works: another reduce-only sell has nothing left to reduce.
    h.ticks.send(trade_tick(dec!(100), 3)).unwrap();
    thread::sleep(Duration::from_millis(50));
    assert!(h.gateway.try_recv().is_err());
    let (report, h) = stop(h);
    assert_eq!(report.risk_rejects, 1);
    let mut signals = Vec::new();
    let mut reasons = Vec::new();
    for e in h.sink.try_iter() {
        match e {
            SinkEvent::Signal(s) => signals.push((s.name, s.value)),
            SinkEvent::Risk(r) => reasons.push(r.reason),
            _ => {}
        }
    }
    assert_eq!(reasons, vec!["invalid_order".to_string()]);
    assert!(
        signals.contains(&("order_accepted".to_string(), 0.01)),
        "{signals:?}"
    );
    assert!(
        signals.contains(&("reject_invalid_order".to_string(), 0.05)),
        "{signals:?}"
    );
}

#[test]
fn timers_fire_without_market_data() {
    let mut h = start_many(
        &[(
            "t",
            "fn on_start() { every(\"beat\", 20); }\nfn on_timer(name) { signal(name, 1); }",
        )],
        limits(),
        KillSwitch::new(false),
        |_| {},
    );
    thread::sleep(Duration::from_millis(200));
    let mut got = Vec::new();
    take_signals(&h, &mut got);
    assert!(got.len() >= 4, "{got:?}");
    assert!(got.iter().all(|(n, _)| n == "beat"));
    h.ticks = crossbeam_channel::bounded(1).0;
    let _ = stop(h);
}

#[test]
fn a_changed_file_is_hot_reloaded_between_events_keeping_state() {
    let v1 =
        "fn on_start() { this.n = 0; }\nfn on_trade(t) { this.n += 1; signal(\"v1\", this.n); }";
    let h = start_many(&[("hot", v1)], limits(), KillSwitch::new(false), |c| {
        c[0].hot_reload = true;
    });
    let file = h._dir.path().join("hot.rhai");
    let mut got = Vec::new();
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    // Wait until the core has loaded v1 and handled the trade.
    for _ in 0..200 {
        take_signals(&h, &mut got);
        if !got.is_empty() {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    // A broken version is refused on the watcher thread; the old one keeps running.
    std::fs::write(&file, "fn on_trade(t) {\n  this.n += ;\n}\n").unwrap();
    thread::sleep(Duration::from_millis(600));
    h.ticks.send(trade_tick(dec!(100), 2)).unwrap();
    thread::sleep(Duration::from_millis(50));
    take_signals(&h, &mut got);
    assert_eq!(got, vec![("v1".to_string(), 1.0), ("v1".to_string(), 2.0)]);
    // A good version is swapped in; `this.n` survives.
    std::fs::write(
        &file,
        "fn on_trade(t) { this.n += 1; signal(\"v2\", this.n); }\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut id = 3;
    while !got.iter().any(|(n, _)| n == "v2") && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        h.ticks.send(trade_tick(dec!(100), id)).unwrap();
        id += 1;
        thread::sleep(Duration::from_millis(20));
        take_signals(&h, &mut got);
    }
    let first_v2 = got.iter().find(|(n, _)| n == "v2").cloned();
    let v1_count = got.iter().filter(|(n, _)| n == "v1").count() as f64;
    assert_eq!(
        first_v2,
        Some(("v2".to_string(), v1_count + 1.0)),
        "{got:?}"
    );
    let (report, _h) = stop(h);
    assert_eq!(report.strategy_errors, 0);
}

#[test]
fn on_risk_reject_names_the_id_limit_returned() {
    // The id lets a script forget a refused order instead of cancelling it later (a cancel
    // of an id that never reached the venue is "unknown").
    let script = r#"
        fn on_start() { this.id = (); }
        fn on_trade(t) { this.id = limit("buy", t.price, "1000"); }
        fn on_risk_reject(r) {
            signal(if r.id == this.id && r.id.starts_with("pg") { "same_id" } else { "other_id" }, 1.0);
        }
    "#;
    let h = start_many(&[("s1", script)], limits(), KillSwitch::new(false), |_| {});
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    thread::sleep(Duration::from_millis(50));
    let (report, h) = stop(h);
    assert_eq!(report.risk_rejects, 1);
    let signals: Vec<String> = h
        .sink
        .try_iter()
        .filter_map(|e| match e {
            SinkEvent::Signal(s) => Some(s.name),
            _ => None,
        })
        .collect();
    assert_eq!(signals, vec!["same_id".to_string()]);
}
