//! Instruction counts (Valgrind callgrind through iai-callgrind) of one call of each hot-path
//! stage: normalize a Binance trade frame, a Bybit / OKX / Kraken trade frame through the
//! venue's protocol, one `ema_cross.rhai` `on_trade`, one full pre-trade risk
//! check (`check_order`, every check on), build and sign one order, and one stage-latency
//! record. Counts are stable on a noisy shared machine, so they catch regressions that
//! wall-clock benches cannot. Each benchmark returns its state, so dropping it (the Rhai
//! engine, the histograms) is not counted.
//!
//! Needs valgrind and `iai-callgrind-runner` of the same version as the `iai-callgrind`
//! library (see benches/README.md); CI only builds this bench.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

#[path = "support/core_fixture.rs"]
mod core_fixture;
#[path = "support/risk_fixture.rs"]
mod risk_fixture;

use core_fixture::CoreFixture;
use iai_callgrind::{library_benchmark, library_benchmark_group, main};
use peregrine_engine::config::StrategyConfig;
use peregrine_engine::gateway::{OrderSigner, SignedOrder};
use peregrine_engine::order::{ClientOrderId, OrderIntent, OrderRequest, OrderType, TimeInForce};
use peregrine_engine::risk::{ExposureView, RiskGate};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::stages::{LatencyHub, Stage, StageSet};
use peregrine_engine::strategy::{InstrumentView, StrategyHost, StrategyLimits, TradeView};
use peregrine_engine::tick::Tick;
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use peregrine_exchanges::binance::normalize::Normalizer;
use peregrine_exchanges::binance::signer::BinanceSigner;
use peregrine_exchanges::binance::BinanceProtocol;
use peregrine_exchanges::protocols::{market_data_protocol, ProtocolOptions};
use peregrine_exchanges::venue::{Venue, VenueProtocol};
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

#[path = "support/binance_contenders.rs"]
mod contenders;

fn normalizer() -> Normalizer {
    let mut n = Normalizer::new();
    // First call outside the measurement (lazy state, page faults).
    let _ = contenders::md(&mut n, TRADE);
    n
}

// One Binance frame through our `md` normalizer (to `md::Msg`s, exact decimals).
#[library_benchmark]
#[bench::trade(normalizer())]
fn normalize_trade(mut n: Normalizer) -> (bool, Normalizer) {
    let ok = black_box(contenders::md(&mut n, black_box(TRADE))).0;
    (ok, n)
}

fn binance_protocol(frame: &'static str) -> (BinanceProtocol, &'static str) {
    let mut p = contenders::protocol();
    let _ = p.on_frame(frame, 0, &mut |_| ());
    (p, frame)
}

// One Binance frame through the feed protocol (to `Tick`s), as the connection manager runs it.
#[library_benchmark]
#[bench::combined_trade(binance_protocol(contenders::COMBINED_TRADE))]
#[bench::combined_book_ticker(binance_protocol(contenders::COMBINED_BOOK_TICKER))]
fn binance_frame(input: (BinanceProtocol, &'static str)) -> BinanceProtocol {
    let (mut proto, frame) = input;
    let mut last = None;
    let r = proto.on_frame(black_box(frame), 1, &mut |t| last = Some(t));
    black_box((r.is_ok(), last));
    proto
}

// The same frames through a typed serde struct with borrowed fields (decimals converted).
#[library_benchmark]
#[bench::combined_trade(("combined_trade", contenders::COMBINED_TRADE))]
#[bench::combined_book_ticker(("combined_book_ticker", contenders::COMBINED_BOOK_TICKER))]
fn binance_serde_typed(input: (&'static str, &'static str)) -> bool {
    contenders::serde_typed(input.0, black_box(input.1))
}

const BYBIT_TRADE: &str = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}"#;
const OKX_TRADE: &str = r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3","source":"0","seqId":1234}]}"#;
const KRAKEN_TRADE: &str = r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":45283.5,"qty":0.00100000,"ord_type":"limit","trade_id":4665846,"timestamp":"2023-09-25T07:48:36.925533Z"}]}"#;

/// A venue's market-data protocol, warmed with one frame (lazy state, page faults).
fn venue_protocol(
    venue: Venue,
    canonical: &str,
    frame: &'static str,
) -> (Box<dyn VenueProtocol>, &'static str) {
    let mut r = Instruments::new();
    if let Some(spec) =
        InstrumentSpec::from_canonical(venue.as_str(), canonical, dec!(0.01), dec!(0.001))
    {
        r.intern(spec);
    }
    let Some(mut proto) = market_data_protocol(venue, Arc::new(r), ProtocolOptions::default())
    else {
        panic!("{venue} has a market-data protocol");
    };
    proto.on_connect(&mut |_| ());
    let mut n = 0;
    let _ = proto.on_frame(frame, 0, &mut |_| n += 1);
    assert_eq!(n, 1, "{venue}: the warm-up frame is one trade");
    (proto, frame)
}

#[library_benchmark]
#[bench::bybit(venue_protocol(Venue::Bybit, "BTC-USDT", BYBIT_TRADE))]
#[bench::okx(venue_protocol(Venue::Okx, "BTC-USDT", OKX_TRADE))]
#[bench::kraken(venue_protocol(Venue::Kraken, "BTC-USD", KRAKEN_TRADE))]
fn venue_trade_frame(input: (Box<dyn VenueProtocol>, &'static str)) -> Box<dyn VenueProtocol> {
    let (mut proto, frame) = input;
    let mut last = None;
    let r = proto.on_frame(black_box(frame), 1, &mut |t| last = Some(t));
    black_box((r.is_ok(), last));
    proto
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
fn strategy_on_trade(input: (StrategyHost, TradeView)) -> (bool, StrategyHost) {
    let (mut host, t) = input;
    let ok = host.on_trade(black_box(t), 1, 0).is_ok();
    (ok, host)
}

fn risk_setup() -> (RiskGate, OrderIntent, ExposureView) {
    risk_fixture::approving_gate()
}

#[library_benchmark]
#[bench::approve_every_check(risk_setup())]
fn risk_check_order(input: (RiskGate, OrderIntent, ExposureView)) -> (bool, RiskGate) {
    let (mut gate, intent, view) = input;
    let ok = gate
        .check_order(black_box(&intent), black_box(&view))
        .is_ok();
    (ok, gate)
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
fn sign_new_order(input: (BinanceSigner, OrderRequest)) -> (Option<SignedOrder>, BinanceSigner) {
    let (mut s, req) = input;
    let signed = s.sign_new(black_box(&req), 1_700_000_000_000).ok();
    (signed, s)
}

fn stage_setup() -> (StageSet, LatencyHub) {
    (StageSet::new(), LatencyHub::new())
}

#[library_benchmark]
#[bench::core_and_feed(stage_setup())]
fn stage_record(input: (StageSet, LatencyHub)) -> (StageSet, LatencyHub) {
    let (mut set, hub) = input;
    set.record(Stage::TickToOrder, black_box(9_500));
    hub.record_frame(
        black_box(400),
        1_672_515_782_136_000_000,
        1_672_515_782_138_000_000,
    );
    (set, hub)
}

fn crossing_core() -> (CoreFixture, Tick) {
    let mut f = CoreFixture::new();
    let t = f.crossing_trade();
    (f, t)
}

// The core's whole per-order path: a crossing trade through `ema_cross.rhai`, the risk gate,
// signing of the cancel and the new order, and their hand-off.
fn quiet_core() -> (CoreFixture, Tick) {
    let mut f = CoreFixture::new();
    let t = f.same_trade_again();
    (f, t)
}

#[library_benchmark]
#[bench::crossing_trade(crossing_core())]
#[bench::no_cross_baseline(quiet_core())]
fn core_tick_to_order(input: (CoreFixture, Tick)) -> CoreFixture {
    let (mut f, t) = input;
    f.core.on_tick(black_box(t));
    f
}

library_benchmark_group!(
    name = hot_path;
    benchmarks = normalize_trade, binance_frame, binance_serde_typed, venue_trade_frame, strategy_on_trade, risk_check_order, sign_new_order, stage_record,
        core_tick_to_order
);

main!(library_benchmark_groups = hot_path);
