//! Live latency during a real run: the simulator on 127.0.0.1, the Binance adapter over
//! loopback, real Rhai strategies. `/metrics` and `/health` are scraped while the engine runs;
//! `latency_stats` must fill up; the inline topology must trade end to end too.

use std::path::Path;
use std::time::{Duration, Instant};

use peregrine::app::run_engine;
use peregrine_engine::config::Config;
use peregrine_engine::sink::sqlite_pool;
use peregrine_engine::stages::Stage;
use sqlx::Row;
use tokio::sync::watch;

/// Rests a buy far below the touch every 30 trades and cancels it at the next: every order
/// is acked (ack, round trip), none fills.
const RESTER: &str = r#"
fn on_start() { this.n = 0; }
fn on_trade(t) {
    this.n += 1;
    if this.n % 30 != 1 { return; }
    cancel_all();
    limit("buy", t.price - 50, "0.001");
}
"#;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn config(dir: &Path, port: u16, tuning: &str) -> Config {
    std::fs::write(dir.join("rester.rhai"), RESTER).unwrap();
    let ema = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai");
    let text = format!(
        r#"
[engine]
progress_interval_s = 0
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
name = "ema"
file = "{ema}"
instruments = ["BTC-USDT"]
params = {{ fast = 3, slow = 8, qty = "0.001" }}
[[strategies]]
name = "rester"
file = "{rester}"
instruments = ["BTC-USDT"]
[risk]
max_order_notional = "150"
max_position = "0.004"
[sink]
url = "sqlite://{db}"
batch_size = 64
batch_age_ms = 20
spool_dir = "{spool}"
[tuning]
latency_window_s = 1
{tuning}
[metrics]
enabled = true
listen = "127.0.0.1:{port}"
"#,
        ema = ema.display(),
        rester = dir.join("rester.rhai").display(),
        db = dir.join("m.db").display(),
        spool = dir.join("spool").display(),
    );
    Config::parse(&text, Path::new("metrics.toml")).expect("valid test config")
}

/// The `_count` of one stage in the histogram family, if present.
fn stage_count(metrics: &str, stage: &str) -> Option<u64> {
    let key = format!("peregrine_stage_latency_seconds_count{{stage=\"{stage}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

fn counter(metrics: &str, name: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_are_served_during_a_run_and_latency_stats_fill_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), port, "");
    let (stop_tx, stop_rx) = watch::channel(false);
    let run = tokio::spawn(run_engine(cfg, stop_rx));
    let base = format!("http://127.0.0.1:{port}");

    // /health answers 200 once the engine is up.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/health")).await {
            assert_eq!(r.status(), 200);
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["status"], "ok", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "/health never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // /metrics fills up as windows close (1 s here) while the run goes on.
    let mut text;
    let deadline = Instant::now() + Duration::from_secs(30);
    let wanted = [
        "feed_delay",
        "normalize",
        "queue",
        "strategy",
        "risk",
        "sign",
        "handoff",
        "tick_to_order",
        "ack",
        "round_trip",
    ];
    loop {
        let r = reqwest::get(format!("{base}/metrics")).await.unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        text = r.text().await.unwrap();
        if wanted
            .iter()
            .all(|s| stage_count(&text, s).unwrap_or(0) > 0)
        {
            break;
        }
        if Instant::now() > deadline {
            panic!("stages missing from /metrics after 30 s:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(text.contains("# TYPE peregrine_stage_latency_seconds histogram"));
    assert!(text.contains("# UNIT peregrine_stage_latency_seconds seconds"));
    assert!(
        counter(&text, "peregrine_ticks_total").unwrap() > 100,
        "{text}"
    );
    assert!(
        counter(&text, "peregrine_orders_total").unwrap() > 0,
        "{text}"
    );
    assert!(
        counter(&text, "peregrine_feed_frames_total").unwrap() > 100,
        "{text}"
    );
    assert!(counter(&text, "peregrine_queue_depth").is_some(), "{text}");

    stop_tx.send(true).unwrap();
    let outcome = run.await.unwrap().expect("run completes");
    let summary = outcome.summary;
    eprint!("{}", summary.render());
    let stages: Vec<Stage> = summary.detail.stages.iter().map(|s| s.stage).collect();
    for s in [
        Stage::Normalize,
        Stage::Queue,
        Stage::Strategy,
        Stage::TickToOrder,
        Stage::Ack,
    ] {
        assert!(
            stages.contains(&s),
            "{s:?} missing from the run summary: {stages:?}"
        );
    }
    assert!(summary.render().contains("stage tick_to_order"));
    // The endpoint stops with the run.
    assert!(reqwest::get(format!("{base}/health")).await.is_err());

    // latency_stats: one row per stage per window, percentiles ordered.
    let pool = sqlite_pool(&format!("sqlite://{}", dir.path().join("m.db").display()))
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT stage, COUNT(*) AS windows, SUM(count) AS n, MIN(p50_ns <= p99_ns AND p99_ns <= p999_ns AND p999_ns <= max_ns) AS ordered FROM latency_stats GROUP BY stage",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let by_stage: std::collections::HashMap<String, (i64, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.get::<String, _>("stage"),
                (r.get("windows"), r.get("n"), r.get("ordered")),
            )
        })
        .collect();
    for s in ["normalize", "queue", "strategy", "tick_to_order", "ack"] {
        let (windows, n, ordered) = by_stage
            .get(s)
            .copied()
            .unwrap_or_else(|| panic!("no latency_stats rows for {s}: {by_stage:?}"));
        // Every frame is timed, so the frequent stages appear in every window (the last one
        // is closed at stop); orders are sparse, so theirs may fall in a single window.
        let min_windows = if ["normalize", "queue", "strategy"].contains(&s) {
            2
        } else {
            1
        };
        assert!(windows >= min_windows, "{s}: {windows} windows");
        assert!(n > 0);
        assert_eq!(ordered, 1, "{s}: percentiles out of order");
    }
    let total_normalize = by_stage["normalize"].1 as u64;
    let reported = summary
        .detail
        .stages
        .iter()
        .find(|s| s.stage == Stage::Normalize)
        .unwrap()
        .latency_ns
        .count;
    assert_eq!(total_normalize, reported, "rows and the summary disagree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_topology_with_spin_trades_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        free_port(),
        "topology = \"inline\"\nwait_policy = \"spin\"",
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let _ = stop_tx.send(true);
    });
    let outcome = run_engine(cfg, stop_rx).await.expect("run completes");
    let s = outcome.summary;
    eprint!("{}", s.render());
    assert!(s.ticks > 300, "too few ticks: {}", s.ticks);
    assert!(s.orders > 0, "no orders");
    assert_eq!(s.detail.working_orders_at_exit, 0);
    assert!(s.latency_ns.count > 0);
    assert!(s.feed["frames"].as_u64().unwrap() > 100);
}
