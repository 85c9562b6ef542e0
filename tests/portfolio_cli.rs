//! `peregrine backtest` with several strategies on several symbols (a portfolio) and
//! `peregrine optimize` (a parameter grid, in and out of sample), as a user runs them over
//! the committed synthetic sample. Sums are checked exactly: the strategies' equity, fees and
//! PnL add up to the portfolio's; the sweep's ranking is recomputed from plain backtests.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::str::FromStr;

use cli_support::{dec, jsonl, ok, peregrine, root};
use rust_decimal::Decimal;
use serde_json::Value;

fn sample() -> PathBuf {
    root().join("tests/fixtures/synthetic_btcusdt.jsonl")
}

/// The committed BTC-USDT sample plus an ETH-USDT copy of it at a tenth of the price, 50 ms
/// later, merged by time.
fn two_symbols(dir: &Path) -> PathBuf {
    let mut lines: Vec<(i64, usize, String)> = Vec::new();
    for (i, l) in std::fs::read_to_string(sample())
        .unwrap()
        .lines()
        .enumerate()
    {
        let v: Value = serde_json::from_str(l).unwrap();
        let ts = v["exch_ts_ns"].as_i64().unwrap();
        lines.push((ts, 2 * i, l.to_string()));
        let mut e = v.clone();
        e["symbol"] = "ETH-USDT".into();
        e["exch_ts_ns"] = (ts + 50_000_000).into();
        for k in ["price", "bid_px", "ask_px"] {
            if let Some(p) = e.get(k).and_then(|p| p.as_str()) {
                let p = (Decimal::from_str(p).unwrap() / Decimal::from(10)).round_dp(2);
                e[k] = p.to_string().into();
            }
        }
        lines.push((ts + 50_000_000, 2 * i + 1, e.to_string()));
    }
    lines.sort();
    let path = dir.join("two.jsonl");
    let text: String = lines.into_iter().map(|(_, _, l)| l + "\n").collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// The default config plus ETH-USDT and a second strategy (resting quotes on timers) on it.
fn portfolio_config(dir: &Path) -> PathBuf {
    let base = std::fs::read_to_string(root().join("config/default.toml")).unwrap();
    let ema = root().join("strategies/ema_cross.rhai");
    let rq = root().join("tests/fixtures/resting_quotes.rhai");
    let text = base.replace(
        "file = \"strategies/ema_cross.rhai\"",
        &format!("file = {:?}", ema.display().to_string()),
    ) + &format!(
        r#"
[[instruments]]
symbol = "ETH-USDT"
tick_size = "0.01"
lot_size = "0.0001"
sim_start_price = "6000"

[[strategies]]
name = "quotes"
file = {:?}
instruments = ["ETH-USDT"]
[strategies.params]
qty = "0.001"
max_inventory = "0.001"
every_ms = 400
"#,
        rq.display().to_string()
    );
    let path = dir.join("portfolio.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn two_strategies_on_two_symbols_add_up_to_the_portfolio() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_symbols(dir.path());
    let config = portfolio_config(dir.path());
    let out_dir = dir.path().join("o");
    let stdout = ok(&peregrine()
        .args(["backtest", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap());
    assert!(stdout.contains("per strategy"), "{stdout}");
    assert!(
        stdout.contains("ema_cross") && stdout.contains("quotes"),
        "{stdout}"
    );

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        summary["symbols"],
        serde_json::json!(["BTC-USDT", "ETH-USDT"])
    );
    let per = summary["per_strategy"].as_array().unwrap();
    let names: Vec<&str> = per.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["ema_cross", "quotes"]);
    assert_eq!(per[1]["symbols"], serde_json::json!(["ETH-USDT"]));

    // Each strategy traded, and only its own symbol.
    let fills = jsonl(&out_dir.join("fills.jsonl"));
    for (name, symbol) in [("ema_cross", "BTC-USDT"), ("quotes", "ETH-USDT")] {
        let own: Vec<&Value> = fills.iter().filter(|f| f["strategy"] == name).collect();
        assert!(!own.is_empty(), "{name} did not trade");
        assert!(own.iter().all(|f| f["symbol"] == symbol), "{name}");
    }

    // Exact sums: the strategies' equity, realized PnL, fees and fills are the portfolio's.
    let sum = |k: &str| per.iter().map(|s| dec(&s[k])).sum::<Decimal>();
    assert_eq!(sum("final_equity"), dec(&summary["final_equity"]));
    assert_eq!(sum("realized_pnl"), dec(&summary["realized_pnl"]));
    assert_eq!(sum("fees"), dec(&summary["fees"]));
    let trades: u64 = per.iter().map(|s| s["trades"].as_u64().unwrap()).sum();
    assert_eq!(trades, summary["trades"].as_u64().unwrap());
    let trips: u64 = per
        .iter()
        .map(|s| s["report"]["round_trips"].as_u64().unwrap())
        .sum();
    assert_eq!(trips, summary["report"]["round_trips"].as_u64().unwrap());

    // Per-strategy curves share the portfolio's sampling times, and add up at every point.
    let equity = jsonl(&out_dir.join("equity.jsonl"));
    let curves = jsonl(&out_dir.join("strategy_equity.jsonl"));
    assert_eq!(curves.len(), 2 * equity.len());
    for (i, p) in equity.iter().enumerate() {
        let at: Vec<&Value> = curves.iter().filter(|c| c["ts_ns"] == p["ts_ns"]).collect();
        assert_eq!(at.len(), 2, "point {i}");
        let total: Decimal = at.iter().map(|c| dec(&c["equity"])).sum();
        assert_eq!(total, dec(&p["equity"]), "point {i}");
    }
}

#[test]
fn several_strategies_need_named_params_and_distinct_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_symbols(dir.path());
    let config = portfolio_config(dir.path());
    let run = |extra: &[&str]| {
        peregrine()
            .args(["backtest", "--config"])
            .arg(&config)
            .arg("--data")
            .arg(&data)
            .args(extra)
            .output()
            .unwrap()
    };
    let r = run(&["--param", "qty=0.002"]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("name the one it is for: STRATEGY.qty=") && err.contains("ema_cross, quotes"),
        "{err}"
    );
    // Named, it reaches that strategy only (an unknown key would fail its declaration).
    let stdout = ok(&run(&[
        "--param",
        "ema_cross.fast=5",
        "--param",
        "quotes.every_ms=800",
    ]));
    assert!(stdout.contains("per strategy"), "{stdout}");
    let r = run(&["--param", "ema_cross.nope=1"]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("nope"));
    // The same file twice without config entries: two strategies of one name.
    let r = peregrine()
        .args([
            "backtest",
            "--strategy",
            "strategies/ema_cross.rhai",
            "--strategy",
            "./strategies/ema_cross.rhai",
            "--data",
        ])
        .arg(sample())
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("two strategies are named \"ema_cross\""),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}

/// `peregrine CMD` with ema_cross, a fixed quantity and a 1 bps fee.
fn ema(cmd: &str) -> std::process::Command {
    let mut c = peregrine();
    c.args([
        cmd,
        "--strategy",
        "strategies/ema_cross.rhai",
        "--param",
        "qty=0.001",
        "--fee-bps",
        "1",
    ]);
    c
}

fn optimize(extra: &[&str]) -> Output {
    ema("optimize")
        .arg("--data")
        .arg(sample())
        .args(extra)
        .output()
        .unwrap()
}

fn backtest_return(data: &Path, out: &Path, fast: &str, slow: &str) -> (f64, Value) {
    ok(&ema("backtest")
        .arg("--param")
        .arg(format!("fast={fast}"))
        .arg("--param")
        .arg(format!("slow={slow}"))
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap());
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    (s["report"]["total_return_pct"].as_f64().unwrap(), s)
}

#[test]
fn a_small_grid_ranks_as_the_plain_backtests_of_its_halves_say() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("opt");
    let args = [
        "--grid",
        "fast=3..6:3",
        "--grid",
        "slow=12,21",
        "--in-sample",
        "0.6",
        "--rank",
        "return",
    ];
    let mut with_out: Vec<&str> = args.to_vec();
    let out_s = out_dir.display().to_string();
    with_out.extend(["--jobs", "3", "--out", &out_s]);
    let table = ok(&optimize(&with_out));
    // The same table whatever the number of threads.
    let mut one: Vec<&str> = args.to_vec();
    one.extend(["--jobs", "1"]);
    let table1 = ok(&optimize(&one));
    assert_eq!(
        table.lines().take(6).collect::<Vec<_>>(),
        table1.lines().take(6).collect::<Vec<_>>()
    );
    assert!(
        table.contains("4 combinations ranked by in-sample return"),
        "{table}"
    );
    assert!(
        table.contains("IS ret %*") && table.contains("OOS ret %*"),
        "{table}"
    );

    let rows = jsonl(&out_dir.join("optimize.jsonl"));
    assert_eq!(rows.len(), 4);
    // The split the sweep used, from the table's first line.
    let split: i64 = table
        .lines()
        .next()
        .and_then(|l| l.split("out of sample from ").nth(1))
        .and_then(|t| t.trim_end_matches(" ns").parse().ok())
        .unwrap();
    let (mut is_lines, mut oos_lines) = (String::new(), String::new());
    for l in std::fs::read_to_string(sample()).unwrap().lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["exch_ts_ns"].as_i64().unwrap() < split {
            is_lines += &format!("{l}\n");
        } else {
            oos_lines += &format!("{l}\n");
        }
    }
    let (is_file, oos_file) = (dir.path().join("is.jsonl"), dir.path().join("oos.jsonl"));
    std::fs::write(&is_file, is_lines).unwrap();
    std::fs::write(&oos_file, oos_lines).unwrap();

    // Independently: each combination backtested on each half, ranked by in-sample return
    // (ties in grid order: fast slowest, slow fastest).
    let mut expected: Vec<(f64, usize, String, String, f64)> = Vec::new();
    for (i, (fast, slow)) in [("3", "12"), ("3", "21"), ("6", "12"), ("6", "21")]
        .into_iter()
        .enumerate()
    {
        let (is_ret, _) = backtest_return(&is_file, &dir.path().join(format!("is{i}")), fast, slow);
        let (oos_ret, _) =
            backtest_return(&oos_file, &dir.path().join(format!("oos{i}")), fast, slow);
        expected.push((is_ret, i, fast.into(), slow.into(), oos_ret));
    }
    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let got: Vec<(String, String, f64, f64)> = rows
        .iter()
        .map(|r| {
            let p = r["row"]["params"].as_array().unwrap();
            (
                p[0][1].as_str().unwrap().to_string(),
                p[1][1].as_str().unwrap().to_string(),
                r["row"]["in_sample"]["report"]["total_return_pct"]
                    .as_f64()
                    .unwrap(),
                r["row"]["out_of_sample"]["report"]["total_return_pct"]
                    .as_f64()
                    .unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String, f64, f64)> = expected
        .into_iter()
        .map(|(is, _, f, s, oos)| (f, s, is, oos))
        .collect();
    assert_eq!(got, want);
    // Not a degenerate grid: the combinations differ.
    assert!(want.iter().any(|w| w.2 != want[0].2), "{want:?}");
}

#[test]
fn bad_grids_and_splits_fail_with_clear_errors() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--grid", "fats=1,2"],
            "--grid fats=1,2: the script declares no parameter \"fats\" (it declares fast, qty, slow)",
        ),
        (
            &["--grid", "fast=5..2:1"],
            "--grid fast=5..2:1: the range is empty (5 is above 2)",
        ),
        (
            &["--grid", "fast=2..5"],
            "--grid fast=2..5: a range needs a step",
        ),
        (
            &["--grid", "fast=0,2"],
            "--grid fast=0,2: 0 is below the declared minimum 1",
        ),
        (&[], "nothing to sweep"),
        (
            &["--grid", "fast=2,3", "--in-sample", "1.5"],
            "--in-sample 1.5 must be in (0, 1]",
        ),
    ];
    for (args, want) in cases {
        let r = optimize(args);
        assert!(!r.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
