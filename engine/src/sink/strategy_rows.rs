//! Following the run's user's `strategies` rows (Supabase, `supabase/migrations/
//! 20261203150000_strategies.sql`): a row whose name is a configured strategy's is that
//! strategy's definition. Each new version of a row (a version above the last one handled,
//! also the one found at start) is checked off the core thread like a hot-reloaded file
//! ([`crate::strategy::check_source`]; parameters must be a JSON object of TOML-like values,
//! decimals as strings, checked against the script's `param()` calls as at config load), and handed to the core as a [`Reloaded`] with
//! [`ReloadOrigin::Database`]. The core swaps it in between events (validating the
//! parameters against the new source) or refuses it, the old version keeping on, and
//! records the outcome in `strategy_reloads`. `LISTEN strategies` (the table's trigger) plus
//! a poll ([`super::pg_follow`]).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::Sender;
use sqlx::postgres::{PgConnectOptions, PgPool};
use tokio::sync::watch;

use super::pg::lazy_pool;
use super::pg_follow::{follow, Follow};
use crate::strategy::params::{check as params_check, script_params};
use crate::strategy::{check_source, source_hash, ReloadOrigin, Reloaded};

/// The notification channel of the `strategies` trigger.
pub const CHANNEL: &str = "strategies";

/// Follows `user_id`'s rows named like `strategies` (the configured names, by index) on the
/// database `opts` points to, sending each new version to `tx`, until `stop` turns true or
/// the core is gone. Never fails: database problems are logged and retried.
pub async fn follow_strategies(
    opts: PgConnectOptions,
    user_id: String,
    strategies: Vec<String>,
    tx: Sender<Reloaded>,
    poll: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut f = RowFollower {
        user_id,
        index: strategies
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect(),
        names: strategies,
        seen: HashMap::new(),
        tx,
        errors: 0,
    };
    follow(lazy_pool(opts), &[CHANNEL], poll, stop, &mut f).await;
}

struct RowFollower {
    user_id: String,
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Last version handled per strategy name.
    seen: HashMap<String, i64>,
    tx: Sender<Reloaded>,
    errors: u64,
}

impl Follow for RowFollower {
    fn error(&mut self, what: &str, e: &sqlx::Error) {
        if self.errors.is_multiple_of(20) {
            tracing::warn!(error = %e, what, "strategy row follower cannot reach the database (strategies keep running)");
        }
        self.errors += 1;
    }

    async fn read(&mut self, pool: &PgPool) {
        let rows: Result<Vec<(String, String, String, i64)>, sqlx::Error> = sqlx::query_as(
            "select name, source, params::text, version from public.strategies \
             where user_id = $1::uuid and name = any($2) order by name",
        )
        .bind(&self.user_id)
        .bind(&self.names)
        .fetch_all(pool)
        .await;
        let rows = match rows {
            Ok(r) => {
                self.errors = 0;
                r
            }
            Err(e) => return self.error("reading the strategies rows", &e),
        };
        for (name, source, params, version) in rows {
            if self.seen.get(&name).is_some_and(|v| *v >= version) {
                continue;
            }
            self.seen.insert(name.clone(), version);
            let Some(&strategy) = self.index.get(&name) else {
                continue;
            };
            let new = checked(strategy, &name, source, &params, version);
            if self.tx.send(new).is_err() {
                return; // the core has stopped
            }
        }
    }
}

/// A row's version as the core receives it: checked, with the reasons if refused.
fn checked(strategy: usize, name: &str, source: String, params: &str, version: i64) -> Reloaded {
    let label = PathBuf::from(format!("strategies row {name:?} v{version}"));
    let mut refused: Vec<String> = check_source(&label, &source)
        .iter()
        .map(ToString::to_string)
        .collect();
    let params = match serde_json::from_str::<BTreeMap<String, toml::Value>>(params) {
        Ok(p) => Some(p),
        Err(e) => {
            refused.push(format!(
                "{}: params must be an object of strings, numbers, booleans, arrays and \
                 objects (no null): {e}",
                label.display()
            ));
            None
        }
    };
    // The parameters against the script's `param()` calls, as at config load.
    if let (true, Some(p)) = (refused.is_empty(), params.as_ref()) {
        match script_params(&label, &source) {
            Ok(script) => refused.extend(
                params_check(p, &script)
                    .into_iter()
                    .map(|p| format!("{}: params: {}", label.display(), p.message)),
            ),
            Err(e) => refused.push(e.to_string()),
        }
    }
    Reloaded {
        strategy,
        hash: source_hash(&source),
        source,
        params,
        origin: ReloadOrigin::Database { version },
        refused: (!refused.is_empty()).then(|| refused.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_script_or_unusable_params_are_refused_with_reasons() {
        let reads_qty = r#"fn on_trade(t) { limit("buy", t.price, param("qty")); }"#;
        let ok = checked(0, "s", reads_qty.into(), r#"{"qty": "0.1"}"#, 2);
        assert_eq!(ok.refused, None);
        assert_eq!(ok.origin, ReloadOrigin::Database { version: 2 });
        assert_eq!(ok.params.unwrap()["qty"], toml::Value::String("0.1".into()));
        let bad = checked(1, "s", "fn on_trade(t) { let x = ; }".into(), "{}", 3);
        let why = bad.refused.expect("refused");
        assert!(why.contains("strategies row \"s\" v3"), "{why}");
        let null = checked(1, "s", reads_qty.into(), r#"{"qty": null}"#, 4);
        assert!(null.refused.expect("refused").contains("params"));
        // Checked against the script's param() calls as at config load.
        let src = r#"fn on_trade(t) { signal("v", param("level", 2.0)); }"#;
        let typed = checked(0, "s", src.into(), r#"{"level": "high"}"#, 5);
        let why = typed.refused.expect("refused");
        assert!(why.contains("level"), "{why}");
        assert_eq!(
            checked(0, "s", src.into(), r#"{"level": 3.5}"#, 6).refused,
            None
        );
    }
}
