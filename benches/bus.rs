//! The market-data bus's encoding (`exchanges::bus::codec`): encode and decode of a trade, a
//! quote and a 20-level book delta in the binary form (version 1), against the same events
//! in the bus's JSON form (the interchange line's serde) measured in the same run.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::tick::{Quote, Trade};
use peregrine_engine::types::Side;
use peregrine_exchanges::bus::{BookLevels, BusEvent, Payload};
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    match Decimal::from_str_exact(s) {
        Ok(v) => v,
        Err(e) => panic!("bench decimal {s}: {e}"),
    }
}

fn events() -> Vec<(&'static str, BusEvent)> {
    let ev = |payload| BusEvent {
        seq: 1_234_567,
        exch_ts_ns: 1_764_763_200_123_000_000,
        pub_ts_ns: 1_764_763_200_123_456_789,
        payload,
    };
    let levels = |side: u32| -> Vec<[Decimal; 2]> {
        (0..10)
            .map(|i| {
                let px = if side == 0 { 43_000 - i } else { 43_001 + i };
                [
                    d(&format!("{px}.{:02}", i * 7)),
                    d(&format!("0.{:05}", 100 + i * 31)),
                ]
            })
            .collect()
    };
    vec![
        (
            "trade",
            ev(Payload::Trade(Trade {
                price: d("43000.12"),
                qty: d("0.00150"),
                side: Side::Buy,
                trade_id: 4_123_456_789,
            })),
        ),
        (
            "quote",
            ev(Payload::Quote(Quote {
                bid_px: d("43000.12"),
                bid_qty: d("1.25000"),
                ask_px: d("43000.13"),
                ask_qty: d("0.50000"),
                update_id: 987_654_321,
            })),
        ),
        (
            "book_delta_20",
            ev(Payload::BookDelta(BookLevels {
                venue_seq: 987_654_321,
                bids: levels(0),
                asks: levels(1),
            })),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    for (name, ev) in events() {
        let mut g = c.benchmark_group(format!("bus/{name}"));
        let mut buf = Vec::with_capacity(1024);
        g.bench_function("binary_encode", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&ev).encode(&mut buf);
                black_box(buf.len())
            })
        });
        let bytes = ev.to_bytes();
        g.bench_function("binary_decode", |b| {
            b.iter(|| black_box(BusEvent::decode(black_box(&bytes)).is_ok()))
        });
        g.bench_function("json_encode", |b| {
            b.iter(|| black_box(black_box(&ev).to_json("binance", "BTC-USDT").len()))
        });
        let json = ev.to_json("binance", "BTC-USDT");
        g.bench_function("json_decode", |b| {
            b.iter(|| black_box(BusEvent::decode(black_box(&json)).is_ok()))
        });
        println!(
            "bus/{name}: binary {} bytes, JSON {} bytes",
            bytes.len(),
            json.len()
        );
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
