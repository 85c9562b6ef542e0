//! `peregrine backtest` and `peregrine gen-ticks` as a user runs them: the shipped
//! `ema_cross.rhai` end to end over a synthetic tick file, byte-identical reruns, the
//! accounting checked against an independent recomputation from `fills.jsonl`, and clear
//! errors for bad data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn peregrine() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    c.env("RUST_LOG", "warn").current_dir(root());
    c
}

fn backtest(data: &Path, out: &Path, extra: &[&str]) -> Output {
    peregrine()
        .args([
            "backtest",
            "--strategy",
            "strategies/ema_cross.rhai",
            "--data",
        ])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap()).unwrap()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn ema_cross_backtest_end_to_end_is_deterministic_and_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let ticks = dir.path().join("ticks.jsonl");
    let out = peregrine()
        .args(["gen-ticks", "--seed", "11", "--duration", "3m", "--out"])
        .arg(&ticks)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SYNTHETIC"));

    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let args = [
        "--fee-bps",
        "1",
        "--maker-fee-bps",
        "0.5",
        "--param",
        "fast=5",
    ];
    let ra = backtest(&ticks, &a, &args);
    assert!(
        ra.status.success(),
        "{}",
        String::from_utf8_lossy(&ra.stderr)
    );
    let rb = backtest(&ticks, &b, &args);
    assert!(
        rb.status.success(),
        "{}",
        String::from_utf8_lossy(&rb.stderr)
    );
    let stdout = String::from_utf8_lossy(&ra.stdout);
    for what in ["trades", "fees", "realized PnL", "max drawdown", "Sharpe"] {
        assert!(stdout.contains(what), "summary lacks {what}: {stdout}");
    }
    for name in [
        "orders.jsonl",
        "fills.jsonl",
        "equity.jsonl",
        "risk_events.jsonl",
        "summary.json",
        "equity.svg",
    ] {
        let x = std::fs::read(a.join(name)).unwrap();
        let y = std::fs::read(b.join(name)).unwrap();
        assert!(x == y, "{name} differs between two identical runs");
    }
    let svg = std::fs::read_to_string(a.join("equity.svg")).unwrap();
    assert!(
        svg.starts_with("<svg ") && svg.contains("<polyline"),
        "{svg}"
    );

    // Recompute the result from the fills and the data alone: cash flows, fees, position,
    // and the final mark (mid of the last quote in the data).
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("summary.json")).unwrap()).unwrap();
    let fills = jsonl(&a.join("fills.jsonl"));
    assert!(fills.len() > 10, "only {} fills", fills.len());
    assert_eq!(summary["trades"].as_u64().unwrap() as usize, fills.len());
    // Fees as Binance takes them (the default `--fee-asset received`): a buy pays in BTC, a
    // sell in USDT, rounded to 8 decimals.
    let (mut cash, mut fees, mut pos) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let (mut taker, mut maker) = (0, 0);
    let round8 = |v: Decimal| {
        v.round_dp_with_strategy(8, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    };
    for f in &fills {
        let (px, qty, fee) = (dec(&f["price"]), dec(&f["qty"]), dec(&f["fee"]));
        let buy = f["side"] == "buy";
        let sign = if buy { Decimal::ONE } else { -Decimal::ONE };
        cash -= sign * px * qty;
        pos += sign * qty;
        let bps = if f["is_maker"].as_bool().unwrap() {
            maker += 1;
            Decimal::from_str("0.5").unwrap()
        } else {
            taker += 1;
            Decimal::ONE
        };
        let rate = bps / Decimal::from(10_000);
        if buy {
            assert_eq!(f["fee_asset"], "BTC", "{f}");
            assert_eq!(fee, round8(qty * rate), "{f}");
            pos -= fee;
            fees += fee * px;
        } else {
            assert_eq!(f["fee_asset"], "USDT", "{f}");
            assert_eq!(fee, round8(px * qty * rate), "{f}");
            cash -= fee;
            fees += fee;
        }
    }
    assert!(taker > 0, "ema_cross takes the touch");
    let _ = maker;
    let last_quote = jsonl(&ticks)
        .into_iter()
        .rev()
        .find(|l| l["kind"] == "quote")
        .unwrap();
    let mark = (dec(&last_quote["bid_px"]) + dec(&last_quote["ask_px"])) / Decimal::TWO;
    let equity = cash + pos * mark;
    assert_eq!(dec(&summary["final_equity"]), equity.normalize());
    assert_eq!(dec(&summary["fees"]), fees.normalize());
    assert_eq!(dec(&summary["final_position"]), pos.normalize());
    let curve = jsonl(&a.join("equity.jsonl"));
    assert_eq!(dec(&curve.last().unwrap()["equity"]), equity.normalize());
    assert!(curve.len() >= 170, "one point per second: {}", curve.len());
    // Every order reached a final state; each fill belongs to a logged order.
    let orders = jsonl(&a.join("orders.jsonl"));
    assert_eq!(summary["working_orders_at_end"], 0);
    for f in &fills {
        assert!(orders
            .iter()
            .any(|o| o["client_order_id"] == f["client_order_id"]));
    }
}

#[test]
fn the_committed_sample_backtests_and_gen_ticks_reproduces_it() {
    let dir = tempfile::tempdir().unwrap();
    let sample = root().join("tests/fixtures/synthetic_btcusdt.jsonl");
    let regen = dir.path().join("regen.jsonl");
    let out = peregrine()
        .args([
            "gen-ticks",
            "--seed",
            "42",
            "--duration",
            "100s",
            "--step",
            "100ms",
            "--out",
        ])
        .arg(&regen)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(&regen).unwrap() == std::fs::read(&sample).unwrap(),
        "gen-ticks no longer reproduces the committed sample"
    );
    let r = backtest(&sample, &dir.path().join("o"), &[]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

#[test]
fn malformed_data_fails_with_the_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.jsonl");
    let good = r#"{"venue":"sim","symbol":"BTC-USDT","kind":"quote","exch_ts_ns":1,"bid_px":"100","bid_qty":"1","ask_px":"100.01","ask_qty":"1"}"#;
    std::fs::write(
        &data,
        format!("{good}\n{good}\n{{\"venue\": oops\n{good}\n"),
    )
    .unwrap();
    let r = backtest(&data, &dir.path().join("o"), &[]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains(&data.display().to_string()), "{err}");

    let missing = r#"{"venue":"sim","symbol":"BTC-USDT","kind":"trade","exch_ts_ns":1,"qty":"1","side":"buy"}"#;
    std::fs::write(&data, format!("{good}\n\n{missing}\n")).unwrap();
    let r = backtest(&data, &dir.path().join("o"), &[]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("line 3") && err.contains("price"), "{err}");
}

/// Every shipped example backtests over the committed synthetic sample: it trades, writes all
/// outputs (the chart included), raises no strategy error, and its fills add up to the
/// reported final position.
#[test]
fn every_shipped_example_backtests_with_summary_and_chart() {
    let data = root().join("tests/fixtures/synthetic_btcusdt.jsonl");
    let cases: [(&str, &[&str]); 3] = [
        ("bollinger_mr", &["--param", "qty=0.001"]),
        (
            "market_maker",
            &["--param", "qty=0.001", "--param", "max_inventory=0.005"],
        ),
        (
            "breakout",
            &[
                "--param",
                "qty=0.001",
                "--param",
                "lookback=5",
                "--bars",
                "2s",
            ],
        ),
    ];
    for (name, extra) in cases {
        let out = tempfile::tempdir().unwrap();
        let run = peregrine()
            .args(["backtest", "--fee-bps", "1", "--strategy"])
            .arg(format!("strategies/{name}.rhai"))
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(out.path())
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{name}: {}\n{stdout}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(stdout.contains("strategy errs  0;"), "{name}: {stdout}");
        for f in [
            "orders.jsonl",
            "fills.jsonl",
            "equity.jsonl",
            "summary.json",
            "equity.svg",
        ] {
            assert!(out.path().join(f).is_file(), "{name}: no {f}");
        }
        let svg = std::fs::read_to_string(out.path().join("equity.svg")).unwrap();
        assert!(
            svg.starts_with("<svg") || svg.starts_with("<?xml"),
            "{name}"
        );
        let fills = jsonl(&out.path().join("fills.jsonl"));
        assert!(!fills.is_empty(), "{name} never traded on the sample");
        // Bought quantity less the fees taken from it in the base asset.
        let position: Decimal = fills
            .iter()
            .map(|f| {
                let q = dec(&f["qty"]);
                if f["side"] == "buy" {
                    q - dec(&f["fee"])
                } else {
                    -q
                }
            })
            .sum();
        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            dec(&summary["final_position"]),
            position,
            "{name}: final position"
        );
    }
}
