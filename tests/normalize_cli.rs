//! `peregrine normalize` as a user runs it, on documented frames of all five venues
//! (`tests/frames/*.jsonl`; sources in `exchanges/tests/SOURCES.md`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use peregrine_engine::interchange::{EventKind, EventLine};
use peregrine_engine::types::Side;

fn frames(venue: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/frames/{venue}.jsonl"))
}

fn normalize(args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    c.arg("normalize").args(args).env("RUST_LOG", "warn");
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn events(out: &Output) -> Vec<EventLine> {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    text.lines()
        .enumerate()
        .map(|(i, l)| EventLine::parse(l, i + 1).unwrap())
        .collect()
}

fn ok(venue: &str, extra: &[&str]) -> (Vec<EventLine>, String) {
    let file = frames(venue);
    let mut args = vec!["--venue", venue];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    let out = normalize(&args, None);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{venue}: {stderr}");
    (events(&out), stderr)
}

fn raw_line(out: &Output, n: usize) -> String {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .nth(n)
        .unwrap()
        .to_string()
}

#[test]
fn bybit_frames() {
    let (ev, _) = ok("bybit", &[]);
    let kinds: Vec<_> = ev.iter().map(|e| e.kind.unwrap()).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Trade,
            EventKind::Quote,
            EventKind::BookSnapshot,
            EventKind::BookDelta
        ]
    );
    assert!(ev
        .iter()
        .all(|e| e.venue == "bybit" && e.symbol == "BTC-USDT"));
    assert_eq!(ev[0].price.unwrap().to_string(), "16578.50");
    assert_eq!(ev[0].side, Some(Side::Buy));
    assert_eq!(ev[2].bids[0][0].to_string(), "17440.00");
    assert_eq!(
        (ev[3].seq, ev[3].cross_seq),
        (Some(13_079_593), Some(22_520_573_260))
    );
}

#[test]
fn okx_frames_keep_exact_decimal_text() {
    let file = frames("okx");
    let out = normalize(&["--venue", "okx", file.to_str().unwrap()], None);
    assert!(out.status.success());
    let ev = events(&out);
    assert_eq!(ev.len(), 4);
    assert_eq!(
        raw_line(&out, 0),
        r#"{"venue":"okx","symbol":"BTC-USDT","kind":"trade","exch_ts_ns":1630048897897000000,"price":"42219.9","qty":"0.12060306","side":"buy","trade_id":"130639474"}"#
    );
    assert_eq!(ev[1].symbol, "BCH-USDT-SWAP");
    assert_eq!(
        raw_line(&out, 2),
        r#"{"venue":"okx","symbol":"BTC-USDT","kind":"book_snapshot","exch_ts_ns":1597026383085000000,"bids":[["8476.97","256"],["8475.55","101"]],"asks":[["8476.98","415"],["8477","7"]],"seq":123456,"prev_seq":-1,"checksum":-855196043}"#
    );
    assert_eq!((ev[3].seq, ev[3].prev_seq), (Some(123_457), Some(123_456)));
}

/// OKX `books5`, `tickers` and the tick-by-tick books (`okx_channels.jsonl`: the docs'
/// `books5` and `tickers` examples, the `books` examples renamed to `books50-l2-tbt` /
/// `books-l2-tbt`, whose pushes have the same shape).
#[test]
fn okx_books5_tickers_and_tick_by_tick_books() {
    let file = frames("okx_channels");
    let out = normalize(&["--venue", "okx", file.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out);
    let kinds: Vec<_> = ev.iter().map(|e| e.kind.unwrap()).collect();
    assert_eq!(
        kinds,
        [
            EventKind::BookSnapshot,
            EventKind::Quote,
            EventKind::BookSnapshot,
            EventKind::BookDelta
        ]
    );
    assert_eq!(
        (ev[0].symbol.as_str(), ev[0].seq),
        ("BCH-USDT-SWAP", Some(363_996_337))
    );
    assert_eq!((ev[0].bids.len(), ev[0].asks.len()), (5, 5));
    assert_eq!(ev[0].asks[4][0].to_string(), "111.1");
    assert_eq!(
        (
            ev[1].bid_px.unwrap().to_string(),
            ev[1].ask_qty.unwrap().to_string()
        ),
        ("8888.88".to_string(), "11".to_string())
    );
    assert_eq!((ev[2].seq, ev[2].prev_seq), (Some(123_456), Some(-1)));
    assert_eq!((ev[3].seq, ev[3].prev_seq), (Some(123_457), Some(123_456)));
}

#[test]
fn kraken_frames() {
    let (ev, _) = ok("kraken", &[]);
    let kinds: Vec<_> = ev.iter().map(|e| e.kind.unwrap()).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Trade,
            EventKind::Quote,
            EventKind::BookSnapshot,
            EventKind::BookDelta
        ]
    );
    assert_eq!(ev[0].symbol, "MATIC-USD");
    assert_eq!(ev[0].trade_id.as_deref(), Some("4665846"));
    assert_eq!(ev[1].bid_qty.unwrap().to_string(), "740.0");
    assert_eq!(ev[2].bids[0][1].to_string(), "0.10000000");
    assert_eq!(ev[2].checksum, Some(3_310_070_434));
    assert_eq!(ev[3].exch_ts_ns, Some(1_696_613_755_440_295_000));
}

#[test]
fn coinbase_frames() {
    let (ev, _) = ok("coinbase", &[]);
    let kinds: Vec<_> = ev.iter().map(|e| e.kind.unwrap()).collect();
    assert_eq!(
        kinds,
        [EventKind::Trade, EventKind::Quote, EventKind::BookSnapshot]
    );
    assert_eq!(ev[0].symbol, "ETH-USD");
    assert_eq!(
        ev[0].side,
        Some(Side::Sell),
        "market_trades side is the maker's"
    );
    assert_eq!(ev[1].ask_qty.unwrap().to_string(), "8038.07770938");
    assert_eq!(ev[2].bids.len(), 2);
    assert_eq!(ev[2].seq, Some(3));
}

#[test]
fn binance_frames_including_the_rest_snapshot() {
    let (ev, _) = ok("binance", &["--symbol", "BNB-BTC"]);
    let kinds: Vec<_> = ev.iter().map(|e| e.kind.unwrap()).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Trade,
            EventKind::Quote,
            EventKind::BookDelta,
            EventKind::BookSnapshot,
            EventKind::Trade,
            EventKind::BookSnapshot
        ]
    );
    assert_eq!(ev[0].side, Some(Side::Sell));
    // aggTrade: its aggregate id; partial depth: the symbol of its stream name.
    assert_eq!(ev[4].trade_id.as_deref(), Some("12345"));
    assert_eq!((ev[5].symbol.as_str(), ev[5].seq), ("BNB-BTC", Some(160)));
    assert_eq!(ev[5].asks[0][1].to_string(), "100");
    assert_eq!(ev[1].symbol, "BNB-USDT");
    assert_eq!(ev[1].bid_px.unwrap().to_string(), "25.35190000");
    assert_eq!((ev[2].first_seq, ev[2].seq), (Some(157), Some(160)));
    assert_eq!(ev[2].asks[1][1].to_string(), "0");
    assert_eq!(ev[3].seq, Some(1_027_024));
    assert_eq!(ev[3].bids[0][0].to_string(), "4.00000000");
}

#[test]
fn record_lines_stdin_and_malformed_lines() {
    let trade = r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"sell","price":45283.4,"qty":0.0005,"ord_type":"market","trade_id":1,"timestamp":"2023-10-06T17:35:55.440295Z"}]}"#;
    let rec = serde_json::json!({"ts_ns": 1234, "venue": "kraken", "frame": trade}).to_string();
    let input = format!("{rec}\n{{\"channel\":\"trade\"\n{trade}\n{{\"channel\":\"book\",\"type\":\"update\",\"data\":[{{\"symbol\":\"BTC/USD\",\"bids\":[{{\"price\":\"x\",\"qty\":1}}]}}]}}\n");
    let out = normalize(&["--venue", "kraken", "-"], Some(&input));
    assert!(!out.status.success(), "malformed lines must fail the run");
    let ev = events(&out);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].ts_ns, Some(1234));
    assert_eq!(ev[0].qty.unwrap().to_string(), "0.0005");
    assert_eq!(ev[1].ts_ns, None);
    let err = String::from_utf8_lossy(&out.stderr);
    let errs: Vec<&str> = err.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(errs.len(), 2, "{err}");
    assert!(errs[0].starts_with("line 2: malformed frame"), "{err}");
    assert!(
        errs[1].starts_with("line 4: field `bids`: bad number \"x\""),
        "{err}"
    );
    assert!(err.contains("2 of 4 line(s) failed"), "{err}");

    let out = normalize(&["--venue", "ftx", "-"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown venue `ftx`"));
}
