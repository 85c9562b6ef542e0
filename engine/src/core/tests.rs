//! Core loop tests: real strategy host, real risk gate, a real channel as the gateway; the
//! "venue" is the test answering the signed requests with exec reports.

use std::collections::BTreeMap;
use std::io::Write;
use std::thread;

use rust_decimal_macros::dec;

use super::*;
use crate::events::OrderStatus;
use crate::gateway::{HttpMethod, SignError, SignedAction, SignedOrder};
use crate::order::FillInfo;
use crate::risk::{KillSwitch, RiskLimits};
use crate::tick::Trade;
use crate::types::InstrumentSpec;

/// Signs nothing: the params carry the fields the test venue needs to answer.
pub(super) struct PlainSigner;

impl OrderSigner for PlainSigner {
    fn sign_new(&mut self, req: &OrderRequest, _wall_ms: i64) -> Result<SignedOrder, SignError> {
        Ok(SignedOrder {
            action: SignedAction::New,
            client_order_id: req.client_order_id,
            instrument: req.intent.instrument,
            side: req.intent.side,
            method: HttpMethod::Post,
            path: "/order",
            params: format!(
                "{}|{}|{}",
                req.intent.side,
                req.intent.qty,
                req.intent.price.unwrap_or_default()
            ),
            origin_recv_ns: req.intent.origin_recv_ns,
        })
    }
    fn sign_replace(
        &mut self,
        cancel: ClientOrderId,
        req: &OrderRequest,
        wall_ms: i64,
    ) -> Result<SignedOrder, SignError> {
        Ok(SignedOrder {
            action: SignedAction::Replace { cancel },
            ..self.sign_new(req, wall_ms)?
        })
    }
    fn sign_cancel(
        &mut self,
        id: ClientOrderId,
        instrument: InstrumentId,
        side: Side,
        _wall_ms: i64,
    ) -> Result<SignedOrder, SignError> {
        Ok(SignedOrder {
            action: SignedAction::Cancel,
            client_order_id: id,
            instrument,
            side,
            method: HttpMethod::Delete,
            path: "/order",
            params: String::new(),
            origin_recv_ns: 0,
        })
    }
}

pub(super) fn instruments() -> Arc<Instruments> {
    let mut i = Instruments::new();
    i.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.001)).unwrap(),
    );
    Arc::new(i)
}

pub(super) fn trade_tick(price: Decimal, id: u64) -> Tick {
    Tick {
        instrument: InstrumentId(0),
        exch_ts_ns: 0,
        recv_ns: Clock::now_ns(),
        kind: TickKind::Trade(Trade {
            price,
            qty: dec!(1),
            side: Side::Buy,
            trade_id: id,
        }),
    }
}

pub(super) struct Harness {
    pub(super) ticks: crossbeam_channel::Sender<Tick>,
    pub(super) execs: crossbeam_channel::Sender<ExecReport>,
    pub(super) gateway: tokio::sync::mpsc::UnboundedReceiver<SignedOrder>,
    pub(super) sink: crossbeam_channel::Receiver<SinkEvent>,
    pub(super) core: thread::JoinHandle<Result<CoreReport, CoreError>>,
    pub(super) _dir: tempfile::TempDir,
}

fn start(script: &str, limits: RiskLimits, kill: KillSwitch) -> Harness {
    start_with_gate(script, RiskGate::new(limits, kill))
}

fn start_with_gate(script: &str, gate: RiskGate) -> Harness {
    start_gate_many(&[("s1", script)], gate, |_| {})
}

/// Starts the core with one strategy per `(name, script)`, each trading BTC-USDT; `adjust`
/// may change the configs (bars, hot reload, ...) before the start.
pub(super) fn start_many(
    scripts: &[(&str, &str)],
    limits: RiskLimits,
    kill: KillSwitch,
    adjust: impl FnOnce(&mut Vec<StrategyConfig>),
) -> Harness {
    start_gate_many(scripts, RiskGate::new(limits, kill), adjust)
}

fn start_gate_many(
    scripts: &[(&str, &str)],
    gate: RiskGate,
    adjust: impl FnOnce(&mut Vec<StrategyConfig>),
) -> Harness {
    start_full(scripts, gate, adjust, Vec::new())
}

fn start_full(
    scripts: &[(&str, &str)],
    gate: RiskGate,
    adjust: impl FnOnce(&mut Vec<StrategyConfig>),
    balances: Vec<crate::account::StartBalance>,
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut strategies = Vec::new();
    for (name, script) in scripts {
        let file = dir.path().join(format!("{name}.rhai"));
        std::fs::File::create(&file)
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        strategies.push(StrategyConfig {
            name: name.to_string(),
            file,
            instruments: vec!["BTC-USDT".into()],
            params: BTreeMap::new(),
            ..Default::default()
        });
    }
    adjust(&mut strategies);
    let (ticks, tick_rx) = crossbeam_channel::bounded(1024);
    let (execs, exec_rx) = crossbeam_channel::unbounded();
    let (gw_tx, gateway) = tokio::sync::mpsc::unbounded_channel();
    let (sink_tx, sink) = crossbeam_channel::unbounded();
    let setup = CoreSetup {
        run_id: 0xabc,
        venue: "binance".into(),
        instruments: instruments(),
        strategies,
        strategy_limits: StrategyLimits::default(),
        max_strategy_errors: 3,
        error_window: Duration::from_secs(60),
        risk: gate,
        signer: Box::new(PlainSigner),
        gateway: gw_tx,
        ticks: tick_rx,
        execs: exec_rx,
        sink: Box::new(sink_tx),
        cancel_on_stop: true,
        drain_timeout: Duration::from_secs(2),
        progress_interval: Duration::ZERO,
        equity_interval: Duration::ZERO,
        restore: Default::default(),
        balances,
        db_reloads: crossbeam_channel::never(),
        signals: crossbeam_channel::never(),
    };
    let core = thread::spawn(move || run_core(setup));
    Harness {
        ticks,
        execs,
        gateway,
        sink,
        core,
        _dir: dir,
    }
}

pub(super) fn recv_order(h: &mut Harness) -> SignedOrder {
    for _ in 0..200 {
        if let Ok(o) = h.gateway.try_recv() {
            return o;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("no order reached the gateway");
}

pub(super) fn fill(o: &SignedOrder, trade_id: u64, qty: Decimal, leaves: Decimal) -> ExecReport {
    ExecReport {
        client_order_id: o.client_order_id,
        instrument: o.instrument,
        side: Side::Buy,
        kind: ExecKind::Fill(FillInfo {
            trade_id,
            price: dec!(100),
            qty,
            fee: dec!(0.01),
            fee_asset: "USDT".into(),
            is_maker: false,
            leaves_qty: leaves,
            exch_ts_ns: 0,
        }),
        recv_ns: Clock::now_ns(),
    }
}

/// The `reason` of every risk event the core emitted, in order.
pub(super) fn risk_reasons(sink: &crossbeam_channel::Receiver<SinkEvent>) -> Vec<String> {
    sink.try_iter()
        .filter_map(|e| match e {
            SinkEvent::Risk(r) => Some(r.reason),
            _ => None,
        })
        .collect()
}

const BUY_EVERY_TRADE: &str = r#"fn on_trade(t) { limit("buy", t.price, "0.01"); }"#;

#[test]
fn trade_to_order_to_fill_to_position_with_every_event_emitted() {
    let limits = RiskLimits {
        max_order_notional: dec!(5),
        max_position: dec!(0.015),
    };
    let mut h = start(BUY_EVERY_TRADE, limits, KillSwitch::new(false));
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    let o = recv_order(&mut h);
    assert_eq!(o.params, "buy|0.01|100");
    h.execs
        .send(ExecReport {
            kind: ExecKind::Ack { venue_order_id: 5 },
            ..fill(&o, 0, dec!(0), dec!(0))
        })
        .unwrap();
    h.execs
        .send(fill(&o, 11, dec!(0.004), dec!(0.006)))
        .unwrap();
    h.execs
        .send(fill(&o, 11, dec!(0.004), dec!(0.006)))
        .unwrap(); // duplicate
    h.execs.send(fill(&o, 12, dec!(0.006), dec!(0))).unwrap();
    thread::sleep(Duration::from_millis(100));
    // Position 0.01 + 0.01 would exceed 0.015: refused with a reason.
    h.ticks.send(trade_tick(dec!(100), 2)).unwrap();
    // Notional 600 * 0.01 = 6 > 5: refused.
    h.ticks.send(trade_tick(dec!(600), 3)).unwrap();
    thread::sleep(Duration::from_millis(100));
    h.ticks = crossbeam_channel::bounded(1).0; // drops the feed: the core drains and stops
    let report = h.core.join().unwrap().unwrap();
    assert_eq!(
        (
            report.ticks,
            report.orders,
            report.fills,
            report.risk_rejects
        ),
        (3, 1, 2, 2)
    );
    assert_eq!(report.duplicate_fills, 1);
    assert_eq!(report.realized_pnl, "-0.02");
    assert_eq!(report.latency_ns.count, 1);
    assert_eq!(report.positions[0].qty, dec!(0.010));
    let events: Vec<SinkEvent> = h.sink.try_iter().collect();
    let fills = events
        .iter()
        .filter(|e| matches!(e, SinkEvent::Fill(_)))
        .count();
    assert_eq!(fills, 2);
    let reasons: Vec<&str> = events
        .iter()
        .filter_map(|e| {
            if let SinkEvent::Risk(r) = e {
                Some(r.reason.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(reasons, vec!["max_position", "max_order_notional"]);
    let last_order = events
        .iter()
        .rev()
        .find_map(|e| {
            if let SinkEvent::Order(o) = e {
                Some(o)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(
        (
            last_order.status,
            last_order.filled_qty,
            last_order.venue_order_id
        ),
        (OrderStatus::Filled, dec!(0.010), Some(5))
    );
}

#[test]
fn stop_cancels_working_orders_and_waits_for_their_final_state() {
    let limits = RiskLimits {
        max_order_notional: dec!(1000),
        max_position: dec!(1),
    };
    let mut h = start(BUY_EVERY_TRADE, limits, KillSwitch::new(false));
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    let o = recv_order(&mut h);
    h.ticks = crossbeam_channel::bounded(1).0; // drops the feed: the core drains and stops
    let cancel = recv_order(&mut h);
    assert_eq!(
        (cancel.action, cancel.client_order_id),
        (SignedAction::Cancel, o.client_order_id)
    );
    h.execs.send(fill(&o, 1, dec!(0.003), dec!(0.007))).unwrap();
    h.execs
        .send(ExecReport {
            kind: ExecKind::Cancelled,
            ..fill(&o, 0, dec!(0), dec!(0))
        })
        .unwrap();
    let report = h.core.join().unwrap().unwrap();
    assert_eq!(
        (report.fills, report.cancels, report.working_orders_at_exit),
        (1, 1, 0)
    );
}

#[test]
fn kill_switch_refuses_orders_and_cancels_working_ones() {
    let limits = RiskLimits {
        max_order_notional: dec!(1000),
        max_position: dec!(1),
    };
    let kill = KillSwitch::new(false);
    let mut h = start(BUY_EVERY_TRADE, limits, kill.clone());
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    let o = recv_order(&mut h);
    kill.set(true);
    let cancel = recv_order(&mut h);
    assert_eq!(
        (cancel.action, cancel.client_order_id),
        (SignedAction::Cancel, o.client_order_id)
    );
    h.ticks.send(trade_tick(dec!(100), 2)).unwrap();
    h.execs
        .send(ExecReport {
            kind: ExecKind::Cancelled,
            ..fill(&o, 0, dec!(0), dec!(0))
        })
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    h.ticks = crossbeam_channel::bounded(1).0; // drops the feed: the core drains and stops
    let report = h.core.join().unwrap().unwrap();
    assert_eq!((report.orders, report.risk_rejects), (1, 1));
    let reasons = risk_reasons(&h.sink);
    assert_eq!(
        reasons,
        vec!["kill_switch".to_string(), "kill_switch".to_string()]
    );
}

#[test]
fn a_failing_strategy_is_halted_after_repeated_errors_and_the_engine_goes_on() {
    let limits = RiskLimits {
        max_order_notional: dec!(1000),
        max_position: dec!(1),
    };
    let mut h = start(
        "fn on_trade(t) { throw \"bad\"; }",
        limits,
        KillSwitch::new(false),
    );
    for i in 0..5 {
        h.ticks.send(trade_tick(dec!(100), i)).unwrap();
    }
    thread::sleep(Duration::from_millis(100));
    h.ticks = crossbeam_channel::bounded(1).0; // drops the feed: the core drains and stops
    let report = h.core.join().unwrap().unwrap();
    assert_eq!((report.ticks, report.strategy_errors), (5, 3));
    let reasons = risk_reasons(&h.sink);
    assert_eq!(reasons.iter().filter(|r| *r == "strategy_error").count(), 3);
    assert_eq!(reasons.last().map(String::as_str), Some("strategy_halted"));
    assert_eq!(report.halted_strategies.len(), 1, "{report:?}");
    let halted = &report.halted_strategies[0];
    assert_eq!(halted.errors, 3);
    assert!(halted.last_error.contains("bad"), "{halted:?}");
}

#[test]
fn a_daily_loss_breach_trips_the_latched_switch_and_flattens() {
    let kill = KillSwitch::new(false);
    let gate = RiskGate::new(
        RiskLimits {
            max_order_notional: dec!(1000),
            max_position: dec!(1),
        },
        kill.clone(),
    )
    .with_account(
        crate::risk::AccountLimits {
            daily_loss_limit: Some(dec!(0.5)),
            max_drawdown: None,
        },
        true,
    );
    let mut h = start_with_gate(
        r#"fn on_start() { this.n = 0; }
           fn on_trade(t) { this.n += 1; if this.n <= 2 { limit("buy", t.price, "0.01"); } }"#,
        gate,
    );
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    let o = recv_order(&mut h);
    h.execs.send(fill(&o, 1, dec!(0.01), dec!(0))).unwrap();
    thread::sleep(Duration::from_millis(50));
    assert!(!kill.is_on(), "a 0.01 fee is within the limit");
    // The price falls 90%: unrealized -0.9, beyond the 0.5 daily loss limit.
    h.ticks.send(trade_tick(dec!(10), 2)).unwrap();
    let flatten = recv_order(&mut h);
    assert_eq!(flatten.action, SignedAction::New);
    assert_eq!(
        flatten.params, "sell|0.01|0",
        "a market sell of the whole position"
    );
    assert!(kill.is_on());
    assert!(
        kill.reason().starts_with("daily_loss_limit"),
        "{}",
        kill.reason()
    );
    // Latched: later prices do not reset it, and nothing else is sent.
    h.ticks.send(trade_tick(dec!(100), 3)).unwrap();
    thread::sleep(Duration::from_millis(150));
    assert!(kill.is_on());
    assert!(h.gateway.try_recv().is_err());
    h.ticks = crossbeam_channel::bounded(1).0;
    let report = h.core.join().unwrap().unwrap();
    assert_eq!(report.risk_rejects, 1, "the second buy was refused");
    let reasons = risk_reasons(&h.sink);
    assert_eq!(
        reasons,
        ["daily_loss_limit", "kill_switch", "kill_switch", "flatten"].map(String::from)
    );
}

/// A cancel and the order after it, both from one callback, reach the transport in the
/// order the script gave them, after the callback's actions are all applied.
#[test]
fn cancel_then_place_from_one_callback_reach_the_gateway_in_order() {
    let script = r#"
        fn on_trade(t) {
            if t.id > 1 { cancel_all(); }
            limit("buy", t.price, "0.01");
        }
    "#;
    let limits = RiskLimits {
        max_order_notional: dec!(1000),
        max_position: dec!(1),
    };
    let mut h = start(script, limits, KillSwitch::new(false));
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    let first = recv_order(&mut h);
    assert_eq!(first.action, SignedAction::New);
    h.execs
        .send(ExecReport {
            kind: ExecKind::Ack { venue_order_id: 1 },
            ..fill(&first, 0, dec!(0), dec!(0))
        })
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    h.ticks.send(trade_tick(dec!(101), 2)).unwrap();
    let cancel = recv_order(&mut h);
    let second = recv_order(&mut h);
    assert_eq!(
        (cancel.action, cancel.client_order_id),
        (SignedAction::Cancel, first.client_order_id)
    );
    assert_eq!(second.action, SignedAction::New);
    assert_eq!(second.params, "buy|0.01|101");
    assert!(second.client_order_id.seq > first.client_order_id.seq);
    h.ticks = crossbeam_channel::bounded(1).0;
    let report = h.core.join().unwrap().unwrap();
    assert_eq!((report.orders, report.latency_ns.count), (2, 2));
    // Both hand-offs were timed, apart from signing.
    let handoff = report
        .stages
        .iter()
        .find(|s| s.stage == Stage::Handoff)
        .expect("handoff stage recorded");
    assert!(handoff.latency_ns.count >= 3, "{handoff:?}");
}

/// `replace(id, price)` moves a working order in one cancel-replace request: the risk gate
/// does not count the order being replaced (a position limit with room for one order passes),
/// the old order is cancel-sent until its `Cancelled`, a refused cancel half leaves it working,
/// and a replace of an order that is already being replaced is refused through
/// `on_risk_reject` under the new id.
#[test]
fn replace_moves_a_working_order_in_one_request() {
    let script = r#"
        fn on_trade(t) {
            let open = open_orders();
            if open.is_empty() {
                limit("buy", t.price, "0.01");
            } else {
                let id = replace(open[0].id, t.price);
                signal("replaced", if id == () { 0.0 } else { 1.0 });
                if t.id == 3 {
                    // The same order again in the same callback: it is being replaced already.
                    replace(open[0].id, t.price - 1);
                }
            }
        }
        fn on_risk_reject(r) { signal("refused", 1.0); }
    "#;
    // Room for one order of 0.01 only: a replace counted on top of the old order would fail.
    let limits = RiskLimits {
        max_order_notional: dec!(1000),
        max_position: dec!(0.015),
    };
    let mut h = start(script, limits, KillSwitch::new(false));
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    let first = recv_order(&mut h);
    h.execs
        .send(ExecReport {
            kind: ExecKind::Ack { venue_order_id: 1 },
            ..fill(&first, 0, dec!(0), dec!(0))
        })
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    h.ticks.send(trade_tick(dec!(99), 2)).unwrap();
    let second = recv_order(&mut h);
    assert_eq!(
        second.action,
        SignedAction::Replace {
            cancel: first.client_order_id
        }
    );
    assert_eq!(second.params, "buy|0.01|99");
    // The venue refuses the cancel half (and so the new order): the old order is working.
    h.execs
        .send(ExecReport {
            kind: ExecKind::CancelRejected {
                code: -2022,
                reason: "Order cancel-replace failed.".into(),
            },
            ..fill(&first, 0, dec!(0), dec!(0))
        })
        .unwrap();
    h.execs
        .send(ExecReport {
            kind: ExecKind::Rejected {
                code: -2022,
                reason: "Order cancel-replace failed.".into(),
            },
            ..fill(&second, 0, dec!(0), dec!(0))
        })
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    h.ticks.send(trade_tick(dec!(98), 3)).unwrap();
    let third = recv_order(&mut h);
    assert_eq!(
        (third.action, third.params.as_str()),
        (
            SignedAction::Replace {
                cancel: first.client_order_id
            },
            "buy|0.01|98"
        )
    );
    // This time the venue cancels the old order and accepts the new one.
    h.execs
        .send(ExecReport {
            kind: ExecKind::Cancelled,
            ..fill(&first, 0, dec!(0), dec!(0))
        })
        .unwrap();
    h.execs
        .send(ExecReport {
            kind: ExecKind::Ack { venue_order_id: 3 },
            ..fill(&third, 0, dec!(0), dec!(0))
        })
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    assert!(
        h.gateway.try_recv().is_err(),
        "the second replace was refused"
    );
    h.ticks = crossbeam_channel::bounded(1).0;
    let report = h.core.join().unwrap().unwrap();
    assert_eq!((report.orders, report.risk_rejects), (3, 1));
    let events: Vec<SinkEvent> = h.sink.try_iter().collect();
    let signals: Vec<(String, f64)> = events
        .iter()
        .filter_map(|e| match e {
            SinkEvent::Signal(s) => Some((s.name.clone(), s.value)),
            _ => None,
        })
        .collect();
    assert_eq!(
        signals,
        [("replaced", 1.0), ("replaced", 1.0), ("refused", 1.0)].map(|(n, v)| (n.to_string(), v))
    );
    let refusal = events
        .iter()
        .find_map(|e| match e {
            SinkEvent::Risk(r) if r.reason == "invalid_order" => Some(r.message.clone()),
            _ => None,
        })
        .expect("the refused replace is a risk event");
    assert!(refusal.contains("is already being cancelled"), "{refusal}");
    let last_state = |id: ClientOrderId| {
        events
            .iter()
            .rev()
            .find_map(|e| match e {
                SinkEvent::Order(o) if o.client_order_id == id.to_string() => Some(o.status),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(last_state(first.client_order_id), OrderStatus::Cancelled);
    assert_eq!(last_state(second.client_order_id), OrderStatus::Rejected);
}

/// `balance()`, `available()` and `equity()`: the venue's balances at start, moved exactly by
/// each fill (fee included), `available` less what the working order holds, equity in the
/// quote asset with the base asset at the last trade.
#[test]
fn balances_follow_fills_and_working_orders_hold_what_they_may_spend() {
    let script = r#"
        fn on_trade(t) {
            if t.id == 1 { limit("buy", "100", "0.01"); }
            signal("usdt", balance("USDT"));
            signal("usdt_free", available("USDT"));
            signal("btc", balance("BTC"));
            signal("equity", equity());
        }
    "#;
    let limits = RiskLimits {
        max_order_notional: dec!(1000),
        max_position: dec!(1),
    };
    let start = vec![
        crate::account::StartBalance {
            asset: "USDT".into(),
            free: dec!(990),
            locked: dec!(10), // an order of another system holds 10
        },
        crate::account::StartBalance {
            asset: "BTC".into(),
            free: dec!(0),
            locked: dec!(0),
        },
    ];
    let mut h = start_full(
        &[("s1", script)],
        RiskGate::new(limits, KillSwitch::new(false)),
        |_| {},
        start,
    );
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    let o = recv_order(&mut h);
    h.execs.send(fill(&o, 7, dec!(0.004), dec!(0.006))).unwrap();
    thread::sleep(Duration::from_millis(50));
    h.ticks.send(trade_tick(dec!(110), 2)).unwrap();
    thread::sleep(Duration::from_millis(50));
    h.ticks = crossbeam_channel::bounded(1).0;
    let _ = h.core.join().unwrap().unwrap();
    let values: Vec<(String, f64)> = h
        .sink
        .try_iter()
        .filter_map(|e| match e {
            SinkEvent::Signal(s) => Some((s.name, s.value)),
            _ => None,
        })
        .collect();
    let at = |k: usize| -> Vec<f64> { values[k * 4..k * 4 + 4].iter().map(|v| v.1).collect() };
    // Tick 1: the order was signed in this callback but the view was taken before it.
    assert_eq!(at(0), vec![1000.0, 990.0, 0.0, 1000.0]);
    // Tick 2: bought 0.004 @ 100 with a 0.01 USDT fee: 1000 - 0.4 - 0.01 = 999.59; the buy's
    // 0.006 left holds 0.6; BTC 0.004 marked at 110 = 0.44.
    assert_eq!(at(1), vec![999.59, 988.99, 0.004, 1000.03]);
}

/// An order signed while the transport is gone is reported rejected (row, strategy
/// callback), never left working.
#[test]
fn an_order_the_gateway_cannot_take_is_rejected_not_lost() {
    let script = r#"
        fn on_trade(t) { limit("buy", t.price, "0.01"); }
        fn on_order(o) { if o.status == "rejected" { signal("rejected", 1.0); } }
    "#;
    let limits = RiskLimits {
        max_order_notional: dec!(1000),
        max_position: dec!(1),
    };
    let mut h = start(script, limits, KillSwitch::new(false));
    h.gateway = tokio::sync::mpsc::unbounded_channel().1; // the transport stops
    h.ticks.send(trade_tick(dec!(100), 1)).unwrap();
    thread::sleep(Duration::from_millis(200));
    h.ticks = crossbeam_channel::bounded(1).0;
    let report = h.core.join().unwrap().unwrap();
    assert_eq!((report.orders, report.working_orders_at_exit), (1, 0));
    let events: Vec<SinkEvent> = h.sink.try_iter().collect();
    let last_status = events.iter().rev().find_map(|e| match e {
        SinkEvent::Order(o) => Some(o.status),
        _ => None,
    });
    assert_eq!(last_status, Some(OrderStatus::Rejected));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SinkEvent::Signal(s) if s.name == "rejected")),
        "the strategy was not told"
    );
}
