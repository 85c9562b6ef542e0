//! `[[market_data]]` venues end to end, against local websocket servers on 127.0.0.1 that
//! serve documented OKX and Bybit frames (`tests/frames/`): `peregrine record` writes exactly
//! those frames with their venue and receive time, and `run` gets their ticks into the core.
//! The trading venue is the in-process simulator; nothing leaves 127.0.0.1.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peregrine::app::run_engine;
use peregrine_engine::config::Config;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// The non-empty lines of `tests/frames/<name>.jsonl` (documented venue frames).
fn frames(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/frames/{name}.jsonl"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// A websocket server on 127.0.0.1: on the first connection it waits for the client's first
/// message (its subscription), sends `frames` in order and then keeps the connection open,
/// answering text `ping`s; later connections get nothing. Every text message received is kept.
struct FrameServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
}

impl FrameServer {
    async fn start(frames: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        tokio::spawn(async move {
            let mut first = Some(frames);
            while let Ok((tcp, _)) = listener.accept().await {
                let to_send = first.take().unwrap_or_default();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    let mut pending = Some(to_send);
                    while let Some(Ok(msg)) = ws.next().await {
                        let Message::Text(text) = msg else { continue };
                        seen.lock().unwrap().push(text.to_string());
                        if text.contains("ping") {
                            // OKX's heartbeat is the text `ping`, Bybit's `{"op":"ping"}`.
                            let _ = ws.send(Message::Text("pong".into())).await;
                        }
                        if let Some(frames) = pending.take() {
                            for f in frames {
                                if ws.send(Message::Text(f.into())).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        Self { addr, received }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

/// A config trading on the in-process simulator with `market_data` appended; the sink and the
/// spool live in `dir`.
fn config_text(dir: &Path, market_data: &str) -> String {
    format!(
        r#"
[engine]
progress_interval_s = 0
[sim]
enabled = true
seed = 11
md_interval_ms = 20
[venue]
name = "binance"
ws_url = "ws://127.0.0.1:1"
rest_url = "http://127.0.0.1:1"
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
sim_start_price = "60000"
[risk]
max_order_notional = "150"
max_position = "0.004"
[sink]
url = "sqlite://{db}"
spool_dir = "{spool}"
{market_data}
"#,
        db = dir.join("md.db").display(),
        spool = dir.join("spool").display(),
    )
}

/// OKX's documented frames but its book: the sample snapshot is shortened, so its checksum
/// fails and the client resubscribes, dropping what follows it. The rest (and Bybit's frames)
/// keep every book in sync, so the first connection carries them all.
fn okx_frames() -> Vec<String> {
    frames("okx")
        .into_iter()
        .filter(|f| !f.contains(r#""action":"#))
        .collect()
}

#[test]
fn record_writes_exactly_the_venues_frames_with_venue_and_increasing_receive_time() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let okx = rt.block_on(FrameServer::start(okx_frames()));
    let bybit = rt.block_on(FrameServer::start(frames("bybit")));
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("md.toml");
    std::fs::write(
        &cfg_path,
        config_text(
            dir.path(),
            &format!(
                r#"
[[market_data]]
venue = "okx"
ws_url = "{okx}"
instruments = [{{ symbol = "BTC-USDT" }}]
[[market_data]]
venue = "bybit"
ws_url = "{bybit}"
instruments = [{{ symbol = "BTC-USDT" }}]
"#,
                okx = okx.url(),
                bybit = bybit.url()
            ),
        ),
    )
    .unwrap();
    let out_file = dir.path().join("capture.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .args(["record", "--duration", "3s", "--config"])
        .arg(&cfg_path)
        .arg("--out")
        .arg(&out_file)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A recorder that does not stop after its duration is a failure, not a hung test.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("peregrine record did not stop within 60 s of a 3 s recording");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let text = std::fs::read_to_string(&out_file).unwrap();
    let mut by_venue: std::collections::BTreeMap<String, Vec<(u64, String)>> = Default::default();
    let mut last_ts = 0;
    for (n, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 3, "line {}: {line}", n + 1);
        let ts = obj["ts_ns"].as_u64().unwrap();
        assert!(ts >= last_ts, "line {}: receive time went back", n + 1);
        last_ts = ts;
        by_venue
            .entry(obj["venue"].as_str().unwrap().to_string())
            .or_default()
            .push((ts, obj["frame"].as_str().unwrap().to_string()));
    }
    assert_eq!(
        by_venue.keys().collect::<Vec<_>>(),
        ["binance", "bybit", "okx"],
        "the simulator's frames and both market-data venues'"
    );
    for (venue, served) in [("okx", okx_frames()), ("bybit", frames("bybit"))] {
        let got = &by_venue[venue];
        let got_frames: Vec<&str> = got.iter().map(|(_, f)| f.as_str()).collect();
        assert_eq!(
            got_frames, served,
            "{venue}: exactly the served frames, in order"
        );
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "{venue}: receive times increase"
        );
    }
    // The canonical symbol was subscribed in each venue's own spelling.
    let okx_sub = okx.received().join("\n");
    assert!(okx_sub.contains(r#""instId":"BTC-USDT""#), "{okx_sub}");
    let bybit_sub = bybit.received().join("\n");
    assert!(bybit_sub.contains("publicTrade.BTCUSDT"), "{bybit_sub}");
}

/// Runs the engine for 3 s in `topology` with an OKX venue serving three trades, and checks
/// that they reached the core.
async fn run_with_okx(topology: &str) {
    // Three OKX trades, each its own frame, for the configured BTC-USDT.
    let trades: Vec<String> = (0..3)
        .map(|i| {
            format!(
                r#"{{"arg":{{"channel":"trades","instId":"BTC-USDT"}},"data":[{{"instId":"BTC-USDT","tradeId":"13063947{i}","px":"42219.{i}","sz":"0.1","side":"buy","ts":"163004889789{i}"}}]}}"#
            )
        })
        .collect();
    let okx = FrameServer::start(trades).await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(
        dir.path(),
        &format!(
            "[tuning]\ntopology = \"{topology}\"\n[[market_data]]\nvenue = \"okx\"\nws_url = \"{}\"\ninstruments = [{{ symbol = \"BTC-USDT\" }}]\n",
            okx.url()
        ),
    );
    let cfg = Config::parse(&text, Path::new("md.toml")).expect("valid config");
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let _ = stop_tx.send(true);
    });
    let summary = run_engine(cfg, stop_rx)
        .await
        .expect("run completes")
        .summary;
    eprint!("{topology}: {}", summary.render());
    let venues = &summary.feed["venues"];
    let okx_feed = &venues["okx"];
    // The three trades, plus the `Disconnected` status the OKX instrument gets at stop.
    assert_eq!(okx_feed["frames"], 3, "{topology}: {okx_feed}");
    assert_eq!(okx_feed["ticks"], 4, "{topology}: {okx_feed}");
    assert_eq!(okx_feed["malformed"], 0, "{topology}: {okx_feed}");
    assert!(venues["binance"]["ticks"].as_u64().unwrap() > 0);
    // Every tick either feed delivered was processed by the core: its count is the sum.
    assert_eq!(summary.feed["dropped"], 0);
    assert_eq!(
        summary.ticks,
        summary.feed["ticks"].as_u64().unwrap(),
        "{topology}: ticks processed by the core vs delivered by the feeds"
    );
    assert!(summary.render().contains("feed okx"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_delivers_a_market_data_venues_ticks_to_the_core() {
    run_with_okx("pipelined").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_delivers_a_market_data_venues_ticks_to_the_core_inline() {
    run_with_okx("inline").await;
}
