//! The core's whole per-order path on one thread, in a hot loop: a trade tick that crosses
//! `ema_cross.rhai`'s EMAs -> strategy callback (`cancel_all()` of the previous order, then
//! `limit(..)`) -> risk gate -> HMAC-signed cancel and new order -> handed to the transport's
//! channel. Only `Core::on_tick` is timed; the venue's answers (cancel confirmed, order
//! acknowledged) are applied between iterations, untimed. Baseline in the same run: the
//! same tick when it does not cross (the callback runs, nothing is sent).

#[path = "support/core_fixture.rs"]
mod core_fixture;

use std::time::{Duration, Instant};

use core_fixture::CoreFixture;
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_tick");
    g.measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    let mut f = CoreFixture::new();
    g.bench_function("crossing_trade_to_signed_order", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let t = f.crossing_trade();
                let start = Instant::now();
                f.core.on_tick(t);
                timed += start.elapsed();
                assert_eq!(f.settle(), 1);
            }
            timed
        })
    });
    // The same with the caches cold, as in a live run where ticks that cross are tens of
    // milliseconds apart and other threads run in between: 8 MiB are written between
    // iterations (more than L2 and this machine's share of L3).
    let mut f = CoreFixture::new();
    let mut evict = vec![0u8; 8 << 20];
    g.bench_function("crossing_trade_to_signed_order_cold_cache", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for i in 0..iters {
                let t = f.crossing_trade();
                for chunk in evict.chunks_mut(64) {
                    chunk[0] = chunk[0].wrapping_add(i as u8);
                }
                std::hint::black_box(&evict);
                let start = Instant::now();
                f.core.on_tick(t);
                timed += start.elapsed();
                assert_eq!(f.settle(), 1);
            }
            timed
        })
    });
    let mut f = CoreFixture::new();
    g.bench_function("baseline_trade_no_cross", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let t = f.same_trade_again();
                let start = Instant::now();
                f.core.on_tick(t);
                timed += start.elapsed();
                assert_eq!(f.settle(), 0);
            }
            timed
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
