//! Backtest = live (`parity`): the backtest driver and the live core loop fed by a replay of
//! the committed sample give the same orders, fills, signals and risk events; timers and
//! time-closed bars fire in a backtest at their due time; a real divergence is found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use peregrine_engine::config::StrategyConfig;
use peregrine_engine::events::FillRow;
use peregrine_engine::risk::RiskLimits;
use peregrine_engine::strategy::StrategyLimits;
use peregrine_engine::tick::Tick;
use peregrine_engine::types::{InstrumentSpec, Instruments, Side};
use peregrine_exchanges::sim::fees::{FeeAsset, FeeModel};
use rust_decimal_macros::dec;

use super::data::{for_each_line, TickDecoder};
use super::parity::{backtest_trace, check, compare, live_trace, Trace};
use super::{run_backtest, BacktestConfig};

const SEC: i64 = 1_000_000_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample() -> PathBuf {
    root().join("tests/fixtures/synthetic_btcusdt.jsonl")
}

/// Places a market order on every closed 5 s bar (alternating sides), records each bar's
/// close as a signal, and a one-shot timer 2.5 s after the first trade records another.
const BARS_AND_TIMERS: &str = r#"
fn on_start() { this.side = "buy"; this.armed = false; }
fn on_trade(t) {
    if !this.armed { set_timer("half", 2500); this.armed = true; }
}
fn on_timer(name) { signal(name, 1.0); }
fn on_bar(b) {
    signal("bar_close", b.close);
    market(this.side, "0.001");
    this.side = if this.side == "buy" { "sell" } else { "buy" };
}
"#;

fn config(
    file: &Path,
    params: &[(&str, toml::Value)],
    bars: &[&str],
    fee_asset: FeeAsset,
    latency_ns: u64,
) -> BacktestConfig {
    let mut instruments = Instruments::new();
    instruments.intern(
        InstrumentSpec::from_canonical("backtest", "BTC-USDT", dec!(0.01), dec!(0.00001)).unwrap(),
    );
    BacktestConfig {
        strategy: StrategyConfig {
            name: "p".into(),
            file: file.to_path_buf(),
            instruments: vec!["BTC-USDT".into()],
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
            bars: bars.iter().map(|b| b.to_string()).collect(),
            ..Default::default()
        },
        more_strategies: Vec::new(),
        instruments: Arc::new(instruments),
        risk: RiskLimits {
            max_order_notional: dec!(100000),
            max_position: dec!(1),
        },
        fees: FeeModel::from_bps(dec!(2), dec!(5), fee_asset),
        latency_ns,
        equity_interval_ns: SEC,
        strategy_limits: StrategyLimits::default(),
        cancel_at_end: true,
        capital: dec!(10000),
    }
}

fn ticks(cfg: &BacktestConfig) -> Vec<Tick> {
    let mut dec = TickDecoder::new(cfg.instruments.clone());
    let mut out = Vec::new();
    let file = std::io::BufReader::new(std::fs::File::open(sample()).unwrap());
    for_each_line(file, |ev, line| dec.decode(&ev, line, &mut out)).unwrap();
    out
}

fn resting_quotes(fee_asset: FeeAsset, latency_ns: u64) -> BacktestConfig {
    config(
        &root().join("tests/fixtures/resting_quotes.rhai"),
        &[
            ("qty", toml::Value::String("0.001".into())),
            ("max_inventory", toml::Value::String("0.003".into())),
            ("every_ms", toml::Value::Integer(400)),
        ],
        &[],
        fee_asset,
        latency_ns,
    )
}

fn assert_same(cfg: &BacktestConfig) -> Trace {
    let (trace, verdict) = check(cfg, ticks(cfg)).unwrap();
    if let Err(d) = verdict {
        panic!("backtest and live loop diverge: {d}");
    }
    trace
}

#[test]
fn resting_quotes_on_timers_trade_the_same_in_backtest_and_live_loop() {
    for latency in [0, 5_000_000] {
        let trace = assert_same(&resting_quotes(FeeAsset::Received, latency));
        // Not a vacuous match: both sides quoted on their timer and were filled as makers.
        assert!(trace.orders.len() > 20, "{} order rows", trace.orders.len());
        let maker = trace.fills.iter().filter(|f| f.is_maker).count();
        assert!(maker >= 3, "{maker} maker fills of {}", trace.fills.len());
        assert!(trace.fills.iter().any(|f| f.side == Side::Buy));
        assert!(trace.fills.iter().any(|f| f.side == Side::Sell));
    }
}

#[test]
fn time_closed_bars_and_timers_fire_at_their_due_time_in_both() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bars.rhai");
    std::fs::write(&file, BARS_AND_TIMERS).unwrap();
    let cfg = config(&file, &[], &["5s"], FeeAsset::Received, 0);
    let trace = assert_same(&cfg);
    let bars: Vec<i64> = trace
        .signals
        .iter()
        .filter(|s| s.name == "bar_close")
        .map(|s| s.ts_ns)
        .collect();
    // 100 s of data: bars close at every 5 s boundary, at the boundary itself (not at the
    // first trade after it), through the end of the data.
    assert!(bars.len() >= 18, "{} bars", bars.len());
    assert!(bars.iter().all(|t| t % (5 * SEC) == 0), "{bars:?}");
    let first_trade = ticks(&cfg)
        .iter()
        .find(|t| matches!(t.kind, peregrine_engine::tick::TickKind::Trade(_)))
        .map(|t| t.exch_ts_ns)
        .unwrap();
    let timer: Vec<i64> = trace
        .signals
        .iter()
        .filter(|s| s.name == "half")
        .map(|s| s.ts_ns)
        .collect();
    assert_eq!(timer, vec![first_trade + 2_500_000_000]);
    // Every bar's market order filled, at the touch as of the bar's close.
    assert_eq!(trace.fills.len(), bars.len());
}

#[test]
fn a_timer_strategy_trades_in_a_backtest() {
    // Before timers were fired in backtests this strategy never placed an order.
    let cfg = resting_quotes(FeeAsset::Received, 0);
    let data = std::fs::File::open(sample()).unwrap();
    let out = run_backtest(cfg, std::io::BufReader::new(data)).unwrap();
    assert!(out.summary.orders > 10, "{}", out.summary.orders);
    assert!(out.summary.trades > 3, "{}", out.summary.trades);
}

#[test]
fn a_fee_asset_mismatch_between_backtest_and_live_is_a_divergence() {
    // The issue's bug: the simulator charged a buy's fee in the base asset, the backtest in
    // the quote asset. With the two sides' fee assets made to differ on purpose, the check
    // must fail, and name the first fill's fee.
    let bt_cfg = resting_quotes(FeeAsset::Quote, 0);
    let live_cfg = resting_quotes(FeeAsset::Received, 0);
    let bt = backtest_trace(&bt_cfg, &ticks(&bt_cfg)).unwrap();
    let live = live_trace(&live_cfg, ticks(&live_cfg)).unwrap();
    let d = compare(&bt, &live).expect_err("a fee-asset mismatch must diverge");
    assert_eq!(d.stream, "fills", "{d}");
    assert!(d.field == "fee" || d.field == "fee_asset", "{d}");
    // One field of one row is enough.
    let fill = |asset: &str| FillRow {
        venue: "backtest".into(),
        symbol: "BTC-USDT".into(),
        trade_id: 1,
        client_order_id: "pgbac-1".into(),
        strategy: "p".into(),
        side: Side::Buy,
        price: dec!(100),
        qty: dec!(1),
        fee: dec!(0.001),
        fee_asset: asset.into(),
        is_maker: true,
        exch_ts_ns: 1,
    };
    let a = Trace {
        fills: vec![fill("BTC")],
        ..Trace::default()
    };
    let b = Trace {
        fills: vec![fill("USDT")],
        ..Trace::default()
    };
    let d = compare(&a, &b).unwrap_err();
    assert_eq!(
        (d.stream, d.index, d.field.as_str(), d.backtest.as_str()),
        ("fills", 0, "fee_asset", "\"BTC\"")
    );
    assert!(compare(&a, &a.clone()).is_ok());
    let short = Trace::default();
    assert_eq!(compare(&a, &short).unwrap_err().field, "len");
}
