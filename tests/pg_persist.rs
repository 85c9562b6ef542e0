//! The Supabase persistence on a real PostgreSQL: row-level security, idempotent batches and
//! the seq guard, a database outage behind a TCP proxy, a `kill -9` of the engine, and the
//! kill switch in `global_settings`. Each test has a database of its own (see
//! `pg_support`), with the Supabase stub and the engine's migrations applied.

mod equity_check;
mod pg_support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peregrine_engine::events::{FillRow, OrderRow, OrderStatus, PositionRow, SinkEvent};
use peregrine_engine::sink::spool::Spool;
use peregrine_engine::sink::{spawn_sink, SinkConfig, SpoolConfig};
use peregrine_engine::types::Side;
use pg_support::{test_db, TestDb, USER_A, USER_B};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sqlx::{Connection, PgConnection, Row};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

fn fill(trade_id: i64, coid: &str) -> SinkEvent {
    SinkEvent::Fill(FillRow {
        venue: "binance".into(),
        symbol: "BTC-USDT".into(),
        trade_id,
        client_order_id: coid.into(),
        strategy: "s".into(),
        side: Side::Buy,
        price: dec!(60000.123456789),
        qty: dec!(0.00000001),
        fee: dec!(0.0000000001),
        fee_asset: "BTC".into(),
        is_maker: trade_id % 2 == 0,
        exch_ts_ns: 1_764_090_000_000_000_000 + trade_id,
    })
}

fn order(id: &str, status: OrderStatus) -> SinkEvent {
    SinkEvent::Order(OrderRow {
        client_order_id: id.into(),
        venue_order_id: Some(7),
        strategy: "s".into(),
        venue: "binance".into(),
        symbol: "BTC-USDT".into(),
        side: Side::Buy,
        order_type: "limit".into(),
        price: Some(dec!(123456789.123456789)),
        qty: dec!(0.00000001),
        filled_qty: dec!(0),
        status,
        reject_reason: None,
        created_ns: 1,
        updated_ns: 2,
    })
}

fn position(qty: Decimal) -> SinkEvent {
    SinkEvent::Position(PositionRow {
        strategy: "s".into(),
        venue: "binance".into(),
        symbol: "BTC-USDT".into(),
        qty,
        avg_price: dec!(60000),
        realized_pnl: dec!(-0.5),
        fees: dec!(0.01),
        updated_ns: 3,
    })
}

fn sink_cfg(url: String, user: &str) -> SinkConfig {
    SinkConfig {
        user_id: Some(user.into()),
        batch_age: Duration::from_millis(20),
        ..SinkConfig::new(url)
    }
}

/// Writes `events` for `user` through the real sink (blocking; call from spawn_blocking).
fn write_all(url: String, user: &str, events: Vec<SinkEvent>) -> peregrine_engine::sink::SinkStats {
    let (tx, join) = spawn_sink(sink_cfg(url, user)).expect("spawn sink");
    for ev in events {
        tx.send(ev).expect("send");
    }
    drop(tx);
    join.join().expect("sink join")
}

async fn count(c: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(c).await.expect(sql)
}

/// A transaction as an edge function (service_role).
async fn as_service_role(c: &mut PgConnection) -> sqlx::Transaction<'_, sqlx::Postgres> {
    let mut tx = c.begin().await.unwrap();
    sqlx::raw_sql("set local role service_role")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// A transaction as `user` signed in, as PostgREST opens it (claims, then role,
/// transaction-local).
async fn as_user<'c>(c: &'c mut PgConnection, user: &str) -> sqlx::Transaction<'c, sqlx::Postgres> {
    let mut tx = c.begin().await.unwrap();
    sqlx::query("select set_config('request.jwt.claims', $1, true)")
        .bind(format!(r#"{{"sub":"{user}","role":"authenticated"}}"#))
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::raw_sql("set local role authenticated")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// Runs `sql` in a savepoint of `tx` and asserts that the database refuses it.
async fn assert_refused(tx: &mut PgConnection, sql: &str, role: &str) {
    sqlx::raw_sql("savepoint t")
        .execute(&mut *tx)
        .await
        .unwrap();
    let r = sqlx::raw_sql(sql).execute(&mut *tx).await;
    assert!(r.is_err(), "{role} must not be able to run: {sql}");
    sqlx::raw_sql("rollback to savepoint t")
        .execute(&mut *tx)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_each_user_reads_only_their_rows_and_browsers_write_nothing() {
    let Some(db) = test_db("rls").await else {
        return;
    };
    let url = db.engine_url();
    let (u1, u2) = (url.clone(), url.clone());
    tokio::task::spawn_blocking(move || {
        write_all(
            u1,
            USER_A,
            vec![
                order("a1", OrderStatus::Acked),
                fill(1, "a1"),
                position(dec!(1)),
            ],
        );
        write_all(
            u2,
            USER_B,
            vec![
                order("b1", OrderStatus::Acked),
                order("b2", OrderStatus::Acked),
                fill(2, "b1"),
                fill(3, "b2"),
                position(dec!(-2)),
            ],
        );
    })
    .await
    .unwrap();
    let mut c = db.conn().await;

    // Schema facts: RLS on every public table; the realtime publication has exactly the
    // tables the frontend watches.
    let no_rls: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace \
         where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert!(no_rls.is_empty(), "tables without RLS: {no_rls:?}");
    let published: Vec<String> = sqlx::query_scalar(
        "select tablename::text from pg_publication_tables \
         where pubname = 'supabase_realtime' order by 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(
        published,
        [
            "equity_snapshots",
            "fills",
            "global_settings",
            "held_orders",
            "kill_switches",
            "order_events",
            "orders",
            "positions",
            "risk_events",
            "runs",
            "strategies",
            "strategy_reloads"
        ]
    );
    // Money stays exact.
    let price: String =
        sqlx::query_scalar("select price::text from orders where client_order_id = 'a1'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(price, "123456789.123456789");

    // As user A (PostgREST's sequence: claims, then role, transaction-local).
    for (user, orders, fills, positions) in [(USER_A, 1, 1, 1), (USER_B, 2, 2, 1)] {
        let mut tx = as_user(&mut c, user).await;
        let others: i64 = sqlx::query_scalar(
            "select (select count(*) from orders where user_id <> auth.uid()) \
             + (select count(*) from fills where user_id <> auth.uid()) \
             + (select count(*) from positions where user_id <> auth.uid())",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(others, 0, "{user} must not see another user's rows");
        assert_eq!(count(&mut tx, "select count(*) from orders").await, orders);
        assert_eq!(count(&mut tx, "select count(*) from fills").await, fills);
        assert_eq!(
            count(&mut tx, "select count(*) from positions").await,
            positions
        );
        // No writes for browsers: each attempt fails (checked in a savepoint).
        for sql in [
            "insert into fills (user_id, venue, symbol, trade_id, client_order_id, strategy, side, price, qty, fee, fee_asset, is_maker, exch_ts_ns, seq) values (auth.uid(), 'binance', 'BTC-USDT', 99, 'x', 's', 'buy', 1, 1, 0, 'BTC', true, 1, 1)",
            "update orders set status = 'filled'",
            "update positions set qty = 100",
            "delete from fills",
            "update global_settings set value = '{\"engaged\": true}'",
        ] {
            assert_refused(&mut tx, sql, "authenticated").await;
        }
        tx.rollback().await.unwrap();
    }

    // anon: no access at all.
    let mut tx = c.begin().await.unwrap();
    sqlx::raw_sql("set local role anon")
        .execute(&mut *tx)
        .await
        .unwrap();
    for t in [
        "orders",
        "fills",
        "positions",
        "global_settings",
        "audit_log",
    ] {
        assert_refused(&mut tx, &format!("select count(*) from {t}"), "anon").await;
    }
    tx.rollback().await.unwrap();
    c.close().await.ok();
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_batch_twice_is_stored_once_and_older_events_never_win() {
    let Some(db) = test_db("idem").await else {
        return;
    };
    let batch = vec![
        order("o1", OrderStatus::Pending),
        order("o1", OrderStatus::Acked),
        fill(10, "o1"),
        fill(11, "o1"),
        position(dec!(0.00000002)),
        SinkEvent::Risk(peregrine_engine::events::RiskEventRow {
            id: "run-1".into(),
            ts_ns: 5,
            strategy: Some("s".into()),
            symbol: None,
            reason: "max_position".into(),
            message: "m".into(),
        }),
    ];
    let url = db.engine_url();
    let (b1, b2, u1, u2) = (batch.clone(), batch, url.clone(), url.clone());
    let (s1, s2) =
        tokio::task::spawn_blocking(move || (write_all(u1, USER_A, b1), write_all(u2, USER_A, b2)))
            .await
            .unwrap();
    assert_eq!((s1.fills, s1.risk_events), (2, 1));
    assert_eq!(
        (s2.fills, s2.risk_events),
        (0, 0),
        "the replay inserts nothing"
    );
    let mut c = db.conn().await;
    for (t, n) in [
        ("orders", 1),
        ("order_events", 2),
        ("fills", 2),
        ("positions", 1),
        ("risk_events", 1),
    ] {
        assert_eq!(
            count(&mut c, &format!("select count(*) from {t}")).await,
            n,
            "{t}"
        );
    }
    // The order's history: each state once, in sequence order.
    let history: Vec<String> =
        sqlx::query_scalar("select status::text from order_events order by seq")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(history, ["pending", "acked"]);
    // Both batches were audited in their transactions.
    assert_eq!(
        count(
            &mut c,
            "select count(*) from audit_log where actor_kind = 'engine' and action = 'sink_batch'"
        )
        .await,
        2
    );

    // The seq guard: a stored state with a newer seq is not overwritten by an older event.
    sqlx::raw_sql("update positions set seq = 9000000000000000000, qty = 42; update orders set seq = 9000000000000000000, status = 'filled'")
        .execute(&mut c)
        .await
        .unwrap();
    let u3 = url.clone();
    tokio::task::spawn_blocking(move || {
        write_all(
            u3,
            USER_A,
            vec![position(dec!(1)), order("o1", OrderStatus::Cancelled)],
        )
    })
    .await
    .unwrap();
    let qty: String = sqlx::query_scalar("select qty::text from positions")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let status: String = sqlx::query_scalar("select status::text from orders")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!((qty.as_str(), status.as_str()), ("42", "filled"));
    c.close().await.ok();
    db.drop_db().await;
}

/// A TCP proxy on 127.0.0.1 the test can cut (closing every connection and refusing new
/// ones) and restore.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    continue;
                };
                let h = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                conns2.lock().unwrap().push(h.abort_handle());
            }
        });
        Self { port, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn server_addr(db: &TestDb) -> SocketAddr {
    tokio::net::lookup_host((db.host.as_str(), db.port))
        .await
        .unwrap()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_behind_a_proxy_loses_nothing_and_keeps_order() {
    let Some(db) = test_db("outage").await else {
        return;
    };
    let proxy = Proxy::start(server_addr(&db).await).await;
    let spool = tempfile::tempdir().unwrap();
    let cfg = SinkConfig {
        batch_size: 100,
        spool: Some(SpoolConfig::new(spool.path())),
        ..sink_cfg(db.engine_url_via("127.0.0.1", proxy.port), USER_A)
    };
    let (tx, join) = tokio::task::spawn_blocking(move || spawn_sink(cfg))
        .await
        .unwrap()
        .expect("spawn sink");
    let gauges = join.gauges();
    const N: i64 = 1500;
    let (cut_at, restore_at) = (300, 1300); // 4 ms apart: ~4 s of outage
    let mut saw_down = false;
    let mut max_spool = 0;
    let mut cut_time = Instant::now();
    // The order the fills belong to (fills reference their order row), as the core sends it.
    tx.send(order("o1", OrderStatus::Acked))
        .expect("send never fails while the sink lives");
    for i in 0..N {
        if i == cut_at {
            proxy.cut();
            cut_time = Instant::now();
        }
        if i == restore_at {
            assert!(cut_time.elapsed() >= Duration::from_secs(3));
            proxy.restore();
        }
        if i > cut_at + 250 && i < restore_at {
            saw_down |= gauges.db_down();
            max_spool = max_spool.max(gauges.spool_bytes());
        }
        tx.send(fill(i, "o1"))
            .expect("send never fails while the sink lives");
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    assert!(
        saw_down,
        "the sink must report the database as down during the cut"
    );
    assert!(
        max_spool > 0,
        "the spool must hold the events during the cut"
    );
    drop(tx);
    let stats = tokio::task::spawn_blocking(move || join.join())
        .await
        .unwrap()
        .expect("join");
    assert!(stats.retries > 0, "writes failed during the cut: {stats:?}");
    // Rows counted as inserted can be fewer than N: a COMMIT that reached the server just
    // as the proxy cut is seen as failed, retried, and then inserts nothing (the fills are
    // already there). The database below is the truth.
    assert!(stats.fills <= N as u64, "{stats:?}");
    let mut c = db.conn().await;
    let ids: Vec<i64> = sqlx::query_scalar("select trade_id from fills order by id")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(ids, (0..N).collect::<Vec<_>>(), "every fill once, in order");
    c.close().await.ok();
    db.drop_db().await;
}

/// Places a resting order far from the touch, cancelling the previous one, every few trades:
/// a steady stream of new orders.
const CHURN: &str = r#"
fn on_start() { this.n = 0; }
fn on_trade(t) {
    this.n += 1;
    if this.n % 3 != 0 { return; }
    cancel_all();
    let b = best_bid();
    if b == () { return; }
    limit("buy", b - 500, param("qty"));
}
"#;

/// Trades at the touch in both directions: a steady stream of fills.
const TAKER: &str = r#"
fn on_start() { this.n = 0; }
fn on_trade(t) {
    this.n += 1;
    if this.n % 4 != 0 { return; }
    if position() > 0 { market("sell", param("qty")); } else { market("buy", param("qty")); }
}
"#;

fn engine_config(dir: &Path, script: &str, url: &str, batch_age_ms: u64) -> String {
    std::fs::write(dir.join("s.rhai"), script).unwrap();
    format!(
        r#"
[engine]
progress_interval_s = 0
drain_timeout_ms = 3000
[sim]
enabled = true
seed = 11
md_interval_ms = 5
[venue]
name = "binance"
ws_url = "ws://127.0.0.1:1"
rest_url = "http://127.0.0.1:1"
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
sim_start_price = "60000"
[[strategies]]
name = "s"
file = "{script}"
instruments = ["BTC-USDT"]
params = {{ qty = "0.0002" }}
[risk]
max_order_notional = "150"
max_position = "0.004"
[sink]
url = "{url}"
user_id = "{USER_A}"
batch_size = 100000
batch_age_ms = {batch_age_ms}
spool_dir = "{spool}"
kill_switch_poll_s = 30
"#,
        script = dir.join("s.rhai").display(),
        spool = dir.join("spool").display(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_in_global_settings_stops_new_orders_within_a_second() {
    let Some(db) = test_db("kill").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let text = engine_config(dir.path(), CHURN, &db.engine_url(), 20);
    let cfg = peregrine_engine::config::Config::parse(&text, Path::new("kill.toml")).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let engine = tokio::spawn(peregrine::app::run_engine(cfg, stop_rx));
    let mut c = db.conn().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&mut c, "select count(*) from orders").await < 5 {
        assert!(Instant::now() < deadline, "no orders reached the database");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let flipped_ns = peregrine_engine::clock::Clock::wall_ns();
    sqlx::raw_sql(r#"update global_settings set value = '{"engaged": true, "reason": "test"}' where key = 'kill_switch'"#)
        .execute(&mut c)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_tx.send(true).unwrap();
    engine.await.unwrap().expect("engine run");

    let limit = flipped_ns + 1_000_000_000;
    let late: i64 = sqlx::query_scalar("select count(*) from orders where created_ns > $1")
        .bind(limit)
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(late, 0, "orders created more than 1 s after the flip");
    let refused: i64 = sqlx::query_scalar(
        "select count(*) from risk_events where reason = 'kill_switch' and ts_ns > $1",
    )
    .bind(limit)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(
        refused > 0,
        "the strategy kept asking and the risk gate refused"
    );
    // The run's row: started, stopped in order, its heartbeat at the stop.
    let run: (String, String, bool, bool) = sqlx::query_as(
        "select status::text, version, stopped_ns >= started_ns, heartbeat_ns = stopped_ns \
         from runs",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(
        run,
        (
            "stopped".into(),
            env!("CARGO_PKG_VERSION").into(),
            true,
            true
        )
    );
    // The flip itself was audited.
    assert_eq!(
        count(
            &mut c,
            "select count(*) from audit_log where entity = 'global_settings'"
        )
        .await,
        1
    );
    c.close().await.ok();
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_user_kill_switch_fails_closed_and_every_change_is_audited() {
    let Some(db) = test_db("kill_user").await else {
        return;
    };
    let mut c = db.conn().await;
    // updated_at is the trigger's, whatever the writer says; every change is audited.
    sqlx::raw_sql(&format!(
        "update kill_switches set engaged = true, reason = 'r', \
         updated_at = '2000-01-01' where user_id = '{USER_B}'; \
         update kill_switches set engaged = false where user_id = '{USER_B}'"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    let fresh: bool = sqlx::query_scalar(&format!(
        "select updated_at > now() - interval '1 minute' from kill_switches \
         where user_id = '{USER_B}'"
    ))
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(fresh, "updated_at not maintained");

    let dir = tempfile::tempdir().unwrap();
    let text = engine_config(dir.path(), CHURN, &db.engine_url(), 20);
    let cfg = peregrine_engine::config::Config::parse(&text, Path::new("kill.toml")).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let engine = tokio::spawn(peregrine::app::run_engine(cfg, stop_rx));
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&mut c, "select count(*) from orders").await < 5 {
        assert!(Instant::now() < deadline, "no orders reached the database");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Another user's switch does not stop A; deleting A's own row does.
    sqlx::raw_sql(&format!(
        "update kill_switches set engaged = true where user_id = '{USER_B}'"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = count(&mut c, "select count(*) from orders").await;
    let deleted_ns = peregrine_engine::clock::Clock::wall_ns();
    sqlx::raw_sql(&format!(
        "delete from kill_switches where user_id = '{USER_A}'"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_tx.send(true).unwrap();
    engine.await.unwrap().expect("engine run");

    let during_b: i64 = sqlx::query_scalar("select count(*) from orders where created_ns <= $1")
        .bind(deleted_ns)
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(during_b > 5 && during_b >= before, "B's switch stopped A");
    let late: i64 = sqlx::query_scalar("select count(*) from orders where created_ns > $1")
        .bind(deleted_ns + 1_000_000_000)
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(
        late, 0,
        "orders created more than 1 s after the row was deleted"
    );
    let msg: String = sqlx::query_scalar(
        "select message from risk_events where reason = 'kill_switch' and ts_ns > $1 \
         order by ts_ns limit 1",
    )
    .bind(deleted_ns)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(msg.contains("no kill_switches row for user"), "{msg}");
    let audited: Vec<String> = sqlx::query_scalar(
        "select action || ':' || entity_id from audit_log where entity = 'kill_switches' \
         order by id",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [
            format!("insert:{USER_A}"),
            format!("insert:{USER_B}"),
            format!("update:{USER_B}"),
            format!("update:{USER_B}"),
            format!("update:{USER_B}"),
            format!("delete:{USER_A}"),
        ]
    );
    // Deleting the global switch is audited too (an engine would then refuse every order).
    sqlx::raw_sql("delete from global_settings where key = 'kill_switch'")
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(
        count(
            &mut c,
            "select count(*) from audit_log where entity = 'global_settings' \
             and action = 'delete' and entity_id = 'kill_switch'"
        )
        .await,
        1
    );
    c.close().await.ok();
    db.drop_db().await;
}

/// Fill keys in the database: (client order id, trade id).
async fn db_fills(c: &mut PgConnection) -> Vec<(String, i64)> {
    sqlx::query("select client_order_id, trade_id from fills order by id")
        .fetch_all(c)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// A child `peregrine run` (in-process simulator, this test's database) is killed with
/// SIGKILL while a batch is being collected; a second run must write everything the first
/// had taken in, exactly once, plus its own fills.
///
/// What "every fill" can mean here: the simulator lives in the killed process, so its ledger
/// dies with it, and a fill still in flight on the user-data socket at the kill never reached
/// the engine at all (recovering those needs a venue trade-history reconciliation, which the
/// simulator does not offer yet). The truth is therefore what the dead engine had accepted:
/// the fills already committed plus those in its spool, read after the kill with the
/// engine's own spool reader. The test refuses to pass vacuously: the spool must hold fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_then_restart_writes_every_spooled_fill_once() {
    let Some(db) = test_db("crash").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Long batch age: at the kill, the spool certainly holds fills not yet in the database.
    let cfg = dir.path().join("crash.toml");
    std::fs::write(
        &cfg,
        engine_config(dir.path(), TAKER, &db.engine_url(), 1500),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_peregrine");
    let mut child = std::process::Command::new(bin)
        .args(["run", "--config"])
        .arg(&cfg)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it trade until a first batch is committed, then SIGKILL it mid-way through the
    // next batch's 1.5 s collection window.
    let mut c = db.conn().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&mut c, "select count(*) from fills").await == 0 {
        assert!(Instant::now() < deadline, "no fill reached the database");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the engine exited early"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let before = db_fills(&mut c).await;
    // What the dead engine had taken in but not committed: read with the engine's own spool
    // reader (this is what the restart will replay).
    let (spool, recovered) = Spool::open(SpoolConfig::new(dir.path().join("spool"))).unwrap();
    drop(spool);
    let spooled: Vec<(String, i64)> = recovered
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            SinkEvent::Fill(f) => Some((f.client_order_id.clone(), f.trade_id)),
            _ => None,
        })
        .collect();
    assert!(
        !before.is_empty(),
        "some fills were committed before the kill"
    );
    assert!(
        !spooled.is_empty(),
        "the kill must catch fills in the spool, else this test proves nothing \
         ({} events recovered, {} fills committed before)",
        recovered.events.len(),
        before.len()
    );
    let expected: HashSet<(String, i64)> = before
        .iter()
        .cloned()
        .chain(spooled.iter().cloned())
        .collect();

    // Restart: drains the spool first, trades a little, stops cleanly.
    let summary = dir.path().join("summary.json");
    let out = std::process::Command::new(bin)
        .args(["run", "--duration", "3s", "--config"])
        .arg(&cfg)
        .arg("--summary")
        .arg(&summary)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert!(json["sink"]["recovered"].as_u64().unwrap() >= spooled.len() as u64);
    let run2_fills = json["fills"].as_u64().unwrap() as usize;

    let after = db_fills(&mut c).await;
    let after_set: HashSet<(String, i64)> = after.iter().cloned().collect();
    assert_eq!(after_set.len(), after.len(), "no fill twice");
    for k in &expected {
        assert!(
            after_set.contains(k),
            "fill {k:?} taken in before the kill is missing"
        );
    }
    assert_eq!(
        after.len(),
        expected.len() + run2_fills,
        "exactly the pre-kill fills (committed or spooled) plus the restart's own"
    );
    c.close().await.ok();
    db.drop_db().await;
}

/// A live run writes `equity_snapshots` every second and at the stop, valued from the
/// engine's positions (the check in `equity_check`); the rows are the owner's only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equity_snapshots_value_the_positions_and_stay_private() {
    let Some(db) = test_db("equity").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let text = engine_config(dir.path(), TAKER, &db.engine_url(), 20).replace(
        "progress_interval_s = 0\n",
        "progress_interval_s = 0\nequity_snapshot_interval_s = 1\n",
    );
    let cfg = peregrine_engine::config::Config::parse(&text, Path::new("equity.toml")).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let engine = tokio::spawn(peregrine::app::run_engine(cfg, stop_rx));
    let mut c = db.conn().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&mut c, "select count(*) from fills").await < 3 {
        assert!(Instant::now() < deadline, "no fills reached the database");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    stop_tx.send(true).unwrap();
    engine.await.unwrap().expect("engine run");

    let snaps: Vec<equity_check::Snap> = sqlx::query(
        "select id, ts_ns, scope::text as scope, strategy, symbol, qty, mark, realized_pnl, \
         unrealized_pnl, fees, equity from equity_snapshots where user_id = $1::uuid",
    )
    .bind(USER_A)
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| equity_check::Snap {
        id: r.get("id"),
        ts_ns: r.get("ts_ns"),
        scope: r.get("scope"),
        strategy: r.get("strategy"),
        symbol: r.get("symbol"),
        qty: r.get("qty"),
        mark: r.get("mark"),
        realized: r.get("realized_pnl"),
        unrealized: r.get("unrealized_pnl"),
        fees: r.get("fees"),
        equity: r.get("equity"),
    })
    .collect();
    let positions: Vec<equity_check::Pos> =
        sqlx::query("select strategy, symbol, qty, avg_price, realized_pnl, fees from positions")
            .fetch_all(&mut c)
            .await
            .unwrap()
            .iter()
            .map(|r| equity_check::Pos {
                strategy: r.get("strategy"),
                symbol: r.get("symbol"),
                qty: r.get("qty"),
                avg_price: r.get("avg_price"),
                realized: r.get("realized_pnl"),
                fees: r.get("fees"),
            })
            .collect();
    // At least three 1 s snapshots after the first fills, and the one at the stop.
    let taken = equity_check::check(&snaps, &positions, 4);
    eprintln!("{taken} equity snapshots, {} rows", snaps.len());
    // Fees were paid, so realized PnL moved; the time twin is the engine time.
    let (fees, at_ok): (Decimal, bool) = sqlx::query_as(
        "select fees, ts_at = to_timestamp(ts_ns / 1e9) from equity_snapshots \
         where scope = 'account' and symbol is null order by ts_ns desc limit 1",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(fees > Decimal::ZERO && at_ok);

    // The owner reads them (through the user_id index's policy); user B reads none; anon nothing.
    for (user, visible) in [(USER_A, snaps.len() as i64), (USER_B, 0)] {
        let mut tx = as_user(&mut c, user).await;
        assert_eq!(
            count(&mut tx, "select count(*) from equity_snapshots").await,
            visible,
            "{user}"
        );
        for sql in [
            "update equity_snapshots set equity = 1e9",
            "delete from equity_snapshots",
            "insert into equity_snapshots (user_id, id, run_id, ts_ns, scope, venue, realized_pnl, fees) values (auth.uid(), 'x', 'r', 1, 'account', 'binance', 1, 0)",
        ] {
            assert_refused(&mut tx, sql, "authenticated").await;
        }
        tx.rollback().await.unwrap();
    }
    let mut tx = c.begin().await.unwrap();
    sqlx::raw_sql("set local role anon")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_refused(&mut tx, "select count(*) from equity_snapshots", "anon").await;
    tx.rollback().await.unwrap();
    c.close().await.ok();
    db.drop_db().await;
}

/// Counts signals `v` = `value` recorded after engine time `after_ns`.
async fn signals_after(c: &mut PgConnection, value: f64, after_ns: i64) -> i64 {
    sqlx::query_scalar(
        "select count(*) from signals where name = 'v' and value = $1 and ts_ns > $2",
    )
    .bind(value)
    .bind(after_ns)
    .fetch_one(c)
    .await
    .expect("signals")
}

/// Waits (up to 20 s) until `sql` (a boolean query) is true.
async fn wait_until(c: &mut PgConnection, sql: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok: bool = sqlx::query_scalar(sql).fetch_one(&mut *c).await.expect(sql);
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {sql}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The reload row of `version`: (accepted, message, ts_ns).
async fn reload_of(c: &mut PgConnection, version: i64) -> (bool, String, i64) {
    wait_until(
        c,
        &format!("select exists (select 1 from strategy_reloads where version = {version})"),
    )
    .await;
    sqlx::query_as(
        "select accepted, message, ts_ns from strategy_reloads where version = $1 \
         and origin = 'database' and strategy = 's' and user_id = $2::uuid",
    )
    .bind(version)
    .bind(USER_A)
    .fetch_one(c)
    .await
    .expect("reload row")
}

/// A running engine follows its user's `strategies` row: a new source or new parameters
/// are swapped in (the signals show which version runs), a broken script and parameters
/// of the wrong type are refused and recorded while the running version keeps going.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_rows_hot_reload_a_running_engine_and_refusals_are_recorded() {
    let Some(db) = test_db("strategies").await else {
        return;
    };
    const FILE_V: &str = r#"
fn on_start() { this.n = 0; }
fn on_trade(t) { this.n += 1; if this.n % 10 == 0 { signal("v", 1.0); } }
"#;
    const ROW_V: &str = r#"
fn on_start() { this.n = 0; }
fn on_trade(t) { this.n += 1; if this.n % 10 == 0 { signal("v", param("level", 2.0)); } }
"#;
    let dir = tempfile::tempdir().unwrap();
    let text = engine_config(dir.path(), FILE_V, &db.engine_url(), 20)
        .replace("params = { qty = \"0.0002\" }\n", "")
        .replace("kill_switch_poll_s = 30", "kill_switch_poll_s = 1");
    let cfg = peregrine_engine::config::Config::parse(&text, Path::new("rows.toml")).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let engine = tokio::spawn(peregrine::app::run_engine(cfg, stop_rx));
    let mut c = db.conn().await;
    wait_until(&mut c, "select count(*) > 0 from signals where value = 1").await;

    // An edge function (service_role) writes the row: version 1 replaces the file's.
    let mut tx = as_service_role(&mut c).await;
    sqlx::query("insert into strategies (user_id, name, source) values ($1::uuid, 's', $2)")
        .bind(USER_A)
        .bind(ROW_V)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (ok, msg, at) = reload_of(&mut c, 1).await;
    assert!(ok, "{msg}");
    wait_until(
        &mut c,
        &format!("select count(*) > 0 from signals where value = 2 and ts_ns > {at}"),
    )
    .await;

    // New parameters only: version 2.
    sqlx::query("update strategies set params = '{\"level\": 3.5}' where name = 's'")
        .execute(&mut c)
        .await
        .unwrap();
    let (ok, msg, at) = reload_of(&mut c, 2).await;
    assert!(ok, "{msg}");
    wait_until(
        &mut c,
        &format!("select count(*) > 0 from signals where value = 3.5 and ts_ns > {at}"),
    )
    .await;

    // A broken script: refused before it reaches the core; 3.5 keeps coming.
    sqlx::query("update strategies set source = 'fn on_trade(t) { let x = ; }' where name = 's'")
        .execute(&mut c)
        .await
        .unwrap();
    let (ok, msg, at) = reload_of(&mut c, 3).await;
    assert!(!ok);
    assert!(msg.contains("strategies row \"s\" v3"), "{msg}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        signals_after(&mut c, 3.5, at).await > 0,
        "the running version stopped"
    );

    // Parameters of the wrong type for the script's default: refused, as at config load.
    sqlx::query(
        "update strategies set source = $1, params = '{\"level\": \"high\"}' where name = 's'",
    )
    .bind(ROW_V)
    .execute(&mut c)
    .await
    .unwrap();
    let (ok, msg, at) = reload_of(&mut c, 4).await;
    assert!(!ok);
    assert!(msg.contains("level"), "{msg}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        signals_after(&mut c, 3.5, at).await > 0,
        "the running version stopped"
    );
    stop_tx.send(true).unwrap();
    engine.await.unwrap().expect("engine run");

    // The row: version 4, its hash; every change audited.
    let (version, sha): (i64, String) =
        sqlx::query_as("select version, source_sha256 from strategies where name = 's'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(version, 4);
    assert_eq!(sha.len(), 64);
    assert_eq!(
        count(
            &mut c,
            "select count(*) from audit_log where entity = 'strategies'"
        )
        .await,
        4
    );

    // Browsers: the owner reads the row and the outcomes, B nothing; nobody writes.
    for (user, visible) in [(USER_A, 1), (USER_B, 0)] {
        let mut tx = as_user(&mut c, user).await;
        assert_eq!(
            count(&mut tx, "select count(*) from strategies").await,
            visible
        );
        assert_eq!(
            count(&mut tx, "select count(*) from strategy_reloads").await,
            visible * 4
        );
        for sql in [
            "update strategies set params = '{}'",
            "delete from strategies",
            "insert into strategies (user_id, name, source) values (auth.uid(), 'x', '')",
            "delete from strategy_reloads",
        ] {
            assert_refused(&mut tx, sql, "authenticated").await;
        }
        tx.rollback().await.unwrap();
    }
    c.close().await.ok();
    db.drop_db().await;
}

/// Stores `key`/`secret` for `user` in the Vault as an edge function would (service_role),
/// with the `user_exchange_keys` row naming them.
async fn store_keys(c: &mut PgConnection, user: &str, key: &str, secret: &str) {
    let mut tx = as_service_role(c).await;
    sqlx::query(
        "insert into user_exchange_keys (user_id, venue, key_type, api_key_id, api_secret_id) \
         values ($1::uuid, 'binance', 'hmac', vault.create_secret($2), vault.create_secret($3))",
    )
    .bind(user)
    .bind(key)
    .bind(secret)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// A simulator (in this process, not the engine's) whose account has the HMAC `key` /
/// `secret` and optionally an Ed25519 key.
async fn vault_sim(
    key: &str,
    secret: &str,
    ed25519_key: Option<peregrine_exchanges::sim::SimEd25519Key>,
) -> peregrine_exchanges::sim::SimHandle {
    peregrine_exchanges::sim::spawn(
        peregrine_exchanges::sim::SimConfig {
            api_key: key.into(),
            api_secret: secret.into(),
            ed25519_key,
            md_interval_ms: 5,
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

/// A config trading at `sim` (not in-process) as user A on `db` through the engine's role,
/// with keys from the Vault only: the environment variables it names are unset.
fn vault_run_config(dir: &Path, db: &TestDb, sim: &peregrine_exchanges::sim::SimHandle) -> String {
    assert!(std::env::var("PEREGRINE_VAULT_TEST_NO_SUCH_KEY").is_err());
    engine_config(dir, TAKER, &db.engine_url(), 20)
        .replace("[sim]\nenabled = true\n", "[sim]\nenabled = false\n")
        .replace(
            "ws_url = \"ws://127.0.0.1:1\"",
            &format!("ws_url = \"{}\"", sim.ws_base_url()),
        )
        .replace(
            "rest_url = \"http://127.0.0.1:1\"\n",
            &format!(
                "rest_url = \"{}\"\nws_api_url = \"{}/ws-api/v3\"\n\
                 api_key_env = \"PEREGRINE_VAULT_TEST_NO_SUCH_KEY\"\n\
                 api_secret_env = \"PEREGRINE_VAULT_TEST_NO_SUCH_SECRET\"\n",
                sim.rest_base_url(),
                sim.ws_base_url()
            ),
        )
}

/// How many rows of the tables the engine writes (and the key rows) contain any of `secrets`.
async fn leaked(c: &mut PgConnection, secrets: &[&str]) -> i64 {
    sqlx::query_scalar(
        "select count(*) from (select to_jsonb(t)::text as j from audit_log t \
         union all select to_jsonb(t)::text from runs t \
         union all select to_jsonb(t)::text from risk_events t \
         union all select to_jsonb(t)::text from orders t \
         union all select to_jsonb(t)::text from strategy_reloads t \
         union all select to_jsonb(t)::text from user_exchange_keys t) x \
         where exists (select 1 from unnest($1::text[]) s where strpos(j, s) > 0)",
    )
    .bind(secrets)
    .fetch_one(c)
    .await
    .unwrap()
}

/// Waits (at most 30 s, the engine still running) until `sql` counts at least `n`.
async fn wait_for_count(
    c: &mut PgConnection,
    sql: &str,
    n: i64,
    engine: &tokio::task::JoinHandle<anyhow::Result<peregrine::app::RunOutcome>>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(c, sql).await < n {
        assert!(!engine.is_finished(), "the engine stopped early");
        assert!(Instant::now() < deadline, "{sql} stayed below {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A run whose keys are only in Supabase Vault (no environment variable holds them) trades
/// with them against a venue (the simulator) that accepts only those keys; the keys appear
/// in no table the engine writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_trades_with_the_users_keys_from_the_vault() {
    let Some(db) = test_db("vault_keys").await else {
        return;
    };
    let (key, secret) = ("vault-key-of-a-0123456789", "vault-secret-of-a-9876543210");
    let sim = vault_sim(key, secret, None).await;
    let mut c = db.conn().await;
    store_keys(&mut c, USER_A, key, secret).await;
    // B's keys are someone else's: never used for A's run.
    store_keys(&mut c, USER_B, "key-of-b", "secret-of-b").await;

    let dir = tempfile::tempdir().unwrap();
    let text = vault_run_config(dir.path(), &db, &sim);
    let cfg = peregrine_engine::config::Config::parse(&text, Path::new("vault.toml")).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let engine = tokio::spawn(peregrine::app::run_engine(cfg, stop_rx));
    wait_for_count(&mut c, "select count(*) from fills", 3, &engine).await;
    stop_tx.send(true).unwrap();
    engine.await.unwrap().expect("engine run");
    assert!(
        !sim.ledger().is_empty(),
        "the venue made fills for the Vault's key"
    );
    assert_eq!(
        count(
            &mut c,
            &format!("select count(*) from fills where user_id <> '{USER_A}'")
        )
        .await,
        0
    );
    // `peregrine keys check`: A's keys are valid; B's are refused by the venue (and the
    // error shows no key); a user without keys is told so.
    let check_cfg =
        peregrine_engine::config::Config::parse(&text, Path::new("vault.toml")).unwrap();
    let n = peregrine::venue_keys::check_keys(&check_cfg, USER_A)
        .await
        .expect("A's keys are valid");
    assert!(n > 0);
    let e = format!(
        "{:#}",
        peregrine::venue_keys::check_keys(&check_cfg, USER_B)
            .await
            .expect_err("B's keys are not the venue's")
    );
    assert!(e.contains("refused") && e.contains("-2015"), "{e}");
    assert!(!e.contains("key-of-b") && !e.contains("secret-of-b"), "{e}");
    let e = format!(
        "{:#}",
        peregrine::venue_keys::check_keys(&check_cfg, "cccccccc-0000-4000-8000-000000000003")
            .await
            .expect_err("no keys")
    );
    assert!(e.contains("no user_exchange_keys row"), "{e}");
    // The same through the binary.
    let file = dir.path().join("vault.toml");
    std::fs::write(&file, &text).unwrap();
    for (user, ok) in [(USER_A, true), (USER_B, false)] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_peregrine"));
        cmd.args(["keys", "check", "--config"])
            .arg(&file)
            .args(["--user", user])
            .env_remove("DATABASE_URL");
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .expect("peregrine keys check");
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.success(), ok, "{user}: {shown}");
        assert_eq!(shown.contains("valid ("), ok, "{shown}");
        for s in [key, secret, "key-of-b", "secret-of-b"] {
            assert!(!shown.contains(s), "a key in the output: {shown}");
        }
    }
    // The secrets are nowhere but in the vault.
    assert_eq!(leaked(&mut c, &[key, secret]).await, 0);
    sim.shutdown().await;
    c.close().await.ok();
    db.drop_db().await;
}

/// A changed `user_exchange_keys` row reaches the running engine: user A's HMAC key is
/// replaced in the Vault by an Ed25519 key of the same venue account (an edge function's
/// rotation), the engine loads it (LISTEN on the row's trigger) and reconnects its WebSocket
/// API session with it; then the venue revokes the old key, and orders go on filling, so
/// they are signed with the new key. Neither key shows in any row or in the engine's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_key_row_is_loaded_by_the_running_engine() {
    let Some(db) = test_db("key_rotation").await else {
        return;
    };
    let (old_key, old_secret) = ("rotating-old-key-0123456789", "rotating-old-secret-987654");
    let new_key = "rotating-new-ed25519-key-42";
    let (new_pem, new_public) = peregrine_exchanges::binance::sign::generate_ed25519().unwrap();
    let sim = vault_sim(
        old_key,
        old_secret,
        Some(peregrine_exchanges::sim::SimEd25519Key {
            api_key: new_key.into(),
            public_key_pem: new_public,
        }),
    )
    .await;
    let mut c = db.conn().await;
    store_keys(&mut c, USER_A, old_key, old_secret).await;
    let dir = tempfile::tempdir().unwrap();
    let text = vault_run_config(dir.path(), &db, &sim);
    let cfg = peregrine_engine::config::Config::parse(&text, Path::new("rotate.toml")).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let engine = tokio::spawn(peregrine::app::run_engine(cfg, stop_rx));
    wait_for_count(&mut c, "select count(*) from fills", 3, &engine).await;

    // The edge function rotates A's key (service_role): new Vault secrets, the row updated.
    let mut tx = as_service_role(&mut c).await;
    sqlx::query(
        "update user_exchange_keys set key_type = 'ed25519', \
         api_key_id = vault.create_secret($2), api_secret_id = vault.create_secret($3) \
         where user_id = $1::uuid and venue = 'binance'",
    )
    .bind(USER_A)
    .bind(new_key)
    .bind(new_pem.expose())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Time for the notification, the reload and the WebSocket API's new session.
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.revoke_api_key(old_key);
    // Market orders fill when placed: a fill after the revocation is an order placed with
    // the new key.
    let ledger_before = sim.ledger().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.ledger().len() < ledger_before + 3 {
        assert!(!engine.is_finished(), "the engine stopped early");
        assert!(
            Instant::now() < deadline,
            "the venue made no fills after the old key was revoked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let venue_fills = sim.ledger().len() as i64;
    // Each of them reached A's rows.
    wait_for_count(&mut c, "select count(*) from fills", venue_fills, &engine).await;
    stop_tx.send(true).unwrap();
    let outcome = engine.await.unwrap().expect("engine run");
    assert!(
        outcome.ws_api_reconnects >= 1,
        "the WebSocket API did not reconnect with the new key"
    );
    assert_eq!(
        count(
            &mut c,
            &format!("select count(*) from fills where user_id <> '{USER_A}'")
        )
        .await,
        0
    );
    assert_eq!(
        leaked(&mut c, &[old_key, old_secret, new_key, new_pem.expose()]).await,
        0
    );
    sim.shutdown().await;
    c.close().await.ok();
    db.drop_db().await;
}

/// Copies every row of `from` in every table with a `user_id` into `to` (as the owner;
/// generated and identity columns are left to the database, rows already there kept), so
/// each user has rows in every table.
async fn copy_rows(c: &mut PgConnection, from: &str, to: &str) {
    sqlx::raw_sql(&format!(
        "do $$ \
         declare t text; cols text; vals text; \
         begin \
           for t in select c.table_name from information_schema.columns c \
                    join information_schema.tables tb using (table_schema, table_name) \
                    where c.table_schema = 'public' and c.column_name = 'user_id' \
                      and tb.table_type = 'BASE TABLE' \
                    order by c.table_name not in ('orders', 'strategies', 'runs'), c.table_name \
           loop \
             select string_agg(quote_ident(column_name), ', ' order by ordinal_position), \
                    string_agg(case when column_name = 'user_id' then '''{to}''::uuid' \
                               else quote_ident(column_name) end, ', ' order by ordinal_position) \
               into cols, vals from information_schema.columns \
              where table_schema = 'public' and table_name = t \
                and is_generated = 'NEVER' and is_identity = 'NO'; \
             execute format('insert into public.%I (%s) select %s from public.%I \
                             where user_id = %L on conflict do nothing', t, cols, vals, t, '{from}'); \
           end loop; \
         end $$"
    ))
    .execute(c)
    .await
    .expect("copy rows to another user");
}

/// Every table with a `user_id`, with each user's row count, as seen by the session.
async fn rows_per_user(c: &mut PgConnection, tables: &[String]) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for t in tables {
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "select user_id::text, count(*) from public.{t} group by 1 order by 1"
        ))
        .fetch_all(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("reading {t}: {e}"));
        out.extend(rows.into_iter().map(|(u, n)| (t.clone(), u, n)));
    }
    out
}

/// RLS with several users, in every table with a `user_id`: a real run as user A (through
/// the engine's role) fills the ledger tables, the rest (roles, keys, a risk event, a
/// strategies row the run reloads) is A's by SQL; every row is then copied to B and C. Each
/// user (authenticated, JWT claims) sees exactly their own rows in every table; the engine's
/// role, which serves A and B, sees A's and B's rows and none of C's where it may read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_with_three_users_in_every_table() {
    let Some(db) = test_db("rls_users").await else {
        return;
    };
    const USER_C: &str = "cccccccc-0000-4000-8000-000000000003";
    const SIGNALS: &str = r#"
fn on_start() {
    this.n = 0;
    // A stop far above the market: held for the whole run (a held_orders row).
    stop("buy", "10000000", param("qty"));
}
fn on_trade(t) {
    this.n += 1;
    if this.n % 4 != 0 { return; }
    signal("v", 1.0);
    if position() > 0 { market("sell", param("qty")); } else { market("buy", param("qty")); }
}
"#;
    let mut c = db.conn().await;
    sqlx::raw_sql(&format!(
        "insert into auth.users (id, email) values ('{USER_C}', 'c@x'); \
         insert into user_roles (user_id, role) values ('{USER_A}', 'trader'); \
         insert into risk_events (user_id, id, ts_ns, reason, message) \
         values ('{USER_A}', 'sql-1', 1, 'max_position', 'm')"
    ))
    .execute(&mut c)
    .await
    .expect("A's rows by SQL");
    store_keys(&mut c, USER_A, "key-of-a", "secret-of-a").await;
    sqlx::query(
        "insert into strategies (user_id, name, source, params) \
         values ($1::uuid, 's', $2, '{\"qty\": \"0.0002\"}')",
    )
    .bind(USER_A)
    .bind(SIGNALS)
    .execute(&mut c)
    .await
    .expect("A's strategies row");
    let dir = tempfile::tempdir().unwrap();
    let text = engine_config(dir.path(), SIGNALS, &db.engine_url(), 20).replace(
        "[engine]\nprogress_interval_s = 0\n",
        "[engine]\nprogress_interval_s = 1\nequity_snapshot_interval_s = 1\n",
    );
    let cfg = peregrine_engine::config::Config::parse(&text, Path::new("rls.toml")).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let engine = tokio::spawn(peregrine::app::run_engine(cfg, stop_rx));
    wait_for_count(&mut c, "select count(*) from fills", 3, &engine).await;
    wait_for_count(&mut c, "select count(*) from equity_snapshots", 1, &engine).await;
    wait_for_count(&mut c, "select count(*) from latency_stats", 1, &engine).await;
    wait_for_count(&mut c, "select count(*) from held_orders", 1, &engine).await;
    stop_tx.send(true).unwrap();
    engine.await.unwrap().expect("engine run");

    copy_rows(&mut c, USER_A, USER_B).await;
    copy_rows(&mut c, USER_A, USER_C).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "select c.table_name::text from information_schema.columns c \
         join information_schema.tables tb using (table_schema, table_name) \
         where c.table_schema = 'public' and c.column_name = 'user_id' \
           and tb.table_type = 'BASE TABLE' order by 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert!(tables.len() >= 16, "{tables:?}");
    let all = rows_per_user(&mut c, &tables).await;
    for t in &tables {
        for u in [USER_A, USER_B, USER_C] {
            assert!(
                all.iter().any(|(tt, uu, n)| tt == t && uu == u && *n > 0),
                "{t} has no row of {u}: the check below would prove nothing"
            );
        }
    }

    // Each user, as a browser does it (claims, then role, transaction-local).
    for user in [USER_A, USER_B, USER_C] {
        let mut tx = as_user(&mut c, user).await;
        let seen = rows_per_user(&mut tx, &tables).await;
        let own: Vec<_> = all.iter().filter(|(_, u, _)| u == user).cloned().collect();
        assert_eq!(seen, own, "{user} sees other users' rows (or misses own)");
        tx.rollback().await.unwrap();
    }

    // The engine's role serves A and B: it reads theirs where it may read, never C's.
    let mut e = db.engine_conn().await;
    let readable: Vec<String> = sqlx::query_scalar(
        "select t from unnest($1::text[]) t where has_table_privilege(current_user, 'public.' || t, 'SELECT')",
    )
    .bind(&tables)
    .fetch_all(&mut e)
    .await
    .unwrap();
    assert!(readable.contains(&"fills".to_string()), "{readable:?}");
    let seen = rows_per_user(&mut e, &readable).await;
    let served: Vec<_> = all
        .iter()
        .filter(|(t, u, _)| readable.contains(t) && u != USER_C)
        .cloned()
        .collect();
    assert_eq!(seen, served);
    e.close().await.ok();
    c.close().await.ok();
    db.drop_db().await;
}
