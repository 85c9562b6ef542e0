//! [`BinanceRest`]: Binance spot's REST API (or the simulator's, which speaks the same).
//!
//! Never logs the API key or the secret; errors carry no URL (a signed query could be in it).
//! Signs with the shared [`ApiKeySigner`] (HMAC or Ed25519) and feeds the venue's usage
//! headers (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`) into the shared [`VenueUsage`].

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::clock::Clock;
use peregrine_engine::gateway::{HttpMethod, SignedOrder};
use peregrine_engine::risk::{UsageKind, VenueUsage};
use peregrine_engine::secret::ApiCredentials;
use peregrine_engine::types::{Price, Qty, Side};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::depth::DepthSnapshot;
use super::keyring::{KeyRing, VenueKey};
use super::sign::ApiKeySigner;

/// Binance's "unknown order" error codes (`-2013` query, `-2011` cancel).
pub const ORDER_DOES_NOT_EXIST: i64 = -2013;

/// A REST failure. Never contains a key, a secret or a URL.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The request could not be sent (connection refused, DNS, TLS): it certainly had no effect.
    #[error("request not sent: {0}")]
    NotSent(String),
    /// No response in time: the request may or may not have had an effect.
    #[error("request timed out")]
    Timeout,
    /// The connection failed after the request may have been sent: outcome unknown.
    #[error("transport error: {0}")]
    Transport(String),
    /// Binance answered with its error JSON (`{"code":..,"msg":..}`).
    #[error("HTTP {status}: Binance error {code}: {msg}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Binance error code.
        code: i64,
        /// Binance error message.
        msg: String,
    },
    /// HTTP 429 (rate limit) or 418 (IP ban). The request was refused.
    #[error("rate limited (HTTP {status}), retry after {retry_after:?}: {msg}")]
    RateLimited {
        /// 429 or 418.
        status: u16,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// Binance error code, when the body had one.
        code: i64,
        /// Binance's message, or the body.
        msg: String,
    },
    /// Another non-success status without Binance's error JSON (5xx: outcome unknown).
    #[error("HTTP {status}: {body}")]
    Http {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The response was not what the endpoint documents.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// The client could not be built.
    #[error("configuration: {0}")]
    Config(String),
}

impl RestError {
    /// True when the request certainly had no effect on the venue (refused before processing).
    pub fn certainly_not_executed(&self) -> bool {
        match self {
            RestError::NotSent(_) | RestError::RateLimited { .. } | RestError::Config(_) => true,
            RestError::Api { status, .. } => *status < 500,
            _ => false,
        }
    }

    fn from_reqwest(e: reqwest::Error) -> Self {
        let e = e.without_url();
        if e.is_timeout() {
            RestError::Timeout
        } else if e.is_connect() || e.is_builder() {
            RestError::NotSent(e.to_string())
        } else {
            RestError::Transport(e.to_string())
        }
    }
}

/// Trading rules of one symbol from `GET /api/v3/exchangeInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolRules {
    /// Venue symbol (`BTCUSDT`).
    pub symbol: String,
    /// Trading status (`TRADING`, `BREAK`, ...).
    pub status: String,
    /// Base asset.
    pub base: String,
    /// Quote asset.
    pub quote: String,
    /// `PRICE_FILTER.tickSize`.
    pub tick_size: Option<Price>,
    /// `LOT_SIZE.stepSize`.
    pub step_size: Option<Qty>,
    /// `LOT_SIZE.minQty`.
    pub min_qty: Option<Qty>,
    /// `LOT_SIZE.maxQty`.
    pub max_qty: Option<Qty>,
    /// `NOTIONAL.minNotional` (or the older `MIN_NOTIONAL.minNotional`).
    pub min_notional: Option<Price>,
}

/// An order as `GET /api/v3/order` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderStatus {
    /// Venue symbol.
    pub symbol: String,
    /// Venue order id.
    pub order_id: u64,
    /// The client order id.
    pub client_order_id: String,
    /// Order status (`NEW`, `PARTIALLY_FILLED`, `FILLED`, `CANCELED`, `EXPIRED`, `REJECTED`...).
    pub status: String,
    /// Side.
    pub side: Side,
}

/// A raw answer to a signed order request, for the gateway to interpret.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderResponse {
    /// HTTP status (2xx).
    pub status: u16,
    /// The body.
    pub body: String,
}

/// Binance spot REST client. Cheap to clone (shares the connection pool and clock offset).
#[derive(Clone)]
pub struct BinanceRest {
    http: reqwest::Client,
    base: Arc<str>,
    /// The account's key (replaceable while running: [`super::keyring`]).
    keys: Arc<KeyRing>,
    recv_window_ms: u64,
    /// Server time minus local wall time, ms.
    offset_ms: Arc<AtomicI64>,
    usage: Option<Arc<VenueUsage>>,
}

impl fmt::Debug for BinanceRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinanceRest")
            .field("base", &self.base)
            .field("credentials", &"[redacted]")
            .field("recv_window_ms", &self.recv_window_ms)
            .finish()
    }
}

#[derive(Deserialize)]
struct ApiErrorBody {
    code: i64,
    msg: String,
}

impl BinanceRest {
    /// A client for `base_url` (e.g. `https://api.binance.com`, or the simulator's
    /// `http://127.0.0.1:PORT`), with a per-request `timeout`.
    pub fn new(
        base_url: &str,
        credentials: ApiCredentials,
        recv_window_ms: u64,
        timeout: Duration,
    ) -> Result<Self, RestError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| RestError::Config(e.without_url().to_string()))?;
        Ok(Self {
            http,
            base: Arc::from(base_url.trim_end_matches('/')),
            keys: KeyRing::new(VenueKey::new(
                credentials.key.clone(),
                Arc::new(ApiKeySigner::hmac(credentials.secret.expose().as_bytes())),
            )),
            recv_window_ms,
            offset_ms: Arc::new(AtomicI64::new(0)),
            usage: None,
        })
    }

    /// Signs with `signer` (e.g. an Ed25519 key) instead of the HMAC secret.
    pub fn with_signer(mut self, signer: Arc<ApiKeySigner>) -> Self {
        let api_key = self.keys.current().api_key.clone();
        self.keys = KeyRing::new(VenueKey::new(api_key, signer));
        self
    }

    /// Reads the key from `keys` (shared with the WebSocket API and the order signer, and
    /// replaced there when the account's key changes).
    pub fn with_keys(mut self, keys: Arc<KeyRing>) -> Self {
        self.keys = keys;
        self
    }

    /// The account's key ring.
    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// The account's key now.
    pub fn current_key(&self) -> Arc<VenueKey> {
        self.keys.current()
    }

    /// Feeds the venue's usage headers into `usage` (the shared rate budget).
    pub fn with_usage(mut self, usage: Arc<VenueUsage>) -> Self {
        self.usage = Some(usage);
        self
    }

    /// The request signer now (shared with the order signer and the WebSocket API).
    pub fn signer(&self) -> Arc<ApiKeySigner> {
        self.keys.current().signer.clone()
    }

    /// The `recvWindow` sent with signed requests, ms.
    pub fn recv_window_ms(&self) -> u64 {
        self.recv_window_ms
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Local wall time corrected by the last [`BinanceRest::sync_time`], ms.
    pub fn now_ms(&self) -> i64 {
        Clock::wall_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// `GET /api/v3/time`: the server's time, ms.
    pub async fn server_time(&self) -> Result<i64, RestError> {
        #[derive(Deserialize)]
        struct T {
            #[serde(rename = "serverTime")]
            server_time: i64,
        }
        let t: T = self.get_json("/api/v3/time", "").await?;
        Ok(t.server_time)
    }

    /// The shared clock offset (venue minus local, ms) that [`BinanceRest::sync_time`] updates;
    /// give it to the signer ([`super::signer::BinanceSigner::with_clock_offset`]).
    pub fn clock_offset(&self) -> Arc<AtomicI64> {
        self.offset_ms.clone()
    }

    /// Measures the server clock offset (at the midpoint of the round trip) and uses it for
    /// [`BinanceRest::now_ms`] and the signer; returns it.
    pub async fn sync_time(&self) -> Result<i64, RestError> {
        let before = Clock::wall_ms();
        let server = self.server_time().await?;
        let after = Clock::wall_ms();
        let offset = server - (before + after) / 2;
        self.offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    /// `GET /api/v3/exchangeInfo` (all symbols, or only `symbols` when not empty).
    pub async fn exchange_info(&self, symbols: &[&str]) -> Result<Vec<SymbolRules>, RestError> {
        let query = if symbols.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = symbols.iter().map(|s| format!("%22{s}%22")).collect();
            format!("symbols=%5B{}%5D", list.join(","))
        };
        let body = self.get_text("/api/v3/exchangeInfo", &query, false).await?;
        parse_exchange_info(&body)
    }

    /// `GET /api/v3/depth?symbol=..&limit=..`.
    pub async fn depth_snapshot(
        &self,
        symbol: &str,
        limit: u32,
    ) -> Result<DepthSnapshot, RestError> {
        let body = self
            .get_text(
                "/api/v3/depth",
                &format!("symbol={symbol}&limit={limit}"),
                false,
            )
            .await?;
        parse_depth_snapshot(&body)
    }

    /// `GET /api/v3/order` (signed) by our client order id. An order the venue does not know is
    /// `Err(RestError::Api { code: ORDER_DOES_NOT_EXIST, .. })`.
    pub async fn query_order(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderStatus, RestError> {
        let body = self
            .signed_get(
                "/api/v3/order",
                &format!("symbol={symbol}&origClientOrderId={client_order_id}"),
            )
            .await?;
        parse_order_status(&body)
    }

    /// `DELETE /api/v3/openOrders?symbol=..` (signed): cancels every open order of the symbol.
    pub async fn cancel_open_orders(&self, symbol: &str) -> Result<String, RestError> {
        let q = self.signed_query(&format!("symbol={symbol}"));
        self.send(reqwest::Method::DELETE, "/api/v3/openOrders", &q, None)
            .await
    }

    /// `GET /api/v3/openOrders?symbol=..` (signed): the venue's open orders of the symbol.
    pub async fn open_orders(&self, symbol: &str) -> Result<Vec<VenueOrder>, RestError> {
        let body = self
            .signed_get("/api/v3/openOrders", &format!("symbol={symbol}"))
            .await?;
        parse_venue_orders(&body)
    }

    /// `GET /api/v3/allOrders?symbol=..&startTime=..` (signed): every order of the symbol
    /// created since `start_ms` (up to 1000).
    pub async fn all_orders(
        &self,
        symbol: &str,
        start_ms: i64,
    ) -> Result<Vec<VenueOrder>, RestError> {
        let body = self
            .signed_get(
                "/api/v3/allOrders",
                &format!("symbol={symbol}&startTime={start_ms}&limit=1000"),
            )
            .await?;
        parse_venue_orders(&body)
    }

    /// `GET /api/v3/myTrades` (signed): our trades of the symbol from trade id `from_id`, or
    /// when `None` from time `start_ms`; up to 1000, oldest first.
    pub async fn my_trades(
        &self,
        symbol: &str,
        from_id: Option<u64>,
        start_ms: i64,
    ) -> Result<Vec<VenueTrade>, RestError> {
        let q = match from_id {
            Some(id) => format!("symbol={symbol}&fromId={id}&limit=1000"),
            None => format!("symbol={symbol}&startTime={start_ms}&limit=1000"),
        };
        let body = self.signed_get("/api/v3/myTrades", &q).await?;
        parse_my_trades(&body)
    }

    /// `GET /api/v3/order` (signed) by client order id, the whole order. An order the venue
    /// does not know is `Err(RestError::Api { code: ORDER_DOES_NOT_EXIST, .. })`.
    pub async fn order(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<VenueOrder, RestError> {
        let body = self
            .signed_get(
                "/api/v3/order",
                &format!("symbol={symbol}&origClientOrderId={client_order_id}"),
            )
            .await?;
        parse_venue_orders(&format!("[{body}]"))?
            .pop()
            .ok_or_else(|| RestError::Decode("empty order response".into()))
    }

    /// `GET /api/v3/allOrders?symbol=..&orderId=..` (signed): orders of the symbol with a venue
    /// order id at least `from_order_id`, oldest first, up to `limit` (at most 1000).
    pub async fn all_orders_from(
        &self,
        symbol: &str,
        from_order_id: u64,
        limit: u16,
    ) -> Result<Vec<VenueOrder>, RestError> {
        let body = self
            .signed_get(
                "/api/v3/allOrders",
                &format!(
                    "symbol={symbol}&orderId={from_order_id}&limit={}",
                    limit.min(1000)
                ),
            )
            .await?;
        parse_venue_orders(&body)
    }

    /// `GET /api/v3/myTrades?symbol=..&orderId=..&fromId=..` (signed): the trades of one
    /// order from trade id `from_id` (0: all), up to 1000, oldest first.
    pub async fn order_trades(
        &self,
        symbol: &str,
        order_id: u64,
        from_id: u64,
    ) -> Result<Vec<VenueTrade>, RestError> {
        let body = self
            .signed_get(
                "/api/v3/myTrades",
                &format!("symbol={symbol}&orderId={order_id}&fromId={from_id}&limit=1000"),
            )
            .await?;
        parse_my_trades(&body)
    }

    /// `GET /api/v3/myTrades?symbol=..&limit=1` (signed): our most recent trade of the symbol.
    pub async fn latest_trade(&self, symbol: &str) -> Result<Option<VenueTrade>, RestError> {
        let body = self
            .signed_get("/api/v3/myTrades", &format!("symbol={symbol}&limit=1"))
            .await?;
        Ok(parse_my_trades(&body)?.pop())
    }

    /// `DELETE /api/v3/order?symbol=..&orderId=..` (signed): cancels an order by the venue's
    /// order id (for orders that are not ours, which have no client id we could sign for).
    pub async fn cancel_by_order_id(&self, symbol: &str, order_id: u64) -> Result<(), RestError> {
        let q = self.signed_query(&format!("symbol={symbol}&orderId={order_id}"));
        self.send(reqwest::Method::DELETE, "/api/v3/order", &q, None)
            .await
            .map(|_| ())
    }

    /// `GET /api/v3/account` (signed): balances as `(asset, free, locked)`.
    pub async fn balances(&self) -> Result<Vec<(String, Decimal, Decimal)>, RestError> {
        let body = self.signed_get("/api/v3/account", "").await?;
        parse_balances(&body)
    }

    /// A signed GET: `params` plus `recvWindow`, `timestamp` (venue-corrected) and `signature`.
    async fn signed_get(&self, path: &str, params: &str) -> Result<String, RestError> {
        let q = self.signed_query(params);
        self.get_text(path, &q, true).await
    }

    /// `params` plus `recvWindow`, `timestamp` (venue-corrected) and `signature`.
    fn signed_query(&self, params: &str) -> String {
        let mut q = String::with_capacity(params.len() + 128);
        q.push_str(params);
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(&format!(
            "recvWindow={}&timestamp={}",
            self.recv_window_ms,
            self.now_ms()
        ));
        let payload_len = q.len();
        q.push_str("&signature=");
        self.keys
            .current()
            .signer
            .append_url_signature(&mut q, payload_len);
        q
    }

    /// Sends a signed order request as built by the signer: `POST` with the parameters as a
    /// form body, `GET`/`DELETE` with them as the query string. Returns the 2xx body.
    pub async fn send_signed(&self, order: &SignedOrder) -> Result<OrderResponse, RestError> {
        let (method, query, body) = match order.method {
            HttpMethod::Post => (reqwest::Method::POST, "", Some(order.params.clone())),
            HttpMethod::Get => (reqwest::Method::GET, order.params.as_str(), None),
            HttpMethod::Delete => (reqwest::Method::DELETE, order.params.as_str(), None),
        };
        let body = self.send(method, order.path, query, body).await?;
        Ok(OrderResponse { status: 200, body })
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &str,
    ) -> Result<T, RestError> {
        let body = self.get_text(path, query, false).await?;
        serde_json::from_str(&body).map_err(|e| RestError::Decode(e.to_string()))
    }

    async fn get_text(&self, path: &str, query: &str, keyed: bool) -> Result<String, RestError> {
        if keyed {
            self.send(reqwest::Method::GET, path, query, None).await
        } else {
            self.send_inner(reqwest::Method::GET, path, query, None, false)
                .await
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        form: Option<String>,
    ) -> Result<String, RestError> {
        self.send_inner(method, path, query, form, true).await
    }

    async fn send_inner(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        form: Option<String>,
        keyed: bool,
    ) -> Result<String, RestError> {
        let mut url = String::with_capacity(self.base.len() + path.len() + query.len() + 1);
        url.push_str(&self.base);
        url.push_str(path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        let mut req = self.http.request(method, url);
        if keyed {
            let key = self.keys.current();
            if !key.api_key.is_empty() {
                req = req.header("X-MBX-APIKEY", key.api_key.expose());
            }
        }
        if let Some(body) = form {
            req = req
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body);
        }
        let resp = req.send().await.map_err(RestError::from_reqwest)?;
        let status = resp.status().as_u16();
        let retry_after = retry_after(resp.headers());
        let used_weight = used_weight(resp.headers());
        if let Some(u) = &self.usage {
            record_usage_headers(u, resp.headers());
        }
        let text = resp.text().await.map_err(RestError::from_reqwest)?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        let api = serde_json::from_str::<ApiErrorBody>(&text).ok();
        if status == 429 || status == 418 {
            let (code, msg) = api.map_or((0, truncate(&text)), |a| (a.code, a.msg));
            tracing::warn!(status, ?retry_after, used_weight = ?used_weight, code, msg = %msg, path, "binance rate limit");
            return Err(RestError::RateLimited {
                status,
                retry_after,
                code,
                msg,
            });
        }
        match api {
            Some(a) => Err(RestError::Api {
                status,
                code: a.code,
                msg: a.msg,
            }),
            None => Err(RestError::Http {
                status,
                body: truncate(&text),
            }),
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Feeds `X-MBX-USED-WEIGHT-1M` and `X-MBX-ORDER-COUNT-10S` into `usage` (now).
fn record_usage_headers(usage: &VenueUsage, h: &HeaderMap) {
    let now = u64::try_from(Clock::wall_ms()).unwrap_or(0);
    let num = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(n) = num("x-mbx-used-weight-1m") {
        usage.report(UsageKind::WeightPerMinute, n, 0, now);
    }
    if let Some(n) = num("x-mbx-order-count-10s") {
        usage.report(UsageKind::OrdersPer10s, n, 0, now);
    }
}

fn used_weight(h: &HeaderMap) -> Option<String> {
    h.iter()
        .find(|(k, _)| k.as_str().starts_with("x-mbx-used-weight"))
        .and_then(|(k, v)| v.to_str().ok().map(|v| format!("{k}={v}")))
}

fn dec(field: &'static str, s: &str) -> Result<Decimal, RestError> {
    Decimal::from_str_exact(s)
        .map_err(|_| RestError::Decode(format!("field `{field}`: bad number {s:?}")))
}

/// Parses a `GET /api/v3/depth` body, through the market-data normalizer (the same reader
/// and value checks as every stream: positive prices, unsigned quantities, no exponents, no
/// duplicate keys).
pub fn parse_depth_snapshot(body: &str) -> Result<DepthSnapshot, RestError> {
    use crate::md::{MsgKind, VenueNormalizer};
    let mut snap = None;
    super::Normalizer::new()
        .normalize(body, &mut |m| {
            if let MsgKind::Book(b) = m.kind {
                if b.snapshot && m.symbol.is_empty() {
                    let side = |want: Side| -> Vec<(Price, Qty)> {
                        b.levels
                            .iter()
                            .filter(|l| l.0 == want)
                            .map(|&(_, p, q)| (p, q))
                            .collect()
                    };
                    snap = Some(DepthSnapshot {
                        last_update_id: b.seq.unwrap_or(0),
                        bids: side(Side::Buy),
                        asks: side(Side::Sell),
                    });
                }
            }
        })
        .map_err(|e| RestError::Decode(e.to_string()))?;
    snap.ok_or_else(|| RestError::Decode("not a depth snapshot".into()))
}

/// Parses a `GET /api/v3/exchangeInfo` body.
pub fn parse_exchange_info(body: &str) -> Result<Vec<SymbolRules>, RestError> {
    #[derive(Deserialize)]
    struct Info {
        symbols: Vec<Sym>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sym {
        symbol: String,
        #[serde(default)]
        status: String,
        #[serde(default)]
        base_asset: String,
        #[serde(default)]
        quote_asset: String,
        #[serde(default)]
        filters: Vec<Filter>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Filter {
        filter_type: String,
        tick_size: Option<String>,
        step_size: Option<String>,
        min_qty: Option<String>,
        max_qty: Option<String>,
        min_notional: Option<String>,
    }
    let info: Info = serde_json::from_str(body).map_err(|e| RestError::Decode(e.to_string()))?;
    let opt = |f: &'static str, v: &Option<String>| v.as_deref().map(|s| dec(f, s)).transpose();
    let mut out = Vec::with_capacity(info.symbols.len());
    for s in info.symbols {
        let mut r = SymbolRules {
            symbol: s.symbol,
            status: s.status,
            base: s.base_asset,
            quote: s.quote_asset,
            tick_size: None,
            step_size: None,
            min_qty: None,
            max_qty: None,
            min_notional: None,
        };
        for f in &s.filters {
            match f.filter_type.as_str() {
                "PRICE_FILTER" => r.tick_size = opt("tickSize", &f.tick_size)?,
                "LOT_SIZE" => {
                    r.step_size = opt("stepSize", &f.step_size)?;
                    r.min_qty = opt("minQty", &f.min_qty)?;
                    r.max_qty = opt("maxQty", &f.max_qty)?;
                }
                "NOTIONAL" => r.min_notional = opt("minNotional", &f.min_notional)?,
                "MIN_NOTIONAL" if r.min_notional.is_none() => {
                    r.min_notional = opt("minNotional", &f.min_notional)?
                }
                _ => {}
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// Parses a `GET /api/v3/order` body.
pub fn parse_order_status(body: &str) -> Result<OrderStatus, RestError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Raw {
        symbol: String,
        order_id: u64,
        client_order_id: String,
        status: String,
        side: String,
    }
    let r: Raw = serde_json::from_str(body).map_err(|e| RestError::Decode(e.to_string()))?;
    Ok(OrderStatus {
        symbol: r.symbol,
        order_id: r.order_id,
        client_order_id: r.client_order_id,
        status: r.status,
        side: parse_side(&r.side)?,
    })
}

/// An order as `openOrders` / `allOrders` / `order` report it.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueOrder {
    /// Venue symbol.
    pub symbol: String,
    /// Venue order id.
    pub order_id: u64,
    /// Client order id.
    pub client_order_id: String,
    /// `NEW`, `PARTIALLY_FILLED`, `FILLED`, `CANCELED`, `EXPIRED`, `REJECTED`, ...
    pub status: String,
    /// Side.
    pub side: Side,
    /// Limit price (zero for market orders).
    pub price: Price,
    /// Ordered quantity.
    pub orig_qty: Qty,
    /// Filled quantity.
    pub executed_qty: Qty,
    /// Creation time, ms.
    pub time: i64,
    /// `LIMIT`, `MARKET`, `LIMIT_MAKER`, ... (empty if the venue did not say).
    pub order_type: String,
}

/// One of our trades as `myTrades` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueTrade {
    /// Venue symbol.
    pub symbol: String,
    /// Trade id (the same id as `t` in `executionReport`).
    pub id: u64,
    /// Venue order id.
    pub order_id: u64,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Price x quantity.
    pub quote_qty: Price,
    /// Commission.
    pub commission: Price,
    /// Commission asset.
    pub commission_asset: String,
    /// Trade time, ms.
    pub time: i64,
    /// We bought.
    pub is_buyer: bool,
    /// We were the maker.
    pub is_maker: bool,
}

/// Parses an `openOrders` / `allOrders` body.
pub fn parse_venue_orders(body: &str) -> Result<Vec<VenueOrder>, RestError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Raw {
        symbol: String,
        order_id: u64,
        client_order_id: String,
        status: String,
        side: String,
        price: String,
        orig_qty: String,
        executed_qty: String,
        time: i64,
        #[serde(rename = "type", default)]
        order_type: String,
    }
    let raw: Vec<Raw> = serde_json::from_str(body).map_err(|e| RestError::Decode(e.to_string()))?;
    raw.into_iter()
        .map(|r| {
            Ok(VenueOrder {
                side: parse_side(&r.side)?,
                price: dec("price", &r.price)?,
                orig_qty: dec("origQty", &r.orig_qty)?,
                executed_qty: dec("executedQty", &r.executed_qty)?,
                symbol: r.symbol,
                order_id: r.order_id,
                client_order_id: r.client_order_id,
                status: r.status,
                time: r.time,
                order_type: r.order_type,
            })
        })
        .collect()
}

/// Parses a `myTrades` body.
pub fn parse_my_trades(body: &str) -> Result<Vec<VenueTrade>, RestError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Raw {
        symbol: String,
        id: u64,
        order_id: u64,
        price: String,
        qty: String,
        quote_qty: String,
        commission: String,
        commission_asset: String,
        time: i64,
        is_buyer: bool,
        is_maker: bool,
    }
    let raw: Vec<Raw> = serde_json::from_str(body).map_err(|e| RestError::Decode(e.to_string()))?;
    raw.into_iter()
        .map(|r| {
            Ok(VenueTrade {
                price: dec("price", &r.price)?,
                qty: dec("qty", &r.qty)?,
                quote_qty: dec("quoteQty", &r.quote_qty)?,
                commission: dec("commission", &r.commission)?,
                symbol: r.symbol,
                id: r.id,
                order_id: r.order_id,
                commission_asset: r.commission_asset,
                time: r.time,
                is_buyer: r.is_buyer,
                is_maker: r.is_maker,
            })
        })
        .collect()
}

/// Parses the balances of an `account` body.
pub fn parse_balances(body: &str) -> Result<Vec<(String, Decimal, Decimal)>, RestError> {
    #[derive(Deserialize)]
    struct Raw {
        balances: Vec<Bal>,
    }
    #[derive(Deserialize)]
    struct Bal {
        asset: String,
        free: String,
        locked: String,
    }
    let raw: Raw = serde_json::from_str(body).map_err(|e| RestError::Decode(e.to_string()))?;
    raw.balances
        .into_iter()
        .map(|b| Ok((b.asset, dec("free", &b.free)?, dec("locked", &b.locked)?)))
        .collect()
}

/// `BUY`/`SELL` to [`Side`].
pub fn parse_side(s: &str) -> Result<Side, RestError> {
    match s {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        other => Err(RestError::Decode(format!(
            "field `side`: unknown side {other:?}"
        ))),
    }
}

/// The `orderId` of a new-order response.
pub fn parse_new_order_id(body: &str) -> Result<u64, RestError> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(rename = "orderId")]
        order_id: u64,
    }
    serde_json::from_str::<Raw>(body)
        .map(|r| r.order_id)
        .map_err(|e| RestError::Decode(e.to_string()))
}

/// The new order's `orderId` in a successful cancel-replace response
/// (`{"cancelResult":..,"newOrderResult":..,"cancelResponse":{..},"newOrderResponse":{"orderId":..}}`).
pub fn parse_replaced_order_id(body: &str) -> Result<u64, RestError> {
    #[derive(Deserialize)]
    struct NewOrder {
        #[serde(rename = "orderId")]
        order_id: u64,
    }
    #[derive(Deserialize)]
    struct Raw {
        #[serde(rename = "newOrderResponse")]
        new_order: NewOrder,
    }
    serde_json::from_str::<Raw>(body)
        .map(|r| r.new_order.order_id)
        .map_err(|e| RestError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn exchange_info_filters() {
        // Shape from Binance's `GET /api/v3/exchangeInfo` documentation.
        let body = r#"{"timezone":"UTC","serverTime":1565246363776,"rateLimits":[],"exchangeFilters":[],
          "symbols":[{"symbol":"ETHBTC","status":"TRADING","baseAsset":"ETH","baseAssetPrecision":8,
          "quoteAsset":"BTC","quotePrecision":8,"orderTypes":["LIMIT","MARKET"],
          "filters":[{"filterType":"PRICE_FILTER","minPrice":"0.00000100","maxPrice":"100000.00000000","tickSize":"0.00000100"},
                     {"filterType":"LOT_SIZE","minQty":"0.00100000","maxQty":"100000.00000000","stepSize":"0.00100000"},
                     {"filterType":"NOTIONAL","minNotional":"0.00010000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5}]}]}"#;
        let rules = parse_exchange_info(body).unwrap();
        assert_eq!(
            rules,
            vec![SymbolRules {
                symbol: "ETHBTC".into(),
                status: "TRADING".into(),
                base: "ETH".into(),
                quote: "BTC".into(),
                tick_size: Some(dec!(0.000001)),
                step_size: Some(dec!(0.001)),
                min_qty: Some(dec!(0.001)),
                max_qty: Some(dec!(100000)),
                min_notional: Some(dec!(0.0001)),
            }]
        );
        assert!(parse_exchange_info(
            r#"{"symbols":[{"symbol":"X","filters":[{"filterType":"LOT_SIZE","stepSize":"abc"}]}]}"#
        )
        .is_err());
    }

    #[test]
    fn depth_and_order_status_parse() {
        let d = parse_depth_snapshot(r#"{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#).unwrap();
        assert_eq!(d.last_update_id, 1027024);
        assert_eq!(d.bids, vec![(dec!(4), dec!(431))]);
        assert_eq!(d.asks, vec![(dec!(4.000002), dec!(12))]);
        assert!(
            parse_depth_snapshot(r#"{"lastUpdateId":1,"bids":[["x","1"]],"asks":[]}"#).is_err()
        );
        let o = parse_order_status(r#"{"symbol":"LTCBTC","orderId":1,"orderListId":-1,"clientOrderId":"pg1-2","price":"0.1","origQty":"1.0","executedQty":"0.0","status":"NEW","timeInForce":"GTC","type":"LIMIT","side":"BUY"}"#).unwrap();
        assert_eq!(
            (o.order_id, o.status.as_str(), o.side),
            (1, "NEW", Side::Buy)
        );
    }
}
