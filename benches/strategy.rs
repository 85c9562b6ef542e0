//! One `on_trade` call of the shipped `strategies/ema_cross.rhai`, against a baseline of the
//! same work done natively (two EMA updates and a compare): the ratio is the cost of the
//! script layer.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::config::StrategyConfig;
use peregrine_engine::indicators::Ema;
use peregrine_engine::strategy::{InstrumentView, StrategyHost, StrategyLimits, TradeView};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn bench(c: &mut Criterion) {
    let mut instruments = Instruments::new();
    let id = instruments.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
            .expect("valid symbol"),
    );
    let mut params = BTreeMap::new();
    params.insert("qty".to_string(), toml::Value::String("0.001".into()));
    let cfg = StrategyConfig {
        name: "ema_cross".into(),
        file: Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai"),
        instruments: vec!["BTC-USDT".into()],
        params,
        ..Default::default()
    };
    let mut host = StrategyHost::load(0, &cfg, &instruments, StrategyLimits::default())
        .expect("ema_cross loads");
    host.set_view(
        id,
        InstrumentView {
            best_bid: Some(dec!(60000)),
            best_ask: Some(dec!(60000.01)),
            ..Default::default()
        },
    );
    // A gently oscillating price: crosses happen, as in a real run.
    let prices: Vec<Decimal> = (0..1024)
        .map(|i| dec!(60000) + Decimal::from((i % 64) as i64 - 32) * dec!(0.01))
        .collect();
    let trade = |price| TradeView {
        instrument: InstrumentId(0),
        symbol: "BTC-USDT".into(),
        price,
        qty: dec!(0.01),
        side: Side::Buy,
        trade_id: 1,
        exch_ts_ns: 0,
    };
    let mut actions = Vec::with_capacity(64);
    let mut g = c.benchmark_group("strategy");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let mut i = 0usize;
    g.bench_function("ema_cross_on_trade", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            host.on_trade(trade(prices[i]), 1, 0)
                .expect("callback succeeds");
            host.drain_actions(&mut actions);
            actions.clear();
        })
    });
    let (mut fast, mut slow) = (Ema::new(8), Ema::new(21));
    let mut j = 0usize;
    g.bench_function("baseline_native_two_emas", |b| {
        b.iter(|| {
            j = (j + 1) & 1023;
            let p = black_box(prices[j]).to_f64().unwrap_or_default();
            black_box(fast.update(p) > slow.update(p))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
