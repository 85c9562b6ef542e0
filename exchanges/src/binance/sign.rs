//! Binance's request signatures, for every key type we support.
//!
//! - HMAC keys: `hex(HMAC-SHA256(secret, payload))` (case-insensitive on the venue).
//! - Ed25519 keys (Binance's recommended type): `base64(Ed25519-sign(private key, payload))`
//!   (case-sensitive); the private key is a PKCS#8 PEM.
//!
//! [`ApiKeySigner`] is the one signing abstraction: the core thread's order signer
//! ([`super::signer::BinanceSigner`]), the REST client and the WebSocket API all sign through
//! it. The payload is the REST query string (plus body), or for the WebSocket API the request
//! parameters sorted by name as `k=v&k=v` (see [`super::ws_api`]).

use std::fmt;

use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use peregrine_engine::secret::Secret;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Computes Binance's HMAC `signature` for `payload` (query string followed directly by the
/// request body, no `&` between them) and appends it, lower-case hex, to `out`. No allocation
/// beyond `out`'s growth.
pub fn sign_into(secret: &[u8], payload: &[u8], out: &mut String) {
    push_hex(&keyed(secret), payload, out);
}

/// Binance's HMAC `signature` for `payload` as a new lower-case hex string.
pub fn signature_hex(secret: &[u8], payload: &[u8]) -> String {
    let mut s = String::with_capacity(64);
    sign_into(secret, payload, &mut s);
    s
}

/// Checks a received HMAC signature (case-insensitive hex, as Binance accepts) in constant time.
pub fn verify(secret: &[u8], payload: &[u8], signature: &str) -> bool {
    let Ok(sig) = hex::decode(signature) else {
        return false;
    };
    let mut mac = keyed(secret);
    mac.update(payload);
    mac.verify_slice(&sig).is_ok()
}

fn keyed(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail; keep a total function anyway.
    match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()),
    }
}

fn push_hex(mac: &HmacSha256, payload: &[u8], out: &mut String) {
    let mut mac = mac.clone();
    mac.update(payload);
    let digest = mac.finalize().into_bytes();
    out.reserve(64);
    for b in digest {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
}

/// Appends base64 text with `+`, `/`, `=` percent-encoded.
fn push_url_encoded(out: &mut String, b64: &[u8]) {
    out.reserve(b64.len() + 16);
    for &c in b64 {
        match c {
            b'+' => out.push_str("%2B"),
            b'/' => out.push_str("%2F"),
            b'=' => out.push_str("%3D"),
            c => out.push(c as char),
        }
    }
}

/// The kind of API key (`[venue] key_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// HMAC-SHA256 secret key.
    Hmac,
    /// Ed25519 private key (PKCS#8 PEM).
    Ed25519,
}

impl KeyType {
    /// `hmac` or `ed25519`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hmac" => Some(KeyType::Hmac),
            "ed25519" => Some(KeyType::Ed25519),
            _ => None,
        }
    }
}

/// Why a signing key could not be loaded. Never contains the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The Ed25519 private key is not a PKCS#8 PEM Binance accepts.
    #[error("the Ed25519 private key is not a valid PKCS#8 PEM ({0})")]
    BadEd25519Pem(&'static str),
    /// No key material.
    #[error("the signing key is empty")]
    Empty,
}

/// Signs Binance requests with an HMAC or Ed25519 API key. The key schedule is computed once;
/// signing clones nothing but the HMAC state. `Debug` never shows the key.
#[derive(Clone)]
pub enum ApiKeySigner {
    /// HMAC-SHA256, hex signatures.
    Hmac(HmacSha256),
    /// Ed25519, base64 signatures.
    Ed25519(Box<SigningKey>),
}

impl fmt::Debug for ApiKeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeySigner({:?}, [redacted])", self.key_type())
    }
}

impl ApiKeySigner {
    /// An HMAC signer for `secret`.
    pub fn hmac(secret: &[u8]) -> Self {
        ApiKeySigner::Hmac(keyed(secret))
    }

    /// An Ed25519 signer from a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn ed25519_from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        if pem.is_empty() {
            return Err(KeyError::Empty);
        }
        SigningKey::from_pkcs8_pem(pem)
            .map(|k| ApiKeySigner::Ed25519(Box::new(k)))
            .map_err(|_| KeyError::BadEd25519Pem("cannot decode it"))
    }

    /// The signer for `kind` from the configured secret (HMAC secret or Ed25519 PEM).
    pub fn from_secret(kind: KeyType, secret: &Secret) -> Result<Self, KeyError> {
        match kind {
            KeyType::Hmac => Ok(Self::hmac(secret.expose().as_bytes())),
            KeyType::Ed25519 => Self::ed25519_from_pem(secret.expose()),
        }
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        match self {
            ApiKeySigner::Hmac(_) => KeyType::Hmac,
            ApiKeySigner::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// Appends the signature of `payload` to `out` as Binance wants it in JSON (WebSocket
    /// API): lower-case hex (HMAC) or standard base64 (Ed25519).
    #[inline]
    pub fn sign_into(&self, payload: &[u8], out: &mut String) {
        match self {
            ApiKeySigner::Hmac(mac) => push_hex(mac, payload, out),
            ApiKeySigner::Ed25519(key) => {
                let sig = key.sign(payload);
                base64::engine::general_purpose::STANDARD.encode_string(sig.to_bytes(), out);
            }
        }
    }

    /// Appends the signature of `payload` to `out` for a REST query string or form body: as
    /// [`ApiKeySigner::sign_into`], with base64's `+`, `/` and `=` percent-encoded.
    #[inline]
    pub fn sign_into_url(&self, payload: &[u8], out: &mut String) {
        match self {
            ApiKeySigner::Hmac(mac) => push_hex(mac, payload, out),
            ApiKeySigner::Ed25519(key) => {
                let sig = key.sign(payload);
                let mut b64 = [0u8; 88];
                let n = base64::engine::general_purpose::STANDARD
                    .encode_slice(sig.to_bytes(), &mut b64)
                    .unwrap_or(0);
                push_url_encoded(out, &b64[..n]);
            }
        }
    }

    /// Signs the first `payload_len` bytes of `buf` and appends the URL form of the signature
    /// to `buf` (no allocation beyond `buf`'s growth): for REST parameter strings that end in
    /// `&signature=`.
    #[inline]
    pub fn append_url_signature(&self, buf: &mut String, payload_len: usize) {
        let payload = &buf.as_bytes()[..payload_len.min(buf.len())];
        match self {
            ApiKeySigner::Hmac(mac) => {
                let mut mac = mac.clone();
                mac.update(payload);
                let digest = mac.finalize().into_bytes();
                buf.reserve(64);
                for b in digest {
                    buf.push(HEX[(b >> 4) as usize] as char);
                    buf.push(HEX[(b & 0xf) as usize] as char);
                }
            }
            ApiKeySigner::Ed25519(key) => {
                let sig = key.sign(payload).to_bytes();
                let mut b64 = [0u8; 88];
                let n = base64::engine::general_purpose::STANDARD
                    .encode_slice(sig, &mut b64)
                    .unwrap_or(0);
                push_url_encoded(buf, &b64[..n]);
            }
        }
    }

    /// The JSON-form signature of `payload` as a new string.
    pub fn signature(&self, payload: &[u8]) -> String {
        let mut s = String::with_capacity(88);
        self.sign_into(payload, &mut s);
        s
    }

    /// Checks a JSON-form signature (hex for HMAC, base64 for Ed25519) made by this key.
    pub fn verify(&self, payload: &[u8], signature: &str) -> bool {
        match self {
            ApiKeySigner::Hmac(mac) => {
                let Ok(sig) = hex::decode(signature) else {
                    return false;
                };
                let mut mac = mac.clone();
                mac.update(payload);
                mac.verify_slice(&sig).is_ok()
            }
            ApiKeySigner::Ed25519(key) => {
                let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(signature) else {
                    return false;
                };
                let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes) else {
                    return false;
                };
                key.verifying_key().verify_strict(payload, &sig).is_ok()
            }
        }
    }
}

/// A fresh random Ed25519 key pair (for a simulator account): the private key as a PKCS#8
/// PEM [`Secret`] and the public key as a PEM (SubjectPublicKeyInfo).
pub fn generate_ed25519() -> Result<(Secret, String), KeyError> {
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    use rand::RngCore;
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| KeyError::BadEd25519Pem("cannot encode it"))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| KeyError::BadEd25519Pem("cannot encode the public key"))?;
    Ok((Secret::new(private.as_str()), public))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Binance's documented HMAC example key (REST "SIGNED Endpoint Examples" and WebSocket API
    /// "SIGNED request example (HMAC)").
    const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    /// REST example 1 (parameters as a query string) and its signature.
    const DOC_QUERY: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    const DOC_SIGNATURE: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
    /// WebSocket API example (web-socket-api.md of 2025-04-25: with `newOrderRespType=ACK`).
    const WS_DOC_PAYLOAD_2025: &str = "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&newOrderRespType=ACK&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT";
    const WS_DOC_SIGNATURE_2025: &str =
        "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a";
    /// The same example on the current WebSocket API "Request security" page (2026-01-15
    /// capture: `newOrderRespType` dropped from the payload).
    const WS_DOC_PAYLOAD_2026: &str = "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT";
    const WS_DOC_SIGNATURE_2026: &str =
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24";

    /// RFC 8410 §10.3's example Ed25519 private key (Binance publishes no Ed25519 private key,
    /// only signatures made with an unpublished one; see exchanges/tests/SOURCES.md).
    pub(crate) const RFC8410_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";

    #[test]
    fn hmac_matches_binance_documented_examples() {
        assert_eq!(
            signature_hex(DOC_SECRET.as_bytes(), DOC_QUERY.as_bytes()),
            DOC_SIGNATURE
        );
        let s = ApiKeySigner::hmac(DOC_SECRET.as_bytes());
        assert_eq!(s.signature(DOC_QUERY.as_bytes()), DOC_SIGNATURE);
        assert_eq!(
            s.signature(WS_DOC_PAYLOAD_2025.as_bytes()),
            WS_DOC_SIGNATURE_2025
        );
        assert_eq!(
            s.signature(WS_DOC_PAYLOAD_2026.as_bytes()),
            WS_DOC_SIGNATURE_2026
        );
        let mut url = String::new();
        s.sign_into_url(DOC_QUERY.as_bytes(), &mut url);
        assert_eq!(url, DOC_SIGNATURE, "hex needs no percent-encoding");
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
        let s = ApiKeySigner::hmac(DOC_SECRET.as_bytes());
        assert!(s.verify(DOC_QUERY.as_bytes(), DOC_SIGNATURE));
        assert!(!s.verify(b"x", DOC_SIGNATURE));
    }

    #[test]
    fn ed25519_matches_rfc8032_vectors() {
        // RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
        let sk = |h: &str| {
            let b: [u8; 32] = hex::decode(h).unwrap().try_into().unwrap();
            ApiKeySigner::Ed25519(Box::new(SigningKey::from_bytes(&b)))
        };
        let b64 =
            |h: &str| base64::engine::general_purpose::STANDARD.encode(hex::decode(h).unwrap());
        let t1 = sk("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        assert_eq!(
            t1.signature(b""),
            b64("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        );
        let t2 = sk("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
        assert_eq!(
            t2.signature(&[0x72]),
            b64("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        );
        assert!(t2.verify(&[0x72], &t2.signature(&[0x72])));
        assert!(!t2.verify(&[0x73], &t2.signature(&[0x72])));
    }

    #[test]
    fn ed25519_pem_loads_signs_binance_payloads_and_url_encodes() {
        let s = ApiKeySigner::from_secret(KeyType::Ed25519, &Secret::new(RFC8410_PEM)).unwrap();
        assert_eq!(s.key_type(), KeyType::Ed25519);
        // The documented Ed25519 payload (WebSocket API "SIGNED Request Example (Ed25519)").
        let payload = "apiKey=4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT";
        let sig = s.signature(payload.as_bytes());
        assert_eq!(sig.len(), 88, "64 bytes in base64");
        assert!(s.verify(payload.as_bytes(), &sig));
        assert_eq!(sig, s.signature(payload.as_bytes()), "deterministic");
        let mut url = String::new();
        s.sign_into_url(payload.as_bytes(), &mut url);
        let decoded = url
            .replace("%2B", "+")
            .replace("%2F", "/")
            .replace("%3D", "=");
        assert_eq!(decoded, sig);
        assert!(!url.contains('+') && !url.contains('/') && !url.contains('='));
        assert!(ApiKeySigner::ed25519_from_pem("not a pem").is_err());
        assert!(matches!(
            ApiKeySigner::ed25519_from_pem("  "),
            Err(KeyError::Empty)
        ));
        let shown = format!("{s:?}");
        assert!(!shown.contains("MC4C"), "{shown}");
        assert_eq!(KeyType::parse("ed25519"), Some(KeyType::Ed25519));
        assert_eq!(KeyType::parse("rsa"), None);
    }
}
