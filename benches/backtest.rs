//! Backtest throughput in ticks per second over a synthetic tick file (2 minutes of the
//! simulator's market, trades and quotes): the core stepped over pre-decoded ticks with a
//! script without callbacks (engine, venue and bookkeeping only), a no-op strategy (empty
//! `on_trade`/`on_quote`, so one Rhai call per tick) and `strategies/ema_cross.rhai`, and the
//! whole pipeline (JSON line parse + decode + step) with the no-op strategy against a
//! same-run baseline of parse + decode alone.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use peregrine::backtest::data::{for_each_line, TickDecoder};
use peregrine::backtest::gen::{generate, GenConfig};
use peregrine::backtest::{Backtest, BacktestConfig};
use peregrine_engine::config::StrategyConfig;
use peregrine_engine::risk::RiskLimits;
use peregrine_engine::strategy::StrategyLimits;
use peregrine_engine::tick::Tick;
use peregrine_engine::types::{InstrumentSpec, Instruments};
use peregrine_exchanges::sim::fees::{FeeAsset, FeeModel};
use peregrine_exchanges::sim::MarketParams;
use rust_decimal_macros::dec;

fn config(file: PathBuf, instruments: &Arc<Instruments>) -> BacktestConfig {
    let mut params = BTreeMap::new();
    params.insert("qty".to_string(), toml::Value::String("0.001".into()));
    BacktestConfig {
        strategy: StrategyConfig {
            name: "bench".into(),
            file,
            instruments: vec!["BTC-USDT".into()],
            params,
            ..Default::default()
        },
        more_strategies: Vec::new(),
        instruments: instruments.clone(),
        risk: RiskLimits {
            max_order_notional: dec!(1000),
            max_position: dec!(0.01),
        },
        fees: FeeModel::from_bps(dec!(1), dec!(2), FeeAsset::Received),
        latency_ns: 0,
        equity_interval_ns: 1_000_000_000,
        strategy_limits: StrategyLimits::default(),
        cancel_at_end: true,
        capital: dec!(10000),
    }
}

fn bench(c: &mut Criterion) {
    let mut data = Vec::new();
    generate(
        &GenConfig {
            seed: 3,
            symbol: "BTC-USDT".into(),
            start_price: dec!(60000),
            tick_size: dec!(0.01),
            lot_size: dec!(0.00001),
            start_ms: 1_767_225_600_000,
            step_ms: 10,
            steps: 12_000,
            market: MarketParams::default(),
        },
        &mut data,
    )
    .expect("synthetic ticks");
    let mut instruments = Instruments::new();
    instruments.intern(
        InstrumentSpec::from_canonical("backtest", "BTC-USDT", dec!(0.01), dec!(0.00001))
            .expect("valid symbol"),
    );
    let instruments = Arc::new(instruments);
    let mut ticks: Vec<Tick> = Vec::new();
    let mut decoder = TickDecoder::new(instruments.clone());
    for_each_line(data.as_slice(), |ev, line| {
        decoder.decode(&ev, line, &mut ticks)
    })
    .expect("decodes");
    let dir = tempfile::tempdir().expect("temp dir");
    let noop = dir.path().join("noop.rhai");
    std::fs::write(&noop, "fn on_trade(t) {}\nfn on_quote(q) {}\n").expect("write script");
    let empty = dir.path().join("empty.rhai");
    std::fs::write(&empty, "// trades nothing, has no callbacks\n").expect("write script");
    let ema = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai");

    let mut g = c.benchmark_group("backtest");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
        .throughput(Throughput::Elements(ticks.len() as u64));
    for (name, file) in [
        ("step_no_callbacks", &empty),
        ("step_noop", &noop),
        ("step_ema_cross", &ema),
    ] {
        let cfg = config(file.clone(), &instruments);
        g.bench_function(name, |b| {
            b.iter_batched(
                || Backtest::new(cfg.clone()).expect("strategy loads"),
                |mut bt| {
                    for t in &ticks {
                        bt.step(*t).expect("step");
                    }
                    bt
                },
                BatchSize::PerIteration,
            )
        });
    }
    let cfg = config(noop.clone(), &instruments);
    g.bench_function("parse_step_noop", |b| {
        b.iter_batched(
            || Backtest::new(cfg.clone()).expect("strategy loads"),
            |mut bt| {
                let mut dec = TickDecoder::new(instruments.clone());
                let mut buf = Vec::with_capacity(16);
                for_each_line(data.as_slice(), |ev, line| {
                    buf.clear();
                    dec.decode(&ev, line, &mut buf)?;
                    for t in buf.drain(..) {
                        bt.step(t)?;
                    }
                    Ok(())
                })
                .expect("runs");
                bt
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("baseline_parse_only", |b| {
        b.iter(|| {
            let mut dec = TickDecoder::new(instruments.clone());
            let mut buf = Vec::with_capacity(16);
            let mut n = 0usize;
            for_each_line(data.as_slice(), |ev, line| {
                buf.clear();
                dec.decode(&ev, line, &mut buf)?;
                n += black_box(&buf).len();
                Ok(())
            })
            .expect("parses");
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
