//! A user's exchange keys from Supabase Vault (`supabase/migrations/
//! 20261203160000_user_exchange_keys.sql`): the `user_exchange_keys` row of (user, venue,
//! account) names two `vault.secrets` rows, read decrypted through `vault.decrypted_secrets`
//! (service_role only). The values go straight into [`Secret`]s: never logged, never
//! written anywhere, never part of an error.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::secret::{ApiCredentials, Secret};

/// A user's key for one venue account, as stored.
#[derive(Clone, Debug)]
pub struct StoredKeys {
    /// `hmac` or `ed25519`.
    pub key_type: String,
    /// The API key and the HMAC secret or Ed25519 PEM. Redacted.
    pub credentials: ApiCredentials,
}

/// Why the keys could not be read (no secret value is ever part of it).
#[derive(Debug, thiserror::Error)]
pub enum VaultKeyError {
    /// The database could not be reached or the query failed (e.g. missing grants).
    #[error("reading user_exchange_keys and vault.decrypted_secrets: {0}")]
    Database(#[from] sqlx::Error),
}

/// The keys of `user_id` for `venue` / `account`, `None` if the user has no such row.
pub async fn load_user_keys(
    opts: &PgConnectOptions,
    user_id: &str,
    venue: &str,
    account: &str,
) -> Result<Option<StoredKeys>, VaultKeyError> {
    let mut c = opts.connect().await?;
    let row: Option<(String, String, String)> = sqlx::query_as(
        "select k.key_type, ak.decrypted_secret, sk.decrypted_secret \
         from public.user_exchange_keys k \
         join vault.decrypted_secrets ak on ak.id = k.api_key_id \
         join vault.decrypted_secrets sk on sk.id = k.api_secret_id \
         where k.user_id = $1::uuid and k.venue = $2 and k.account = $3",
    )
    .bind(user_id)
    .bind(venue)
    .bind(account)
    .fetch_optional(&mut c)
    .await?;
    c.close().await.ok();
    Ok(row.map(|(key_type, key, secret)| StoredKeys {
        key_type,
        credentials: ApiCredentials {
            key: Secret::new(key),
            secret: Secret::new(secret),
        },
    }))
}
