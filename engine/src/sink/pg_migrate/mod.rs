//! `peregrine migrate`: applies `supabase/migrations/` to PostgreSQL and records each one in
//! `supabase_migrations.schema_migrations`, the Supabase CLI's own history table, with the
//! same columns and values the CLI writes (`version` and `name` from the file name
//! `<version>_<name>.sql`, `statements` split as the CLI splits them, see [`split`]). Either
//! tool can therefore follow the other: `supabase db push` skips what the engine applied,
//! and the engine skips what the CLI pushed.
//!
//! Each migration runs in one transaction together with its history row, under an advisory
//! lock (two engines migrating at once apply it once). A database with a version this
//! binary does not know (a newer schema) is refused, as the CLI refuses it. A database
//! migrated by an older engine (history in sqlx's `public._sqlx_migrations`) is taken over:
//! its successful versions are copied into the CLI's table and `_sqlx_migrations` is
//! dropped, in one transaction. The migrations themselves are written to be re-runnable
//! (`if not exists`, guarded `do` blocks), so re-applying one on a database that already
//! has its objects is harmless.

mod split;

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::{Connection, Row};

pub use split::split_statements;

use super::error::{redact_url, SinkError};
use super::pg::connect_options;

/// One embedded migration file.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// File name, `<version>_<name>.sql`.
    pub file: &'static str,
    /// Its SQL.
    pub sql: &'static str,
}

impl Migration {
    /// The version: the digits before the first `_` (the CLI's rule).
    pub fn version(&self) -> &'static str {
        self.file.split_once('_').map_or(self.file, |(v, _)| v)
    }

    /// The name: what follows the first `_`, without `.sql`.
    pub fn name(&self) -> &'static str {
        let rest = self.file.split_once('_').map_or("", |(_, n)| n);
        rest.strip_suffix(".sql").unwrap_or(rest)
    }
}

macro_rules! migration {
    ($file:literal) => {
        Migration {
            file: $file,
            sql: include_str!(concat!("../../../../supabase/migrations/", $file)),
        }
    };
}

/// Every file of `supabase/migrations/`, in version order (a unit test checks that this
/// list is the directory's content).
pub static MIGRATIONS: &[Migration] = &[
    migration!("20261125170000_core_tables.sql"),
    migration!("20261202180000_venue_checkpoints.sql"),
    migration!("20261203090000_explicit_grants.sql"),
    migration!("20261203100000_frontend_schema.sql"),
    migration!("20261203110000_order_events_realtime.sql"),
    migration!("20261203120000_kill_switches.sql"),
    migration!("20261203130000_runs.sql"),
    migration!("20261203140000_equity_snapshots.sql"),
    migration!("20261203150000_strategies.sql"),
    migration!("20261203160000_user_exchange_keys.sql"),
    migration!("20261204090000_engine_role.sql"),
    migration!("20261204190000_held_orders.sql"),
];

/// The CLI's history table, created exactly as the CLI creates it (`supabase/cli`,
/// `pkg/migration/history.go`, read 2026-12-03): schema, table with `version` as primary
/// key, then `statements text[]` and `name text` added if missing.
const CREATE_HISTORY: &str = "SET lock_timeout = '4s'; \
    CREATE SCHEMA IF NOT EXISTS supabase_migrations; \
    CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations \
    (version text NOT NULL PRIMARY KEY); \
    ALTER TABLE supabase_migrations.schema_migrations \
    ADD COLUMN IF NOT EXISTS statements text[]; \
    ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text; \
    RESET lock_timeout";

/// Serializes concurrent `peregrine migrate` runs on one database.
const LOCK_KEY: i64 = 0x7065_7265_6772_696e; // "peregrin"

/// Applies the embedded Supabase migrations to the database at `url` that it has not
/// recorded yet. Returns the file names applied by this call, in order.
pub async fn migrate(url: &str) -> Result<Vec<&'static str>, SinkError> {
    let shown = redact_url(url);
    let opts = connect_options(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await
        .map_err(|source| SinkError::Open {
            url: shown.clone(),
            source,
        })?;
    let mut conn = pool.acquire().await.map_err(|source| SinkError::Open {
        url: shown.clone(),
        source,
    })?;
    let result = run(&mut conn, &shown).await;
    drop(conn);
    pool.close().await;
    result
}

async fn run(conn: &mut PgConnection, shown: &str) -> Result<Vec<&'static str>, SinkError> {
    let sql_err = |what: &str, source: sqlx::Error| SinkError::MigrateSql {
        url: shown.to_string(),
        what: what.to_string(),
        source,
    };
    sqlx::raw_sql(CREATE_HISTORY)
        .execute(&mut *conn)
        .await
        .map_err(|e| sql_err("creating supabase_migrations.schema_migrations", e))?;
    take_over_sqlx_history(conn, shown).await?;

    let recorded: Vec<String> =
        sqlx::query_scalar("SELECT version FROM supabase_migrations.schema_migrations")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| sql_err("reading the migration history", e))?;
    if let Some(unknown) = recorded
        .iter()
        .find(|v| !MIGRATIONS.iter().any(|m| m.version() == v.as_str()))
    {
        return Err(SinkError::MigrateHistory {
            url: shown.to_string(),
            reason: format!(
                "the database has migration {unknown}, which this engine does not know \
                 (migrated by a newer engine or another project?); nothing applied"
            ),
        });
    }

    let mut applied = Vec::new();
    for m in MIGRATIONS {
        if recorded.iter().any(|v| v == m.version()) {
            continue;
        }
        let mut tx = locked_tx(conn)
            .await
            .map_err(|e| sql_err("starting a locked transaction", e))?;
        // Another migrator may have applied it while we waited for the lock.
        let done: bool = sqlx::query_scalar(
            "SELECT exists (SELECT 1 FROM supabase_migrations.schema_migrations \
             WHERE version = $1)",
        )
        .bind(m.version())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| sql_err("reading the migration history", e))?;
        if done {
            continue;
        }
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| sql_err(&format!("applying {}", m.file), e))?;
        record(&mut tx, m)
            .await
            .map_err(|e| sql_err(&format!("recording {}", m.file), e))?;
        tx.commit()
            .await
            .map_err(|e| sql_err(&format!("committing {}", m.file), e))?;
        applied.push(m.file);
    }
    Ok(applied)
}

/// A transaction holding the migration lock (released at its end).
async fn locked_tx(
    conn: &mut PgConnection,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Inserts the history row of `m`, as the CLI writes it (kept if it is already there).
async fn record(conn: &mut PgConnection, m: &Migration) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) \
         VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING",
    )
    .bind(m.version())
    .bind(m.name())
    .bind(split_statements(m.sql))
    .execute(conn)
    .await
    .map(|_| ())
}

/// Moves an older engine's history (`public._sqlx_migrations`) into the CLI's table and
/// drops it. A failed (dirty) sqlx migration or a version this binary does not know stops
/// the migration: the database needs a look by hand.
async fn take_over_sqlx_history(conn: &mut PgConnection, shown: &str) -> Result<(), SinkError> {
    let sql_err = |what: &str, source: sqlx::Error| SinkError::MigrateSql {
        url: shown.to_string(),
        what: what.to_string(),
        source,
    };
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| sql_err("looking for _sqlx_migrations", e))?;
    if !exists {
        return Ok(());
    }
    let mut tx = locked_tx(conn)
        .await
        .map_err(|e| sql_err("starting a locked transaction", e))?;
    let rows = match sqlx::query("SELECT version, success FROM public._sqlx_migrations")
        .fetch_all(&mut *tx)
        .await
    {
        Ok(rows) => rows,
        // Taken over by a concurrent migrator while we waited for the lock.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => return Ok(()),
        Err(e) => return Err(sql_err("reading _sqlx_migrations", e)),
    };
    for row in rows {
        let version: i64 = row
            .try_get(0)
            .map_err(|e| sql_err("reading _sqlx_migrations", e))?;
        let success: bool = row
            .try_get(1)
            .map_err(|e| sql_err("reading _sqlx_migrations", e))?;
        let history = |reason: String| SinkError::MigrateHistory {
            url: shown.to_string(),
            reason,
        };
        if !success {
            return Err(history(format!(
                "_sqlx_migrations records migration {version} as failed; repair it by hand"
            )));
        }
        let v = version.to_string();
        let Some(m) = MIGRATIONS.iter().find(|m| m.version() == v) else {
            return Err(history(format!(
                "_sqlx_migrations has migration {version}, which this engine does not know"
            )));
        };
        record(&mut tx, m)
            .await
            .map_err(|e| sql_err("copying the sqlx history", e))?;
    }
    sqlx::raw_sql("DROP TABLE public._sqlx_migrations")
        .execute(&mut *tx)
        .await
        .map_err(|e| sql_err("dropping _sqlx_migrations", e))?;
    tx.commit()
        .await
        .map_err(|e| sql_err("committing the history take-over", e))?;
    tracing::info!(url = %shown, "took over the migration history of _sqlx_migrations");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn the_embedded_list_is_the_migrations_directory() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../supabase/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("supabase/migrations")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.file).collect();
        assert_eq!(files, listed);
    }

    #[test]
    fn versions_and_names_follow_the_cli() {
        let m = &MIGRATIONS[0];
        assert_eq!(m.version(), "20261125170000");
        assert_eq!(m.name(), "core_tables");
        for m in MIGRATIONS {
            assert!(
                m.version().bytes().all(|b| b.is_ascii_digit()),
                "{}",
                m.file
            );
        }
    }
}
