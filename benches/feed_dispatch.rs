//! One market-data text frame through the Binance protocol as the connection manager drives it
//! (`VenueProtocol::on_frame`: normalize, instrument filter, ticks into a bounded crossbeam
//! queue with `try_send`), against two baselines measured in the same run: the bare
//! normalizer on the same frame (so the difference is the manager-side dispatch), and a
//! `serde_json::Value` parse of the same frame.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::types::{InstrumentSpec, Instruments};
use peregrine_exchanges::binance::feed::{BinanceProtocol, FeedConfig};
use peregrine_exchanges::binance::normalize::Normalizer;
use peregrine_exchanges::md::VenueNormalizer;
use peregrine_exchanges::venue::VenueProtocol;
use rust_decimal_macros::dec;

const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":3284793015,"p":"43000.12000000","q":"0.00150000","T":1672515782136,"m":true,"M":true}}"#;
const BOOK_TICKER: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT","b":"43000.10000000","B":"31.21000000","a":"43000.11000000","A":"40.66000000"}}"#;

fn registry() -> Arc<Instruments> {
    let mut r = Instruments::new();
    if let Some(spec) =
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
    {
        r.intern(spec);
    }
    Arc::new(r)
}

fn bench(c: &mut Criterion) {
    let cfg = FeedConfig::new("ws://127.0.0.1:9", "http://127.0.0.1:9");
    let mut proto = match BinanceProtocol::new(&cfg, registry()) {
        Ok(p) => p,
        Err(e) => panic!("protocol: {e}"),
    };
    let mut normalizer = Normalizer::new();
    let (tx, rx) = crossbeam_channel::bounded(1 << 16);
    for (name, frame) in [("trade", TRADE), ("book_ticker", BOOK_TICKER)] {
        assert!(proto.on_frame(frame, 1, &mut |_| ()).is_ok(), "{name}");
        let mut g = c.benchmark_group(format!("feed_dispatch/{name}"));
        g.bench_function("protocol_on_frame_to_queue", |b| {
            b.iter(|| {
                let r = proto.on_frame(black_box(frame), 1, &mut |t| {
                    let _ = tx.try_send(t);
                });
                black_box(r.is_ok());
                black_box(rx.try_recv().is_ok())
            })
        });
        g.bench_function("baseline_normalize_only", |b| {
            b.iter(|| {
                let mut last = 0;
                let r = normalizer.normalize(black_box(frame), &mut |m| last = m.exch_ts_ns);
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
