//! A schema a frontend can trust: enums where the values are fixed, JS-safe text and
//! timestamptz twins of bigint ids and nanosecond times, fills embedded under their order
//! (foreign key), and RLS policies a user's unfiltered "newest 50" query answers from the
//! `(user_id, time)` index, checked with EXPLAIN over 100k rows of other users.

mod pg_support;

use peregrine_engine::events::{
    FillRow, OrderRow, OrderStatus, PositionRow, RiskEventRow, SinkEvent,
};
use peregrine_engine::sink::{spawn_sink, SinkConfig};
use peregrine_engine::types::Side;
use pg_support::{test_db, USER_A};
use rust_decimal_macros::dec;
use sqlx::{Connection, PgConnection};

fn events() -> Vec<SinkEvent> {
    let risk = |id: &str, reason: &str| {
        SinkEvent::Risk(RiskEventRow {
            id: id.into(),
            ts_ns: 1_764_090_000_000_000_000,
            strategy: Some("s".into()),
            symbol: None,
            reason: reason.into(),
            message: "m".into(),
        })
    };
    vec![
        SinkEvent::Order(OrderRow {
            client_order_id: "a1".into(),
            venue_order_id: Some(9_007_199_254_740_993), // 2^53 + 1: not a JS number
            strategy: "s".into(),
            venue: "binance".into(),
            symbol: "BTC-USDT".into(),
            side: Side::Sell,
            order_type: "limit".into(),
            price: Some(dec!(60000.5)),
            qty: dec!(0.1),
            filled_qty: dec!(0.1),
            status: OrderStatus::Filled,
            reject_reason: None,
            created_ns: 1_764_090_000_123_456_789,
            updated_ns: 1_764_090_001_123_456_789,
        }),
        SinkEvent::Fill(FillRow {
            venue: "binance".into(),
            symbol: "BTC-USDT".into(),
            trade_id: 9_007_199_254_740_995,
            client_order_id: "a1".into(),
            strategy: "s".into(),
            side: Side::Sell,
            price: dec!(60000.5),
            qty: dec!(0.1),
            fee: dec!(0.006),
            fee_asset: "USDT".into(),
            is_maker: true,
            exch_ts_ns: 1_764_090_001_000_000_000,
        }),
        SinkEvent::Position(PositionRow {
            strategy: "s".into(),
            venue: "binance".into(),
            symbol: "BTC-USDT".into(),
            qty: dec!(-0.1),
            avg_price: dec!(60000.5),
            realized_pnl: dec!(0),
            fees: dec!(0.006),
            updated_ns: 1_764_090_001_000_000_000,
        }),
        risk("r-1", "max_position"),
        risk("r-2", "a_code_no_migration_lists_yet"),
    ]
}

async fn text(c: &mut PgConnection, sql: &str) -> String {
    sqlx::query_scalar(sql)
        .fetch_one(c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enums_js_safe_twins_and_fills_under_their_order() {
    let Some(db) = test_db("frontend_types").await else {
        return;
    };
    let url = db.engine_url();
    tokio::task::spawn_blocking(move || {
        let cfg = SinkConfig {
            user_id: Some(USER_A.into()),
            ..SinkConfig::new(url)
        };
        let (tx, join) = spawn_sink(cfg).expect("spawn sink");
        for e in events() {
            tx.send(e).expect("send");
        }
        drop(tx);
        join.join().expect("sink")
    })
    .await
    .expect("sink thread");
    let mut c = db.conn().await;

    // Enum types, so generated TypeScript types are unions.
    let types = text(
        &mut c,
        "select string_agg(table_name || '.' || column_name || ':' || udt_name, ' ' \
         order by table_name, column_name) from information_schema.columns \
         where table_schema = 'public' and data_type = 'USER-DEFINED'",
    )
    .await;
    assert_eq!(
        types,
        "equity_snapshots.scope:equity_scope fills.side:order_side \
         held_orders.order_type:order_type held_orders.side:order_side \
         held_orders.status:held_order_status held_orders.time_in_force:time_in_force \
         held_orders.trigger_kind:trigger_kind \
         order_events.status:order_status orders.order_type:order_type \
         orders.side:order_side \
         orders.status:order_status orders.time_in_force:time_in_force \
         risk_events.kind:risk_reason runs.status:run_status"
    );
    assert_eq!(
        text(
            &mut c,
            "select string_agg(id || '=' || kind::text, ',' order by id) from risk_events"
        )
        .await,
        "r-1=max_position,r-2=other"
    );

    // JS-safe twins: exact text of ids beyond 2^53, timestamptz of nanosecond times.
    assert_eq!(
        text(&mut c, "select venue_order_id_text from orders").await,
        "9007199254740993"
    );
    assert_eq!(
        text(&mut c, "select trade_id_text from fills").await,
        "9007199254740995"
    );
    sqlx::raw_sql("update orders set seq = 1800000000000000001")
        .execute(&mut c)
        .await
        .expect("large seq");
    assert_eq!(
        text(&mut c, "select seq_text from orders").await,
        "1800000000000000001"
    );
    assert_eq!(
        text(
            &mut c,
            "select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') from orders"
        )
        .await,
        "2025-11-25 17:00:00.123457"
    );
    for (table, col) in [
        ("signals", "ts_at"),
        ("latency_stats", "window_end_at"),
        ("venue_checkpoints", "last_trade_at"),
        ("fills", "id_text"),
        ("audit_log", "id_text"),
        ("positions", "seq_text"),
    ] {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from information_schema.columns \
             where table_schema = 'public' and table_name = $1 and column_name = $2",
        )
        .bind(table)
        .bind(col)
        .fetch_one(&mut c)
        .await
        .expect("catalog");
        assert_eq!(n, 1, "{table}.{col} missing");
    }

    // fills -> orders: validated, and a fill without its order is refused at commit.
    let valid: bool = sqlx::query_scalar(
        "select convalidated from pg_constraint where conname = 'fills_order_fkey'",
    )
    .fetch_one(&mut c)
    .await
    .expect("fk");
    assert!(valid);
    let mut tx = c.begin().await.expect("begin");
    sqlx::query(
        "insert into fills (user_id, venue, symbol, trade_id, client_order_id, strategy, side, \
         price, qty, fee, fee_asset, is_maker, exch_ts_ns, seq) values ($1::uuid, 'binance', \
         'BTC-USDT', 1, 'no-such-order', 's', 'buy', 1, 1, 0, 'BTC', true, 1, 1)",
    )
    .bind(USER_A)
    .execute(&mut *tx)
    .await
    .expect("deferred: accepted until commit");
    assert!(tx.commit().await.is_err(), "orphan fill committed");
    c.close().await.ok();
    db.drop_db().await;
}

/// The plan of `sql` run as `user` through PostgREST's sequence (claims, then role).
async fn plan_as(c: &mut PgConnection, user: &str, sql: &str) -> String {
    let mut tx = c.begin().await.expect("begin");
    sqlx::query("select set_config('request.jwt.claims', $1, true)")
        .bind(format!(r#"{{"sub":"{user}","role":"authenticated"}}"#))
        .execute(&mut *tx)
        .await
        .expect("claims");
    sqlx::raw_sql("set local role authenticated")
        .execute(&mut *tx)
        .await
        .expect("role");
    let lines: Vec<String> = sqlx::query_scalar(&format!("explain (analyze, costs off) {sql}"))
        .fetch_all(&mut *tx)
        .await
        .expect("explain");
    tx.rollback().await.expect("rollback");
    lines.join("\n")
}

#[tokio::test]
async fn a_users_unfiltered_newest_rows_come_from_the_user_id_index() {
    let Some(db) = test_db("frontend_plan").await else {
        return;
    };
    let mut c = db.conn().await;
    // 100k rows of 20 other users in each of fills, orders and risk_events, and 30 of A's.
    sqlx::raw_sql(&format!(
        "insert into auth.users (id) select ('cccccccc-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid \
           from generate_series(1, 20) u; \
         insert into orders (user_id, venue, client_order_id, strategy, symbol, side, order_type, \
           qty, filled_qty, status, created_ns, updated_ns, seq) \
           select case when g <= 30 then '{USER_A}'::uuid \
                  else ('cccccccc-0000-4000-8000-' || lpad((g % 20 + 1)::text, 12, '0'))::uuid end, \
                  'binance', 'o' || g, 's', 'BTC-USDT', 'buy', 'limit', 1, 1, 'filled', \
                  1764090000000000000 + g::bigint * 1000000000, 1764090000000000000 + g::bigint * 1000000000, g \
           from generate_series(1, 100030) g; \
         insert into fills (user_id, venue, symbol, trade_id, client_order_id, strategy, side, \
           price, qty, fee, fee_asset, is_maker, exch_ts_ns, seq) \
           select user_id, venue, symbol, seq, client_order_id, strategy, side, 1, 1, 0, 'USDT', \
                  true, updated_ns, seq from orders; \
         insert into risk_events (user_id, id, ts_ns, reason, message) \
           select user_id, client_order_id, updated_ns, 'max_position', 'm' from orders; \
         analyze orders; analyze fills; analyze risk_events;"
    ))
    .execute(&mut c)
    .await
    .expect("100k rows of other users");

    for (sql, index) in [
        (
            "select * from fills order by exch_ts_at desc limit 50",
            "fills_user_id_exch_ts_at_idx",
        ),
        (
            "select * from orders order by updated_at desc limit 50",
            "orders_user_id_updated_at_idx",
        ),
        (
            "select * from risk_events order by ts_at desc limit 50",
            "risk_events_user_id_ts_at_idx",
        ),
    ] {
        let plan = plan_as(&mut c, USER_A, sql).await;
        assert!(
            plan.contains(&format!("Index Scan using {index}")) && !plan.contains("Seq Scan"),
            "{sql} is not answered from {index}:\n{plan}"
        );
        assert!(
            plan.contains("rows=30 loops=1"),
            "A reads its 30 rows:\n{plan}"
        );
    }
    // Embedding fills under their order (PostgREST's `select('*, fills(*)')`) joins on the
    // foreign key's index.
    let plan = plan_as(
        &mut c,
        USER_A,
        "select o.client_order_id, (select count(*) from fills f where f.user_id = o.user_id \
         and f.venue = o.venue and f.client_order_id = o.client_order_id) \
         from orders o order by o.updated_at desc limit 50",
    )
    .await;
    assert!(!plan.contains("Seq Scan"), "{plan}");
    c.close().await.ok();
    db.drop_db().await;
}
