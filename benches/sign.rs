//! Build + sign a Binance new-order request (`BinanceSigner::sign_new`) vs a baseline of the
//! HMAC-SHA256 alone over the same payload bytes, measured in the same run; plus the same
//! request with an Ed25519 key (REST form), in the WebSocket API form with HMAC (signed
//! params), and in the WebSocket API form on an Ed25519 `session.logon` session (no signature).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::gateway::OrderSigner;
use peregrine_engine::order::{ClientOrderId, OrderIntent, OrderRequest, OrderType, TimeInForce};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use peregrine_exchanges::binance::sign::{self, ApiKeySigner};
use peregrine_exchanges::binance::signer::{split_signature, BinanceSigner};
use rust_decimal_macros::dec;

const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

fn bench(c: &mut Criterion) {
    let mut r = Instruments::new();
    if let Some(spec) =
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
    {
        r.intern(spec);
    }
    let creds = ApiCredentials {
        key: Secret::new("key"),
        secret: Secret::new(SECRET),
    };
    let instruments = Arc::new(r);
    let mut signer = BinanceSigner::new(instruments.clone(), &creds, 5000);
    let req = OrderRequest {
        client_order_id: ClientOrderId {
            run: 0x6560_0000,
            seq: 1234,
        },
        intent: OrderIntent {
            strategy: 0,
            instrument: InstrumentId(0),
            side: Side::Buy,
            order_type: OrderType::Limit,
            price: Some(dec!(43000.10)),
            qty: dec!(0.00150),
            tif: TimeInForce::Gtc,
            reduce_only: false,
            post_only: false,
            origin_recv_ns: 0,
        },
    };
    let wall_ms = 1_700_000_000_000;
    let payload = match signer.sign_new(&req, wall_ms) {
        Ok(o) => split_signature(&o.params)
            .map(|(p, _)| p.to_string())
            .unwrap_or_default(),
        Err(e) => panic!("bench order must sign: {e}"),
    };
    let mut g = c.benchmark_group("sign/new_order");
    g.bench_function("peregrine_build_and_sign", |b| {
        b.iter(|| {
            black_box(
                signer
                    .sign_new(black_box(&req), wall_ms)
                    .map(|o| o.params.len()),
            )
        })
    });
    let mut out = String::with_capacity(64);
    g.bench_function("baseline_hmac_only", |b| {
        b.iter(|| {
            out.clear();
            sign::sign_into(SECRET.as_bytes(), black_box(payload.as_bytes()), &mut out);
            black_box(out.len())
        })
    });
    let (pem, _) = match sign::generate_ed25519() {
        Ok(k) => k,
        Err(e) => panic!("bench key: {e}"),
    };
    let ed = match ApiKeySigner::ed25519_from_pem(pem.expose()) {
        Ok(k) => k,
        Err(e) => panic!("bench key: {e}"),
    };
    let mut ed_rest = BinanceSigner::with_key(instruments.clone(), ed.clone(), 5000);
    g.bench_function("ed25519_rest_build_and_sign", |b| {
        b.iter(|| {
            black_box(
                ed_rest
                    .sign_new(black_box(&req), wall_ms)
                    .map(|o| o.params.len()),
            )
        })
    });
    let mut hmac_ws =
        BinanceSigner::new(instruments.clone(), &creds, 5000).ws_api(Some(Secret::new("key")));
    g.bench_function("hmac_ws_api_build_and_sign", |b| {
        b.iter(|| {
            black_box(
                hmac_ws
                    .sign_new(black_box(&req), wall_ms)
                    .map(|o| o.params.len()),
            )
        })
    });
    let mut ed_session = BinanceSigner::with_key(instruments, ed, 5000).ws_api(None);
    g.bench_function("ed25519_ws_api_session_build", |b| {
        b.iter(|| {
            black_box(
                ed_session
                    .sign_new(black_box(&req), wall_ms)
                    .map(|o| o.params.len()),
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
