//! The retired listenKey user data stream: Binance's answer to its endpoints today (HTTP 410
//! Gone), and, for [`super::SimConfig::legacy_listen_key`], the old listen keys
//! (`/api/v3/userDataStream`) and the `/ws/<listenKey>` connection that forwards
//! executionReport and outboundAccountPosition events. User data now goes to WebSocket API
//! subscriptions (`super::ws_api`), from the same fan-out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use rand::distr::Alphanumeric;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::error::ApiError;
use super::state::Shared;
use super::wire::now_ms;

/// The body Binance's front end (nginx) sends with the 410 for the retired listenKey
/// endpoints, as clients logged it on and after 2026-02-20 (Binance documents no JSON body).
pub const GONE_BODY: &str = "<html>\r\n<head><title>410 Gone</title></head>\r\n<body>\r\n<center><h1>410 Gone</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// HTTP 410 Gone for `POST/PUT/DELETE /api/v3/userDataStream`, as Binance answers since the
/// endpoints were retired on 2026-02-20 (before any authentication or weight accounting).
pub fn gone() -> Response {
    let mut resp = (StatusCode::GONE, GONE_BODY).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

/// A listen key stays valid this long after creation or the last keepalive (Binance: 60 min).
pub const LISTEN_KEY_VALIDITY_MS: i64 = 60 * 60 * 1000;

#[derive(Debug)]
struct Keys {
    rng: ChaCha8Rng,
    expiry: HashMap<String, i64>,
}

/// The account's listen keys and their expiry times.
#[derive(Debug)]
pub struct ListenKeys {
    inner: Mutex<Keys>,
}

impl ListenKeys {
    /// No keys yet; generated keys derive from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::MAX);
        ListenKeys {
            inner: Mutex::new(Keys {
                rng,
                expiry: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns the active key (extending it) or creates one, as Binance does.
    pub fn create(&self, now: i64) -> String {
        let mut k = self.lock();
        k.expiry.retain(|_, exp| *exp > now);
        if let Some(key) = k.expiry.keys().next().cloned() {
            k.expiry.insert(key.clone(), now + LISTEN_KEY_VALIDITY_MS);
            return key;
        }
        let key: String = (0..60)
            .map(|_| char::from(k.rng.sample(Alphanumeric)))
            .collect();
        k.expiry.insert(key.clone(), now + LISTEN_KEY_VALIDITY_MS);
        key
    }

    /// Extends `key` (-1125 if unknown or expired).
    pub fn keepalive(&self, key: &str, now: i64) -> Result<(), ApiError> {
        let mut k = self.lock();
        match k.expiry.get_mut(key) {
            Some(exp) if *exp > now => {
                *exp = now + LISTEN_KEY_VALIDITY_MS;
                Ok(())
            }
            _ => Err(ApiError::unknown_listen_key()),
        }
    }

    /// Closes `key` (-1125 if unknown).
    pub fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.lock()
            .expiry
            .remove(key)
            .map(|_| ())
            .ok_or_else(ApiError::unknown_listen_key)
    }

    /// Whether `key` is valid at `now`.
    pub fn is_valid(&self, key: &str, now: i64) -> bool {
        self.lock().expiry.get(key).is_some_and(|exp| *exp > now)
    }
}

/// Serves one user-data websocket. `rx` was subscribed before the upgrade so no event between
/// the handshake and this task starting is lost.
pub async fn serve(
    socket: WebSocket,
    shared: Arc<Shared>,
    key: String,
    mut rx: broadcast::Receiver<Utf8Bytes>,
) {
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = shared.shutdown.subscribe();
    let mut ping =
        tokio::time::interval_at(Instant::now() + shared.ping_interval, shared.ping_interval);
    let mut last_pong = Instant::now();
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(text) => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "user stream client too slow; closing");
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                let now = now_ms();
                if !shared.listen_keys.is_valid(&key, now) {
                    let ev = serde_json::json!({"e": "listenKeyExpired", "E": now, "listenKey": key});
                    let _ = sink.send(Message::Text(ev.to_string().into())).await;
                    break;
                }
                if last_pong.elapsed() > shared.pong_timeout + shared.ping_interval {
                    break;
                }
                if sink.send(Message::Ping(now.to_string().into_bytes().into())).await.is_err() {
                    break;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
    // Answers the client's Close (tungstenite queued the reply) or sends ours.
    let _ = sink.close().await;
}
