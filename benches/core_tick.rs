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
