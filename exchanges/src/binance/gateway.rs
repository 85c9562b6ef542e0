//! The order transport: sends [`SignedOrder`]s to Binance and reports outcomes.
//!
//! [`OrderTransport`] picks the wire: the WebSocket API (`order.place` / `order.cancel` /
//! `order.status` on the one persistent connection, [`super::ws_api`]) for requests the signer
//! built in its WebSocket API form, and REST (`/api/v3/order`) for REST-form requests and as
//! the fallback while the WebSocket API connection is down (the request is then re-signed in
//! the REST form with a fresh `timestamp`; it was never written to the WebSocket). A WebSocket
//! API response is read exactly like the REST one (status, Binance error code), so everything
//! below holds for both.
//!
//! Who reports what (so nothing is counted twice):
//! - `Ack` / `Rejected` of a new order: the order response here, or `executionReport` NEW /
//!   REJECTED on the User Data Stream, whichever comes first ([`ExecLedger`] drops the second).
//! - `Fill`, `Cancelled`, `Expired`: the User Data Stream only. A successful cancel response is
//!   logged, not reported (the stream reports `CANCELED`); `executedQty` and `fills` in
//!   responses are ignored.
//!
//! Every new order ends in an `Ack` or a `Rejected`:
//! - 2xx -> `Ack{orderId}`; Binance error JSON on a 4xx -> `Rejected{code, msg}`;
//! - 429/418 -> `Rejected` (Binance refused it), and new orders are refused locally
//!   (`Rejected{code: 0}`) until `Retry-After` has passed; nothing is resubmitted;
//! - 5xx, timeout or a broken connection, including a WebSocket API connection that dropped
//!   with the order in flight (outcome unknown) -> the order is looked up by client order id
//!   (`order.status`, or `GET /api/v3/order` while the WebSocket API is down) a few times, and
//!   the venue's answer is reported: found ->
//!   `Ack`, not found -> `Rejected{-2013}`. If the venue cannot be asked at all, `Rejected{0,
//!   "outcome unknown ..."}` is reported and logged as an error (reconciliation needed).
//!
//! A new order whose `timestamp` is already older than its `recvWindow` when its turn comes is
//! refused locally (`Rejected{code: 0}`), so nothing queued behind a rate-limit wait goes out late.
//!
//! Cancels are idempotent, so a cancel whose outcome is unknown, or that was rate limited, is
//! sent once more (after `Retry-After`). A refused cancel is reported as `CancelRejected` (the
//! order's state is unchanged; the engine may cancel it again).
//!
//! Binance `-1021` (timestamp outside recvWindow) makes the gateway measure the venue clock
//! offset again at once (shared with the signer); the refused order is reported `Rejected`
//! and never resent by the gateway, a refused cancel is re-signed and sent once more.
//!
//! A cancel-replace ([`SignedAction::Replace`]: `order.cancelReplace`, or
//! `POST /api/v3/order/cancelReplace`, always `STOP_ON_FAILURE`) is one request about two
//! orders. The new order is reported as above (`Ack` from `newOrderResponse.orderId`); the old
//! one is reported only when its cancel failed: `-2022` (cancel refused, new order not
//! attempted) and every other refusal give the old order `CancelRejected` and the new one
//! `Rejected`; `-2021` (cancel done, new order refused) gives the new order `Rejected` and the
//! User Data Stream reports the old one's `CANCELED`. When the outcome is unknown the new order
//! is looked up as above, then the old one: still working at the venue -> `CancelRejected`
//! (so the engine can cancel it again).

use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::clock::Clock;
use peregrine_engine::gateway::{ExecSender, SignedAction, SignedOrder};
use peregrine_engine::order::{ClientOrderId, ExecKind, ExecReport};
use peregrine_engine::types::Side;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use std::sync::atomic::{AtomicU64, Ordering};

use super::errors::{classify, BinanceError};
use super::ledger::ExecLedger;
use super::rest::{
    parse_new_order_id, parse_order_status, parse_replaced_order_id, BinanceRest, OrderResponse,
    OrderStatus, RestError, ORDER_DOES_NOT_EXIST,
};
use super::signer::param;
use super::ws_api::frame::Reply;
use super::ws_api::params::{to_rest, to_ws};
use super::ws_api::{WsApi, WsApiError};

/// Where signed requests go: REST, or the WebSocket API with REST as the fallback.
pub struct OrderTransport {
    rest: BinanceRest,
    ws: Option<WsApi>,
    via_ws: AtomicU64,
    rest_fallbacks: AtomicU64,
}

impl From<BinanceRest> for OrderTransport {
    fn from(rest: BinanceRest) -> Self {
        Self::rest(rest)
    }
}

impl OrderTransport {
    /// REST only.
    pub fn rest(rest: BinanceRest) -> Self {
        Self {
            rest,
            ws: None,
            via_ws: AtomicU64::new(0),
            rest_fallbacks: AtomicU64::new(0),
        }
    }

    /// The WebSocket API, falling back to `rest` while it is down. Requests are signed with
    /// the REST client's key as it is when each is sent (an HMAC key's requests carry
    /// `apiKey` + `signature`; an Ed25519 key's ride on the `session.logon` session).
    pub fn ws_api(rest: BinanceRest, ws: WsApi) -> Self {
        Self {
            ws: Some(ws),
            ..Self::rest(rest)
        }
    }

    /// `params` (REST form) in the WebSocket API form, signed with the account's key now.
    fn ws_params(&self, params: &str) -> Result<String, RestError> {
        let key = self.rest.current_key();
        to_ws(
            params,
            &key.signer,
            key.ws_api_key().as_ref(),
            self.rest.now_ms(),
        )
        .map_err(|e| RestError::Config(e.to_string()))
    }

    /// The REST client.
    pub fn rest_client(&self) -> &BinanceRest {
        &self.rest
    }

    fn ready_ws(&self) -> Option<&WsApi> {
        self.ws.as_ref().filter(|w| w.is_ready())
    }

    /// Sends one signed request: over the WebSocket API if it is in that form and the
    /// connection is up, else over REST (re-signed if needed). Returns the response body.
    pub async fn send(&self, order: &SignedOrder) -> Result<OrderResponse, RestError> {
        if !order.params.starts_with('{') {
            return self.rest.send_signed(order).await;
        }
        if let Some(ws) = &self.ws {
            let method = match order.action {
                SignedAction::New => "order.place",
                SignedAction::Cancel => "order.cancel",
                SignedAction::Replace { .. } => "order.cancelReplace",
            };
            match ws.request(method, &order.params).await {
                Ok(reply) => {
                    self.via_ws.fetch_add(1, Ordering::Relaxed);
                    return reply_to_result(reply);
                }
                Err(WsApiError::NotSent | WsApiError::TooManyInFlight) => {}
                Err(e @ WsApiError::Timeout) => {
                    tracing::warn!(error = %e, "binance WebSocket API request timed out");
                    return Err(RestError::Timeout);
                }
                Err(e @ WsApiError::ConnectionLost) => {
                    return Err(RestError::Transport(e.to_string()))
                }
            }
        }
        self.rest_fallbacks.fetch_add(1, Ordering::Relaxed);
        tracing::info!(client_order_id = %order.client_order_id, "binance WebSocket API down; sending over REST");
        let params = to_rest(&order.params, &self.rest.signer(), self.rest.now_ms())
            .map_err(|e| RestError::Config(e.to_string()))?;
        self.rest
            .send_signed(&SignedOrder {
                params,
                ..order.clone()
            })
            .await
    }

    /// Looks an order up by client order id: `order.status` on the WebSocket API when it is
    /// up, else `GET /api/v3/order`.
    pub async fn query_order(&self, symbol: &str, coid: &str) -> Result<OrderStatus, RestError> {
        if let Some(ws) = self.ready_ws() {
            let rest_form = format!(
                "origClientOrderId={coid}&recvWindow={}&symbol={symbol}",
                self.rest.recv_window_ms()
            );
            let params = self.ws_params(&rest_form)?;
            match ws.request("order.status", &params).await {
                Ok(reply) => return parse_order_status(&reply_to_result(reply)?.body),
                Err(WsApiError::NotSent | WsApiError::TooManyInFlight) => {}
                Err(e) => return Err(RestError::Transport(e.to_string())),
            }
        }
        self.rest.query_order(symbol, coid).await
    }

    /// `openOrders.cancelAll` (or `DELETE /api/v3/openOrders` while the WebSocket API is
    /// down): cancels every open order of `symbol`; the User Data Stream reports each
    /// `CANCELED`. Returns the raw response.
    pub async fn cancel_all(&self, symbol: &str) -> Result<String, RestError> {
        let rest_form = format!("recvWindow={}&symbol={symbol}", self.rest.recv_window_ms());
        if let Some(ws) = self.ready_ws() {
            let params = self.ws_params(&rest_form)?;
            match ws.request("openOrders.cancelAll", &params).await {
                Ok(reply) => return reply_to_result(reply).map(|r| r.body),
                Err(WsApiError::NotSent | WsApiError::TooManyInFlight) => {}
                Err(e) => return Err(RestError::Transport(e.to_string())),
            }
        }
        self.rest.cancel_open_orders(symbol).await
    }
}

/// A WebSocket API reply read as the REST response would be.
fn reply_to_result(reply: Reply) -> Result<OrderResponse, RestError> {
    if reply.status == 200 {
        return Ok(OrderResponse {
            status: 200,
            body: reply.result,
        });
    }
    let (code, msg, retry_at) = reply.error.map_or((0, String::new(), None), |e| {
        (e.code, e.msg, e.data.and_then(|d| d.retry_after))
    });
    if reply.status == 429 || reply.status == 418 {
        let now = u64::try_from(peregrine_engine::clock::Clock::wall_ms()).unwrap_or(0);
        return Err(RestError::RateLimited {
            status: reply.status,
            retry_after: retry_at.map(|t| Duration::from_millis(t.saturating_sub(now))),
            code,
            msg,
        });
    }
    Err(RestError::Api {
        status: reply.status,
        code,
        msg,
    })
}

/// Gateway tuning.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Lookups of an order whose outcome is unknown, before giving up.
    pub query_attempts: u32,
    /// Delay before the first lookup; doubles each time.
    pub query_backoff: Duration,
    /// Block after a 429 without `Retry-After`.
    pub default_429_block: Duration,
    /// Block after a 418 without `Retry-After` (Binance bans start at 2 minutes).
    pub default_418_block: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            query_attempts: 5,
            query_backoff: Duration::from_millis(200),
            default_429_block: Duration::from_secs(1),
            default_418_block: Duration::from_secs(120),
        }
    }
}

/// Counters returned by [`run_gateway`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// New orders received.
    pub new_orders: u64,
    /// Cancels received.
    pub cancels: u64,
    /// Acks sent.
    pub acks: u64,
    /// Rejections sent.
    pub rejects: u64,
    /// Orders whose outcome had to be looked up.
    pub unknown_outcomes: u64,
    /// Rate-limit responses.
    pub rate_limited: u64,
    /// Requests answered over the WebSocket API.
    pub via_ws_api: u64,
    /// WebSocket API requests sent over REST because the connection was down.
    pub rest_fallbacks: u64,
}

/// Sends each [`SignedOrder`] from `rx`, in order, and reports outcomes on `exec_tx` (see the
/// module docs for which reports come from here). Returns when `rx` is closed and every
/// outstanding lookup has finished, or when the engine's exec receiver is gone.
pub async fn run_gateway(
    transport: impl Into<OrderTransport>,
    mut rx: UnboundedReceiver<SignedOrder>,
    exec_tx: ExecSender,
    ledger: Arc<ExecLedger>,
    cfg: GatewayConfig,
) -> GatewayStats {
    let mut stats = GatewayStats::default();
    let mut blocked_until: Option<Instant> = None;
    let mut lookups = tokio::task::JoinSet::new();
    let ctx = Arc::new(Ctx {
        t: transport.into(),
        exec_tx,
        ledger,
        cfg,
    });
    while let Some(order) = rx.recv().await {
        while let Some(done) = lookups.try_join_next() {
            absorb(&mut stats, done);
        }
        match order.action {
            SignedAction::New | SignedAction::Replace { .. } => {
                stats.new_orders += 1;
                let replaced = match order.action {
                    SignedAction::Replace { cancel } => Some(cancel),
                    _ => None,
                };
                if replaced.is_some() {
                    stats.cancels += 1;
                }
                let refusal = if let Some(until) = blocked_until.filter(|u| *u > Instant::now()) {
                    Some(format!(
                        "not sent: rate limited, {} ms until Retry-After passes",
                        (until - Instant::now()).as_millis()
                    ))
                } else {
                    expired(&order, ctx.t.rest.now_ms()).map(|age_ms| {
                        format!("not sent: waited {age_ms} ms in the gateway, past recvWindow")
                    })
                };
                if let Some(reason) = refusal {
                    tracing::warn!(client_order_id = %order.client_order_id, %reason, "binance gateway");
                    if let Some(old) = replaced {
                        ctx.cancel_refused(&order, old, 0, reason.clone());
                    }
                    let kind = ExecKind::Rejected { code: 0, reason };
                    if !ctx.report(&order, order.side, kind, &mut stats) {
                        break;
                    }
                    continue;
                }
                let sent = ctx.t.send(&order).await;
                let new_order_id = |body: &str| match replaced {
                    None => parse_new_order_id(body),
                    Some(_) => parse_replaced_order_id(body),
                };
                match sent {
                    Ok(resp) => match new_order_id(&resp.body) {
                        Ok(venue_order_id) => {
                            let kind = ExecKind::Ack { venue_order_id };
                            if !ctx.report(&order, order.side, kind, &mut stats) {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(client_order_id = %order.client_order_id, error = %e, "binance new order: unreadable 2xx response; looking it up");
                            stats.unknown_outcomes += 1;
                            let c = ctx.clone();
                            lookups.spawn(
                                async move { c.resolve_placement(order, replaced, e).await },
                            );
                        }
                    },
                    Err(e) => {
                        if let RestError::RateLimited {
                            status,
                            retry_after,
                            ..
                        } = &e
                        {
                            stats.rate_limited += 1;
                            blocked_until =
                                Some(Instant::now() + block_for(&ctx.cfg, *status, *retry_after));
                        }
                        ctx.resync_if_needed(&e).await;
                        if e.certainly_not_executed() {
                            let (code, reason) = reject_reason(&e);
                            tracing::info!(client_order_id = %order.client_order_id, code, %reason, "binance new order rejected");
                            // -2021: the cancel went through (the stream reports it); any other
                            // refusal left the old order working.
                            if let Some(old) = replaced.filter(|_| code != REPLACE_PARTIALLY_FAILED)
                            {
                                ctx.cancel_refused(&order, old, code, reason.clone());
                            }
                            if !ctx.report(
                                &order,
                                order.side,
                                ExecKind::Rejected { code, reason },
                                &mut stats,
                            ) {
                                break;
                            }
                        } else {
                            tracing::warn!(client_order_id = %order.client_order_id, error = %e, "binance new order: outcome unknown; looking it up");
                            stats.unknown_outcomes += 1;
                            let c = ctx.clone();
                            lookups.spawn(
                                async move { c.resolve_placement(order, replaced, e).await },
                            );
                        }
                    }
                }
            }
            SignedAction::Cancel => {
                stats.cancels += 1;
                if let Some(until) = blocked_until.filter(|u| *u > Instant::now()) {
                    tokio::time::sleep_until(until).await;
                }
                if let Some(block) = ctx.cancel(&order).await {
                    stats.rate_limited += 1;
                    blocked_until = Some(Instant::now() + block);
                }
            }
        }
    }
    while let Some(done) = lookups.join_next().await {
        absorb(&mut stats, done);
    }
    stats.via_ws_api = ctx.t.via_ws.load(Ordering::Relaxed);
    stats.rest_fallbacks = ctx.t.rest_fallbacks.load(Ordering::Relaxed);
    stats
}

fn absorb(stats: &mut GatewayStats, done: Result<LookupOutcome, tokio::task::JoinError>) {
    match done {
        Ok(LookupOutcome::Acked) => stats.acks += 1,
        Ok(LookupOutcome::Rejected) => stats.rejects += 1,
        Ok(LookupOutcome::Suppressed) => {}
        Err(e) => tracing::error!(error = %e, "binance order lookup task failed"),
    }
}

fn block_for(cfg: &GatewayConfig, status: u16, retry_after: Option<Duration>) -> Duration {
    retry_after.unwrap_or(if status == 418 {
        cfg.default_418_block
    } else {
        cfg.default_429_block
    })
}

/// Binance `-2021`: a cancel-replace whose cancel succeeded and whose new order failed.
const REPLACE_PARTIALLY_FAILED: i64 = -2021;

fn reject_reason(e: &RestError) -> (i64, String) {
    match e {
        RestError::Api { code, msg, .. } => (*code, msg.clone()),
        RestError::RateLimited {
            status, code, msg, ..
        } => (*code, format!("HTTP {status}: {msg}")),
        other => (0, other.to_string()),
    }
}

/// `Some(age)` if the request's `timestamp` is older than its `recvWindow` (Binance would
/// refuse it with -1021 anyway; this way a queued order can't go out late).
fn expired(order: &SignedOrder, now_ms: i64) -> Option<i64> {
    let ts: i64 = param(&order.params, "timestamp")?.parse().ok()?;
    let window: i64 = param(&order.params, "recvWindow")?.parse().ok()?;
    let age = now_ms - ts;
    (age > window).then_some(age)
}

enum LookupOutcome {
    Acked,
    Rejected,
    Suppressed,
}

struct Ctx {
    t: OrderTransport,
    exec_tx: ExecSender,
    ledger: Arc<ExecLedger>,
    cfg: GatewayConfig,
}

impl Ctx {
    /// Sends an `Ack`/`Rejected` unless the user stream already did. False if the engine is gone.
    fn report(
        &self,
        order: &SignedOrder,
        side: Side,
        kind: ExecKind,
        stats: &mut GatewayStats,
    ) -> bool {
        match self.send_outcome(order, side, kind) {
            Ok(Some(LookupOutcome::Acked)) => stats.acks += 1,
            Ok(Some(LookupOutcome::Rejected)) => stats.rejects += 1,
            Ok(_) => {}
            Err(()) => return false,
        }
        true
    }

    fn send_outcome(
        &self,
        order: &SignedOrder,
        side: Side,
        kind: ExecKind,
    ) -> Result<Option<LookupOutcome>, ()> {
        if !self.ledger.first_outcome(order.client_order_id) {
            tracing::debug!(client_order_id = %order.client_order_id, "outcome already reported by the user stream");
            return Ok(Some(LookupOutcome::Suppressed));
        }
        let outcome = match kind {
            ExecKind::Ack { .. } => LookupOutcome::Acked,
            _ => LookupOutcome::Rejected,
        };
        let report = ExecReport {
            client_order_id: order.client_order_id,
            instrument: order.instrument,
            side,
            kind,
            recv_ns: Clock::now_ns(),
        };
        if self.exec_tx.send(report).is_err() {
            tracing::error!(client_order_id = %order.client_order_id, "exec report receiver is gone; stopping the gateway");
            return Err(());
        }
        Ok(Some(outcome))
    }

    /// Reports `CancelRejected` for `id`: the order `order` cancels, or the one a
    /// cancel-replace `order` was to cancel (same instrument and side).
    fn cancel_refused(&self, order: &SignedOrder, id: ClientOrderId, code: i64, reason: String) {
        let report = ExecReport {
            client_order_id: id,
            instrument: order.instrument,
            side: order.side,
            kind: ExecKind::CancelRejected { code, reason },
            recv_ns: Clock::now_ns(),
        };
        if self.exec_tx.send(report).is_err() {
            tracing::debug!("exec report receiver is gone");
        }
    }

    /// [`Self::resolve`] for a new order or a cancel-replace; for the latter, then asks the
    /// venue about the old order and reports `CancelRejected` if it is still working.
    async fn resolve_placement(
        &self,
        order: SignedOrder,
        replaced: Option<ClientOrderId>,
        first_error: RestError,
    ) -> LookupOutcome {
        let outcome = self.resolve(order.clone(), first_error).await;
        let Some(old) = replaced else {
            return outcome;
        };
        let symbol = param(&order.params, "symbol").unwrap_or_default();
        match self.t.query_order(symbol, &old.to_string()).await {
            Ok(s) if s.status == "NEW" || s.status == "PARTIALLY_FILLED" => {
                tracing::info!(client_order_id = %old, venue_status = %s.status, "cancel-replace: the old order is still working");
                self.cancel_refused(
                    &order,
                    old,
                    0,
                    format!(
                        "cancel-replace outcome unknown; the order is still {}",
                        s.status
                    ),
                );
            }
            Ok(s) => {
                tracing::debug!(client_order_id = %old, venue_status = %s.status, "cancel-replace: old order no longer working; the user stream reports it");
            }
            Err(e) => {
                tracing::error!(client_order_id = %old, error = %e, "cancel-replace: cannot look up the old order; reconcile the account");
            }
        }
        outcome
    }

    /// Finds out what the venue did with a new order whose outcome is unknown.
    async fn resolve(&self, order: SignedOrder, first_error: RestError) -> LookupOutcome {
        let symbol = param(&order.params, "symbol")
            .unwrap_or_default()
            .to_string();
        let coid = order.client_order_id.to_string();
        let mut delay = self.cfg.query_backoff;
        let mut last = first_error.to_string();
        let mut not_found = false;
        for attempt in 1..=self.cfg.query_attempts.max(1) {
            tokio::time::sleep(delay).await;
            delay *= 2;
            match self.t.query_order(&symbol, &coid).await {
                Ok(status) => {
                    let kind = if status.status == "REJECTED" {
                        ExecKind::Rejected {
                            code: 0,
                            reason: "venue reports the order REJECTED".to_string(),
                        }
                    } else {
                        ExecKind::Ack {
                            venue_order_id: status.order_id,
                        }
                    };
                    tracing::info!(client_order_id = %coid, venue_status = %status.status, attempt, "binance order outcome resolved");
                    return self.finish(&order, status.side, kind);
                }
                Err(RestError::Api { code, msg, .. }) if code == ORDER_DOES_NOT_EXIST => {
                    not_found = true;
                    last = msg;
                }
                Err(e) => {
                    not_found = false;
                    last = e.to_string();
                    if let RestError::RateLimited {
                        status,
                        retry_after,
                        ..
                    } = &e
                    {
                        tokio::time::sleep(block_for(&self.cfg, *status, *retry_after)).await;
                    }
                }
            }
            tracing::debug!(client_order_id = %coid, attempt, last = %last, "binance order lookup");
        }
        let kind = if not_found {
            ExecKind::Rejected {
                code: ORDER_DOES_NOT_EXIST,
                reason: format!("not at the venue after: {first_error}"),
            }
        } else {
            tracing::error!(client_order_id = %coid, error = %last, "binance order outcome UNKNOWN; reporting Rejected, reconcile the account");
            ExecKind::Rejected {
                code: 0,
                reason: format!("outcome unknown: {first_error}; lookup failed: {last}"),
            }
        };
        self.finish(&order, order.side, kind)
    }

    fn finish(&self, order: &SignedOrder, side: Side, kind: ExecKind) -> LookupOutcome {
        match self.send_outcome(order, side, kind) {
            Ok(Some(o)) => o,
            _ => LookupOutcome::Suppressed,
        }
    }

    /// On Binance's -1021 (timestamp outside recvWindow / ahead of the server) measures the
    /// clock offset again (the signer and later requests use it). True if it resynced.
    async fn resync_if_needed(&self, e: &RestError) -> bool {
        let needs = classify(e)
            .error
            .is_some_and(BinanceError::needs_time_resync);
        if !needs {
            return false;
        }
        match self.t.rest.sync_time().await {
            Ok(offset) => {
                tracing::warn!(
                    offset_ms = offset,
                    "binance -1021: venue clock offset resynced"
                );
                true
            }
            Err(err) => {
                tracing::error!(error = %err, "binance -1021 and the venue time cannot be read");
                false
            }
        }
    }

    /// The same request with a fresh `timestamp` and signature (for a resent cancel, which may
    /// be past its `recvWindow`), in the form it came in.
    fn resign(&self, order: &SignedOrder) -> SignedOrder {
        let now = self.t.rest.now_ms();
        let key = self.t.rest.current_key();
        let params = if order.params.starts_with('{') {
            to_ws(&order.params, &key.signer, key.ws_api_key().as_ref(), now)
        } else {
            to_rest(&order.params, &key.signer, now)
        };
        match params {
            Ok(params) => SignedOrder {
                params,
                ..order.clone()
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot re-sign the cancel; resending it as it was");
                order.clone()
            }
        }
    }

    /// Sends a cancel (retrying once when the outcome is unknown or it was rate limited).
    /// Returns a rate-limit block to apply to later requests, if any.
    async fn cancel(&self, order: &SignedOrder) -> Option<Duration> {
        let mut block = None;
        for attempt in 1..=2 {
            let fresh;
            let to_send = if attempt == 1 {
                order
            } else {
                fresh = self.resign(order);
                &fresh
            };
            match self.t.send(to_send).await {
                Ok(_) => {
                    tracing::debug!(client_order_id = %order.client_order_id, "binance cancel accepted; user stream reports CANCELED");
                    return block;
                }
                Err(RestError::RateLimited {
                    status,
                    retry_after,
                    ..
                }) if attempt == 1 => {
                    let b = block_for(&self.cfg, status, retry_after);
                    block = Some(b);
                    tokio::time::sleep(b).await;
                }
                Err(e) if !e.certainly_not_executed() && attempt == 1 => {
                    tracing::warn!(client_order_id = %order.client_order_id, error = %e, "binance cancel outcome unknown; sending it again");
                }
                Err(e) if attempt == 1 && self.resync_if_needed(&e).await => {
                    tracing::warn!(client_order_id = %order.client_order_id, "binance cancel outside recvWindow; clock resynced, sending it again");
                }
                Err(e) => {
                    tracing::warn!(client_order_id = %order.client_order_id, error = %e, "binance cancel refused");
                    let (code, reason) = reject_reason(&e);
                    self.cancel_refused(order, order.client_order_id, code, reason);
                    return block;
                }
            }
        }
        block
    }
}
