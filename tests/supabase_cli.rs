//! One migration history for `peregrine migrate` and the real Supabase CLI (npm package
//! `supabase`, pinned in `tests/supabase_cli/package.json`, installed by `.ci/run`), on
//! Supabase-like databases on the local PostgreSQL: the CLI pushes, lists and pushes again;
//! the engine writes exactly the history rows the CLI writes; each tool follows the other;
//! an older engine's `_sqlx_migrations` is taken over; every migration runs again cleanly.
//!
//! The CLI runs with `HOME` in a temporary directory and every HTTP(S) request sent to a
//! closed local port (`HTTPS_PROXY`), so its version check and telemetry never leave the
//! machine; its only connection is the PostgreSQL one to 127.0.0.1. Without the CLI the
//! tests are skipped loudly, and fail under `CI=true`.

mod pg_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use pg_support::{bare_db, Grants, TestDb};
use sqlx::{Connection, PgConnection, Row};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The pinned CLI, or `None` (with a loud message) outside CI when it is not installed.
fn cli() -> Option<PathBuf> {
    let path = std::env::var_os("SUPABASE_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("tests/supabase_cli/node_modules/.bin/supabase"));
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true and the Supabase CLI is missing at {} (.ci/run installs it: npm ci --prefix tests/supabase_cli)",
            path.display()
        );
    }
    eprintln!(
        "\n*** SKIPPED: Supabase CLI not installed at {}. Run `npm ci --prefix tests/supabase_cli`. ***\n",
        path.display()
    );
    None
}

/// A scratch CLI project: `supabase/migrations/` copied from the repo (the CLI writes
/// `supabase/.temp/` into its workdir), and a home of its own.
struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mig = dir.path().join("supabase/migrations");
        std::fs::create_dir_all(&mig).expect("migrations dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home dir");
        for e in std::fs::read_dir(repo().join("supabase/migrations")).expect("repo migrations") {
            let e = e.expect("dir entry");
            std::fs::copy(e.path(), mig.join(e.file_name())).expect("copy migration");
        }
        Self { dir }
    }

    /// Runs `supabase <args> --db-url <db>`; returns (success, stdout + stderr).
    fn run(&self, cli: &Path, args: &[&str], db: &TestDb) -> (bool, String) {
        let out = Command::new(cli)
            .arg("--workdir")
            .arg(self.dir.path())
            .args(args)
            .arg("--db-url")
            .arg(db.url())
            .env("HOME", self.dir.path().join("home"))
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "")
            .env("DO_NOT_TRACK", "1")
            .env("SUPABASE_TELEMETRY_DISABLED", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run the Supabase CLI");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn push(&self, cli: &Path, db: &TestDb) -> String {
        let (ok, text) = self.run(cli, &["db", "push", "--yes"], db);
        assert!(ok, "supabase db push failed:\n{text}");
        text
    }

    fn list(&self, cli: &Path, db: &TestDb) -> String {
        let (ok, text) = self.run(cli, &["migration", "list"], db);
        assert!(ok, "supabase migration list failed:\n{text}");
        text
    }
}

fn versions() -> Vec<&'static str> {
    peregrine_engine::sink::pg_migrate::MIGRATIONS
        .iter()
        .map(|m| m.version())
        .collect()
}

/// The history rows: (version, name, statements), by version.
async fn history(c: &mut PgConnection) -> Vec<(String, String, Vec<String>)> {
    sqlx::query(
        "select version, name, statements from supabase_migrations.schema_migrations \
         order by version",
    )
    .fetch_all(c)
    .await
    .expect("read the history")
    .into_iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// Every local version shows as applied remotely in `migration list`.
fn assert_listed_remote(list: &str) {
    for v in versions() {
        let line = list
            .lines()
            .find(|l| l.contains(v))
            .unwrap_or_else(|| panic!("{v} missing from migration list:\n{list}"));
        assert_eq!(
            line.matches(v).count(),
            2,
            "{v} not applied remotely per migration list:\n{list}"
        );
    }
}

async fn sqlx_tables(c: &mut PgConnection) -> i64 {
    sqlx::query_scalar("select count(*) from pg_tables where tablename = '_sqlx_migrations'")
        .fetch_one(c)
        .await
        .expect("catalog")
}

#[tokio::test]
async fn cli_push_list_push_and_the_engine_follow_each_other() {
    let Some(cli) = cli() else { return };
    let Some(by_cli) = bare_db("cli_first", Grants::None).await else {
        return;
    };
    let Some(by_engine) = bare_db("engine_first", Grants::None).await else {
        return;
    };
    let wd = Workdir::new();

    // The CLI: push, list, push again.
    let out = wd.push(&cli, &by_cli);
    for v in versions() {
        assert!(out.contains(v), "push did not apply {v}:\n{out}");
    }
    assert_listed_remote(&wd.list(&cli, &by_cli));
    let again = wd.push(&cli, &by_cli);
    assert!(again.contains("up to date"), "second push:\n{again}");
    // ... and the engine after it applies nothing.
    let applied = peregrine_engine::sink::pg::migrate(&by_cli.url())
        .await
        .expect("peregrine migrate after the CLI");
    assert!(applied.is_empty(), "{applied:?}");

    // The engine first: the same history rows as the CLI's, byte for byte; the CLI then
    // finds nothing to push.
    let applied = peregrine_engine::sink::pg::migrate(&by_engine.url())
        .await
        .expect("peregrine migrate");
    assert_eq!(applied.len(), versions().len());
    let (mut a, mut b) = (by_cli.conn().await, by_engine.conn().await);
    let (ha, hb) = (history(&mut a).await, history(&mut b).await);
    assert_eq!(ha.len(), versions().len());
    assert_eq!(ha, hb, "the engine's history rows differ from the CLI's");
    assert_eq!(sqlx_tables(&mut b).await, 0);
    let out = wd.push(&cli, &by_engine);
    assert!(out.contains("up to date"), "push after the engine:\n{out}");
    assert_listed_remote(&wd.list(&cli, &by_engine));
    a.close().await.ok();
    b.close().await.ok();
    by_cli.drop_db().await;
    by_engine.drop_db().await;
}

#[tokio::test]
async fn an_older_engines_sqlx_history_is_taken_over() {
    let Some(cli) = cli() else { return };
    let Some(db) = bare_db("sqlx_takeover", Grants::None).await else {
        return;
    };
    // What an older engine left: the first two migrations applied by sqlx, its history table.
    let mut c = db.conn().await;
    let old = &peregrine_engine::sink::pg_migrate::MIGRATIONS[..2];
    sqlx::raw_sql(
        "create table public._sqlx_migrations (version bigint primary key, description text \
         not null, installed_on timestamptz not null default now(), success boolean not null, \
         checksum bytea not null, execution_time bigint not null)",
    )
    .execute(&mut c)
    .await
    .expect("sqlx history");
    for m in old {
        sqlx::raw_sql(m.sql)
            .execute(&mut c)
            .await
            .expect("old migration");
        sqlx::query("insert into public._sqlx_migrations values ($1, $2, now(), true, '\\x00', 1)")
            .bind(m.version().parse::<i64>().expect("numeric version"))
            .bind(m.name().replace('_', " "))
            .execute(&mut c)
            .await
            .expect("sqlx history row");
    }
    let applied = peregrine_engine::sink::pg::migrate(&db.url())
        .await
        .expect("peregrine migrate over an sqlx history");
    assert_eq!(applied.len(), versions().len() - old.len(), "{applied:?}");
    assert_eq!(sqlx_tables(&mut c).await, 0, "_sqlx_migrations left behind");
    assert_eq!(history(&mut c).await.len(), versions().len());
    let out = Workdir::new().push(&cli, &db);
    assert!(
        out.contains("up to date"),
        "push after the take-over:\n{out}"
    );
    c.close().await.ok();
    db.drop_db().await;
}

#[tokio::test]
async fn unknown_versions_are_refused_and_migrations_run_again_cleanly() {
    let Some(db) = bare_db("rerun", Grants::None).await else {
        return;
    };
    peregrine_engine::sink::pg::migrate(&db.url())
        .await
        .expect("peregrine migrate");
    let mut c = db.conn().await;
    let schema = || {
        let out = Command::new("pg_dump")
            .args(["--schema-only", "--no-owner", &db.url()])
            .output()
            .expect("pg_dump");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // `\restrict <random key>` lines differ between any two dumps.
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let before = schema();
    // Every migration again, in order, on the migrated database: no error, same schema.
    for m in peregrine_engine::sink::pg_migrate::MIGRATIONS {
        sqlx::raw_sql(m.sql)
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("re-running {}: {e}", m.file));
    }
    let after = schema();
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .take(5)
        .collect();
    assert!(
        before == after,
        "re-running the migrations changed the schema: {changed:?}"
    );

    // A version this engine does not know (a newer schema): refused, nothing applied.
    sqlx::query("insert into supabase_migrations.schema_migrations (version, name) values ('29990101000000', 'future')")
        .execute(&mut c)
        .await
        .expect("future version");
    let err = peregrine_engine::sink::pg::migrate(&db.url())
        .await
        .expect_err("an unknown version is refused");
    assert!(err.to_string().contains("29990101000000"), "{err}");
    c.close().await.ok();
    db.drop_db().await;
}
