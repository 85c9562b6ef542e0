//! Held conditional orders survive restarts: a buy stop placed in run 1 (never reached there)
//! is stored `held`, held again when the engine restarts against a simulator whose market is
//! above its trigger, fires there on the first trade, and fills at the venue exactly once; a
//! third run restores nothing. For SQLite and for PostgreSQL (Supabase schema), each run a
//! real `run_engine` against the in-process simulator.

mod pg_support;

use std::path::Path;
use std::time::Duration;

use peregrine::app::{run_engine, RunOutcome};
use peregrine_engine::config::Config;
use sqlx::Row;
use tokio::sync::watch;

/// Places one buy stop on its first trade when `place` is 1.
const SCRIPT: &str = r#"
fn on_start() { this.placed = false; }
fn on_trade(t) {
    if param("place") == 1 && !this.placed {
        this.placed = true;
        signal("stop_placed", 1);
        stop("buy", param("trigger"), "0.001");
    }
}
"#;

fn config(dir: &Path, start_price: &str, place: i64, sink: &str) -> Config {
    std::fs::write(dir.join("s.rhai"), SCRIPT).unwrap();
    let text = format!(
        r#"
[engine]
progress_interval_s = 0
drain_timeout_ms = 3000
cancel_on_stop = true
[sim]
enabled = true
seed = 5
md_interval_ms = 5
[venue]
name = "binance"
ws_url = "ws://127.0.0.1:1"
rest_url = "http://127.0.0.1:1"
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
sim_start_price = "{start_price}"
[[strategies]]
name = "stopper"
file = "{script}"
instruments = ["BTC-USDT"]
params = {{ place = {place}, trigger = "65000" }}
[risk]
max_order_notional = "150"
max_position = "0.01"
[sink]
{sink}
batch_age_ms = 20
spool_dir = "{spool}"
kill_switch_poll_s = 30
"#,
        script = dir.join("s.rhai").display(),
        spool = dir.join("spool").display(),
    );
    Config::parse(&text, Path::new("held.toml")).expect("valid test config")
}

async fn run_for(cfg: Config, secs: u64) -> RunOutcome {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let _ = stop_tx.send(true);
    });
    run_engine(cfg, stop_rx).await.expect("run completes")
}

/// The stored held orders as (client order id, status).
type Stored = Vec<(String, String)>;

/// The three runs with `sink` (the `[sink]` url line, and the user for Postgres); `held`
/// reads the `held_orders` rows, `orders` the stored statuses of one order id.
async fn scenario<H, HF, O, OF>(dir: &Path, sink: &str, held: H, orders: O)
where
    H: Fn() -> HF,
    HF: std::future::Future<Output = Stored>,
    O: Fn(String) -> OF,
    OF: std::future::Future<Output = Vec<String>>,
{
    // Run 1: the market near 60000; the stop at 65000 is placed and stays held.
    let out = run_for(config(dir, "60000", 1, sink), 3).await;
    assert_eq!(out.summary.orders, 0, "nothing may fire in run 1");
    assert!(out.sim_ledger.expect("in-process simulator").is_empty());
    let rows = held().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (id, status) = rows[0].clone();
    assert_eq!(status, "held");
    assert!(
        orders(id.clone()).await.is_empty(),
        "no order row before it fires"
    );

    // Run 2: a new simulator trading near 70000: the restored stop fires on the first trade.
    let out = run_for(config(dir, "70000", 0, sink), 4).await;
    let ledger = out.sim_ledger.expect("in-process simulator");
    let ours: Vec<_> = ledger.iter().filter(|f| f.client_order_id == id).collect();
    assert!(
        !ours.is_empty(),
        "the restored stop did not fill: {ledger:?}"
    );
    assert_eq!(
        ours.iter().map(|f| f.qty).sum::<rust_decimal::Decimal>(),
        rust_decimal_macros::dec!(0.001)
    );
    assert_eq!(ledger.len(), ours.len(), "only the stop trades");
    assert_eq!(out.summary.orders, 1, "placed once");
    assert_eq!(held().await, vec![(id.clone(), "fired".to_string())]);
    assert_eq!(orders(id.clone()).await, vec!["filled".to_string()]);

    // Run 3: nothing is held any more.
    let out = run_for(config(dir, "70000", 0, sink), 3).await;
    assert_eq!(out.summary.orders, 0, "a fired stop must not fire again");
    assert!(out.sim_ledger.expect("in-process simulator").is_empty());
    assert_eq!(held().await, vec![(id.clone(), "fired".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_held_stop_fires_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("held.db").display());
    let sink = format!("url = \"{url}\"");
    let held = || async {
        let pool = peregrine_engine::sink::sqlite_pool(&url).await.unwrap();
        let rows = sqlx::query("SELECT client_order_id, status FROM held_orders")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.iter()
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect()
    };
    let orders = |id: String| {
        let url = &url;
        async move {
            let pool = peregrine_engine::sink::sqlite_pool(url).await.unwrap();
            let rows = sqlx::query("SELECT status FROM orders WHERE client_order_id = ?")
                .bind(id)
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            rows.iter().map(|r| r.get::<String, _>(0)).collect()
        }
    };
    scenario(dir.path(), &sink, held, orders).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_held_stop_fires_once_after_a_restart() {
    let Some(db) = pg_support::test_db("held_restart").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = format!(
        "url = \"{}\"\nuser_id = \"{}\"",
        db.engine_url(),
        pg_support::USER_A
    );
    let held = || async {
        let mut c = db.conn().await;
        sqlx::query(
            "SELECT client_order_id, status::text FROM held_orders WHERE user_id = $1::uuid",
        )
        .bind(pg_support::USER_A)
        .fetch_all(&mut c)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect()
    };
    let orders = |id: String| {
        let db = &db;
        async move {
            let mut c = db.conn().await;
            sqlx::query("SELECT status::text FROM orders WHERE client_order_id = $1")
                .bind(id)
                .fetch_all(&mut c)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect()
        }
    };
    scenario(dir.path(), &sink, held, orders).await;
    db.drop_db().await;
}
