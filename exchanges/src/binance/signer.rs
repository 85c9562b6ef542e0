//! [`BinanceSigner`]: builds and signs Binance spot order requests on the core thread.
//!
//! Two wire forms, chosen at construction:
//! - REST ([`BinanceSigner::new`], [`BinanceSigner::with_key`]): `k=v&..&signature=..` for
//!   `POST`/`DELETE /api/v3/order`.
//! - WebSocket API ([`BinanceSigner::ws_api`]): the JSON `params` object of `order.place` /
//!   `order.cancel`. With an HMAC key it carries `apiKey` and a `signature` over the
//!   parameters sorted by name; on a `session.logon` session (Ed25519 keys) both are left out,
//!   as Binance documents, so only the `timestamp` is "signed" and no signature is computed.
//!   The transport wraps it into `{"id":..,"method":..,"params":<these bytes>}`.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use peregrine_engine::gateway::{HttpMethod, OrderSigner, SignError, SignedAction, SignedOrder};
use peregrine_engine::order::{ClientOrderId, OrderRequest, OrderType, TimeInForce};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::types::{InstrumentId, Instruments, Side};
use rust_decimal::Decimal;

use super::keyring::KeyRing;
use super::sign::ApiKeySigner;

/// Path of Binance spot's order endpoint (new: `POST`, cancel: `DELETE`, query: `GET`).
pub const ORDER_PATH: &str = "/api/v3/order";
/// REST path of a cancel-replace.
pub const CANCEL_REPLACE_PATH: &str = "/api/v3/order/cancelReplace";

/// Which wire form the signer produces.
#[derive(Clone)]
enum Form {
    Rest,
    /// WebSocket API params; `Some(key)`: per-request `apiKey` + `signature`.
    WsApi(Option<Secret>),
}

/// Builds and signs new-order and cancel requests (see the module docs for the two forms).
///
/// No I/O. The key schedule is computed once at construction; the only allocation per
/// request is the returned parameter string (sized up front), plus the sorted signature
/// payload in the HMAC WebSocket API form.
pub struct BinanceSigner {
    instruments: Arc<Instruments>,
    key: ApiKeySigner,
    form: Form,
    recv_window_ms: u64,
    /// Venue time minus local time, ms, shared with [`super::rest::BinanceRest`] (which
    /// measures it); added to every `timestamp`.
    clock_offset_ms: Option<Arc<AtomicI64>>,
    /// The account's replaceable key and the generation `key` was taken at
    /// ([`BinanceSigner::with_keys`]).
    ring: Option<(Arc<KeyRing>, u64)>,
}

impl fmt::Debug for BinanceSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinanceSigner")
            .field("instruments", &self.instruments.len())
            .field("key", &self.key)
            .field(
                "form",
                &match self.form {
                    Form::Rest => "rest",
                    Form::WsApi(Some(_)) => "ws_api (signed requests)",
                    Form::WsApi(None) => "ws_api (session)",
                },
            )
            .field("recv_window_ms", &self.recv_window_ms)
            .finish()
    }
}

impl BinanceSigner {
    /// A REST-form signer for `instruments` (venue symbols are taken from their specs),
    /// signing with the HMAC secret `credentials.secret` and sending `recvWindow=recv_window_ms`.
    pub fn new(
        instruments: Arc<Instruments>,
        credentials: &ApiCredentials,
        recv_window_ms: u64,
    ) -> Self {
        Self::with_key(
            instruments,
            ApiKeySigner::hmac(credentials.secret.expose().as_bytes()),
            recv_window_ms,
        )
    }

    /// A REST-form signer with any key type.
    pub fn with_key(instruments: Arc<Instruments>, key: ApiKeySigner, recv_window_ms: u64) -> Self {
        Self {
            instruments,
            key,
            form: Form::Rest,
            recv_window_ms,
            clock_offset_ms: None,
            ring: None,
        }
    }

    /// Follows the account's key in `ring`: before each request it signs, a replaced key
    /// (one atomic load to notice) is taken, with its `apiKey` in the WebSocket API form.
    /// Call after [`Self::ws_api`].
    pub fn with_keys(mut self, ring: Arc<KeyRing>) -> Self {
        self.ring = Some((ring, u64::MAX));
        self.refresh_key();
        self
    }

    /// Takes the ring's key if it changed since the last request (no allocation otherwise).
    #[inline]
    fn refresh_key(&mut self) {
        let Some((ring, seen)) = &mut self.ring else {
            return;
        };
        let now = ring.generation();
        if now == *seen {
            return;
        }
        let key = ring.current();
        *seen = now;
        self.key = (*key.signer).clone();
        if let Form::WsApi(_) = self.form {
            self.form = Form::WsApi(key.ws_api_key());
        }
    }

    /// Switches to the WebSocket API form. `api_key`: `Some` to sign each request (HMAC keys),
    /// `None` on a `session.logon` session (Ed25519 keys).
    pub fn ws_api(mut self, api_key: Option<Secret>) -> Self {
        self.form = Form::WsApi(api_key);
        self
    }

    /// Applies the venue clock offset measured by the REST client (see
    /// [`super::rest::BinanceRest::clock_offset`]) to every signed `timestamp`.
    pub fn with_clock_offset(mut self, offset_ms: Arc<AtomicI64>) -> Self {
        self.clock_offset_ms = Some(offset_ms);
        self
    }

    #[inline]
    fn venue_ms(&self, wall_ms: i64) -> i64 {
        wall_ms
            + self
                .clock_offset_ms
                .as_ref()
                .map_or(0, |o| o.load(Ordering::Relaxed))
    }

    fn symbol(&self, id: InstrumentId) -> Result<&str, SignError> {
        if id.index() >= self.instruments.len() {
            return Err(SignError::UnknownInstrument(id));
        }
        Ok(&self.instruments.spec(id).venue_symbol)
    }

    /// REST form: appends `&signature=..` (percent-encoded for Ed25519).
    fn finish(&self, mut params: String) -> String {
        let len = params.len();
        params.push_str("&signature=");
        self.key.append_url_signature(&mut params, len);
        params
    }

    /// WebSocket API form: `fields` are (name, value, quoted) in alphabetical order of name.
    fn ws_params(&self, fields: &[(&str, &str, bool)], cap: usize) -> String {
        let mut p = String::with_capacity(cap + 160);
        p.push('{');
        let signed = match &self.form {
            Form::WsApi(Some(k)) => Some(k),
            _ => None,
        };
        if let Some(k) = signed {
            p.push_str("\"apiKey\":\"");
            push_json_str(&mut p, k.expose());
            p.push_str("\",");
        }
        for (i, (name, value, quoted)) in fields.iter().enumerate() {
            if i > 0 {
                p.push(',');
            }
            p.push('"');
            p.push_str(name);
            p.push_str("\":");
            if *quoted {
                p.push('"');
                push_json_str(&mut p, value);
                p.push('"');
            } else {
                p.push_str(value);
            }
        }
        if let Some(k) = signed {
            // Binance: all params but `signature`, sorted by name, as `k=v&k=v`; `apiKey`
            // sorts before every order parameter.
            let mut payload = String::with_capacity(cap + 80);
            payload.push_str("apiKey=");
            payload.push_str(k.expose());
            for (name, value, _) in fields {
                payload.push('&');
                payload.push_str(name);
                payload.push('=');
                payload.push_str(value);
            }
            p.push_str(",\"signature\":\"");
            self.key.sign_into(payload.as_bytes(), &mut p);
            p.push('"');
        }
        p.push('}');
        p
    }
}

/// Appends `s` as JSON string content (escaping quotes, backslashes and control characters).
fn push_json_str(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Writes `d` without exponent and without trailing zeros (`1.500` -> `1.5`, `100` -> `100`).
fn push_decimal(out: &mut String, d: Decimal) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", d.normalize());
}

fn check_positive(d: Decimal, what: &'static str) -> Result<(), SignError> {
    if d.is_sign_positive() && !d.is_zero() {
        Ok(())
    } else {
        Err(SignError::Unsupported(what))
    }
}

/// The order fields of a new order, validated.
struct NewFields<'a> {
    symbol: &'a str,
    side: &'static str,
    kind: &'static str,
    tif: Option<&'static str>,
    qty: String,
    price: Option<String>,
}

impl BinanceSigner {
    /// A new order (`cancel` = `None`) or a cancel-replace of our order `cancel`.
    fn sign_placement(
        &self,
        req: &OrderRequest,
        wall_ms: i64,
        cancel: Option<ClientOrderId>,
    ) -> Result<SignedOrder, SignError> {
        let f = self.new_fields(req)?;
        let ts = self.venue_ms(wall_ms);
        let params = match self.form {
            Form::Rest => {
                let mut p = String::with_capacity(256);
                p.push_str("symbol=");
                p.push_str(f.symbol);
                p.push_str("&side=");
                p.push_str(f.side);
                p.push_str("&type=");
                p.push_str(f.kind);
                if let Some(old) = cancel {
                    let _ = write!(
                        p,
                        "&cancelReplaceMode=STOP_ON_FAILURE&cancelOrigClientOrderId={old}"
                    );
                }
                if let Some(tif) = f.tif {
                    p.push_str("&timeInForce=");
                    p.push_str(tif);
                }
                p.push_str("&quantity=");
                p.push_str(&f.qty);
                if let Some(price) = &f.price {
                    p.push_str("&price=");
                    p.push_str(price);
                }
                let _ = write!(
                    p,
                    "&newClientOrderId={}&newOrderRespType=RESULT&recvWindow={}&timestamp={ts}",
                    req.client_order_id, self.recv_window_ms
                );
                self.finish(p)
            }
            Form::WsApi(_) => {
                let coid = req.client_order_id.to_string();
                let old = cancel.map(|c| c.to_string());
                let recv = self.recv_window_ms.to_string();
                let ts = ts.to_string();
                let mut fields: [(&str, &str, bool); 12] = [("", "", false); 12];
                let mut n = 0;
                // Alphabetical: cancelOrigClientOrderId, cancelReplaceMode, newClientOrderId,
                // newOrderRespType, price, quantity, recvWindow, side, symbol, timeInForce,
                // timestamp, type.
                let mut push = |k, v, q| {
                    fields[n] = (k, v, q);
                    n += 1;
                };
                if let Some(old) = &old {
                    push("cancelOrigClientOrderId", old.as_str(), true);
                    push("cancelReplaceMode", "STOP_ON_FAILURE", true);
                }
                push("newClientOrderId", coid.as_str(), true);
                push("newOrderRespType", "RESULT", true);
                if let Some(price) = &f.price {
                    push("price", price.as_str(), true);
                }
                push("quantity", f.qty.as_str(), true);
                push("recvWindow", recv.as_str(), false);
                push("side", f.side, true);
                push("symbol", f.symbol, true);
                if let Some(tif) = f.tif {
                    push("timeInForce", tif, true);
                }
                push("timestamp", ts.as_str(), false);
                push("type", f.kind, true);
                self.ws_params(&fields[..n], 260)
            }
        };
        let it = &req.intent;
        Ok(SignedOrder {
            action: match cancel {
                None => SignedAction::New,
                Some(cancel) => SignedAction::Replace { cancel },
            },
            client_order_id: req.client_order_id,
            instrument: it.instrument,
            side: it.side,
            method: HttpMethod::Post,
            path: if cancel.is_some() {
                CANCEL_REPLACE_PATH
            } else {
                ORDER_PATH
            },
            params,
            origin_recv_ns: it.origin_recv_ns,
        })
    }

    fn new_fields<'a>(&'a self, req: &OrderRequest) -> Result<NewFields<'a>, SignError> {
        let it = &req.intent;
        let symbol = self.symbol(it.instrument)?;
        if it.reduce_only {
            return Err(SignError::Unsupported(
                "reduce-only orders do not exist on Binance spot",
            ));
        }
        check_positive(it.qty, "quantity must be positive")?;
        let (kind, tif) = match it.order_type {
            OrderType::Market => {
                if it.post_only {
                    return Err(SignError::Unsupported("a market order cannot be post-only"));
                }
                ("MARKET", None)
            }
            OrderType::Limit if it.post_only => {
                if it.tif != TimeInForce::Gtc {
                    return Err(SignError::Unsupported("post-only orders must be GTC"));
                }
                ("LIMIT_MAKER", None)
            }
            OrderType::Limit => (
                "LIMIT",
                Some(match it.tif {
                    TimeInForce::Gtc => "GTC",
                    TimeInForce::Ioc => "IOC",
                    TimeInForce::Fok => "FOK",
                }),
            ),
        };
        let mut qty = String::with_capacity(24);
        push_decimal(&mut qty, it.qty);
        let price = if it.order_type == OrderType::Limit {
            let price = it
                .price
                .ok_or(SignError::Unsupported("limit order without a price"))?;
            check_positive(price, "price must be positive")?;
            let mut p = String::with_capacity(24);
            push_decimal(&mut p, price);
            Some(p)
        } else {
            None
        };
        Ok(NewFields {
            symbol,
            side: match it.side {
                Side::Buy => "BUY",
                Side::Sell => "SELL",
            },
            kind,
            tif,
            qty,
            price,
        })
    }
}

impl OrderSigner for BinanceSigner {
    /// `symbol, side, type (LIMIT | MARKET | LIMIT_MAKER for post-only), timeInForce (plain
    /// LIMIT only), quantity, price (limit only), newClientOrderId, newOrderRespType=RESULT,
    /// recvWindow, timestamp`, then `signature` (REST); the same fields as JSON `params` in
    /// the WebSocket API form.
    fn sign_new(&mut self, req: &OrderRequest, wall_ms: i64) -> Result<SignedOrder, SignError> {
        self.refresh_key();
        self.sign_placement(req, wall_ms, None)
    }

    /// The new order's fields as in [`Self::sign_new`], plus `cancelReplaceMode=STOP_ON_FAILURE`
    /// and `cancelOrigClientOrderId` (`POST /api/v3/order/cancelReplace`, or
    /// `order.cancelReplace`).
    fn sign_replace(
        &mut self,
        cancel: ClientOrderId,
        req: &OrderRequest,
        wall_ms: i64,
    ) -> Result<SignedOrder, SignError> {
        self.refresh_key();
        self.sign_placement(req, wall_ms, Some(cancel))
    }

    /// `symbol, origClientOrderId, recvWindow, timestamp`, then `signature` (or the JSON form).
    fn sign_cancel(
        &mut self,
        client_order_id: ClientOrderId,
        instrument: InstrumentId,
        side: Side,
        wall_ms: i64,
    ) -> Result<SignedOrder, SignError> {
        self.refresh_key();
        let wall_ms = self.venue_ms(wall_ms);
        let symbol = self.symbol(instrument)?;
        let params = match self.form {
            Form::Rest => {
                let mut p = String::with_capacity(192);
                let _ = write!(
                    p,
                    "symbol={symbol}&origClientOrderId={client_order_id}&recvWindow={}&timestamp={wall_ms}",
                    self.recv_window_ms
                );
                self.finish(p)
            }
            Form::WsApi(_) => {
                let coid = client_order_id.to_string();
                let recv = self.recv_window_ms.to_string();
                let ts = wall_ms.to_string();
                self.ws_params(
                    &[
                        ("origClientOrderId", coid.as_str(), true),
                        ("recvWindow", recv.as_str(), false),
                        ("symbol", symbol, true),
                        ("timestamp", ts.as_str(), false),
                    ],
                    120,
                )
            }
        };
        Ok(SignedOrder {
            action: SignedAction::Cancel,
            client_order_id,
            instrument,
            side,
            method: HttpMethod::Delete,
            path: ORDER_PATH,
            params,
            origin_recv_ns: 0,
        })
    }
}

/// Splits `params` (as built by [`BinanceSigner`]) into the signed payload and the signature.
pub fn split_signature(params: &str) -> Option<(&str, &str)> {
    params.rsplit_once("&signature=")
}

/// The value of `key` in a `k=v&k=v` parameter string, or in a flat JSON params object (the
/// WebSocket API form; string or number values).
pub fn param<'a>(params: &'a str, key: &str) -> Option<&'a str> {
    if params.starts_with('{') {
        return json_param(params, key);
    }
    params.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
    })
}

/// `key`'s value in a flat JSON object whose values are strings without escapes or numbers
/// (what [`BinanceSigner`] writes).
fn json_param<'a>(params: &'a str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = params[from..].find('"') {
        let start = from + at + 1;
        let end = start + params[start..].find('"')?;
        let name = &params[start..end];
        let rest = params[end + 1..].strip_prefix(':')?;
        let value_start = end + 2;
        let (value, next) = if let Some(v) = rest.strip_prefix('"') {
            let len = v.find('"')?;
            (&v[..len], value_start + 1 + len + 1)
        } else {
            let len = rest.find([',', '}']).unwrap_or(rest.len());
            (&rest[..len], value_start + len)
        };
        if name == key {
            return Some(value);
        }
        from = next;
        if from >= params.len() {
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::sign;
    use peregrine_engine::order::OrderIntent;
    use peregrine_engine::secret::Secret;
    use peregrine_engine::types::InstrumentSpec;
    use rust_decimal_macros::dec;

    const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn signer(secret: &str) -> BinanceSigner {
        let mut r = Instruments::new();
        r.intern(
            InstrumentSpec::from_canonical("binance", "LTC-BTC", dec!(0.000001), dec!(0.01))
                .unwrap(),
        );
        let creds = ApiCredentials {
            key: Secret::new("k"),
            secret: Secret::new(secret),
        };
        BinanceSigner::new(Arc::new(r), &creds, 5000)
    }

    fn request(order_type: OrderType, tif: TimeInForce, post_only: bool) -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId { run: 0xabc, seq: 7 },
            intent: OrderIntent {
                strategy: 0,
                instrument: InstrumentId(0),
                side: Side::Buy,
                order_type,
                price: Some(dec!(0.100)),
                qty: dec!(1.000),
                tif,
                reduce_only: false,
                post_only,
                origin_recv_ns: 99,
            },
        }
    }

    #[test]
    fn limit_order_matches_documented_layout_and_verifies() {
        let mut s = signer(DOC_SECRET);
        let o = s
            .sign_new(
                &request(OrderType::Limit, TimeInForce::Gtc, false),
                1499827319559,
            )
            .unwrap();
        assert_eq!(
            (o.method, o.path, o.action, o.origin_recv_ns),
            (HttpMethod::Post, ORDER_PATH, SignedAction::New, 99)
        );
        let (payload, sig) = split_signature(&o.params).unwrap();
        assert_eq!(
            payload,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1\
             &newClientOrderId=pgabc-7&newOrderRespType=RESULT&recvWindow=5000&timestamp=1499827319559"
        );
        assert!(sign::verify(DOC_SECRET.as_bytes(), payload.as_bytes(), sig));
        assert_eq!(
            sig,
            sign::signature_hex(DOC_SECRET.as_bytes(), payload.as_bytes())
        );
    }

    #[test]
    fn keyed_clone_reproduces_binance_documented_signature() {
        // The documented example's exact parameters, signed through the signer's MAC path.
        let s = signer(DOC_SECRET);
        let doc = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let signed = s.finish(doc.to_string());
        assert_eq!(
            split_signature(&signed).unwrap().1,
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn market_post_only_tif_and_decimal_rendering() {
        let mut s = signer("x");
        let mut r = request(OrderType::Market, TimeInForce::Ioc, false);
        r.intent.qty = dec!(0.00000100);
        r.intent.side = Side::Sell;
        let o = s.sign_new(&r, 1).unwrap();
        assert!(
            o.params.starts_with(
                "symbol=LTCBTC&side=SELL&type=MARKET&quantity=0.000001&newClientOrderId="
            ),
            "{}",
            o.params
        );
        assert!(param(&o.params, "price").is_none() && param(&o.params, "timeInForce").is_none());

        let o = s
            .sign_new(&request(OrderType::Limit, TimeInForce::Gtc, true), 1)
            .unwrap();
        assert_eq!(param(&o.params, "type"), Some("LIMIT_MAKER"));
        assert!(param(&o.params, "timeInForce").is_none());

        for (tif, want) in [(TimeInForce::Ioc, "IOC"), (TimeInForce::Fok, "FOK")] {
            let o = s
                .sign_new(&request(OrderType::Limit, tif, false), 1)
                .unwrap();
            assert_eq!(param(&o.params, "timeInForce"), Some(want));
        }
        let mut big = request(OrderType::Limit, TimeInForce::Gtc, false);
        big.intent.price = Some(dec!(1e3));
        big.intent.qty = dec!(250);
        let o = s.sign_new(&big, 1).unwrap();
        assert_eq!(
            (param(&o.params, "price"), param(&o.params, "quantity")),
            (Some("1000"), Some("250"))
        );
        let (payload, sig) = split_signature(&o.params).unwrap();
        assert!(sign::verify(b"x", payload.as_bytes(), sig));
    }

    #[test]
    fn unsupported_orders_are_refused() {
        let mut s = signer("x");
        let mut r = request(OrderType::Limit, TimeInForce::Gtc, false);
        r.intent.price = None;
        assert!(matches!(s.sign_new(&r, 1), Err(SignError::Unsupported(_))));
        let mut r = request(OrderType::Limit, TimeInForce::Ioc, true);
        assert!(matches!(s.sign_new(&r, 1), Err(SignError::Unsupported(_))));
        r = request(OrderType::Market, TimeInForce::Gtc, true);
        assert!(matches!(s.sign_new(&r, 1), Err(SignError::Unsupported(_))));
        r = request(OrderType::Limit, TimeInForce::Gtc, false);
        r.intent.reduce_only = true;
        assert!(matches!(s.sign_new(&r, 1), Err(SignError::Unsupported(_))));
        r = request(OrderType::Limit, TimeInForce::Gtc, false);
        r.intent.qty = dec!(0);
        assert!(matches!(s.sign_new(&r, 1), Err(SignError::Unsupported(_))));
        r = request(OrderType::Limit, TimeInForce::Gtc, false);
        r.intent.instrument = InstrumentId(9);
        assert!(matches!(
            s.sign_new(&r, 1),
            Err(SignError::UnknownInstrument(InstrumentId(9)))
        ));
    }

    #[test]
    fn cancel_request_verifies_and_debug_redacts() {
        let mut s = signer("topsecret");
        let o = s
            .sign_cancel(
                ClientOrderId { run: 1, seq: 2 },
                InstrumentId(0),
                Side::Sell,
                1700000000000,
            )
            .unwrap();
        assert_eq!(
            (o.method, o.action),
            (HttpMethod::Delete, SignedAction::Cancel)
        );
        let (payload, sig) = split_signature(&o.params).unwrap();
        assert_eq!(
            payload,
            "symbol=LTCBTC&origClientOrderId=pg1-2&recvWindow=5000&timestamp=1700000000000"
        );
        assert!(sign::verify(b"topsecret", payload.as_bytes(), sig));
        assert!(!format!("{s:?}").contains("topsecret"));
    }

    #[test]
    fn ws_api_form_reproduces_binance_documented_hmac_request() {
        // web-socket-api.md "SIGNED request example (HMAC)": the documented params and key.
        let s = signer(DOC_SECRET).ws_api(Some(Secret::new(
            "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        )));
        let p = s.ws_params(
            &[
                ("newOrderRespType", "ACK", true),
                ("price", "52000.00", true),
                ("quantity", "0.01000000", true),
                ("recvWindow", "100", false),
                ("side", "SELL", true),
                ("symbol", "BTCUSDT", true),
                ("timeInForce", "GTC", true),
                ("timestamp", "1645423376532", false),
                ("type", "LIMIT", true),
            ],
            200,
        );
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(
            v["signature"],
            "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"
        );
        assert_eq!(v["recvWindow"], 100);
        assert_eq!(v["price"], "52000.00");
        assert_eq!(param(&p, "timestamp"), Some("1645423376532"));
        assert_eq!(param(&p, "symbol"), Some("BTCUSDT"));
    }

    #[test]
    fn ws_api_new_and_cancel_forms() {
        let key = Secret::new("KEY");
        let mut s = signer("x").ws_api(Some(key.clone()));
        let o = s
            .sign_new(
                &request(OrderType::Limit, TimeInForce::Ioc, false),
                1700000000000,
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&o.params).unwrap();
        assert_eq!(v["apiKey"], "KEY");
        assert_eq!(v["newClientOrderId"], "pgabc-7");
        assert_eq!(v["timeInForce"], "IOC");
        assert_eq!(
            (v["price"].as_str(), v["quantity"].as_str()),
            (Some("0.1"), Some("1"))
        );
        assert_eq!(v["timestamp"], 1700000000000i64);
        let payload = "apiKey=KEY&newClientOrderId=pgabc-7&newOrderRespType=RESULT&price=0.1&quantity=1\
                       &recvWindow=5000&side=BUY&symbol=LTCBTC&timeInForce=IOC&timestamp=1700000000000&type=LIMIT";
        assert!(sign::verify(
            b"x",
            payload.as_bytes(),
            v["signature"].as_str().unwrap()
        ));
        let c = s
            .sign_cancel(
                ClientOrderId { run: 1, seq: 2 },
                InstrumentId(0),
                Side::Sell,
                5,
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&c.params).unwrap();
        assert_eq!(v["origClientOrderId"], "pg1-2");
        assert!(sign::verify(
            b"x",
            b"apiKey=KEY&origClientOrderId=pg1-2&recvWindow=5000&symbol=LTCBTC&timestamp=5",
            v["signature"].as_str().unwrap()
        ));
        // A session.logon session (Ed25519): no apiKey, no signature.
        let mut s = signer("x").ws_api(None);
        let o = s
            .sign_new(&request(OrderType::Market, TimeInForce::Gtc, false), 9)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&o.params).unwrap();
        assert!(v.get("apiKey").is_none() && v.get("signature").is_none());
        assert_eq!((v["type"].as_str(), v.get("price")), (Some("MARKET"), None));
        assert!(!format!("{s:?}").contains('x'.to_string().repeat(2).as_str()));
    }

    #[test]
    fn ed25519_rest_form_is_url_encoded_and_verifies() {
        let key = crate::binance::sign::ApiKeySigner::ed25519_from_pem(
            crate::binance::sign::tests::RFC8410_PEM,
        )
        .unwrap();
        let mut r = Instruments::new();
        r.intern(
            InstrumentSpec::from_canonical("binance", "LTC-BTC", dec!(0.000001), dec!(0.01))
                .unwrap(),
        );
        let mut s = BinanceSigner::with_key(Arc::new(r), key.clone(), 5000);
        let o = s
            .sign_new(&request(OrderType::Limit, TimeInForce::Gtc, false), 1)
            .unwrap();
        let (payload, sig) = split_signature(&o.params).unwrap();
        let sig = sig
            .replace("%2B", "+")
            .replace("%2F", "/")
            .replace("%3D", "=");
        assert!(key.verify(payload.as_bytes(), &sig));
    }
}
