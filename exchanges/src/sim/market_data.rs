//! Public market-data REST endpoints (`trades`, `historicalTrades`, `aggTrades`, `klines`,
//! `uiKlines`, `avgPrice`, `ticker/24hr`, `ticker`, `ticker/price`, `ticker/bookTicker`) and
//! the JSON shapes they share with the streams (24h ticker, mini ticker, trades).
//!
//! Everything is computed from the simulator's own trades ([`super::history`]) and book.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::auth::Params;
use super::error::ApiError;
use super::exchange::{Exchange, SymbolState};
use super::history::{AggRec, TradeRec, AVG_PRICE_MINS};
use super::klines::Interval;
use super::rest::{respond, selected_symbols};
use super::state::Shared;
use super::wire::{dec, now_ms};

type AppState = State<Arc<Shared>>;

/// The 24 h window of `ticker/24hr` and the `@ticker` streams.
pub const DAY_MS: i64 = 86_400_000;

fn params(query: &Option<String>) -> Result<Params, ApiError> {
    Params::parse(query.as_deref().unwrap_or(""), "")
}

fn limit(params: &Params, default: usize, max: usize) -> Result<usize, ApiError> {
    Ok(params
        .parsed("limit", |v| v.parse::<usize>().ok().filter(|n| *n >= 1))?
        .unwrap_or(default)
        .min(max))
}

fn symbol_state<'a>(ex: &'a Exchange, params: &Params) -> Result<&'a SymbolState, ApiError> {
    ex.symbols
        .get(params.require("symbol")?)
        .ok_or_else(ApiError::invalid_symbol)
}

/// A trade as `trades` / `historicalTrades` list it.
pub fn trade_json(t: &TradeRec) -> Value {
    json!({
        "id": t.id, "price": dec(t.price), "qty": dec(t.qty), "quoteQty": dec(t.price * t.qty),
        "time": t.time, "isBuyerMaker": t.buyer_maker, "isBestMatch": true,
    })
}

/// An aggregate trade as `aggTrades` lists it.
pub fn agg_json(a: &AggRec) -> Value {
    json!({
        "a": a.id, "p": dec(a.price), "q": dec(a.qty), "f": a.first, "l": a.last,
        "T": a.time, "m": a.buyer_maker, "M": true,
    })
}

/// The `@aggTrade` stream event.
pub fn agg_event(symbol: &str, a: &AggRec, now: i64) -> Value {
    json!({
        "e": "aggTrade", "E": now, "s": symbol, "a": a.id, "p": dec(a.price), "q": dec(a.qty),
        "f": a.first, "l": a.last, "T": a.time, "m": a.buyer_maker, "M": true,
    })
}

/// `change / open` in percent with three decimals, as Binance writes `priceChangePercent`.
fn percent(change: Decimal, open: Decimal) -> String {
    let mut p = if open.is_zero() {
        Decimal::ZERO
    } else {
        (change * Decimal::ONE_HUNDRED / open).round_dp(3)
    };
    p.rescale(3);
    p.to_string()
}

fn weighted_avg(quote: Decimal, volume: Decimal) -> Decimal {
    if volume.is_zero() {
        Decimal::ZERO
    } else {
        (quote / volume).round_dp(8)
    }
}

/// Rolling-window statistics of one symbol: `mini` selects the MINI shape; `with_book` adds
/// the 24 h ticker's previous close, last quantity and book top (the FULL `ticker/24hr`).
pub fn ticker_json(
    s: &SymbolState,
    window_ms: i64,
    now: i64,
    mini: bool,
    with_book: bool,
) -> Value {
    let st = s.history.window_stats(window_ms, now);
    let b = &st.bar;
    let last_price = st.last.map(|t| t.price).unwrap_or(b.close);
    let mut v = json!({
        "symbol": s.spec.symbol,
        "openPrice": dec(b.open), "highPrice": dec(b.high), "lowPrice": dec(b.low),
        "lastPrice": dec(last_price), "volume": dec(b.volume), "quoteVolume": dec(b.quote_volume),
        "openTime": st.open_time, "closeTime": st.close_time,
        "firstId": b.first_id, "lastId": b.last_id, "count": b.trades,
    });
    if mini {
        return v;
    }
    if let Value::Object(m) = &mut v {
        m.insert("priceChange".into(), json!(dec(last_price - b.open)));
        m.insert(
            "priceChangePercent".into(),
            json!(percent(last_price - b.open, b.open)),
        );
        m.insert(
            "weightedAvgPrice".into(),
            json!(dec(weighted_avg(b.quote_volume, b.volume))),
        );
        if with_book {
            let z = Decimal::ZERO;
            let (bid, ask) = (s.book.best_bid(), s.book.best_ask());
            m.insert("prevClosePrice".into(), json!(dec(st.prev_close)));
            m.insert(
                "lastQty".into(),
                json!(dec(st.last.map(|t| t.qty).unwrap_or(z))),
            );
            m.insert("bidPrice".into(), json!(dec(bid.map(|l| l.0).unwrap_or(z))));
            m.insert("bidQty".into(), json!(dec(bid.map(|l| l.1).unwrap_or(z))));
            m.insert("askPrice".into(), json!(dec(ask.map(|l| l.0).unwrap_or(z))));
            m.insert("askQty".into(), json!(dec(ask.map(|l| l.1).unwrap_or(z))));
        }
    }
    v
}

/// The `@ticker` (`mini == false`) or `@miniTicker` stream event.
pub fn ticker_event(s: &SymbolState, now: i64, mini: bool) -> Value {
    let st = s.history.window_stats(DAY_MS, now);
    let b = &st.bar;
    let last_price = st.last.map(|t| t.price).unwrap_or(b.close);
    let symbol = &s.spec.symbol;
    if mini {
        return json!({
            "e": "24hrMiniTicker", "E": now, "s": symbol, "c": dec(last_price), "o": dec(b.open),
            "h": dec(b.high), "l": dec(b.low), "v": dec(b.volume), "q": dec(b.quote_volume),
        });
    }
    let z = Decimal::ZERO;
    let (bid, ask) = (s.book.best_bid(), s.book.best_ask());
    json!({
        "e": "24hrTicker", "E": now, "s": symbol,
        "p": dec(last_price - b.open), "P": percent(last_price - b.open, b.open),
        "w": dec(weighted_avg(b.quote_volume, b.volume)), "x": dec(st.prev_close),
        "c": dec(last_price), "Q": dec(st.last.map(|t| t.qty).unwrap_or(z)),
        "b": dec(bid.map(|l| l.0).unwrap_or(z)), "B": dec(bid.map(|l| l.1).unwrap_or(z)),
        "a": dec(ask.map(|l| l.0).unwrap_or(z)), "A": dec(ask.map(|l| l.1).unwrap_or(z)),
        "o": dec(b.open), "h": dec(b.high), "l": dec(b.low),
        "v": dec(b.volume), "q": dec(b.quote_volume),
        "O": st.open_time, "C": st.close_time, "F": b.first_id, "L": b.last_id, "n": b.trades,
    })
}

/// The `@avgPrice` stream event; `None` before the first trade.
pub fn avg_price_event(s: &SymbolState, now: i64) -> Option<Value> {
    let (price, last) = s.history.avg_price(now)?;
    Some(json!({
        "e": "avgPrice", "E": now, "s": s.spec.symbol, "i": format!("{AVG_PRICE_MINS}m"),
        "w": dec(price), "T": last,
    }))
}

/// `GET /api/v3/trades` (and `historicalTrades`, which adds `fromId`): newest trades kept.
pub async fn trades(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    respond(&shared, 25, false, || {
        let p = params(&query)?;
        let n = limit(&p, 500, 1000)?;
        let from = p.parsed("fromId", |v| v.parse::<u64>().ok())?;
        let ex = shared.exchange();
        let s = symbol_state(&ex, &p)?;
        Ok(Value::Array(
            s.history.trades(from, n).iter().map(trade_json).collect(),
        ))
    })
}

/// `GET /api/v3/aggTrades`.
pub async fn agg_trades(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    respond(&shared, 4, false, || {
        let p = params(&query)?;
        let n = limit(&p, 500, 1000)?;
        let from = p.parsed("fromId", |v| v.parse::<u64>().ok())?;
        let start = p.parsed("startTime", |v| v.parse::<i64>().ok())?;
        let end = p.parsed("endTime", |v| v.parse::<i64>().ok())?;
        if from.is_some() && (start.is_some() || end.is_some()) {
            return Err(ApiError::bad_request(
                -1128,
                "Combination of optional parameters invalid.",
            ));
        }
        let ex = shared.exchange();
        let s = symbol_state(&ex, &p)?;
        Ok(Value::Array(
            s.history
                .agg_trades(from, start, end, n)
                .iter()
                .map(agg_json)
                .collect(),
        ))
    })
}

/// `GET /api/v3/klines` and `GET /api/v3/uiKlines` (the same bars here).
pub async fn klines(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    respond(&shared, 2, false, || {
        let p = params(&query)?;
        let interval = Interval::parse(p.require("interval")?)
            .ok_or_else(|| ApiError::bad_request(-1120, "Invalid interval."))?;
        let n = limit(&p, 500, 1000)?;
        let start = p.parsed("startTime", |v| v.parse::<i64>().ok())?;
        let end = p.parsed("endTime", |v| v.parse::<i64>().ok())?;
        if let Some(tz) = p.get("timeZone") {
            if !matches!(
                tz,
                "0" | "+0" | "-0" | "0:00" | "+0:00" | "00:00" | "+00:00"
            ) {
                return Err(ApiError::bad_request(
                    -1130,
                    "Data sent for parameter 'timeZone' is not valid. (the simulator serves UTC klines only)",
                ));
            }
        }
        let ex = shared.exchange();
        let s = symbol_state(&ex, &p)?;
        Ok(Value::Array(
            s.history
                .klines(interval, start, end, n, now_ms())
                .iter()
                .map(|k| k.rest_json())
                .collect(),
        ))
    })
}

/// `GET /api/v3/avgPrice`.
pub async fn avg_price(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    respond(&shared, 2, false, || {
        let p = params(&query)?;
        let ex = shared.exchange();
        let s = symbol_state(&ex, &p)?;
        let (price, close) = s.history.avg_price(now_ms()).unwrap_or((Decimal::ZERO, 0));
        Ok(json!({"mins": AVG_PRICE_MINS, "price": dec(price), "closeTime": close}))
    })
}

/// The listed symbols a ticker request selects (`symbol`, `symbols` or all), in order, and
/// whether the answer is a single object (`symbol` given).
fn ticker_selection(ex: &Exchange, params: &Params) -> Result<(Vec<String>, bool), ApiError> {
    if params.get("symbol").is_some() && params.get("symbols").is_some() {
        return Err(ApiError::bad_request(
            -1128,
            "Combination of optional parameters invalid.",
        ));
    }
    let single = params.get("symbol").is_some();
    let names = match selected_symbols(params)? {
        Some(list) => {
            if list.iter().any(|s| !ex.symbols.contains_key(s)) {
                return Err(ApiError::invalid_symbol());
            }
            for (i, s) in list.iter().enumerate() {
                if list[..i].contains(s) {
                    return Err(ApiError::bad_request(
                        -1151,
                        "Symbol is present multiple times in the list.",
                    ));
                }
            }
            list
        }
        None => ex.symbols.keys().cloned().collect(),
    };
    Ok((names, single))
}

fn one_or_many(mut items: Vec<Value>, single: bool) -> Value {
    if single {
        items.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(items)
    }
}

fn ticker_type(params: &Params) -> Result<bool, ApiError> {
    match params.get("type") {
        None | Some("FULL") => Ok(false),
        Some("MINI") => Ok(true),
        Some(_) => Err(ApiError::bad_request(-1139, "Invalid ticker type.")),
    }
}

/// `GET /api/v3/ticker/24hr`.
pub async fn ticker_24hr(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let p = params(&query);
    let weight = match p.as_ref().ok().and_then(|p| p.get("symbol")) {
        Some(_) => 1,
        None => 40,
    };
    respond(&shared, weight, false, || {
        let p = p?;
        let mini = ticker_type(&p)?;
        let ex = shared.exchange();
        let (names, single) = ticker_selection(&ex, &p)?;
        let now = now_ms();
        let items = names
            .iter()
            .filter_map(|n| ex.symbols.get(n))
            .map(|s| ticker_json(s, DAY_MS, now, mini, true))
            .collect();
        Ok(one_or_many(items, single))
    })
}

/// Parses a rolling `windowSize` (`1m`..`59m`, `1h`..`23h`, `1d`..`7d`) into ms.
fn window_size(v: &str) -> Option<i64> {
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: i64 = num.parse().ok().filter(|n| *n >= 1)?;
    match unit {
        "m" if n <= 59 => Some(n * 60_000),
        "h" if n <= 23 => Some(n * 3_600_000),
        "d" if n <= 7 => Some(n * DAY_MS),
        _ => None,
    }
}

/// `GET /api/v3/ticker` (rolling window statistics; `symbol` or `symbols` required).
pub async fn ticker_rolling(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    respond(&shared, 4, false, || {
        let p = params(&query)?;
        let mini = ticker_type(&p)?;
        let window = match p.get("windowSize") {
            None => DAY_MS,
            Some(w) => window_size(w).ok_or_else(|| ApiError::illegal_chars("windowSize"))?,
        };
        let ex = shared.exchange();
        if p.get("symbol").is_none() && p.get("symbols").is_none() {
            return Err(ApiError::bad_request(
                -1102,
                "Param 'symbol' or 'symbols' must be sent, but both were empty/null!",
            ));
        }
        let (names, single) = ticker_selection(&ex, &p)?;
        let now = now_ms();
        let items = names
            .iter()
            .filter_map(|n| ex.symbols.get(n))
            .map(|s| ticker_json(s, window, now, mini, false))
            .collect();
        Ok(one_or_many(items, single))
    })
}

/// `GET /api/v3/ticker/price`.
pub async fn ticker_price(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    respond(&shared, 2, false, || {
        let p = params(&query)?;
        let ex = shared.exchange();
        let (names, single) = ticker_selection(&ex, &p)?;
        let items = names
            .iter()
            .filter_map(|n| ex.symbols.get(n))
            .map(|s| {
                let price = s.history.last_trade().map(|t| t.price).unwrap_or_default();
                json!({"symbol": s.spec.symbol, "price": dec(price)})
            })
            .collect();
        Ok(one_or_many(items, single))
    })
}

/// `GET /api/v3/ticker/bookTicker`.
pub async fn book_ticker(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    respond(&shared, 2, false, || {
        let p = params(&query)?;
        let ex = shared.exchange();
        let (names, single) = ticker_selection(&ex, &p)?;
        let z = Decimal::ZERO;
        let items = names
            .iter()
            .filter_map(|n| ex.symbols.get(n))
            .map(|s| {
                let (bid, ask) = (s.book.best_bid(), s.book.best_ask());
                json!({
                    "symbol": s.spec.symbol,
                    "bidPrice": dec(bid.map(|l| l.0).unwrap_or(z)), "bidQty": dec(bid.map(|l| l.1).unwrap_or(z)),
                    "askPrice": dec(ask.map(|l| l.0).unwrap_or(z)), "askQty": dec(ask.map(|l| l.1).unwrap_or(z)),
                })
            })
            .collect();
        Ok(one_or_many(items, single))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec as d;

    #[test]
    fn percent_and_window_sizes() {
        assert_eq!(percent(d!(-94.999998), d!(99)), "-95.960");
        assert_eq!(percent(d!(1), d!(0)), "0.000");
        assert_eq!(window_size("59m"), Some(59 * 60_000));
        assert_eq!(window_size("7d"), Some(7 * DAY_MS));
        assert_eq!(window_size("60m"), None);
        assert_eq!(window_size("1w"), None);
        assert_eq!(window_size(""), None);
    }
}
