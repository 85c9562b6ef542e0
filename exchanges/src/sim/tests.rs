//! Integration tests against a spawned simulator on 127.0.0.1: REST auth, orders, the user
//! stream, market-data streams and depth snapshot/diff sync.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::binance::sign::signature_hex;

const SYM: &str = "BTCUSDT";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start() -> SimHandle {
    // These tests still cover the retired listenKey stream (kept selectable until the live
    // adapter moves to the WebSocket API).
    let cfg = SimConfig {
        seed: 11,
        legacy_listen_key: true,
        ..SimConfig::default()
    };
    spawn(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    secret: String,
}

impl Client {
    fn new(sim: &SimHandle) -> Self {
        let d = SimConfig::default();
        Client {
            http: reqwest::Client::new(),
            base: sim.rest_base_url(),
            key: d.api_key,
            secret: d.api_secret,
        }
    }

    fn now() -> i64 {
        wire::now_ms()
    }

    /// Sends a signed request with params in the body (POST/DELETE) or query (GET).
    async fn signed(&self, method: reqwest::Method, path: &str, params: &str) -> (u16, Value) {
        let payload = format!("{params}&timestamp={}", Self::now());
        let sig = signature_hex(self.secret.as_bytes(), payload.as_bytes());
        let url = format!("{}{path}", self.base);
        let req = if method == reqwest::Method::GET {
            self.http.get(format!("{url}?{payload}&signature={sig}"))
        } else {
            self.http
                .request(method, url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("{payload}&signature={sig}"))
        };
        let resp = req.header("X-MBX-APIKEY", &self.key).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    async fn raw(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        key: Option<&str>,
        body: &str,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .http
            .request(method, format!("{}{path_and_query}", self.base));
        if let Some(k) = key {
            req = req.header("X-MBX-APIKEY", k);
        }
        if !body.is_empty() {
            req = req
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.json().await.unwrap(), headers)
    }
}

fn d(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Next JSON text frame, or None on timeout.
async fn next_json(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(t) = msg {
            return Some(serde_json::from_str(t.as_str()).unwrap());
        }
    }
}

#[tokio::test]
async fn signed_requests_are_checked_like_binance() {
    let sim = start().await;
    let c = Client::new(&sim);
    let (s, v) = c
        .signed(reqwest::Method::GET, "/api/v3/account", "recvWindow=5000")
        .await;
    assert_eq!(s, 200, "{v}");
    let usdt = v["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "USDT")
        .unwrap();
    assert_eq!(d(&usdt["free"]), Decimal::from(1_000_000));

    // Signature over a POST body, with params split between query and body.
    let ts = Client::now();
    let query = format!("symbol={SYM}&timestamp={ts}");
    let body = "side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000";
    let sig = signature_hex(c.secret.as_bytes(), format!("{query}{body}").as_bytes());
    let (s, v, h) = c
        .raw(
            reqwest::Method::POST,
            &format!("/api/v3/order?{query}&signature={sig}"),
            Some(&c.key),
            body,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "NEW");
    assert!(h.contains_key("x-mbx-used-weight-1m"));
    assert_eq!(h["x-mbx-order-count-10s"], "1");

    let ts = Client::now();
    let q = format!("timestamp={ts}");
    let good = signature_hex(c.secret.as_bytes(), q.as_bytes());
    let bad = signature_hex(b"wrong", q.as_bytes());
    let get = reqwest::Method::GET;
    let (s, v, _) = c
        .raw(
            get.clone(),
            &format!("/api/v3/account?{q}&signature={bad}"),
            Some(&c.key),
            "",
        )
        .await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1022)), "{v}");
    let (s, v, _) = c
        .raw(
            get.clone(),
            &format!("/api/v3/account?{q}"),
            Some(&c.key),
            "",
        )
        .await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1102)), "{v}");
    let (s, v, _) = c
        .raw(
            get.clone(),
            &format!("/api/v3/account?{q}&signature={good}"),
            Some("other-key"),
            "",
        )
        .await;
    assert_eq!((s, v["code"].as_i64()), (401, Some(-2015)), "{v}");
    let (s, v, _) = c
        .raw(
            get.clone(),
            &format!("/api/v3/account?{q}&signature={good}"),
            None,
            "",
        )
        .await;
    assert_eq!((s, v["code"].as_i64()), (401, Some(-2014)), "{v}");
    for (ts, code) in [(Client::now() - 6000, -1021), (Client::now() + 5000, -1021)] {
        let q = format!("timestamp={ts}");
        let sig = signature_hex(c.secret.as_bytes(), q.as_bytes());
        let (s, v, _) = c
            .raw(
                get.clone(),
                &format!("/api/v3/account?{q}&signature={sig}"),
                Some(&c.key),
                "",
            )
            .await;
        assert_eq!((s, v["code"].as_i64()), (400, Some(code)), "{v}");
    }
    let q = format!("timestamp={}&recvWindow=70000", Client::now());
    let sig = signature_hex(c.secret.as_bytes(), q.as_bytes());
    let (_, v, _) = c
        .raw(
            get.clone(),
            &format!("/api/v3/account?{q}&signature={sig}"),
            Some(&c.key),
            "",
        )
        .await;
    assert_eq!(v["code"], -1131);
    // A stale timestamp inside a larger recvWindow is fine.
    let q = format!("timestamp={}&recvWindow=20000", Client::now() - 10_000);
    let sig = signature_hex(c.secret.as_bytes(), q.as_bytes());
    let (s, v, _) = c
        .raw(
            get,
            &format!("/api/v3/account?{q}&signature={sig}"),
            Some(&c.key),
            "",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    sim.shutdown().await;
}

#[tokio::test]
async fn order_validation_errors() {
    let sim = start().await;
    sim.pause_market();
    let c = Client::new(&sim);
    let post = reqwest::Method::POST;
    let cases = [
        ("symbol=NOPE&side=BUY&type=MARKET&quantity=1", -1121),
        (
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000.001",
            -1013,
        ),
        (
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.0000001&price=1000",
            -1013,
        ),
        (
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00001&price=1000",
            -1013,
        ),
        (
            "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.01&price=1000",
            -1102,
        ),
        (
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price=60000",
            -2010,
        ),
        (
            "symbol=BTCUSDT&side=UP&type=LIMIT&timeInForce=GTC&quantity=1&price=1",
            -1117,
        ),
        ("symbol=BTCUSDT&side=BUY&type=STOP&quantity=1", -1116),
    ];
    for (params, code) in cases {
        let (s, v) = c.signed(post.clone(), "/api/v3/order", params).await;
        assert_eq!((s, v["code"].as_i64()), (400, Some(code)), "{params}: {v}");
    }
    let (_, _, asks) = sim.book(SYM, 1).unwrap();
    let ask = asks[0].0;
    let (_, v) = c
        .signed(
            post.clone(),
            "/api/v3/order",
            &format!("symbol={SYM}&side=BUY&type=LIMIT_MAKER&quantity=0.001&price={ask}"),
        )
        .await;
    assert_eq!(v["code"], -2010);
    assert_eq!(v["msg"], "Order would immediately match and take.");
    let (_, v) = c.signed(post.clone(), "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000&newClientOrderId=abc").await;
    assert_eq!(v["clientOrderId"], "abc");
    let (_, v) = c.signed(post.clone(), "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000&newClientOrderId=abc").await;
    assert_eq!(v["code"], -2010, "{v}");
    let (_, v) = c
        .signed(
            reqwest::Method::DELETE,
            "/api/v3/order",
            "symbol=BTCUSDT&orderId=999999999",
        )
        .await;
    assert_eq!(v["code"], -2011);
    let (_, v) = c
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            "symbol=BTCUSDT&orderId=999999999",
        )
        .await;
    assert_eq!(v["code"], -2013);
    let (s, v) = c
        .signed(
            reqwest::Method::DELETE,
            "/api/v3/order",
            "symbol=BTCUSDT&origClientOrderId=abc",
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("CANCELED")), "{v}");
    assert_eq!(v["origClientOrderId"], "abc");
    let (_, v) = c
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            "symbol=BTCUSDT&origClientOrderId=abc",
        )
        .await;
    assert_eq!(v["status"], "CANCELED");
    // openOrders: list, then cancel all for the symbol.
    for price in ["1000", "1001"] {
        let params =
            format!("symbol={SYM}&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price={price}");
        let (s, v) = c.signed(post.clone(), "/api/v3/order", &params).await;
        assert_eq!(s, 200, "{v}");
    }
    let (_, v) = c
        .signed(reqwest::Method::GET, "/api/v3/openOrders", "symbol=BTCUSDT")
        .await;
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    let (_, v) = c
        .signed(
            reqwest::Method::DELETE,
            "/api/v3/openOrders",
            "symbol=BTCUSDT",
        )
        .await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "CANCELED"),
        "{v}"
    );
    let (_, v) = c
        .signed(reqwest::Method::GET, "/api/v3/openOrders", "")
        .await;
    assert_eq!(v, json!([]));
    for (asset, _, locked) in sim.balances() {
        assert_eq!(locked, Decimal::ZERO, "{asset}");
    }
    sim.shutdown().await;
}

/// Collects user-stream events until `pred` holds for the collected list, or times out.
async fn collect_until(ws: &mut Ws, wait: Duration, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    while !pred(&out) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_json(ws, left).await {
            Some(v) => out.push(v),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn taker_order_fills_ledger_and_user_stream_agree() {
    let sim = start().await;
    sim.pause_market();
    let c = Client::new(&sim);
    let (_, v, _) = c
        .raw(
            reqwest::Method::POST,
            "/api/v3/userDataStream",
            Some(&c.key),
            "",
        )
        .await;
    let key = v["listenKey"].as_str().unwrap().to_string();
    let mut user = connect(&format!("{}/ws/{key}", sim.ws_base_url())).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    // A market buy larger than the best level: several fills at rising prices.
    let (_, _, asks) = sim.book(SYM, 3).unwrap();
    let qty = asks[0].1 + asks[1].1 / Decimal::TWO;
    let qty = (qty / Decimal::new(1, 5)).floor() * Decimal::new(1, 5);
    let (s, v) = c
        .signed(
            reqwest::Method::POST,
            "/api/v3/order",
            &format!("symbol={SYM}&side=BUY&type=MARKET&quantity={qty}&newClientOrderId=mkt1"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "FILLED");
    assert_eq!(d(&v["executedQty"]), qty);
    let fills = v["fills"].as_array().unwrap();
    assert!(fills.len() >= 2, "{v}");
    let ledger = sim.ledger();
    assert_eq!(ledger.len(), fills.len());
    for (f, l) in fills.iter().zip(&ledger) {
        assert_eq!(f["tradeId"].as_u64(), Some(l.trade_id));
        assert_eq!(d(&f["price"]), l.price);
        assert_eq!(d(&f["qty"]), l.qty);
        assert_eq!(d(&f["commission"]), l.commission);
        assert_eq!(l.commission_asset, "BTC");
        assert_eq!(l.client_order_id, "mkt1");
        assert!(!l.is_maker);
        assert_eq!(l.commission, (l.qty * Decimal::new(1, 3)).round_dp(8));
    }
    let sum: Decimal = ledger.iter().map(|l| l.price * l.qty).sum();
    assert_eq!(d(&v["cummulativeQuoteQty"]), sum);

    // Exactly one TRADE executionReport per ledger fill, in order, after NEW.
    let n = ledger.len();
    let events = collect_until(&mut user, Duration::from_secs(3), |ev| {
        ev.iter()
            .filter(|e| e["e"] == "executionReport" && e["x"] == "TRADE")
            .count()
            == n
            && ev
                .last()
                .is_some_and(|e| e["e"] == "outboundAccountPosition")
    })
    .await;
    let reports: Vec<&Value> = events
        .iter()
        .filter(|e| e["e"] == "executionReport")
        .collect();
    assert_eq!(reports[0]["x"], "NEW");
    let trades: Vec<&&Value> = reports.iter().filter(|e| e["x"] == "TRADE").collect();
    assert_eq!(trades.len(), n);
    for (t, l) in trades.iter().zip(&ledger) {
        assert_eq!(t["t"].as_u64(), Some(l.trade_id));
        assert_eq!(d(&t["l"]), l.qty);
        assert_eq!(d(&t["L"]), l.price);
        assert_eq!(d(&t["n"]), l.commission);
        assert_eq!(t["c"], "mkt1");
        assert_eq!(t["m"], false);
    }
    assert_eq!(trades.last().unwrap()["X"], "FILLED");
    let pos = events
        .iter()
        .find(|e| e["e"] == "outboundAccountPosition")
        .unwrap();
    let btc = pos["B"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["a"] == "BTC")
        .unwrap();
    let fees: Decimal = ledger.iter().map(|l| l.commission).sum();
    assert_eq!(d(&btc["f"]), Decimal::from(100) + qty - fees);

    // Our resting order is hit by our own IOC: STP expires the resting one, no ledger entry.
    let (_, bids, _) = sim.book(SYM, 1).unwrap();
    let bid = bids[0].0;
    let tick = Decimal::new(1, 2);
    let (_, v) = c
        .signed(
            reqwest::Method::POST,
            "/api/v3/order",
            &format!(
                "symbol={SYM}&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price={}",
                bid + tick
            ),
        )
        .await;
    let rest_id = v["orderId"].as_u64().unwrap();
    assert_eq!(v["status"], "NEW", "{v}");
    let (_, v) = c
        .signed(
            reqwest::Method::POST,
            "/api/v3/order",
            &format!(
                "symbol={SYM}&side=SELL&type=LIMIT&timeInForce=IOC&quantity=0.001&price={}",
                bid + tick
            ),
        )
        .await;
    assert_eq!(v["status"], "EXPIRED", "{v}");
    assert_eq!(d(&v["executedQty"]), Decimal::ZERO);
    let (_, v) = c
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            &format!("symbol={SYM}&orderId={rest_id}"),
        )
        .await;
    assert_eq!(v["status"], "EXPIRED_IN_MATCH");
    assert_eq!(sim.ledger().len(), n);
    // Locked funds are all released.
    for (asset, _, locked) in sim.balances() {
        assert_eq!(locked, Decimal::ZERO, "{asset}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn resting_order_is_filled_by_synthetic_flow() {
    let sim = start().await;
    let c = Client::new(&sim);
    let (_, v, _) = c
        .raw(
            reqwest::Method::POST,
            "/api/v3/userDataStream",
            Some(&c.key),
            "",
        )
        .await;
    let key = v["listenKey"].as_str().unwrap().to_string();
    let mut user = connect(&format!("{}/ws/{key}", sim.ws_base_url())).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Join the best bid and the best ask with small post-only orders (the market is frozen
    // meanwhile: it moves many ticks a step, so the touch read would be gone before the
    // orders arrive).
    sim.pause_market();
    let (_, bids, asks) = sim.book(SYM, 1).unwrap();
    let mut ids = Vec::new();
    for (side, price) in [("BUY", bids[0].0), ("SELL", asks[0].0)] {
        let (s, v) = c
            .signed(
                reqwest::Method::POST,
                "/api/v3/order",
                &format!("symbol={SYM}&side={side}&type=LIMIT_MAKER&quantity=0.0002&price={price}"),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        ids.push(v["orderId"].as_u64().unwrap());
    }
    sim.resume_market();
    let mut events = collect_until(&mut user, Duration::from_secs(20), |ev| {
        ev.iter()
            .any(|e| e["e"] == "executionReport" && e["x"] == "TRADE")
    })
    .await;
    // Freeze the market so no more fills happen, then drain what is in flight.
    sim.pause_market();
    tokio::time::sleep(Duration::from_millis(50)).await;
    while let Some(v) = next_json(&mut user, Duration::from_millis(300)).await {
        events.push(v);
    }
    let ledger = sim.ledger();
    assert!(!ledger.is_empty(), "no maker fill within 20 s");
    let trades: Vec<&Value> = events.iter().filter(|e| e["x"] == "TRADE").collect();
    assert_eq!(trades.len(), ledger.len());
    for (t, l) in trades.iter().zip(&ledger) {
        assert!(l.is_maker);
        assert!(ids.contains(&l.order_id));
        assert_eq!(t["t"].as_u64(), Some(l.trade_id));
        assert_eq!(t["i"].as_u64(), Some(l.order_id));
        assert_eq!(d(&t["l"]), l.qty);
        assert_eq!(d(&t["n"]), l.commission);
        assert_eq!(t["m"], true);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn market_streams_raw_combined_and_subscribe() {
    let sim = start().await;
    let base = sim.ws_base_url();
    let mut raw = connect(&format!("{base}/ws/btcusdt@trade")).await;
    let ev = next_json(&mut raw, Duration::from_secs(3)).await.unwrap();
    assert_eq!(ev["e"], "trade");
    assert_eq!(ev["s"], SYM);
    assert!(ev["t"].as_u64().is_some() && ev["m"].is_boolean());

    let mut comb = connect(&format!(
        "{base}/stream?streams=btcusdt@bookTicker/btcusdt@depth@100ms"
    ))
    .await;
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 2 {
        let ev = next_json(&mut comb, Duration::from_secs(3)).await.unwrap();
        let stream = ev["stream"].as_str().unwrap().to_string();
        if stream == "btcusdt@bookTicker" {
            assert!(ev["data"]["u"].as_u64().is_some() && ev["data"]["b"].is_string());
        } else {
            assert_eq!(ev["data"]["e"], "depthUpdate");
        }
        seen.insert(stream);
    }

    let mut sub = connect(&format!("{base}/ws")).await;
    sub.send(Message::Text(
        json!({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 7})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let ack = next_json(&mut sub, Duration::from_secs(3)).await.unwrap();
    assert_eq!(ack, json!({"result": null, "id": 7}));
    let ev = next_json(&mut sub, Duration::from_secs(3)).await.unwrap();
    assert_eq!(ev["e"], "trade");
    sub.send(Message::Text(
        json!({"method": "SUBSCRIBE", "params": ["nope@trade"], "id": 8})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    sub.send(Message::Text(
        json!({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 9})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let mut acks = Vec::new();
    while acks.len() < 2 {
        let v = next_json(&mut sub, Duration::from_secs(3)).await.unwrap();
        if v.get("id").is_some() {
            acks.push(v);
        }
    }
    assert_eq!(acks[0]["id"], 8);
    assert!(acks[0]["error"].is_object());
    assert_eq!(acks[1], json!({"result": null, "id": 9}));
    sim.shutdown().await;
}

type Book = (BTreeMap<Decimal, Decimal>, BTreeMap<Decimal, Decimal>);

fn apply(book: &mut Book, ev: &Value) {
    for (key, side) in [("b", &mut book.0), ("a", &mut book.1)] {
        for lvl in ev[key].as_array().unwrap() {
            let (p, q) = (d(&lvl[0]), d(&lvl[1]));
            if q.is_zero() {
                side.remove(&p);
            } else {
                side.insert(p, q);
            }
        }
    }
}

#[tokio::test]
async fn depth_snapshot_and_diff_stream_sync_to_the_sims_book() {
    let sim = start().await;
    let c = Client::new(&sim);
    let mut ws = connect(&format!("{}/ws/btcusdt@depth@100ms", sim.ws_base_url())).await;
    // Buffer a few events, then take the snapshot (Binance's documented procedure).
    let mut buffered = Vec::new();
    for _ in 0..3 {
        buffered.push(next_json(&mut ws, Duration::from_secs(3)).await.unwrap());
    }
    let first_u = buffered[0]["U"].as_u64().unwrap();
    let (s, snap, h) = c
        .raw(
            reqwest::Method::GET,
            &format!("/api/v3/depth?symbol={SYM}&limit=5000"),
            None,
            "",
        )
        .await;
    assert_eq!(s, 200);
    assert!(h.contains_key("x-mbx-used-weight-1m"));
    let last = snap["lastUpdateId"].as_u64().unwrap();
    assert!(last >= first_u);
    let mut book: Book = Default::default();
    apply(&mut book, &json!({"b": snap["bids"], "a": snap["asks"]}));
    let mut local = last;
    let mut applied = 0;
    let mut process = |ev: &Value, book: &mut Book, local: &mut u64| {
        let (u_first, u_last) = (ev["U"].as_u64().unwrap(), ev["u"].as_u64().unwrap());
        if u_last <= *local {
            return;
        }
        assert!(u_first <= *local + 1, "gap: U={u_first} local={local}");
        apply(book, ev);
        *local = u_last;
        applied += 1;
    };
    for ev in &buffered {
        process(ev, &mut book, &mut local);
    }
    let until = tokio::time::Instant::now() + Duration::from_millis(800);
    while tokio::time::Instant::now() < until {
        if let Some(ev) = next_json(&mut ws, Duration::from_millis(500)).await {
            process(&ev, &mut book, &mut local);
        }
    }
    // Freeze the market, drain the last diffs, and compare.
    sim.pause_market();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (want_id, bids, asks) = sim.book(SYM, 5000).unwrap();
    while local < want_id {
        let ev = next_json(&mut ws, Duration::from_secs(2))
            .await
            .expect("diff stream stalled");
        process(&ev, &mut book, &mut local);
    }
    assert!(applied > 3);
    assert_eq!(local, want_id);
    let got_bids: Vec<_> = book.0.iter().rev().map(|(p, q)| (*p, *q)).collect();
    let got_asks: Vec<_> = book.1.iter().map(|(p, q)| (*p, *q)).collect();
    assert_eq!(got_bids, bids);
    assert_eq!(got_asks, asks);
    sim.shutdown().await;
}

#[tokio::test]
async fn trade_flow_is_lively_and_server_pings() {
    let cfg = SimConfig {
        ws_ping_interval_ms: 100,
        ws_pong_timeout_ms: 100,
        ..SimConfig::default()
    };
    let sim = spawn(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut ws = connect(&format!("{}/ws/btcusdt@trade", sim.ws_base_url())).await;
    let (mut trades, mut pings) = (0, 0);
    let until = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(until, ws.next()).await {
        match msg {
            Message::Text(_) => trades += 1,
            Message::Ping(_) => pings += 1,
            _ => {}
        }
    }
    // tungstenite answers pings automatically, so the connection stays open.
    assert!(trades >= 10, "only {trades} trades in 1 s");
    assert!(pings >= 5, "only {pings} pings in 1 s");
    assert!(tokio::time::timeout(Duration::from_millis(500), ws.next())
        .await
        .is_ok());
    sim.shutdown().await;
}

#[tokio::test]
async fn public_endpoints_and_run_until() {
    let sim = start().await;
    let c = Client::new(&sim);
    let get = reqwest::Method::GET;
    let (s, v, _) = c.raw(get.clone(), "/api/v3/ping", None, "").await;
    assert_eq!((s, v), (200, json!({})));
    let (_, v, _) = c.raw(get.clone(), "/api/v3/time", None, "").await;
    assert!((v["serverTime"].as_i64().unwrap() - wire::now_ms()).abs() < 5_000);
    let (_, v, _) = c
        .raw(get.clone(), "/api/v3/exchangeInfo?symbol=BTCUSDT", None, "")
        .await;
    let sym = &v["symbols"][0];
    assert_eq!(
        (sym["symbol"].as_str(), sym["status"].as_str()),
        (Some(SYM), Some("TRADING"))
    );
    let filters = sym["filters"].as_array().unwrap();
    let f = |t: &str| {
        filters
            .iter()
            .find(|f| f["filterType"] == t)
            .unwrap()
            .clone()
    };
    assert_eq!(d(&f("PRICE_FILTER")["tickSize"]), Decimal::new(1, 2));
    assert_eq!(d(&f("LOT_SIZE")["stepSize"]), Decimal::new(1, 5));
    assert_eq!(d(&f("NOTIONAL")["minNotional"]), Decimal::from(5));
    let (s, v, _) = c
        .raw(get.clone(), "/api/v3/exchangeInfo?symbol=NOPE", None, "")
        .await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1121)));
    let (s, v, _) = c.raw(get, "/api/v3/depth?symbol=NOPE", None, "").await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1121)));
    sim.shutdown().await;

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(run_until(
        SimConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
        async move {
            let _ = rx.await;
        },
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), runner)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
