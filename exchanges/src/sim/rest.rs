//! The HTTP side: the axum router (REST endpoints and websocket upgrades on one port) and the
//! REST handlers with Binance's authentication, validation, responses and headers.

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use peregrine_engine::types::Side;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::auth::{check_api_key, check_signed, Params};
use super::error::{ApiError, Failure};
use super::exchange::{tif_str, AccountOrder, NewOrder, OrderType, Placed};
use super::limits::{Usage, ORDERS_PER_10S, ORDERS_PER_DAY};
use super::matching::TimeInForce;
use super::state::Shared;
use super::wire::{dec, now_ms, parse_side, side_str};
use super::{cancel_replace, market_data, user_stream, ws, ws_api};

type AppState = State<Arc<Shared>>;

/// The complete router: REST API and websocket endpoints.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v3/ping", get(ping))
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/depth", get(depth))
        .route("/api/v3/trades", get(market_data::trades))
        .route("/api/v3/historicalTrades", get(market_data::trades))
        .route("/api/v3/aggTrades", get(market_data::agg_trades))
        .route("/api/v3/klines", get(market_data::klines))
        .route("/api/v3/uiKlines", get(market_data::klines))
        .route("/api/v3/avgPrice", get(market_data::avg_price))
        .route("/api/v3/ticker/24hr", get(market_data::ticker_24hr))
        .route("/api/v3/ticker", get(market_data::ticker_rolling))
        .route("/api/v3/ticker/price", get(market_data::ticker_price))
        .route("/api/v3/ticker/bookTicker", get(market_data::book_ticker))
        .route("/api/v3/order", get(order).post(order).delete(order))
        .route("/api/v3/order/test", post(order_test))
        .route("/api/v3/order/cancelReplace", post(order_cancel_replace))
        .route("/api/v3/rateLimit/order", get(rate_limit_order))
        .route("/api/v3/openOrders", get(open_orders).delete(open_orders))
        .route("/api/v3/account", get(account))
        .route("/api/v3/myTrades", get(my_trades))
        .route("/api/v3/allOrders", get(all_orders))
        .route(
            "/api/v3/userDataStream",
            get(user_data_stream)
                .post(user_data_stream)
                .put(user_data_stream)
                .delete(user_data_stream),
        )
        .route("/sim/latency", get(sim_latency))
        .route("/ws", get(ws_bare))
        .route("/ws/{name}", get(ws_named))
        .route("/stream", get(ws_combined))
        .route("/ws-api/v3", get(ws_api::upgrade))
        .fallback(unknown_path)
        .method_not_allowed_fallback(unknown_method)
        .layer(axum::middleware::from_fn(log_request))
        .with_state(shared)
}

/// Logs every request's method and path (query excluded: it carries signatures) at debug
/// level, target `peregrine_exchanges::sim::requests`, to see what a client calls.
async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    tracing::debug!(
        target: "peregrine_exchanges::sim::requests",
        method = %req.method(),
        path = req.uri().path(),
        "request"
    );
    next.run(req).await
}

/// `GET /sim/latency` (the simulator's own, not Binance's): wire-to-wire tick-to-trade so far
/// as JSON (`WireLatencyReport`, nanoseconds). No weight, no key.
async fn sim_latency(State(shared): AppState) -> Response {
    match serde_json::to_string(&shared.wire.report()) {
        Ok(body) => reply(StatusCode::OK, body, Usage::default()),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"code": -1000, "msg": e.to_string()}).to_string(),
            Usage::default(),
        ),
    }
}

/// Any path the simulator does not serve: HTTP 404 with Binance's error body.
async fn unknown_path() -> Response {
    let e = ApiError {
        status: StatusCode::NOT_FOUND,
        code: -1020,
        msg: "This operation is not supported.".into(),
    };
    reply(e.status, e.body(), Usage::default())
}

/// A known path with a method it does not take: HTTP 405 with Binance's error body.
async fn unknown_method() -> Response {
    let e = ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: -1020,
        msg: "This operation is not supported.".into(),
    };
    reply(e.status, e.body(), Usage::default())
}

/// A JSON response with Binance's usage headers.
fn reply(status: StatusCode, body: String, usage: Usage) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    h.insert("x-mbx-used-weight-1m", HeaderValue::from(usage.weight_1m));
    if let Some(n) = usage.orders_10s {
        h.insert("x-mbx-order-count-10s", HeaderValue::from(n));
    }
    if let Some(n) = usage.orders_1d {
        h.insert("x-mbx-order-count-1d", HeaderValue::from(n));
    }
    resp
}

/// Counts the request, runs `f`, and renders the result or the Binance error.
pub(super) fn respond(
    shared: &Shared,
    weight: u64,
    is_order: bool,
    f: impl FnOnce() -> Result<Value, ApiError>,
) -> Response {
    respond_with_data(shared, weight, is_order, || f().map_err(Failure::from))
}

/// [`respond`] for requests whose errors carry Binance's `data` object (cancel-replace).
fn respond_with_data(
    shared: &Shared,
    weight: u64,
    is_order: bool,
    f: impl FnOnce() -> Result<Value, Failure>,
) -> Response {
    let usage = match shared.limits.admit(weight, is_order, now_ms()) {
        Ok(u) => u,
        Err(limited) => {
            let mut resp = reply(limited.error.status, limited.error.body(), Usage::default());
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(limited.retry_after_s),
            );
            return resp;
        }
    };
    match f() {
        Ok(v) => reply(StatusCode::OK, v.to_string(), usage),
        Err(e) => reply(e.error.status, e.body(), usage),
    }
}

fn body_str(body: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request(-1100, "Illegal characters found in request body."))
}

/// Authenticates a SIGNED request and returns its parameters.
fn signed(
    shared: &Shared,
    headers: &HeaderMap,
    query: &Option<String>,
    body: &Bytes,
) -> Result<Params, ApiError> {
    let body = body_str(body)?;
    check_signed(
        headers,
        query.as_deref().unwrap_or(""),
        body,
        &shared.keys,
        shared.limits.server_ms(now_ms()),
    )
}

async fn ping(State(shared): AppState) -> Response {
    respond(&shared, 1, false, || Ok(json!({})))
}

async fn time(State(shared): AppState) -> Response {
    respond(&shared, 1, false, || {
        Ok(json!({ "serverTime": shared.limits.server_ms(now_ms()) }))
    })
}

/// Largest accepted order price (PRICE_FILTER maxPrice); keeps price * qty far from overflow.
const MAX_PRICE: i64 = 1_000_000_000;

/// Symbols selected by `symbol=X` or `symbols=["X","Y"]` (all if neither is sent).
pub(super) fn selected_symbols(params: &Params) -> Result<Option<Vec<String>>, ApiError> {
    if let Some(s) = params.get("symbol") {
        return Ok(Some(vec![s.to_string()]));
    }
    match params.get("symbols") {
        None => Ok(None),
        Some(list) => serde_json::from_str::<Vec<String>>(list)
            .map(Some)
            .map_err(|_| ApiError::illegal_chars("symbols")),
    }
}

async fn exchange_info(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    respond(&shared, 20, false, || {
        let params = Params::parse(query.as_deref().unwrap_or(""), "")?;
        exchange_info_json(&shared, &params)
    })
}

/// The `exchangeInfo` result for `symbol` / `symbols` (REST and WebSocket API).
pub(super) fn exchange_info_json(shared: &Shared, params: &Params) -> Result<Value, ApiError> {
    let wanted = selected_symbols(params)?;
    let ex = shared.exchange();
    if let Some(w) = &wanted {
        if w.iter().any(|s| ex.symbol(s).is_none()) {
            return Err(ApiError::invalid_symbol());
        }
    }
    let symbols: Vec<Value> = ex
        .symbols()
        .filter(|s| wanted.iter().all(|w| w.contains(&s.symbol)))
        .map(|s| {
            json!({
                "symbol": s.symbol, "status": "TRADING", "baseAsset": s.base, "quoteAsset": s.quote,
                "baseAssetPrecision": 8, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": false, "ocoAllowed": false, "quoteOrderQtyMarketAllowed": true,
                "allowTrailingStop": false, "cancelReplaceAllowed": true,
                "isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": dec(s.tick_size), "maxPrice": dec(Decimal::from(MAX_PRICE)), "tickSize": dec(s.tick_size)},
                    {"filterType": "LOT_SIZE", "minQty": dec(s.min_qty), "maxQty": dec(s.max_qty), "stepSize": dec(s.lot_size)},
                    {"filterType": "NOTIONAL", "minNotional": dec(s.min_notional), "applyMinToMarket": true,
                     "maxNotional": dec(Decimal::from(9_000_000)), "applyMaxToMarket": false, "avgPriceMins": 0},
                ],
                "permissions": [], "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
            })
        })
        .collect();
    Ok(json!({
        "timezone": "UTC", "serverTime": now_ms(),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": ORDERS_PER_10S},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": ORDERS_PER_DAY},
        ],
        "exchangeFilters": [], "symbols": symbols,
    }))
}

async fn depth(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""), "");
    let weight = depth_weight(params.as_ref().ok());
    respond(&shared, weight, false, || depth_json(&shared, &params?))
}

/// Request weight of a depth request by its `limit` (default 100).
pub(super) fn depth_weight(params: Option<&Params>) -> u64 {
    let limit = params
        .and_then(|p| p.get("limit").and_then(|l| l.parse::<usize>().ok()))
        .unwrap_or(100);
    match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

/// The order book result of `symbol`, `limit` levels (REST `depth` and WebSocket API).
pub(super) fn depth_json(shared: &Shared, params: &Params) -> Result<Value, ApiError> {
    let symbol = params.require("symbol")?;
    // Binance truncates limits above 5000 to 5000.
    let limit = params
        .parsed("limit", |l| l.parse::<usize>().ok().filter(|n| *n >= 1))?
        .unwrap_or(100)
        .min(5000);
    let ex = shared.exchange();
    let (last, bids, asks) = ex
        .depth(symbol, limit)
        .ok_or_else(ApiError::invalid_symbol)?;
    let lv = |v: Vec<(Decimal, Decimal)>| {
        v.into_iter()
            .map(|(p, q)| json!([dec(p), dec(q)]))
            .collect::<Vec<_>>()
    };
    Ok(json!({"lastUpdateId": last, "bids": lv(bids), "asks": lv(asks)}))
}

/// `POST|GET|DELETE /api/v3/order`.
async fn order(
    State(shared): AppState,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    // The whole request has been read: the order-read stamp of tick-to-trade.
    let read_at = std::time::Instant::now();
    let is_new = method == Method::POST;
    let weight = if method == Method::GET { 4 } else { 1 };
    respond(&shared, weight, is_new, || {
        let params = signed(&shared, &headers, &query, &body)?;
        match method {
            Method::POST => {
                record_order_read(&shared, &params, read_at);
                new_order(&shared, &params)
            }
            Method::DELETE => cancel_order(&shared, &params),
            _ => query_order(&shared, &params),
        }
    })
}

/// `POST /api/v3/order/cancelReplace` (signed, weight 1, counts as an order): the WebSocket
/// API's `order.cancelReplace` over REST, with the same responses (409 / 400 with `data`).
async fn order_cancel_replace(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let read_at = std::time::Instant::now();
    respond_with_data(&shared, 1, true, || {
        let params = signed(&shared, &headers, &query, &body)?;
        record_order_read(&shared, &params, read_at);
        cancel_replace::run(&shared, &params)
    })
}

fn parse_decimal(param: &str, params: &Params) -> Result<Option<Decimal>, ApiError> {
    params.parsed(param, |v| {
        if v.starts_with('-') || v.starts_with('+') {
            return None;
        }
        Decimal::from_str(v).ok()
    })
}

fn is_multiple(value: Decimal, step: Decimal) -> bool {
    step.is_zero() || (value % step).is_zero()
}

/// A validated new-order request and the response type it asked for.
struct ParsedOrder {
    order: NewOrder,
    resp_type: &'static str,
}

/// Parses and validates a new order as `POST /api/v3/order` and `/order/test` do: parameter
/// rules, then the symbol's filters against the book as it stands.
fn parse_new_order(shared: &Shared, params: &Params) -> Result<ParsedOrder, ApiError> {
    let symbol = params.require("symbol")?.to_string();
    let side = parse_side(params.require("side")?)
        .ok_or_else(|| ApiError::bad_request(-1117, "Invalid side."))?;
    let order_type = match params.require("type")? {
        "MARKET" => OrderType::Market,
        "LIMIT" => OrderType::Limit,
        "LIMIT_MAKER" => OrderType::LimitMaker,
        _ => return Err(ApiError::bad_request(-1116, "Invalid orderType.")),
    };
    let tif = params.parsed("timeInForce", |v| match v {
        "GTC" => Some(TimeInForce::Gtc),
        "IOC" => Some(TimeInForce::Ioc),
        "FOK" => Some(TimeInForce::Fok),
        _ => None,
    });
    let tif = match (order_type, tif) {
        (_, Err(_)) => return Err(ApiError::bad_request(-1115, "Invalid timeInForce.")),
        (OrderType::Limit, Ok(None)) => return Err(ApiError::mandatory("timeInForce")),
        (OrderType::Limit, Ok(Some(t))) => t,
        (_, Ok(Some(_))) => return Err(ApiError::not_required("timeInForce")),
        (_, Ok(None)) => TimeInForce::Gtc,
    };
    let qty = parse_decimal("quantity", params)?;
    let quote_qty = parse_decimal("quoteOrderQty", params)?;
    let (qty, quote_qty) = match (order_type, qty, quote_qty) {
        (OrderType::Market, Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                -1128,
                "Combination of optional parameters invalid.",
            ))
        }
        (OrderType::Market, None, None) => {
            return Err(ApiError::bad_request(
                -1102,
                "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
            ))
        }
        (OrderType::Market, None, Some(q)) => (Decimal::ZERO, Some(q)),
        (_, _, Some(_)) => return Err(ApiError::not_required("quoteOrderQty")),
        (_, None, None) => return Err(ApiError::mandatory("quantity")),
        (_, Some(q), None) => (q, None),
    };
    let price = parse_decimal("price", params)?;
    let price = match (order_type, price) {
        (OrderType::Market, Some(_)) => return Err(ApiError::not_required("price")),
        (OrderType::Market, None) => None,
        (_, None) => return Err(ApiError::mandatory("price")),
        (_, Some(p)) => Some(p),
    };
    let client_order_id = match params.get("newClientOrderId") {
        Some(c)
            if c.len() > 36
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') =>
        {
            return Err(ApiError::illegal_chars("newClientOrderId"))
        }
        c => c.map(str::to_string),
    };
    let resp_type = match params.get("newOrderRespType") {
        None if matches!(order_type, OrderType::Market | OrderType::Limit) => "FULL",
        None => "ACK",
        Some("ACK") => "ACK",
        Some("RESULT") => "RESULT",
        Some("FULL") => "FULL",
        Some(_) => return Err(ApiError::illegal_chars("newOrderRespType")),
    };
    if let Some(stp) = params.get("selfTradePreventionMode") {
        if stp != "EXPIRE_MAKER" {
            return Err(ApiError::bad_request(
                -1013,
                "This symbol does not allow the specified self-trade prevention mode.",
            ));
        }
    }

    let ex = shared.exchange();
    let spec = ex
        .symbol(&symbol)
        .ok_or_else(ApiError::invalid_symbol)?
        .clone();
    if let Some(p) = price {
        if p < spec.tick_size || p > Decimal::from(MAX_PRICE) || !is_multiple(p, spec.tick_size) {
            return Err(ApiError::filter("PRICE_FILTER"));
        }
    }
    if let Some(q) = quote_qty {
        // The quantity comes from the book at entry; the notional is the quote amount.
        if q < spec.min_notional {
            return Err(ApiError::filter("NOTIONAL"));
        }
    } else {
        if qty < spec.min_qty || qty > spec.max_qty || !is_multiple(qty, spec.lot_size) {
            return Err(ApiError::filter("LOT_SIZE"));
        }
        let ref_price = match price {
            Some(p) => Some(p),
            None => {
                let book = ex.depth(&symbol, 1);
                book.and_then(|(_, b, a)| match side {
                    Side::Buy => a.first().map(|l| l.0),
                    Side::Sell => b.first().map(|l| l.0),
                })
            }
        };
        if let Some(p) = ref_price {
            if p * qty < spec.min_notional {
                return Err(ApiError::filter("NOTIONAL"));
            }
        }
    }
    Ok(ParsedOrder {
        order: NewOrder {
            symbol,
            side,
            order_type,
            tif,
            qty,
            quote_qty,
            price,
            client_order_id,
        },
        resp_type,
    })
}

pub(super) fn new_order(shared: &Shared, params: &Params) -> Result<Value, ApiError> {
    let parsed = parse_new_order(shared, params)?;
    let placed = shared.exchange().place_order(parsed.order, now_ms())?;
    Ok(new_order_json(&placed, parsed.resp_type))
}

/// Records an authenticated new order's read time for tick-to-trade (`wire_latency`).
pub(super) fn record_order_read(shared: &Shared, params: &Params, read_at: std::time::Instant) {
    if let Some(symbol) = params.get("symbol") {
        shared.wire.order_read(symbol, read_at);
    }
}

/// `POST /api/v3/order/test`: validates like a new order (signature, parameters, filters,
/// a `quoteOrderQty` against the book) without placing it. With
/// `computeCommissionRates=true` it answers the commission rates the order would pay.
async fn order_test(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let compute = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .chain(std::str::from_utf8(&body).unwrap_or("").split('&'))
        .any(|kv| kv.eq_ignore_ascii_case("computeCommissionRates=true"));
    let weight = if compute { 20 } else { 1 };
    respond(&shared, weight, false, || {
        let params = signed(&shared, &headers, &query, &body)?;
        // Booleans are read case-insensitively (binance-connector sends Python's `True`).
        let compute = match params.get("computeCommissionRates") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(_) => return Err(ApiError::illegal_chars("computeCommissionRates")),
        };
        let mut parsed = parse_new_order(&shared, &params)?;
        let ex = shared.exchange();
        ex.resolve_quote_qty(&mut parsed.order)?;
        if !compute {
            return Ok(json!({}));
        }
        let z = dec(Decimal::ZERO);
        Ok(json!({
            "standardCommissionForOrder": {"maker": dec(ex.maker_fee), "taker": dec(ex.taker_fee)},
            "taxCommissionForOrder": {"maker": z, "taker": z},
            "discount": {"enabledForAccount": false, "enabledForSymbol": false,
                         "discountAsset": "BNB", "discount": z},
        }))
    })
}

/// `GET /api/v3/rateLimit/order` (signed): the account's order counts in the simulator's two
/// order limits (per 10 s and per UTC day).
async fn rate_limit_order(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    respond(&shared, 40, false, || {
        signed(&shared, &headers, &query, &body)?;
        let (ten_s, day) = shared.limits.orders_in_windows(now_ms());
        Ok(json!([
            {
                "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                "limit": ORDERS_PER_10S, "count": ten_s,
            },
            {
                "rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1,
                "limit": ORDERS_PER_DAY, "count": day,
            },
        ]))
    })
}

pub(super) fn new_order_json(p: &Placed, resp_type: &str) -> Value {
    let o = &p.order;
    let mut v = json!({
        "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1,
        "clientOrderId": o.client_order_id, "transactTime": p.transact_time,
    });
    if resp_type == "ACK" {
        return v;
    }
    if let Value::Object(m) = &mut v {
        m.insert("price".into(), json!(dec(o.price)));
        m.insert("origQty".into(), json!(dec(o.orig_qty)));
        m.insert("executedQty".into(), json!(dec(o.executed_qty)));
        m.insert("origQuoteOrderQty".into(), json!(dec(o.orig_quote_qty)));
        m.insert("cummulativeQuoteQty".into(), json!(dec(o.cum_quote)));
        m.insert("status".into(), json!(o.status.as_str()));
        m.insert("timeInForce".into(), json!(tif_str(o.tif)));
        m.insert("type".into(), json!(o.order_type.as_str()));
        m.insert("side".into(), json!(side_str(o.side)));
        m.insert("workingTime".into(), json!(o.time));
        if resp_type == "FULL" {
            let fills: Vec<Value> = p
                .fills
                .iter()
                .map(|f| {
                    json!({"price": dec(f.price), "qty": dec(f.qty), "commission": dec(f.commission),
                           "commissionAsset": f.commission_asset, "tradeId": f.trade_id})
                })
                .collect();
            m.insert("fills".into(), Value::Array(fills));
        }
        m.insert("selfTradePreventionMode".into(), json!("EXPIRE_MAKER"));
    }
    v
}

pub(super) fn order_ref(params: &Params) -> Result<(Option<u64>, Option<&str>), ApiError> {
    let order_id = params.parsed("orderId", |v| v.parse::<u64>().ok())?;
    let orig = params.get("origClientOrderId");
    if order_id.is_none() && orig.is_none() {
        return Err(ApiError::bad_request(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        ));
    }
    Ok((order_id, orig))
}

pub(super) fn cancel_json(o: &AccountOrder, cancel_id: &str, now: i64) -> Value {
    json!({
        "symbol": o.symbol, "origClientOrderId": o.client_order_id, "orderId": o.order_id,
        "orderListId": -1, "clientOrderId": cancel_id, "transactTime": now,
        "price": dec(o.price), "origQty": dec(o.orig_qty), "executedQty": dec(o.executed_qty),
        "origQuoteOrderQty": dec(o.orig_quote_qty), "cummulativeQuoteQty": dec(o.cum_quote),
        "status": o.status.as_str(), "timeInForce": tif_str(o.tif), "type": o.order_type.as_str(),
        "side": side_str(o.side), "selfTradePreventionMode": "EXPIRE_MAKER",
    })
}

pub(super) fn cancel_order(shared: &Shared, params: &Params) -> Result<Value, ApiError> {
    let symbol = params.require("symbol")?;
    let (order_id, orig) = order_ref(params)?;
    let cancel_id = params.get("newClientOrderId").map(str::to_string);
    let now = now_ms();
    let (o, cid) = shared
        .exchange()
        .cancel_order(symbol, order_id, orig, cancel_id, now)?;
    Ok(cancel_json(&o, &cid, now))
}

pub(super) fn order_json(o: &AccountOrder) -> Value {
    json!({
        "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_order_id,
        "price": dec(o.price), "origQty": dec(o.orig_qty), "executedQty": dec(o.executed_qty),
        "cummulativeQuoteQty": dec(o.cum_quote), "status": o.status.as_str(),
        "timeInForce": tif_str(o.tif), "type": o.order_type.as_str(), "side": side_str(o.side),
        "stopPrice": dec(Decimal::ZERO), "icebergQty": dec(Decimal::ZERO), "time": o.time,
        "updateTime": o.update_time, "isWorking": o.order_type != OrderType::Market,
        "workingTime": o.time, "origQuoteOrderQty": dec(o.orig_quote_qty),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    })
}

pub(super) fn query_order(shared: &Shared, params: &Params) -> Result<Value, ApiError> {
    let symbol = params.require("symbol")?;
    let (order_id, orig) = order_ref(params)?;
    let ex = shared.exchange();
    if ex.symbol(symbol).is_none() {
        return Err(ApiError::invalid_symbol());
    }
    let o = ex
        .find_order(symbol, order_id, orig)
        .ok_or_else(ApiError::no_such_order)?;
    Ok(order_json(o))
}

/// `GET /api/v3/openOrders` (symbol optional) and `DELETE /api/v3/openOrders` (cancel all
/// open orders of a symbol).
async fn open_orders(
    State(shared): AppState,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let weight = if method == Method::GET { 6 } else { 1 };
    respond(&shared, weight, false, || {
        let params = signed(&shared, &headers, &query, &body)?;
        open_orders_json(&shared, &params, method == Method::DELETE)
    })
}

/// Our open orders (`symbol` optional), or with `cancel` every open order of `symbol`
/// cancelled (REST `openOrders` and WebSocket API `openOrders.status` / `.cancelAll`).
pub(super) fn open_orders_json(
    shared: &Shared,
    params: &Params,
    cancel: bool,
) -> Result<Value, ApiError> {
    let symbol = params.get("symbol");
    let mut ex = shared.exchange();
    if let Some(s) = symbol {
        if ex.symbol(s).is_none() {
            return Err(ApiError::invalid_symbol());
        }
    }
    if cancel {
        let symbol = symbol.ok_or_else(|| ApiError::mandatory("symbol"))?;
        let now = now_ms();
        let mut out = Vec::new();
        for o in ex.open_orders(Some(symbol)) {
            let (c, cid) = ex.cancel_order(symbol, Some(o.order_id), None, None, now)?;
            out.push(cancel_json(&c, &cid, now));
        }
        return Ok(Value::Array(out));
    }
    Ok(Value::Array(
        ex.open_orders(symbol).iter().map(order_json).collect(),
    ))
}

async fn account(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    respond(&shared, 20, false, || {
        signed(&shared, &headers, &query, &body)?;
        let ex = shared.exchange();
        let (maker, taker) = (ex.maker_fee, ex.taker_fee);
        let balances: Vec<Value> = ex
            .balances()
            .iter()
            .map(|(a, b)| json!({"asset": a, "free": dec(b.free), "locked": dec(b.locked)}))
            .collect();
        let bps = |r: Decimal| (r * Decimal::from(10_000)).trunc();
        Ok(json!({
            "makerCommission": bps(maker), "takerCommission": bps(taker),
            "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": dec(maker), "taker": dec(taker), "buyer": dec(Decimal::ZERO), "seller": dec(Decimal::ZERO)},
            "canTrade": true, "canWithdraw": true, "canDeposit": true, "brokered": false,
            "requireSelfTradePrevention": false, "preventSor": false, "updateTime": now_ms(),
            "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 1,
        }))
    })
}

/// The common parameters of `myTrades` and `allOrders`.
struct HistoryQuery<'a> {
    symbol: &'a str,
    order_id: Option<u64>,
    start: Option<i64>,
    end: Option<i64>,
    limit: usize,
}

impl<'a> HistoryQuery<'a> {
    fn parse(params: &'a Params) -> Result<Self, ApiError> {
        Ok(Self {
            symbol: params.require("symbol")?,
            order_id: params.parsed("orderId", |v| v.parse::<u64>().ok())?,
            start: params.parsed("startTime", |v| v.parse::<i64>().ok())?,
            end: params.parsed("endTime", |v| v.parse::<i64>().ok())?,
            limit: params
                .parsed("limit", |v| v.parse::<usize>().ok().filter(|n| *n >= 1))?
                .unwrap_or(500)
                .min(1000),
        })
    }
}

/// `GET /api/v3/myTrades` (signed): our trades on one symbol, Binance's format, oldest first.
/// Supports `orderId`, `startTime`, `endTime`, `fromId` and `limit` (default 500, max 1000).
async fn my_trades(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    respond(&shared, 20, false, || {
        let params = signed(&shared, &headers, &query, &body)?;
        let q = HistoryQuery::parse(&params)?;
        let (symbol, order_id, start, end, limit) = (q.symbol, q.order_id, q.start, q.end, q.limit);
        let from_id = params.parsed("fromId", |v| v.parse::<u64>().ok())?;
        let ex = shared.exchange();
        if ex.symbol(symbol).is_none() {
            return Err(ApiError::invalid_symbol());
        }
        let trades: Vec<Value> = ex
            .ledger()
            .into_iter()
            .filter(|f| f.symbol == symbol)
            .filter(|f| order_id.is_none_or(|o| f.order_id == o))
            .filter(|f| from_id.is_none_or(|id| f.trade_id >= id))
            .filter(|f| start.is_none_or(|t| f.time_ms >= t))
            .filter(|f| end.is_none_or(|t| f.time_ms <= t))
            .take(limit)
            .map(|f| {
                json!({
                    "symbol": f.symbol, "id": f.trade_id, "orderId": f.order_id, "orderListId": -1,
                    "price": dec(f.price), "qty": dec(f.qty), "quoteQty": dec(f.price * f.qty),
                    "commission": dec(f.commission), "commissionAsset": f.commission_asset,
                    "time": f.time_ms, "isBuyer": f.side == Side::Buy, "isMaker": f.is_maker,
                    "isBestMatch": true,
                })
            })
            .collect();
        Ok(Value::Array(trades))
    })
}

/// `GET /api/v3/allOrders` (signed): our orders on one symbol (any status), oldest first.
/// Supports `orderId` (from this id), `startTime`, `endTime`, `limit` (default 500, max 1000).
async fn all_orders(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    respond(&shared, 20, false, || {
        let params = signed(&shared, &headers, &query, &body)?;
        let q = HistoryQuery::parse(&params)?;
        let (symbol, from, start, end, limit) = (q.symbol, q.order_id, q.start, q.end, q.limit);
        let ex = shared.exchange();
        if ex.symbol(symbol).is_none() {
            return Err(ApiError::invalid_symbol());
        }
        Ok(Value::Array(
            ex.all_orders(symbol)
                .iter()
                .filter(|o| from.is_none_or(|id| o.order_id >= id))
                .filter(|o| start.is_none_or(|t| o.time >= t))
                .filter(|o| end.is_none_or(|t| o.time <= t))
                .take(limit)
                .map(order_json)
                .collect(),
        ))
    })
}

/// `POST|PUT|DELETE /api/v3/userDataStream` (API key only, no signature): HTTP 410 Gone as on
/// Binance since 2026-02-20, or the legacy listen keys with [`super::SimConfig::legacy_listen_key`].
async fn user_data_stream(
    State(shared): AppState,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if !shared.legacy_listen_key {
        return user_stream::gone();
    }
    respond(&shared, 2, false, || {
        check_api_key(&headers, &shared.keys)?;
        let params = Params::parse(query.as_deref().unwrap_or(""), body_str(&body)?)?;
        let now = now_ms();
        match method {
            Method::POST => Ok(json!({"listenKey": shared.listen_keys.create(now)})),
            Method::PUT => {
                shared
                    .listen_keys
                    .keepalive(params.require("listenKey")?, now)?;
                Ok(json!({}))
            }
            Method::DELETE => {
                shared.listen_keys.delete(params.require("listenKey")?)?;
                Ok(json!({}))
            }
            _ => Err(ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: -1000,
                msg: "Method not allowed.".into(),
            }),
        }
    })
}

/// `/ws`: a raw connection with no stream yet (use `SUBSCRIBE`).
async fn ws_bare(State(shared): AppState, upgrade: WebSocketUpgrade) -> Response {
    let rx = shared.fanout.subscribe_market();
    upgrade.on_upgrade(move |s| ws::serve(s, shared, Vec::new(), false, rx))
}

/// `/ws/<stream>` (market data) or `/ws/<listenKey>` (user data).
async fn ws_named(
    State(shared): AppState,
    Path(name): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if shared.listen_keys.is_valid(&name, now_ms()) {
        let rx = shared.fanout.subscribe_user();
        return upgrade.on_upgrade(move |s| user_stream::serve(s, shared, name, rx));
    }
    // Like Binance, a raw connection opens whatever the path names (clients such as ccxt open
    // `/ws/<n>` and SUBSCRIBE on it); only a published stream name is subscribed.
    let initial = if ws::is_valid_stream(&shared, &name) {
        vec![name]
    } else {
        Vec::new()
    };
    let rx = shared.fanout.subscribe_market();
    upgrade.on_upgrade(move |s| ws::serve(s, shared, initial, false, rx))
}

/// `/stream?streams=a/b/c`: combined streams, each event wrapped with its stream name.
async fn ws_combined(
    State(shared): AppState,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""), "").unwrap_or_default();
    let streams: Vec<String> = params
        .get("streams")
        .map(|s| {
            s.split('/')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = streams.iter().find(|s| !ws::is_valid_stream(&shared, s)) {
        return (
            StatusCode::BAD_REQUEST,
            format!("Invalid stream name: {bad}"),
        )
            .into_response();
    }
    let rx = shared.fanout.subscribe_market();
    upgrade.on_upgrade(move |s| ws::serve(s, shared, streams, true, rx))
}
