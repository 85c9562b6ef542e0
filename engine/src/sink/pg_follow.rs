//! Following rows in PostgreSQL: `LISTEN` on the channels the tables' triggers notify (a
//! session connection: direct or Supavisor session mode, not the transaction pooler),
//! re-reading on every notification, after every (re)connect, and every `poll` as a
//! backstop for notifications lost while the connection was down. Used by the kill-switch
//! follower ([`super::remote_kill`]) and the strategy-row follower
//! ([`super::strategy_rows`]).

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;

/// What a follower does with the database.
pub(crate) trait Follow {
    /// Reads what it follows and acts on changes (errors are the follower's to log).
    fn read(&mut self, pool: &PgPool) -> impl Future<Output = ()> + Send;
    /// Logs a connection or LISTEN error (`what` failed).
    fn error(&mut self, what: &str, e: &sqlx::Error);
}

/// Runs `f` on `pool` until `stop` turns true (see the module docs), then closes the pool.
pub(crate) async fn follow<F: Follow + Send>(
    pool: PgPool,
    channels: &[&str],
    poll: Duration,
    mut stop: watch::Receiver<bool>,
    f: &mut F,
) {
    let mut listener: Option<PgListener> = None;
    let mut ticker = tokio::time::interval(poll.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if listener.is_none() {
            listener = connect(&pool, channels, f).await;
            // Whatever changed while we were not listening.
            f.read(&pool).await;
        }
        let Some(l) = listener.as_mut() else {
            tokio::select! {
                _ = stopped(&mut stop) => break,
                _ = ticker.tick() => {}
            }
            continue;
        };
        tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = ticker.tick() => f.read(&pool).await,
            n = l.try_recv() => match n {
                Ok(Some(_)) => f.read(&pool).await,
                Ok(None) => {
                    tracing::warn!(?channels, "LISTEN connection lost; reconnecting");
                    listener = None;
                }
                Err(e) => {
                    tracing::warn!(?channels, error = %e, "LISTEN failed; reconnecting");
                    listener = None;
                }
            },
        }
    }
    pool.close().await;
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Connects a listener on `channels`, or logs why not.
async fn connect<F: Follow>(pool: &PgPool, channels: &[&str], f: &mut F) -> Option<PgListener> {
    let mut l = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            f.error("connecting the listener", &e);
            return None;
        }
    };
    match l.listen_all(channels.iter().copied()).await {
        Ok(()) => Some(l),
        Err(e) => {
            f.error(&format!("LISTEN {}", channels.join(", ")), &e);
            None
        }
    }
}
