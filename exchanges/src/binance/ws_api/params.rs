//! Re-signing an order request in the other wire form, off the hot path: a WebSocket API
//! order that must go over REST (the connection is down), or a resent request that needs a
//! fresh `timestamp`.

use peregrine_engine::secret::Secret;
use serde_json::Value;

use crate::binance::sign::ApiKeySigner;

/// Why a request could not be re-signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot re-sign the request: {0}")]
pub struct ResignError(pub String);

/// The request's parameters, sorted by name, without `apiKey`/`signature`, `timestamp` set
/// to `timestamp`. Accepts the JSON form (`{..}`) and the REST form (`k=v&..`).
fn fields(params: &str, timestamp: i64) -> Result<Vec<(String, String, bool)>, ResignError> {
    let mut out: Vec<(String, String, bool)> = Vec::with_capacity(12);
    if params.starts_with('{') {
        // serde_json's default map is sorted by key.
        let map: serde_json::Map<String, Value> =
            serde_json::from_str(params).map_err(|e| ResignError(e.to_string()))?;
        for (k, v) in map {
            if k == "apiKey" || k == "signature" {
                continue;
            }
            let (text, quoted) = match v {
                Value::String(s) => (s, true),
                Value::Number(n) => (n.to_string(), false),
                Value::Bool(b) => (b.to_string(), false),
                other => return Err(ResignError(format!("unsupported value for {k}: {other}"))),
            };
            out.push((k, text, quoted));
        }
    } else {
        let payload = params.rsplit_once("&signature=").map_or(params, |(p, _)| p);
        for kv in payload.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| ResignError(format!("bad pair {kv:?}")))?;
            let numeric = matches!(k, "recvWindow" | "timestamp");
            out.push((k.to_string(), v.to_string(), !numeric));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
    }
    match out.iter_mut().find(|f| f.0 == "timestamp") {
        Some(t) => t.1 = timestamp.to_string(),
        None => out.push(("timestamp".into(), timestamp.to_string(), false)),
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The REST form (`k=v&..&signature=..`) of `params`, signed with `key` at `timestamp`.
pub fn to_rest(params: &str, key: &ApiKeySigner, timestamp: i64) -> Result<String, ResignError> {
    let f = fields(params, timestamp)?;
    let mut p = String::with_capacity(params.len() + 96);
    for (i, (k, v, _)) in f.iter().enumerate() {
        if i > 0 {
            p.push('&');
        }
        p.push_str(k);
        p.push('=');
        p.push_str(v);
    }
    let len = p.len();
    p.push_str("&signature=");
    key.append_url_signature(&mut p, len);
    Ok(p)
}

/// The WebSocket API form of `params` at `timestamp`: with `apiKey` and a signature when
/// `api_key` is given (HMAC keys), without both on a `session.logon` session.
pub fn to_ws(
    params: &str,
    key: &ApiKeySigner,
    api_key: Option<&Secret>,
    timestamp: i64,
) -> Result<String, ResignError> {
    let f = fields(params, timestamp)?;
    let mut p = String::with_capacity(params.len() + 160);
    p.push('{');
    if let Some(k) = api_key {
        p.push_str("\"apiKey\":");
        p.push_str(&Value::String(k.expose().to_string()).to_string());
        p.push(',');
    }
    for (i, (k, v, quoted)) in f.iter().enumerate() {
        if i > 0 {
            p.push(',');
        }
        p.push_str(&Value::String(k.clone()).to_string());
        p.push(':');
        if *quoted {
            p.push_str(&Value::String(v.clone()).to_string());
        } else {
            p.push_str(v);
        }
    }
    if let Some(k) = api_key {
        let mut payload = format!("apiKey={}", k.expose());
        for (name, v, _) in &f {
            payload.push('&');
            payload.push_str(name);
            payload.push('=');
            payload.push_str(v);
        }
        p.push_str(",\"signature\":\"");
        key.sign_into(payload.as_bytes(), &mut p);
        p.push('"');
    }
    p.push('}');
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::sign;

    #[test]
    fn json_to_rest_and_back() {
        let key = ApiKeySigner::hmac(b"s");
        let json = r#"{"apiKey":"K","newClientOrderId":"pg1-2","price":"0.1","quantity":"1","recvWindow":5000,"side":"BUY","symbol":"LTCBTC","timeInForce":"GTC","timestamp":1,"type":"LIMIT","signature":"ab"}"#;
        let rest = to_rest(json, &key, 99).unwrap();
        let (payload, sig) = rest.rsplit_once("&signature=").unwrap();
        assert_eq!(
            payload,
            "newClientOrderId=pg1-2&price=0.1&quantity=1&recvWindow=5000&side=BUY&symbol=LTCBTC&timeInForce=GTC&timestamp=99&type=LIMIT"
        );
        assert!(sign::verify(b"s", payload.as_bytes(), sig));
        let ws = to_ws(&rest, &key, Some(&Secret::new("K")), 100).unwrap();
        let v: Value = serde_json::from_str(&ws).unwrap();
        assert_eq!(
            (v["timestamp"].as_i64(), v["recvWindow"].as_i64()),
            (Some(100), Some(5000))
        );
        let signed = "apiKey=K&newClientOrderId=pg1-2&price=0.1&quantity=1&recvWindow=5000&side=BUY&symbol=LTCBTC&timeInForce=GTC&timestamp=100&type=LIMIT";
        assert!(sign::verify(
            b"s",
            signed.as_bytes(),
            v["signature"].as_str().unwrap()
        ));
        let session = to_ws(json, &key, None, 5).unwrap();
        let v: Value = serde_json::from_str(&session).unwrap();
        assert!(v.get("apiKey").is_none() && v.get("signature").is_none());
        assert!(to_rest("{bad", &key, 1).is_err());
    }
}
