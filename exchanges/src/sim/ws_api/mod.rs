//! `ws_api`: Binance's WebSocket API at `/ws-api/v3` on the simulator's port.
//!
//! One JSON request per text frame, `{"id", "method", "params"}`, one response per request,
//! `{"id", "status", "result" | "error", "rateLimits"}` (`frame`). Methods (`methods`): `ping`,
//! `time`, `exchangeInfo`, `depth`; `session.logon` (Ed25519 keys only), `session.status`,
//! `session.logout`; `userDataStream.subscribe` (authenticated session),
//! `userDataStream.subscribe.signature` (signed, any session), `userDataStream.unsubscribe`,
//! `session.subscriptions`; `order.place`, `order.cancel`, `order.cancelReplace`
//! (`super::cancel_replace`), `order.status`, `openOrders.status`, `openOrders.cancelAll`. Signed
//! requests carry `apiKey`, `timestamp`, `signature` (HMAC-SHA256 hex or Ed25519 base64 over
//! the parameters sorted by name) or rely on the `session.logon` key (`session`). Weight and
//! order counts use the same counters as the REST API; order entry, queries and market data
//! call the REST handlers' functions, so there is one matching engine and one ledger. User data
//! events of a subscription arrive on the same connection as
//! `{"subscriptionId": n, "event": {...}}`.

pub mod faults;
mod frame;
mod methods;
mod session;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::auth::Params;
use super::state::Shared;
use super::wire::now_ms;
use faults::OrderDrop;
use session::Session;

/// Weight of opening a WebSocket API connection.
const CONNECT_WEIGHT: u64 = 2;

/// `GET /ws-api/v3[?returnRateLimits=false]`: upgrades to a WebSocket API session.
pub async fn upgrade(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""), "").unwrap_or_default();
    let return_rate_limits = params.get("returnRateLimits") != Some("false");
    if shared.ws_api_faults.refusing() {
        let e = super::error::ApiError {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            code: -1001,
            msg: "Internal error; unable to process your request. Please try again.".into(),
        };
        return (e.status, e.body()).into_response();
    }
    if let Err(limited) = shared.limits.admit(CONNECT_WEIGHT, false, now_ms()) {
        return (limited.error.status, limited.error.body()).into_response();
    }
    upgrade.on_upgrade(move |s| serve(s, shared, return_rate_limits))
}

/// An armed drop ([`faults::WsApiFaults`]) if `text` is an `order.place` request.
fn injected_drop(shared: &Shared, text: &str) -> Option<OrderDrop> {
    if !shared.ws_api_faults.any_armed() {
        return None;
    }
    let req = frame::Request::parse(text).ok()?;
    if req.method != "order.place" {
        return None;
    }
    let params = req.params().ok()?;
    let coid = params.get("newClientOrderId").unwrap_or_default();
    shared.ws_api_faults.take(coid)
}

/// Receives the next user event if a subscription is active; pends forever otherwise.
async fn next_event(
    rx: &mut Option<broadcast::Receiver<Utf8Bytes>>,
) -> Result<Utf8Bytes, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Serves one WebSocket API connection until the client closes it, the connection fails, a
/// subscription's client falls too far behind, or the simulator stops.
async fn serve(socket: WebSocket, shared: Arc<Shared>, return_rate_limits: bool) {
    let (mut sink, mut stream) = socket.split();
    let mut session = Session::new(now_ms(), return_rate_limits);
    let mut events: Option<broadcast::Receiver<Utf8Bytes>> = None;
    let mut shutdown = shared.shutdown.subscribe();
    let mut ping =
        tokio::time::interval_at(Instant::now() + shared.ping_interval, shared.ping_interval);
    let mut last_pong = Instant::now();
    loop {
        tokio::select! {
            ev = next_event(&mut events) => match ev {
                Ok(event) => {
                    let Some((id, _)) = session.sub else { continue };
                    let text = frame::event(id, event.as_str());
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "WebSocket API subscriber too slow; closing");
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    // The frame has been read: the order-read stamp of tick-to-trade.
                    let read_at = std::time::Instant::now();
                    let fault = injected_drop(&shared, t.as_str());
                    if fault == Some(OrderDrop::BeforePlacing) {
                        tracing::info!("fault injection: WebSocket API dropped before an order.place");
                        return;
                    }
                    let before = session.sub;
                    let reply = methods::handle(&shared, &mut session, t.as_str(), read_at);
                    if fault == Some(OrderDrop::AfterPlacing) {
                        tracing::info!("fault injection: WebSocket API dropped after an order.place, unanswered");
                        return;
                    }
                    // A new subscription sees events from now on; none without one.
                    match session.sub {
                        Some((id, _)) if before.map(|(b, _)| b) != Some(id) => {
                            events = Some(shared.fanout.subscribe_user());
                        }
                        None => events = None,
                        Some(_) => {}
                    }
                    if sink.send(Message::Text(reply.into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if last_pong.elapsed() > shared.pong_timeout + shared.ping_interval {
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
