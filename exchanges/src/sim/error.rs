//! Errors: [`SimError`] for the simulator's lifecycle, [`ApiError`] for Binance-style API
//! rejections (`{"code":..,"msg":".."}` with an HTTP status).

use axum::http::StatusCode;

/// Errors starting or running the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is unusable (no symbols, non-positive tick, ...).
    #[error("invalid simulator config: {0}")]
    Config(String),
    /// Binding the listening socket failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address we tried to bind.
        addr: std::net::SocketAddr,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The HTTP/websocket server failed.
    #[error("simulator server error: {0}")]
    Serve(#[source] std::io::Error),
}

/// A Binance API error: error code, message and HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {msg}")]
pub struct ApiError {
    /// HTTP status of the response.
    pub status: StatusCode,
    /// Binance error code (negative).
    pub code: i32,
    /// Binance error message.
    pub msg: String,
}

impl ApiError {
    /// An error with HTTP 400.
    pub fn bad_request(code: i32, msg: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            msg: msg.into(),
        }
    }

    /// -2014, no or malformed API key (HTTP 401).
    pub fn api_key_format() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: -2014,
            msg: "API-key format invalid.".into(),
        }
    }

    /// -2015, unknown API key (HTTP 401).
    pub fn api_key_invalid() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: -2015,
            msg: "Invalid API-key, IP, or permissions for action.".into(),
        }
    }

    /// -1102, a mandatory parameter is missing or empty.
    pub fn mandatory(param: &str) -> Self {
        Self::bad_request(
            -1102,
            format!("Mandatory parameter '{param}' was not sent, was empty/null, or malformed."),
        )
    }

    /// -1100, a parameter has an illegal value.
    pub fn illegal_chars(param: &str) -> Self {
        Self::bad_request(
            -1100,
            format!("Illegal characters found in parameter '{param}'."),
        )
    }

    /// -1101, a parameter was sent twice.
    pub fn duplicate_param(param: &str) -> Self {
        Self::bad_request(-1101, format!("Duplicate values for parameter '{param}'."))
    }

    /// -1106, a parameter that this order type does not take.
    pub fn not_required(param: &str) -> Self {
        Self::bad_request(
            -1106,
            format!("Parameter '{param}' sent when not required."),
        )
    }

    /// -1022, the signature does not match.
    pub fn bad_signature() -> Self {
        Self::bad_request(-1022, "Signature for this request is not valid.")
    }

    /// -1021, timestamp outside the receive window.
    pub fn outside_recv_window() -> Self {
        Self::bad_request(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        )
    }

    /// -1021, timestamp more than 1000 ms ahead of the server.
    pub fn ahead_of_server() -> Self {
        Self::bad_request(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        )
    }

    /// -1131, recvWindow above 60000.
    pub fn recv_window_too_large() -> Self {
        Self::bad_request(-1131, "recvWindow must be less than 60000")
    }

    /// -1121, unknown symbol.
    pub fn invalid_symbol() -> Self {
        Self::bad_request(-1121, "Invalid symbol.")
    }

    /// -1013, a symbol filter rejected the order (`PRICE_FILTER`, `LOT_SIZE`, `NOTIONAL`).
    pub fn filter(name: &str) -> Self {
        Self::bad_request(-1013, format!("Filter failure: {name}"))
    }

    /// -2010, new order rejected with `msg`.
    pub fn order_rejected(msg: &str) -> Self {
        Self::bad_request(-2010, msg)
    }

    /// -2010, insufficient balance.
    pub fn insufficient_balance() -> Self {
        Self::order_rejected("Account has insufficient balance for requested action.")
    }

    /// -2011, cancel of an order that is not open.
    pub fn unknown_order() -> Self {
        Self::bad_request(-2011, "Unknown order sent.")
    }

    /// -2013, query of an order that does not exist.
    pub fn no_such_order() -> Self {
        Self::bad_request(-2013, "Order does not exist.")
    }

    /// -1125, unknown listen key.
    pub fn unknown_listen_key() -> Self {
        Self::bad_request(-1125, "This listenKey does not exist.")
    }

    /// The JSON body Binance sends with an error.
    pub fn body(&self) -> String {
        serde_json::json!({ "code": self.code, "msg": self.msg }).to_string()
    }
}

/// A failed request with Binance's optional `data` object beside `code` and `msg`
/// (cancel-replace details): `error.data` on the WebSocket API, `data` in a REST body.
#[derive(Debug)]
pub struct Failure {
    /// The error.
    pub error: ApiError,
    /// The `data` object (cancel-replace details).
    pub data: Option<serde_json::Value>,
}

impl Failure {
    /// The REST response body: `{"code":..,"msg":..[,"data":{..}]}`.
    pub fn body(&self) -> String {
        match &self.data {
            None => self.error.body(),
            Some(d) => {
                serde_json::json!({ "code": self.error.code, "msg": self.error.msg, "data": d })
                    .to_string()
            }
        }
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure { error, data: None }
    }
}
