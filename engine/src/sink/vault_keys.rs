//! A user's exchange keys from Supabase Vault (`supabase/migrations/
//! 20261203160000_user_exchange_keys.sql`): the `user_exchange_keys` row of (user, venue,
//! account) names two `vault.secrets` rows. The engine reads them decrypted only through
//! `private.engine_exchange_keys()` (`20261204090000_engine_role.sql`), which answers only for
//! users the session's login role serves (`private.engine_users`); the engine's role has
//! nothing in the vault schema. The values go straight into [`Secret`]s: never logged, never
//! written anywhere, never part of an error.
//!
//! [`follow_user_keys`] follows the row while the engine runs (`LISTEN user_exchange_keys`,
//! the table's trigger, plus a poll: [`super::pg_follow`]) and hands every changed key on.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Connection, Executor, Postgres};
use tokio::sync::{mpsc, watch};

use super::pg::lazy_pool;
use super::pg_follow::{follow, Follow};
use crate::secret::{ApiCredentials, Secret};

/// The notification channel of the `user_exchange_keys` trigger.
pub const CHANNEL: &str = "user_exchange_keys";

/// A user's key for one venue account, as stored.
#[derive(Clone, Debug)]
pub struct StoredKeys {
    /// `hmac` or `ed25519`.
    pub key_type: String,
    /// The API key and the HMAC secret or Ed25519 PEM. Redacted.
    pub credentials: ApiCredentials,
}

impl StoredKeys {
    /// Whether `other` is the same key (type, key and secret).
    fn same_as(&self, other: &StoredKeys) -> bool {
        self.key_type == other.key_type
            && self.credentials.key.expose() == other.credentials.key.expose()
            && self.credentials.secret.expose() == other.credentials.secret.expose()
    }
}

/// Why the keys could not be read (no secret value is ever part of it).
#[derive(Debug, thiserror::Error)]
pub enum VaultKeyError {
    /// The database could not be reached or the query failed (e.g. missing grants).
    #[error("reading user_exchange_keys and vault.decrypted_secrets: {0}")]
    Database(#[from] sqlx::Error),
}

/// Which key: (user, venue, account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    /// The user's id (uuid text).
    pub user_id: String,
    /// The venue, e.g. `binance`.
    pub venue: String,
    /// The account label (`[venue] account`).
    pub account: String,
}

/// The keys of `row`, `None` if the user has no such row (or the session's role does not
/// serve the user).
pub async fn load_user_keys(
    opts: &PgConnectOptions,
    user_id: &str,
    venue: &str,
    account: &str,
) -> Result<Option<StoredKeys>, VaultKeyError> {
    let mut c = opts.connect().await?;
    let row = KeyRow {
        user_id: user_id.into(),
        venue: venue.into(),
        account: account.into(),
    };
    let keys = read_keys(&mut c, &row).await;
    c.close().await.ok();
    keys
}

async fn read_keys<'c, E: Executor<'c, Database = Postgres>>(
    db: E,
    row: &KeyRow,
) -> Result<Option<StoredKeys>, VaultKeyError> {
    let found: Option<(String, String, String)> = sqlx::query_as(
        "select key_type, api_key, api_secret \
         from private.engine_exchange_keys($1::uuid, $2, $3)",
    )
    .bind(&row.user_id)
    .bind(&row.venue)
    .bind(&row.account)
    .fetch_optional(db)
    .await?;
    Ok(found.map(|(key_type, key, secret)| StoredKeys {
        key_type,
        credentials: ApiCredentials {
            key: Secret::new(key),
            secret: Secret::new(secret),
        },
    }))
}

/// Follows `row` on the database `opts` points to until `stop` turns true: every key that
/// differs from the last one seen (`current` at start, the key the run started with) goes
/// to `tx`. A deleted row keeps the current key (the venue refuses a revoked one) and is
/// logged. Never fails: database problems are logged and retried.
pub async fn follow_user_keys(
    opts: PgConnectOptions,
    row: KeyRow,
    current: Option<StoredKeys>,
    tx: mpsc::UnboundedSender<StoredKeys>,
    poll: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut f = KeyFollower {
        row,
        last: current,
        missing: false,
        tx,
        errors: 0,
    };
    follow(lazy_pool(opts), &[CHANNEL], poll, stop, &mut f).await;
}

struct KeyFollower {
    row: KeyRow,
    last: Option<StoredKeys>,
    /// The row was found missing (logged once until it is back).
    missing: bool,
    tx: mpsc::UnboundedSender<StoredKeys>,
    errors: u64,
}

impl Follow for KeyFollower {
    fn error(&mut self, what: &str, e: &sqlx::Error) {
        if self.errors.is_multiple_of(20) {
            tracing::warn!(error = %e, what, venue = %self.row.venue, account = %self.row.account, "exchange key follower cannot reach the database (the current key stays)");
        }
        self.errors += 1;
    }

    async fn read(&mut self, pool: &PgPool) {
        let keys = match read_keys(pool, &self.row).await {
            Ok(k) => {
                self.errors = 0;
                k
            }
            Err(VaultKeyError::Database(e)) => {
                return self.error("reading the user's exchange key", &e)
            }
        };
        let Some(keys) = keys else {
            if !self.missing {
                tracing::warn!(user = %self.row.user_id, venue = %self.row.venue, account = %self.row.account, "the user_exchange_keys row is gone; trading goes on with the key loaded before");
            }
            self.missing = true;
            return;
        };
        self.missing = false;
        if self.last.as_ref().is_some_and(|l| l.same_as(&keys)) {
            return;
        }
        tracing::info!(user = %self.row.user_id, venue = %self.row.venue, account = %self.row.account, key_type = %keys.key_type, "the user's exchange key changed in Supabase Vault; loading it");
        self.last = Some(keys.clone());
        let _ = self.tx.send(keys);
    }
}
