//! The full pre-trade risk check of one order (every check enabled: kill switch, staleness,
//! instrument rules, price band, order qty/notional, position, gross exposure, open orders,
//! self-trade, duplicate suppression, the shared rate budget), against a same-run baseline of
//! the single notional multiplication and compare it cannot avoid.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::order::{OrderIntent, OrderType, TimeInForce};
use peregrine_engine::risk::{
    ExposureView, ExtraLimits, InstrumentLimits, KillSwitch, RateBudget, RiskGate, RiskLimits,
};
use peregrine_engine::types::{InstrumentId, Side};
use rust_decimal_macros::dec;

fn bench(c: &mut Criterion) {
    let mut gate = RiskGate::new(
        RiskLimits {
            max_order_notional: dec!(1000),
            max_position: dec!(0.05),
        },
        KillSwitch::new(false),
    )
    .with_extra(ExtraLimits {
        max_order_qty: Some(dec!(0.04)),
        max_gross_exposure: Some(dec!(100000)),
        max_open_orders: Some(50),
        price_band_bps: Some(500),
        max_tick_age_ms: Some(5000),
        duplicate_window_ms: Some(1),
        self_trade_prevention: true,
        order_weight: 1,
    })
    .with_instruments(vec![InstrumentLimits {
        tick_size: dec!(0.01),
        lot_size: dec!(0.00001),
        min_qty: Some(dec!(0.00001)),
        max_qty: Some(dec!(9000)),
        min_notional: Some(dec!(5)),
        ..Default::default()
    }])
    .with_rate_budget(RateBudget::new(6000, 100));
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
    let mut view = ExposureView {
        position: dec!(0.02),
        open_buy_qty: dec!(0.001),
        open_sell_qty: dec!(0),
        reference_price: Some(dec!(60000.02)),
        gross_exposure: dec!(1260),
        open_orders: 2,
        own_best_bid: Some(dec!(59990)),
        own_best_ask: Some(dec!(60010)),
        stale: false,
        last_tick_ns: 1_000_000_000,
        now_ns: 1_000_000_000,
    };
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
