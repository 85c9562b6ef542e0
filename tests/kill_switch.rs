//! The account-level kill switch in a running engine: a daily-loss breach trips it, every
//! working order is cancelled at the venue (the simulator's book shows none of ours left)
//! within one second, new orders are refused, and each step is a recorded risk event.

use std::path::Path;
use std::time::{Duration, Instant};

use peregrine::app::run_engine;
use peregrine_engine::config::Config;
use peregrine_engine::sink::sqlite_pool;
use peregrine_exchanges::sim::{spawn, SimConfig};
use tokio::sync::watch;

/// Rests two bids far below the touch on the first trade, buys at market on the 30th (the
/// taker fee alone is a loss beyond the limit), and keeps asking for orders afterwards.
const SCRIPT: &str = r#"
fn on_start() { this.n = 0; }
fn on_trade(t) {
    this.n += 1;
    let b = best_bid();
    if b == () { this.n = 0; return; }
    if this.n == 1 {
        limit("buy", b - 300, "0.001");
        limit("buy", b - 400, "0.001");
    }
    if this.n == 30 { market("buy", "0.001"); }
    if this.n > 30 && this.n % 10 == 0 { limit("buy", b - 500, "0.0001"); }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_loss_breach_cancels_every_open_order_within_one_second() {
    let dir = tempfile::tempdir().unwrap();
    let sim = spawn(
        SimConfig {
            api_key: "kill-test-key".into(),
            api_secret: "kill-test-secret".into(),
            md_interval_ms: 5,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    std::env::set_var("PEREGRINE_KILL_TEST_KEY", "kill-test-key");
    std::env::set_var("PEREGRINE_KILL_TEST_SECRET", "kill-test-secret");
    std::fs::write(dir.path().join("s.rhai"), SCRIPT).unwrap();
    let text = format!(
        r#"
[engine]
progress_interval_s = 0
drain_timeout_ms = 3000
[sim]
enabled = false
[venue]
name = "binance"
ws_url = "{ws}"
rest_url = "{rest}"
ws_api_url = "{ws}/ws-api/v3"
api_key_env = "PEREGRINE_KILL_TEST_KEY"
api_secret_env = "PEREGRINE_KILL_TEST_SECRET"
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
[[strategies]]
name = "loser"
file = "{script}"
instruments = ["BTC-USDT"]
[risk]
max_order_notional = "150"
max_position = "0.01"
daily_loss_limit = "0.01"
kill_switch_file = "{kill}"
[sink]
url = "sqlite://{db}"
batch_size = 16
batch_age_ms = 10
spool_dir = "{spool}"
"#,
        ws = sim.ws_base_url(),
        rest = sim.rest_base_url(),
        script = dir.path().join("s.rhai").display(),
        kill = dir.path().join("KILL").display(),
        db = dir.path().join("k.db").display(),
        spool = dir.path().join("spool").display(),
    );
    let cfg = Config::parse(&text, Path::new("kill.toml")).expect("valid config");
    let (stop_tx, stop_rx) = watch::channel(false);
    let engine = tokio::spawn(run_engine(cfg, stop_rx));

    // The two bids rest at the venue.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.open_orders().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the resting bids never reached the venue"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(sim.ledger().is_empty());
    // The market buy fills: from the fill on, one second for the book to hold none of ours.
    while sim.ledger().is_empty() {
        assert!(Instant::now() < deadline, "the market order never filled");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let filled_at = Instant::now();
    while !sim.open_orders().is_empty() {
        assert!(
            filled_at.elapsed() < Duration::from_secs(1),
            "orders still open 1 s after the loss: {:?}",
            sim.open_orders()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = filled_at.elapsed();
    eprintln!("open orders cancelled {took:?} after the losing fill");
    // Latched: it stays tripped and refuses what the strategy keeps asking for.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sim.open_orders().is_empty());
    assert_eq!(sim.ledger().len(), 1);
    let _ = stop_tx.send(true);
    let outcome = engine.await.unwrap().expect("run completes");
    sim.shutdown().await;
    assert_eq!(outcome.summary.detail.working_orders_at_exit, 0);

    let pool = sqlite_pool(&format!("sqlite://{}", dir.path().join("k.db").display()))
        .await
        .unwrap();
    let count = |reason: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM risk_events WHERE reason = ?")
                .bind(reason)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("daily_loss_limit").await, 1);
    assert_eq!(
        count("kill_switch").await,
        1 + outcome.summary.detail.risk_rejects as i64
    );
    assert!(
        outcome.summary.detail.risk_rejects >= 1,
        "new orders refused while tripped"
    );
    assert_eq!(count("kill_switch_reset").await, 0);
    let cancelled: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE status = 'cancelled'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(cancelled, 2);
    // The run's row (SQLite as on Supabase): one run, stopped in order, its history of the
    // cancelled orders kept in order_events.
    let run: (String, i64) = sqlx::query_as(
        "SELECT status, (stopped_ns >= started_ns AND length(config_hash) = 64) FROM runs",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(run, ("stopped".into(), 1));
    let cancel_events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM order_events WHERE status = 'cancelled'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(cancel_events, 2);
}
