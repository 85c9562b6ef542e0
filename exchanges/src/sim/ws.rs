//! Market-data websockets: raw `/ws/<stream>`, combined `/stream?streams=a/b/c`, and
//! `SUBSCRIBE` / `UNSUBSCRIBE` / `LIST_SUBSCRIPTIONS` / `SET_PROPERTY` / `GET_PROPERTY` on any
//! connection, for every documented spot stream name (see [`is_valid_stream`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::fanout::{Fanout, MdFrame};
use super::fault::{ConnFaults, Fault};
use super::klines::Interval;
use super::periodic::ARRAY_STREAMS;
use super::state::Shared;
use super::wire::now_ms;

/// Per-symbol stream kinds the simulator publishes (besides `kline_<interval>`). A depth
/// stream's `@1000ms` form is the same stream as the plain name (see [`canonical`]).
const KINDS: [&str; 18] = [
    "trade",
    "aggTrade",
    "bookTicker",
    "depth",
    "depth@100ms",
    "depth@1000ms",
    "depth5",
    "depth10",
    "depth20",
    "depth5@100ms",
    "depth10@100ms",
    "depth20@100ms",
    "depth5@1000ms",
    "depth10@1000ms",
    "depth20@1000ms",
    "ticker",
    "miniTicker",
    "avgPrice",
];

/// Whether `stream` (as published) also has an `@1000ms` spelling: diff and partial depth.
fn has_1000ms_alias(stream: &str) -> bool {
    ["@depth", "@depth5", "@depth10", "@depth20"]
        .iter()
        .any(|k| stream.ends_with(k))
}

/// Whether `name` is a stream the simulator publishes: `<lower-case symbol>@<kind>` with a
/// kind of [`KINDS`] or `kline_<interval>`, or one of the all-market arrays.
pub fn is_valid_stream(shared: &Shared, name: &str) -> bool {
    if ARRAY_STREAMS.iter().any(|(n, _)| *n == name) {
        return true;
    }
    let Some((sym, kind)) = name.split_once('@') else {
        return false;
    };
    let kind_ok = KINDS.contains(&kind)
        || kind
            .strip_prefix("kline_")
            .is_some_and(|i| Interval::parse(i).is_some());
    if !kind_ok || sym.is_empty() || sym.bytes().any(|b| b.is_ascii_uppercase()) {
        return false;
    }
    let ex = shared.exchange();
    let listed = ex.symbols().any(|s| s.symbol.eq_ignore_ascii_case(sym));
    listed
}

/// The name the simulator publishes a stream under: `@depth@1000ms` is `@depth`,
/// `@depth5@1000ms` is `@depth5`.
fn canonical(name: &str) -> &str {
    name.strip_suffix("@1000ms")
        .filter(|n| has_1000ms_alias(n))
        .unwrap_or(name)
}

/// One connection's subscriptions, registered with the fan-out's interest counts while held.
struct Subscriptions {
    names: BTreeSet<String>,
    fanout: Fanout,
}

impl Subscriptions {
    fn new(fanout: Fanout, initial: Vec<String>) -> Self {
        let mut s = Subscriptions {
            names: BTreeSet::new(),
            fanout,
        };
        for n in initial {
            s.add(n);
        }
        s
    }

    fn add(&mut self, name: String) {
        let c = canonical(&name).to_string();
        if self.names.insert(name) {
            self.fanout.add_interest(&c);
        }
    }

    fn remove(&mut self, name: &str) {
        if self.names.remove(name) {
            self.fanout.remove_interest(canonical(name));
        }
    }

    /// Texts to send for `frame`: as published, and/or re-labelled for the `@1000ms` spelling
    /// of a depth stream.
    fn texts(&self, frame: &MdFrame, combined: bool) -> [Option<Utf8Bytes>; 2] {
        let stream: &str = &frame.stream;
        let direct = self.names.contains(stream).then(|| {
            if combined {
                frame.combined.clone()
            } else {
                frame.raw.clone()
            }
        });
        let alias = if has_1000ms_alias(stream) {
            let alias = format!("{stream}@1000ms");
            self.names.contains(&alias).then(|| {
                if combined {
                    let v = format!(
                        "{{\"stream\":{},\"data\":{}}}",
                        Value::String(alias),
                        frame.raw.as_str()
                    );
                    Utf8Bytes::from(v)
                } else {
                    frame.raw.clone()
                }
            })
        } else {
            None
        };
        [direct, alias]
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for n in std::mem::take(&mut self.names) {
            self.fanout.remove_interest(canonical(&n));
        }
    }
}

/// Serves one market-data connection. `combined` selects the `{"stream":..,"data":..}`
/// wrapping. `rx` was subscribed before the upgrade.
pub async fn serve(
    socket: WebSocket,
    shared: Arc<Shared>,
    initial: Vec<String>,
    combined: bool,
    mut rx: broadcast::Receiver<MdFrame>,
) {
    let mut combined = combined;
    let mut subs = Subscriptions::new(shared.fanout.clone(), initial);
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = shared.shutdown.subscribe();
    let mut ping =
        tokio::time::interval_at(Instant::now() + shared.ping_interval, shared.ping_interval);
    let mut last_pong = Instant::now();
    let mut fault_rx = shared.faults.subscribe();
    let mut faults = ConnFaults::default();
    'conn: loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(frame) => {
                    for text in subs.texts(&frame, combined).into_iter().flatten() {
                        for text in faults.outgoing(&frame.stream, text).frames.into_iter().flatten() {
                            if sink.send(Message::Text(text)).await.is_err() {
                                break 'conn;
                            }
                            shared.wire.frame_written(&frame.stream, std::time::Instant::now());
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "market-data client too slow; closing");
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            fault = fault_rx.recv() => match fault {
                Ok(Fault::Disconnect) => {
                    tracing::info!("fault injection: dropping a market-data connection");
                    return;
                }
                Ok(f) => {
                    let stream_name = subs.names.iter().next().cloned().unwrap_or_default();
                    if let Some(text) = faults.arm(&f, &stream_name) {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                }
                Err(_) => {}
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(_))) if faults.stalled => {}
                Some(Ok(Message::Text(t))) => {
                    let reply = control(&shared, &mut subs, &mut combined, t.as_str());
                    if sink.send(Message::Text(reply.into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick(), if !faults.stalled => {
                if last_pong.elapsed() > shared.pong_timeout + shared.ping_interval {
                    tracing::debug!("no pong; closing market-data connection");
                    break;
                }
                if sink.send(Message::Ping(now_ms().to_string().into_bytes().into())).await.is_err() {
                    break;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
    // Answers the client's Close (tungstenite queued the reply) or sends ours.
    let _ = sink.close().await;
}

/// Handles a JSON control message and returns the reply.
fn control(shared: &Shared, subs: &mut Subscriptions, combined: &mut bool, text: &str) -> String {
    let err = |code: i64, msg: &str, id: &Value| {
        json!({"error": {"code": code, "msg": msg}, "id": id}).to_string()
    };
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return err(3, "Invalid JSON", &Value::Null);
    };
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    let method = v.get("method").and_then(Value::as_str).unwrap_or("");
    let raw_params: Vec<Value> = match v.get("params") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return err(1, "Invalid value type: expected array", &id),
    };
    if matches!(method, "SET_PROPERTY" | "GET_PROPERTY") {
        if raw_params.first().and_then(Value::as_str).is_none() {
            return err(2, "Invalid request: property name must be a string", &id);
        }
        if raw_params.first().and_then(Value::as_str) != Some("combined") {
            return err(0, "Unknown property", &id);
        }
        if method == "GET_PROPERTY" {
            return json!({"result": *combined, "id": id}).to_string();
        }
        let Some(value) = raw_params.get(1).and_then(Value::as_bool) else {
            return err(1, "Invalid value type: expected Boolean", &id);
        };
        *combined = value;
        return json!({"result": null, "id": id}).to_string();
    }
    let mut params = Vec::new();
    for p in &raw_params {
        match p.as_str() {
            Some(s) => params.push(s.to_string()),
            None => return err(1, "Invalid value type: expected string", &id),
        }
    }
    match method {
        "SUBSCRIBE" => {
            if let Some(bad) = params.iter().find(|p| !is_valid_stream(shared, p)) {
                return err(2, &format!("Invalid request: unknown stream '{bad}'"), &id);
            }
            for p in params {
                subs.add(p);
            }
            json!({"result": null, "id": id}).to_string()
        }
        "UNSUBSCRIBE" => {
            for p in &params {
                subs.remove(p);
            }
            json!({"result": null, "id": id}).to_string()
        }
        "LIST_SUBSCRIPTIONS" => {
            json!({"result": subs.names.iter().collect::<Vec<_>>(), "id": id}).to_string()
        }
        _ => err(2, "Invalid request: unknown method", &id),
    }
}
