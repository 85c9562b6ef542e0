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
