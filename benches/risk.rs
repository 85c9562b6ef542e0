//! The pre-trade risk check of one order, against a baseline of the single notional
//! multiplication and compare it cannot avoid.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::order::{OrderIntent, OrderType, TimeInForce};
use peregrine_engine::risk::{ExposureView, KillSwitch, RiskGate, RiskLimits};
use peregrine_engine::types::{InstrumentId, Side};
use rust_decimal_macros::dec;

fn bench(c: &mut Criterion) {
    let gate = RiskGate::new(
        RiskLimits {
            max_order_notional: dec!(1000),
            max_position: dec!(0.05),
        },
        KillSwitch::new(false),
    );
    let intent = OrderIntent {
        strategy: 0,
        instrument: InstrumentId(0),
        side: Side::Buy,
        order_type: OrderType::Limit,
        price: Some(dec!(60000.01)),
        qty: dec!(0.01),
        tif: TimeInForce::Gtc,
        reduce_only: false,
        post_only: false,
        origin_recv_ns: 0,
    };
    let view = ExposureView {
        position: dec!(0.02),
        open_buy_qty: dec!(0.001),
        open_sell_qty: dec!(0),
        reference_price: Some(dec!(60000.02)),
    };
    assert!(gate.check(&intent, &view).is_ok());
    let mut g = c.benchmark_group("risk");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("check_approve", |b| {
        b.iter(|| black_box(gate.check(black_box(&intent), black_box(&view)).is_ok()))
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
