//! The pre-trade gate with every check on, as on the core's path, and an order and exposure
//! it approves: shared by the `risk` (criterion) and `iai_stages` (instruction count) benches.

use peregrine_engine::order::{OrderIntent, OrderType, TimeInForce};
use peregrine_engine::risk::{
    ExposureView, ExtraLimits, InstrumentLimits, KillSwitch, RateBudget, RiskGate, RiskLimits,
};
use peregrine_engine::types::{InstrumentId, Side};
use rust_decimal_macros::dec;

/// The gate (instrument rules, band, qty/notional, position, gross, open orders, self-trade,
/// staleness, duplicate window, rate budget), a limit buy and a view it approves.
pub fn approving_gate() -> (RiskGate, OrderIntent, ExposureView) {
    let gate = RiskGate::new(
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
    let view = ExposureView {
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
    (gate, intent, view)
}
