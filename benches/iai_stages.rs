//! Instruction counts (Valgrind callgrind through iai-callgrind) of one call of each hot-path
//! stage: normalize a trade frame, one `ema_cross.rhai` `on_trade`, one full pre-trade risk
//! check (`check_order`, every check on), build and sign one order, and one stage-latency
//! record. Counts are stable on a noisy shared machine, so they catch regressions that
//! wall-clock benches cannot.
//!
//! Needs valgrind and `iai-callgrind-runner` of the same version as the `iai-callgrind`
//! library (see benches/README.md); CI only builds this bench.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use iai_callgrind::{library_benchmark, library_benchmark_group, main};
use peregrine_engine::config::StrategyConfig;
use peregrine_engine::gateway::OrderSigner;
use peregrine_engine::order::{ClientOrderId, OrderIntent, OrderRequest, OrderType, TimeInForce};
use peregrine_engine::risk::{
    ExposureView, ExtraLimits, InstrumentLimits, KillSwitch, RateBudget, RiskGate, RiskLimits,
};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::stages::{LatencyHub, Stage, StageSet};
use peregrine_engine::strategy::{InstrumentView, StrategyHost, StrategyLimits, TradeView};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use peregrine_exchanges::binance::normalize::Normalizer;
use peregrine_exchanges::binance::signer::BinanceSigner;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":3284793015,"p":"43000.12000000","q":"0.00150000","T":1672515782136,"m":true,"M":true}}"#;

fn instruments() -> Arc<Instruments> {
    let mut r = Instruments::new();
    if let Some(spec) =
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
    {
        r.intern(spec);
    }
    Arc::new(r)
}

fn intent() -> OrderIntent {
    OrderIntent {
        strategy: 0,
        instrument: InstrumentId(0),
        side: Side::Buy,
        order_type: OrderType::Limit,
        price: Some(dec!(43000.10)),
        qty: dec!(0.00150),
        tif: TimeInForce::Gtc,
        reduce_only: false,
        post_only: false,
        origin_recv_ns: 1,
    }
}

fn normalizer() -> Normalizer {
    let mut n = Normalizer::new(instruments());
    // First call outside the measurement (lazy state, page faults).
    let _ = n.normalize(TRADE, 0, |_| ());
    n
}

#[library_benchmark]
#[bench::trade(normalizer())]
fn normalize_trade(mut n: Normalizer) -> bool {
    let mut last = None;
    let ok = n.normalize(black_box(TRADE), 1, |t| last = Some(t)).is_ok();
    black_box(last);
    ok
}

fn ema_host() -> (StrategyHost, TradeView) {
    let mut params = BTreeMap::new();
    params.insert("qty".to_string(), toml::Value::String("0.001".into()));
    let cfg = StrategyConfig {
        name: "ema_cross".into(),
        file: Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai"),
        instruments: vec!["BTC-USDT".into()],
        params,
        ..Default::default()
    };
    let inst = instruments();
    let mut host = match StrategyHost::load(0, &cfg, &inst, StrategyLimits::default()) {
        Ok(h) => h,
        Err(e) => panic!("ema_cross must load: {e}"),
    };
    host.set_view(
        InstrumentId(0),
        InstrumentView {
            best_bid: Some(dec!(60000)),
            best_ask: Some(dec!(60000.01)),
            ..Default::default()
        },
    );
    let t = TradeView {
        instrument: InstrumentId(0),
        symbol: "BTC-USDT".into(),
        price: dec!(60000),
        qty: dec!(0.01),
        side: Side::Buy,
        trade_id: 1,
        exch_ts_ns: 0,
    };
    // Warm: both EMAs ready, a steady price (no cross, no order).
    for _ in 0..64 {
        let _ = host.on_trade(t.clone(), 1, 0);
    }
    (host, t)
}

#[library_benchmark]
#[bench::no_cross(ema_host())]
fn strategy_on_trade(input: (StrategyHost, TradeView)) -> bool {
    let (mut host, t) = input;
    host.on_trade(black_box(t), 1, 0).is_ok()
}

fn risk_setup() -> (RiskGate, OrderIntent, ExposureView) {
    // Every check on, as on the core's path (see benches/risk.rs).
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
    let view = ExposureView {
        position: dec!(0.002),
        open_buy_qty: dec!(0.001),
        open_sell_qty: Decimal::ZERO,
        reference_price: Some(dec!(43000.11)),
        gross_exposure: dec!(1260),
        open_orders: 2,
        own_best_bid: Some(dec!(42990)),
        own_best_ask: Some(dec!(43010)),
        stale: false,
        last_tick_ns: 1_000_000_000,
        now_ns: 1_000_000_000,
    };
    (gate, intent(), view)
}

#[library_benchmark]
#[bench::approve_every_check(risk_setup())]
fn risk_check_order(input: (RiskGate, OrderIntent, ExposureView)) -> bool {
    let (mut gate, intent, view) = input;
    gate.check_order(black_box(&intent), black_box(&view))
        .is_ok()
}

fn signer() -> (BinanceSigner, OrderRequest) {
    let creds = ApiCredentials {
        key: Secret::new("key"),
        secret: Secret::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"),
    };
    let s = BinanceSigner::new(instruments(), &creds, 5000);
    let req = OrderRequest {
        client_order_id: ClientOrderId {
            run: 0x6560_0000,
            seq: 1234,
        },
        intent: intent(),
    };
    (s, req)
}

#[library_benchmark]
#[bench::new_order(signer())]
fn sign_new_order(input: (BinanceSigner, OrderRequest)) -> usize {
    let (mut s, req) = input;
    s.sign_new(black_box(&req), 1_700_000_000_000)
        .map(|o| o.params.len())
        .unwrap_or(0)
}

fn stage_setup() -> (StageSet, LatencyHub) {
    (StageSet::new(), LatencyHub::new())
}

#[library_benchmark]
#[bench::core_and_feed(stage_setup())]
fn stage_record(input: (StageSet, LatencyHub)) -> u64 {
    let (mut set, hub) = input;
    set.record(Stage::TickToOrder, black_box(9_500));
    hub.record_frame(
        black_box(400),
        1_672_515_782_136_000_000,
        1_672_515_782_138_000_000,
    );
    set.summary(Stage::TickToOrder).count
}

library_benchmark_group!(
    name = hot_path;
    benchmarks = normalize_trade, strategy_on_trade, risk_check_order, sign_new_order, stage_record
);

main!(library_benchmark_groups = hot_path);
