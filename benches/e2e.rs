//! End to end over loopback, wire to wire, for every topology x wait policy x CPU placement x
//! order transport: the simulator runs in its own process (`peregrine sim --port 0`, so it
//! shares no runtime, allocator or thread with the engine) and publishes its market over a
//! loopback websocket; the real Binance feed normalizes it; the core runs
//! `strategies/ema_cross.rhai`, the risk gate and the signer; the order goes back to the
//! simulator over the WebSocket API (`ws_api`) or REST (`rest`).
//!
//! Measured per order, with hdrhistogram, in the same run:
//! - **wire tick-to-trade**, on the simulator's own monotonic clock (`GET /sim/latency`):
//!   the order read (request / `order.place` frame read whole) minus the write of the latest
//!   `@trade` frame of the symbol before it (`ema_cross` trades on trades), and minus the
//!   latest frame of any stream (a lower bound);
//! - **ack round trip** (engine `ack` stage): the order handed to the transport -> the venue's
//!   ack read (order response or `executionReport`, whichever is first);
//! - the engine's `tick_to_order` (frame received -> signed bytes ready) and its parts.
//!
//! Prints a table and writes `target/e2e-latency.json` (or `$CARGO_TARGET_DIR/...`).
//! `PEREGRINE_E2E_SECS` (default 20; the venue's 100 orders per 10 s bound the sample) sets
//! the length of each run; `PEREGRINE_E2E_ONLY` selects runs: comma-separated patterns of
//! `:`-separated words, a run matching a pattern when it has every word (`inline:spin`,
//! `inline:spin:isolated:ws_api`, `rest`). `shared`: every thread free to use every CPU;
//! `isolated`: the engine's core thread alone on CPU 1, everything else (engine I/O runtime,
//! sink, and the simulator's process, which inherits the bench's CPU 0 affinity) on CPU 0.

#[path = "../tests/sim_process/mod.rs"]
mod sim_process;
use sim_process::SimProc;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use peregrine::app::run_engine;
use peregrine_engine::config::Config;
use peregrine_engine::latency::LatencySummary;
use peregrine_engine::stages::Stage;
use serde_json::Value;
use tokio::sync::watch;

const KEY_ENV: &str = "PEREGRINE_E2E_KEY";
const SECRET_ENV: &str = "PEREGRINE_E2E_SECRET";
const KEY: &str = "e2e-bench-key";
const SECRET: &str = "e2e-bench-secret";

/// The run's config: the engine's, and the simulator's (its `[sim]` and `[[instruments]]`).
fn config_text(dir: &Path, run: &Run, sim: Option<&SimProc>) -> String {
    let ema = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai");
    let (rest, ws) = sim.map_or(("http://127.0.0.1:1", "ws://127.0.0.1:1"), |s| {
        (s.rest.as_str(), s.ws.as_str())
    });
    format!(
        r#"
[engine]
progress_interval_s = 0
run_sequence_file = "{seq}"
[sim]
enabled = false
seed = 42
md_interval_ms = 2
[venue]
name = "binance"
ws_url = "{ws}"
rest_url = "{rest}"
ws_api_url = "{ws}/ws-api/v3"
api_key_env = "{KEY_ENV}"
api_secret_env = "{SECRET_ENV}"
order_transport = "{transport}"
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
spool_dir = "{spool}"
[tuning]
topology = "{topology}"
wait_policy = "{wait}"
latency_window_s = 0
{pin}
[metrics]
enabled = false
"#,
        seq = dir.join("run-sequence").display(),
        transport = run.transport,
        ema = ema.display(),
        db = dir.join("bench.db").display(),
        spool = dir.join("spool").display(),
        topology = run.topology,
        wait = run.wait,
        pin = if run.placement == "isolated" {
            "core_cpu = 1"
        } else {
            ""
        },
    )
}

/// One configuration.
struct Run {
    topology: &'static str,
    wait: &'static str,
    placement: &'static str,
    transport: &'static str,
}

impl Run {
    fn words(&self) -> [&'static str; 4] {
        [self.topology, self.wait, self.placement, self.transport]
    }

    /// Whether `PEREGRINE_E2E_ONLY` selects it (see the module docs).
    fn selected(&self, only: Option<&str>) -> bool {
        let Some(only) = only else { return true };
        only.split(',')
            .any(|p| p.split(':').all(|w| self.words().contains(&w)))
    }
}

/// Starts the simulator binary on a free port with `cfg` (see `tests/sim_process`).
fn start_sim(cfg: &Path) -> Result<SimProc, String> {
    sim_process::start(
        env!("CARGO_BIN_EXE_peregrine"),
        cfg,
        &[(KEY_ENV, KEY), (SECRET_ENV, SECRET)],
        Stdio::inherit(),
    )
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn summary(v: &Value) -> LatencySummary {
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    LatencySummary {
        count: n("count"),
        p50: n("p50"),
        p99: n("p99"),
        p999: n("p999"),
        max: n("max"),
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// One configuration: a fresh simulator process, the engine against it for `secs`, then the
/// simulator's wire figures. Returns the row's JSON.
fn run_one(rt: &tokio::runtime::Runtime, run: &Run, secs: u64) -> Result<Value, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sim_cfg = dir.path().join("sim.toml");
    std::fs::write(&sim_cfg, config_text(dir.path(), run, None)).map_err(|e| e.to_string())?;
    let sim = start_sim(&sim_cfg)?;
    let text = config_text(dir.path(), run, Some(&sim));
    let cfg = Config::parse(&text, Path::new("e2e-bench.toml")).map_err(|e| e.to_string())?;
    let load_before = loadavg();
    let (stop_tx, stop_rx) = watch::channel(false);
    let outcome = rt.block_on(async move {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            let _ = stop_tx.send(true);
        });
        run_engine(cfg, stop_rx).await
    });
    let summary_ = outcome.map_err(|e| format!("run failed: {e:#}"))?.summary;
    let wire: Value = rt
        .block_on(async {
            reqwest::get(format!("{}/sim/latency", sim.rest))
                .await?
                .json()
                .await
        })
        .map_err(|e| format!("GET /sim/latency: {e}"))?;
    drop(sim);
    let load_after = loadavg();
    let stage = |s: Stage| -> LatencySummary {
        summary_
            .detail
            .stages
            .iter()
            .find(|x| x.stage == s)
            .map(|x| x.latency_ns)
            .unwrap_or_default()
    };
    let trade = summary(&wire["from_latest_trade_frame_ns"]);
    let frame = summary(&wire["from_latest_frame_ns"]);
    let t2o = stage(Stage::TickToOrder);
    let ack = stage(Stage::Ack);
    println!(
        "{:<10} {:<15} {:<8} {:<7} {:>6} | {:>8.1} {:>8.1} {:>8.1} {:>8.1} | {:>8.1} {:>8.1} {:>8.1} | {:>8.1} {:>8.1} | {:>7.1} {:>7.1} {:>7.1} | {} -> {}",
        run.topology,
        run.wait,
        run.placement,
        run.transport,
        trade.count,
        us(trade.p50),
        us(trade.p99),
        us(trade.p999),
        us(frame.p50),
        us(ack.p50),
        us(ack.p99),
        us(ack.p999),
        us(t2o.p50),
        us(t2o.p99),
        us(stage(Stage::Queue).p50),
        us(stage(Stage::Sign).p50),
        us(stage(Stage::Handoff).p50),
        load_before,
        load_after,
    );
    Ok(serde_json::json!({
        "topology": run.topology,
        "wait_policy": run.wait,
        "placement": run.placement,
        "order_transport": run.transport,
        "run_s": secs,
        "ticks": summary_.ticks,
        "orders": summary_.orders,
        "load_before": load_before,
        "load_after": load_after,
        "wire_tick_to_trade": wire,
        "order_tick_core_ns": summary_.detail.core_latency_ns,
        "stages": summary_.detail.stages,
    }))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need: a test
    // build only checks that the bench starts.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Before any thread exists: the engine reads its key from the environment.
    std::env::set_var(KEY_ENV, KEY);
    std::env::set_var(SECRET_ENV, SECRET);
    let secs: u64 = std::env::var("PEREGRINE_E2E_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let only = std::env::var("PEREGRINE_E2E_ONLY").ok();
    println!("load average at start: {}", loadavg());
    println!(
        "{:<10} {:<15} {:<8} {:<7} {:>6} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>8} {:>8} | {:>7} {:>7} {:>7} | load",
        "topology",
        "wait",
        "cpus",
        "orders",
        "n",
        "t2t p50",
        "t2t p99",
        "p99.9",
        "any p50",
        "ack p50",
        "ack p99",
        "p99.9",
        "t2o p50",
        "t2o p99",
        "queue",
        "sign",
        "hand"
    );
    println!(
        "{:<43}| wire tick-to-trade, us (sim clock)    | ack round trip, us         | engine tick->order | p50, us"
        , ""
    );
    let mut results = Vec::new();
    // Shared runs first: pinning the main thread cannot be undone portably.
    for placement in ["shared", "isolated"] {
        let isolated = placement == "isolated";
        let wanted = ["pipelined", "inline"].iter().any(|topology| {
            ["park", "spin_then_park", "spin"].iter().any(|wait| {
                ["ws_api", "rest"].iter().any(|transport| {
                    Run {
                        topology,
                        wait,
                        placement,
                        transport,
                    }
                    .selected(only.as_deref())
                })
            })
        });
        if !wanted {
            continue;
        }
        if isolated {
            let online = std::thread::available_parallelism().map_or(1, |n| n.get());
            if online < 2 {
                eprintln!("isolated: needs 2 CPUs, this machine has {online}; skipped");
                continue;
            }
            // The simulator processes started from here inherit CPU 0.
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
                for transport in ["ws_api", "rest"] {
                    let run = Run {
                        topology,
                        wait,
                        placement,
                        transport,
                    };
                    if !run.selected(only.as_deref()) {
                        continue;
                    }
                    match run_one(&rt, &run, secs) {
                        Ok(row) => results.push(row),
                        Err(e) => eprintln!("{}: {e}", run.words().join(":")),
                    }
                }
            }
        }
    }
    println!("load average at end: {}", loadavg());
    let out = target_dir().join("e2e-latency.json");
    match serde_json::to_string_pretty(&results) {
        Ok(json) => match std::fs::write(&out, json) {
            Ok(()) => println!("written: {}", out.display()),
            Err(e) => eprintln!("cannot write {}: {e}", out.display()),
        },
        Err(e) => eprintln!("cannot encode the results: {e}"),
    }
}
