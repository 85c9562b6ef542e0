//! Equity snapshots from the core's own positions and marks: two strategies, one long and
//! one short, marked at the last trade; values checked per strategy and for the account.

use std::io::Write;

use rust_decimal_macros::dec;

use super::tests::{fill, instruments, trade_tick, PlainSigner};
use super::*;
use crate::events::{EquityRow, EquityScope};
use crate::risk::{KillSwitch, RiskLimits};

/// Buys (or sells) `qty` at the first trade's price, once.
fn once(side: &str, qty: &str) -> String {
    format!(
        r#"fn on_start() {{ this.done = false; }}
fn on_trade(t) {{ if !this.done {{ this.done = true; limit("{side}", t.price, "{qty}"); }} }}"#
    )
}

fn core_with(
    dir: &std::path::Path,
    interval: Duration,
) -> (
    Core,
    tokio::sync::mpsc::UnboundedReceiver<crate::gateway::SignedOrder>,
    crossbeam_channel::Receiver<SinkEvent>,
) {
    let mut strategies = Vec::new();
    for (name, script) in [
        ("long", once("buy", "0.01")),
        ("short", once("sell", "0.004")),
    ] {
        let file = dir.join(format!("{name}.rhai"));
        std::fs::File::create(&file)
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        strategies.push(StrategyConfig {
            name: name.to_string(),
            file,
            instruments: vec!["BTC-USDT".into()],
            ..Default::default()
        });
    }
    let (gw_tx, gateway) = tokio::sync::mpsc::unbounded_channel();
    let (sink_tx, sink) = crossbeam_channel::unbounded();
    let limits = RiskLimits {
        max_order_notional: dec!(1000),
        max_position: dec!(1),
    };
    let setup = CoreSetup {
        run_id: 0xabc,
        venue: "binance".into(),
        instruments: instruments(),
        strategies,
        strategy_limits: StrategyLimits::default(),
        max_strategy_errors: 3,
        error_window: Duration::from_secs(60),
        risk: RiskGate::new(limits, KillSwitch::new(false)),
        signer: Box::new(PlainSigner),
        gateway: gw_tx,
        ticks: never(),
        execs: never(),
        sink: Box::new(sink_tx),
        cancel_on_stop: false,
        drain_timeout: Duration::ZERO,
        progress_interval: Duration::ZERO,
        equity_interval: interval,
        restore: Default::default(),
        db_reloads: crossbeam_channel::never(),
        signals: crossbeam_channel::never(),
        balances: Vec::new(),
    };
    (Core::new(setup).unwrap(), gateway, sink)
}

fn equity_rows(sink: &crossbeam_channel::Receiver<SinkEvent>) -> Vec<EquityRow> {
    sink.try_iter()
        .filter_map(|e| match e {
            SinkEvent::Equity(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// (scope, strategy, symbol, qty, mark, realized, unrealized, fees, equity) as text.
fn key(r: &EquityRow) -> String {
    let o = |d: Option<Decimal>| d.map_or("-".to_string(), |d| d.normalize().to_string());
    format!(
        "{} {} {} qty={} mark={} realized={} unrealized={} fees={} equity={}",
        r.scope.as_str(),
        r.strategy.as_deref().unwrap_or("-"),
        r.symbol.as_deref().unwrap_or("total"),
        o(r.qty),
        o(r.mark),
        r.realized_pnl.normalize(),
        o(r.unrealized_pnl),
        r.fees.normalize(),
        o(r.equity)
    )
}

#[test]
fn snapshots_value_each_strategy_and_the_account_at_the_last_trade() {
    let dir = tempfile::tempdir().unwrap();
    let (mut core, mut gateway, sink) = core_with(dir.path(), Duration::from_secs(3600));
    // Nothing held yet: no snapshot rows.
    core.snapshot_equity();
    assert!(equity_rows(&sink).is_empty());

    core.on_tick(trade_tick(dec!(100), 1));
    let buy = gateway.try_recv().expect("the long strategy's order");
    let sell = gateway.try_recv().expect("the short strategy's order");
    // Both fill at 100 with a 0.01 USDT fee (the test venue's fill).
    core.on_exec(fill(&buy, 11, dec!(0.01), dec!(0)));
    core.on_exec(fill(&sell, 12, dec!(0.004), dec!(0)));
    core.on_tick(trade_tick(dec!(110), 2));
    core.snapshot_equity();
    let rows = equity_rows(&sink);
    let got: Vec<String> = rows.iter().map(key).collect();
    assert_eq!(
        got,
        [
            "strategy long BTC-USDT qty=0.01 mark=110 realized=-0.01 unrealized=0.1 fees=0.01 equity=0.09",
            "strategy long total qty=- mark=- realized=-0.01 unrealized=0.1 fees=0.01 equity=0.09",
            "strategy short BTC-USDT qty=-0.004 mark=110 realized=-0.01 unrealized=-0.04 fees=0.01 equity=-0.05",
            "strategy short total qty=- mark=- realized=-0.01 unrealized=-0.04 fees=0.01 equity=-0.05",
            "account - BTC-USDT qty=0.006 mark=110 realized=-0.02 unrealized=0.06 fees=0.02 equity=0.04",
            "account - total qty=- mark=- realized=-0.02 unrealized=0.06 fees=0.02 equity=0.04",
        ]
    );
    assert!(rows
        .iter()
        .all(|r| r.run_id == "abc" && r.venue == "binance"));
    assert_eq!(rows[0].id, "abc-q1-0");
    assert_eq!(rows[5].id, "abc-q1-5");
    assert_eq!(rows[0].scope, EquityScope::Strategy);

    // The stop takes one more snapshot, with new ids, at the latest mark.
    core.on_tick(trade_tick(dec!(90), 3));
    let _report = core.finish();
    let last = equity_rows(&sink);
    assert_eq!(last.len(), 6);
    assert_eq!(last[0].id, "abc-q2-0");
    assert_eq!(
        key(&last[5]),
        "account - total qty=- mark=- realized=-0.02 unrealized=-0.06 fees=0.02 equity=-0.08"
    );
}

#[test]
fn no_snapshot_at_the_stop_when_the_interval_is_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (mut core, mut gateway, sink) = core_with(dir.path(), Duration::ZERO);
    core.on_tick(trade_tick(dec!(100), 1));
    let buy = gateway.try_recv().expect("order");
    core.on_exec(fill(&buy, 11, dec!(0.01), dec!(0)));
    let _report = core.finish();
    assert!(equity_rows(&sink).is_empty());
}
