//! End to end, for every topology and wait policy: the built-in simulator publishes its
//! market over a loopback websocket; the real Binance feed normalizes it; the core runs
//! `strategies/ema_cross.rhai`, the risk gate and the HMAC signer; the signed order goes to
//! the simulator over loopback HTTP. Measured per order, from the frame's arrival in user
//! space to the signed order bytes ready (`tick_to_order`), with hdrhistogram; the hand-off of
//! those bytes to the transport (`handoff`) and the other stages are reported beside it.
//!
//! Prints a table and writes `target/e2e-latency.json` (or `$CARGO_TARGET_DIR/...`).
//! `PEREGRINE_E2E_SECS` (default 20; the venue's 100 orders per 10 s bound the sample) sets
//! the length of each run; `PEREGRINE_E2E_ONLY` (e.g. `inline:spin`, or
//! `pipelined:spin:isolated`) runs one combination. Each combination runs twice: with every
//! thread free to use every CPU (`shared`), and `isolated`: the core thread alone on CPU 1,
//! everything else pinned to CPU 0.

use std::path::{Path, PathBuf};
use std::time::Duration;

use peregrine::app::run_engine;
use peregrine_engine::config::Config;
use peregrine_engine::latency::LatencySummary;
use peregrine_engine::stages::Stage;
use tokio::sync::watch;

fn config(dir: &Path, topology: &str, wait: &str, core_cpu: Option<usize>) -> Config {
    let ema = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai");
    let text = format!(
        r#"
[engine]
progress_interval_s = 0
[sim]
enabled = true
seed = 42
md_interval_ms = 2
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
name = "ema_cross"
file = "{ema}"
instruments = ["BTC-USDT"]
params = {{ fast = 2, slow = 5, qty = "0.001" }}
[risk]
max_order_notional = "1000"
max_position = "0.01"
[sink]
url = "sqlite://{db}"
[tuning]
topology = "{topology}"
wait_policy = "{wait}"
latency_window_s = 0
{pin}
[metrics]
enabled = false
"#,
        ema = ema.display(),
        db = dir.join("bench.db").display(),
        pin = core_cpu
            .map(|c| format!("core_cpu = {c}"))
            .unwrap_or_default(),
    );
    Config::parse(&text, Path::new("e2e-bench.toml")).expect("valid bench config")
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need: a test
    // build only checks that the bench starts.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: u64 = std::env::var("PEREGRINE_E2E_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let only = std::env::var("PEREGRINE_E2E_ONLY").ok();
    let mut results = Vec::new();
    println!(
        "{:<10} {:<15} {:<8} {:>6} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "topology",
        "wait",
        "cpus",
        "orders",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "queue p50",
        "core p50",
        "strat p50",
        "sign p50",
        "hand p50",
        "hand p99",
        "norm p50"
    );
    // `shared`: every thread may run on every CPU. `isolated` (needs 2+ CPUs): the core
    // thread alone on CPU 1 (`core_cpu = 1`), everything else (I/O runtime, simulator, sink)
    // on CPU 0. Shared runs first: pinning the main thread cannot be undone portably.
    for placement in ["shared", "isolated"] {
        let isolated = placement == "isolated";
        if isolated {
            let online = std::thread::available_parallelism().map_or(1, |n| n.get());
            if online < 2 {
                eprintln!("isolated: needs 2 CPUs, this machine has {online}; skipped");
                continue;
            }
            if !core_affinity::set_for_current(core_affinity::CoreId { id: 0 }) {
                eprintln!("isolated: cannot pin to CPU 0; skipped");
                continue;
            }
        }
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(1).enable_all();
        if isolated {
            builder.on_thread_start(|| {
                core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
            });
        }
        let rt = builder.build().expect("tokio runtime");
        for topology in ["pipelined", "inline"] {
            for wait in ["park", "spin_then_park", "spin"] {
                let name = format!("{topology}:{wait}:{placement}");
                let pair = format!("{topology}:{wait}");
                if only.as_deref().is_some_and(|o| o != name && o != pair) {
                    continue;
                }
                let dir = tempfile::tempdir().expect("temp dir");
                let cfg = config(dir.path(), topology, wait, isolated.then_some(1));
                let (stop_tx, stop_rx) = watch::channel(false);
                let outcome = rt.block_on(async move {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(secs)).await;
                        let _ = stop_tx.send(true);
                    });
                    run_engine(cfg, stop_rx).await
                });
                let summary = match outcome {
                    Ok(o) => o.summary,
                    Err(e) => {
                        eprintln!("{name}: run failed: {e:#}");
                        continue;
                    }
                };
                let stage = |s: Stage| -> LatencySummary {
                    summary
                        .detail
                        .stages
                        .iter()
                        .find(|x| x.stage == s)
                        .map(|x| x.latency_ns)
                        .unwrap_or_default()
                };
                let e2e = stage(Stage::TickToOrder);
                println!(
                    "{:<10} {:<15} {:<8} {:>6} {:>9.1} {:>9.1} {:>9.1} | {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                    topology,
                    wait,
                    placement,
                    e2e.count,
                    us(e2e.p50),
                    us(e2e.p99),
                    us(e2e.p999),
                    us(stage(Stage::Queue).p50),
                    us(summary.detail.core_latency_ns.p50),
                    us(stage(Stage::Strategy).p50),
                    us(stage(Stage::Sign).p50),
                    us(stage(Stage::Handoff).p50),
                    us(stage(Stage::Handoff).p99),
                    us(stage(Stage::Normalize).p50),
                );
                results.push(serde_json::json!({
                    "topology": topology,
                    "wait_policy": wait,
                    "placement": placement,
                    "run_s": secs,
                    "ticks": summary.ticks,
                    "order_tick_core_ns": summary.detail.core_latency_ns,
                    "stages": summary.detail.stages,
                }));
            }
        }
    }
    let out = target_dir().join("e2e-latency.json");
    match serde_json::to_string_pretty(&results) {
        Ok(json) => match std::fs::write(&out, json) {
            Ok(()) => println!("written: {}", out.display()),
            Err(e) => eprintln!("cannot write {}: {e}", out.display()),
        },
        Err(e) => eprintln!("cannot encode the results: {e}"),
    }
}
