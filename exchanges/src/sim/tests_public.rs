//! Tests of the simulator's public surface against a spawned instance on 127.0.0.1: the
//! market-data REST endpoints (checked against the simulator's own trades), `order/test`,
//! `rateLimit/order`, `quoteOrderQty` orders, REST cancel-replace, Binance's JSON error for unknown paths, and
//! every documented stream name.

use std::collections::HashSet;
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
    let cfg = SimConfig {
        seed: 5,
        ..SimConfig::default()
    };
    spawn(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

async fn get(sim: &SimHandle, path: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{}{path}", sim.rest_base_url()))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn signed(
    sim: &SimHandle,
    method: reqwest::Method,
    path: &str,
    params: &str,
) -> (u16, Value) {
    let d = SimConfig::default();
    let payload = format!("{params}&timestamp={}", wire::now_ms());
    let sig = signature_hex(d.api_secret.as_bytes(), payload.as_bytes());
    let url = format!("{}{path}?{payload}&signature={sig}", sim.rest_base_url());
    let resp = reqwest::Client::new()
        .request(method, url)
        .header("X-MBX-APIKEY", d.api_key)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn d(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

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

/// Waits until the market has traded at least `n` times.
async fn wait_for_trades(sim: &SimHandle, n: usize) {
    for _ in 0..100 {
        let (_, v) = get(sim, "/api/v3/trades?symbol=BTCUSDT&limit=1000").await;
        if v.as_array().is_some_and(|a| a.len() >= n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the synthetic market did not trade {n} times");
}

#[tokio::test]
async fn market_data_endpoints_agree_with_the_trades() {
    let sim = start().await;
    wait_for_trades(&sim, 30).await;
    sim.pause_market();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let (s, trades) = get(&sim, "/api/v3/trades?symbol=BTCUSDT&limit=1000").await;
    assert_eq!(s, 200);
    let trades = trades.as_array().unwrap().clone();
    let ids: Vec<u64> = trades.iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "ids consecutive");
    for t in &trades {
        assert_eq!(d(&t["quoteQty"]), d(&t["price"]) * d(&t["qty"]));
    }
    let (_, two) = get(&sim, "/api/v3/trades?symbol=BTCUSDT&limit=2").await;
    assert_eq!(two[1]["id"].as_u64(), ids.last().copied());

    // Aggregate trades cover every trade exactly once, in order, with summed quantities.
    let (_, aggs) = get(&sim, "/api/v3/aggTrades?symbol=BTCUSDT&limit=1000").await;
    let aggs = aggs.as_array().unwrap();
    let first = ids[0];
    let mut next = first;
    let mut total = Decimal::ZERO;
    for a in aggs.iter().filter(|a| a["f"].as_u64().unwrap() >= first) {
        assert_eq!(a["f"].as_u64(), Some(next));
        next = a["l"].as_u64().unwrap() + 1;
        total += d(&a["q"]);
    }
    assert_eq!(next, ids.last().unwrap() + 1);
    let traded: Decimal = trades.iter().map(|t| d(&t["qty"])).sum();
    assert_eq!(total, traded);
    let a0 = aggs[0]["a"].as_u64().unwrap();
    let (_, from) = get(
        &sim,
        &format!("/api/v3/aggTrades?symbol=BTCUSDT&fromId={a0}&limit=2"),
    )
    .await;
    assert_eq!(from[0]["a"].as_u64(), Some(a0));
    assert_eq!(from.as_array().unwrap().len(), 2);

    // 1s klines sum to the trades; the 1m kline and the 24 h ticker agree with them.
    let (_, k1s) = get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=1s&limit=1000").await;
    let k1s = k1s.as_array().unwrap();
    let kline_trades: u64 = k1s.iter().map(|k| k[8].as_u64().unwrap()).sum();
    let (_, t24) = get(&sim, "/api/v3/ticker/24hr?symbol=BTCUSDT").await;
    assert_eq!(t24["count"].as_u64(), Some(kline_trades));
    assert_eq!(t24["lastId"].as_u64(), ids.last().copied());
    assert_eq!(d(&t24["lastPrice"]), d(&trades.last().unwrap()["price"]));
    let kvol: Decimal = k1s.iter().map(|k| d(&k[5])).sum();
    assert_eq!(d(&t24["volume"]), kvol);
    assert!(d(&t24["highPrice"]) >= d(&t24["lowPrice"]));
    for k in k1s {
        assert_eq!(k[6].as_i64().unwrap() - k[0].as_i64().unwrap(), 999);
        assert!(d(&k[2]) >= d(&k[1]).max(d(&k[4])) && d(&k[3]) <= d(&k[1]).min(d(&k[4])));
    }
    let (_, k1m) = get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m").await;
    let k1m = k1m.as_array().unwrap();
    let m_trades: u64 = k1m.iter().map(|k| k[8].as_u64().unwrap()).sum();
    assert_eq!(m_trades, kline_trades);
    let (s, bad) = get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=2m").await;
    assert_eq!((s, bad["code"].as_i64()), (400, Some(-1120)));
    let (_, mini) = get(&sim, "/api/v3/ticker/24hr?symbol=BTCUSDT&type=MINI").await;
    assert!(mini.get("priceChange").is_none() && mini["count"] == t24["count"]);
    let (_, all) = get(&sim, "/api/v3/ticker/24hr").await;
    assert_eq!(all[0]["symbol"], SYM);
    let (_, some) = get(&sim, "/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22%5D").await;
    assert_eq!(some[0]["symbol"], SYM);
    let (s, both) = get(
        &sim,
        "/api/v3/ticker/price?symbol=BTCUSDT&symbols=[\"BTCUSDT\"]",
    )
    .await;
    assert_eq!((s, both["code"].as_i64()), (400, Some(-1128)));
    let (s, nope) = get(&sim, "/api/v3/ticker/price?symbols=[\"NOPE\"]").await;
    assert_eq!((s, nope["code"].as_i64()), (400, Some(-1121)));

    let (_, price) = get(&sim, "/api/v3/ticker/price?symbol=BTCUSDT").await;
    assert_eq!(price["price"], t24["lastPrice"]);
    let (_, bt) = get(&sim, "/api/v3/ticker/bookTicker?symbol=BTCUSDT").await;
    let (_, bids, asks) = sim.book(SYM, 1).unwrap();
    assert_eq!(
        (d(&bt["bidPrice"]), d(&bt["askQty"])),
        (bids[0].0, asks[0].1)
    );
    let (_, avg) = get(&sim, "/api/v3/avgPrice?symbol=BTCUSDT").await;
    assert_eq!(avg["mins"], 5);
    let quote: Decimal = trades.iter().map(|t| d(&t["quoteQty"])).sum();
    let vwap = (quote / traded).round_dp(8);
    // Five minutes cover all trades of this young market.
    assert_eq!(d(&avg["price"]), vwap);
    let (_, rolling) = get(&sim, "/api/v3/ticker?symbol=BTCUSDT&windowSize=1h").await;
    assert_eq!(rolling["count"], t24["count"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn order_test_rate_limit_quote_orders_and_unknown_paths() {
    let sim = start().await;
    wait_for_trades(&sim, 5).await;
    let post = reqwest::Method::POST;
    let (s, v) = signed(
        &sim,
        post.clone(),
        "/api/v3/order/test",
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=50000",
    )
    .await;
    assert_eq!((s, v), (200, json!({})));
    let (s, v) = signed(
        &sim,
        post.clone(),
        "/api/v3/order/test",
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=50000.001",
    )
    .await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1013)));
    let (s, v) = signed(
        &sim,
        post.clone(),
        "/api/v3/order/test",
        "symbol=BTCUSDT&side=SELL&type=MARKET&quoteOrderQty=100&computeCommissionRates=true",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["standardCommissionForOrder"]["taker"], "0.00100000");
    assert_eq!(v["discount"]["enabledForAccount"], false);
    assert!(sim.ledger().is_empty(), "order/test placed nothing");

    let before: Decimal = sim.balances().iter().find(|b| b.0 == "USDT").unwrap().1;
    let (s, v) = signed(
        &sim,
        post.clone(),
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=100",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["origQuoteOrderQty"], "100.00000000");
    let spent = d(&v["cummulativeQuoteQty"]);
    assert!(spent > Decimal::ZERO && spent <= Decimal::from(100), "{v}");
    assert_eq!(v["status"], "FILLED");
    assert_eq!(d(&v["executedQty"]), d(&v["origQty"]));
    let after: Decimal = sim.balances().iter().find(|b| b.0 == "USDT").unwrap().1;
    assert_eq!(before - after, spent);
    let (s, v) = signed(
        &sim,
        post.clone(),
        "/api/v3/order",
        "symbol=BTCUSDT&side=SELL&type=MARKET&quoteOrderQty=50",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(d(&v["cummulativeQuoteQty"]) <= Decimal::from(50));
    let (s, v) = signed(
        &sim,
        post.clone(),
        "/api/v3/order",
        "symbol=BTCUSDT&side=SELL&type=MARKET&quoteOrderQty=50&quantity=0.001",
    )
    .await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1128)));
    let (s, v) = signed(
        &sim,
        post.clone(),
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=1",
    )
    .await;
    assert_eq!(
        (s, v["msg"].as_str()),
        (400, Some("Filter failure: NOTIONAL"))
    );
    let (s, v) = signed(
        &sim,
        post.clone(),
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=50000&quoteOrderQty=10",
    )
    .await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1106)));
    let (s, v) = signed(
        &sim,
        post,
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=MARKET",
    )
    .await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1102)));

    let (s, v) = signed(&sim, reqwest::Method::GET, "/api/v3/rateLimit/order", "").await;
    assert_eq!(s, 200);
    assert_eq!(v[0]["rateLimitType"], "ORDERS");
    // Six order requests so far (rejected ones count too); a 10 s window may have turned, the
    // day's count has all of them (unless the test straddles midnight UTC).
    let count = v[0]["count"].as_u64().unwrap();
    assert!(count <= 6, "{v}");
    assert_eq!(
        (&v[1]["interval"], v[1]["count"].as_u64()),
        (&json!("DAY"), Some(6)),
        "{v}"
    );

    let (s, v) = get(&sim, "/api/v3/nope").await;
    assert_eq!((s, v["code"].as_i64()), (404, Some(-1020)));
    let resp = reqwest::Client::new()
        .put(format!("{}/api/v3/time", sim.rest_base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"].as_i64(), Some(-1020));
    sim.shutdown().await;
}

/// What identifies each stream's payload.
#[tokio::test]
async fn rest_cancel_replace_answers_as_the_websocket_api_does() {
    let sim = start().await;
    let post = reqwest::Method::POST;
    let (_, t) = get(&sim, "/api/v3/ticker/bookTicker?symbol=BTCUSDT").await;
    let bid = d(&t["bidPrice"]);
    let p1 = bid - Decimal::new(100, 0);
    let p2 = bid - Decimal::new(101, 0);
    let (s, v) = signed(
        &sim,
        post.clone(),
        "/api/v3/order",
        &format!("symbol={SYM}&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price={p1}&newClientOrderId=rr-1"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let replace = |orig: &str, new_cid: &str, qty: &str| {
        format!(
            "symbol={SYM}&cancelReplaceMode=STOP_ON_FAILURE&cancelOrigClientOrderId={orig}\
             &side=BUY&type=LIMIT&timeInForce=GTC&quantity={qty}&price={p2}&newClientOrderId={new_cid}"
        )
    };
    let path = "/api/v3/order/cancelReplace";
    let (s, v) = signed(&sim, post.clone(), path, &replace("rr-1", "rr-2", "0.001")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["cancelResult"], &v["newOrderResult"]),
        (&json!("SUCCESS"), &json!("SUCCESS"))
    );
    assert_eq!(v["cancelResponse"]["origClientOrderId"], "rr-1");
    assert_eq!(v["cancelResponse"]["status"], "CANCELED");
    assert_eq!(v["newOrderResponse"]["clientOrderId"], "rr-2");
    assert_eq!(d(&v["newOrderResponse"]["price"]), p2);
    assert_eq!(
        sim.open_orders(),
        vec![(SYM.to_string(), "rr-2".to_string())]
    );

    // rr-1 is gone: the cancel fails, the new order is not attempted (400, -2022, data).
    let (s, v) = signed(&sim, post.clone(), path, &replace("rr-1", "rr-3", "0.001")).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-2022)), "{v}");
    assert_eq!(v["msg"], "Order cancel-replace failed.");
    assert_eq!(v["data"]["newOrderResult"], "NOT_ATTEMPTED");
    assert_eq!(v["data"]["cancelResponse"]["code"], -2011);
    // The cancel succeeds, the new order is refused by the balance (409, -2021).
    let (s, v) = signed(&sim, post, path, &replace("rr-2", "rr-4", "9000")).await;
    assert_eq!((s, v["code"].as_i64()), (409, Some(-2021)), "{v}");
    assert_eq!(v["data"]["cancelResult"], "SUCCESS");
    assert_eq!(v["data"]["newOrderResponse"]["code"], -2010);
    assert!(sim.open_orders().is_empty());
    sim.shutdown().await;
}

fn kind_of(stream: &str, data: &Value) -> String {
    if stream.contains("@depth") && data.get("lastUpdateId").is_some() {
        return format!(
            "partial{}",
            data["bids"].as_array().map_or(0, Vec::len).min(99)
        );
    }
    if let Some(a) = data.as_array() {
        return format!("arr:{}", a[0]["e"].as_str().unwrap_or(""));
    }
    data["e"].as_str().unwrap_or("bookTicker").to_string()
}

#[tokio::test]
async fn every_documented_stream_name_delivers_its_payload() {
    let sim = start().await;
    let names = [
        ("btcusdt@trade", "trade"),
        ("btcusdt@aggTrade", "aggTrade"),
        ("btcusdt@bookTicker", "bookTicker"),
        ("btcusdt@depth", "depthUpdate"),
        ("btcusdt@depth@100ms", "depthUpdate"),
        ("btcusdt@depth@1000ms", "depthUpdate"),
        ("btcusdt@depth5", "partial5"),
        ("btcusdt@depth10@100ms", "partial10"),
        ("btcusdt@depth20@1000ms", "partial20"),
        ("btcusdt@ticker", "24hrTicker"),
        ("btcusdt@miniTicker", "24hrMiniTicker"),
        ("btcusdt@avgPrice", "avgPrice"),
        ("btcusdt@kline_1s", "kline"),
        ("btcusdt@kline_1m", "kline"),
        ("btcusdt@kline_1M", "kline"),
        ("!ticker@arr", "arr:24hrTicker"),
        ("!miniTicker@arr", "arr:24hrMiniTicker"),
    ];
    let streams: Vec<&str> = names.iter().map(|n| n.0).collect();
    let url = format!("{}/stream?streams={}", sim.ws_base_url(), streams.join("/"));
    let mut ws = connect(&url).await;
    let mut seen = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < names.len() && tokio::time::Instant::now() < deadline {
        let Some(ev) = next_json(&mut ws, Duration::from_secs(5)).await else {
            break;
        };
        let stream = ev["stream"].as_str().unwrap().to_string();
        let data = &ev["data"];
        let want = names
            .iter()
            .find(|n| n.0 == stream)
            .expect("only subscribed streams");
        assert_eq!(kind_of(&stream, data), want.1, "{stream}: {data}");
        if let Some(k) = data.get("k") {
            let iv = stream.rsplit('_').next().unwrap();
            assert_eq!(k["i"], iv);
            assert!(k["t"].as_i64().unwrap() <= data["E"].as_i64().unwrap());
        }
        seen.insert(stream);
    }
    let missing: Vec<_> = streams.iter().filter(|s| !seen.contains(**s)).collect();
    assert!(missing.is_empty(), "no frame on {missing:?}");

    // A raw connection on any path (as ccxt opens `/ws/<n>`), then SUBSCRIBE / LIST /
    // UNSUBSCRIBE, and the combined property.
    let mut raw = connect(&format!("{}/ws/0", sim.ws_base_url())).await;
    let send = |v: Value| Message::Text(v.to_string().into());
    raw.send(send(json!({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1s", "btcusdt@depth@1000ms"], "id": 1}))).await.unwrap();
    raw.send(send(json!({"method": "LIST_SUBSCRIPTIONS", "id": 2})))
        .await
        .unwrap();
    raw.send(send(
        json!({"method": "GET_PROPERTY", "params": ["combined"], "id": 3}),
    ))
    .await
    .unwrap();
    let mut replies = Vec::new();
    let mut kinds = HashSet::new();
    while replies.len() < 3 || kinds.len() < 2 {
        let v = next_json(&mut raw, Duration::from_secs(5))
            .await
            .expect("frame");
        if v.get("id").is_some() {
            replies.push(v);
        } else {
            assert!(v.get("stream").is_none(), "raw frames are not wrapped");
            kinds.insert(v["e"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(replies[0], json!({"result": null, "id": 1}));
    assert_eq!(
        replies[1],
        json!({"result": ["btcusdt@depth@1000ms", "btcusdt@kline_1s"], "id": 2})
    );
    assert_eq!(replies[2], json!({"result": false, "id": 3}));
    raw.send(send(json!({"method": "UNSUBSCRIBE", "params": ["btcusdt@kline_1s", "btcusdt@depth@1000ms"], "id": 4}))).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn kline_stream_closes_its_bar_when_the_interval_ends() {
    let sim = start().await;
    let mut ws = connect(&format!("{}/ws/btcusdt@kline_1s", sim.ws_base_url())).await;
    let mut opens = Vec::new();
    let mut closed = None;
    while closed.is_none() {
        let v = next_json(&mut ws, Duration::from_secs(5))
            .await
            .expect("kline");
        let k = &v["k"];
        opens.push(k["t"].as_i64().unwrap());
        if k["x"] == true {
            closed = Some(k.clone());
        }
        assert!(opens.len() < 10, "no closed 1s bar in {opens:?}");
    }
    let k = closed.unwrap();
    assert_eq!(k["T"].as_i64().unwrap() - k["t"].as_i64().unwrap(), 999);
    let (_, rest) = get(
        &sim,
        &format!(
            "/api/v3/klines?symbol=BTCUSDT&interval=1s&startTime={}&limit=1",
            k["t"]
        ),
    )
    .await;
    // The closed bar as streamed is the bar REST reports for that second.
    assert_eq!(rest[0][4], k["c"]);
    assert_eq!(rest[0][8].as_u64(), k["n"].as_u64());
    sim.shutdown().await;
}
