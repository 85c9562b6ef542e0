//! Binance's WebSocket API (`wss://ws-api.binance.com:443/ws-api/v3`): one persistent,
//! authenticated connection carrying both order entry and the User Data Stream.
//!
//! - Authentication: with an Ed25519 key, `session.logon` then `userDataStream.subscribe`
//!   (requests on the session need no `apiKey`/`signature`); with an HMAC key,
//!   `userDataStream.subscribe.signature`, and every order request carries its own signature.
//!   Resubscribed on every reconnect, after which `on_reconnect` is notified (reconciliation).
//! - Requests have numeric ids; responses are matched by id ([`pending::Pending`]: bounded,
//!   per-request timeout; a request whose caller gave up is never written).
//! - Every response's `rateLimits` feeds the shared [`VenueUsage`] (the risk gate's budget).
//! - `executionReport` events are parsed by [`super::user_stream::parse_user_event`] (the
//!   same parser as before) and sent to the engine; acks/rejects go through the
//!   [`ExecLedger`] (the order response may have reported them first).
//! - Reconnect with the shared [`Backoff`]; we ping, answer the server's pings, and treat a
//!   silent connection as dead. `serverShutdown` and `eventStreamTerminated` make it
//!   reconnect.
//!
//! [`WsApi`] is the cheap, cloneable handle the order transport uses.

pub mod frame;
pub mod params;
pub mod pending;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peregrine_engine::clock::Clock;
use peregrine_engine::gateway::ExecSender;
use peregrine_engine::order::ExecKind;
use peregrine_engine::risk::VenueUsage;
use peregrine_engine::secret::Secret;
use peregrine_engine::types::Instruments;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio_tungstenite::tungstenite::Message;

use super::backoff::Backoff;
use super::keyring::KeyRing;
use super::ledger::ExecLedger;
use super::sign::{ApiKeySigner, KeyType};
use super::user_stream::{parse_user_event, UserEvent};
use frame::{parse_incoming, record_rate_limits, request_frame, Inbound, Reply};
use pending::Pending;

/// Why a WebSocket API request got no response. Never contains a key or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsApiError {
    /// Not connected (or not authenticated yet): the request was not written.
    #[error("WebSocket API not connected; request not sent")]
    NotSent,
    /// The connection dropped after the request was written: outcome unknown.
    #[error("WebSocket API connection lost after the request was sent")]
    ConnectionLost,
    /// No response in time: outcome unknown if it was written.
    #[error("WebSocket API request timed out")]
    Timeout,
    /// Too many requests in flight; not sent.
    #[error("too many WebSocket API requests in flight; not sent")]
    TooManyInFlight,
}

/// WebSocket API client settings.
#[derive(Debug, Clone)]
pub struct WsApiConfig {
    /// `wss://ws-api.binance.com:443/ws-api/v3`, or the simulator's `ws://127.0.0.1:PORT/ws-api/v3`.
    pub url: String,
    /// `recvWindow` of `session.logon`, ms.
    pub recv_window_ms: u64,
    /// First reconnect delay; doubles up to `reconnect_max`, with jitter.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// We ping this often (the server pings every 20 s too).
    pub ping_interval: Duration,
    /// No frame for this long means the connection is dead.
    pub idle_timeout: Duration,
    /// A request's response must arrive within this.
    pub request_timeout: Duration,
    /// Connect + authenticate must finish within this.
    pub connect_timeout: Duration,
    /// Requests in flight at most.
    pub max_in_flight: usize,
    /// Notified after every REconnect (resubscribed), so reconciliation can run.
    pub on_reconnect: Option<Arc<Notify>>,
}

impl WsApiConfig {
    /// Defaults for `url`: reconnect 250 ms .. 30 s, ping every 20 s, idle 60 s, requests
    /// 10 s, connect 10 s, 4096 in flight.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            recv_window_ms: 5000,
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_in_flight: 4096,
            on_reconnect: None,
        }
    }
}

/// Counters of one [`run_ws_api`].
#[derive(Debug, Default)]
pub struct WsApiStats {
    /// Successful connect + subscribe.
    pub sessions: AtomicU64,
    /// Reconnections after the first session.
    pub reconnects: AtomicU64,
    /// Requests written.
    pub requests: AtomicU64,
    /// Responses matched to a waiting request.
    pub replies: AtomicU64,
    /// User data events received.
    pub events: AtomicU64,
    /// Exec reports sent to the engine.
    pub reports: AtomicU64,
    /// Acks/rejects not sent because the order response had reported them.
    pub deduplicated: AtomicU64,
    /// Unreadable frames or events.
    pub malformed: AtomicU64,
}

struct Shared {
    out: mpsc::UnboundedSender<(u64, String)>,
    pending: Pending,
    next_id: AtomicU64,
    ready: watch::Receiver<bool>,
    request_timeout: Duration,
    usage: Option<Arc<VenueUsage>>,
    stats: Arc<WsApiStats>,
}

/// Handle to the WebSocket API connection (clone freely).
#[derive(Clone)]
pub struct WsApi {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsApi")
            .field("ready", &*self.shared.ready.borrow())
            .field("in_flight", &self.shared.pending.len())
            .finish()
    }
}

impl WsApi {
    /// True while connected, authenticated and subscribed.
    pub fn is_ready(&self) -> bool {
        *self.shared.ready.borrow()
    }

    /// A receiver of the readiness flag.
    pub fn ready(&self) -> watch::Receiver<bool> {
        self.shared.ready.clone()
    }

    /// The counters.
    pub fn stats(&self) -> Arc<WsApiStats> {
        self.shared.stats.clone()
    }

    /// Sends `method` with `params` (a JSON object text, or empty) and waits for the response.
    /// `Err(NotSent)` when not ready: the caller may use REST instead.
    pub async fn request(&self, method: &str, params: &str) -> Result<Reply, WsApiError> {
        if !self.is_ready() {
            return Err(WsApiError::NotSent);
        }
        let s = &self.shared;
        let id = s.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        s.pending.insert(id, tx)?;
        if s.out.send((id, request_frame(id, method, params))).is_err() {
            s.pending.abandon(id);
            return Err(WsApiError::NotSent);
        }
        match tokio::time::timeout(s.request_timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(WsApiError::ConnectionLost),
            Err(_) => {
                if s.pending.abandon(id) {
                    Err(WsApiError::Timeout)
                } else {
                    // Never written (and now never will be).
                    Err(WsApiError::NotSent)
                }
            }
        }
    }
}

/// How the connection authenticates.
pub struct WsAuth {
    /// The account's key, read at every connect (the key type decides `session.logon` vs
    /// `subscribe.signature`); a replaced key makes the connection reconnect with it.
    pub keys: Arc<KeyRing>,
    /// Venue minus local clock, ms (shared with the REST client that measures it).
    pub clock_offset_ms: Arc<AtomicI64>,
}

/// Everything the connection task needs.
pub struct WsApiParts {
    /// Settings.
    pub cfg: WsApiConfig,
    /// Credentials.
    pub auth: WsAuth,
    /// Symbols of our instruments (for the exec report parser).
    pub instruments: Arc<Instruments>,
    /// Where exec reports go.
    pub exec_tx: ExecSender,
    /// Exactly-once guard for acks/rejects.
    pub ledger: Arc<ExecLedger>,
    /// The shared venue usage (rate budget), if any.
    pub usage: Option<Arc<VenueUsage>>,
}

/// Starts the connection task; returns the handle and the task (it ends when `shutdown`
/// turns true or the engine's exec receiver is gone).
pub fn spawn_ws_api(
    parts: WsApiParts,
    shutdown: watch::Receiver<bool>,
) -> (WsApi, tokio::task::JoinHandle<()>) {
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = watch::channel(false);
    let stats = Arc::new(WsApiStats::default());
    let shared = Arc::new(Shared {
        out: out_tx,
        pending: Pending::new(parts.cfg.max_in_flight),
        next_id: AtomicU64::new(1),
        ready: ready_rx,
        request_timeout: parts.cfg.request_timeout,
        usage: parts.usage.clone(),
        stats,
    });
    let api = WsApi {
        shared: shared.clone(),
    };
    let task = tokio::spawn(run(parts, shared, out_rx, ready_tx, shutdown));
    (api, task)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

enum End {
    Reconnect,
    Stop,
}

async fn run(
    parts: WsApiParts,
    shared: Arc<Shared>,
    mut out_rx: mpsc::UnboundedReceiver<(u64, String)>,
    ready: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let cfg = &parts.cfg;
    let mut backoff = Backoff::new(cfg.reconnect_min, cfg.reconnect_max);
    let mut sessions = 0u64;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let connected = tokio::select! {
            r = tokio::time::timeout(cfg.connect_timeout, connect_and_subscribe(&parts, &shared)) => r,
            _ = shutdown.changed() => break,
        };
        let ws = match connected {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "binance WebSocket API: connect/subscribe failed");
                if wait(backoff.next_delay(), &mut shutdown, &mut out_rx, &shared).await {
                    break;
                }
                continue;
            }
            Err(_) => {
                tracing::warn!("binance WebSocket API: connect/subscribe timed out");
                if wait(backoff.next_delay(), &mut shutdown, &mut out_rx, &shared).await {
                    break;
                }
                continue;
            }
        };
        sessions += 1;
        shared.stats.sessions.fetch_add(1, Ordering::Relaxed);
        ready.send_replace(true);
        tracing::info!(
            session = sessions,
            "binance WebSocket API connected and subscribed"
        );
        if sessions > 1 {
            shared.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = &cfg.on_reconnect {
                n.notify_one();
            }
        }
        let end = session(
            &parts,
            &shared,
            ws,
            &mut out_rx,
            &mut shutdown,
            &mut backoff,
        )
        .await;
        ready.send_replace(false);
        // Requests queued but never written, then those written: no answer will come.
        while let Ok((id, _)) = out_rx.try_recv() {
            shared.pending.complete(id, Err(WsApiError::NotSent));
        }
        shared.pending.fail_all();
        if matches!(end, End::Stop) {
            break;
        }
        if wait(backoff.next_delay(), &mut shutdown, &mut out_rx, &shared).await {
            break;
        }
    }
    ready.send_replace(false);
    while let Ok((id, _)) = out_rx.try_recv() {
        shared.pending.complete(id, Err(WsApiError::NotSent));
    }
    shared.pending.fail_all();
}

/// Sleeps `d` (failing any request that arrives meanwhile: not connected); true on shutdown.
async fn wait(
    d: Duration,
    shutdown: &mut watch::Receiver<bool>,
    out_rx: &mut mpsc::UnboundedReceiver<(u64, String)>,
    shared: &Shared,
) -> bool {
    let until = tokio::time::Instant::now() + d;
    loop {
        if *shutdown.borrow() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return *shutdown.borrow(),
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return true; },
            m = out_rx.recv() => match m {
                Some((id, _)) => { shared.pending.complete(id, Err(WsApiError::NotSent)); }
                None => return true,
            },
        }
    }
}

fn now_ms(offset: &AtomicI64) -> i64 {
    Clock::wall_ms() + offset.load(Ordering::Relaxed)
}

/// The `params` of `session.logon` / `userDataStream.subscribe.signature`: `apiKey`,
/// optional `recvWindow`, `timestamp`, and the signature over them sorted by name.
pub fn auth_params(
    signer: &ApiKeySigner,
    api_key: &Secret,
    recv_window_ms: Option<u64>,
    timestamp: i64,
) -> String {
    let mut payload = format!("apiKey={}", api_key.expose());
    if let Some(r) = recv_window_ms {
        payload.push_str(&format!("&recvWindow={r}"));
    }
    payload.push_str(&format!("&timestamp={timestamp}"));
    let mut p = format!("{{\"apiKey\":\"{}\"", api_key.expose());
    if let Some(r) = recv_window_ms {
        p.push_str(&format!(",\"recvWindow\":{r}"));
    }
    p.push_str(&format!(",\"timestamp\":{timestamp},\"signature\":\""));
    signer.sign_into(payload.as_bytes(), &mut p);
    p.push_str("\"}");
    p
}

/// Why connecting or subscribing failed.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("connect: {0}")]
    Connect(String),
    #[error("{method} refused: HTTP-like status {status}, code {code}: {msg}")]
    Refused {
        method: &'static str,
        status: u16,
        code: i64,
        msg: String,
    },
    #[error("connection closed while authenticating")]
    Closed,
}

async fn connect_and_subscribe(parts: &WsApiParts, shared: &Shared) -> Result<Ws, ConnectError> {
    // TCP_NODELAY (the last argument): an order frame goes out at once, not held by Nagle's
    // algorithm behind an unacknowledged earlier frame (measured: ack p50 ~100 ms without it).
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(parts.cfg.url.as_str(), None, true)
            .await
            .map_err(|e| ConnectError::Connect(e.to_string()))?;
    let auth = &parts.auth;
    let key = auth.keys.current();
    let steps: Vec<(&'static str, String)> = match key.signer.key_type() {
        KeyType::Ed25519 => vec![
            (
                "session.logon",
                auth_params(
                    &key.signer,
                    &key.api_key,
                    Some(parts.cfg.recv_window_ms),
                    now_ms(&auth.clock_offset_ms),
                ),
            ),
            ("userDataStream.subscribe", String::new()),
        ],
        KeyType::Hmac => vec![(
            "userDataStream.subscribe.signature",
            auth_params(
                &key.signer,
                &key.api_key,
                None,
                now_ms(&auth.clock_offset_ms),
            ),
        )],
    };
    for (method, params) in steps {
        // From the same counter as requests (Binance takes ids that fit a signed 64-bit int).
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        ws.send(Message::Text(request_frame(id, method, &params).into()))
            .await
            .map_err(|e| ConnectError::Connect(e.to_string()))?;
        loop {
            let Some(msg) = ws.next().await else {
                return Err(ConnectError::Closed);
            };
            let text = match msg {
                Ok(Message::Text(t)) => t,
                Ok(Message::Ping(_)) => {
                    let _ = ws.flush().await;
                    continue;
                }
                Ok(Message::Close(_)) => return Err(ConnectError::Closed),
                Ok(_) => continue,
                Err(e) => return Err(ConnectError::Connect(e.to_string())),
            };
            match parse_incoming(text.as_str()) {
                Ok(Inbound::Reply(Some(rid), reply)) if rid == id => {
                    if let Some(u) = &shared.usage {
                        record_rate_limits(u, &reply.rate_limits, wall_ms_u64());
                    }
                    if reply.status != 200 {
                        let (code, msg) =
                            reply.error.map_or((0, String::new()), |e| (e.code, e.msg));
                        return Err(ConnectError::Refused {
                            method,
                            status: reply.status,
                            code,
                            msg,
                        });
                    }
                    break;
                }
                Ok(Inbound::Event(ev)) => {
                    if matches!(handle_event(parts, shared, ev), EventOutcome::Stop) {
                        return Err(ConnectError::Closed);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "binance WebSocket API: malformed frame");
                }
            }
        }
    }
    Ok(ws)
}

fn wall_ms_u64() -> u64 {
    u64::try_from(Clock::wall_ms()).unwrap_or(0)
}

/// What an event asks the connection to do.
enum EventOutcome {
    Continue,
    Reconnect,
    Stop,
}

fn handle_event(parts: &WsApiParts, shared: &Shared, event: &str) -> EventOutcome {
    let recv_ns = Clock::now_ns();
    shared.stats.events.fetch_add(1, Ordering::Relaxed);
    match parse_user_event(event, &parts.instruments, recv_ns) {
        Ok(UserEvent::Exec(report)) => {
            let dedup = matches!(
                report.kind,
                ExecKind::Ack { .. } | ExecKind::Rejected { .. }
            );
            if dedup && !parts.ledger.first_outcome(report.client_order_id) {
                shared.stats.deduplicated.fetch_add(1, Ordering::Relaxed);
                return EventOutcome::Continue;
            }
            if parts.exec_tx.send(report).is_err() {
                tracing::error!("exec report receiver is gone; stopping the WebSocket API");
                return EventOutcome::Stop;
            }
            shared.stats.reports.fetch_add(1, Ordering::Relaxed);
            EventOutcome::Continue
        }
        Ok(UserEvent::StreamTerminated) => {
            tracing::warn!("binance user data stream terminated by the venue; reconnecting");
            EventOutcome::Reconnect
        }
        Ok(UserEvent::ServerShutdown) => {
            tracing::warn!("binance WebSocket API server shutting down; reconnecting");
            EventOutcome::Reconnect
        }
        Ok(_) => EventOutcome::Continue,
        Err(e) => {
            shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "binance user data event unreadable");
            EventOutcome::Continue
        }
    }
}

async fn session(
    parts: &WsApiParts,
    shared: &Shared,
    mut ws: Ws,
    out_rx: &mut mpsc::UnboundedReceiver<(u64, String)>,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> End {
    let cfg = &parts.cfg;
    let start = tokio::time::Instant::now();
    let mut ping = tokio::time::interval_at(start + cfg.ping_interval, cfg.ping_interval);
    let idle = tokio::time::sleep(cfg.idle_timeout);
    tokio::pin!(idle);
    // This session logged on (or subscribed) with the key as it was at connect.
    let mut key_changes = parts.auth.keys.subscribe();
    key_changes.mark_unchanged();
    loop {
        tokio::select! {
            biased;
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    let _ = ws.close(None).await;
                    return End::Stop;
                }
            }
            Ok(()) = key_changes.changed() => {
                tracing::info!("binance WebSocket API: the account's key changed; reconnecting with the new key");
                let _ = ws.close(None).await;
                backoff.reset();
                return End::Reconnect;
            }
            m = out_rx.recv() => {
                let Some((id, frame)) = m else {
                    let _ = ws.close(None).await;
                    return End::Stop;
                };
                if !shared.pending.mark_written(id) {
                    continue; // the caller gave up before it could go out
                }
                if let Err(e) = ws.send(Message::Text(frame.into())).await {
                    tracing::warn!(error = %e, "binance WebSocket API: send failed");
                    return End::Reconnect;
                }
                shared.stats.requests.fetch_add(1, Ordering::Relaxed);
            }
            msg = ws.next() => {
                idle.as_mut().reset(tokio::time::Instant::now() + cfg.idle_timeout);
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        backoff.reset();
                        match parse_incoming(text.as_str()) {
                            Ok(Inbound::Reply(Some(id), reply)) => {
                                if let Some(u) = &shared.usage {
                                    record_rate_limits(u, &reply.rate_limits, wall_ms_u64());
                                }
                                if shared.pending.complete(id, Ok(reply)) {
                                    shared.stats.replies.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Ok(Inbound::Reply(None, reply)) => {
                                let (code, msg) = reply.error.map_or((0, String::new()), |e| (e.code, e.msg));
                                tracing::warn!(status = reply.status, code, %msg, "binance WebSocket API: connection-level error; reconnecting");
                                if reply.status == 401 || reply.status == 418 {
                                    return End::Reconnect;
                                }
                            }
                            Ok(Inbound::Event(ev)) => match handle_event(parts, shared, ev) {
                                EventOutcome::Continue => {}
                                EventOutcome::Reconnect => return End::Reconnect,
                                EventOutcome::Stop => return End::Stop,
                            },
                            Err(e) => {
                                shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(error = %e, "binance WebSocket API: malformed frame");
                            }
                        }
                    }
                    Some(Ok(Message::Ping(_))) => {
                        // tungstenite queued the pong; push it out now.
                        let _ = ws.flush().await;
                    }
                    Some(Ok(Message::Close(frame))) => {
                        tracing::warn!(?frame, "binance WebSocket API closed by the server");
                        return End::Reconnect;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "binance WebSocket API error");
                        return End::Reconnect;
                    }
                    None => return End::Reconnect,
                }
            }
            _ = ping.tick() => {
                if let Err(e) = ws.send(Message::Ping(Default::default())).await {
                    tracing::warn!(error = %e, "binance WebSocket API: ping failed");
                    return End::Reconnect;
                }
            }
            () = &mut idle => {
                tracing::warn!(timeout = ?cfg.idle_timeout, "binance WebSocket API silent; reconnecting");
                return End::Reconnect;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_params_sign_the_sorted_parameters() {
        let key = Secret::new("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A");
        let s =
            ApiKeySigner::hmac(b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j");
        let p = auth_params(&s, &key, None, 1649729878532);
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["timestamp"], 1649729878532i64);
        let payload = format!("apiKey={}&timestamp=1649729878532", key.expose());
        assert!(s.verify(payload.as_bytes(), v["signature"].as_str().unwrap()));
        let p = auth_params(&s, &key, Some(5000), 1);
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        let payload = format!("apiKey={}&recvWindow=5000&timestamp=1", key.expose());
        assert!(s.verify(payload.as_bytes(), v["signature"].as_str().unwrap()));
    }
}
