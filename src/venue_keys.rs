//! The trading venue's API key for one run: which key, which type, and its signer (shared by
//! the REST client, the core thread's order signer and the WebSocket API).

use std::sync::Arc;

use anyhow::{Context, Result};
use peregrine_engine::config::{Config, KeyTypeConfig};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_exchanges::binance::sign::{ApiKeySigner, KeyType};

/// The run's API key and signer.
pub struct VenueKeys {
    /// The key (and, for HMAC keys, the secret; for Ed25519, the PEM). Redacted.
    pub credentials: ApiCredentials,
    /// The signer built from them.
    pub signer: Arc<ApiKeySigner>,
}

impl VenueKeys {
    /// The `apiKey` WebSocket API order requests carry: `Some` for HMAC keys (each request is
    /// signed), `None` for Ed25519 keys (the `session.logon` session authorizes them).
    pub fn ws_api_key(&self) -> Option<Secret> {
        match self.signer.key_type() {
            KeyType::Hmac => Some(self.credentials.key.clone()),
            KeyType::Ed25519 => None,
        }
    }
}

/// `[venue] key_type` as the adapter's type.
pub fn key_type(cfg: &Config) -> KeyType {
    match cfg.venue.key_type {
        KeyTypeConfig::Hmac => KeyType::Hmac,
        KeyTypeConfig::Ed25519 => KeyType::Ed25519,
    }
}

/// Keys given directly (the in-process simulator's throwaway keys): `credentials.secret` is
/// the HMAC secret or the Ed25519 PEM, per `kind`.
pub fn from_credentials(credentials: ApiCredentials, kind: KeyType) -> Result<VenueKeys> {
    let signer = ApiKeySigner::from_secret(kind, &credentials.secret)
        .context("loading the simulator's API key")?;
    Ok(VenueKeys {
        credentials,
        signer: Arc::new(signer),
    })
}

/// The configured venue's key from the environment variables named in `[venue]`: the API
/// key, and the HMAC secret (`api_secret_env`) or the Ed25519 PEM (`api_private_key_env`).
pub fn from_env(cfg: &Config) -> Result<VenueKeys> {
    let v = &cfg.venue;
    let key = std::env::var(&v.api_key_env).with_context(|| {
        format!(
            "the API key must be in the environment variable {}",
            v.api_key_env
        )
    })?;
    let kind = key_type(cfg);
    let secret_env = match kind {
        KeyType::Hmac => &v.api_secret_env,
        KeyType::Ed25519 => &v.api_private_key_env,
    };
    let secret = std::env::var(secret_env).with_context(|| {
        format!(
            "the {} must be in the environment variable {secret_env}",
            match kind {
                KeyType::Hmac => "API secret",
                KeyType::Ed25519 => "Ed25519 private key (PKCS#8 PEM)",
            }
        )
    })?;
    let credentials = ApiCredentials {
        key: Secret::new(key),
        secret: Secret::new(secret),
    };
    let signer = ApiKeySigner::from_secret(kind, &credentials.secret)
        .with_context(|| format!("loading the API key from {secret_env}"))?;
    Ok(VenueKeys {
        credentials,
        signer: Arc::new(signer),
    })
}

/// A fresh random Ed25519 key pair for the in-process simulator: (private key PKCS#8 PEM as a
/// [`Secret`], public key PEM).
pub fn throwaway_ed25519() -> Result<(Secret, String)> {
    peregrine_exchanges::binance::sign::generate_ed25519()
        .context("generating a throwaway Ed25519 key for the simulator")
}
