//! The core's whole per-order path on one thread, in a hot loop: a trade tick that crosses
//! `ema_cross.rhai`'s EMAs -> strategy callback (`cancel_all()` of the previous order, then
//! `limit(..)`) -> risk gate -> HMAC-signed cancel and new order -> handed to the transport's
//! channel. Only `Core::on_tick` is timed; the venue's answers (cancel confirmed, order
//! acknowledged) are applied between iterations, untimed. Also with the caches cold, as in a
//! live run. Baseline in the same run: the same tick when it does not cross (the callback
//! runs, nothing is sent).

#[path = "support/core_fixture.rs"]
mod core_fixture;

use std::time::{Duration, Instant};

use core_fixture::CoreFixture;
use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::tick::Tick;

/// Times `iters` calls of `on_tick` on ticks from `next`, each expected to send `orders` new
/// orders; `before` runs untimed ahead of each one.
fn timed_ticks(
    f: &mut CoreFixture,
    iters: u64,
    next: fn(&mut CoreFixture) -> Tick,
    orders: usize,
    mut before: impl FnMut(u64),
) -> Duration {
    let mut timed = Duration::ZERO;
    for i in 0..iters {
        let t = next(f);
        before(i);
        let start = Instant::now();
        f.core.on_tick(t);
        timed += start.elapsed();
        assert_eq!(f.settle(), orders);
    }
    timed
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_tick");
    g.measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    let mut f = CoreFixture::new();
    g.bench_function("crossing_trade_to_signed_order", |b| {
        b.iter_custom(|iters| timed_ticks(&mut f, iters, CoreFixture::crossing_trade, 1, |_| ()))
    });
    // Caches cold, as in a live run where crossing trades are tens of milliseconds apart and
    // other threads run in between: 8 MiB are written before each tick (more than L2 and
    // this machine's share of L3).
    let mut f = CoreFixture::new();
    let mut evict = vec![0u8; 8 << 20];
    g.bench_function("crossing_trade_to_signed_order_cold_cache", |b| {
        b.iter_custom(|iters| {
            timed_ticks(&mut f, iters, CoreFixture::crossing_trade, 1, |i| {
                for chunk in evict.chunks_mut(64) {
                    chunk[0] = chunk[0].wrapping_add(i as u8);
                }
                std::hint::black_box(&evict);
            })
        })
    });
    let mut f = CoreFixture::new();
    g.bench_function("baseline_trade_no_cross", |b| {
        b.iter_custom(|iters| timed_ticks(&mut f, iters, CoreFixture::same_trade_again, 0, |_| ()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
