//! Per-callback cost of the strategy layer: an empty `on_trade`, one `on_trade` of the shipped
//! `strategies/ema_cross.rhai`, and the same EMA-cross logic written in native Rust (the
//! baseline: f64 EMAs, signal change, exact target/delta, tick rounding, an order intent into
//! the same action vector). The ratio is the cost of the script layer.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::config::StrategyConfig;
use peregrine_engine::indicators::Ema;
use peregrine_engine::order::{ClientOrderId, OrderIntent, OrderType, TimeInForce};
use peregrine_engine::strategy::{
    params_to_map, round_price, round_qty, InstrumentView, StrategyAction, StrategyHost,
    StrategyLimits, TradeView,
};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// `ema_cross.rhai`'s `on_trade`, natively.
struct NativeEmaCross {
    fast: Ema,
    slow: Ema,
    signal: i64,
    qty: Decimal,
    seq: u32,
}

impl NativeEmaCross {
    fn on_trade(&mut self, price: Decimal, view: &InstrumentView, out: &mut Vec<StrategyAction>) {
        let p = price.to_f64().unwrap_or_default();
        let f = self.fast.update(p);
        let s = self.slow.update(p);
        if !self.slow.ready() {
            return;
        }
        let signal = if f > s {
            1
        } else if f < s {
            -1
        } else {
            self.signal
        };
        if signal == self.signal {
            return;
        }
        self.signal = signal;
        let delta = self.qty * Decimal::from(signal) - view.position;
        if delta.is_zero() {
            return;
        }
        out.push(StrategyAction::CancelAll(InstrumentId(0)));
        let (side, touch) = if delta > Decimal::ZERO {
            (Side::Buy, view.best_ask)
        } else {
            (Side::Sell, view.best_bid)
        };
        let Some(px) = touch else { return };
        self.seq += 1;
        out.push(StrategyAction::Place(
            ClientOrderId {
                run: 0,
                seq: self.seq,
            },
            OrderIntent {
                strategy: 0,
                instrument: InstrumentId(0),
                side,
                order_type: OrderType::Limit,
                price: Some(round_price(px, dec!(0.01), side)),
                qty: round_qty(delta.abs(), dec!(0.00001)),
                tif: TimeInForce::Gtc,
                reduce_only: false,
                post_only: false,
                origin_recv_ns: 1,
            },
        ));
    }
}

fn bench(c: &mut Criterion) {
    let mut instruments = Instruments::new();
    let id = instruments.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
            .expect("valid symbol"),
    );
    let mut params = BTreeMap::new();
    params.insert("qty".to_string(), toml::Value::String("0.001".into()));
    let cfg = StrategyConfig {
        name: "ema_cross".into(),
        file: Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai"),
        instruments: vec!["BTC-USDT".into()],
        params,
        ..Default::default()
    };
    let view = InstrumentView {
        best_bid: Some(dec!(60000)),
        best_ask: Some(dec!(60000.01)),
        ..Default::default()
    };
    let mut host = StrategyHost::load(0, &cfg, &instruments, StrategyLimits::default())
        .expect("ema_cross loads");
    host.set_view(id, view);
    let mut empty = StrategyHost::from_source(
        1,
        "empty",
        Path::new("empty.rhai"),
        "fn on_trade(t) { }",
        &instruments,
        &[id],
        params_to_map(&BTreeMap::new()),
        StrategyLimits::default(),
    )
    .expect("empty strategy loads");
    // A gently oscillating price: crosses happen, as in a real run.
    let prices: Vec<Decimal> = (0..1024)
        .map(|i| dec!(60000) + Decimal::from((i % 64) as i64 - 32) * dec!(0.01))
        .collect();
    let trade = |price| TradeView {
        instrument: InstrumentId(0),
        symbol: "BTC-USDT".into(),
        price,
        qty: dec!(0.01),
        side: Side::Buy,
        trade_id: 1,
        exch_ts_ns: 0,
    };
    let mut actions = Vec::with_capacity(64);
    let mut g = c.benchmark_group("strategy");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let mut i = 0usize;
    g.bench_function("empty_on_trade", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            empty
                .on_trade(trade(prices[i]), 1, 0)
                .expect("callback succeeds");
        })
    });
    g.bench_function("ema_cross_on_trade", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            host.on_trade(trade(prices[i]), 1, 0)
                .expect("callback succeeds");
            host.drain_actions(&mut actions);
            actions.clear();
        })
    });
    let mut native = NativeEmaCross {
        fast: Ema::new(8),
        slow: Ema::new(21),
        signal: 0,
        qty: dec!(0.001),
        seq: 0,
    };
    g.bench_function("baseline_native_ema_cross", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            native.on_trade(black_box(prices[i]), &view, &mut actions);
            actions.clear();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
