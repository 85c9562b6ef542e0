//! Following the kill switch in Supabase's `global_settings` table.
//!
//! Row `kill_switch` holds `{"engaged": bool, "reason": text}`. A trigger on the table
//! sends `pg_notify('global_settings', {"key": …, "value": …})` on every change; the
//! follower `LISTEN`s on that channel (a session connection: direct or Supavisor session
//! mode, not the transaction pooler) and also re-reads the row every `poll` as a backstop
//! for notifications lost while the connection was down.
//!
//! The follower is edge-triggered: it turns the engine's [`KillSwitch`] on when the remote
//! switch becomes engaged and off when it becomes disengaged, and leaves the switch alone
//! otherwise, so a local switch (config, kill file) set meanwhile is not overridden.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool};
use tokio::sync::watch;

use super::pg::lazy_pool;
use crate::risk::KillSwitch;

/// The notification channel the `global_settings` trigger uses.
pub const CHANNEL: &str = "global_settings";

/// Follows `global_settings.kill_switch` on the database `opts` points to, setting `kill`
/// on changes, until `stop` turns true. Never fails: connection problems are logged and
/// retried (the poll keeps trying every `poll`).
pub async fn follow_kill_switch(
    opts: PgConnectOptions,
    kill: KillSwitch,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let pool = lazy_pool(opts);
    let mut follower = Follower {
        kill,
        last: None,
        errors: 0,
    };
    let mut listener: Option<PgListener> = None;
    let mut ticker = tokio::time::interval(poll.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if listener.is_none() {
            listener = connect_listener(&pool, &mut follower).await;
            // Whatever changed while we were not listening.
            follower.read(&pool).await;
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
            _ = ticker.tick() => follower.read(&pool).await,
            n = l.try_recv() => match n {
                Ok(Some(n)) => follower.on_payload(n.payload()),
                Ok(None) => {
                    tracing::warn!("kill switch LISTEN connection lost; reconnecting");
                    listener = None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "kill switch LISTEN failed; reconnecting");
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

/// Connects a listener on [`CHANNEL`], or logs why not.
async fn connect_listener(pool: &PgPool, f: &mut Follower) -> Option<PgListener> {
    let mut l = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            f.error("connecting the kill switch listener", &e);
            return None;
        }
    };
    match l.listen(CHANNEL).await {
        Ok(()) => Some(l),
        Err(e) => {
            f.error("LISTEN global_settings", &e);
            None
        }
    }
}

/// State of the follower: the last remote value seen.
struct Follower {
    kill: KillSwitch,
    /// Remote state last applied (`None` before the first successful read).
    last: Option<bool>,
    /// Consecutive errors (logged at warn for the first, then every 20th).
    errors: u64,
}

impl Follower {
    fn error(&mut self, what: &str, e: &sqlx::Error) {
        if self.errors.is_multiple_of(20) {
            tracing::warn!(error = %e, what, "kill switch follower cannot reach the database (the local switch still works)");
        }
        self.errors += 1;
    }

    /// Reads the row and applies it.
    async fn read(&mut self, pool: &PgPool) {
        let got: Result<Option<Option<bool>>, sqlx::Error> = sqlx::query_scalar(
            "select (value ->> 'engaged')::boolean from public.global_settings \
             where key = 'kill_switch'",
        )
        .fetch_optional(pool)
        .await;
        match got {
            Ok(v) => {
                self.errors = 0;
                self.apply(v.flatten().unwrap_or(false));
            }
            Err(e) => self.error("reading global_settings", &e),
        }
    }

    /// Applies a notification payload (`{"key": …, "value": {"engaged": …}}`).
    fn on_payload(&mut self, payload: &str) {
        match serde_json::from_str::<serde_json::Value>(payload) {
            Ok(v) if v["key"] == "kill_switch" => {
                self.apply(v["value"]["engaged"].as_bool().unwrap_or(false))
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "unreadable global_settings notification"),
        }
    }

    /// Sets the engine's switch on a change of the remote one. The first value read only
    /// acts if it is engaged (a disengaged remote switch does not clear a local one).
    fn apply(&mut self, engaged: bool) {
        let changed = match self.last {
            None => engaged,
            Some(prev) => prev != engaged,
        };
        self.last = Some(engaged);
        if changed {
            tracing::warn!(engaged, "kill switch in global_settings changed");
            // Flipping the row is the operator's explicit, audited act (the trigger writes
            // `audit_log`), so releasing it resets the latched switch.
            if engaged {
                self.kill.trip("global_settings.kill_switch engaged");
            } else {
                self.kill.reset("global_settings.kill_switch released");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_only() {
        let kill = KillSwitch::new(true);
        let mut f = Follower {
            kill: kill.clone(),
            last: None,
            errors: 0,
        };
        f.apply(false);
        assert!(
            kill.is_on(),
            "an initial disengaged remote keeps the local switch"
        );
        f.on_payload(r#"{"key":"kill_switch","value":{"engaged":true}}"#);
        assert!(kill.is_on());
        f.on_payload(r#"{"key":"kill_switch","value":{"engaged":false}}"#);
        assert!(!kill.is_on());
        kill.set(true); // local switch
        f.on_payload(r#"{"key":"other","value":{"engaged":false}}"#);
        f.apply(false);
        assert!(kill.is_on(), "no remote change: the local switch stays");
    }
}
