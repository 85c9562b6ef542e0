//! Following the kill switches in Supabase: the global one (`global_settings` row
//! `kill_switch`, `{"engaged": bool, "reason": text}`) and the run's user's own
//! (`kill_switches` row of `user_id`).
//!
//! Triggers on both tables send `pg_notify` on every change (channels `global_settings` and
//! `kill_switches`); the follower `LISTEN`s on both (a session connection: direct or
//! Supavisor session mode, not the transaction pooler), re-reads both rows on every
//! notification, and also every `poll` as a backstop for notifications lost while the
//! connection was down.
//!
//! The remote state is engaged if either switch is engaged, and also if either row is
//! missing or its value unreadable: a deleted or never-created row fails closed, with a
//! reason naming the row. The follower is edge-triggered: it turns the engine's
//! [`KillSwitch`] on when the remote state becomes engaged and off when it becomes clear,
//! and leaves the switch alone otherwise, so a local switch (config, kill file) set
//! meanwhile is not overridden. A database it cannot read changes nothing (that is
//! `halt_on_db_down`'s job).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use tokio::sync::watch;

use super::pg::lazy_pool;
use super::pg_follow::{follow, Follow};
use crate::risk::KillSwitch;

/// The notification channel the `global_settings` trigger uses.
pub const CHANNEL: &str = "global_settings";
/// The notification channel the `kill_switches` trigger uses.
pub const USER_CHANNEL: &str = "kill_switches";

/// Follows the global kill switch and, with `user_id`, that user's own, on the database
/// `opts` points to, setting `kill` on changes, until `stop` turns true. Never fails:
/// connection problems are logged and retried (the poll keeps trying every `poll`).
pub async fn follow_kill_switch(
    opts: PgConnectOptions,
    user_id: Option<String>,
    kill: KillSwitch,
    poll: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut follower = Follower {
        kill,
        user_id,
        last: None,
        errors: 0,
    };
    follow(
        lazy_pool(opts),
        &[CHANNEL, USER_CHANNEL],
        poll,
        stop,
        &mut follower,
    )
    .await;
}

/// State of the follower: the last remote state seen.
struct Follower {
    kill: KillSwitch,
    /// The user whose own switch applies (`None`: only the global one).
    user_id: Option<String>,
    /// Remote state last applied: `Some(reason)` if engaged (`None` before the first read).
    last: Option<Option<String>>,
    /// Consecutive errors (logged at warn for the first, then every 20th).
    errors: u64,
}

/// Both rows as read: whether each exists, and its engaged flag if it is a boolean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Rows {
    global_row: bool,
    global: Option<bool>,
    user_row: bool,
    user: Option<bool>,
}

impl Rows {
    /// Why the remote state is engaged, or `None` if it is clear. Missing rows and
    /// unreadable values fail closed.
    fn engaged(&self, user_id: Option<&str>) -> Option<String> {
        let mut why = Vec::new();
        match (self.global_row, self.global) {
            (false, _) => why.push(
                "no global_settings row 'kill_switch' (a missing kill switch fails closed)"
                    .to_string(),
            ),
            (true, None) => why.push(
                "global_settings.kill_switch has no boolean \"engaged\" (fails closed)".into(),
            ),
            (true, Some(true)) => why.push("global_settings.kill_switch engaged".into()),
            (true, Some(false)) => {}
        }
        if let Some(u) = user_id {
            match (self.user_row, self.user) {
                (false, _) | (true, None) => why.push(format!(
                    "no kill_switches row for user {u}: orders refused until one exists \
                     (a missing kill switch fails closed)"
                )),
                (true, Some(true)) => why.push(format!("kill_switches row of user {u} engaged")),
                (true, Some(false)) => {}
            }
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

impl Follow for Follower {
    fn error(&mut self, what: &str, e: &sqlx::Error) {
        if self.errors.is_multiple_of(20) {
            tracing::warn!(error = %e, what, "kill switch follower cannot reach the database (the local switch still works)");
        }
        self.errors += 1;
    }

    /// Reads both rows and applies them.
    async fn read(&mut self, pool: &PgPool) {
        let got: Result<(bool, Option<bool>, bool, Option<bool>), sqlx::Error> = sqlx::query_as(
            "select exists (select 1 from public.global_settings where key = 'kill_switch'), \
             (select case when jsonb_typeof(value -> 'engaged') = 'boolean' \
                     then (value -> 'engaged')::boolean end \
              from public.global_settings where key = 'kill_switch'), \
             exists (select 1 from public.kill_switches where user_id = $1::uuid), \
             (select engaged from public.kill_switches where user_id = $1::uuid)",
        )
        .bind(self.user_id.as_deref())
        .fetch_one(pool)
        .await;
        match got {
            Ok((global_row, global, user_row, user)) => {
                self.errors = 0;
                let rows = Rows {
                    global_row,
                    global,
                    user_row,
                    user,
                };
                self.apply(rows.engaged(self.user_id.as_deref()));
            }
            Err(e) => self.error("reading the kill switches", &e),
        }
    }
}

impl Follower {
    /// Sets the engine's switch on a change of the remote state (`Some(reason)`: engaged).
    /// The first state read only acts if it is engaged (a clear remote state does not clear
    /// a local switch).
    fn apply(&mut self, engaged: Option<String>) {
        let changed = match &self.last {
            None => engaged.is_some(),
            Some(prev) => prev.is_some() != engaged.is_some(),
        };
        self.last = Some(engaged.clone());
        if changed {
            tracing::warn!(engaged = ?engaged, "remote kill switch changed");
            // Changing a row is the operator's explicit, audited act (the triggers write
            // `audit_log`), so clearing both resets the latched switch.
            match engaged {
                Some(reason) => {
                    self.kill.trip(&reason);
                }
                None => {
                    self.kill
                        .reset("global and user kill switches in the database released");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAR: Rows = Rows {
        global_row: true,
        global: Some(false),
        user_row: true,
        user: Some(false),
    };

    #[test]
    fn missing_rows_and_unreadable_values_fail_closed() {
        let u = Some("u1");
        assert_eq!(CLEAR.engaged(u), None);
        let no_user = Rows {
            user_row: false,
            user: None,
            ..CLEAR
        };
        let why = no_user.engaged(u).expect("engaged");
        assert!(why.contains("no kill_switches row for user u1"), "{why}");
        assert_eq!(no_user.engaged(None), None, "no user: only the global row");
        let no_global = Rows {
            global_row: false,
            global: None,
            ..CLEAR
        };
        assert!(no_global
            .engaged(u)
            .expect("engaged")
            .contains("global_settings"));
        let junk = Rows {
            global: None,
            ..CLEAR
        };
        assert!(junk.engaged(u).is_some());
        let mine = Rows {
            user: Some(true),
            ..CLEAR
        };
        assert_eq!(
            mine.engaged(u).as_deref(),
            Some("kill_switches row of user u1 engaged")
        );
    }

    #[test]
    fn edges_only() {
        let kill = KillSwitch::new(true);
        let mut f = Follower {
            kill: kill.clone(),
            user_id: Some("u1".into()),
            last: None,
            errors: 0,
        };
        f.apply(None);
        assert!(
            kill.is_on(),
            "an initial clear remote state keeps the local switch"
        );
        f.apply(Some("global".into()));
        assert!(kill.is_on());
        f.apply(None);
        assert!(!kill.is_on());
        kill.set(true); // local switch
        f.apply(None);
        assert!(kill.is_on(), "no remote change: the local switch stays");
        kill.set(false);
        f.apply(Some("missing row".into()));
        assert!(kill.is_on());
        assert!(kill.reason().contains("missing row"), "{}", kill.reason());
    }
}
