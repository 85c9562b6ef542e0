//! Per-connection state of the WebSocket API: the authenticated API key (`session.logon`),
//! the connection's rate-limit display default, and its User Data Stream subscriptions.

use serde_json::{json, Value};

/// How a User Data Stream subscription was started; `session.logout` ends only the first kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubKind {
    /// `userDataStream.subscribe` on an authenticated session.
    Session,
    /// `userDataStream.subscribe.signature` with a signed request.
    Signature,
}

/// One WebSocket API connection.
#[derive(Debug)]
pub struct Session {
    /// When the connection was opened (ms).
    pub connected_since: i64,
    /// The authenticated API key and since when (ms).
    pub auth: Option<(String, i64)>,
    /// Default of `returnRateLimits` for this connection (URL query; default true).
    pub return_rate_limits: bool,
    /// The active subscription, if any: the simulator has one account and Binance allows one
    /// subscription per account and connection.
    pub sub: Option<(u32, SubKind)>,
    /// Id of the next subscription (0, 1, 2, ... over the connection's lifetime).
    pub next_sub_id: u32,
}

impl Session {
    /// A new, unauthenticated session opened at `now`.
    pub fn new(now: i64, return_rate_limits: bool) -> Self {
        Session {
            connected_since: now,
            auth: None,
            return_rate_limits,
            sub: None,
            next_sub_id: 0,
        }
    }

    /// The `session.logon` / `session.status` / `session.logout` result at `server_time`.
    pub fn status_json(&self, server_time: i64) -> Value {
        json!({
            "apiKey": self.auth.as_ref().map(|(k, _)| k.clone()),
            "authorizedSince": self.auth.as_ref().map(|(_, t)| *t),
            "connectedSince": self.connected_since,
            "returnRateLimits": self.return_rate_limits,
            "serverTime": server_time,
            "userDataStream": self.sub.is_some(),
        })
    }
}
