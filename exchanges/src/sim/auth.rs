//! Request parameters and Binance's request authentication: the account's API keys (HMAC
//! and, optionally, Ed25519), the API key header, signature checks (hex HMAC-SHA256 or base64
//! Ed25519 over `totalParams` on REST, over the sorted parameters on the WebSocket API), and the
//! timestamp / recvWindow check. Shared by the REST handlers and the WebSocket API.

use std::str::FromStr;

use axum::http::HeaderMap;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, VerifyingKey};
use rust_decimal::Decimal;

use super::config::SimConfig;
use super::error::{ApiError, SimError};
use crate::binance::sign;
use peregrine_engine::secret::Secret;

/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";
/// recvWindow when the request sends none.
pub const DEFAULT_RECV_WINDOW: i64 = 5_000;
/// Largest accepted recvWindow.
pub const MAX_RECV_WINDOW: i64 = 60_000;

/// Decoded request parameters from the query string and the form body, in order.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters from already decoded `(name, value)` pairs (the WebSocket API's JSON
    /// `params`). A name given twice is rejected (-1101).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        for (i, (k, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(existing, _)| existing == k) {
                return Err(ApiError::duplicate_param(k));
            }
        }
        Ok(Params { pairs })
    }

    /// Parses `application/x-www-form-urlencoded` pairs from the query string and the body.
    /// A parameter sent twice is rejected (-1101), as Binance does.
    pub fn parse(query: &str, body: &str) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in query.split('&').chain(body.split('&')) {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = percent_decode(k).ok_or_else(|| ApiError::illegal_chars(k))?;
            let v = percent_decode(v).ok_or_else(|| ApiError::illegal_chars(&k))?;
            if pairs.iter().any(|(existing, _)| *existing == k) {
                return Err(ApiError::duplicate_param(&k));
            }
            pairs.push((k, v));
        }
        Ok(Params { pairs })
    }

    /// The value of `name`, `None` if absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The value of a mandatory parameter (-1102 if absent).
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::mandatory(name))
    }

    /// Parses an optional parameter with `parse`, -1100 if it does not parse.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse(v)
                .map(Some)
                .ok_or_else(|| ApiError::illegal_chars(name)),
        }
    }
}

/// Decodes `%XX` escapes and `+` (space). `None` on a malformed escape or invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Splits the `signature` parameter out of `query` and `body` and returns
/// `(totalParams without the signature, signature)`. Everything else is kept byte for byte
/// (raw encoding, empty segments), since the client signed exactly what it sent.
pub fn split_signature(query: &str, body: &str) -> (String, Option<String>) {
    let mut signature = None;
    let mut strip = |part: &str| -> String {
        part.split('&')
            .filter(|kv| match kv.strip_prefix("signature=") {
                Some(sig) => {
                    signature = Some(sig.to_string());
                    false
                }
                None => true,
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    let q = strip(query);
    let b = strip(body);
    (q + b.as_str(), signature.filter(|s| !s.is_empty()))
}

/// How an API key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// HMAC-SHA256 with a shared secret, hex signature.
    Hmac,
    /// Ed25519 with a registered public key, base64 signature.
    Ed25519,
}

/// The account's API keys: the HMAC key of [`SimConfig::api_key`] and, if configured, an
/// Ed25519 key ([`SimConfig::ed25519_key`]). Both act for the same (only) account.
#[derive(Debug)]
pub struct ApiKeys {
    hmac_key: String,
    hmac_secret: Secret,
    ed25519: Option<(String, VerifyingKey)>,
    /// Keys revoked while running ([`ApiKeys::revoke`]).
    revoked: std::sync::Mutex<Vec<String>>,
}

impl ApiKeys {
    /// The keys of `cfg`; an unparsable Ed25519 public key is a config error.
    pub fn new(cfg: &SimConfig) -> Result<Self, SimError> {
        let ed25519 = match &cfg.ed25519_key {
            None => None,
            Some(k) => {
                let key = VerifyingKey::from_public_key_pem(k.public_key_pem.trim())
                    .map_err(|e| SimError::Config(format!("ed25519_key.public_key_pem: {e}")))?;
                Some((k.api_key.clone(), key))
            }
        };
        Ok(ApiKeys {
            hmac_key: cfg.api_key.clone(),
            hmac_secret: Secret::new(cfg.api_secret.clone()),
            ed25519,
            revoked: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Revokes `api_key` (as a user deleting it at the venue): from now on every request
    /// with it, a session logged on with it included, is refused (-2015).
    pub fn revoke(&self, api_key: &str) {
        self.revoked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(api_key.to_string());
    }

    fn is_revoked(&self, api_key: &str) -> bool {
        self.revoked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|k| k == api_key)
    }

    /// The kind of `api_key`, `None` if the account has no such key. A key configured as
    /// Ed25519 is Ed25519 even if its name equals the HMAC key's.
    pub fn kind(&self, api_key: &str) -> Option<KeyKind> {
        if self.is_revoked(api_key) {
            return None;
        }
        match &self.ed25519 {
            Some((name, _)) if name == api_key => Some(KeyKind::Ed25519),
            _ if api_key == self.hmac_key => Some(KeyKind::Hmac),
            _ => None,
        }
    }

    /// Whether `signature` signs `payload` under `api_key`: lower- or upper-case hex
    /// HMAC-SHA256 for an HMAC key, standard base64 Ed25519 for an Ed25519 key.
    pub fn verify(&self, api_key: &str, payload: &[u8], signature: &str) -> bool {
        match self.kind(api_key) {
            Some(KeyKind::Hmac) => {
                sign::verify(self.hmac_secret.expose().as_bytes(), payload, signature)
            }
            Some(KeyKind::Ed25519) => {
                let Some((_, key)) = &self.ed25519 else {
                    return false;
                };
                let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(signature) else {
                    return false;
                };
                let Ok(sig) = Signature::from_slice(&raw) else {
                    return false;
                };
                key.verify_strict(payload, &sig).is_ok()
            }
            None => false,
        }
    }

    /// Checks an API key value: -2014 if malformed, -2015 if the account has no such key.
    pub fn check(&self, api_key: &str) -> Result<KeyKind, ApiError> {
        if api_key.is_empty()
            || !api_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ApiError::api_key_format());
        }
        self.kind(api_key).ok_or_else(ApiError::api_key_invalid)
    }
}

/// Checks the `X-MBX-APIKEY` header: -2014 if missing or malformed, -2015 if unknown.
/// Returns the key.
pub fn check_api_key(headers: &HeaderMap, keys: &ApiKeys) -> Result<String, ApiError> {
    let Some(v) = headers.get(API_KEY_HEADER) else {
        return Err(ApiError::api_key_format());
    };
    let v = v.to_str().map_err(|_| ApiError::api_key_format())?;
    keys.check(v)?;
    Ok(v.to_string())
}

/// The timing rule of SIGNED requests: recvWindow (default 5000, at most 60000, up to three
/// decimals; -1131 above), timestamp present (-1102), and
/// `timestamp < serverTime + 1000 && serverTime - timestamp <= recvWindow` (-1021).
pub fn check_timing(params: &Params, server_time: i64) -> Result<(), ApiError> {
    let recv_window = params
        .parsed("recvWindow", |v| {
            Decimal::from_str(v)
                .ok()
                .filter(|w| !w.is_sign_negative() && w.scale() <= 3)
        })?
        .unwrap_or(Decimal::from(DEFAULT_RECV_WINDOW));
    if recv_window > Decimal::from(MAX_RECV_WINDOW) {
        return Err(ApiError::recv_window_too_large());
    }
    let timestamp = params
        .get("timestamp")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| ApiError::mandatory("timestamp"))?;
    if timestamp >= server_time.saturating_add(1000) {
        return Err(ApiError::ahead_of_server());
    }
    if Decimal::from(server_time.saturating_sub(timestamp)) > recv_window {
        return Err(ApiError::outside_recv_window());
    }
    Ok(())
}

/// Full check of a SIGNED REST request; returns its parameters.
///
/// Order of checks: API key, parameters, signature present (-1102), signature valid (-1022;
/// an Ed25519 signature arrives base64 and URL-encoded), then [`check_timing`].
pub fn check_signed(
    headers: &HeaderMap,
    query: &str,
    body: &str,
    keys: &ApiKeys,
    server_time: i64,
) -> Result<Params, ApiError> {
    let api_key = check_api_key(headers, keys)?;
    let params = Params::parse(query, body)?;
    let (payload, signature) = split_signature(query, body);
    let Some(signature) = signature else {
        return Err(ApiError::mandatory("signature"));
    };
    let signature = percent_decode(&signature).ok_or_else(ApiError::bad_signature)?;
    if !keys.verify(&api_key, payload.as_bytes(), &signature) {
        return Err(ApiError::bad_signature());
    }
    check_timing(&params, server_time)?;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_key_is_refused_and_the_other_keeps_working() {
        let cfg = SimConfig::default();
        let keys = ApiKeys::new(&cfg).unwrap();
        assert_eq!(keys.kind(&cfg.api_key), Some(KeyKind::Hmac));
        keys.revoke(&cfg.api_key);
        assert_eq!(keys.kind(&cfg.api_key), None);
        assert!(keys.check(&cfg.api_key).is_err());
        let sig = sign::signature_hex(cfg.api_secret.as_bytes(), b"a=1");
        assert!(!keys.verify(&cfg.api_key, b"a=1", &sig));
        keys.revoke("some-other-key");
        assert_eq!(keys.kind(&cfg.api_key), None);
    }

    #[test]
    fn signature_is_split_from_query_or_body() {
        let (p, s) = split_signature("symbol=X&timestamp=1&signature=ab", "");
        assert_eq!(
            (p.as_str(), s.as_deref()),
            ("symbol=X&timestamp=1", Some("ab"))
        );
        let (p, s) = split_signature("symbol=X", "side=BUY&signature=cd");
        assert_eq!((p.as_str(), s.as_deref()), ("symbol=Xside=BUY", Some("cd")));
        let (p, s) = split_signature("a=1", "");
        assert_eq!((p.as_str(), s), ("a=1", None));
        let (p, _) = split_signature("&timestamp=1&signature=ab", "");
        assert_eq!(p, "&timestamp=1");
    }

    #[test]
    fn params_decode_and_reject_duplicates() {
        let p = Params::parse("a=1%2B1&b=x+y", "c=").unwrap();
        assert_eq!(p.get("a"), Some("1+1"));
        assert_eq!(p.get("b"), Some("x y"));
        assert_eq!(p.get("c"), None);
        assert_eq!(Params::parse("a=1", "a=2").unwrap_err().code, -1101);
        assert_eq!(Params::parse("a=%zz", "").unwrap_err().code, -1100);
    }
}
