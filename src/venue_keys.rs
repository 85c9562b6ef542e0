//! The trading venue's API key for one run: which key, which type, and its signer (shared by
//! the REST client, the core thread's order signer and the WebSocket API).

use std::sync::Arc;

use anyhow::{Context, Result};
use peregrine_engine::config::{Config, KeyTypeConfig};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::sink::vault_keys::StoredKeys;
use peregrine_exchanges::binance::keyring::{KeyRing, VenueKey};
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

    /// A key ring holding this key (shared by the REST client, the WebSocket API and the
    /// order signer; replaced when the key row changes).
    pub fn ring(&self) -> std::sync::Arc<KeyRing> {
        KeyRing::new(self.venue_key())
    }

    /// The key and its signer, for a [`KeyRing`].
    pub fn venue_key(&self) -> VenueKey {
        VenueKey::new(self.credentials.key.clone(), self.signer.clone())
    }

    /// The key as the Vault row would hold it (to tell a changed row from this one).
    pub fn as_stored(&self) -> StoredKeys {
        StoredKeys {
            key_type: match self.signer.key_type() {
                KeyType::Hmac => "hmac".into(),
                KeyType::Ed25519 => "ed25519".into(),
            },
            credentials: self.credentials.clone(),
        }
    }
}

/// The signer of a key read from Supabase Vault.
pub fn from_stored(stored: StoredKeys) -> Result<VenueKeys> {
    let kind = match stored.key_type.as_str() {
        "hmac" => KeyType::Hmac,
        "ed25519" => KeyType::Ed25519,
        other => anyhow::bail!("user_exchange_keys.key_type {other:?} is not hmac or ed25519"),
    };
    let signer = ApiKeySigner::from_secret(kind, &stored.credentials.secret)
        .context("loading the API key stored in Supabase Vault")?;
    Ok(VenueKeys {
        credentials: stored.credentials,
        signer: Arc::new(signer),
    })
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

/// The run's user's key for the configured venue and account from Supabase Vault
/// (`user_exchange_keys`), if the sink is PostgreSQL, a user is set and the user has one;
/// otherwise `None` (the caller falls back to the environment).
pub async fn from_vault(cfg: &Config, user_id: Option<&str>) -> Result<Option<VenueKeys>> {
    let Some(user) = user_id else {
        return Ok(None);
    };
    if !peregrine_engine::sink::pg::is_postgres_url(&cfg.sink.url) {
        return Ok(None);
    }
    let opts = peregrine_engine::sink::pg::connect_options(&cfg.sink.url)?;
    let Some(stored) = peregrine_engine::sink::vault_keys::load_user_keys(
        &opts,
        user,
        &cfg.venue.name,
        &cfg.venue.account,
    )
    .await
    .context("loading the user's exchange keys from Supabase Vault")?
    else {
        return Ok(None);
    };
    tracing::info!(venue = %cfg.venue.name, account = %cfg.venue.account, key_type = %stored.key_type, "exchange keys loaded from Supabase Vault");
    from_stored(stored).map(Some)
}

/// Validates `user`'s Vault keys for the configured venue and account against the venue's
/// account endpoint (`GET /api/v3/account` at `[venue] rest_url`), as the seed's
/// `exchange-validate` edge function does: the number of balances if the venue accepts
/// them, else the venue's refusal (its code and message, never the key).
pub async fn check_keys(cfg: &Config, user: &str) -> Result<usize> {
    let keys = from_vault(cfg, Some(user)).await?.with_context(|| {
        format!(
            "user {user} has no user_exchange_keys row for {}/{} that this engine's database role serves (or the sink is not PostgreSQL)",
            cfg.venue.name, cfg.venue.account
        )
    })?;
    let rest = peregrine_exchanges::binance::rest::BinanceRest::new(
        &cfg.venue.rest_url,
        keys.credentials.clone(),
        cfg.venue.recv_window_ms,
        std::time::Duration::from_secs(10),
    )
    .context("building the REST client")?
    .with_signer(keys.signer.clone());
    rest.sync_time().await.context("reading the venue's time")?;
    let balances = rest.balances().await.with_context(|| {
        format!(
            "the venue refused user {user}'s keys for {}/{}",
            cfg.venue.name, cfg.venue.account
        )
    })?;
    Ok(balances.len())
}

/// A fresh random Ed25519 key pair for the in-process simulator: (private key PKCS#8 PEM as a
/// [`Secret`], public key PEM).
pub fn throwaway_ed25519() -> Result<(Secret, String)> {
    peregrine_exchanges::binance::sign::generate_ed25519()
        .context("generating a throwaway Ed25519 key for the simulator")
}

/// Follows `user`'s `user_exchange_keys` row for the configured venue and account while the
/// run lasts (until `stop`): a changed key replaces the one in `ring`, so the WebSocket API
/// reconnects with it and the REST client and order signer use it from then on. `current`
/// is the key the run started with. A key that cannot be loaded (bad PEM) is refused, the
/// current one stays; neither is ever logged.
pub fn spawn_key_follower(
    cfg: &Config,
    user: String,
    current: &VenueKeys,
    ring: Arc<KeyRing>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let follower = tokio::spawn(peregrine_engine::sink::vault_keys::follow_user_keys(
        peregrine_engine::sink::pg::connect_options(&cfg.sink.url)?,
        peregrine_engine::sink::vault_keys::KeyRow {
            user_id: user,
            venue: cfg.venue.name.clone(),
            account: cfg.venue.account.clone(),
        },
        Some(current.as_stored()),
        tx,
        std::time::Duration::from_secs(cfg.sink.kill_switch_poll_s.max(1)),
        stop,
    ));
    // Ends when the follower does (its sender is dropped).
    tokio::spawn(async move {
        while let Some(stored) = rx.recv().await {
            match from_stored(stored) {
                Ok(keys) => {
                    let generation = ring.replace(keys.venue_key());
                    tracing::info!(
                        generation,
                        "the account's exchange key replaced; venue sessions reconnect with it"
                    );
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "the changed exchange key cannot be used; the current key stays");
                }
            }
        }
    });
    Ok(follower)
}
