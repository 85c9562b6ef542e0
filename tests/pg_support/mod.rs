//! Shared set-up for the PostgreSQL tests: a database of its own per test (so tests run in
//! parallel), the Supabase stub, the engine's migrations, and two users.
//!
//! `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`) names the server and
//! a superuser to create databases with. Under `CI=true` an unreachable server fails the
//! test; elsewhere the test is skipped with a loud message naming the variable.

#![allow(dead_code)]

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// Default server when `DATABASE_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// What Supabase provides before the project's migrations (test-only).
pub const SUPABASE_STUB: &str = include_str!("supabase_stub.sql");
/// Two users of the wider system.
pub const USER_A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
/// The second user.
pub const USER_B: &str = "bbbbbbbb-0000-4000-8000-000000000002";

/// The server URL from the environment.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// A database created for one test, migrated, with users A and B.
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// Options to connect to it directly.
    pub opts: PgConnectOptions,
    /// Host and port of the server.
    pub host: String,
    /// Port of the server.
    pub port: u16,
}

impl TestDb {
    /// A URL for this database through `host:port` (e.g. a proxy).
    pub fn url_via(&self, host: &str, port: u16) -> String {
        let user = self.opts.get_username();
        format!("postgres://{user}@{host}:{port}/{}", self.name)
    }

    /// A URL for this database on the server itself.
    pub fn url(&self) -> String {
        self.url_via(&self.host, self.port)
    }

    /// The engine's login role for this database: a member of `peregrine_engine` (the role
    /// the migrations create) serving users A and B (`private.engine_users`).
    pub fn engine_role(&self) -> String {
        format!("pe_{}", self.name)
    }

    /// A URL for this database through `host:port`, as the engine's login role.
    pub fn engine_url_via(&self, host: &str, port: u16) -> String {
        format!(
            "postgres://{}@{host}:{port}/{}",
            self.engine_role(),
            self.name
        )
    }

    /// A URL for this database on the server itself, as the engine's login role (what the
    /// engine connects with in tests: not the owner, no RLS bypass).
    pub fn engine_url(&self) -> String {
        self.engine_url_via(&self.host, self.port)
    }

    /// A connection as the engine's login role.
    pub async fn engine_conn(&self) -> PgConnection {
        self.opts
            .clone()
            .username(&self.engine_role())
            .connect()
            .await
            .expect("connect as the engine's role")
    }

    /// A connection to this database (as the superuser).
    pub async fn conn(&self) -> PgConnection {
        self.opts
            .connect()
            .await
            .expect("connect to the test database")
    }

    /// Drops the database (best effort; a failed test leaves it for inspection and the
    /// next run of the same test replaces it).
    pub async fn drop_db(self) {
        if let Ok(mut c) = admin_opts().connect().await {
            let _ = sqlx::raw_sql(&format!(
                "drop database if exists {} with (force)",
                self.name
            ))
            .execute(&mut c)
            .await;
            let _ = sqlx::raw_sql(&format!("drop role if exists \"{}\"", self.engine_role()))
                .execute(&mut c)
                .await;
        }
    }
}

fn admin_opts() -> PgConnectOptions {
    server_url()
        .parse::<PgConnectOptions>()
        .expect("DATABASE_URL is a valid postgres URL")
}

/// Default privileges a Supabase project gives new objects in `public`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grants {
    /// Today's projects: none (plain PostgreSQL has none either).
    None,
    /// Older projects: ALL on every new table, sequence and function to `anon`,
    /// `authenticated` and `service_role` (Supabase's initial schema script).
    Legacy,
}

/// What older Supabase projects set up (test-only), for objects the migrating role creates.
pub const LEGACY_DEFAULT_GRANTS: &str = include_str!("legacy_default_grants.sql");

/// Creates database `peregrine_t_<tag>` (replacing a leftover), applies the Supabase stub and
/// the engine's migrations (`peregrine_engine::sink::pg::migrate`, as `peregrine migrate`
/// does), and inserts users A and B. `None` (after a loud message) when the server is not
/// reachable outside CI.
pub async fn test_db(tag: &str) -> Option<TestDb> {
    test_db_with(tag, Grants::None).await
}

/// [`test_db`] on a project with the given default privileges.
pub async fn test_db_with(tag: &str, grants: Grants) -> Option<TestDb> {
    let db = bare_db(tag, grants).await?;
    let applied = peregrine_engine::sink::pg::migrate(&db.url())
        .await
        .expect("peregrine migrate");
    assert!(!applied.is_empty());
    let mut c = db.conn().await;
    sqlx::query("insert into auth.users (id, email) values ($1::uuid, 'a@x'), ($2::uuid, 'b@x')")
        .bind(USER_A)
        .bind(USER_B)
        .execute(&mut c)
        .await
        .expect("users");
    // Each user's own kill switch, released (a missing row refuses every order).
    sqlx::query("insert into kill_switches (user_id) values ($1::uuid), ($2::uuid)")
        .bind(USER_A)
        .bind(USER_B)
        .execute(&mut c)
        .await
        .expect("kill switch rows");
    // The engine's login role (roles are cluster-wide: one per test database), serving A and B.
    let role = db.engine_role();
    sqlx::raw_sql(&format!(
        "do $$ begin \
           if not exists (select 1 from pg_roles where rolname = '{role}') then \
             create role \"{role}\" login; \
           end if; \
         exception when unique_violation or duplicate_object then null; \
         end $$; \
         grant peregrine_engine to \"{role}\"; \
         insert into private.engine_users (engine_role, user_id) \
         values ('{role}', '{USER_A}'), ('{role}', '{USER_B}')"
    ))
    .execute(&mut c)
    .await
    .expect("the engine's login role");
    c.close().await.ok();
    Some(db)
}

/// Creates database `peregrine_t_<tag>` (replacing a leftover) with only what Supabase
/// provides before any migration: the stub, and the given default privileges.
pub async fn bare_db(tag: &str, grants: Grants) -> Option<TestDb> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let opts = admin_opts();
    let mut admin = match tokio::time::timeout(Duration::from_secs(10), opts.connect()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) if !in_ci => {
            eprintln!("\n*** SKIPPED: PostgreSQL not reachable ({e}). Set DATABASE_URL to run this test. ***\n");
            return None;
        }
        Err(_) if !in_ci => {
            eprintln!("\n*** SKIPPED: PostgreSQL connect timed out. Set DATABASE_URL to run this test. ***\n");
            return None;
        }
        Ok(Err(e)) => {
            panic!("CI=true and PostgreSQL is not reachable (DATABASE_URL or {DEFAULT_URL}): {e}")
        }
        Err(_) => {
            panic!("CI=true and connecting to PostgreSQL timed out (DATABASE_URL or {DEFAULT_URL})")
        }
    };
    let name = format!("peregrine_t_{tag}");
    sqlx::raw_sql(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await
        .expect("drop the leftover test database");
    sqlx::raw_sql(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    admin.close().await.ok();
    let db = TestDb {
        opts: opts.clone().database(&name),
        host: opts.get_host().to_string(),
        port: opts.get_port(),
        name,
    };
    let mut c = db.conn().await;
    sqlx::raw_sql(SUPABASE_STUB)
        .execute(&mut c)
        .await
        .expect("Supabase stub");
    if grants == Grants::Legacy {
        sqlx::raw_sql(LEGACY_DEFAULT_GRANTS)
            .execute(&mut c)
            .await
            .expect("legacy default privileges");
    }
    c.close().await.ok();
    Some(db)
}
