//! WebSocket API framing: a request `{"id", "method", "params"}` is parsed into its id (echoed
//! verbatim), method and parameters (decoded to text, sorted by name); a response is
//! `{"id", "status", "result" | "error": {"code", "msg"[, "data"]}, "rateLimits"?}`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::super::auth::Params;
use super::super::error::ApiError;
use super::super::limits::{Usage, ORDERS_PER_10S, ORDERS_PER_DAY, WEIGHT_PER_MINUTE};

/// A parsed request.
#[derive(Debug)]
pub struct Request {
    /// The request id as sent (`null`, an integer or a string), echoed in the response.
    pub id: Value,
    /// Method name without the optional `v3/` prefix.
    pub method: String,
    /// Parameters as `(name, text)` sorted by name: strings decoded, numbers and booleans as
    /// written, arrays and objects as their JSON text; `null` values are left out.
    pub pairs: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct Wire {
    id: Option<Value>,
    method: Option<String>,
    params: Option<BTreeMap<String, Box<RawValue>>>,
}

/// Why a frame is not a request: the id to answer with (if one could be read) and the error.
#[derive(Debug)]
pub struct BadRequest {
    /// The id to echo (`null` if unreadable).
    pub id: Value,
    /// The error to send.
    pub error: ApiError,
}

impl Request {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<Request, BadRequest> {
        let wire: Wire = serde_json::from_str(text).map_err(|_| BadRequest {
            id: Value::Null,
            error: ApiError::bad_request(-1102, "Invalid JSON request."),
        })?;
        let id = wire.id.unwrap_or(Value::Null);
        let bad = |id: &Value, error: ApiError| BadRequest {
            id: id.clone(),
            error,
        };
        if !valid_id(&id) {
            return Err(bad(&id, ApiError::illegal_chars("id")));
        }
        let Some(method) = wire.method.filter(|m| !m.is_empty()) else {
            return Err(bad(&id, ApiError::mandatory("method")));
        };
        let method = method.strip_prefix("v3/").unwrap_or(&method).to_string();
        let mut pairs = Vec::new();
        for (name, raw) in wire.params.unwrap_or_default() {
            let text = raw.get();
            if text == "null" {
                continue;
            }
            let value = if text.starts_with('"') {
                serde_json::from_str::<String>(text)
                    .map_err(|_| bad(&id, ApiError::illegal_chars(&name)))?
            } else {
                text.to_string()
            };
            pairs.push((name, value));
        }
        Ok(Request { id, method, pairs })
    }

    /// The parameters for the shared REST handlers.
    pub fn params(&self) -> Result<Params, ApiError> {
        Params::from_pairs(self.pairs.clone())
    }

    /// The signature payload of the WebSocket API: every parameter except `signature`, sorted
    /// by name, as `name=value` joined with `&`.
    pub fn signature_payload(&self) -> String {
        payload(&self.pairs)
    }
}

/// `name=value&...` over `pairs` (already sorted) without `signature`.
pub fn payload(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs.iter().filter(|(k, _)| k != "signature") {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Binance accepts as `id` a 64-bit signed integer, an alphanumeric string of at most 36
/// characters (UUIDs with dashes included), or `null`.
fn valid_id(id: &Value) -> bool {
    match id {
        Value::Null => true,
        Value::String(s) => {
            s.len() <= 36
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        Value::Number(n) => n.is_i64(),
        _ => false,
    }
}

/// The `rateLimits` array for `usage`: orders per 10 s and per day for requests that count as
/// orders, then request weight per minute (Binance's order).
pub fn rate_limits(usage: Usage) -> Value {
    let mut v = Vec::with_capacity(3);
    if let Some(n) = usage.orders_10s {
        v.push(json!({
            "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
            "limit": ORDERS_PER_10S, "count": n,
        }));
    }
    if let Some(n) = usage.orders_1d {
        v.push(json!({
            "rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1,
            "limit": ORDERS_PER_DAY, "count": n,
        }));
    }
    v.push(json!({
        "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
        "limit": WEIGHT_PER_MINUTE, "count": usage.weight_1m,
    }));
    Value::Array(v)
}

/// A success response.
pub fn ok(id: &Value, result: &Value, limits: Option<Usage>) -> String {
    let mut out = format!("{{\"id\":{id},\"status\":200,\"result\":{result}");
    push_limits(&mut out, limits);
    out
}

/// An error response; `data` is Binance's optional `error.data` object.
pub fn error(id: &Value, e: &ApiError, data: Option<&Value>, limits: Option<Usage>) -> String {
    let mut err = json!({"code": e.code, "msg": e.msg});
    if let (Some(d), Value::Object(m)) = (data, &mut err) {
        m.insert("data".into(), d.clone());
    }
    let mut out = format!(
        "{{\"id\":{},\"status\":{},\"error\":{}",
        id,
        e.status.as_u16(),
        err
    );
    push_limits(&mut out, limits);
    out
}

fn push_limits(out: &mut String, limits: Option<Usage>) {
    if let Some(u) = limits {
        out.push_str(",\"rateLimits\":");
        out.push_str(&rate_limits(u).to_string());
    }
    out.push('}');
}

/// A user data event for subscription `id`: `{"subscriptionId":id,"event":<event>}`.
pub fn event(subscription_id: u32, event: &str) -> String {
    format!("{{\"subscriptionId\":{subscription_id},\"event\":{event}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_methods_and_params() {
        let r = Request::parse(
            r#"{"id":"a-1","method":"v3/order.place","params":{"symbol":"X","quantity":"0.01000000","recvWindow":100,"flag":true,"symbols":["A","B"],"gone":null}}"#,
        )
        .unwrap();
        assert_eq!(r.id, json!("a-1"));
        assert_eq!(r.method, "order.place");
        let names: Vec<&str> = r.pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["flag", "quantity", "recvWindow", "symbol", "symbols"]
        );
        assert_eq!(r.pairs[1].1, "0.01000000");
        assert_eq!(r.pairs[2].1, "100");
        assert_eq!(r.pairs[4].1, r#"["A","B"]"#);
        let r = Request::parse(r#"{"id":7,"method":"ping"}"#).unwrap();
        assert_eq!((r.id, r.pairs.len()), (json!(7), 0));
        let r = Request::parse(r#"{"id":null,"method":"time"}"#).unwrap();
        assert_eq!(r.id, Value::Null);
    }

    #[test]
    fn rejects_malformed_frames() {
        assert_eq!(Request::parse("not json").unwrap_err().error.code, -1102);
        let e = Request::parse(r#"{"id":1}"#).unwrap_err();
        assert_eq!((e.id, e.error.code), (json!(1), -1102));
        let long = format!(r#"{{"id":"{}","method":"ping"}}"#, "x".repeat(37));
        assert_eq!(Request::parse(&long).unwrap_err().error.code, -1100);
        assert!(Request::parse(r#"{"id":1.5,"method":"ping"}"#).is_err());
    }

    #[test]
    fn responses_have_binance_shape() {
        let id = json!("x");
        let usage = Usage {
            weight_1m: 3,
            orders_10s: Some(1),
            orders_1d: Some(4),
        };
        let v: Value = serde_json::from_str(&ok(&id, &json!({}), Some(usage))).unwrap();
        assert_eq!(v["id"], "x");
        assert_eq!(v["status"], 200);
        assert_eq!(v["rateLimits"][0]["rateLimitType"], "ORDERS");
        assert_eq!(v["rateLimits"][1]["interval"], "DAY");
        assert_eq!(v["rateLimits"][1]["count"], 4);
        assert_eq!(v["rateLimits"][2]["count"], 3);
        let e = ApiError::bad_signature();
        let v: Value = serde_json::from_str(&error(&id, &e, None, None)).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["error"]["code"], -1022);
        assert!(v.get("rateLimits").is_none());
        let v: Value = serde_json::from_str(&event(3, r#"{"e":"x"}"#)).unwrap();
        assert_eq!(
            (v["subscriptionId"].as_u64(), &v["event"]["e"]),
            (Some(3), &json!("x"))
        );
    }
}
