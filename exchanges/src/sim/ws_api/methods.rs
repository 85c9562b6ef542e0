//! Dispatch of WebSocket API requests: rate-limit accounting (the REST budget), request
//! authorization (explicit `apiKey` + `signature`, or the `session.logon` key), and the
//! methods. Order entry, queries and market data go through the same functions as the REST
//! endpoints (`super::super::rest`), so both APIs share one matching engine and one ledger.

use std::time::Instant;

use serde_json::{json, Value};

use super::super::auth::{check_timing, KeyKind, Params};
use super::super::cancel_replace;
use super::super::error::ApiError;
pub use super::super::error::Failure;
use super::super::limits::Usage;
use super::super::rest;
use super::super::state::Shared;
use super::super::wire::now_ms;
use super::frame::{self, Request};
use super::session::{Session, SubKind};

/// Request weight of `method` and whether it counts as an order; `None` for an unknown
/// method. Weights as Binance documents them for the WebSocket API.
fn cost(method: &str, params: &Params) -> Option<(u64, bool)> {
    Some(match method {
        "ping" | "time" => (1, false),
        "exchangeInfo" => (20, false),
        "depth" => (rest::depth_weight(Some(params)), false),
        "session.logon" | "session.status" | "session.logout" => (2, false),
        "userDataStream.subscribe"
        | "userDataStream.subscribe.signature"
        | "userDataStream.unsubscribe"
        | "session.subscriptions" => (2, false),
        "order.place" | "order.cancelReplace" => (1, true),
        "order.cancel" | "openOrders.cancelAll" => (1, false),
        "order.status" => (4, false),
        "openOrders.status" => (
            if params.get("symbol").is_some() {
                6
            } else {
                80
            },
            false,
        ),
        _ => return None,
    })
}

/// Handles one text frame, read at `read_at`, and returns the response frame.
pub fn handle(shared: &Shared, session: &mut Session, text: &str, read_at: Instant) -> String {
    let req = match Request::parse(text) {
        Ok(r) => r,
        Err(bad) => return frame::error(&bad.id, &bad.error, None, None),
    };
    let params = match req.params() {
        Ok(p) => p,
        Err(e) => return frame::error(&req.id, &e, None, None),
    };
    let Some((weight, is_order)) = cost(&req.method, &params) else {
        let e = ApiError::bad_request(-1020, "This operation is not supported.");
        return frame::error(&req.id, &e, None, None);
    };
    let show = match params.get("returnRateLimits") {
        Some("true") => true,
        Some("false") => false,
        Some(_) => {
            let e = ApiError::illegal_chars("returnRateLimits");
            return frame::error(&req.id, &e, None, None);
        }
        None => session.return_rate_limits,
    };
    let now = now_ms();
    let usage = match shared.limits.admit(weight, is_order, now) {
        Ok(u) => u,
        Err(limited) => {
            let data = json!({
                "serverTime": shared.limits.server_ms(now),
                "retryAfter": now + (limited.retry_after_s as i64) * 1000,
            });
            return frame::error(&req.id, &limited.error, Some(&data), None);
        }
    };
    let limits: Option<Usage> = show.then_some(usage);
    match dispatch(shared, session, &req, &params, read_at) {
        Ok(v) => frame::ok(&req.id, &v, limits),
        Err(f) => frame::error(&req.id, &f.error, f.data.as_ref(), limits),
    }
}

fn dispatch(
    shared: &Shared,
    session: &mut Session,
    req: &Request,
    params: &Params,
    read_at: Instant,
) -> Result<Value, Failure> {
    let server_time = || shared.limits.server_ms(now_ms());
    match req.method.as_str() {
        "ping" => Ok(json!({})),
        "time" => Ok(json!({ "serverTime": server_time() })),
        "exchangeInfo" => Ok(rest::exchange_info_json(shared, params)?),
        "depth" => Ok(rest::depth_json(shared, params)?),
        "session.logon" => {
            let (key, kind) = verify_explicit(shared, req, params)?;
            if kind != KeyKind::Ed25519 {
                return Err(
                    ApiError::bad_request(-4056, "HMAC_SHA256 API key is not supported.").into(),
                );
            }
            session.auth = Some((key, now_ms()));
            Ok(session.status_json(server_time()))
        }
        "session.status" => Ok(session.status_json(server_time())),
        "session.logout" => {
            session.auth = None;
            if matches!(session.sub, Some((_, SubKind::Session))) {
                session.sub = None;
            }
            Ok(session.status_json(server_time()))
        }
        "userDataStream.subscribe" => {
            if session.auth.is_none() {
                return Err(ApiError {
                    status: axum::http::StatusCode::UNAUTHORIZED,
                    code: -1002,
                    msg: "You are not authorized to execute this request.".into(),
                }
                .into());
            }
            subscribe(session, SubKind::Session)
        }
        "userDataStream.subscribe.signature" => {
            verify_explicit(shared, req, params)?;
            subscribe(session, SubKind::Signature)
        }
        "userDataStream.unsubscribe" => {
            let wanted = params.parsed("subscriptionId", |v| v.parse::<u32>().ok())?;
            if let Some((id, _)) = session.sub {
                if wanted.is_none_or(|w| w == id) {
                    session.sub = None;
                }
            }
            Ok(json!({}))
        }
        "session.subscriptions" => Ok(Value::Array(
            session
                .sub
                .iter()
                .map(|(id, _)| json!({ "subscriptionId": id }))
                .collect(),
        )),
        "order.place" => {
            authorize(shared, session, req, params)?;
            rest::record_order_read(shared, params, read_at);
            Ok(rest::new_order(shared, params)?)
        }
        "order.cancel" => {
            authorize(shared, session, req, params)?;
            Ok(rest::cancel_order(shared, params)?)
        }
        "order.status" => {
            authorize(shared, session, req, params)?;
            Ok(rest::query_order(shared, params)?)
        }
        "order.cancelReplace" => {
            authorize(shared, session, req, params)?;
            rest::record_order_read(shared, params, read_at);
            cancel_replace::run(shared, params)
        }
        "openOrders.status" => {
            authorize(shared, session, req, params)?;
            Ok(rest::open_orders_json(shared, params, false)?)
        }
        "openOrders.cancelAll" => {
            authorize(shared, session, req, params)?;
            Ok(rest::open_orders_json(shared, params, true)?)
        }
        _ => Err(ApiError::bad_request(-1020, "This operation is not supported.").into()),
    }
}

/// Starts the account's subscription (one per connection, as Binance allows one per account).
fn subscribe(session: &mut Session, kind: SubKind) -> Result<Value, Failure> {
    if session.sub.is_some() {
        return Err(
            ApiError::bad_request(-2035, "User Data Stream subscription already active.").into(),
        );
    }
    let id = session.next_sub_id;
    session.next_sub_id += 1;
    session.sub = Some((id, kind));
    Ok(json!({ "subscriptionId": id }))
}

/// A request signed in its own parameters: `apiKey` (-1102 absent, -2014 malformed, -2015
/// unknown), `signature` (-1102 absent, -1022 wrong) over the sorted parameters, then the
/// timestamp / recvWindow rule.
fn verify_explicit(
    shared: &Shared,
    req: &Request,
    params: &Params,
) -> Result<(String, KeyKind), ApiError> {
    let key = params.require("apiKey")?;
    let kind = shared.keys.check(key)?;
    let signature = params.require("signature")?;
    if !shared
        .keys
        .verify(key, req.signature_payload().as_bytes(), signature)
    {
        return Err(ApiError::bad_signature());
    }
    check_timing(params, shared.limits.server_ms(now_ms()))?;
    Ok((key.to_string(), kind))
}

/// A SIGNED request: signed in its parameters when it carries a `signature`, else on behalf
/// of the session's authenticated key (the `timestamp` rule still applies). Returns the key.
fn authorize(
    shared: &Shared,
    session: &Session,
    req: &Request,
    params: &Params,
) -> Result<String, ApiError> {
    if params.get("signature").is_some() {
        return verify_explicit(shared, req, params).map(|(k, _)| k);
    }
    match (&session.auth, params.get("apiKey")) {
        (Some((key, _)), None) => {
            // A key revoked since the logon no longer acts.
            shared.keys.check(key)?;
            check_timing(params, shared.limits.server_ms(now_ms()))?;
            Ok(key.clone())
        }
        (_, Some(_)) => Err(ApiError::mandatory("signature")),
        (None, None) => Err(ApiError::mandatory("apiKey")),
    }
}
