//! Sink tests against real SQLite files in a temporary directory.

use std::str::FromStr;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sqlx::{Row, SqlitePool};

use super::*;
use crate::events::{FillRow, OrderRow, OrderStatus, PositionRow, RiskEventRow};
use crate::types::Side;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn db_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/sub/dir/peregrine.db", dir.path().display())
}

fn cfg(url: &str, batch_size: usize, batch_age: Duration) -> SinkConfig {
    SinkConfig {
        url: url.to_string(),
        batch_size,
        batch_age,
        ..SinkConfig::new(url)
    }
}

fn order(id: &str, status: OrderStatus, filled: Decimal, updated_ns: i64) -> SinkEvent {
    SinkEvent::Order(OrderRow {
        client_order_id: id.to_string(),
        venue_order_id: (status != OrderStatus::Pending).then_some(42),
        strategy: "mm".into(),
        venue: "binance".into(),
        symbol: "BTC-USDT".into(),
        side: Side::Buy,
        order_type: "limit".into(),
        price: Some(dec!(123456789.123456789)),
        qty: dec!(0.00000001),
        filled_qty: filled,
        status,
        reject_reason: None,
        created_ns: 1_000,
        updated_ns,
    })
}

fn fill(trade_id: i64, coid: &str) -> SinkEvent {
    SinkEvent::Fill(FillRow {
        venue: "binance".into(),
        symbol: "BTC-USDT".into(),
        trade_id,
        client_order_id: coid.to_string(),
        strategy: "mm".into(),
        side: Side::Sell,
        price: dec!(123456789.123456789),
        qty: dec!(0.00000001),
        fee: dec!(0.000000000000000001),
        fee_asset: "USDT".into(),
        is_maker: true,
        exch_ts_ns: 1_764_090_000_123_456_789,
    })
}

fn position(symbol: &str, qty: Decimal, updated_ns: i64) -> SinkEvent {
    SinkEvent::Position(PositionRow {
        strategy: "mm".into(),
        venue: "binance".into(),
        symbol: symbol.into(),
        qty,
        avg_price: dec!(64000.10),
        realized_pnl: dec!(-1.50),
        fees: dec!(0.00000001),
        updated_ns,
    })
}

fn risk(id: &str) -> SinkEvent {
    SinkEvent::Risk(RiskEventRow {
        id: id.to_string(),
        ts_ns: 7,
        strategy: Some("mm".into()),
        symbol: None,
        reason: "max_order_notional".into(),
        message: "order notional 1e6 > 5e5".into(),
    })
}

async fn count(pool: &SqlitePool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .expect("count")
}

fn dec_col(row: &sqlx::sqlite::SqliteRow, col: &str) -> Decimal {
    let text: String = row.get(col);
    Decimal::from_str(&text).expect("decimal text")
}

#[test]
fn migrations_apply_and_create_parent_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    let (tx, join) = spawn_sink(SinkConfig::new(&url)).expect("spawn");
    assert!(dir.path().join("sub/dir/peregrine.db").exists());
    drop(tx);
    assert_eq!(join.join().expect("join"), SinkStats::default());
    rt().block_on(async {
        let pool = sqlite_pool(&url).await.expect("pool");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name",
        )
        .fetch_all(&pool)
        .await
        .expect("tables");
        assert_eq!(
            tables,
            [
                "audit_log",
                "equity_snapshots",
                "fills",
                "held_orders",
                "latency_stats",
                "order_events",
                "orders",
                "positions",
                "risk_events",
                "runs",
                "signals",
                "strategy_reloads",
                "venue_checkpoints"
            ]
        );
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .expect("journal_mode");
        assert_eq!(mode, "wal");
    });
}

#[test]
fn memory_url_works() {
    let (tx, join) = spawn_sink(SinkConfig::new("sqlite::memory:")).expect("spawn");
    tx.send(fill(1, "a")).expect("send");
    drop(tx);
    let stats = join.join().expect("join");
    assert_eq!(stats.fills, 1);
}

#[test]
fn bad_config_fails_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    let err = spawn_sink(cfg(&url, 0, Duration::from_millis(5))).expect_err("batch_size 0");
    assert!(matches!(err, SinkError::Config { .. }), "{err}");
    // A path under a regular file cannot be created.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").expect("write");
    let bad = format!("sqlite://{}/db.sqlite", file.display());
    let err = spawn_sink(SinkConfig::new(&bad)).expect_err("unopenable");
    assert!(err.to_string().contains(&bad), "error names the URL: {err}");
    let err = spawn_sink(SinkConfig::new("mysql://x")).expect_err("scheme");
    let err2 = spawn_sink(SinkConfig::new("postgres://u@127.0.0.1/db")).expect_err("no user id");
    assert!(err2.to_string().contains("PEREGRINE_USER_ID"), "{err2}");
    let bad_user = SinkConfig {
        user_id: Some("not-a-uuid".into()),
        ..SinkConfig::new("postgres://u:pw@127.0.0.1/db")
    };
    let err2 = spawn_sink(bad_user).expect_err("bad user id");
    assert!(
        err2.to_string().contains("UUID") && !err2.to_string().contains("pw"),
        "{err2}"
    );
    assert!(matches!(err, SinkError::Config { .. }), "{err}");
}

#[test]
fn every_row_kind_lands_with_exact_decimals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    let (tx, join) = spawn_sink(SinkConfig::new(&url)).expect("spawn");
    tx.send(order("o1", OrderStatus::Acked, dec!(0), 2_000))
        .expect("send");
    tx.send(fill(10, "o1")).expect("send");
    tx.send(position("BTC-USDT", dec!(-0.00000001), 3_000))
        .expect("send");
    tx.send(risk("run-1")).expect("send");
    drop(tx);
    let stats = join.join().expect("join");
    assert_eq!(
        stats,
        SinkStats {
            orders: 1,
            fills: 1,
            positions: 1,
            risk_events: 1,
            signals: 0,
            latency_stats: 0,
            batches: 1,
            retries: 0,
            ..SinkStats::default()
        }
    );
    rt().block_on(async {
        let pool = sqlite_pool(&url).await.expect("pool");
        let o = sqlx::query("SELECT * FROM orders")
            .fetch_one(&pool)
            .await
            .expect("order");
        assert_eq!(o.get::<String, _>("client_order_id"), "o1");
        assert_eq!(o.get::<Option<i64>, _>("venue_order_id"), Some(42));
        assert_eq!(o.get::<String, _>("side"), "buy");
        assert_eq!(o.get::<String, _>("status"), "acked");
        assert_eq!(o.get::<String, _>("price"), "123456789.123456789");
        assert_eq!(o.get::<String, _>("qty"), "0.00000001");
        assert_eq!(dec_col(&o, "qty"), dec!(0.00000001));
        assert_eq!(o.get::<Option<String>, _>("reject_reason"), None);
        assert_eq!(o.get::<i64, _>("updated_ns"), 2_000);

        let f = sqlx::query("SELECT * FROM fills")
            .fetch_one(&pool)
            .await
            .expect("fill");
        assert_eq!(dec_col(&f, "price"), dec!(123456789.123456789));
        assert_eq!(f.get::<String, _>("fee"), "0.000000000000000001");
        assert!(f.get::<bool, _>("is_maker"));
        assert_eq!(f.get::<i64, _>("exch_ts_ns"), 1_764_090_000_123_456_789);

        let p = sqlx::query("SELECT * FROM positions")
            .fetch_one(&pool)
            .await
            .expect("pos");
        assert_eq!(p.get::<String, _>("qty"), "-0.00000001");
        assert_eq!(p.get::<String, _>("avg_price"), "64000.10");
        assert_eq!(dec_col(&p, "realized_pnl"), dec!(-1.50));

        let r = sqlx::query("SELECT * FROM risk_events")
            .fetch_one(&pool)
            .await
            .expect("risk");
        assert_eq!(r.get::<String, _>("reason"), "max_order_notional");
        assert_eq!(
            r.get::<Option<String>, _>("strategy").as_deref(),
            Some("mm")
        );
        assert_eq!(r.get::<Option<String>, _>("symbol"), None);
    });
}

fn equity(id: &str, symbol: Option<&str>, unrealized: Option<Decimal>) -> SinkEvent {
    SinkEvent::Equity(crate::events::EquityRow {
        id: id.to_string(),
        run_id: "abc".into(),
        ts_ns: 1_764_090_000_123_456_789,
        scope: crate::events::EquityScope::Account,
        strategy: None,
        venue: "binance".into(),
        symbol: symbol.map(str::to_string),
        qty: symbol.map(|_| dec!(-0.00000001)),
        mark: symbol.map(|_| dec!(123456789.123456789)),
        realized_pnl: dec!(-1.000000000000000001),
        unrealized_pnl: unrealized,
        fees: dec!(0.000000000000000001),
        equity: unrealized.map(|u| u + dec!(-1.000000000000000001)),
    })
}

#[test]
fn equity_snapshots_land_exactly_once_with_their_nulls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    let (tx, join) = spawn_sink(cfg(&url, 2, Duration::from_millis(5))).expect("spawn");
    for _ in 0..2 {
        tx.send(equity("abc-q1-0", Some("BTC-USDT"), Some(dec!(0.25))))
            .expect("send");
        tx.send(equity("abc-q1-1", None, None)).expect("send");
    }
    drop(tx);
    assert_eq!(join.join().expect("join").equity_snapshots, 2);
    rt().block_on(async {
        let pool = sqlite_pool(&url).await.expect("pool");
        let rows = sqlx::query("SELECT * FROM equity_snapshots ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("rows");
        assert_eq!(rows.len(), 2);
        let (r, t) = (&rows[0], &rows[1]);
        assert_eq!(r.get::<String, _>("scope"), "account");
        assert_eq!(r.get::<Option<String>, _>("strategy"), None);
        assert_eq!(r.get::<String, _>("qty"), "-0.00000001");
        assert_eq!(r.get::<String, _>("mark"), "123456789.123456789");
        assert_eq!(r.get::<String, _>("realized_pnl"), "-1.000000000000000001");
        assert_eq!(r.get::<String, _>("unrealized_pnl"), "0.25");
        assert_eq!(dec_col(r, "equity"), dec!(-0.750000000000000001));
        assert_eq!(r.get::<i64, _>("ts_ns"), 1_764_090_000_123_456_789);
        // The total has no quantity or mark; no price yet: no unrealized PnL or equity.
        for col in ["symbol", "qty", "mark", "unrealized_pnl", "equity"] {
            assert_eq!(t.get::<Option<String>, _>(col), None, "{col}");
        }
        assert_eq!(t.get::<String, _>("fees"), "0.000000000000000001");
    });
}

#[test]
fn strategy_reload_outcomes_land_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    let row = |id: &str, accepted: bool, version: Option<i64>| {
        SinkEvent::StrategyReload(crate::events::StrategyReloadRow {
            id: id.into(),
            run_id: "abc".into(),
            ts_ns: 5,
            strategy: "mm".into(),
            origin: if version.is_some() {
                "database"
            } else {
                "file"
            }
            .into(),
            version,
            source_hash: "00ff".into(),
            accepted,
            message: if accepted { "reloaded" } else { "refused: x" }.into(),
        })
    };
    let (tx, join) = spawn_sink(cfg(&url, 1, Duration::from_millis(5))).expect("spawn");
    tx.send(row("abc-r1", true, None)).expect("send");
    tx.send(row("abc-r2", false, Some(3))).expect("send");
    tx.send(row("abc-r2", false, Some(3))).expect("send");
    drop(tx);
    assert_eq!(join.join().expect("join").strategy_reloads, 2);
    rt().block_on(async {
        let pool = sqlite_pool(&url).await.expect("pool");
        let got: Vec<(String, String, Option<i64>, bool, String)> = sqlx::query_as(
            "SELECT id, origin, version, accepted, message FROM strategy_reloads ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .expect("rows");
        assert_eq!(
            got,
            [
                (
                    "abc-r1".into(),
                    "file".into(),
                    None,
                    true,
                    "reloaded".into()
                ),
                (
                    "abc-r2".into(),
                    "database".into(),
                    Some(3),
                    false,
                    "refused: x".into()
                )
            ]
        );
    });
}

#[test]
fn resent_fills_and_risk_events_are_written_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    // Batch size 2 forces the duplicates into separate batches as well as the same one.
    let (tx, join) = spawn_sink(cfg(&url, 2, Duration::from_millis(5))).expect("spawn");
    for _ in 0..3 {
        tx.send(fill(1, "a")).expect("send");
        tx.send(fill(2, "a")).expect("send");
        tx.send(risk("r-1")).expect("send");
    }
    // Same venue trade filling two of our orders (self-match): two distinct rows.
    tx.send(fill(1, "b")).expect("send");
    drop(tx);
    let stats = join.join().expect("join");
    assert_eq!(stats.fills, 3);
    assert_eq!(stats.risk_events, 1);
    // A second run replaying everything writes nothing new.
    let (tx, join) = spawn_sink(SinkConfig::new(&url)).expect("respawn");
    tx.send(fill(1, "a")).expect("send");
    tx.send(fill(1, "b")).expect("send");
    tx.send(risk("r-1")).expect("send");
    drop(tx);
    let stats = join.join().expect("join");
    assert_eq!((stats.fills, stats.risk_events), (0, 0));
    rt().block_on(async {
        let pool = sqlite_pool(&url).await.expect("pool");
        assert_eq!(count(&pool, "fills").await, 3);
        assert_eq!(count(&pool, "risk_events").await, 1);
    });
}

#[test]
fn order_and_position_upserts_keep_latest_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    // Large batch: all updates coalesce within one batch.
    let (tx, join) = spawn_sink(SinkConfig::new(&url)).expect("spawn");
    tx.send(order("o1", OrderStatus::Pending, dec!(0), 1))
        .expect("send");
    tx.send(order("o1", OrderStatus::Acked, dec!(0), 2))
        .expect("send");
    tx.send(position("BTC-USDT", dec!(1), 1)).expect("send");
    tx.send(order(
        "o1",
        OrderStatus::PartiallyFilled,
        dec!(0.000000005),
        3,
    ))
    .expect("send");
    tx.send(position("BTC-USDT", dec!(2.5), 2)).expect("send");
    drop(tx);
    let stats = join.join().expect("join");
    assert_eq!((stats.orders, stats.positions), (1, 1));
    // Later run, tiny batches: each update is its own upsert across batches.
    let (tx, join) = spawn_sink(cfg(&url, 1, Duration::from_millis(5))).expect("respawn");
    tx.send(order("o1", OrderStatus::Filled, dec!(0.00000001), 4))
        .expect("send");
    tx.send(order("o2", OrderStatus::Rejected, dec!(0), 5))
        .expect("send");
    tx.send(position("BTC-USDT", dec!(0), 3)).expect("send");
    tx.send(position("ETH-USDT", dec!(-3), 4)).expect("send");
    drop(tx);
    let stats = join.join().expect("join");
    assert_eq!((stats.orders, stats.positions, stats.batches), (2, 2, 4));
    rt().block_on(async {
        let pool = sqlite_pool(&url).await.expect("pool");
        let rows = sqlx::query(
            "SELECT client_order_id, status, filled_qty, created_ns, updated_ns \
             FROM orders ORDER BY client_order_id",
        )
        .fetch_all(&pool)
        .await
        .expect("orders");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get::<String, _>("status"), "filled");
        assert_eq!(dec_col(&rows[0], "filled_qty"), dec!(0.00000001));
        assert_eq!(rows[0].get::<i64, _>("created_ns"), 1_000);
        assert_eq!(rows[0].get::<i64, _>("updated_ns"), 4);
        assert_eq!(rows[1].get::<String, _>("status"), "rejected");
        // The history keeps every state the batches coalesced away, each once.
        let history: Vec<String> = sqlx::query_scalar(
            "SELECT client_order_id || ':' || status || ':' || filled_qty FROM order_events \
             ORDER BY client_order_id, seq",
        )
        .fetch_all(&pool)
        .await
        .expect("order_events");
        assert_eq!(
            history,
            [
                "o1:pending:0",
                "o1:acked:0",
                "o1:partially_filled:0.000000005",
                "o1:filled:0.00000001",
                "o2:rejected:0"
            ]
        );
        let rows = sqlx::query("SELECT symbol, qty, updated_ns FROM positions ORDER BY symbol")
            .fetch_all(&pool)
            .await
            .expect("positions");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get::<String, _>("symbol"), "BTC-USDT");
        assert_eq!(dec_col(&rows[0], "qty"), dec!(0));
        assert_eq!(rows[0].get::<i64, _>("updated_ns"), 3);
        assert_eq!(dec_col(&rows[1], "qty"), dec!(-3));
    });
}

#[test]
fn age_based_flush_before_join() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    let (tx, join) = spawn_sink(cfg(&url, 500, Duration::from_millis(50))).expect("spawn");
    let rt = rt();
    let pool = rt.block_on(sqlite_pool(&url)).expect("pool");
    tx.send(fill(1, "a")).expect("send");
    tx.send(risk("r-1")).expect("send");
    // Well under batch_size: only the age trigger can flush. Poll with a generous bound.
    let start = Instant::now();
    loop {
        let n = rt.block_on(count(&pool, "fills")) + rt.block_on(count(&pool, "risk_events"));
        if n == 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "age flush did not happen"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        start.elapsed() >= Duration::from_millis(40),
        "flushed before batch_age"
    );
    assert!(!join.is_finished());
    drop(tx);
    let stats = join.join().expect("join");
    assert_eq!(stats.batches, 1);
    rt.block_on(pool.close());
}

#[test]
fn join_drains_everything_across_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    // One batch of 6000 fills needs 3 statements (2730 rows of 12 binds each max).
    let (tx, join) = spawn_sink(cfg(&url, 6_000, Duration::from_secs(3600))).expect("spawn");
    let senders: Vec<_> = (0..3).map(|_| tx.clone()).collect();
    drop(tx);
    for (k, s) in senders.iter().enumerate() {
        for i in 0..3_000 {
            s.send(fill(k as i64 * 10_000 + i, "a")).expect("send");
        }
    }
    drop(senders);
    let stats = join.join().expect("join");
    assert_eq!(stats.fills, 9_000);
    assert_eq!(stats.batches, 2);
    rt().block_on(async {
        let pool = sqlite_pool(&url).await.expect("pool");
        assert_eq!(count(&pool, "fills").await, 9_000);
    });
}

#[test]
fn locked_database_is_retried_without_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    let (tx, join) = spawn_sink(cfg(&url, 10, Duration::from_millis(5))).expect("spawn");
    let rt = rt();
    // Dropping a pooled connection needs a runtime context.
    let _ctx = rt.enter();
    let blocker = rt.block_on(sqlite_pool(&url)).expect("pool");
    let mut conn = rt.block_on(blocker.acquire()).expect("conn");
    // Hold the write lock longer than the sink's busy timeout.
    rt.block_on(sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn))
        .expect("lock");
    for i in 0..25 {
        tx.send(fill(i, "a")).expect("send");
    }
    tx.send(order("o1", OrderStatus::Acked, dec!(0), 1))
        .expect("send");
    std::thread::sleep(Duration::from_millis(1_500));
    rt.block_on(sqlx::query("ROLLBACK").execute(&mut *conn))
        .expect("unlock");
    drop(conn);
    tx.send(order("o1", OrderStatus::Filled, dec!(0.00000001), 2))
        .expect("send");
    drop(tx);
    let stats = join.join().expect("join");
    assert!(stats.retries >= 1, "{stats:?}");
    assert_eq!(stats.fills, 25);
    rt.block_on(async {
        assert_eq!(count(&blocker, "fills").await, 25);
        let status: String = sqlx::query_scalar("SELECT status FROM orders")
            .fetch_one(&blocker)
            .await
            .expect("status");
        assert_eq!(status, "filled");
        blocker.close().await;
    });
}

#[test]
fn send_to_a_gone_sink_returns_the_event() {
    // The receiving end of a sink disappears only when its thread ends; a channel whose
    // receiver is dropped is the same situation for the sender.
    let (raw_tx, raw_rx) = crossbeam_channel::unbounded();
    drop(raw_rx);
    let dead = SinkSender(raw_tx);
    match dead.send(risk("x")) {
        Err(SinkError::Closed(ev)) => assert_eq!(*ev, risk("x")),
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[test]
fn sqlite_seq_guard_and_spool_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    let spool_dir = dir.path().join("spool");
    let with_spool = || SinkConfig {
        spool: Some(crate::sink::SpoolConfig::new(&spool_dir)),
        ..cfg(&url, 10, Duration::from_millis(5))
    };
    let (tx, join) = spawn_sink(with_spool()).expect("spawn");
    tx.send(position("BTC-USDT", dec!(1), 1)).expect("send");
    tx.send(fill(1, "o1")).expect("send");
    drop(tx);
    let stats = join.join().expect("join");
    assert_eq!(
        (stats.positions, stats.fills, stats.spooled_left),
        (1, 1, 0)
    );
    // Everything committed: nothing to replay.
    let (_, recovered) =
        crate::sink::spool::Spool::open(crate::sink::SpoolConfig::new(&spool_dir)).expect("open");
    assert!(recovered.events.is_empty());
    rt().block_on(async {
        let pool = sqlite_pool(&url).await.expect("pool");
        sqlx::query("UPDATE positions SET seq = 9000000000000000000")
            .execute(&pool)
            .await
            .expect("update");
        pool.close().await;
    });
    // An event with an older seq than the stored state does not overwrite it.
    let (tx, join) = spawn_sink(with_spool()).expect("respawn");
    tx.send(position("BTC-USDT", dec!(2), 2)).expect("send");
    drop(tx);
    assert_eq!(join.join().expect("join").positions, 0);
    rt().block_on(async {
        let pool = sqlite_pool(&url).await.expect("pool");
        let row = sqlx::query("SELECT qty FROM positions")
            .fetch_one(&pool)
            .await
            .expect("position");
        assert_eq!(dec_col(&row, "qty"), dec!(1));
        let audits: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
            .fetch_one(&pool)
            .await
            .expect("audit");
        assert_eq!(audits, 2, "one audit row per committed batch");
    });
}

/// The checkpoint is the greatest committed trade id per (venue, account, symbol), never
/// moves back, and is read at start with the orders not final and every fill, after what a
/// crashed run left in the spool has been written.
#[test]
fn checkpoint_moves_with_fills_and_start_state_sees_the_spool() {
    use crate::events::CheckpointRow;
    use crate::sink::{spawn_sink_with_start, StartQuery};
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    let spool_dir = dir.path().join("spool");
    let with_spool = |account: &str| SinkConfig {
        spool: Some(crate::sink::SpoolConfig::new(&spool_dir)),
        account: account.into(),
        start_query: Some(StartQuery {
            venue: "binance".into(),
            account: account.into(),
        }),
        ..cfg(&url, 100, Duration::from_millis(5))
    };
    let (tx, join, st) = spawn_sink_with_start(with_spool("a")).expect("spawn");
    assert_eq!(st, crate::sink::StartState::default(), "an empty database");
    tx.send(order("o1", OrderStatus::Acked, dec!(0), 1))
        .expect("send");
    tx.send(order("o2", OrderStatus::Filled, dec!(0.00000001), 2))
        .expect("send");
    tx.send(fill(9, "o2")).expect("send");
    tx.send(fill(5, "o1")).expect("send");
    // An explicit checkpoint below the fills does not move it back.
    tx.send(SinkEvent::Checkpoint(CheckpointRow {
        venue: "binance".into(),
        symbol: "BTC-USDT".into(),
        last_trade_id: 3,
        last_trade_ns: 0,
    }))
    .expect("send");
    drop(tx);
    join.join().expect("join");

    // A crashed run's events left in the spool (written by a spool, never by the sink).
    {
        let (mut spool, _) =
            crate::sink::spool::Spool::open(crate::sink::SpoolConfig::new(&spool_dir))
                .expect("spool");
        spool.append(&fill(12, "o1")).expect("append");
        spool
            .append(&order(
                "o1",
                OrderStatus::PartiallyFilled,
                dec!(0.00000001),
                3,
            ))
            .expect("append");
        spool.sync().expect("sync");
    }
    let (tx, join, st) = spawn_sink_with_start(with_spool("a")).expect("spawn");
    assert_eq!(st.checkpoints.get("BTC-USDT"), Some(&12), "{st:?}");
    let open: Vec<_> = st
        .open_orders
        .iter()
        .map(|o| (o.client_order_id.as_str(), o.status))
        .collect();
    assert_eq!(open, vec![("o1", OrderStatus::PartiallyFilled)]);
    let fills: Vec<_> = st.fills.iter().map(|f| (f.trade_id, f.qty)).collect();
    assert_eq!(
        fills,
        vec![
            (5, dec!(0.00000001)),
            (9, dec!(0.00000001)),
            (12, dec!(0.00000001))
        ]
    );
    assert_eq!(st.fills_of("o1").count(), 2);
    drop(tx);
    join.join().expect("join");
    // Another account label has no checkpoint of its own.
    let (tx, join, st) = spawn_sink_with_start(with_spool("b")).expect("spawn");
    assert!(st.checkpoints.is_empty());
    drop(tx);
    join.join().expect("join");
}
