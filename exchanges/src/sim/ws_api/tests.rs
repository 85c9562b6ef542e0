//! WebSocket API tests against the real simulator on 127.0.0.1 (tokio-tungstenite client).

use std::collections::VecDeque;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::Message;

use super::super::auth::{ApiKeys, KeyKind};
use super::super::test_keys::{ed25519_keypair, ed25519_sign};
use super::super::{spawn, SimConfig, SimHandle};
use super::frame::Request;
use crate::binance::sign::signature_hex;

const SYM: &str = "BTCUSDT";
const HMAC_KEY: &str = "sim-api-key";
const HMAC_SECRET: &str = "sim-api-secret";
const ED_KEY: &str = "sim-ed25519-key";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn ed_signing() -> SigningKey {
    ed25519_keypair([7; 32], ED_KEY).0
}

async fn start_with(cfg: SimConfig) -> SimHandle {
    let (_, ed) = ed25519_keypair([7; 32], ED_KEY);
    let cfg = SimConfig {
        ed25519_key: Some(ed),
        ..cfg
    };
    let sim = spawn(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    sim.pause_market();
    sim
}

async fn start() -> SimHandle {
    start_with(SimConfig {
        seed: 5,
        ..SimConfig::default()
    })
    .await
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The signing payload as a client builds it from the Binance docs: every parameter but
/// `signature`, sorted by name, `name=value` joined by `&` (written here independently of the
/// server's `frame::payload`).
fn client_payload(params: &Map<String, Value>) -> String {
    let mut names: Vec<&String> = params.keys().filter(|k| *k != "signature").collect();
    names.sort();
    names
        .iter()
        .map(|k| {
            let v = match &params[*k] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// How a test signs a request.
#[derive(Clone, Copy)]
enum Signer {
    Hmac,
    Ed25519,
}

/// `params` plus `apiKey`, `timestamp` (unless given) and a valid `signature`.
fn signed(params: Value, signer: Signer) -> Value {
    let Value::Object(mut m) = params else {
        panic!("params must be an object")
    };
    let key = match signer {
        Signer::Hmac => HMAC_KEY,
        Signer::Ed25519 => ED_KEY,
    };
    m.insert("apiKey".into(), json!(key));
    m.entry("timestamp").or_insert(json!(now()));
    let payload = client_payload(&m);
    let sig = match signer {
        Signer::Hmac => signature_hex(HMAC_SECRET.as_bytes(), payload.as_bytes()),
        Signer::Ed25519 => ed25519_sign(&ed_signing(), &payload),
    };
    m.insert("signature".into(), json!(sig));
    Value::Object(m)
}

struct Client {
    ws: Ws,
    next_id: u64,
    events: VecDeque<Value>,
}

impl Client {
    async fn connect(sim: &SimHandle, query: &str) -> Client {
        let url = format!("{}/ws-api/v3{query}", sim.ws_base_url());
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Client {
            ws,
            next_id: 1,
            events: VecDeque::new(),
        }
    }

    async fn send_text(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next response (a frame with `status`), keeping events aside.
    async fn response(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("a response within 5 s")
                .expect("connection open")
                .unwrap();
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v.get("subscriptionId").is_some() && v.get("event").is_some() {
                    self.events.push_back(v);
                } else {
                    return v;
                }
            }
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let req = if params.is_null() {
            json!({"id": id, "method": method})
        } else {
            json!({"id": id, "method": method, "params": params})
        };
        self.send_text(req.to_string()).await;
        let v = self.response().await;
        assert_eq!(v["id"], json!(id), "{v}");
        v
    }

    /// The next user data event within `wait`, `None` if none arrives.
    async fn event(&mut self, wait: Duration) -> Option<Value> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        let until = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(until, self.ws.next())
                .await
                .ok()??;
            if let Message::Text(t) = msg.unwrap() {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                assert!(v.get("event").is_some(), "unexpected frame {v}");
                return Some(v);
            }
        }
    }

    /// Events until one `executionReport` with status `x`, returning all reports seen.
    async fn reports_until(&mut self, status: &str) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(e) = self.event(Duration::from_secs(3)).await {
            if e["event"]["e"] == "executionReport" {
                let done = e["event"]["X"] == status;
                out.push(e);
                if done {
                    return out;
                }
            }
        }
        panic!("no executionReport with status {status}; got {out:?}");
    }
}

fn code(v: &Value) -> i64 {
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error in {v}"))
}

fn weight(v: &Value) -> u64 {
    v["rateLimits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rateLimitType"] == "REQUEST_WEIGHT")
        .unwrap()["count"]
        .as_u64()
        .unwrap()
}

/// Asserts a counter moved from `before` to `after` by `by`, allowing for a window reset in
/// between (then `after` counts only what came after the reset).
fn assert_grew(before: u64, after: u64, by: u64) {
    if after > before {
        assert_eq!(after, before + by);
    } else {
        assert!(after <= by, "{before} -> {after}");
    }
}

fn orders(v: &Value) -> Option<u64> {
    v["rateLimits"]
        .as_array()?
        .iter()
        .find(|l| l["rateLimitType"] == "ORDERS")
        .map(|l| l["count"].as_u64().unwrap())
}

fn best(sim: &SimHandle) -> (Decimal, Decimal) {
    let (_, bids, asks) = sim.book(SYM, 1).unwrap();
    (bids[0].0, asks[0].0)
}

// --- Binance's published signing example ---------------------------------------------------

/// The HMAC example of the WebSocket API docs ("SIGNED request example (HMAC)"): the server
/// builds exactly the documented payload from the documented request and the documented
/// signature verifies with the documented secret.
#[test]
fn published_hmac_example_payload_and_signature() {
    const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const PAYLOAD: &str = "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&newOrderRespType=ACK&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT";
    const SIGNATURE: &str = "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a";
    let frame = r#"{
      "id": "4885f793-e5ad-4c3b-8f6c-55d891472b71",
      "method": "order.place",
      "params": {
        "symbol":           "BTCUSDT",
        "side":             "SELL",
        "type":             "LIMIT",
        "timeInForce":      "GTC",
        "quantity":         "0.01000000",
        "price":            "52000.00",
        "newOrderRespType": "ACK",
        "recvWindow":       100,
        "timestamp":        1645423376532,
        "apiKey":           "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        "signature":        "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"
      }
    }"#;
    let req = Request::parse(frame).unwrap();
    assert_eq!(req.signature_payload(), PAYLOAD);
    let keys = ApiKeys::new(&SimConfig {
        api_key: API_KEY.into(),
        api_secret: SECRET.into(),
        ..SimConfig::default()
    })
    .unwrap();
    assert_eq!(keys.kind(API_KEY), Some(KeyKind::Hmac));
    assert!(keys.verify(API_KEY, PAYLOAD.as_bytes(), SIGNATURE));
    assert!(keys.verify(API_KEY, PAYLOAD.as_bytes(), &SIGNATURE.to_uppercase()));
    let tampered = PAYLOAD.replace("SELL", "BUY");
    assert!(!keys.verify(API_KEY, tampered.as_bytes(), SIGNATURE));
}

/// Binance publishes no Ed25519 key/signature pair for the WebSocket API (its Ed25519 example
/// is a Python script with a placeholder key), so the Ed25519 path is checked against RFC 8032
/// test vector 1 through the same PEM import and base64 signature decoding the server uses.
#[test]
fn ed25519_verification_matches_rfc8032_vector() {
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::EncodePublicKey;
    let secret: [u8; 32] =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
    let key = SigningKey::from_bytes(&secret);
    assert_eq!(
        hex::encode(key.verifying_key().as_bytes()),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    let sig = hex::decode("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b").unwrap();
    use base64::Engine as _;
    let sig_b64 = base64::engine::general_purpose::STANDARD.encode(&sig);
    assert_eq!(ed25519_sign(&key, ""), sig_b64);
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let keys = ApiKeys::new(&SimConfig {
        ed25519_key: Some(super::super::SimEd25519Key {
            api_key: "rfc".into(),
            public_key_pem: pem,
        }),
        ..SimConfig::default()
    })
    .unwrap();
    assert_eq!(keys.kind("rfc"), Some(KeyKind::Ed25519));
    assert!(keys.verify("rfc", b"", &sig_b64));
    assert!(!keys.verify("rfc", b"x", &sig_b64));
    assert!(!keys.verify("rfc", b"", "not base64!"));
    // An HMAC hex signature is not an Ed25519 signature.
    assert!(!keys.verify("rfc", b"", &signature_hex(b"k", b"")));
}

/// Binance's sample Ed25519 public key (`faqs/api_key_types.md`) imports as a simulator key.
/// (The FAQ's sample signature is published without its payload, so it cannot be verified.)
#[test]
fn binance_sample_ed25519_public_key_imports() {
    let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAgmDRTtj2FA+wzJUIlAL9ly1eovjLBu7uXUFR+jFULmg=\n-----END PUBLIC KEY-----\n";
    let keys = ApiKeys::new(&SimConfig {
        ed25519_key: Some(super::super::SimEd25519Key {
            api_key: "sample".into(),
            public_key_pem: pem.into(),
        }),
        ..SimConfig::default()
    })
    .unwrap();
    assert_eq!(keys.kind("sample"), Some(KeyKind::Ed25519));
    assert_eq!(keys.kind(HMAC_KEY), Some(KeyKind::Hmac));
    assert_eq!(keys.kind("other"), None);
}

#[tokio::test]
async fn unparsable_ed25519_public_key_is_a_config_error() {
    let cfg = SimConfig {
        ed25519_key: Some(super::super::SimEd25519Key {
            api_key: "k".into(),
            public_key_pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
        }),
        ..SimConfig::default()
    };
    let err = spawn(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ed25519_key"), "{err}");
}

// --- public methods, framing, rate limits ---------------------------------------------------

#[tokio::test]
async fn public_methods_frames_and_rate_limits() {
    let sim = start().await;
    let mut c = Client::connect(&sim, "").await;
    let v = c.call("ping", Value::Null).await;
    assert_eq!(
        (v["status"].as_u64(), &v["result"]),
        (Some(200), &json!({}))
    );
    let w0 = weight(&v);
    assert!(orders(&v).is_none(), "ping is no order: {v}");

    let v = c.call("time", Value::Null).await;
    assert!((v["result"]["serverTime"].as_i64().unwrap() - now()).abs() < 2000);
    assert_grew(w0, weight(&v), 1);

    let v = c.call("exchangeInfo", json!({"symbols": [SYM]})).await;
    assert_eq!(v["result"]["symbols"][0]["symbol"], SYM, "{v}");
    assert_grew(w0, weight(&v), 21);
    let v = c.call("exchangeInfo", json!({"symbol": "NOPE"})).await;
    assert_eq!((v["status"].as_u64(), code(&v)), (Some(400), -1121));

    let v = c.call("depth", json!({"symbol": SYM, "limit": 5})).await;
    let (b, a) = best(&sim);
    assert_eq!(v["result"]["bids"][0][0], json!(super::super::wire::dec(b)));
    assert_eq!(v["result"]["asks"][0][0], json!(super::super::wire::dec(a)));
    assert!(v["result"]["lastUpdateId"].as_u64().unwrap() > 0);
    assert_eq!(v["result"]["bids"].as_array().unwrap().len(), 5);
    let v = c.call("depth", json!({})).await;
    assert_eq!(code(&v), -1102);

    // `v3/` prefix, string and null ids, returnRateLimits=false, unknown methods, bad JSON.
    c.send_text(r#"{"id":"abc-1","method":"v3/ping"}"#.into())
        .await;
    let v = c.response().await;
    assert_eq!(
        (&v["id"], v["status"].as_u64()),
        (&json!("abc-1"), Some(200))
    );
    c.send_text(r#"{"id":null,"method":"ping","params":{"returnRateLimits":false}}"#.into())
        .await;
    let v = c.response().await;
    assert_eq!(v["id"], Value::Null);
    assert!(v.get("rateLimits").is_none(), "{v}");
    let v = c.call("nope.method", Value::Null).await;
    assert_eq!((v["status"].as_u64(), code(&v)), (Some(400), -1020));
    c.send_text("{not json".into()).await;
    let v = c.response().await;
    assert_eq!((v["status"].as_u64(), code(&v)), (Some(400), -1102));

    // The connection default from the URL, overridable per request.
    let mut quiet = Client::connect(&sim, "?returnRateLimits=false").await;
    let v = quiet.call("ping", Value::Null).await;
    assert!(v.get("rateLimits").is_none(), "{v}");
    let v = quiet.call("ping", json!({"returnRateLimits": true})).await;
    assert!(v.get("rateLimits").is_some(), "{v}");
    sim.shutdown().await;
}

#[tokio::test]
async fn rest_and_ws_api_share_one_weight_budget() {
    let sim = start().await;
    let mut c = Client::connect(&sim, "").await;
    let w0 = weight(&c.call("ping", Value::Null).await);
    let resp = reqwest::get(format!("{}/api/v3/ping", sim.rest_base_url()))
        .await
        .unwrap();
    let rest_w: u64 = resp.headers()["x-mbx-used-weight-1m"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let w1 = weight(&c.call("ping", Value::Null).await);
    // Within one minute window: REST saw ours + 1, we see REST's + 1. (A minute boundary
    // between the calls resets the counters; then the counts are small.)
    if w1 > w0 {
        assert_eq!(rest_w, w0 + 1);
        assert_eq!(w1, rest_w + 1);
    } else {
        assert!(w1 <= 2);
    }
    // Injected 429s reach the WebSocket API too, with Binance's retry data.
    sim.inject_rate_limit(429, 7, 1);
    let v = c.call("ping", Value::Null).await;
    assert_eq!((v["status"].as_u64(), code(&v)), (Some(429), -1003));
    let retry = v["error"]["data"]["retryAfter"].as_i64().unwrap();
    assert!((retry - now() - 7000).abs() < 2000, "{v}");
    assert!(v["error"]["data"]["serverTime"].as_i64().is_some());
    sim.shutdown().await;
}

// --- signed order entry ----------------------------------------------------------------------

#[tokio::test]
async fn signed_order_entry_with_hmac_and_documented_errors() {
    let sim = start().await;
    let mut c = Client::connect(&sim, "").await;
    let (bid, _) = best(&sim);
    let price = (bid - Decimal::new(100, 0)).to_string();
    let place = |cid: &str| {
        json!({"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
               "quantity": "0.00100", "price": price, "newClientOrderId": cid})
    };
    let v = c
        .call("order.place", signed(place("ws-1"), Signer::Hmac))
        .await;
    assert_eq!(v["status"], 200, "{v}");
    let r = &v["result"];
    assert_eq!(
        (&r["status"], &r["clientOrderId"]),
        (&json!("NEW"), &json!("ws-1"))
    );
    assert!(
        r["fills"].as_array().unwrap().is_empty(),
        "FULL response by default: {v}"
    );
    assert_eq!(orders(&v), Some(1), "order.place counts an order: {v}");
    let order_id = r["orderId"].as_u64().unwrap();
    assert_eq!(
        sim.open_orders(),
        vec![(SYM.to_string(), "ws-1".to_string())]
    );

    let v = c
        .call(
            "order.status",
            signed(json!({"symbol": SYM, "orderId": order_id}), Signer::Hmac),
        )
        .await;
    assert_eq!(
        (&v["result"]["status"], &v["result"]["clientOrderId"]),
        (&json!("NEW"), &json!("ws-1"))
    );
    assert!(orders(&v).is_none());
    let v = c
        .call(
            "openOrders.status",
            signed(json!({"symbol": SYM}), Signer::Hmac),
        )
        .await;
    assert_eq!(v["result"].as_array().unwrap().len(), 1, "{v}");

    // Documented errors.
    let mut bad = signed(place("ws-2"), Signer::Hmac);
    bad["signature"] = json!(signature_hex(b"wrong secret", b"x"));
    let v = c.call("order.place", bad).await;
    assert_eq!((v["status"].as_u64(), code(&v)), (Some(400), -1022));
    assert_eq!(
        v["error"]["msg"],
        "Signature for this request is not valid."
    );
    let mut tampered = signed(place("ws-2"), Signer::Hmac);
    tampered["quantity"] = json!("0.00200");
    assert_eq!(code(&c.call("order.place", tampered).await), -1022);
    let mut unknown = signed(place("ws-2"), Signer::Hmac);
    unknown["apiKey"] = json!("someoneElse");
    let v = c.call("order.place", unknown).await;
    assert_eq!((v["status"].as_u64(), code(&v)), (Some(401), -2015));
    let mut malformed = signed(place("ws-2"), Signer::Hmac);
    malformed["apiKey"] = json!("bad key!");
    assert_eq!(code(&c.call("order.place", malformed).await), -2014);
    let mut no_sig = signed(place("ws-2"), Signer::Hmac);
    no_sig.as_object_mut().unwrap().remove("signature");
    let v = c.call("order.place", no_sig).await;
    assert_eq!(code(&v), -1102);
    assert!(
        v["error"]["msg"].as_str().unwrap().contains("'signature'"),
        "{v}"
    );
    let v = c.call("order.place", place("ws-2")).await;
    assert_eq!(code(&v), -1102);
    assert!(
        v["error"]["msg"].as_str().unwrap().contains("'apiKey'"),
        "{v}"
    );
    let old = signed(
        json!({"symbol": SYM, "orderId": order_id, "timestamp": now() - 10_000}),
        Signer::Hmac,
    );
    let v = c.call("order.status", old).await;
    assert_eq!(code(&v), -1021);
    assert_eq!(
        v["error"]["msg"],
        "Timestamp for this request is outside of the recvWindow."
    );
    let wide = signed(
        json!({"symbol": SYM, "orderId": order_id, "timestamp": now() - 10_000, "recvWindow": 20000}),
        Signer::Hmac,
    );
    assert_eq!(c.call("order.status", wide).await["status"], 200);
    let ahead = signed(
        json!({"symbol": SYM, "orderId": order_id, "timestamp": now() + 5_000}),
        Signer::Hmac,
    );
    assert_eq!(code(&c.call("order.status", ahead).await), -1021);
    let huge = signed(
        json!({"symbol": SYM, "orderId": order_id, "recvWindow": 70000}),
        Signer::Hmac,
    );
    assert_eq!(code(&c.call("order.status", huge).await), -1131);
    let no_ts = signed(json!({"symbol": SYM, "orderId": order_id}), Signer::Hmac);
    let mut no_ts = no_ts;
    no_ts.as_object_mut().unwrap().remove("timestamp");
    let payload = client_payload(no_ts.as_object().unwrap());
    no_ts["signature"] = json!(signature_hex(HMAC_SECRET.as_bytes(), payload.as_bytes()));
    let v = c.call("order.status", no_ts).await;
    assert_eq!(code(&v), -1102);
    assert!(v["error"]["msg"].as_str().unwrap().contains("'timestamp'"));
    let v = c
        .call(
            "order.status",
            signed(json!({"symbol": SYM, "orderId": 999_999_999}), Signer::Hmac),
        )
        .await;
    assert_eq!(
        (code(&v), &v["error"]["msg"]),
        (-2013, &json!("Order does not exist."))
    );
    let v = c
        .call(
            "order.cancel",
            signed(json!({"symbol": SYM, "orderId": 999_999_999}), Signer::Hmac),
        )
        .await;
    assert_eq!(
        (code(&v), &v["error"]["msg"]),
        (-2011, &json!("Unknown order sent."))
    );
    let mut rich = place("ws-3");
    rich["quantity"] = json!("9000");
    let v = c.call("order.place", signed(rich, Signer::Hmac)).await;
    assert_eq!(
        (code(&v), &v["error"]["msg"]),
        (
            -2010,
            &json!("Account has insufficient balance for requested action.")
        )
    );
    let mut missing = place("ws-3");
    missing.as_object_mut().unwrap().remove("side");
    assert_eq!(
        code(&c.call("order.place", signed(missing, Signer::Hmac)).await),
        -1102
    );
    let mut illegal = place("ws-3");
    illegal["quantity"] = json!("abc");
    assert_eq!(
        code(&c.call("order.place", signed(illegal, Signer::Hmac)).await),
        -1100
    );

    // Cancel it; then nothing is open.
    let v = c
        .call(
            "order.cancel",
            signed(
                json!({"symbol": SYM, "origClientOrderId": "ws-1"}),
                Signer::Hmac,
            ),
        )
        .await;
    assert_eq!(
        (&v["result"]["status"], &v["result"]["origClientOrderId"]),
        (&json!("CANCELED"), &json!("ws-1"))
    );
    assert!(sim.open_orders().is_empty());

    // openOrders.cancelAll cancels every open order of the symbol.
    for cid in ["a1", "a2"] {
        let v = c
            .call("order.place", signed(place(cid), Signer::Hmac))
            .await;
        assert_eq!(v["status"], 200, "{v}");
    }
    let v = c
        .call(
            "openOrders.cancelAll",
            signed(json!({"symbol": SYM}), Signer::Hmac),
        )
        .await;
    let cancelled = v["result"].as_array().unwrap();
    assert_eq!(cancelled.len(), 2, "{v}");
    assert!(cancelled.iter().all(|o| o["status"] == "CANCELED"));
    assert!(sim.open_orders().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn cancel_replace_success_partial_and_total_failure() {
    let sim = start().await;
    let mut c = Client::connect(&sim, "").await;
    let (bid, _) = best(&sim);
    let p1 = (bid - Decimal::new(100, 0)).to_string();
    let p2 = (bid - Decimal::new(101, 0)).to_string();
    let v = c
        .call(
            "order.place",
            signed(
                json!({"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                       "quantity": "0.00100", "price": p1, "newClientOrderId": "cr-1"}),
                Signer::Hmac,
            ),
        )
        .await;
    assert_eq!(v["status"], 200, "{v}");
    let replace = |orig: &str, new_cid: &str, qty: &str, mode: &str| {
        signed(
            json!({"symbol": SYM, "cancelReplaceMode": mode, "cancelOrigClientOrderId": orig,
                   "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": qty,
                   "price": p2, "newClientOrderId": new_cid}),
            Signer::Hmac,
        )
    };
    let v = c
        .call(
            "order.cancelReplace",
            replace("cr-1", "cr-2", "0.00100", "STOP_ON_FAILURE"),
        )
        .await;
    assert_eq!(v["status"], 200, "{v}");
    let r = &v["result"];
    assert_eq!(
        (&r["cancelResult"], &r["newOrderResult"]),
        (&json!("SUCCESS"), &json!("SUCCESS"))
    );
    assert_eq!(r["cancelResponse"]["status"], "CANCELED");
    assert_eq!(r["newOrderResponse"]["clientOrderId"], "cr-2");
    assert!(orders(&v).is_some(), "cancelReplace counts an order: {v}");
    assert_eq!(
        sim.open_orders(),
        vec![(SYM.to_string(), "cr-2".to_string())]
    );

    // Cancel fails (cr-1 is gone) under STOP_ON_FAILURE: -2022, new order not attempted.
    let v = c
        .call(
            "order.cancelReplace",
            replace("cr-1", "cr-3", "0.00100", "STOP_ON_FAILURE"),
        )
        .await;
    assert_eq!((v["status"].as_u64(), code(&v)), (Some(400), -2022), "{v}");
    let d = &v["error"]["data"];
    assert_eq!(
        (&d["cancelResult"], &d["newOrderResult"]),
        (&json!("FAILURE"), &json!("NOT_ATTEMPTED"))
    );
    assert_eq!(d["cancelResponse"]["code"], -2011);
    // ALLOW_FAILURE: the new order is placed anyway: partial failure -2021, status 409.
    let v = c
        .call(
            "order.cancelReplace",
            replace("cr-1", "cr-3", "0.00100", "ALLOW_FAILURE"),
        )
        .await;
    assert_eq!((v["status"].as_u64(), code(&v)), (Some(409), -2021), "{v}");
    let d = &v["error"]["data"];
    assert_eq!(
        (&d["cancelResult"], &d["newOrderResult"]),
        (&json!("FAILURE"), &json!("SUCCESS"))
    );
    assert_eq!(d["newOrderResponse"]["clientOrderId"], "cr-3");
    // Cancel succeeds but the new order is refused (balance): -2021 the other way round.
    let v = c
        .call(
            "order.cancelReplace",
            replace("cr-3", "cr-4", "9000", "STOP_ON_FAILURE"),
        )
        .await;
    assert_eq!((v["status"].as_u64(), code(&v)), (Some(409), -2021), "{v}");
    let d = &v["error"]["data"];
    assert_eq!(
        (&d["cancelResult"], &d["newOrderResult"]),
        (&json!("SUCCESS"), &json!("FAILURE"))
    );
    assert_eq!(d["newOrderResponse"]["code"], -2010);
    // Both fail: -2022.
    let v = c
        .call(
            "order.cancelReplace",
            replace("cr-3", "cr-5", "9000", "ALLOW_FAILURE"),
        )
        .await;
    assert_eq!((v["status"].as_u64(), code(&v)), (Some(400), -2022), "{v}");
    let v = c
        .call(
            "order.cancelReplace",
            signed(
                json!({"symbol": SYM, "cancelReplaceMode": "STOP_ON_FAILURE"}),
                Signer::Hmac,
            ),
        )
        .await;
    assert_eq!(code(&v), -1102);
    assert_eq!(
        sim.open_orders(),
        vec![(SYM.to_string(), "cr-2".to_string())]
    );
    sim.shutdown().await;
}

// --- user data --------------------------------------------------------------------------------

#[tokio::test]
async fn signature_subscription_receives_fill_events() {
    let sim = start().await;
    let mut c = Client::connect(&sim, "").await;
    let v = c
        .call(
            "userDataStream.subscribe.signature",
            signed(json!({}), Signer::Hmac),
        )
        .await;
    assert_eq!(
        (v["status"].as_u64(), &v["result"]),
        (Some(200), &json!({"subscriptionId": 0})),
        "{v}"
    );
    let v = c.call("session.subscriptions", Value::Null).await;
    assert_eq!(v["result"], json!([{"subscriptionId": 0}]));
    let v = c.call("session.status", Value::Null).await;
    assert_eq!(
        (&v["result"]["userDataStream"], &v["result"]["apiKey"]),
        (&json!(true), &Value::Null)
    );
    // One subscription per account and connection.
    let v = c
        .call(
            "userDataStream.subscribe.signature",
            signed(json!({}), Signer::Hmac),
        )
        .await;
    assert_eq!(code(&v), -2035);
    let mut bad = signed(json!({}), Signer::Hmac);
    bad["signature"] = json!(signature_hex(b"nope", b"x"));
    assert_eq!(
        code(&c.call("userDataStream.subscribe.signature", bad).await),
        -1022
    );

    // A market buy through REST fills; its events arrive on this connection, wrapped.
    let http = reqwest::Client::new();
    let q = format!(
        "symbol={SYM}&side=BUY&type=MARKET&quantity=0.00100&newClientOrderId=mkt-1&timestamp={}",
        now()
    );
    let sig = signature_hex(HMAC_SECRET.as_bytes(), q.as_bytes());
    let resp = http
        .post(format!(
            "{}/api/v3/order?{q}&signature={sig}",
            sim.rest_base_url()
        ))
        .header("X-MBX-APIKEY", HMAC_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let reports = c.reports_until("FILLED").await;
    assert!(reports.iter().all(|r| r["subscriptionId"] == 0));
    let new = &reports[0]["event"];
    assert_eq!((&new["x"], &new["c"]), (&json!("NEW"), &json!("mkt-1")));
    let fill = &reports.last().unwrap()["event"];
    assert_eq!(
        (&fill["x"], &fill["X"]),
        (&json!("TRADE"), &json!("FILLED"))
    );
    assert_eq!(fill["z"], "0.00100000");
    // Documented types: strings for amounts, numbers for ids and times, bools for flags.
    for k in ["q", "p", "P", "F", "l", "z", "L", "n", "Z", "Y", "Q"] {
        assert!(fill[k].is_string(), "{k} in {fill}");
    }
    for k in ["E", "T", "t", "i", "g", "O", "I"] {
        assert!(fill[k].is_i64(), "{k} in {fill}");
    }
    assert!(fill["w"].is_boolean() && fill["m"].is_boolean() && fill["M"].is_boolean());
    assert_eq!(fill["N"], "BTC");
    // A MARKET order never rests: no working time, not on the book.
    for r in &reports {
        assert!(r["event"].get("W").is_none(), "{r}");
        assert_eq!(r["event"]["w"], false, "{r}");
    }
    // Execution ids (`I`) are unique and increasing.
    let ids: Vec<i64> = reports
        .iter()
        .map(|r| r["event"]["I"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // The balance update follows.
    let mut saw_position = false;
    while let Some(e) = c.event(Duration::from_millis(500)).await {
        if e["event"]["e"] == "outboundAccountPosition" {
            saw_position = true;
            break;
        }
    }
    assert!(saw_position);

    // Unsubscribed: no more events; a new subscription gets the next id.
    let v = c
        .call("userDataStream.unsubscribe", json!({"subscriptionId": 0}))
        .await;
    assert_eq!(
        (v["status"].as_u64(), &v["result"]),
        (Some(200), &json!({}))
    );
    assert_eq!(
        c.call("session.subscriptions", Value::Null).await["result"],
        json!([])
    );
    let place = |cid: &str| {
        signed(
            json!({"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "0.00100",
                   "newClientOrderId": cid}),
            Signer::Hmac,
        )
    };
    assert_eq!(c.call("order.place", place("mkt-2")).await["status"], 200);
    assert!(
        c.event(Duration::from_millis(300)).await.is_none(),
        "no events after unsubscribe"
    );
    let v = c
        .call(
            "userDataStream.subscribe.signature",
            signed(json!({}), Signer::Hmac),
        )
        .await;
    assert_eq!(v["result"], json!({"subscriptionId": 1}));
    assert_eq!(c.call("order.place", place("mkt-3")).await["status"], 200);
    let reports = c.reports_until("FILLED").await;
    assert!(reports
        .iter()
        .all(|r| r["subscriptionId"] == 1 && r["event"]["c"] == "mkt-3"));
    // Unsubscribe without an id ends every subscription.
    c.call("userDataStream.unsubscribe", Value::Null).await;
    assert_eq!(
        c.call("session.subscriptions", Value::Null).await["result"],
        json!([])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn resting_order_reports_carry_working_time() {
    let sim = start().await;
    let mut c = Client::connect(&sim, "").await;
    c.call(
        "userDataStream.subscribe.signature",
        signed(json!({}), Signer::Hmac),
    )
    .await;
    let (bid, _) = best(&sim);
    let v = c
        .call(
            "order.place",
            signed(
                json!({"symbol": SYM, "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.00100",
                       "price": (bid - Decimal::ONE).to_string(), "newClientOrderId": "rest-1"}),
                Signer::Hmac,
            ),
        )
        .await;
    assert_eq!(v["status"], 200, "{v}");
    let new = &c.reports_until("NEW").await[0]["event"];
    assert_eq!(new["w"], true);
    assert_eq!(new["W"], new["O"], "working since placement: {new}");
    let v = c
        .call(
            "order.cancel",
            signed(
                json!({"symbol": SYM, "origClientOrderId": "rest-1"}),
                Signer::Hmac,
            ),
        )
        .await;
    assert_eq!(v["status"], 200);
    let cxl = &c.reports_until("CANCELED").await[0]["event"];
    assert_eq!((&cxl["W"], &cxl["w"]), (&new["W"], &json!(false)));
    assert_eq!(cxl["C"], "rest-1");
    sim.shutdown().await;
}

#[tokio::test]
async fn ed25519_session_logon_subscribe_and_session_orders() {
    let sim = start().await;
    let mut c = Client::connect(&sim, "").await;
    let v = c.call("session.status", Value::Null).await;
    assert_eq!(
        (&v["result"]["apiKey"], &v["result"]["authorizedSince"]),
        (&Value::Null, &Value::Null)
    );
    assert!(v["result"]["connectedSince"].as_i64().unwrap() <= now());
    // Not authenticated yet.
    let v = c.call("userDataStream.subscribe", Value::Null).await;
    assert_eq!(code(&v), -1002);
    let v = c
        .call(
            "order.status",
            json!({"symbol": SYM, "orderId": 1, "timestamp": now()}),
        )
        .await;
    assert_eq!(code(&v), -1102);
    // session.logon takes Ed25519 keys only; a bad signature is -1022.
    let v = c
        .call("session.logon", signed(json!({}), Signer::Hmac))
        .await;
    assert_eq!(code(&v), -4056, "{v}");
    let mut bad = signed(json!({}), Signer::Ed25519);
    // Tamper with the signed timestamp itself (one ms earlier), not with a fresh clock read,
    // which can equal the signed value.
    let signed_ts = bad["timestamp"].as_i64().expect("signed timestamp");
    bad["timestamp"] = json!(signed_ts - 1);
    assert_eq!(code(&c.call("session.logon", bad).await), -1022);
    let stale = signed(json!({"timestamp": now() - 60_000}), Signer::Ed25519);
    assert_eq!(code(&c.call("session.logon", stale).await), -1021);
    let v = c
        .call("session.logon", signed(json!({}), Signer::Ed25519))
        .await;
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["result"]["apiKey"], ED_KEY);
    assert!(v["result"]["authorizedSince"].as_i64().is_some());
    assert_eq!(
        c.call("session.status", Value::Null).await["result"]["apiKey"],
        ED_KEY
    );

    let v = c.call("userDataStream.subscribe", Value::Null).await;
    assert_eq!(v["result"], json!({"subscriptionId": 0}), "{v}");
    // Orders on behalf of the session key: no apiKey, no signature, still a timestamp.
    let v = c
        .call(
            "order.place",
            json!({"symbol": SYM, "side": "SELL", "type": "MARKET", "quantity": "0.00100",
                   "newClientOrderId": "ed-1", "timestamp": now()}),
        )
        .await;
    assert_eq!(
        (&v["status"], &v["result"]["status"]),
        (&json!(200), &json!("FILLED")),
        "{v}"
    );
    let reports = c.reports_until("FILLED").await;
    assert!(reports
        .iter()
        .all(|r| r["event"]["c"] == "ed-1" && r["subscriptionId"] == 0));
    let v = c
        .call(
            "order.status",
            json!({"symbol": SYM, "origClientOrderId": "ed-1"}),
        )
        .await;
    assert_eq!(code(&v), -1102, "timestamp still required: {v}");
    // An explicit Ed25519 signature works too (and is checked).
    let v = c
        .call(
            "order.status",
            signed(
                json!({"symbol": SYM, "origClientOrderId": "ed-1"}),
                Signer::Ed25519,
            ),
        )
        .await;
    assert_eq!(v["result"]["status"], "FILLED", "{v}");
    let mut forged = signed(
        json!({"symbol": SYM, "origClientOrderId": "ed-1"}),
        Signer::Ed25519,
    );
    forged["origClientOrderId"] = json!("other");
    assert_eq!(code(&c.call("order.status", forged).await), -1022);

    // Logout ends the session subscription and the session's authority.
    let v = c.call("session.logout", Value::Null).await;
    assert_eq!(
        (&v["result"]["apiKey"], &v["result"]["userDataStream"]),
        (&Value::Null, &json!(false))
    );
    assert_eq!(
        c.call("session.subscriptions", Value::Null).await["result"],
        json!([])
    );
    let v = c
        .call(
            "order.status",
            json!({"symbol": SYM, "origClientOrderId": "ed-1", "timestamp": now()}),
        )
        .await;
    assert_eq!(code(&v), -1102);
    // A signature subscription survives logout.
    c.call("session.logon", signed(json!({}), Signer::Ed25519))
        .await;
    let v = c
        .call(
            "userDataStream.subscribe.signature",
            signed(json!({}), Signer::Ed25519),
        )
        .await;
    assert_eq!(v["result"], json!({"subscriptionId": 1}), "{v}");
    c.call("session.logout", Value::Null).await;
    assert_eq!(
        c.call("session.subscriptions", Value::Null).await["result"],
        json!([{"subscriptionId": 1}])
    );
    sim.shutdown().await;
}

// --- REST with Ed25519, retired listen keys, close handshake ----------------------------------

#[tokio::test]
async fn rest_signed_endpoints_accept_ed25519_signatures() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let q = format!(
        "symbol={SYM}&side=BUY&type=MARKET&quantity=0.00100&newClientOrderId=ed-rest&timestamp={}",
        now()
    );
    let sig = ed25519_sign(&ed_signing(), &q);
    // base64 has '+', '/', '=': URL-encoded as Binance asks.
    let enc: String = sig
        .bytes()
        .map(|b| match b {
            b'+' => "%2B".to_string(),
            b'/' => "%2F".to_string(),
            b'=' => "%3D".to_string(),
            b => (b as char).to_string(),
        })
        .collect();
    let url = |s: &str| format!("{}/api/v3/order?{q}&signature={s}", sim.rest_base_url());
    let resp = http
        .post(url(&enc))
        .header("X-MBX-APIKEY", ED_KEY)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "FILLED");
    // The same signature under the HMAC key, or a signature of other bytes, is refused.
    let resp = http
        .post(url(&enc))
        .header("X-MBX-APIKEY", HMAC_KEY)
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], -1022);
    let other = ed25519_sign(&ed_signing(), "something else").replace('+', "%2B");
    let resp = http
        .post(url(&other.replace('/', "%2F").replace('=', "%3D")))
        .header("X-MBX-APIKEY", ED_KEY)
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], -1022);
    sim.shutdown().await;
}

#[tokio::test]
async fn listen_key_endpoints_answer_410_unless_legacy() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v3/userDataStream", sim.rest_base_url());
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let resp = http
            .request(method.clone(), &url)
            .header("X-MBX-APIKEY", HMAC_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 410, "{method}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("<title>410 Gone</title>"), "{body}");
    }
    sim.shutdown().await;

    let legacy = start_with(SimConfig {
        legacy_listen_key: true,
        ..SimConfig::default()
    })
    .await;
    let resp = http
        .post(format!("{}/api/v3/userDataStream", legacy.rest_base_url()))
        .header("X-MBX-APIKEY", HMAC_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["listenKey"].as_str().unwrap().len(), 60);
    legacy.shutdown().await;
}

/// Sends a Close frame and expects the server's Close (then the end of the stream).
async fn assert_close_answered(url: &str) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Close(None)).await.unwrap();
    let mut answered = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
            Ok(Some(Ok(Message::Close(_)))) => answered = true,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("{url}: {e}"),
            Ok(None) => break,
            Err(_) => panic!("{url}: the server neither answered nor closed"),
        }
    }
    assert!(answered, "{url}: no Close frame from the server");
}

#[tokio::test]
async fn every_websocket_route_answers_close_with_close() {
    let sim = start_with(SimConfig {
        legacy_listen_key: true,
        ..SimConfig::default()
    })
    .await;
    let base = sim.ws_base_url();
    assert_close_answered(&format!("{base}/ws-api/v3")).await;
    assert_close_answered(&format!("{base}/ws/btcusdt@trade")).await;
    assert_close_answered(&format!("{base}/ws")).await;
    assert_close_answered(&format!(
        "{base}/stream?streams=btcusdt@trade/btcusdt@bookTicker"
    ))
    .await;
    let key: Value = reqwest::Client::new()
        .post(format!("{}/api/v3/userDataStream", sim.rest_base_url()))
        .header("X-MBX-APIKEY", HMAC_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_close_answered(&format!("{base}/ws/{}", key["listenKey"].as_str().unwrap())).await;
    // A subscribed WS API connection too.
    let mut c = Client::connect(&sim, "").await;
    c.call(
        "userDataStream.subscribe.signature",
        signed(json!({}), Signer::Hmac),
    )
    .await;
    c.ws.send(Message::Close(None)).await.unwrap();
    let mut answered = false;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(3), c.ws.next()).await {
        answered |= matches!(m, Message::Close(_));
    }
    assert!(answered);
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_ws_api_connections() {
    let sim = start().await;
    let mut c = Client::connect(&sim, "").await;
    c.call("ping", Value::Null).await;
    sim.shutdown().await;
    loop {
        match tokio::time::timeout(Duration::from_secs(3), c.ws.next()).await {
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => break,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("connection still open after shutdown"),
        }
    }
}

#[tokio::test]
async fn quote_qty_market_order_over_ws_api() {
    let sim = start().await;
    let mut c = Client::connect(&sim, "").await;
    c.call(
        "userDataStream.subscribe.signature",
        signed(json!({}), Signer::Hmac),
    )
    .await;
    let v = c
        .call(
            "order.place",
            signed(
                json!({"symbol": SYM, "side": "BUY", "type": "MARKET", "quoteOrderQty": "100",
                       "newClientOrderId": "qq-1"}),
                Signer::Hmac,
            ),
        )
        .await;
    assert_eq!(v["status"], 200, "{v}");
    let r = &v["result"];
    assert_eq!(r["origQuoteOrderQty"], "100.00000000");
    let spent: Decimal = r["cummulativeQuoteQty"].as_str().unwrap().parse().unwrap();
    assert!(spent > Decimal::ZERO && spent <= Decimal::from(100), "{v}");
    let reports = c.reports_until(r["status"].as_str().unwrap()).await;
    for rep in &reports {
        assert_eq!(rep["event"]["Q"], "100.00000000", "{rep}");
    }
    // The same order in the one ledger REST and WS API share.
    assert!(sim.ledger().iter().all(|f| f.client_order_id == "qq-1"));
    assert!(!sim.ledger().is_empty());
    sim.shutdown().await;
}

// --- Tick-to-trade stamped on the wire -------------------------------------------------------

/// A signed REST `POST /api/v3/order` with the HMAC key; returns the HTTP status.
async fn rest_order(sim: &SimHandle, params: &str) -> u16 {
    let payload = format!("{params}&timestamp={}", now());
    let sig = signature_hex(HMAC_SECRET.as_bytes(), payload.as_bytes());
    reqwest::Client::new()
        .post(format!("{}/api/v3/order", sim.rest_base_url()))
        .header("X-MBX-APIKEY", HMAC_KEY)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("{payload}&signature={sig}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Over real sockets: the simulator times each authenticated new order (WebSocket API and
/// REST) from the latest market frame of its symbol it wrote, on its own clock; an order
/// before any frame is counted but not timed, a request with an unknown key is not an order,
/// and `GET /sim/latency` serves the same figures as the handle.
#[tokio::test]
async fn tick_to_trade_is_stamped_on_the_wire() {
    let sim = start().await; // market paused: only our own trades make frames
    let (mut md, _) =
        tokio_tungstenite::connect_async(format!("{}/ws/btcusdt@trade", sim.ws_base_url()))
            .await
            .unwrap();
    let mut c = Client::connect(&sim, "").await;
    let started = std::time::Instant::now();
    // 1. A market buy before any frame was written: it makes the trade frames.
    let buy = json!({"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "0.00100",
                     "newClientOrderId": "t2t-1"});
    let v = c.call("order.place", signed(buy, Signer::Hmac)).await;
    assert_eq!(v["status"], 200, "{v}");
    let frame = loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), md.next())
            .await
            .expect("a trade frame within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            break serde_json::from_str::<Value>(t.as_str()).unwrap();
        }
    };
    assert_eq!(frame["e"], "trade", "{frame}");
    let gap = Duration::from_millis(200);
    tokio::time::sleep(gap).await;
    // 2. Not an order: unknown key.
    let (bid, _) = best(&sim);
    let price = (bid - Decimal::new(100, 0)).to_string();
    let rest_at = |cid: &str| {
        json!({"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
               "quantity": "0.00100", "price": price, "newClientOrderId": cid})
    };
    let mut foreign = signed(rest_at("t2t-x"), Signer::Hmac);
    foreign["apiKey"] = json!("someoneElse");
    assert_eq!(code(&c.call("order.place", foreign).await), -2015);
    // 3. A resting order over the WebSocket API, 200 ms after the trade frame.
    let v = c
        .call("order.place", signed(rest_at("t2t-2"), Signer::Hmac))
        .await;
    assert_eq!(v["status"], 200, "{v}");
    let bound = started.elapsed();
    let r = sim.wire_latency();
    assert_eq!(
        (r.orders, r.without_frame, r.without_trade_frame),
        (2, 1, 1),
        "{r:?}"
    );
    let t = r.from_latest_trade_frame_ns;
    assert_eq!(t.count, 1, "{r:?}");
    // At least the client's pause (minus slack for scheduling between the write and its
    // stamp), at most the whole exchange as the client saw it.
    assert!(t.p50 >= 150_000_000, "{r:?}");
    assert!(
        t.max as u128 <= bound.as_nanos() + bound.as_nanos() / 500,
        "{r:?} {bound:?}"
    );
    // Only the trade stream is subscribed: the latest frame is the latest trade frame.
    assert_eq!(r.from_latest_frame_ns, t);

    // 4. A REST order, 400 ms after the frame; `GET /sim/latency` agrees with the handle.
    tokio::time::sleep(gap).await;
    let params = format!(
        "symbol={SYM}&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00100&price={price}&newClientOrderId=t2t-3"
    );
    assert_eq!(rest_order(&sim, &params).await, 200);
    let r = sim.wire_latency();
    let served: Value = reqwest::get(format!("{}/sim/latency", sim.rest_base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, serde_json::to_value(r).unwrap());
    assert_eq!(r.orders, 3, "{r:?}");
    let t = r.from_latest_trade_frame_ns;
    assert_eq!(t.count, 2, "{r:?}");
    assert!(t.max >= 350_000_000, "{r:?}");
    assert_eq!(served["from_latest_trade_frame_ns"]["count"], 2, "{served}");
}
