//! [`BinanceSigner`]: builds and signs Binance spot order requests on the core thread.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use peregrine_engine::gateway::{HttpMethod, OrderSigner, SignError, SignedAction, SignedOrder};
use peregrine_engine::order::{ClientOrderId, OrderRequest, OrderType, TimeInForce};
use peregrine_engine::secret::ApiCredentials;
use peregrine_engine::types::{InstrumentId, Instruments, Side};
use rust_decimal::Decimal;
use sha2::Sha256;

/// Path of Binance spot's order endpoint (new: `POST`, cancel: `DELETE`, query: `GET`).
pub const ORDER_PATH: &str = "/api/v3/order";

/// Builds and signs `POST /api/v3/order` and `DELETE /api/v3/order` parameter strings.
///
/// No I/O. The HMAC key schedule is computed once at construction and cloned per request; the
/// only allocation per request is the returned parameter string (sized up front).
pub struct BinanceSigner {
    instruments: Arc<Instruments>,
    mac: Hmac<Sha256>,
    recv_window_ms: u64,
    /// Venue time minus local time, ms, shared with [`super::rest::BinanceRest`] (which
    /// measures it); added to every `timestamp`.
    clock_offset_ms: Option<Arc<AtomicI64>>,
}

impl fmt::Debug for BinanceSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinanceSigner")
            .field("instruments", &self.instruments.len())
            .field("secret", &"[redacted]")
            .field("recv_window_ms", &self.recv_window_ms)
            .finish()
    }
}

impl BinanceSigner {
    /// A signer for `instruments` (venue symbols are taken from their specs), signing with
    /// `credentials.secret` and sending `recvWindow=recv_window_ms`.
    pub fn new(
        instruments: Arc<Instruments>,
        credentials: &ApiCredentials,
        recv_window_ms: u64,
    ) -> Self {
        Self {
            instruments,
            mac: keyed(credentials.secret.expose().as_bytes()),
            recv_window_ms,
            clock_offset_ms: None,
        }
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

    fn finish(&self, mut params: String) -> String {
        let mut mac = self.mac.clone();
        mac.update(params.as_bytes());
        let digest = mac.finalize().into_bytes();
        params.push_str("&signature=");
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in digest {
            params.push(HEX[(b >> 4) as usize] as char);
            params.push(HEX[(b & 0xf) as usize] as char);
        }
        params
    }
}

fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail; keep a total function anyway.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    }
}

#[cold]
fn unreachable_hmac() -> Hmac<Sha256> {
    // `new_from_slice` only fails for fixed-size-key MACs; HMAC accepts any length.
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default())
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

impl OrderSigner for BinanceSigner {
    /// `symbol, side, type (LIMIT | MARKET | LIMIT_MAKER for post-only), timeInForce (plain
    /// LIMIT only), quantity, price (limit only), newClientOrderId, newOrderRespType=RESULT,
    /// recvWindow, timestamp`, then `signature`.
    fn sign_new(&mut self, req: &OrderRequest, wall_ms: i64) -> Result<SignedOrder, SignError> {
        let it = &req.intent;
        let symbol = self.symbol(it.instrument)?;
        if it.reduce_only {
            return Err(SignError::Unsupported(
                "reduce-only orders do not exist on Binance spot",
            ));
        }
        check_positive(it.qty, "quantity must be positive")?;
        let mut p = String::with_capacity(256);
        p.push_str("symbol=");
        p.push_str(symbol);
        p.push_str(match it.side {
            Side::Buy => "&side=BUY",
            Side::Sell => "&side=SELL",
        });
        match it.order_type {
            OrderType::Market => {
                if it.post_only {
                    return Err(SignError::Unsupported("a market order cannot be post-only"));
                }
                p.push_str("&type=MARKET");
            }
            OrderType::Limit if it.post_only => {
                if it.tif != TimeInForce::Gtc {
                    return Err(SignError::Unsupported("post-only orders must be GTC"));
                }
                p.push_str("&type=LIMIT_MAKER");
            }
            OrderType::Limit => {
                p.push_str("&type=LIMIT&timeInForce=");
                p.push_str(match it.tif {
                    TimeInForce::Gtc => "GTC",
                    TimeInForce::Ioc => "IOC",
                    TimeInForce::Fok => "FOK",
                });
            }
        }
        p.push_str("&quantity=");
        push_decimal(&mut p, it.qty);
        if it.order_type == OrderType::Limit {
            let price = it
                .price
                .ok_or(SignError::Unsupported("limit order without a price"))?;
            check_positive(price, "price must be positive")?;
            p.push_str("&price=");
            push_decimal(&mut p, price);
        }
        let _ = write!(
            p,
            "&newClientOrderId={}&newOrderRespType=RESULT&recvWindow={}&timestamp={}",
            req.client_order_id,
            self.recv_window_ms,
            self.venue_ms(wall_ms)
        );
        Ok(SignedOrder {
            action: SignedAction::New,
            client_order_id: req.client_order_id,
            instrument: it.instrument,
            side: it.side,
            method: HttpMethod::Post,
            path: ORDER_PATH,
            params: self.finish(p),
            origin_recv_ns: it.origin_recv_ns,
        })
    }

    /// `symbol, origClientOrderId, recvWindow, timestamp`, then `signature`.
    fn sign_cancel(
        &mut self,
        client_order_id: ClientOrderId,
        instrument: InstrumentId,
        side: Side,
        wall_ms: i64,
    ) -> Result<SignedOrder, SignError> {
        let wall_ms = self.venue_ms(wall_ms);
        let symbol = self.symbol(instrument)?;
        let mut p = String::with_capacity(192);
        let _ = write!(
            p,
            "symbol={symbol}&origClientOrderId={client_order_id}&recvWindow={}&timestamp={wall_ms}",
            self.recv_window_ms
        );
        Ok(SignedOrder {
            action: SignedAction::Cancel,
            client_order_id,
            instrument,
            side,
            method: HttpMethod::Delete,
            path: ORDER_PATH,
            params: self.finish(p),
            origin_recv_ns: 0,
        })
    }
}

/// Splits `params` (as built by [`BinanceSigner`]) into the signed payload and the signature.
pub fn split_signature(params: &str) -> Option<(&str, &str)> {
    params.rsplit_once("&signature=")
}

/// The value of `key` in a `k=v&k=v` parameter string.
pub fn param<'a>(params: &'a str, key: &str) -> Option<&'a str> {
    params.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
    })
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
}
