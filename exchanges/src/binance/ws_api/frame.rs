//! WebSocket API wire framing: request frames, responses (matched by `id`), user data events,
//! and the `rateLimits` arrays (fed into the shared [`VenueUsage`]).

use peregrine_engine::risk::{UsageKind, VenueUsage};
use serde::Deserialize;
use serde_json::value::RawValue;

/// `{"id":<id>,"method":"<method>","params":<params>}` (`params` omitted when empty).
pub fn request_frame(id: u64, method: &str, params: &str) -> String {
    let mut f = String::with_capacity(40 + method.len() + params.len());
    f.push_str("{\"id\":");
    f.push_str(itoa_u64(id).as_str());
    f.push_str(",\"method\":\"");
    f.push_str(method);
    f.push('"');
    if !params.is_empty() {
        f.push_str(",\"params\":");
        f.push_str(params);
    }
    f.push('}');
    f
}

fn itoa_u64(v: u64) -> String {
    v.to_string()
}

/// One `rateLimits` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// `REQUEST_WEIGHT` or `ORDERS` (or another type we ignore).
    pub rate_limit_type: String,
    /// `SECOND`, `MINUTE`, `HOUR`, `DAY`.
    pub interval: String,
    /// Interval multiplier.
    pub interval_num: u64,
    /// Limit per interval.
    pub limit: u64,
    /// Current usage in the interval.
    pub count: u64,
}

impl RateLimit {
    /// The budget counter this entry reports, if it is one the budget keeps.
    pub fn kind(&self) -> Option<UsageKind> {
        match (
            self.rate_limit_type.as_str(),
            self.interval.as_str(),
            self.interval_num,
        ) {
            ("REQUEST_WEIGHT", "MINUTE", 1) => Some(UsageKind::WeightPerMinute),
            ("ORDERS", "SECOND", 10) => Some(UsageKind::OrdersPer10s),
            _ => None,
        }
    }
}

/// Feeds every entry the budget keeps into `usage` as of wall time `at_ms`.
pub fn record_rate_limits(usage: &VenueUsage, limits: &[RateLimit], at_ms: u64) {
    for l in limits {
        if let Some(kind) = l.kind() {
            usage.report(kind, l.count, l.limit, at_ms);
        }
    }
}

/// Binance's error object in a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireError {
    /// Binance error code.
    pub code: i64,
    /// Message.
    pub msg: String,
    /// Extra data (`retryAfter` on 429/418).
    #[serde(default)]
    pub data: Option<ErrorData>,
}

/// `error.data`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorData {
    /// Epoch ms after which the request may be retried (429/418).
    #[serde(rename = "retryAfter", default)]
    pub retry_after: Option<u64>,
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<WireError>,
    #[serde(rename = "rateLimits", default)]
    rate_limits: Vec<RateLimit>,
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
}

/// A response to one of our requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP-like status (200, 400, 429, 5xx, ...).
    pub status: u16,
    /// The `result` JSON text (empty on failure).
    pub result: String,
    /// The `error`, on failure.
    pub error: Option<WireError>,
    /// The `rateLimits` array.
    pub rate_limits: Vec<RateLimit>,
}

/// What one text frame from the WebSocket API is.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// A response; `id` is `None` when the server sent `null` or an id that is not ours (a
    /// connection-level error such as a revoked session).
    Reply(Option<u64>, Reply),
    /// A User Data Stream event: the inner `event` object's JSON text.
    Event(&'a str),
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed WebSocket API frame: {0}")]
pub struct FrameError(pub String);

/// Reads one text frame.
pub fn parse_incoming(text: &str) -> Result<Inbound<'_>, FrameError> {
    let m: Incoming<'_> = serde_json::from_str(text).map_err(|e| FrameError(e.to_string()))?;
    if let Some(ev) = m.event {
        return Ok(Inbound::Event(ev.get()));
    }
    let Some(status) = m.status else {
        return Err(FrameError("neither a response nor an event".into()));
    };
    let id = m.id.and_then(|raw| raw.get().parse::<u64>().ok());
    Ok(Inbound::Reply(
        id,
        Reply {
            status,
            result: m.result.map(|r| r.get().to_string()).unwrap_or_default(),
            error: m.error,
            rate_limits: m.rate_limits,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_replies_events_and_rate_limits() {
        assert_eq!(
            request_frame(7, "order.place", r#"{"symbol":"BTCUSDT"}"#),
            r#"{"id":7,"method":"order.place","params":{"symbol":"BTCUSDT"}}"#
        );
        assert_eq!(
            request_frame(8, "userDataStream.subscribe", ""),
            r#"{"id":8,"method":"userDataStream.subscribe"}"#
        );
        // Documented shapes (web-socket-api.md, "Response format").
        let ok = r#"{"id":7,"status":200,"result":{"symbol":"BTCUSDT","orderId":12510053279,"clientOrderId":"x","status":"NEW"},
          "rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50,"count":12},
                        {"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":160000,"count":4043},
                        {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":321}]}"#;
        let Inbound::Reply(Some(7), r) = parse_incoming(ok).unwrap() else {
            panic!()
        };
        assert_eq!(r.status, 200);
        assert!(r.result.contains("12510053279"));
        let usage = VenueUsage::default();
        record_rate_limits(&usage, &r.rate_limits, 120_000);
        assert_eq!(usage.count(UsageKind::OrdersPer10s, 120_001), 12);
        assert_eq!(usage.count(UsageKind::WeightPerMinute, 120_001), 321);
        let err = r#"{"id":9,"status":429,"error":{"code":-1003,"msg":"Too much request weight used","data":{"serverTime":1,"retryAfter":1659146400000}}}"#;
        let Inbound::Reply(Some(9), r) = parse_incoming(err).unwrap() else {
            panic!()
        };
        let e = r.error.unwrap();
        assert_eq!(
            (e.code, e.data.and_then(|d| d.retry_after)),
            (-1003, Some(1659146400000))
        );
        let revoked = r#"{"id":null,"status":401,"error":{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}}"#;
        assert!(matches!(
            parse_incoming(revoked).unwrap(),
            Inbound::Reply(None, _)
        ));
        // Event format, with and without `subscriptionId` (current and 2025-04 docs).
        let ev =
            r#"{"subscriptionId":0,"event":{"e":"outboundAccountPosition","E":1,"u":1,"B":[]}}"#;
        assert_eq!(
            parse_incoming(ev).unwrap(),
            Inbound::Event(r#"{"e":"outboundAccountPosition","E":1,"u":1,"B":[]}"#)
        );
        assert!(matches!(
            parse_incoming(r#"{"event":{"e":"x"}}"#).unwrap(),
            Inbound::Event(_)
        ));
        assert!(parse_incoming("{}").is_err());
        assert!(parse_incoming("nope").is_err());
    }
}
