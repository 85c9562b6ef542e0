//! Binance market-data normalization: our borrowed, allocation-free normalizer vs a baseline
//! `serde_json::from_str::<serde_json::Value>` of the same frame, measured in the same run.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::types::{InstrumentSpec, Instruments};
use peregrine_exchanges::binance::normalize::Normalizer;
use rust_decimal_macros::dec;

const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":3284793015,"p":"43000.12000000","q":"0.00150000","T":1672515782136,"m":true,"M":true}}"#;
const BOOK_TICKER: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT","b":"43000.10000000","B":"31.21000000","a":"43000.11000000","A":"40.66000000"}}"#;
const DEPTH: &str = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BTCUSDT","U":157,"u":166,"b":[["43000.10000000","1.20000000"],["42999.90000000","0.00000000"],["42999.50000000","3.10000000"],["42998.00000000","0.50000000"],["42990.00000000","7.00000000"]],"a":[["43000.11000000","0.40000000"],["43000.50000000","0.00000000"],["43001.00000000","2.25000000"],["43002.00000000","1.00000000"],["43010.00000000","9.90000000"]]}}"#;

fn normalizer() -> Normalizer {
    let mut r = Instruments::new();
    if let Some(spec) =
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
    {
        r.intern(spec);
    }
    Normalizer::new(Arc::new(r))
}

fn bench(c: &mut Criterion) {
    let mut n = normalizer();
    for (name, frame) in [
        ("trade", TRADE),
        ("book_ticker", BOOK_TICKER),
        ("depth_update_10", DEPTH),
    ] {
        assert!(
            n.normalize(frame, 0, |_| ()).is_ok(),
            "{name} frame must normalize"
        );
        let mut g = c.benchmark_group(format!("normalize/{name}"));
        g.bench_function("peregrine", |b| {
            b.iter(|| {
                let mut last = None;
                let r = n.normalize(black_box(frame), 1, |t| last = Some(t));
                black_box((r.is_ok(), last))
            })
        });
        g.bench_function("baseline_serde_json_value", |b| {
            b.iter(|| {
                black_box(serde_json::from_str::<serde_json::Value>(black_box(frame)).is_ok())
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
