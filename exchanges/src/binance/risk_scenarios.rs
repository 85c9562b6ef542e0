//! Scenario tests of reconciliation, rate limits and clock skew against the real simulator on
//! 127.0.0.1, with the real REST client, signer, gateway and the engine's order tracker.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use peregrine_engine::events::OrderStatus;
use peregrine_engine::gateway::{OrderSigner, SignedOrder};
use peregrine_engine::order::{
    ClientOrderId, ExecKind, ExecReport, OrderIntent, OrderRequest, OrderType, TimeInForce,
};
use peregrine_engine::orders::{ExecOutcome, OrderTracker};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::clock_skew::{measure, AlarmFn, ClockSkewConfig};
use super::errors::{classify, BinanceError};
use super::gateway::{run_gateway, GatewayConfig};
use super::ledger::ExecLedger;
use super::reconcile::Reconciler;
use super::rest::{BinanceRest, RestError};
use super::signer::{param, BinanceSigner};
use crate::sim::{spawn, SimConfig, SimHandle};

const RUN: u64 = 0xabc;

struct Env {
    sim: SimHandle,
    rest: BinanceRest,
    signer: BinanceSigner,
    instruments: Arc<Instruments>,
    alarms: Arc<Mutex<Vec<(String, String)>>>,
}

async fn env(recv_window_ms: u64) -> Env {
    let sim = spawn(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    sim.pause_market();
    let creds = ApiCredentials {
        key: Secret::new("sim-api-key".to_string()),
        secret: Secret::new("sim-api-secret".to_string()),
    };
    let rest = BinanceRest::new(
        &sim.rest_base_url(),
        creds.clone(),
        recv_window_ms,
        Duration::from_secs(5),
    )
    .unwrap();
    let mut inst = Instruments::new();
    inst.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001)).unwrap(),
    );
    let instruments = Arc::new(inst);
    let signer = BinanceSigner::new(instruments.clone(), &creds, recv_window_ms)
        .with_clock_offset(rest.clock_offset());
    Env {
        sim,
        rest,
        signer,
        instruments,
        alarms: Arc::default(),
    }
}

impl Env {
    fn alarm_fn(&self) -> AlarmFn {
        let a = self.alarms.clone();
        Arc::new(move |reason, msg| a.lock().unwrap().push((reason.to_string(), msg)))
    }

    fn request(&self, seq: u32, side: Side, price: Decimal, qty: Decimal) -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId { run: RUN, seq },
            intent: OrderIntent {
                strategy: 0,
                instrument: InstrumentId(0),
                side,
                order_type: OrderType::Limit,
                price: Some(price),
                qty,
                tif: TimeInForce::Gtc,
                reduce_only: false,
                post_only: false,
                origin_recv_ns: 0,
            },
        }
    }

    fn sign(&mut self, req: &OrderRequest) -> SignedOrder {
        self.signer
            .sign_new(req, peregrine_engine::clock::Clock::wall_ms())
            .unwrap()
    }

    fn best_ask(&self) -> (Decimal, Decimal) {
        let (_, _, asks) = self.sim.book("BTCUSDT", 1).unwrap();
        asks[0]
    }
}

type GatewayParts = (
    tokio::sync::mpsc::UnboundedSender<SignedOrder>,
    crossbeam_channel::Receiver<ExecReport>,
    tokio::task::JoinHandle<super::gateway::GatewayStats>,
);

/// The real gateway on `rest`: (order sender, exec reports, task).
fn gateway(rest: &BinanceRest) -> GatewayParts {
    let (gw_tx, gw_rx) = tokio::sync::mpsc::unbounded_channel();
    let (exec_tx, exec_rx) = crossbeam_channel::unbounded();
    let gw = tokio::spawn(run_gateway(
        rest.clone(),
        gw_rx,
        exec_tx,
        Arc::new(ExecLedger::default()),
        GatewayConfig::default(),
    ));
    (gw_tx, exec_rx, gw)
}

fn drain(rx: &crossbeam_channel::Receiver<ExecReport>) -> Vec<ExecReport> {
    rx.try_iter().collect()
}

/// A fill made while no user stream is connected (the state right after a disconnect) is
/// found by reconciliation and applied exactly once; it arrives before the ack (fill-before-
/// ack), and a second pass and a re-delivery add nothing.
#[tokio::test]
async fn missed_fill_is_recovered_once_and_fill_before_ack_is_handled() {
    let mut e = env(5000).await;
    let since = e.rest.sync_time().await.map(|_| e.rest.now_ms()).unwrap() - 1000;
    let (ask, _) = e.best_ask();
    let req = e.request(1, Side::Buy, ask, dec!(0.001));
    let signed = e.sign(&req);
    e.rest.send_signed(&signed).await.unwrap();
    let ledger = e.sim.ledger();
    assert_eq!(ledger.len(), 1, "crossing order filled at the venue");

    let (tx, rx) = crossbeam_channel::unbounded();
    let mut rec = Reconciler::new(
        e.rest.clone(),
        e.instruments.clone(),
        RUN,
        since,
        tx,
        e.alarm_fn(),
    );
    let mut tracker = OrderTracker::new(1, 1);
    tracker.insert(req, 0);
    let first = rec.run_once().await.unwrap();
    assert_eq!(
        (first.fills_forwarded, first.issues.len()),
        (1, 0),
        "{first:?}"
    );
    let reports = drain(&rx);
    assert!(
        matches!(reports[0].kind, ExecKind::Fill(_)),
        "fill first, then the ack"
    );
    let mut fills = 0;
    for r in &reports {
        if let ExecOutcome::Applied { fill: Some(f), .. } = tracker.apply(r) {
            assert_eq!(
                (f.trade_id, f.qty, f.price),
                (ledger[0].trade_id, dec!(0.001), ask)
            );
            fills += 1;
        }
    }
    assert_eq!(fills, 1);
    let o = tracker.get(&req.client_order_id).unwrap();
    assert_eq!((o.status, o.filled), (OrderStatus::Filled, dec!(0.001)));
    assert_eq!(o.venue_order_id, Some(ledger[0].order_id));
    // The user stream delivering it late, or a second pass: nothing more is booked.
    for r in &reports {
        if matches!(r.kind, ExecKind::Fill(_)) {
            assert_eq!(tracker.apply(r), ExecOutcome::DuplicateFill);
        }
    }
    let second = rec.run_once().await.unwrap();
    assert_eq!((second.fills_forwarded, second.states_forwarded), (0, 0));
    assert!(second.issues.is_empty(), "balances agree: {second:?}");
    e.sim.shutdown().await;
}

/// Partial fill, then cancel: reconciliation reports the partial fill (with what is left) and
/// the cancel; the tracker ends Cancelled with the partial quantity filled.
#[tokio::test]
async fn partial_fill_then_cancel() {
    let mut e = env(5000).await;
    e.rest.sync_time().await.unwrap();
    let since = e.rest.now_ms() - 1000;
    let (ask, ask_qty) = e.best_ask();
    let qty = ask_qty + dec!(0.002);
    let req = e.request(7, Side::Buy, ask, qty);
    let signed = e.sign(&req);
    e.rest.send_signed(&signed).await.unwrap();
    assert_eq!(e.sim.open_orders().len(), 1, "the rest of the order rests");
    let cancel = e
        .signer
        .sign_cancel(
            req.client_order_id,
            InstrumentId(0),
            Side::Buy,
            peregrine_engine::clock::Clock::wall_ms(),
        )
        .unwrap();
    e.rest.send_signed(&cancel).await.unwrap();
    assert!(e.sim.open_orders().is_empty());

    let (tx, rx) = crossbeam_channel::unbounded();
    let mut rec = Reconciler::new(
        e.rest.clone(),
        e.instruments.clone(),
        RUN,
        since,
        tx,
        e.alarm_fn(),
    );
    let mut tracker = OrderTracker::new(1, 1);
    tracker.insert(req, 0);
    rec.run_once().await.unwrap();
    let reports = drain(&rx);
    let mut leaves = Vec::new();
    for r in &reports {
        if let ExecKind::Fill(f) = &r.kind {
            leaves.push(f.leaves_qty);
        }
        tracker.apply(r);
    }
    assert_eq!(leaves.last().copied(), Some(dec!(0.002)));
    let o = tracker.get(&req.client_order_id).unwrap();
    assert_eq!((o.status, o.filled), (OrderStatus::Cancelled, ask_qty));
    assert_eq!(tracker.working_count(), 0);
    e.sim.shutdown().await;
}

/// HTTP 429 with Retry-After: the order is reported rejected with Binance's code, the next
/// order is refused locally until Retry-After has passed, then orders flow again; a 418 is
/// typed as an IP ban with its Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_429_with_retry_after_is_honoured() {
    let mut e = env(5000).await;
    e.rest.sync_time().await.unwrap();
    let (ask, _) = e.best_ask();
    let far = ask - dec!(1000);
    let (gw_tx, exec_rx, gw) = gateway(&e.rest);
    let next = |rx: &crossbeam_channel::Receiver<ExecReport>| {
        rx.recv_timeout(Duration::from_secs(5)).unwrap().kind
    };
    e.sim.inject_rate_limit(429, 1, 1);
    gw_tx
        .send(e.sign(&e.request(1, Side::Buy, far, dec!(0.001))))
        .unwrap();
    let k = next(&exec_rx);
    assert!(
        matches!(&k, ExecKind::Rejected { code: -1003, reason } if reason.contains("429")),
        "{k:?}"
    );
    gw_tx
        .send(e.sign(&e.request(2, Side::Buy, far, dec!(0.001))))
        .unwrap();
    let k = next(&exec_rx);
    assert!(
        matches!(&k, ExecKind::Rejected { code: 0, reason } if reason.contains("Retry-After")),
        "{k:?}"
    );
    assert!(
        e.sim.open_orders().is_empty(),
        "nothing was sent during the block"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    gw_tx
        .send(e.sign(&e.request(3, Side::Buy, far, dec!(0.001))))
        .unwrap();
    assert!(matches!(next(&exec_rx), ExecKind::Ack { .. }));
    assert_eq!(e.sim.open_orders().len(), 1);

    e.sim.inject_rate_limit(418, 120, 1);
    let err = e.rest.server_time().await.unwrap_err();
    let c = classify(&err);
    assert_eq!(c.rate_limit_status, Some(418));
    assert_eq!(c.retry_after, Some(Duration::from_secs(120)));
    assert_eq!(c.error, Some(BinanceError::TooManyRequests));
    drop(gw_tx);
    gw.await.unwrap();
    e.sim.shutdown().await;
}

/// The venue's clock 2 s ahead with a 1 s recvWindow: unsynced signed requests get -1021; the
/// measurement finds the offset, raises the alarm, and signed requests (REST and the signer's
/// orders) then pass. The gateway resyncs by itself on -1021.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_offset_of_two_seconds_is_measured_applied_and_alarmed() {
    let mut e = env(1000).await;
    e.sim.set_clock_offset_ms(2000);
    let err = e.rest.open_orders("BTCUSDT").await.unwrap_err();
    assert!(matches!(err, RestError::Api { code: -1021, .. }), "{err:?}");
    let offset = measure(&e.rest, &ClockSkewConfig::default(), &e.alarm_fn())
        .await
        .unwrap();
    assert!((1900..=2100).contains(&offset), "offset {offset}");
    assert_eq!(e.alarms.lock().unwrap()[0].0, "clock_skew");
    assert!(e.rest.open_orders("BTCUSDT").await.unwrap().is_empty());
    let (ask, _) = e.best_ask();
    let req = e.request(1, Side::Buy, ask - dec!(500), dec!(0.001));
    let signed = e.sign(&req);
    e.rest.send_signed(&signed).await.unwrap();
    assert_eq!(e.sim.open_orders().len(), 1);

    // The venue's clock jumps; the gateway's order gets -1021, it resyncs, the next passes.
    e.sim.set_clock_offset_ms(-3000);
    let (gw_tx, exec_rx, gw) = gateway(&e.rest);
    gw_tx
        .send(e.sign(&e.request(2, Side::Buy, ask - dec!(500), dec!(0.001))))
        .unwrap();
    let k = exec_rx.recv_timeout(Duration::from_secs(5)).unwrap().kind;
    assert!(matches!(k, ExecKind::Rejected { code: -1021, .. }), "{k:?}");
    gw_tx
        .send(e.sign(&e.request(3, Side::Buy, ask - dec!(500), dec!(0.001))))
        .unwrap();
    let k = exec_rx.recv_timeout(Duration::from_secs(5)).unwrap().kind;
    assert!(matches!(k, ExecKind::Ack { .. }), "{k:?}");
    assert!((-3100..=-2900).contains(
        &e.rest
            .clock_offset()
            .load(std::sync::atomic::Ordering::Relaxed)
    ));
    drop(gw_tx);
    gw.await.unwrap();
    e.sim.shutdown().await;
}

/// Reports from `rx` until `done` holds for what has arrived (10 s at most).
async fn reports_until(
    rx: &crossbeam_channel::Receiver<ExecReport>,
    got: &mut Vec<ExecReport>,
    done: impl Fn(&[ExecReport]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(got) {
        assert!(tokio::time::Instant::now() < deadline, "{got:#?}");
        got.extend(rx.try_iter());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn has(got: &[ExecReport], seq: u32, want: impl Fn(&ExecKind) -> bool) -> bool {
    got.iter()
        .any(|r| r.client_order_id.seq == seq && want(&r.kind))
}

/// Cancel-replace through the real gateway and simulator, over REST and over the WebSocket
/// API: success (new order acked, the old one gone), a cancel half that fails (`-2022`: old
/// order `CancelRejected`, new one `Rejected`, nothing placed) and a new half that fails
/// (`-2021`: only the new order `Rejected`; the old one is cancelled at the venue).
async fn cancel_replace_scenario(ws_api: bool) {
    let mut e = env(5000).await;
    e.rest.sync_time().await.unwrap();
    let (_, bids, _) = e.sim.book("BTCUSDT", 1).unwrap();
    let bid = bids[0].0;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (gw_tx, exec_rx, gw, ws_task) = if ws_api {
        use super::gateway::OrderTransport;
        use super::ws_api::{spawn_ws_api, WsApiConfig, WsApiParts, WsAuth};
        let d = SimConfig::default();
        let (exec_tx, exec_rx) = crossbeam_channel::unbounded();
        let ledger = Arc::new(ExecLedger::default());
        let (api, task) = spawn_ws_api(
            WsApiParts {
                cfg: WsApiConfig::new(e.sim.ws_api_url()),
                auth: WsAuth {
                    keys: e.rest.keys().clone(),
                    clock_offset_ms: e.rest.clock_offset(),
                },
                instruments: e.instruments.clone(),
                exec_tx: exec_tx.clone(),
                ledger: ledger.clone(),
                usage: None,
            },
            stop_rx,
        );
        let mut ready = api.ready();
        tokio::time::timeout(Duration::from_secs(5), ready.wait_for(|r| *r))
            .await
            .unwrap()
            .unwrap();
        let key = Some(Secret::new(d.api_key.clone()));
        e.signer = BinanceSigner::new(
            e.instruments.clone(),
            &ApiCredentials {
                key: Secret::new(d.api_key.clone()),
                secret: Secret::new(d.api_secret.clone()),
            },
            5000,
        )
        .with_clock_offset(e.rest.clock_offset())
        .ws_api(key.clone());
        let (gw_tx, gw_rx) = tokio::sync::mpsc::unbounded_channel();
        let gw = tokio::spawn(run_gateway(
            OrderTransport::ws_api(e.rest.clone(), api),
            gw_rx,
            exec_tx,
            ledger,
            GatewayConfig::default(),
        ));
        (gw_tx, exec_rx, gw, Some(task))
    } else {
        let (gw_tx, exec_rx, gw) = gateway(&e.rest);
        (gw_tx, exec_rx, gw, None)
    };
    let now = peregrine_engine::clock::Clock::wall_ms;
    let id = |seq| ClientOrderId { run: RUN, seq };
    let mut got = Vec::new();

    let first = e.request(1, Side::Buy, bid - dec!(100), dec!(0.001));
    gw_tx.send(e.sign(&first)).unwrap();
    reports_until(&exec_rx, &mut got, |g| {
        has(g, 1, |k| matches!(k, ExecKind::Ack { .. }))
    })
    .await;

    let second = e.request(2, Side::Buy, bid - dec!(101), dec!(0.001));
    let signed = e.signer.sign_replace(id(1), &second, now()).unwrap();
    assert_eq!(signed.path, super::signer::CANCEL_REPLACE_PATH);
    assert_eq!(
        param(&signed.params, "cancelReplaceMode"),
        Some("STOP_ON_FAILURE")
    );
    assert_eq!(
        param(&signed.params, "cancelOrigClientOrderId"),
        Some(id(1).to_string().as_str())
    );
    gw_tx.send(signed).unwrap();
    reports_until(&exec_rx, &mut got, |g| {
        has(g, 2, |k| matches!(k, ExecKind::Ack { .. }))
    })
    .await;
    assert_eq!(
        e.sim.open_orders(),
        vec![("BTCUSDT".to_string(), id(2).to_string())]
    );

    // Order 1 is gone: the cancel half fails, nothing is placed.
    let third = e.request(3, Side::Buy, bid - dec!(102), dec!(0.001));
    gw_tx
        .send(e.signer.sign_replace(id(1), &third, now()).unwrap())
        .unwrap();
    reports_until(&exec_rx, &mut got, |g| {
        has(g, 3, |k| {
            matches!(k, ExecKind::Rejected { code: -2022, .. })
        }) && has(g, 1, |k| {
            matches!(k, ExecKind::CancelRejected { code: -2022, .. })
        })
    })
    .await;

    // The cancel half succeeds, the new order is refused (balance): only order 4 is rejected.
    let fourth = e.request(4, Side::Buy, bid - dec!(103), dec!(9000));
    gw_tx
        .send(e.signer.sign_replace(id(2), &fourth, now()).unwrap())
        .unwrap();
    reports_until(&exec_rx, &mut got, |g| {
        has(g, 4, |k| {
            matches!(k, ExecKind::Rejected { code: -2021, .. })
        })
    })
    .await;
    assert!(e.sim.open_orders().is_empty(), "order 2 was cancelled");
    drop(gw_tx);
    let stats = gw.await.unwrap();
    got.extend(exec_rx.try_iter());
    assert!(
        !has(&got, 2, |k| matches!(k, ExecKind::CancelRejected { .. })),
        "{got:#?}"
    );
    assert!(!has(&got, 3, |k| matches!(k, ExecKind::Ack { .. })));
    assert_eq!((stats.new_orders, stats.cancels), (4, 3), "{stats:?}");
    if ws_api {
        assert_eq!(stats.via_ws_api, 4, "{stats:?}");
        // The user data stream reports both cancels.
        reports_until(&exec_rx, &mut got, |g| {
            has(g, 1, |k| *k == ExecKind::Cancelled) && has(g, 2, |k| *k == ExecKind::Cancelled)
        })
        .await;
    }
    let _ = stop_tx.send(true);
    if let Some(t) = ws_task {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    e.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_replace_over_rest() {
    cancel_replace_scenario(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_replace_over_the_websocket_api() {
    cancel_replace_scenario(true).await;
}
