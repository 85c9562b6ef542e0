//! Sink throughput into the local PostgreSQL, in fills per second: the three ways of sending
//! a batch of fills (all idempotent on the fills' natural key), in the same run:
//! `UNNEST` of bound arrays (what the sink uses), the multi-row `VALUES` baseline, and
//! `COPY` into a staging table followed by `INSERT … SELECT … ON CONFLICT DO NOTHING`.
//! Each iteration inserts one batch of new fills in one transaction. A last case measures
//! the whole sink (channel, spool with fsync per burst, batching, UNNEST writes, spool
//! commits).
//!
//! Needs PostgreSQL at `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! it creates the database `peregrine_bench_sink` and drops it at the end. Skipped with a message when
//! the server is unreachable.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use peregrine_engine::events::{FillRow, SinkEvent};
use peregrine_engine::sink::pg::{insert_fills, FillInsert};
use peregrine_engine::sink::{spawn_sink, SinkConfig, SpoolConfig};
use peregrine_engine::types::Side;
use rust_decimal_macros::dec;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

const USER: &str = "cccccccc-0000-4000-8000-000000000003";
static NEXT_TRADE: AtomicI64 = AtomicI64::new(1);

fn fills(n: usize) -> Vec<FillRow> {
    (0..n)
        .map(|_| {
            let t = NEXT_TRADE.fetch_add(1, Ordering::Relaxed);
            FillRow {
                venue: "binance".into(),
                symbol: "BTC-USDT".into(),
                trade_id: t,
                client_order_id: format!("bench-{}", t / 4),
                strategy: "bench".into(),
                side: if t % 2 == 0 { Side::Buy } else { Side::Sell },
                price: dec!(60000.01),
                qty: dec!(0.00123),
                fee: dec!(0.0000012),
                fee_asset: "BTC".into(),
                is_maker: t % 3 == 0,
                exch_ts_ns: 1_764_090_000_000_000_000 + t,
            }
        })
        .collect()
}

/// Creates the bench database with the Supabase stub and the migrations; its URL.
async fn setup() -> Option<String> {
    let server = std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    let opts: PgConnectOptions = server.parse().ok()?;
    let mut admin = match opts.connect().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "*** sink bench SKIPPED: PostgreSQL not reachable ({e}); set DATABASE_URL ***"
            );
            return None;
        }
    };
    for sql in [
        "drop database if exists peregrine_bench_sink with (force)",
        "create database peregrine_bench_sink",
    ] {
        sqlx::raw_sql(sql).execute(&mut admin).await.expect(sql);
    }
    let url = format!(
        "postgres://{}@{}:{}/peregrine_bench_sink",
        opts.get_username(),
        opts.get_host(),
        opts.get_port()
    );
    let mut c = opts
        .clone()
        .database("peregrine_bench_sink")
        .connect()
        .await
        .expect("connect to the bench database");
    sqlx::raw_sql(include_str!("../tests/pg_support/supabase_stub.sql"))
        .execute(&mut c)
        .await
        .expect("Supabase stub");
    peregrine_engine::sink::pg::migrate(&url)
        .await
        .expect("migrations");
    sqlx::query("insert into auth.users (id) values ($1::uuid)")
        .bind(USER)
        .execute(&mut c)
        .await
        .expect("bench user");
    Some(url)
}

fn bench_sink(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(url) = rt.block_on(setup()) else {
        return;
    };
    let mut conn = rt
        .block_on(
            peregrine_engine::sink::pg::connect_options(&url)
                .expect("options")
                .connect(),
        )
        .expect("connect");

    let mut g = c.benchmark_group("sink_fills_pg");
    for batch in [1_000usize, 5_000] {
        g.throughput(Throughput::Elements(batch as u64));
        for (name, method) in [
            ("unnest", FillInsert::Unnest),
            ("values_baseline", FillInsert::Values),
            ("copy", FillInsert::Copy),
        ] {
            g.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, &n| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let rows = fills(n);
                        let refs: Vec<(u64, &FillRow)> = rows
                            .iter()
                            .enumerate()
                            .map(|(i, f)| (i as u64 + 1, f))
                            .collect();
                        let start = Instant::now();
                        let inserted = rt.block_on(async {
                            let mut tx = conn.begin().await.expect("begin");
                            let k = insert_fills(&mut tx, USER, &refs, method)
                                .await
                                .expect("insert");
                            tx.commit().await.expect("commit");
                            k
                        });
                        total += start.elapsed();
                        assert_eq!(inserted, n as u64);
                    }
                    total
                })
            });
        }
    }
    g.finish();

    // The whole sink: 20,000 fills through the channel, spool (fsync per burst) and UNNEST
    // batches of 1,000, until joined.
    let mut g = c.benchmark_group("sink_end_to_end_pg");
    g.sample_size(10);
    let n = 20_000usize;
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("spawn_sink_spool_unnest_20000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let events: Vec<SinkEvent> = fills(n).into_iter().map(SinkEvent::Fill).collect();
                let cfg = SinkConfig {
                    batch_size: 1_000,
                    user_id: Some(USER.into()),
                    spool: Some(SpoolConfig::new(dir.path())),
                    ..SinkConfig::new(url.clone())
                };
                let start = Instant::now();
                let (tx, join) = spawn_sink(cfg).expect("sink");
                for ev in events {
                    tx.send(ev).expect("send");
                }
                drop(tx);
                let stats = join.join().expect("join");
                total += start.elapsed();
                assert_eq!(stats.fills, n as u64);
            }
            total
        })
    });
    g.finish();
    drop(conn);
    // Leave the server as we found it.
    rt.block_on(async {
        let admin: PgConnectOptions = std::env::var("DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
            .parse()
            .expect("DATABASE_URL");
        if let Ok(mut c) = admin.connect().await {
            let _ = sqlx::raw_sql("drop database if exists peregrine_bench_sink with (force)")
                .execute(&mut c)
                .await;
        }
    });
}

criterion_group!(benches, bench_sink);
criterion_main!(benches);
