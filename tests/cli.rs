//! The `peregrine` binary as a user runs it: exit codes, messages, the summary file.

use std::path::Path;
use std::process::Command;

fn peregrine() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    c.env("RUST_LOG", "warn");
    c
}

#[test]
fn check_accepts_the_shipped_strategy_and_reports_errors_with_position() {
    let ema = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai");
    let out = peregrine().arg("check").arg(&ema).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rhai");
    std::fs::write(&bad, "fn on_trade(t) {\n    let x = (1 + ;\n}\n").unwrap();
    let arity = dir.path().join("arity.rhai");
    std::fs::write(&arity, "fn on_fill() {}\n").unwrap();
    let out = peregrine()
        .arg("check")
        .arg(&ema)
        .arg(&bad)
        .arg(&arity)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{}:2:", bad.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("on_fill") && stdout.contains("1 parameter"),
        "{stdout}"
    );
}

#[test]
fn check_passes_every_shipped_strategy_and_lists_every_problem_of_a_bad_one() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies");
    let shipped: Vec<_> = [
        "ema_cross",
        "bollinger_mr",
        "market_maker",
        "breakout",
        "pairs_spread",
    ]
    .iter()
    .map(|n| dir.join(format!("{n}.rhai")))
    .collect();
    let out = peregrine().arg("check").args(&shipped).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(stdout.matches(": ok").count(), 5, "{stdout}");

    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.rhai");
    std::fs::write(
        &bad,
        "fn on_trade(t) {\n    limt(\"buy\", t.price, 1);\n    cancel_all(1, 2);\n}\nfn on_timer() {}\n",
    )
    .unwrap();
    let out = peregrine().arg("check").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let b = bad.display();
    assert!(
        stdout.contains(&format!("{b}:2:5: unknown function `limt`")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{b}:3:5: `cancel_all` takes 0 or 1 argument(s), called with 2"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{b}:5:1: callback `on_timer` takes 1 parameter(s)"
        )),
        "{stdout}"
    );
}

#[test]
fn a_missing_or_invalid_config_is_a_clear_error() {
    let out = peregrine()
        .args(["run", "--config", "/nonexistent/peregrine.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/peregrine.toml"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    let default =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"))
            .unwrap();
    std::fs::write(
        &cfg,
        default.replace("max_position = \"0.0015\"", "max_position = \"lots\""),
    )
    .unwrap();
    let out = peregrine()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("max_position") && stderr.contains("line"),
        "{stderr}"
    );
}

#[test]
fn run_writes_the_summary_json_and_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let default = std::fs::read_to_string(root.join("config/default.toml")).unwrap();
    let cfg = default
        .replace(
            "\"strategies/ema_cross.rhai\"",
            &format!(
                "{:?}",
                root.join("strategies/ema_cross.rhai").display().to_string()
            ),
        )
        .replace("fast = 8", "fast = 3")
        .replace("slow = 21", "slow = 8");
    std::fs::write(dir.path().join("peregrine.toml"), cfg).unwrap();
    let out = peregrine()
        .current_dir(dir.path())
        .env_remove("DATABASE_URL") // the default config's SQLite, whatever the environment says
        .args([
            "run",
            "--config",
            "peregrine.toml",
            "--duration",
            "3s",
            "--summary",
            "summary.json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ticks processed") && stdout.contains("tick-to-order"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    for key in ["ticks", "orders", "fills", "rejects"] {
        assert!(json[key].is_u64(), "{key} missing: {json}");
    }
    assert!(json["ticks"].as_u64().unwrap() > 0);
    assert!(json["realized_pnl"].is_string());
    for key in ["p50", "p99", "p999", "max"] {
        assert!(
            json["latency_ns"][key].is_u64(),
            "latency_ns.{key} missing: {json}"
        );
    }
    assert!(
        dir.path().join("data/peregrine.db").exists(),
        "the default sink path is ./data/peregrine.db"
    );
}

#[test]
fn kill_writes_the_kill_file_and_reset_needs_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let default =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"))
            .unwrap();
    let kill = dir.path().join("KILL");
    let text = default.replace(
        "kill_switch_file = \"data/KILL\"",
        &format!("kill_switch_file = {:?}", kill.display().to_string()),
    );
    assert_ne!(text, default, "the default config names data/KILL");
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = peregrine()
        .args(["kill", "--reason", "desk stop", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&kill).unwrap(), "desk stop");

    let out = peregrine()
        .args(["kill", "--reset", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--reason"));
    assert!(kill.exists(), "a refused reset changes nothing");

    let out = peregrine()
        .args(["kill", "--reset", "--reason", "checked", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!kill.exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("KILL.reset")).unwrap(),
        "checked"
    );
}

/// The default config with one strategy `file` and `params` (TOML lines), written to `dir`.
fn config_with_strategy(dir: &Path, file: &Path, params: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let default = std::fs::read_to_string(root.join("config/default.toml")).unwrap();
    let start = default.find("[strategies.params]").unwrap();
    let end = default.find("[risk]").unwrap();
    let cfg = format!(
        "{}[strategies.params]\n{params}\n\n{}",
        &default[..start],
        &default[end..]
    )
    .replace(
        "\"strategies/ema_cross.rhai\"",
        &format!("{:?}", file.display().to_string()),
    );
    let path = dir.join("peregrine.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn run_for(dir: &Path, duration: &str, extra: &[&str]) -> std::process::Output {
    peregrine()
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .args(["run", "--config", "peregrine.toml", "--duration", duration])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_halted_strategy_is_in_the_summary_and_fails_the_run_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("broken.rhai");
    std::fs::write(
        &script,
        "fn on_trade(t) {\n    throw \"broken on purpose\";\n}\n",
    )
    .unwrap();
    config_with_strategy(dir.path(), &script, "");

    let out = run_for(dir.path(), "3s", &["--summary", "summary.json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("HALTED strategy  ema_cross after 10 errors")
            && stdout.contains("broken on purpose"),
        "{stdout}"
    );
    assert!(
        stderr.contains("strategy halted during the run: ema_cross"),
        "{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    let halted = &json["detail"]["halted_strategies"][0];
    assert_eq!(halted["name"], "ema_cross", "{json}");
    assert!(
        halted["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("broken on purpose")),
        "{json}"
    );

    let out = run_for(dir.path(), "2s", &["--allow-halted"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("HALTED strategy"));
}

#[test]
fn the_shipped_market_maker_quotes_without_a_storm_of_unknown_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The default risk limits (max_position 0.0015 counting working orders) refuse some of
    // its quotes: a refused quote must be forgotten, not cancelled on every later update.
    config_with_strategy(
        dir.path(),
        &root.join("strategies/market_maker.rhai"),
        "qty = \"0.001\"\nmax_inventory = \"0.01\"",
    );
    let out = run_for(dir.path(), "5s", &["--summary", "summary.json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("cancel of an unknown order").count(),
        0,
        "{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    let (orders, rejects) = (
        json["orders"].as_u64().unwrap(),
        json["detail"]["risk_rejects"].as_u64().unwrap(),
    );
    assert!(orders > 0, "{json}");
    // Before the fix: ~66 refused quotes (and as many unknown cancels) per second.
    assert!(rejects <= 30, "{rejects} risk rejects in 5 s: {json}");
}

#[test]
fn run_refuses_a_config_that_would_run_and_do_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ema = root.join("strategies/ema_cross.rhai");
    // (params, replace from, to, the line named, the message)
    for (params, from, to, needle, expect) in [
        (
            "qty = \"0.001\"",
            "tick_queue_capacity = 65536",
            "tick_queue_capacity = 0",
            "tick_queue_capacity = 0",
            "field `engine.tick_queue_capacity`: must be at least 1",
        ),
        (
            "qty = \"0.001\"",
            "max_order_notional = \"150\"",
            "max_order_notional = 150.7",
            "max_order_notional = 150.7",
            "field `risk.max_order_notional`: decimals (money, prices, quantities) are written as strings",
        ),
        (
            "qty = \"0.001\"",
            "daily_loss_limit = \"50\"",
            "daily_loss_limit = \"-50\"",
            "daily_loss_limit = \"-50\"",
            "field `risk.daily_loss_limit`: must be positive",
        ),
        (
            "qty = 0.001",
            "",
            "",
            "qty = 0.001",
            "field `strategies[0].params.qty`",
        ),
        (
            "qty = \"0.001\"\nfsat = 3",
            "",
            "",
            "fsat = 3",
            "unknown parameter",
        ),
    ] {
        let path = config_with_strategy(dir.path(), &ema, params);
        let mut text = std::fs::read_to_string(&path).unwrap();
        if !from.is_empty() {
            if text.lines().any(|l| l.starts_with(from)) {
                text = text.replace(&format!("\n{from}"), &format!("\n{to}"));
            } else {
                // Commented out in the default: add it to [risk].
                text = text.replace("[risk]\n", &format!("[risk]\n{to}\n"));
            }
        }
        std::fs::write(&path, &text).unwrap();
        let line = text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
        let out = run_for(dir.path(), "1s", &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{needle}: {stderr}");
        assert!(
            stderr.contains(&format!("peregrine.toml, line {line}: ")) && stderr.contains(expect),
            "{needle} (line {line}): {stderr}"
        );
    }
    // A float where the script declares a decimal also names the line of its declaration.
    config_with_strategy(dir.path(), &ema, "qty = 0.001");
    let out = run_for(dir.path(), "1s", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let declared = std::fs::read_to_string(&ema)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("fn params()"))
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!("ema_cross.rhai:{declared}, fn params()"))
            && stderr.contains("expects an exact decimal, got a float"),
        "{stderr}"
    );
}

/// `peregrine sim` as a user runs it: an order read after a market frame is timed on the
/// simulator's clock, `GET /sim/latency` serves it, and Ctrl-C (SIGINT) prints the
/// tick-to-trade summary on exit.
#[test]
fn sim_reports_tick_to_trade_and_prints_it_on_exit() {
    use futures_util::StreamExt;
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = peregrine()
        .args(["sim", "--port", "0", "--config"])
        .arg(root.join("config/default.toml"))
        .env("PEREGRINE_API_KEY", "cli-sim-key")
        .env("PEREGRINE_API_SECRET", "cli-sim-secret")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    out.read_line(&mut banner).unwrap();
    let words: Vec<&str> = banner.split_whitespace().collect();
    let after = |w: &str| words[words.iter().position(|x| *x == w).unwrap() + 1].to_string();
    let (rest, ws) = (after("REST"), after("websocket"));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let served: serde_json::Value = rt.block_on(async {
        // A trade frame, then a marketable order signed as any client signs it.
        let (mut md, _) = tokio_tungstenite::connect_async(format!("{ws}/ws/btcusdt@trade"))
            .await
            .unwrap();
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), md.next())
            .await
            .expect("a trade frame within 10 s");
        assert!(frame.is_some_and(|f| f.is_ok()));
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let payload =
            format!("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.00100&timestamp={ts}");
        let sig = peregrine_exchanges::binance::sign::signature_hex(
            b"cli-sim-secret",
            payload.as_bytes(),
        );
        let http = reqwest::Client::new();
        let status = http
            .post(format!("{rest}/api/v3/order"))
            .header("X-MBX-APIKEY", "cli-sim-key")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("{payload}&signature={sig}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        http.get(format!("{rest}/sim/latency"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(served["orders"], 1, "{served}");
    assert_eq!(served["without_frame"], 0, "{served}");
    assert_eq!(served["from_latest_trade_frame_ns"]["count"], 1, "{served}");
    assert!(served["from_latest_frame_ns"]["p50"].as_u64().unwrap() > 0);

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let mut rest_out = String::new();
    out.read_to_string(&mut rest_out).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        rest_out.contains("tick-to-trade on the simulator's clock (frame written -> order read): 1 orders, 0 without a frame"),
        "{rest_out}"
    );
    assert!(
        rest_out.contains("from the latest trade frame: 1 orders, p50"),
        "{rest_out}"
    );
}
