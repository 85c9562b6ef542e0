//! Fill model, accounting and determinism of the backtest, on hand-made ticks.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use peregrine_engine::config::StrategyConfig;
use peregrine_engine::events::OrderStatus;
use peregrine_engine::risk::RiskLimits;
use peregrine_engine::strategy::StrategyLimits;
use peregrine_engine::types::{InstrumentSpec, Instruments};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use peregrine_exchanges::sim::fees::{FeeAsset, FeeModel};

const T0: i64 = 1_767_225_600_000_000_000;
const SEC: i64 = 1_000_000_000;

/// Rests a buy at `buy_px` on the first quote; when it is completely filled, rests a sell of
/// the same size at `sell_px`.
const BUY_THEN_SELL: &str = r#"
fn on_start() { this.stage = 0; }
fn on_quote(q) {
    if this.stage == 0 {
        limit("buy", param("buy_px"), param("qty"));
        this.stage = 1;
    }
}
fn on_fill(f) {
    if f.side == "buy" && !f.partial {
        limit("sell", param("sell_px"), param("qty"));
    }
}
"#;

fn config(dir: &Path, script: &str, maker_bps: Decimal, taker_bps: Decimal) -> BacktestConfig {
    let file = dir.join("s.rhai");
    std::fs::write(&file, script).unwrap();
    let mut params = BTreeMap::new();
    params.insert("buy_px".into(), toml::Value::String("100".into()));
    params.insert("sell_px".into(), toml::Value::String("101".into()));
    params.insert("qty".into(), toml::Value::String("0.5".into()));
    let mut instruments = Instruments::new();
    instruments.intern(
        InstrumentSpec::from_canonical("backtest", "ABC-USDT", dec!(0.01), dec!(0.001)).unwrap(),
    );
    BacktestConfig {
        strategy: StrategyConfig {
            name: "t".into(),
            file,
            instruments: vec!["ABC-USDT".into()],
            params,
            ..Default::default()
        },
        more_strategies: Vec::new(),
        instruments: Arc::new(instruments),
        risk: RiskLimits {
            max_order_notional: dec!(1000),
            max_position: dec!(10),
        },
        fees: FeeModel::from_bps(maker_bps, taker_bps, FeeAsset::Quote),
        latency_ns: 0,
        equity_interval_ns: SEC,
        strategy_limits: StrategyLimits::default(),
        cancel_at_end: true,
        capital: dec!(10000),
    }
}

fn quote(t: i64, bid: &str, ask: &str, qty: &str) -> String {
    format!(
        r#"{{"venue":"x","symbol":"ABC-USDT","kind":"quote","exch_ts_ns":{},"bid_px":"{bid}","bid_qty":"{qty}","ask_px":"{ask}","ask_qty":"{qty}"}}"#,
        T0 + t * SEC
    )
}

fn trade(t: i64, px: &str, qty: &str, side: &str) -> String {
    format!(
        r#"{{"venue":"x","symbol":"ABC-USDT","kind":"trade","exch_ts_ns":{},"price":"{px}","qty":"{qty}","side":"{side}","trade_id":"{t}"}}"#,
        T0 + t * SEC
    )
}

/// The fills as (second, side, price, qty).
fn timed_fills(out: &BacktestOutcome) -> Vec<(i64, &str, Decimal, Decimal)> {
    out.fills
        .iter()
        .map(|f| ((f.exch_ts_ns - T0) / SEC, f.side.as_str(), f.price, f.qty))
        .collect()
}

fn run(cfg: BacktestConfig, lines: &[String]) -> BacktestOutcome {
    let data = lines.join("\n") + "\n";
    run_backtest(cfg, data.as_bytes()).unwrap()
}

#[test]
fn resting_buy_fills_only_at_or_through_its_price_with_fees_and_exact_pnl() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), BUY_THEN_SELL, dec!(10), dec!(20));
    let lines = vec![
        quote(0, "99.9", "100.1", "5"), // buy 0.5 @ 100 rests (does not cross 100.1)
        trade(1, "100.05", "3", "sell"), // above our bid: no fill
        quote(2, "99.95", "100.01", "5"), // ask above our bid: no fill
        trade(3, "100", "0.2", "sell"), // at our price: 0.2 fills (maker)
        quote(4, "99.9", "99.95", "0.1"), // ask crosses our bid: 0.1 more fills at 100
        trade(5, "99.5", "4", "sell"),  // through: the last 0.2; sell 0.5 @ 101 rests
        trade(6, "100.99", "9", "buy"), // below our ask: no fill
        trade(7, "101.5", "9", "buy"),  // through our ask: 0.5 fills at 101
        quote(8, "101", "101.2", "5"),
    ];
    let out = run(cfg, &lines);
    let fills: Vec<(i64, &str, Decimal, Decimal, Decimal, bool)> = out
        .fills
        .iter()
        .map(|f| {
            (
                (f.exch_ts_ns - T0) / SEC,
                f.side.as_str(),
                f.price,
                f.qty,
                f.fee,
                f.is_maker,
            )
        })
        .collect();
    assert_eq!(
        fills,
        vec![
            (3, "buy", dec!(100), dec!(0.2), dec!(0.02), true),
            (4, "buy", dec!(100), dec!(0.1), dec!(0.01), true),
            (5, "buy", dec!(100), dec!(0.2), dec!(0.02), true),
            (7, "sell", dec!(101), dec!(0.5), dec!(0.0505), true),
        ]
    );
    // By hand: 0.5 * (101 - 100) - fees (0.05 + 0.0505) = 0.3995.
    let s = &out.summary;
    assert_eq!(s.realized_pnl, dec!(0.3995));
    assert_eq!(s.fees, dec!(0.1005));
    assert_eq!(s.final_position, Decimal::ZERO);
    assert_eq!(s.final_equity, dec!(0.3995));
    assert_eq!(s.trades, 4);
    assert_eq!(s.orders, 2);
    let last = out.orders.last().unwrap();
    assert_eq!(last.status, OrderStatus::Filled);
}

#[test]
fn crossing_orders_take_the_recorded_touch_at_taker_fee() {
    let dir = tempfile::tempdir().unwrap();
    // Buy 0.5 at 100.2 against an ask of 100.1 x 0.3: 0.3 taken at 100.1, 0.2 rests at 100.2.
    let mut cfg = config(dir.path(), BUY_THEN_SELL, dec!(10), dec!(20));
    cfg.strategy
        .params
        .insert("buy_px".into(), toml::Value::String("100.2".into()));
    let lines = vec![
        quote(0, "99.9", "100.1", "0.3"),
        trade(1, "100.3", "1", "buy"),  // above our bid: nothing
        trade(2, "100.2", "1", "sell"), // at our bid: the rest
    ];
    let out = run(cfg, &lines);
    let fills: Vec<(Decimal, Decimal, Decimal, bool)> = out
        .fills
        .iter()
        .map(|f| (f.price, f.qty, f.fee, f.is_maker))
        .collect();
    assert_eq!(
        fills,
        vec![
            (dec!(100.1), dec!(0.3), dec!(0.06006), false),
            (dec!(100.2), dec!(0.2), dec!(0.02004), true),
        ]
    );
    // The sell at 101 never fills: cancelled at the end of the data.
    assert_eq!(out.summary.working_orders_at_end, 0);
    assert_eq!(out.orders.last().unwrap().status, OrderStatus::Cancelled);
    assert_eq!(out.summary.final_position, dec!(0.5));
    // Average 100.14 (50.07 / 0.5), marked at the last mid 100.0: 0.5 * (100 - 100.14)
    // - fees 0.0801 = -0.1501.
    assert_eq!(out.summary.final_equity, dec!(-0.1501));
}

#[test]
fn latency_delays_orders_in_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), BUY_THEN_SELL, dec!(0), dec!(0));
    cfg.latency_ns = (2 * SEC) as u64;
    let lines = vec![
        quote(0, "99.9", "100.1", "5"),
        trade(1, "99", "5", "sell"), // the buy is still in flight: no fill
        trade(2, "100", "5", "sell"), // arrived at t=2, before this event: fills
    ];
    let out = run(cfg, &lines);
    assert_eq!(out.fills.len(), 1);
    assert_eq!(out.fills[0].exch_ts_ns, T0 + 2 * SEC);
}

#[test]
fn same_inputs_give_byte_identical_outputs() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/synthetic_btcusdt.jsonl");
    let strategy = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai");
    let dir = tempfile::tempdir().unwrap();
    let mut outs = Vec::new();
    for k in 0..2 {
        let mut cfg = config(dir.path(), "", dec!(1), dec!(2));
        cfg.strategy.file = strategy.clone();
        cfg.strategy.params = BTreeMap::from([
            ("qty".to_string(), toml::Value::String("0.001".into())),
            ("fast".to_string(), toml::Value::Integer(5)),
        ]);
        let mut instruments = Instruments::new();
        instruments.intern(
            InstrumentSpec::from_canonical("backtest", "BTC-USDT", dec!(0.01), dec!(0.00001))
                .unwrap(),
        );
        cfg.instruments = Arc::new(instruments);
        cfg.strategy.instruments = vec!["BTC-USDT".into()];
        let file = std::fs::File::open(&data).unwrap();
        let outcome = run_backtest(cfg, std::io::BufReader::new(file)).unwrap();
        assert!(outcome.summary.trades > 5, "{:?}", outcome.summary);
        let out = dir.path().join(format!("run{k}"));
        write_outputs(&outcome, &out).unwrap();
        outs.push(out);
    }
    for name in [
        "orders.jsonl",
        "fills.jsonl",
        "risk_events.jsonl",
        "equity.jsonl",
        "summary.json",
        "equity.svg",
    ] {
        let a = std::fs::read(outs[0].join(name)).unwrap();
        let b = std::fs::read(outs[1].join(name)).unwrap();
        assert!(
            !a.is_empty() || name == "risk_events.jsonl",
            "{name} is empty"
        );
        assert!(a == b, "{name} differs between two runs");
    }
}

#[test]
fn malformed_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), BUY_THEN_SELL, dec!(0), dec!(0));
    let mut data = Vec::new();
    writeln!(data, "{}", quote(0, "99.9", "100.1", "5")).unwrap();
    writeln!(data).unwrap();
    writeln!(
        data,
        r#"{{"venue":"x","symbol":"ABC-USDT","kind":"trade","price":"1"}}"#
    )
    .unwrap();
    let err = run_backtest(cfg.clone(), data.as_slice())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("line 3") && err.contains("qty"), "{err}");
    let err = run_backtest(cfg, "{\"venue\":\n".as_bytes())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn strategies_read_replayed_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
fn on_start() { this.done = false; }
fn on_trade(t) {
    if !this.done && now() == t.ts && now() >= param("at") {
        market("buy", param("qty"));
        this.done = true;
    }
}
"#;
    let mut cfg = config(dir.path(), script, dec!(0), dec!(0));
    cfg.strategy
        .params
        .insert("at".into(), toml::Value::Integer(T0 + 2 * SEC));
    let lines = vec![
        quote(0, "99.9", "100.1", "5"),
        trade(1, "100", "1", "buy"),
        trade(2, "100.1", "1", "buy"),
        trade(3, "100.1", "1", "buy"),
    ];
    let out = run(cfg, &lines);
    assert_eq!(out.fills.len(), 1);
    assert_eq!(out.fills[0].exch_ts_ns, T0 + 2 * SEC);
    assert!(out
        .orders
        .iter()
        .all(|o| o.created_ns == T0 + 2 * SEC && o.updated_ns == T0 + 2 * SEC));
}

/// Rests a buy at `buy_px` on the first quote and nothing else.
const REST_BUY: &str = r#"
fn on_start() { this.sent = false; }
fn on_quote(q) {
    if !this.sent {
        limit("buy", param("buy_px"), param("qty"));
        this.sent = true;
    }
}
"#;

fn fills_of(buy_px: &str, lines: &[String]) -> Vec<(i64, Decimal)> {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), REST_BUY, dec!(0), dec!(0));
    cfg.strategy
        .params
        .insert("buy_px".into(), toml::Value::String(buy_px.into()));
    run(cfg, lines)
        .fills
        .iter()
        .map(|f| ((f.exch_ts_ns - T0) / SEC, f.qty))
        .collect()
}

#[test]
fn volume_displayed_ahead_at_our_price_trades_first() {
    // Joining a bid of 2 at 100: prints at 100 fill us only past those 2.
    let lines = vec![
        quote(0, "100", "100.1", "2"),
        trade(1, "100", "1.5", "sell"), // 0.5 still ahead
        quote(2, "100", "100.1", "1"),  // displayed 1 >= 0.5 ahead: unchanged
        trade(3, "100", "0.7", "sell"), // 0.5 ahead trades, 0.2 is ours
        trade(4, "100", "1", "sell"),   // the remaining 0.3
    ];
    assert_eq!(
        fills_of("100", &lines),
        vec![(3, dec!(0.2)), (4, dec!(0.3))]
    );
    // Cancellations ahead: the displayed size at our price caps the queue.
    let lines = vec![
        quote(0, "100", "100.1", "3"),
        quote(1, "100", "100.1", "0.5"),
        trade(2, "100", "0.6", "sell"),
    ];
    assert_eq!(fills_of("100", &lines), vec![(2, dec!(0.1))]);
    // A print through our price fills at once, whatever was ahead.
    let lines = vec![
        quote(0, "100", "100.1", "3"),
        trade(1, "99.99", "0.5", "sell"),
    ];
    assert_eq!(fills_of("100", &lines), vec![(1, dec!(0.5))]);
    // Behind the touch with no depth data: the size first displayed at our price is ahead.
    let lines = vec![
        quote(0, "99.9", "100.1", "1"),
        quote(1, "99.5", "99.6", "0.4"),
        trade(2, "99.5", "0.5", "sell"),
    ];
    assert_eq!(fills_of("99.5", &lines), vec![(2, dec!(0.1))]);
    // Improving on the touch: nobody ahead.
    let lines = vec![
        quote(0, "99.9", "100.1", "5"),
        trade(1, "100", "0.5", "sell"),
    ];
    assert_eq!(fills_of("100", &lines), vec![(1, dec!(0.5))]);
}

#[test]
fn base_asset_fees_leave_dust_but_a_closed_position_reads_zero() {
    // The issue's script: buy, close_position(), and close again whenever position() != 0.
    let script = r#"
fn on_start() { this.stage = 0; }
fn on_quote(q) {
    if this.stage == 0 {
        limit("buy", best_ask(), "0.003");
        this.stage = 1;
    } else if position() != 0 {
        close_position();
    }
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), script, dec!(10), dec!(10));
    cfg.fees.asset = FeeAsset::Received;
    let lines: Vec<String> = (0..6).map(|t| quote(t, "100", "100.1", "5")).collect();
    let out = run(cfg, &lines);
    let fills: Vec<(&str, Decimal, Decimal, &str)> = out
        .fills
        .iter()
        .map(|f| (f.side.as_str(), f.qty, f.fee, f.fee_asset.as_str()))
        .collect();
    // Binance: a buy pays in the base asset it receives, a sell in the quote asset.
    assert_eq!(
        fills,
        vec![
            ("buy", dec!(0.003), dec!(0.000003), "ABC"),
            ("sell", dec!(0.002), dec!(0.0002), "USDT"),
        ]
    );
    let s = &out.summary;
    assert_eq!(s.orders, 2, "one close, then position() == 0: {s:?}");
    assert_eq!(s.risk_rejects, 0, "{:?}", out.risk_events);
    // Held: 0.003 - 0.000003 - 0.002 = 0.000997 of dust below the 0.001 lot.
    assert_eq!(s.final_position, dec!(0.000997));
}

/// `replace()` in a backtest behaves as the venue's cancel-replace: the moved order fills at
/// its new price (the old one is cancelled, never filled), and a replace that reaches the
/// venue after the old order filled is refused as a whole (old order's cancel and the new
/// order), so the position is bought once.
#[test]
fn replace_moves_the_resting_order_and_fails_whole_when_the_old_one_filled() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
        fn on_start() { this.n = 0; this.id = (); }
        fn on_quote(q) {
            this.n += 1;
            if this.n == 1 { this.id = limit("buy", "99", "0.5"); }
            if this.n == 2 { this.id = replace(this.id, "99.5"); }
        }
    "#;
    // The last state of each order, in the order they were placed.
    let states = |out: &BacktestOutcome| -> Vec<(Option<Decimal>, OrderStatus)> {
        let mut last: Vec<(String, Option<Decimal>, OrderStatus)> = Vec::new();
        for o in &out.orders {
            match last.iter_mut().find(|(id, _, _)| *id == o.client_order_id) {
                Some(l) => l.2 = o.status,
                None => last.push((o.client_order_id.clone(), o.price, o.status)),
            }
        }
        last.into_iter().map(|(_, p, s)| (p, s)).collect()
    };
    let fills = |out: &BacktestOutcome| -> Vec<(Decimal, Decimal)> {
        out.fills.iter().map(|f| (f.price, f.qty)).collect()
    };

    // Replace at t=2 reaches the venue at t=3; the trade at 99.2 reaches only the new price.
    let mut cfg = config(dir.path(), script, dec!(0), dec!(0));
    cfg.latency_ns = SEC as u64;
    let lines = vec![
        quote(0, "99.9", "100.1", "5"),
        quote(2, "99.9", "100.1", "5"),
        trade(4, "99.2", "5", "sell"),
        trade(5, "98.9", "5", "sell"), // would fill the old order too: nothing more
    ];
    let out = run(cfg, &lines);
    assert_eq!(fills(&out), vec![(dec!(99.5), dec!(0.5))]);
    assert_eq!(
        states(&out),
        vec![
            (Some(dec!(99)), OrderStatus::Cancelled),
            (Some(dec!(99.5)), OrderStatus::Filled),
        ]
    );

    // With 2 s latency the old order fills at t=3, before the replace arrives at t=4.
    let mut cfg = config(dir.path(), script, dec!(0), dec!(0));
    cfg.latency_ns = 2 * SEC as u64;
    let lines = vec![
        quote(0, "99.9", "100.1", "5"),
        quote(2, "99.9", "100.1", "5"),
        trade(3, "98.9", "5", "sell"),
        trade(5, "99.2", "5", "sell"), // would fill a 99.5 order: there is none
    ];
    let out = run(cfg, &lines);
    assert_eq!(fills(&out), vec![(dec!(99), dec!(0.5))]);
    assert_eq!(
        states(&out),
        vec![
            (Some(dec!(99)), OrderStatus::Filled),
            (Some(dec!(99.5)), OrderStatus::Rejected),
        ]
    );
    assert_eq!(out.summary.final_position, dec!(0.5));
}

/// Conditional orders held by the engine fire on the trade that reaches their trigger, before
/// the strategy sees it: a trailing stop (5 % below the highest trade), a take-profit and a
/// stop, each a market order at the recorded touch; a cancelled one never fires.
#[test]
fn stops_take_profits_and_trailing_stops_fire_on_the_crossing_trade() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
        fn on_start() { this.n = 0; }
        fn on_quote(q) {
            this.n += 1;
            if this.n == 1 {
                market("buy", "1");
                stop("sell", "95", "0.4");
                take_profit("sell", "110", "0.3");
                trailing_stop("sell", "0.3", #{percent: 5});
                this.gone = take_profit("sell", "105", "0.5");
            }
            if this.n == 2 { cancel(this.gone); }
        }
    "#;
    let cfg = config(dir.path(), script, dec!(0), dec!(0));
    let lines = vec![
        quote(0, "99.9", "100.1", "5"),  // buy 1 at 100.1; the four held
        quote(1, "103.9", "104.1", "5"), // the 105 take-profit is cancelled
        trade(1, "104", "1", "buy"),     // trailing high 104 (fires at 98.8)
        quote(2, "107.9", "108.1", "5"),
        trade(2, "108", "1", "buy"), // high 108: fires at 102.6; 105 would have fired
        quote(3, "101.9", "102.1", "5"),
        trade(3, "102", "1", "sell"), // trailing stop: sell 0.3 at 101.9
        quote(4, "110.9", "111.1", "5"),
        trade(4, "111", "1", "buy"), // take-profit: sell 0.3 at 110.9
        quote(5, "93.9", "94.1", "5"),
        trade(5, "94", "1", "sell"), // stop: sell 0.4 at 93.9
        trade(6, "90", "1", "sell"), // nothing left to fire
    ];
    let out = run(cfg, &lines);
    assert_eq!(
        timed_fills(&out),
        vec![
            (0, "buy", dec!(100.1), dec!(1)),
            (3, "sell", dec!(101.9), dec!(0.3)),
            (4, "sell", dec!(110.9), dec!(0.3)),
            (5, "sell", dec!(93.9), dec!(0.4)),
        ]
    );
    assert_eq!(out.summary.final_position, Decimal::ZERO);
    assert_eq!(out.summary.orders, 4);
}

/// Sends a buy far below the market on every quote and cancels it on the next: one terminal
/// order per quote.
const CHURN: &str = r#"
fn on_start() { this.id = ""; }
fn on_quote(q) {
    if this.id != "" { cancel(this.id); }
    this.id = limit("buy", "50", "0.01");
}
"#;

#[test]
fn streamed_rows_equal_the_in_memory_ones_and_final_orders_leave_memory() {
    let dir = tempfile::tempdir().unwrap();
    let n = 6_000;
    let lines: Vec<String> = (0..n)
        .flat_map(|i| {
            [
                quote(i, "99.9", "100.1", "5"),
                trade(i, if i % 2 == 0 { "99.9" } else { "100.1" }, "0.1", "buy"),
            ]
        })
        .collect();
    let data = lines.join("\n") + "\n";
    let cfg = config(dir.path(), CHURN, dec!(1), dec!(2));

    let memory = run_backtest(cfg.clone(), data.as_bytes()).unwrap();
    assert!(!memory.streamed);
    assert!(
        memory.orders.len() >= 2 * n as usize,
        "{}",
        memory.orders.len()
    );
    let (a, b) = (dir.path().join("mem"), dir.path().join("stream"));
    write_outputs(&memory, &a).unwrap();
    let streamed = run_backtest_to(cfg.clone(), data.as_bytes(), &b).unwrap();
    assert!(streamed.streamed && streamed.orders.is_empty() && streamed.fills.is_empty());
    write_reports(&streamed, &b).unwrap();
    for f in rows::ROW_FILES.iter().chain(&[
        "trades.jsonl",
        "equity.jsonl",
        "summary.json",
        "report.html",
    ]) {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs between streamed and in-memory rows");
    }

    // The tracker holds the working order and the most recent final ones, not all 6,000.
    let mut bt = Backtest::new(cfg).unwrap();
    let mut decoder = TickDecoder::new(bt.instruments.clone());
    let mut ticks = Vec::new();
    data::for_each_line(data.as_bytes(), |ev, line| {
        decoder.decode(&ev, line, &mut ticks)
    })
    .unwrap();
    for t in ticks {
        bt.step(t).unwrap();
    }
    let held = bt.core.held_orders();
    assert!(
        held <= peregrine_engine::core::KEEP_FINAL_ORDERS + 1,
        "{held} orders held"
    );
    assert!(
        held > 1000,
        "{held}: the most recent final orders stay in full"
    );
}

mod linked;
