//! The order transport: sends [`SignedOrder`]s to Binance's REST API and reports outcomes.
//!
//! Who reports what (so nothing is counted twice):
//! - `Ack` / `Rejected` of a new order: the REST response here, or `executionReport` NEW /
//!   REJECTED on the user stream, whichever comes first ([`ExecLedger`] drops the second).
//! - `Fill`, `Cancelled`, `Expired`: the user data stream only. A successful cancel response is
//!   logged, not reported (the user stream reports `CANCELED`); `executedQty` and `fills` in
//!   REST responses are ignored.
//!
//! Every new order ends in an `Ack` or a `Rejected`:
//! - 2xx -> `Ack{orderId}`; Binance error JSON on a 4xx -> `Rejected{code, msg}`;
//! - 429/418 -> `Rejected` (Binance refused it), and new orders are refused locally
//!   (`Rejected{code: 0}`) until `Retry-After` has passed; nothing is resubmitted;
//! - 5xx, timeout or a broken connection (outcome unknown) -> the order is looked up by client
//!   order id (`GET /api/v3/order`) a few times, and the venue's answer is reported: found ->
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
//! Cancel/replace is cancel-then-new (two requests), not Binance's `cancelReplace`.

use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::clock::Clock;
use peregrine_engine::gateway::{ExecSender, SignedAction, SignedOrder};
use peregrine_engine::order::{ExecKind, ExecReport};
use peregrine_engine::types::Side;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::errors::{classify, BinanceError};
use super::ledger::ExecLedger;
use super::rest::{parse_new_order_id, BinanceRest, RestError, ORDER_DOES_NOT_EXIST};
use super::sign;
use super::signer::{param, split_signature};

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
}

/// Sends each [`SignedOrder`] from `rx`, in order, and reports outcomes on `exec_tx` (see the
/// module docs for which reports come from here). Returns when `rx` is closed and every
/// outstanding lookup has finished, or when the engine's exec receiver is gone.
pub async fn run_gateway(
    rest: BinanceRest,
    mut rx: UnboundedReceiver<SignedOrder>,
    exec_tx: ExecSender,
    ledger: Arc<ExecLedger>,
    cfg: GatewayConfig,
) -> GatewayStats {
    let mut stats = GatewayStats::default();
    let mut blocked_until: Option<Instant> = None;
    let mut lookups = tokio::task::JoinSet::new();
    let ctx = Arc::new(Ctx {
        rest,
        exec_tx,
        ledger,
        cfg,
    });
    while let Some(order) = rx.recv().await {
        while let Some(done) = lookups.try_join_next() {
            absorb(&mut stats, done);
        }
        match order.action {
            SignedAction::New => {
                stats.new_orders += 1;
                let refusal = if let Some(until) = blocked_until.filter(|u| *u > Instant::now()) {
                    Some(format!(
                        "not sent: rate limited, {} ms until Retry-After passes",
                        (until - Instant::now()).as_millis()
                    ))
                } else {
                    expired(&order, ctx.rest.now_ms()).map(|age_ms| {
                        format!("not sent: waited {age_ms} ms in the gateway, past recvWindow")
                    })
                };
                if let Some(reason) = refusal {
                    tracing::warn!(client_order_id = %order.client_order_id, %reason, "binance gateway");
                    let kind = ExecKind::Rejected { code: 0, reason };
                    if !ctx.report(&order, order.side, kind, &mut stats) {
                        break;
                    }
                    continue;
                }
                match ctx.rest.send_signed(&order).await {
                    Ok(resp) => match parse_new_order_id(&resp.body) {
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
                            lookups.spawn(async move { c.resolve(order, e).await });
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
                            lookups.spawn(async move { c.resolve(order, e).await });
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
    rest: BinanceRest,
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
            match self.rest.query_order(&symbol, &coid).await {
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
        match self.rest.sync_time().await {
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
    /// be past its `recvWindow`).
    fn resign(&self, order: &SignedOrder) -> SignedOrder {
        let payload = split_signature(&order.params).map_or(order.params.as_str(), |(p, _)| p);
        let mut params = String::with_capacity(order.params.len() + 8);
        for (i, kv) in payload.split('&').enumerate() {
            if i > 0 {
                params.push('&');
            }
            match kv.split_once('=') {
                Some(("timestamp", _)) => {
                    params.push_str("timestamp=");
                    params.push_str(&self.rest.now_ms().to_string());
                }
                _ => params.push_str(kv),
            }
        }
        let len = params.len();
        params.push_str("&signature=");
        let mut sig = String::with_capacity(64);
        sign::sign_into(
            self.rest.credentials().secret.expose().as_bytes(),
            &params.as_bytes()[..len],
            &mut sig,
        );
        params.push_str(&sig);
        SignedOrder {
            params,
            ..order.clone()
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
            match self.rest.send_signed(to_send).await {
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
                    let report = ExecReport {
                        client_order_id: order.client_order_id,
                        instrument: order.instrument,
                        side: order.side,
                        kind: ExecKind::CancelRejected { code, reason },
                        recv_ns: Clock::now_ns(),
                    };
                    if self.exec_tx.send(report).is_err() {
                        tracing::debug!("exec report receiver is gone");
                    }
                    return block;
                }
            }
        }
        block
    }
}
