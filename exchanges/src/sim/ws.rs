//! Market-data websockets: raw `/ws/<stream>`, combined `/stream?streams=a/b/c`, and
//! `SUBSCRIBE` / `UNSUBSCRIBE` / `LIST_SUBSCRIPTIONS` on any connection.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::fanout::MdFrame;
use super::fault::{ConnFaults, Fault};
use super::state::Shared;
use super::wire::now_ms;

/// Stream kinds the simulator publishes.
const KINDS: [&str; 4] = ["trade", "bookTicker", "depth", "depth@100ms"];

/// Whether `name` is a stream the simulator publishes (`<lower-case symbol>@<kind>`).
pub fn is_valid_stream(shared: &Shared, name: &str) -> bool {
    let Some((sym, kind)) = name.split_once('@') else {
        return false;
    };
    if !KINDS.contains(&kind) || sym.is_empty() || sym.bytes().any(|b| b.is_ascii_uppercase()) {
        return false;
    }
    let ex = shared.exchange();
    let listed = ex.symbols().any(|s| s.symbol.eq_ignore_ascii_case(sym));
    listed
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
    let mut subs: BTreeSet<String> = initial.into_iter().collect();
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
                    if !subs.contains(&*frame.stream) {
                        continue;
                    }
                    let text = if combined { frame.combined } else { frame.raw };
                    for text in faults.outgoing(&frame.stream, text).frames.into_iter().flatten() {
                        if sink.send(Message::Text(text)).await.is_err() {
                            break 'conn;
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
                    let stream_name = subs.iter().next().cloned().unwrap_or_default();
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
                    let reply = control(&shared, &mut subs, t.as_str());
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
fn control(shared: &Shared, subs: &mut BTreeSet<String>, text: &str) -> String {
    let err = |code: i64, msg: &str, id: &Value| {
        json!({"error": {"code": code, "msg": msg}, "id": id}).to_string()
    };
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return err(3, "Invalid JSON", &Value::Null);
    };
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    let method = v.get("method").and_then(Value::as_str).unwrap_or("");
    let params: Vec<String> = match v.get("params") {
        None => Vec::new(),
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for p in a {
                match p.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => return err(1, "Invalid value type: expected string", &id),
                }
            }
            out
        }
        Some(_) => return err(1, "Invalid value type: expected array", &id),
    };
    match method {
        "SUBSCRIBE" => {
            if let Some(bad) = params.iter().find(|p| !is_valid_stream(shared, p)) {
                return err(2, &format!("Invalid request: unknown stream '{bad}'"), &id);
            }
            subs.extend(params);
            json!({"result": null, "id": id}).to_string()
        }
        "UNSUBSCRIBE" => {
            for p in &params {
                subs.remove(p);
            }
            json!({"result": null, "id": id}).to_string()
        }
        "LIST_SUBSCRIPTIONS" => {
            json!({"result": subs.iter().collect::<Vec<_>>(), "id": id}).to_string()
        }
        _ => err(2, "Invalid request: unknown method", &id),
    }
}
