//! Grants stated, not inherited: the same rights after `peregrine migrate` on a project
//! with Supabase's legacy default privileges (ALL to the API roles on every new object in
//! `public`) and on one with none (today's projects, plain PostgreSQL), and exactly the
//! rights the migrations state: nothing for anon, SELECT for authenticated, append-only or
//! upsert-only ledger tables for service_role, an audit log nobody can change, no function
//! executable by anon; and the engine's own role (`peregrine_engine`, not the owner, no
//! BYPASSRLS) with exactly what a running engine needs, for the users its login role serves
//! only. (Migrations after `20261203090000_explicit_grants.sql` state their own tables'
//! grants the same way.)

mod pg_support;

use std::collections::BTreeSet;

use pg_support::{test_db_with, Grants, TestDb, USER_A, USER_B};
use sqlx::{Connection, PgConnection};

const ROLES: &str = "(values ('anon'), ('authenticated'), ('service_role'), ('peregrine_engine')) \
                     as r (name)";
/// A third user, whom the test's engine role does not serve.
const USER_C: &str = "cccccccc-0000-4000-8000-000000000003";

/// Every privilege an API role holds on our tables, sequences and functions, as
/// `object role privilege` lines.
async fn rights(c: &mut PgConnection) -> BTreeSet<String> {
    let sql = format!(
        "select c.relname || ' ' || r.name || ' ' || p.priv \
         from pg_class c join pg_namespace n on n.oid = c.relnamespace, {ROLES}, \
         (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), \
                 ('REFERENCES'), ('TRIGGER')) as p (priv) \
         where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'p') \
           and has_table_privilege(r.name, c.oid, p.priv) \
         union all \
         select c.relname || ' ' || r.name || ' ' || p.priv \
         from pg_class c join pg_namespace n on n.oid = c.relnamespace, {ROLES}, \
         (values ('USAGE'), ('SELECT'), ('UPDATE')) as p (priv) \
         where n.nspname = 'public' and c.relkind = 'S' \
           and has_sequence_privilege(r.name, c.oid, p.priv) \
         union all \
         select n.nspname || '.' || f.proname || ' ' || r.name || ' EXECUTE' \
         from pg_proc f join pg_namespace n on n.oid = f.pronamespace, {ROLES} \
         where n.nspname in ('public', 'private') \
           and has_function_privilege(r.name, f.oid, 'EXECUTE')"
    );
    sqlx::query_scalar::<_, String>(&sql)
        .fetch_all(c)
        .await
        .expect("privileges")
        .into_iter()
        .collect()
}

/// What the migrations state (see `20261203090000_explicit_grants.sql`).
fn stated() -> BTreeSet<String> {
    let mut want = BTreeSet::new();
    let mut add = |tables: &[&str], role: &str, privs: &[&str]| {
        for t in tables {
            for p in privs {
                want.insert(format!("{t} {role} {p}"));
            }
        }
    };
    let all = [
        "user_roles",
        "global_settings",
        "audit_log",
        "orders",
        "fills",
        "positions",
        "risk_events",
        "signals",
        "latency_stats",
        "venue_checkpoints",
        "order_events",
        "kill_switches",
        "runs",
        "equity_snapshots",
        "strategies",
        "strategy_reloads",
        "user_exchange_keys",
        "held_orders",
    ];
    add(&all, "authenticated", &["SELECT"]);
    add(&all, "service_role", &["SELECT"]);
    add(
        &[
            "orders",
            "positions",
            "venue_checkpoints",
            "global_settings",
            "runs",
            "held_orders",
        ],
        "service_role",
        &["INSERT", "UPDATE"],
    );
    add(
        &[
            "fills",
            "order_events",
            "equity_snapshots",
            "strategy_reloads",
            "risk_events",
            "signals",
            "latency_stats",
            "audit_log",
        ],
        "service_role",
        &["INSERT"],
    );
    add(
        &[
            "user_roles",
            "kill_switches",
            "strategies",
            "user_exchange_keys",
        ],
        "service_role",
        &["INSERT", "UPDATE", "DELETE"],
    );
    // Deleting the global switch is allowed: audited, and the engine fails closed.
    add(&["global_settings"], "service_role", &["DELETE"]);
    // The engine's role (`20261204090000_engine_role.sql`).
    add(
        &[
            "orders",
            "positions",
            "venue_checkpoints",
            "runs",
            "held_orders",
        ],
        "peregrine_engine",
        &["SELECT", "INSERT", "UPDATE"],
    );
    add(&["fills"], "peregrine_engine", &["SELECT", "INSERT"]);
    add(
        &[
            "order_events",
            "risk_events",
            "signals",
            "latency_stats",
            "equity_snapshots",
            "strategy_reloads",
            "audit_log",
        ],
        "peregrine_engine",
        &["INSERT"],
    );
    add(
        &[
            "kill_switches",
            "strategies",
            "user_exchange_keys",
            "global_settings",
        ],
        "peregrine_engine",
        &["SELECT"],
    );
    want.insert("private.is_admin authenticated EXECUTE".into());
    want.insert("private.served_users peregrine_engine EXECUTE".into());
    want.insert("private.engine_exchange_keys peregrine_engine EXECUTE".into());
    want
}

/// The engine's login role: not a superuser, no BYPASSRLS, owns nothing; reads and writes
/// the rows of the users it serves (A and B) and nobody else's (C), reads their keys only
/// through `private.engine_exchange_keys`, and nothing in the vault.
async fn check_engine_role(db: &TestDb, c: &mut PgConnection) {
    let (superuser, bypass): (bool, bool) = sqlx::query_as(
        "select bool_or(rolsuper), bool_or(rolbypassrls) from pg_roles \
         where rolname in ('peregrine_engine', $1)",
    )
    .bind(db.engine_role())
    .fetch_one(&mut *c)
    .await
    .expect("engine roles");
    assert!(!superuser && !bypass, "the engine role bypasses RLS");
    let owned: i64 = sqlx::query_scalar(
        "select count(*) from pg_class where relowner in \
         (select oid from pg_roles where rolname in ('peregrine_engine', $1))",
    )
    .bind(db.engine_role())
    .fetch_one(&mut *c)
    .await
    .expect("owned");
    assert_eq!(owned, 0, "the engine role owns tables");
    sqlx::query("insert into auth.users (id, email) values ($1::uuid, 'c@x')")
        .bind(USER_C)
        .execute(&mut *c)
        .await
        .expect("user C");
    for user in [USER_A, USER_C] {
        sqlx::raw_sql(&format!(
            "insert into risk_events (user_id, id, ts_ns, reason, message) \
             values ('{user}', 'owner-{user}', 1, 'kill_switch', 'm'); \
             insert into user_exchange_keys (user_id, venue, key_type, api_key_id, api_secret_id) \
             values ('{user}', 'binance', 'hmac', vault.create_secret('k-{user}'), \
                     vault.create_secret('s-{user}')) on conflict do nothing"
        ))
        .execute(&mut *c)
        .await
        .expect("rows of A and C");
    }
    let mut e = db.engine_conn().await;
    let risk = |user: &str, id: &str| {
        format!(
            "insert into risk_events (user_id, id, ts_ns, reason, message) \
             values ('{user}', '{id}', 1, 'kill_switch', 'm')"
        )
    };
    for (user, served) in [(USER_A, true), (USER_B, true), (USER_C, false)] {
        assert_eq!(
            allowed(&mut e, None, &risk(user, "engine-1")).await,
            served,
            "engine writes a risk event of {user}"
        );
        let keys: i64 = sqlx::query_scalar(
            "select count(*) from private.engine_exchange_keys($1::uuid, 'binance', 'default')",
        )
        .bind(user)
        .fetch_one(&mut e)
        .await
        .expect("engine keys");
        assert_eq!(keys, i64::from(served), "keys of {user}");
    }
    let key_rows: Vec<String> =
        sqlx::query_scalar("select user_id::text from user_exchange_keys order by 1")
            .fetch_all(&mut e)
            .await
            .expect("key rows");
    assert!(!key_rows.contains(&USER_C.to_string()), "{key_rows:?}");
    for sql in [
        "select decrypted_secret from vault.decrypted_secrets",
        "select secret from vault.secrets",
        "select * from user_roles",
        "select * from private.engine_users",
        "insert into private.engine_users values (current_user, 'cccccccc-0000-4000-8000-000000000003')",
        "delete from fills",
        "update fills set qty = 0",
        "truncate orders",
        "update kill_switches set engaged = false",
        "update global_settings set value = '{}'",
        "select * from risk_events",
    ] {
        assert!(!allowed(&mut e, None, sql).await, "the engine could: {sql}");
    }
    e.close().await.ok();
}

/// Runs `sql` in a savepoint as `role` (or as the owner with `None`); true if it succeeded.
async fn allowed(c: &mut PgConnection, role: Option<&str>, sql: &str) -> bool {
    let mut tx = c.begin().await.expect("begin");
    if let Some(role) = role {
        sqlx::raw_sql(&format!("set local role {role}"))
            .execute(&mut *tx)
            .await
            .expect("set role");
    }
    let ok = sqlx::raw_sql(sql).execute(&mut *tx).await.is_ok();
    tx.rollback().await.expect("rollback");
    ok
}

async fn check(db: &TestDb) -> BTreeSet<String> {
    let mut c = db.conn().await;
    let got = rights(&mut c).await;
    // The audit log: append-only for everyone, the owner (a superuser here) included.
    sqlx::query(
        "insert into audit_log (user_id, actor_kind, action, entity, entity_id) \
         values ($1::uuid, 'system', 'test', 'test', '1')",
    )
    .bind(USER_A)
    .execute(&mut c)
    .await
    .expect("append to the audit log");
    for sql in [
        "update audit_log set action = 'changed'",
        "delete from audit_log",
        "truncate audit_log",
    ] {
        assert!(!allowed(&mut c, None, sql).await, "owner could: {sql}");
        assert!(
            !allowed(&mut c, Some("service_role"), sql).await,
            "service_role could: {sql}"
        );
    }
    // Deleting a user keeps its audit trail (no cascade into an append-only table).
    assert!(
        allowed(
            &mut c,
            None,
            &format!("delete from auth.users where id = '{USER_A}'")
        )
        .await
    );
    // Ledger rows: service_role appends or upserts, never deletes or truncates.
    for sql in [
        "delete from fills",
        "delete from orders",
        "truncate positions",
        "update fills set qty = 0",
        "update risk_events set message = 'x'",
    ] {
        assert!(
            !allowed(&mut c, Some("service_role"), sql).await,
            "service_role could: {sql}"
        );
    }
    // An edge function manages roles.
    assert!(
        allowed(
            &mut c,
            Some("service_role"),
            &format!(
                "insert into user_roles (user_id, role) values ('{USER_A}', 'trader'); \
                 update user_roles set role = 'viewer' where user_id = '{USER_A}'; \
                 delete from user_roles where user_id = '{USER_A}'"
            )
        )
        .await
    );
    // Exchange keys in the Vault: an edge function (service_role) stores a user's key and
    // reads it decrypted; browsers and anon reach nothing in the vault, and a browser's
    // own key row holds no secret.
    let store = format!(
        "insert into user_exchange_keys (user_id, venue, key_type, api_key_id, api_secret_id) \
         values ('{USER_B}', 'binance', 'hmac', \
                 vault.create_secret('key-b', 'binance/{USER_B}/key'), \
                 vault.create_secret('secret-b', 'binance/{USER_B}/secret'))"
    );
    assert!(
        allowed(&mut c, Some("service_role"), &store).await,
        "service_role stores keys"
    );
    sqlx::raw_sql(&store)
        .execute(&mut c)
        .await
        .expect("keys of B");
    let read = "select s.decrypted_secret from user_exchange_keys k \
                join vault.decrypted_secrets s on s.id = k.api_secret_id";
    assert!(
        allowed(&mut c, Some("service_role"), read).await,
        "service_role reads keys"
    );
    for role in ["anon", "authenticated"] {
        for sql in [
            "select decrypted_secret from vault.decrypted_secrets",
            "select secret from vault.secrets",
            "select vault.create_secret('x')",
        ] {
            assert!(
                !allowed(&mut c, Some(role), sql).await,
                "{role} could: {sql}"
            );
        }
    }
    let vault_rights: Vec<String> = sqlx::query_scalar(
        "select r || ' ' || o from (values ('anon'), ('authenticated'), ('service_role')) v (r), \
         (values ('vault.secrets'), ('vault.decrypted_secrets')) t (o) \
         where has_table_privilege(r, o, 'SELECT') order by 1",
    )
    .fetch_all(&mut c)
    .await
    .expect("vault rights");
    assert_eq!(vault_rights, ["service_role vault.decrypted_secrets"]);
    check_engine_role(db, &mut c).await;
    c.close().await.ok();
    got
}

#[tokio::test]
async fn both_default_privilege_regimes_end_with_the_stated_rights() {
    let Some(legacy) = test_db_with("grants_legacy", Grants::Legacy).await else {
        return;
    };
    let Some(none) = test_db_with("grants_none", Grants::None).await else {
        return;
    };
    // The legacy regime really grants everything to a table created without our revokes.
    let mut c = legacy.conn().await;
    sqlx::raw_sql("create table public.probe (x int)")
        .execute(&mut c)
        .await
        .expect("probe table");
    let probe: bool =
        sqlx::query_scalar("select has_table_privilege('anon', 'public.probe', 'DELETE')")
            .fetch_one(&mut c)
            .await
            .expect("probe privilege");
    assert!(
        probe,
        "the legacy stub must grant ALL to anon on new tables"
    );
    sqlx::raw_sql("drop table public.probe")
        .execute(&mut c)
        .await
        .expect("drop probe");
    c.close().await.ok();

    let (a, b) = (check(&legacy).await, check(&none).await);
    assert_eq!(a, b, "rights differ between the two regimes");
    assert_eq!(a, stated(), "rights differ from the stated ones");
    assert!(!a.iter().any(|r| r.contains(" anon ")), "anon holds rights");
    legacy.drop_db().await;
    none.drop_db().await;
}
