//! Binance spot error codes as a typed enum (source: Binance's "Error codes for Binance" page,
//! developers.binance.com/docs/binance-spot-api-docs/errors), and what each means for us:
//! whether the request certainly had no effect, and whether retrying can help.

use std::time::Duration;

use super::rest::RestError;

/// A Binance error code, typed. Codes not listed here are [`BinanceError::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinanceError {
    /// -1000 UNKNOWN.
    Unknown,
    /// -1001 DISCONNECTED: internal error; try again.
    Disconnected,
    /// -1002 UNAUTHORIZED.
    Unauthorized,
    /// -1003 TOO_MANY_REQUESTS: request weight exceeded (HTTP 429) or IP banned (HTTP 418).
    TooManyRequests,
    /// -1006 UNEXPECTED_RESP: execution status unknown.
    UnexpectedResponse,
    /// -1007 TIMEOUT: send status unknown; execution status unknown.
    Timeout,
    /// -1008 SERVER_BUSY.
    ServerBusy,
    /// -1013 INVALID_MESSAGE: refused by the API (filter failures among others).
    InvalidMessage,
    /// -1015 TOO_MANY_ORDERS: the order-count limit.
    TooManyOrders,
    /// -1016 SERVICE_SHUTTING_DOWN.
    ServiceShuttingDown,
    /// -1021 INVALID_TIMESTAMP: outside recvWindow, or more than 1 s ahead of server time.
    InvalidTimestamp,
    /// -1022 INVALID_SIGNATURE.
    InvalidSignature,
    /// -1100..=-1131: a malformed or missing parameter (the exact code is kept).
    BadRequest(i64),
    /// -1121 BAD_SYMBOL.
    BadSymbol,
    /// -1125 INVALID_LISTEN_KEY.
    InvalidListenKey,
    /// -2010 NEW_ORDER_REJECTED (e.g. insufficient balance).
    NewOrderRejected,
    /// -2011 CANCEL_REJECTED (e.g. unknown order: already filled or cancelled).
    CancelRejected,
    /// -2013 NO_SUCH_ORDER.
    NoSuchOrder,
    /// -2014 BAD_API_KEY_FMT.
    BadApiKeyFormat,
    /// -2015 REJECTED_MBX_KEY: invalid key, IP or permissions.
    RejectedApiKey,
    /// -2021 Order cancel-replace partially failed.
    CancelReplacePartiallyFailed,
    /// -2022 Order cancel-replace failed.
    CancelReplaceFailed,
    /// Any other code.
    Other(i64),
}

impl BinanceError {
    /// Types a Binance error code.
    pub fn from_code(code: i64) -> Self {
        match code {
            -1000 => Self::Unknown,
            -1001 => Self::Disconnected,
            -1002 => Self::Unauthorized,
            -1003 => Self::TooManyRequests,
            -1006 => Self::UnexpectedResponse,
            -1007 => Self::Timeout,
            -1008 => Self::ServerBusy,
            -1013 => Self::InvalidMessage,
            -1015 => Self::TooManyOrders,
            -1016 => Self::ServiceShuttingDown,
            -1021 => Self::InvalidTimestamp,
            -1022 => Self::InvalidSignature,
            -1121 => Self::BadSymbol,
            -1125 => Self::InvalidListenKey,
            -1131..=-1100 => Self::BadRequest(code),
            -2010 => Self::NewOrderRejected,
            -2011 => Self::CancelRejected,
            -2013 => Self::NoSuchOrder,
            -2014 => Self::BadApiKeyFormat,
            -2015 => Self::RejectedApiKey,
            -2021 => Self::CancelReplacePartiallyFailed,
            -2022 => Self::CancelReplaceFailed,
            other => Self::Other(other),
        }
    }

    /// The numeric code.
    pub fn code(self) -> i64 {
        match self {
            Self::Unknown => -1000,
            Self::Disconnected => -1001,
            Self::Unauthorized => -1002,
            Self::TooManyRequests => -1003,
            Self::UnexpectedResponse => -1006,
            Self::Timeout => -1007,
            Self::ServerBusy => -1008,
            Self::InvalidMessage => -1013,
            Self::TooManyOrders => -1015,
            Self::ServiceShuttingDown => -1016,
            Self::InvalidTimestamp => -1021,
            Self::InvalidSignature => -1022,
            Self::BadSymbol => -1121,
            Self::InvalidListenKey => -1125,
            Self::BadRequest(c) | Self::Other(c) => c,
            Self::NewOrderRejected => -2010,
            Self::CancelRejected => -2011,
            Self::NoSuchOrder => -2013,
            Self::BadApiKeyFormat => -2014,
            Self::RejectedApiKey => -2015,
            Self::CancelReplacePartiallyFailed => -2021,
            Self::CancelReplaceFailed => -2022,
        }
    }

    /// True when Binance documents that the request's execution status is unknown: the
    /// order must be looked up (by client order id), never blindly resent.
    pub fn outcome_unknown(self) -> bool {
        matches!(
            self,
            Self::Unknown | Self::UnexpectedResponse | Self::Timeout | Self::Disconnected
        )
    }

    /// True when the clock offset should be measured again before the next signed request.
    pub fn needs_time_resync(self) -> bool {
        self == Self::InvalidTimestamp
    }

    /// True for the rate-limit codes (wait for `Retry-After` before sending more).
    pub fn is_rate_limit(self) -> bool {
        matches!(self, Self::TooManyRequests | Self::TooManyOrders)
    }
}

/// What a [`RestError`] means, typed: the Binance code (if any) and the `Retry-After` wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classified {
    /// The Binance error, when the venue answered with one.
    pub error: Option<BinanceError>,
    /// HTTP 429 or 418 (418 = the IP is banned).
    pub rate_limit_status: Option<u16>,
    /// How long to wait before the next request, when the venue said.
    pub retry_after: Option<Duration>,
}

/// Classifies a REST error.
pub fn classify(e: &RestError) -> Classified {
    match e {
        RestError::Api { code, .. } => Classified {
            error: Some(BinanceError::from_code(*code)),
            rate_limit_status: None,
            retry_after: None,
        },
        RestError::RateLimited {
            status,
            retry_after,
            code,
            ..
        } => Classified {
            error: (*code != 0).then(|| BinanceError::from_code(*code)),
            rate_limit_status: Some(*status),
            retry_after: *retry_after,
        },
        _ => Classified {
            error: None,
            rate_limit_status: None,
            retry_after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_classify() {
        for c in [
            -1000, -1001, -1002, -1003, -1006, -1007, -1008, -1013, -1015, -1016, -1021, -1022,
            -1100, -1121, -1125, -1131, -2010, -2011, -2013, -2014, -2015, -2021, -2022, -9999,
        ] {
            assert_eq!(BinanceError::from_code(c).code(), c);
        }
        assert_eq!(
            BinanceError::from_code(-1102),
            BinanceError::BadRequest(-1102)
        );
        assert!(BinanceError::from_code(-1007).outcome_unknown());
        assert!(!BinanceError::from_code(-2010).outcome_unknown());
        assert!(BinanceError::from_code(-1021).needs_time_resync());
        let e = RestError::RateLimited {
            status: 418,
            retry_after: Some(Duration::from_secs(120)),
            code: -1003,
            msg: "banned".into(),
        };
        let c = classify(&e);
        assert_eq!(c.error, Some(BinanceError::TooManyRequests));
        assert!(c.error.is_some_and(BinanceError::is_rate_limit));
        assert_eq!(
            (c.rate_limit_status, c.retry_after),
            (Some(418), Some(Duration::from_secs(120)))
        );
    }
}
