//! Queue hand-off between the feed thread and the core thread: a `Tick` ping-pong over two
//! bounded crossbeam channels (what the engine uses), against the same over std's
//! `sync_channel` (baseline). One iteration = one round trip = two hand-offs.

use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::tick::{Tick, TickKind, Trade};
use peregrine_engine::types::{InstrumentId, Side};
use rust_decimal_macros::dec;

fn tick() -> Tick {
    Tick {
        instrument: InstrumentId(0),
        exch_ts_ns: 1,
        recv_ns: 2,
        kind: TickKind::Trade(Trade {
            price: dec!(60000.01),
            qty: dec!(0.001),
            side: Side::Buy,
            trade_id: 3,
        }),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("handoff");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));

    {
        let (to_core, core_rx) = crossbeam_channel::bounded::<Tick>(1024);
        let (to_feed, feed_rx) = crossbeam_channel::bounded::<Tick>(1024);
        let echo = thread::spawn(move || {
            while let Ok(t) = core_rx.recv() {
                if to_feed.send(t).is_err() {
                    break;
                }
            }
        });
        let t = tick();
        g.bench_function("crossbeam_bounded_round_trip", |b| {
            b.iter(|| {
                to_core.send(black_box(t)).expect("echo thread alive");
                black_box(feed_rx.recv().expect("echo thread alive"))
            })
        });
        drop(to_core);
        let _ = echo.join();
    }
    {
        let (to_core, core_rx) = mpsc::sync_channel::<Tick>(1024);
        let (to_feed, feed_rx) = mpsc::sync_channel::<Tick>(1024);
        let echo = thread::spawn(move || {
            while let Ok(t) = core_rx.recv() {
                if to_feed.send(t).is_err() {
                    break;
                }
            }
        });
        let t = tick();
        g.bench_function("baseline_std_sync_channel_round_trip", |b| {
            b.iter(|| {
                to_core.send(black_box(t)).expect("echo thread alive");
                black_box(feed_rx.recv().expect("echo thread alive"))
            })
        });
        drop(to_core);
        let _ = echo.join();
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
