//! Request parameters and Binance's request authentication: API key header, HMAC-SHA256
//! signature over `totalParams`, and the timestamp / recvWindow check.

use axum::http::HeaderMap;

use super::error::ApiError;
use crate::binance::sign;

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

/// Checks the `X-MBX-APIKEY` header: -2014 if missing or malformed, -2015 if unknown.
pub fn check_api_key(headers: &HeaderMap, api_key: &str) -> Result<(), ApiError> {
    let Some(v) = headers.get(API_KEY_HEADER) else {
        return Err(ApiError::api_key_format());
    };
    let v = v.to_str().map_err(|_| ApiError::api_key_format())?;
    if v.is_empty()
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::api_key_format());
    }
    if v != api_key {
        return Err(ApiError::api_key_invalid());
    }
    Ok(())
}

/// Full check of a SIGNED request; returns its parameters.
///
/// Order of checks: API key, parameters, signature present (-1102), signature valid (-1022),
/// recvWindow (<= 60000, -1131), timestamp present (-1102), and the timing rule
/// `timestamp < serverTime + 1000 && serverTime - timestamp <= recvWindow` (-1021).
pub fn check_signed(
    headers: &HeaderMap,
    query: &str,
    body: &str,
    api_key: &str,
    secret: &str,
    server_time: i64,
) -> Result<Params, ApiError> {
    check_api_key(headers, api_key)?;
    let params = Params::parse(query, body)?;
    let (payload, signature) = split_signature(query, body);
    let Some(signature) = signature else {
        return Err(ApiError::mandatory("signature"));
    };
    if !sign::verify(secret.as_bytes(), payload.as_bytes(), &signature) {
        return Err(ApiError::bad_signature());
    }
    let recv_window = params
        .parsed("recvWindow", |v| v.parse::<i64>().ok().filter(|w| *w >= 0))?
        .unwrap_or(DEFAULT_RECV_WINDOW);
    if recv_window > MAX_RECV_WINDOW {
        return Err(ApiError::recv_window_too_large());
    }
    let timestamp = params
        .get("timestamp")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| ApiError::mandatory("timestamp"))?;
    if timestamp >= server_time + 1000 {
        return Err(ApiError::ahead_of_server());
    }
    if server_time - timestamp > recv_window {
        return Err(ApiError::outside_recv_window());
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

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
