//! Cancel-replace (`POST /api/v3/order/cancelReplace` and the WebSocket API's
//! `order.cancelReplace`): cancel an open order and place a new one in one request, built from
//! the REST cancel and new-order functions. `cancelReplaceMode` `STOP_ON_FAILURE` places the
//! new order only if the cancel succeeded; `ALLOW_FAILURE` tries both. One side failing is
//! -2021 (status 409), both failing (or the cancel failing under `STOP_ON_FAILURE`) -2022
//! (status 400); `error.data` says what happened to each side, as Binance reports it.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::auth::Params;
use super::error::{ApiError, Failure};
use super::rest;
use super::state::Shared;

/// Runs a cancel-replace on already authorized `params`.
pub fn run(shared: &Shared, params: &Params) -> Result<Value, Failure> {
    let symbol = params.require("symbol")?;
    let stop_on_failure = match params.require("cancelReplaceMode")? {
        "STOP_ON_FAILURE" => true,
        "ALLOW_FAILURE" => false,
        _ => return Err(ApiError::illegal_chars("cancelReplaceMode").into()),
    };
    let order_id = params.parsed("cancelOrderId", |v| v.parse::<u64>().ok())?;
    let orig = params.get("cancelOrigClientOrderId");
    if order_id.is_none() && orig.is_none() {
        return Err(ApiError::bad_request(
            -1102,
            "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were empty/null!",
        )
        .into());
    }
    let mut cancel = vec![("symbol".to_string(), symbol.to_string())];
    if let Some(id) = order_id {
        cancel.push(("orderId".into(), id.to_string()));
    }
    if let Some(c) = orig {
        cancel.push(("origClientOrderId".into(), c.to_string()));
    }
    if let Some(c) = params.get("cancelNewClientOrderId") {
        cancel.push(("newClientOrderId".into(), c.to_string()));
    }
    let cancelled = rest::cancel_order(shared, &Params::from_pairs(cancel)?);
    let err_json = |e: &ApiError| json!({"code": e.code, "msg": e.msg});
    if let (Err(e), true) = (&cancelled, stop_on_failure) {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            -2022,
            "Order cancel-replace failed.",
            json!({
                "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                "cancelResponse": err_json(e), "newOrderResponse": null,
            }),
        ));
    }
    let placed = rest::new_order(shared, params);
    match (cancelled, placed) {
        (Ok(c), Ok(n)) => Ok(json!({
            "cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
            "cancelResponse": c, "newOrderResponse": n,
        })),
        (Ok(c), Err(e)) => Err(failure(
            StatusCode::CONFLICT,
            -2021,
            "Order cancel-replace partially failed.",
            json!({
                "cancelResult": "SUCCESS", "newOrderResult": "FAILURE",
                "cancelResponse": c, "newOrderResponse": err_json(&e),
            }),
        )),
        (Err(e), Ok(n)) => Err(failure(
            StatusCode::CONFLICT,
            -2021,
            "Order cancel-replace partially failed.",
            json!({
                "cancelResult": "FAILURE", "newOrderResult": "SUCCESS",
                "cancelResponse": err_json(&e), "newOrderResponse": n,
            }),
        )),
        (Err(ce), Err(ne)) => Err(failure(
            StatusCode::BAD_REQUEST,
            -2022,
            "Order cancel-replace failed.",
            json!({
                "cancelResult": "FAILURE", "newOrderResult": "FAILURE",
                "cancelResponse": err_json(&ce), "newOrderResponse": err_json(&ne),
            }),
        )),
    }
}

fn failure(status: StatusCode, code: i32, msg: &str, data: Value) -> Failure {
    Failure {
        error: ApiError {
            status,
            code,
            msg: msg.into(),
        },
        data: Some(data),
    }
}
