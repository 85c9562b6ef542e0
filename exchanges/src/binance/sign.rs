//! Binance's request signature: `hex(HMAC-SHA256(secret, totalParams))`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Computes Binance's `signature` for `payload` (query string followed directly by the request
/// body, no `&` between them) and appends it, lower-case hex, to `out`. No allocation beyond
/// `out`'s growth.
pub fn sign_into(secret: &[u8], payload: &[u8], out: &mut String) {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(payload);
    let digest = mac.finalize().into_bytes();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(64);
    for b in digest {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
}

/// Binance's `signature` for `payload` as a new lower-case hex string.
pub fn signature_hex(secret: &[u8], payload: &[u8]) -> String {
    let mut s = String::with_capacity(64);
    sign_into(secret, payload, &mut s);
    s
}

/// Checks a received signature (case-insensitive hex, as Binance accepts) in constant time.
pub fn verify(secret: &[u8], payload: &[u8], signature: &str) -> bool {
    let Ok(sig) = hex::decode(signature) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(payload);
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example from Binance's spot API documentation ("SIGNED Endpoint Examples
    /// for POST /api/v3/order", HMAC Keys, example 1: parameters as a query string).
    const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const DOC_QUERY: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    const DOC_SIGNATURE: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";

    #[test]
    fn matches_binance_documented_example() {
        assert_eq!(
            signature_hex(DOC_SECRET.as_bytes(), DOC_QUERY.as_bytes()),
            DOC_SIGNATURE
        );
    }

    #[test]
    fn verify_accepts_upper_case_and_rejects_tampering() {
        assert!(verify(
            DOC_SECRET.as_bytes(),
            DOC_QUERY.as_bytes(),
            &DOC_SIGNATURE.to_uppercase()
        ));
        assert!(!verify(
            DOC_SECRET.as_bytes(),
            b"symbol=LTCBTC&side=SELL",
            DOC_SIGNATURE
        ));
        assert!(!verify(DOC_SECRET.as_bytes(), DOC_QUERY.as_bytes(), "zz"));
    }
}
