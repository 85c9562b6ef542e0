//! `peregrine record` as a user runs it: against the in-process simulator of
//! `config/default.toml`, every line of the output is one valid record of a real Binance frame.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn record_writes_every_raw_frame_with_its_receive_time() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("capture.jsonl");
    let started = wall_ns();
    let out = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .current_dir(root)
        .env("RUST_LOG", "warn")
        .args([
            "record",
            "--config",
            "config/default.toml",
            "--duration",
            "2s",
        ])
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    let ended = wall_ns();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let text = std::fs::read_to_string(&out_file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 20, "only {} frames in 2 s", lines.len());
    assert!(
        stderr.contains(&format!("recorded {} frames", lines.len())),
        "{stderr}"
    );
    let mut last_ts = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for (n, line) in lines.iter().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1));
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 3, "line {}: {line}", n + 1);
        let ts = obj["ts_ns"].as_u64().unwrap();
        assert!(
            ts >= last_ts && ts >= started && ts <= ended,
            "line {}",
            n + 1
        );
        last_ts = ts;
        assert_eq!(obj["venue"], "binance");
        // The raw frame: a combined-stream event of the configured instrument.
        let frame: serde_json::Value =
            serde_json::from_str(obj["frame"].as_str().unwrap()).unwrap();
        let stream = frame["stream"].as_str().unwrap();
        let data = &frame["data"];
        assert_eq!(data["s"], "BTCUSDT", "line {}", n + 1);
        match stream {
            "btcusdt@trade" => assert_eq!(data["e"], "trade"),
            "btcusdt@bookTicker" => assert!(data["b"].is_string() && data["u"].is_u64()),
            "btcusdt@depth@100ms" => {
                assert_eq!(data["e"], "depthUpdate");
                assert!(data["U"].as_u64().unwrap() <= data["u"].as_u64().unwrap());
            }
            other => panic!("line {}: unexpected stream {other}", n + 1),
        }
        kinds.insert(stream.to_string());
    }
    assert_eq!(kinds.len(), 3, "{kinds:?}");
}
