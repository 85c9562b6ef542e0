//! Network tests: the feed, the gateway (REST and WebSocket API) and the User Data Stream on
//! the WebSocket API against tiny local axum servers on 127.0.0.1 (no simulator, no outside
//! network).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use peregrine_engine::gateway::OrderSigner;
use peregrine_engine::order::{
    ClientOrderId, ExecKind, ExecReport, OrderIntent, OrderRequest, OrderType, TimeInForce,
};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::tick::{Tick, TickKind};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use rust_decimal_macros::dec;
use tokio::sync::watch;

use super::feed::{run_feed_with_stats, FeedConfig, FeedStats};
use super::gateway::OrderTransport;
use super::gateway::{run_gateway, GatewayConfig};
use super::ledger::ExecLedger;
use super::rest::BinanceRest;
use super::sign;
use super::signer::{param, split_signature, BinanceSigner};
use super::ws_api::{spawn_ws_api, WsApiConfig, WsApiParts, WsAuth};

const SECRET: &str = "test-secret";
const KEY: &str = "test-key";

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("127.0.0.1:{}", addr.port())
}

fn registry() -> Arc<Instruments> {
    let mut r = Instruments::new();
    r.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001)).unwrap(),
    );
    Arc::new(r)
}

fn creds() -> ApiCredentials {
    ApiCredentials {
        key: Secret::new(KEY),
        secret: Secret::new(SECRET),
    }
}

fn depth(first: u64, last: u64) -> String {
    format!(
        r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":1700000000000,"s":"BTCUSDT","U":{first},"u":{last},"b":[["100.{last}","1"]],"a":[["101.5","2"],["102","0"]]}}}}"#
    )
}

const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000001,"s":"BTCUSDT","t":5,"p":"100.5","q":"0.25","T":1700000000000,"m":true,"M":true}}"#;
const QUOTE: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":400,"s":"BTCUSDT","b":"100.1","B":"3","a":"100.2","A":"4"}}"#;

// ---------------------------------------------------------------------------------------------
// Feed

struct FeedSrv {
    connections: AtomicUsize,
    snapshots: Mutex<Vec<u64>>,
    pong: AtomicBool,
    script: Vec<Vec<(u64, String)>>,
}

async fn feed_ws(ws: WebSocketUpgrade, State(s): State<Arc<FeedSrv>>) -> Response {
    ws.on_upgrade(move |socket| feed_conn(socket, s))
}

async fn feed_conn(mut socket: WebSocket, s: Arc<FeedSrv>) {
    let n = s.connections.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        let _ = socket.send(Message::Ping(Bytes::from_static(b"hb"))).await;
        if let Ok(Some(Ok(Message::Pong(p)))) =
            tokio::time::timeout(Duration::from_secs(2), socket.recv()).await
        {
            s.pong.store(&p[..] == b"hb", Ordering::SeqCst);
        }
    }
    let Some(script) = s.script.get(n) else {
        // Later connections: stay open quietly.
        while let Some(Ok(_)) = socket.recv().await {}
        return;
    };
    for (delay_ms, frame) in script {
        tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
        if socket
            .send(Message::Text(frame.clone().into()))
            .await
            .is_err()
        {
            return;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = socket.send(Message::Close(None)).await;
}

async fn feed_depth(State(s): State<Arc<FeedSrv>>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    assert!(
        q.contains("symbol=BTCUSDT") && q.contains("limit=50"),
        "{q}"
    );
    let mut snaps = s.snapshots.lock().unwrap();
    let last = if snaps.len() > 1 {
        snaps.remove(0)
    } else {
        snaps[0]
    };
    let body = format!(
        r#"{{"lastUpdateId":{last},"bids":[["100","1"],["99","2"]],"asks":[["101","3"]]}}"#
    );
    ([("content-type", "application/json")], body).into_response()
}

async fn collect_until(
    rx: &crossbeam_channel::Receiver<Tick>,
    out: &mut Vec<Tick>,
    done: impl Fn(&[Tick]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done(out) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out; got {}",
            describe(out).join(" ")
        );
        out.extend(rx.try_iter());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn describe(ticks: &[Tick]) -> Vec<String> {
    ticks
        .iter()
        .map(|t| match t.kind {
            TickKind::Trade(_) => "trade".to_string(),
            TickKind::Quote(_) => "quote".to_string(),
            TickKind::BookDelta(d) if d.flags & 2 != 0 => "S".to_string(),
            TickKind::BookDelta(d) => format!("d{}", d.seq),
            TickKind::BookSnapshot { seq } => format!("snap{seq}"),
            TickKind::Status(s) => format!("{s:?}"),
        })
        .collect()
}

fn compact(v: Vec<String>) -> Vec<String> {
    let mut v = v;
    v.dedup();
    v
}

fn feed_cfg(addr: &str) -> FeedConfig {
    let mut cfg = FeedConfig::new(format!("ws://{addr}"), format!("http://{addr}"));
    cfg.depth_limit = 50;
    cfg.reconnect_min = Duration::from_millis(20);
    cfg.reconnect_max = Duration::from_millis(100);
    cfg.refetch_delay = Duration::from_millis(20);
    cfg
}

#[tokio::test]
async fn feed_normalizes_syncs_detects_gaps_and_reconnects() {
    let srv = Arc::new(FeedSrv {
        connections: AtomicUsize::new(0),
        snapshots: Mutex::new(vec![103, 125, 130]),
        pong: AtomicBool::new(false),
        script: vec![
            vec![
                (0, r#"{"result":null,"id":1}"#.to_string()),
                (0, depth(101, 105)),
                (0, depth(106, 110)),
                (0, TRADE.to_string()),
                (0, QUOTE.to_string()),
                (
                    0,
                    r#"{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","p":"x"}}"#
                        .to_string(),
                ),
                (300, depth(115, 120)), // 111..114 missing: gap
                (300, depth(126, 128)), // after the resync: applied live
            ],
            vec![(200, depth(130, 131))],
        ],
    });
    let app = Router::new()
        .route("/stream", get(feed_ws))
        .route("/api/v3/depth", get(feed_depth))
        .with_state(srv.clone());
    let addr = serve(app).await;
    let (tx, rx) = crossbeam_channel::bounded(1024);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stats = Arc::new(FeedStats::default());
    let task = tokio::spawn(run_feed_with_stats(
        feed_cfg(&addr),
        registry(),
        tx,
        stop_rx,
        stats.clone(),
    ));

    let mut got = Vec::new();
    collect_until(&rx, &mut got, |t| {
        describe(t).iter().filter(|s| *s == "Resynced").count() >= 2
    })
    .await;
    stop_tx.send_replace(true);
    let final_stats = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();

    let seq = compact(describe(&got));
    let book: Vec<String> = seq
        .iter()
        .filter(|s| !matches!(s.as_str(), "trade" | "quote"))
        .cloned()
        .collect();
    assert_eq!(
        book,
        [
            "Connected",
            "snap103",
            "S",
            "d105",
            "d110",
            "Stale",
            "snap125",
            "S",
            "Resynced",
            "d128",
            "Disconnected",
            "Connected",
            "snap130",
            "S",
            "d131",
            "Resynced",
        ],
        "{seq:?}"
    );
    let trade = got.iter().find_map(|t| match t.kind {
        TickKind::Trade(tr) => Some((tr, t.exch_ts_ns, t.recv_ns)),
        _ => None,
    });
    let (tr, exch, recv) = trade.unwrap();
    assert_eq!(
        (tr.price, tr.qty, tr.side, tr.trade_id),
        (dec!(100.5), dec!(0.25), Side::Sell, 5)
    );
    assert_eq!(exch, 1_700_000_000_000_000_000);
    assert!(recv > 0);
    assert!(got
        .iter()
        .any(|t| matches!(t.kind, TickKind::Quote(q) if q.update_id == 400)));
    assert!(
        srv.pong.load(Ordering::SeqCst),
        "ping answered with the same payload"
    );
    assert_eq!(final_stats.malformed, 1);
    assert_eq!(final_stats.control, 1);
    assert_eq!(final_stats.reconnects, 1);
    assert_eq!(final_stats.resyncs, 2);
    assert_eq!(final_stats.dropped, 0);
    assert_eq!(
        final_stats.ticks as usize,
        got.len() + rx.try_iter().count()
    );
    assert_eq!(final_stats.frames, 9);
}

#[tokio::test]
async fn full_queue_is_counted_marks_book_stale_and_resyncs() {
    let srv = Arc::new(FeedSrv {
        connections: AtomicUsize::new(0),
        snapshots: Mutex::new(vec![103, 113]),
        pong: AtomicBool::new(false),
        script: vec![vec![
            (0, depth(101, 105)),
            (0, depth(106, 110)),
            (700, depth(111, 115)),
        ]],
    });
    let app = Router::new()
        .route("/stream", get(feed_ws))
        .route("/api/v3/depth", get(feed_depth))
        .with_state(srv.clone());
    let addr = serve(app).await;
    // The first sync is 11 ticks (Connected, snapshot, 3 levels, 2 x 3 deltas) and nobody reads
    // until something is dropped: the last delta is lost. The resync (9 ticks) fits.
    let (tx, rx) = crossbeam_channel::bounded(10);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stats = Arc::new(FeedStats::default());
    let task = tokio::spawn(run_feed_with_stats(
        feed_cfg(&addr),
        registry(),
        tx,
        stop_rx,
        stats.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stats.snapshot().dropped == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nothing dropped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut got: Vec<Tick> = Vec::new();
    collect_until(&rx, &mut got, |t| {
        describe(t).iter().any(|s| s == "Resynced")
    })
    .await;
    stop_tx.send_replace(true);
    let s = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    let seq = compact(describe(&got));
    assert_eq!(
        seq,
        [
            "Connected",
            "snap103",
            "S",
            "d105",
            "d110",
            "Stale",
            "snap113",
            "S",
            "d115",
            "Resynced"
        ],
        "{seq:?}"
    );
    assert_eq!((s.dropped, s.resyncs), (1, 1), "{s:?}");
}

// ---------------------------------------------------------------------------------------------
// Gateway

#[derive(Default)]
struct GwSrv {
    posts: AtomicU64,
    deletes: AtomicU64,
    queries: AtomicU64,
}

/// `Some(401 response)` unless the API key header and the signature are right.
fn verify_signed(headers: &HeaderMap, params: &str) -> Option<Response> {
    let key_ok = headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok()) == Some(KEY);
    let sig_ok = split_signature(params)
        .is_some_and(|(p, s)| sign::verify(SECRET.as_bytes(), p.as_bytes(), s));
    if key_ok && sig_ok {
        None
    } else {
        Some(
            (
                StatusCode::UNAUTHORIZED,
                r#"{"code":-1022,"msg":"Signature for this request is not valid."}"#,
            )
                .into_response(),
        )
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

async fn gw_post(State(s): State<Arc<GwSrv>>, headers: HeaderMap, body: String) -> Response {
    s.posts.fetch_add(1, Ordering::SeqCst);
    if let Some(r) = verify_signed(&headers, &body) {
        return r;
    }
    let coid = param(&body, "newClientOrderId")
        .unwrap_or_default()
        .to_string();
    match coid.rsplit('-').next().unwrap_or("") {
        "1" | "7" => json(
            StatusCode::OK,
            format!(
                r#"{{"symbol":"BTCUSDT","orderId":11,"orderListId":-1,"clientOrderId":"{coid}","transactTime":1,"status":"NEW"}}"#
            ),
        ),
        "2" => json(
            StatusCode::BAD_REQUEST,
            r#"{"code":-1013,"msg":"Filter failure: LOT_SIZE"}"#.to_string(),
        ),
        "3" => (StatusCode::INTERNAL_SERVER_ERROR, "upstream broke").into_response(),
        "4" => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        "5" => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2"), ("content-type", "application/json")],
            r#"{"code":-1003,"msg":"Too many requests."}"#,
        )
            .into_response(),
        other => panic!("unexpected order {other}"),
    }
}

async fn gw_delete(
    State(s): State<Arc<GwSrv>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    s.deletes.fetch_add(1, Ordering::SeqCst);
    let q = q.unwrap_or_default();
    if let Some(r) = verify_signed(&headers, &q) {
        return r;
    }
    json(
        StatusCode::OK,
        r#"{"symbol":"BTCUSDT","origClientOrderId":"x","orderId":11,"status":"CANCELED"}"#
            .to_string(),
    )
}

async fn gw_query(
    State(s): State<Arc<GwSrv>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    s.queries.fetch_add(1, Ordering::SeqCst);
    let q = q.unwrap_or_default();
    if let Some(r) = verify_signed(&headers, &q) {
        return r;
    }
    let coid = param(&q, "origClientOrderId")
        .unwrap_or_default()
        .to_string();
    if coid.ends_with("-3") {
        json(
            StatusCode::OK,
            format!(
                r#"{{"symbol":"BTCUSDT","orderId":33,"orderListId":-1,"clientOrderId":"{coid}","status":"NEW","side":"SELL"}}"#
            ),
        )
    } else {
        json(
            StatusCode::BAD_REQUEST,
            r#"{"code":-2013,"msg":"Order does not exist."}"#.to_string(),
        )
    }
}

fn order(seq: u32) -> OrderRequest {
    OrderRequest {
        client_order_id: ClientOrderId { run: 0xa, seq },
        intent: OrderIntent {
            strategy: 0,
            instrument: InstrumentId(0),
            side: if seq == 3 { Side::Sell } else { Side::Buy },
            order_type: OrderType::Limit,
            price: Some(dec!(100.10)),
            qty: dec!(0.5),
            tif: TimeInForce::Gtc,
            reduce_only: false,
            post_only: false,
            origin_recv_ns: 1,
        },
    }
}

#[tokio::test]
async fn gateway_reports_every_order_exactly_once() {
    let srv = Arc::new(GwSrv::default());
    let app = Router::new()
        .route(
            "/api/v3/order",
            post(gw_post).delete(gw_delete).get(gw_query),
        )
        .with_state(srv.clone());
    let addr = serve(app).await;
    let rest = BinanceRest::new(
        &format!("http://{addr}"),
        creds(),
        5000,
        Duration::from_secs(5),
    )
    .unwrap();
    let mut signer = BinanceSigner::new(registry(), &creds(), 5000);
    let (gw_tx, gw_rx) = tokio::sync::mpsc::unbounded_channel();
    let (exec_tx, exec_rx) = crossbeam_channel::unbounded::<ExecReport>();
    let ledger = Arc::new(ExecLedger::default());
    // Order 7's ack already came from the user stream.
    assert!(ledger.first_outcome(ClientOrderId { run: 0xa, seq: 7 }));
    let cfg = GatewayConfig {
        query_attempts: 3,
        query_backoff: Duration::from_millis(10),
        ..GatewayConfig::default()
    };
    let task = tokio::spawn(run_gateway(rest, gw_rx, exec_tx, ledger, cfg));
    let now = peregrine_engine::clock::Clock::wall_ms();
    for seq in [1, 2, 3, 4, 7, 8, 5, 6] {
        // Order 8 was signed long ago: past its recvWindow, it must not go out.
        let ts = if seq == 8 { now - 10_000 } else { now };
        gw_tx
            .send(signer.sign_new(&order(seq), ts).unwrap())
            .unwrap();
    }
    gw_tx
        .send(
            signer
                .sign_cancel(
                    ClientOrderId { run: 0xa, seq: 1 },
                    InstrumentId(0),
                    Side::Buy,
                    now,
                )
                .unwrap(),
        )
        .unwrap();
    drop(gw_tx);
    let stats = tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .unwrap()
        .unwrap();
    let reports: Vec<ExecReport> = exec_rx.try_iter().collect();
    let by_seq = |seq: u32| -> Vec<&ExecKind> {
        reports
            .iter()
            .filter(|r| r.client_order_id.seq == seq)
            .map(|r| &r.kind)
            .collect()
    };
    assert_eq!(by_seq(1), [&ExecKind::Ack { venue_order_id: 11 }]);
    assert_eq!(
        by_seq(2),
        [&ExecKind::Rejected {
            code: -1013,
            reason: "Filter failure: LOT_SIZE".into()
        }]
    );
    assert_eq!(
        by_seq(3),
        [&ExecKind::Ack { venue_order_id: 33 }],
        "500: looked up, found"
    );
    assert!(
        matches!(by_seq(4)[..], [ExecKind::Rejected { code: -2013, .. }]),
        "503: looked up, not there"
    );
    assert!(
        matches!(&by_seq(8)[..], [ExecKind::Rejected { code: 0, reason }] if reason.contains("recvWindow")),
        "{:?}",
        by_seq(8)
    );
    assert!(
        by_seq(7).is_empty(),
        "ack already reported by the user stream"
    );
    assert!(matches!(
        by_seq(5)[..],
        [ExecKind::Rejected { code: -1003, .. }]
    ));
    assert!(
        matches!(by_seq(6)[..], [ExecKind::Rejected { code: 0, .. }]),
        "refused locally during Retry-After"
    );
    assert_eq!(
        reports.len(),
        7,
        "the cancel is reported by the user stream, not here"
    );
    let r3 = reports.iter().find(|r| r.client_order_id.seq == 3).unwrap();
    assert_eq!((r3.side, r3.instrument), (Side::Sell, InstrumentId(0)));
    assert_eq!(
        srv.posts.load(Ordering::SeqCst),
        6,
        "order 6 never reached the venue"
    );
    assert_eq!(srv.queries.load(Ordering::SeqCst), 1 + 3);
    assert_eq!(srv.deletes.load(Ordering::SeqCst), 1);
    assert_eq!(
        (stats.new_orders, stats.cancels, stats.acks, stats.rejects),
        (8, 1, 2, 5)
    );
    assert_eq!((stats.unknown_outcomes, stats.rate_limited), (2, 1));
}

#[tokio::test]
async fn rest_client_reads_time_info_and_never_leaks_secrets() {
    let app = Router::new()
        .route("/api/v3/time", get(|| async { json(StatusCode::OK, r#"{"serverTime":1499827319559}"#.into()) }))
        .route(
            "/api/v3/exchangeInfo",
            get(|RawQuery(q): RawQuery| async move {
                assert_eq!(q.as_deref(), Some("symbols=%5B%22BTCUSDT%22%5D"));
                json(StatusCode::OK, r#"{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[{"filterType":"PRICE_FILTER","tickSize":"0.01000000"}]}]}"#.into())
            }),
        )
        .route("/api/v3/depth", get(|| async { (StatusCode::IM_A_TEAPOT, [("retry-after", "120")], "banned") }));
    let addr = serve(app).await;
    let rest = BinanceRest::new(
        &format!("http://{addr}/"),
        creds(),
        5000,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(rest.server_time().await.unwrap(), 1499827319559);
    rest.sync_time().await.unwrap();
    assert!((rest.now_ms() - 1499827319559).abs() < 5_000);
    let info = rest.exchange_info(&["BTCUSDT"]).await.unwrap();
    assert_eq!(info[0].tick_size, Some(dec!(0.01)));
    let err = rest.depth_snapshot("BTCUSDT", 10).await.unwrap_err();
    assert!(
        matches!(err, super::rest::RestError::RateLimited { status: 418, retry_after: Some(d), .. } if d == Duration::from_secs(120)),
        "{err}"
    );
    let shown = format!("{rest:?} {err} {err:?}");
    assert!(!shown.contains(SECRET) && !shown.contains(KEY), "{shown}");
    // Nothing listens on port 9 of loopback: certainly not sent.
    let dead =
        BinanceRest::new("http://127.0.0.1:9", creds(), 5000, Duration::from_secs(2)).unwrap();
    let e = dead.server_time().await.unwrap_err();
    assert!(e.certainly_not_executed(), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// WebSocket API: order entry + User Data Stream on one connection, drop mid-flight, REST fallback

#[derive(Default)]
struct WsSrv {
    connections: AtomicU64,
    subscribes: AtomicU64,
    places: AtomicU64,
    statuses: AtomicU64,
    rest_posts: AtomicU64,
    bad_signatures: AtomicU64,
}

fn ws_exec(x: &str, c: &str, cc: &str, side: &str, t: i64) -> String {
    format!(
        r#"{{"subscriptionId":0,"event":{{"e":"executionReport","E":1,"s":"BTCUSDT","c":"{c}","S":"{side}","o":"LIMIT","f":"GTC","q":"0.5","p":"100.1","P":"0","F":"0","g":-1,"C":"{cc}","x":"{x}","X":"NEW","r":"NONE","i":11,"l":"0.5","z":"0.5","L":"100.1","n":"0.01","N":"USDT","T":1700000000000,"t":{t},"I":1,"w":true,"m":false,"M":false,"O":1,"Z":"50","Y":"50","Q":"0"}}}}"#
    )
}

/// Checks a WebSocket API request's HMAC signature: all params but `signature`, sorted.
fn ws_signature_ok(params: &serde_json::Map<String, serde_json::Value>) -> bool {
    let mut kv: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| *k != "signature")
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect();
    kv.sort();
    let payload: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let sig = params
        .get("signature")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    params.get("apiKey").and_then(|v| v.as_str()) == Some(KEY)
        && sign::verify(SECRET.as_bytes(), payload.join("&").as_bytes(), sig)
}

const RATE_LIMITS: &str = r#""rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":42},{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50,"count":3}]"#;

async fn ws_api_conn(mut socket: WebSocket, s: Arc<WsSrv>) {
    let conn = s.connections.fetch_add(1, Ordering::SeqCst);
    while let Some(Ok(msg)) = socket.recv().await {
        let Message::Text(text) = msg else { continue };
        let req: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        let id = req["id"].clone();
        let method = req["method"].as_str().unwrap_or("").to_string();
        let params = req["params"].as_object().cloned().unwrap_or_default();
        if !ws_signature_ok(&params) {
            s.bad_signatures.fetch_add(1, Ordering::SeqCst);
            let r = format!(
                r#"{{"id":{id},"status":400,"error":{{"code":-1022,"msg":"Signature for this request is not valid."}}}}"#
            );
            let _ = socket.send(Message::Text(r.into())).await;
            continue;
        }
        let mut out: Vec<String> = Vec::new();
        match method.as_str() {
            "userDataStream.subscribe.signature" => {
                s.subscribes.fetch_add(1, Ordering::SeqCst);
                out.push(format!(
                    r#"{{"id":{id},"status":200,"result":{{"subscriptionId":0}},{RATE_LIMITS}}}"#
                ));
            }
            "order.place" => {
                s.places.fetch_add(1, Ordering::SeqCst);
                let coid = params["newClientOrderId"].as_str().unwrap().to_string();
                let side = params["side"].as_str().unwrap().to_string();
                match coid.rsplit('-').next().unwrap() {
                    "1" => {
                        // The event may beat the response: the ledger keeps one ack.
                        out.push(ws_exec("NEW", &coid, "", &side, -1));
                        out.push(format!(r#"{{"id":{id},"status":200,"result":{{"symbol":"BTCUSDT","orderId":11,"orderListId":-1,"clientOrderId":"{coid}","transactTime":1,"status":"NEW"}},{RATE_LIMITS}}}"#));
                        out.push(ws_exec("TRADE", &coid, "", &side, 77));
                    }
                    "2" => out.push(format!(r#"{{"id":{id},"status":400,"error":{{"code":-1013,"msg":"Filter failure: LOT_SIZE"}},{RATE_LIMITS}}}"#)),
                    "3" => {
                        // Accepted, but the connection drops before the response.
                        return;
                    }
                    other => panic!("unexpected order {other} on the WebSocket API"),
                }
            }
            "order.status" => {
                s.statuses.fetch_add(1, Ordering::SeqCst);
                let coid = params["origClientOrderId"].as_str().unwrap().to_string();
                if coid.ends_with("-3") {
                    out.push(format!(r#"{{"id":{id},"status":200,"result":{{"symbol":"BTCUSDT","orderId":33,"orderListId":-1,"clientOrderId":"{coid}","status":"NEW","side":"BUY"}},{RATE_LIMITS}}}"#));
                } else {
                    out.push(format!(r#"{{"id":{id},"status":400,"error":{{"code":-2013,"msg":"Order does not exist."}}}}"#));
                }
            }
            "order.cancel" => {
                let coid = params["origClientOrderId"].as_str().unwrap().to_string();
                out.push(format!(r#"{{"id":{id},"status":200,"result":{{"symbol":"BTCUSDT","origClientOrderId":"{coid}","orderId":11,"status":"CANCELED"}}}}"#));
                out.push(ws_exec("CANCELED", "cxl", &coid, "BUY", -1));
            }
            other => panic!("unexpected method {other}"),
        }
        for f in out {
            if socket.send(Message::Text(f.into())).await.is_err() {
                return;
            }
        }
        let _ = conn;
    }
}

async fn ws_rest_post(State(s): State<Arc<WsSrv>>, headers: HeaderMap, body: String) -> Response {
    s.rest_posts.fetch_add(1, Ordering::SeqCst);
    if let Some(r) = verify_signed(&headers, &body) {
        return r;
    }
    let coid = param(&body, "newClientOrderId")
        .unwrap_or_default()
        .to_string();
    assert!(coid.ends_with("-4"), "only order 4 goes over REST: {coid}");
    json(
        StatusCode::OK,
        format!(
            r#"{{"symbol":"BTCUSDT","orderId":44,"orderListId":-1,"clientOrderId":"{coid}","transactTime":1,"status":"NEW"}}"#
        ),
    )
}

async fn ws_rest_query(headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    if let Some(r) = verify_signed(&headers, &q) {
        return r;
    }
    let coid = param(&q, "origClientOrderId")
        .unwrap_or_default()
        .to_string();
    if coid.ends_with("-3") {
        json(
            StatusCode::OK,
            format!(
                r#"{{"symbol":"BTCUSDT","orderId":33,"orderListId":-1,"clientOrderId":"{coid}","status":"NEW","side":"BUY"}}"#
            ),
        )
    } else {
        json(
            StatusCode::BAD_REQUEST,
            r#"{"code":-2013,"msg":"Order does not exist."}"#.into(),
        )
    }
}

#[tokio::test]
async fn ws_api_orders_user_data_drop_in_flight_and_rest_fallback() {
    let srv = Arc::new(WsSrv::default());
    let app = Router::new()
        .route(
            "/ws-api/v3",
            get(
                |ws: WebSocketUpgrade, State(s): State<Arc<WsSrv>>| async move {
                    ws.on_upgrade(move |socket| ws_api_conn(socket, s))
                },
            ),
        )
        .route("/api/v3/order", post(ws_rest_post).get(ws_rest_query))
        .with_state(srv.clone());
    let addr = serve(app).await;
    let rest = BinanceRest::new(
        &format!("http://{addr}"),
        creds(),
        5000,
        Duration::from_secs(5),
    )
    .unwrap();
    let usage = peregrine_engine::risk::VenueUsage::shared();
    let (exec_tx, exec_rx) = crossbeam_channel::unbounded::<ExecReport>();
    let ledger = Arc::new(ExecLedger::default());
    let reconnected = Arc::new(tokio::sync::Notify::new());
    let mut cfg = WsApiConfig::new(format!("ws://{addr}/ws-api/v3"));
    // Long enough a gap after the drop for order 4 to find the connection down.
    cfg.reconnect_min = Duration::from_millis(800);
    cfg.reconnect_max = Duration::from_millis(800);
    cfg.on_reconnect = Some(reconnected.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (api, task) = spawn_ws_api(
        WsApiParts {
            cfg,
            auth: WsAuth {
                keys: rest.keys().clone(),
                clock_offset_ms: rest.clock_offset(),
            },
            instruments: registry(),
            exec_tx: exec_tx.clone(),
            ledger: ledger.clone(),
            usage: Some(usage.clone()),
        },
        stop_rx,
    );
    let mut ready = api.ready();
    tokio::time::timeout(Duration::from_secs(5), ready.wait_for(|r| *r))
        .await
        .unwrap()
        .unwrap();
    let mut signer = BinanceSigner::new(registry(), &creds(), 5000).ws_api(Some(Secret::new(KEY)));
    let (gw_tx, gw_rx) = tokio::sync::mpsc::unbounded_channel();
    let gw_cfg = GatewayConfig {
        query_attempts: 20,
        query_backoff: Duration::from_millis(50),
        ..GatewayConfig::default()
    };
    let gateway = tokio::spawn(run_gateway(
        OrderTransport::ws_api(rest, api.clone()),
        gw_rx,
        exec_tx,
        ledger,
        gw_cfg,
    ));
    let now = || peregrine_engine::clock::Clock::wall_ms();
    let collect = |want: usize| {
        let exec_rx = exec_rx.clone();
        async move {
            let mut got: Vec<ExecReport> = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while got.len() < want {
                assert!(tokio::time::Instant::now() < deadline, "{got:?}");
                got.extend(exec_rx.try_iter());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            got
        }
    };
    for seq in [1, 2] {
        gw_tx
            .send(signer.sign_new(&order(seq), now()).unwrap())
            .unwrap();
    }
    let first = collect(3).await;
    // Order 3 goes out, the connection drops with it in flight.
    gw_tx
        .send(signer.sign_new(&order(3), now()).unwrap())
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), ready.wait_for(|r| !*r))
        .await
        .unwrap()
        .unwrap();
    // While the connection is down, order 4 goes over REST.
    gw_tx
        .send(signer.sign_new(&order(4), now()).unwrap())
        .unwrap();
    let second = collect(2).await;
    // Back up: resubscribed, reconciliation notified; a cancel over the WebSocket API.
    tokio::time::timeout(Duration::from_secs(5), reconnected.notified())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), ready.wait_for(|r| *r))
        .await
        .unwrap()
        .unwrap();
    gw_tx
        .send(
            signer
                .sign_cancel(
                    ClientOrderId { run: 0xa, seq: 1 },
                    InstrumentId(0),
                    Side::Buy,
                    now(),
                )
                .unwrap(),
        )
        .unwrap();
    let third = collect(1).await;
    drop(gw_tx);
    let stats = tokio::time::timeout(Duration::from_secs(10), gateway)
        .await
        .unwrap()
        .unwrap();
    stop_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();

    let all: Vec<ExecReport> = first.into_iter().chain(second).chain(third).collect();
    let by_seq = |seq: u32| -> Vec<&ExecKind> {
        all.iter()
            .filter(|r| r.client_order_id.seq == seq)
            .map(|r| &r.kind)
            .collect()
    };
    let one = by_seq(1);
    assert_eq!(one.len(), 3, "{one:?}");
    assert_eq!(
        one[0],
        &ExecKind::Ack { venue_order_id: 11 },
        "one ack, not two"
    );
    assert!(matches!(one[1], ExecKind::Fill(f) if f.trade_id == 77 && f.qty == dec!(0.5)));
    assert_eq!(one[2], &ExecKind::Cancelled);
    assert_eq!(
        by_seq(2),
        [&ExecKind::Rejected {
            code: -1013,
            reason: "Filter failure: LOT_SIZE".into()
        }]
    );
    assert_eq!(
        by_seq(3),
        [&ExecKind::Ack { venue_order_id: 33 }],
        "in flight at the drop: resolved by order.status"
    );
    assert_eq!(
        by_seq(4),
        [&ExecKind::Ack { venue_order_id: 44 }],
        "REST fallback"
    );
    assert_eq!(all.len(), 6, "{all:?}");
    assert_eq!(srv.bad_signatures.load(Ordering::SeqCst), 0);
    assert_eq!(
        srv.subscribes.load(Ordering::SeqCst),
        2,
        "resubscribed after the reconnect"
    );
    assert_eq!(srv.places.load(Ordering::SeqCst), 3);
    assert_eq!(srv.rest_posts.load(Ordering::SeqCst), 1);
    assert_eq!((stats.unknown_outcomes, stats.rest_fallbacks), (1, 1));
    assert!(stats.via_ws_api >= 3, "{stats:?}");
    let wall = u64::try_from(now()).unwrap();
    assert_eq!(
        usage.count(peregrine_engine::risk::UsageKind::WeightPerMinute, wall),
        42,
        "rateLimits fed the shared budget"
    );
}
