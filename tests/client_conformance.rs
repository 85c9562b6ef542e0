//! Real, unmodified Binance clients against `peregrine sim`: ccxt, ccxt.pro and
//! binance-connector (Python, pinned in `tests/clients/requirements.txt`), configured with
//! nothing but the simulator's base URLs, an API key and ordinary options
//! (`tests/clients/conftest.py` documents each). This test starts the simulator binary in
//! its own process on a free port, runs `python3 -m pytest tests/clients -q` against it and
//! asserts that every client check passes; it prints the REST paths the clients requested.
//!
//! Without the Python modules the test is skipped with a loud message, except under
//! `CI=true`, where it fails (`.ci/run` installs them).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const API_KEY: &str = "conformance-key";
const API_SECRET: &str = "conformance-secret";

/// The simulator process; killed when dropped.
struct Sim {
    child: Child,
    rest: String,
    ws: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `peregrine sim --port 0` and reads its base URLs from the line it prints:
/// `simulator listening: REST http://127.0.0.1:P  websocket ws://127.0.0.1:P`.
fn start_sim(root: &Path, log: &Path) -> Sim {
    let log_file = std::fs::File::create(log).expect("sim log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["sim", "--port", "0", "--config"])
        .arg(root.join("config/default.toml"))
        .current_dir(root)
        .env("PEREGRINE_API_KEY", API_KEY)
        .env("PEREGRINE_API_SECRET", API_SECRET)
        .env("RUST_LOG", "warn,peregrine_exchanges::sim::requests=debug")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("start peregrine sim");
    let stdout = child.stdout.take().expect("sim stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep reading to the end so the simulator never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut sim = Sim {
        child,
        rest: String::new(),
        ws: String::new(),
    };
    while sim.rest.is_empty() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("peregrine sim printed no 'simulator listening' line within 30 s");
        if let Some(rest) = line.strip_prefix("simulator listening: REST ") {
            let mut parts = rest.split_whitespace();
            sim.rest = parts.next().unwrap_or_default().to_string();
            assert_eq!(parts.next(), Some("websocket"), "{line}");
            sim.ws = parts.next().unwrap_or_default().to_string();
        }
    }
    sim
}

/// Whether `python3` can import every client the checks use.
fn clients_installed() -> Result<(), String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import ccxt, ccxt.pro, binance.spot, binance.websocket.spot.websocket_stream, pytest",
        ])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Distinct `METHOD path` pairs the simulator logged, in first-seen order.
fn requested_paths(log: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in log.lines().filter(|l| l.contains("sim::requests")) {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .map(|v| v.trim_matches('"').to_string())
        };
        if let (Some(m), Some(p)) = (field("method="), field("path=")) {
            let entry = format!("{m} {p}");
            if !seen.contains(&entry) {
                seen.push(entry);
            }
        }
    }
    seen
}

#[test]
fn binance_clients_work_against_the_simulator() {
    if let Err(why) = clients_installed() {
        let msg = format!(
            "client conformance NOT RUN: the Python clients are missing \
             (pip install -r tests/clients/requirements.txt): {why}"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("\n!!!!!!!! SKIPPED: {msg}\n");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("sim.log");
    let sim = start_sim(root, &log_path);

    let mut pytest = Command::new("python3")
        .args([
            "-m",
            "pytest",
            "tests/clients",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .current_dir(root)
        .env("SIM_REST_URL", &sim.rest)
        .env("SIM_WS_URL", &sim.ws)
        .env("SIM_API_KEY", API_KEY)
        .env("SIM_API_SECRET", API_SECRET)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pytest");
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = pytest.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = pytest.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let status = pytest.wait().expect("pytest exit status");
    drop(sim);

    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    println!("--- pytest tests/clients ---\n{out}{err}");
    println!("--- REST paths the clients requested ---");
    for p in requested_paths(&log) {
        println!("{p}");
    }
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("sim::requests"))
        .collect();
    if !warnings.is_empty() {
        println!("--- simulator log ---\n{}", warnings.join("\n"));
    }
    assert!(
        status.success(),
        "client conformance failed (pytest exit {status}); output above"
    );
    assert!(
        out.contains(" passed") && !out.contains(" skipped"),
        "pytest ran no client check or skipped some: {out}"
    );
}
