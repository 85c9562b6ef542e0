//! Test support: Ed25519 API keys for simulator tests (compiled for tests only).

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::SigningKey;

use super::config::SimEd25519Key;

/// A deterministic Ed25519 key pair from `seed` (the 32-byte private key): the signing key
/// for the client side and the [`SimEd25519Key`] (named `api_key`) for `SimConfig`.
pub fn ed25519_keypair(seed: [u8; 32], api_key: &str) -> (SigningKey, SimEd25519Key) {
    let signing = SigningKey::from_bytes(&seed);
    let pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("an Ed25519 public key always encodes");
    (
        signing,
        SimEd25519Key {
            api_key: api_key.to_string(),
            public_key_pem: pem,
        },
    )
}

/// `signature` parameter for `payload` under `key`: standard base64 of the Ed25519 signature.
pub fn ed25519_sign(key: &SigningKey, payload: &str) -> String {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    base64::engine::general_purpose::STANDARD.encode(key.sign(payload.as_bytes()).to_bytes())
}
