//! The full pre-trade risk check of one order (every check enabled: kill switch, staleness,
//! instrument rules, price band, order qty/notional, position, gross exposure, open orders,
//! self-trade, duplicate suppression, the shared rate budget), against a same-run baseline of
//! the single notional multiplication and compare it cannot avoid.

use std::hint::black_box;
use std::time::Duration;

#[path = "support/risk_fixture.rs"]
mod risk_fixture;

use criterion::{criterion_group, criterion_main, Criterion};
use risk_fixture::approving_gate;
use rust_decimal_macros::dec;

fn bench(c: &mut Criterion) {
    let (mut gate, intent, mut view) = approving_gate();
    assert!(gate.check(&intent, &view).is_ok());
    let mut g = c.benchmark_group("risk");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("check_approve", |b| {
        b.iter(|| black_box(gate.check(black_box(&intent), black_box(&view)).is_ok()))
    });
    g.bench_function("full_check_order_approve", |b| {
        b.iter(|| {
            // 10 s later each time: the budget refills and the duplicate window has passed,
            // so every iteration runs every check and approves.
            view.now_ns += 10_000_000_000;
            view.last_tick_ns = view.now_ns;
            let ok = gate
                .check_order(black_box(&intent), black_box(&view))
                .is_ok();
            assert!(ok);
            black_box(ok)
        })
    });
    let limit = dec!(1000);
    g.bench_function("baseline_notional_compare", |b| {
        b.iter(|| {
            let i = black_box(&intent);
            black_box(i.price.unwrap_or_default() * i.qty <= black_box(limit))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
