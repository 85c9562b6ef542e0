//! Real history in, as a quant gets it: `peregrine download` against a local server (on
//! 127.0.0.1, started here) that serves Binance's public data layout with small files in the
//! documented columns (a 2024 day in milliseconds, a 2025 day in microseconds), then
//! `peregrine import` of the archives, then `peregrine backtest` over the result. Also: a
//! resumed download (HTTP Range), skipping verified files without a request, and refusing a
//! file whose checksum does not match.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn peregrine() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    c.env("RUST_LOG", "warn").current_dir(root());
    c
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Requests the server saw: (path, Range header).
type Log = Arc<Mutex<Vec<(String, Option<String>)>>>;

#[derive(Clone)]
struct Files {
    root: PathBuf,
    log: Log,
}

async fn serve_file(State(files): State<Files>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/').to_string();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    files
        .log
        .lock()
        .unwrap()
        .push((path.clone(), range.clone()));
    let status = |s: StatusCode| Response::builder().status(s).body(Body::empty()).unwrap();
    if path.contains("..") {
        return status(StatusCode::BAD_REQUEST);
    }
    let Ok(bytes) = std::fs::read(files.root.join(&path)) else {
        return status(StatusCode::NOT_FOUND);
    };
    let len = bytes.len();
    match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(spec) => {
            let start: usize = spec.trim_end_matches('-').parse().unwrap();
            if start >= len {
                return status(StatusCode::RANGE_NOT_SATISFIABLE);
            }
            Response::builder()
                .status(StatusCode::PARTIAL_CONTENT)
                .header(
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{}/{len}", len - 1),
                )
                .header(header::CONTENT_LENGTH, len - start)
                .body(Body::from(bytes[start..].to_vec()))
                .unwrap()
        }
        None => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, len)
            .body(Body::from(bytes))
            .unwrap(),
    }
}

/// Serves `root` on 127.0.0.1 (a free port) from a thread of its own for the rest of the test.
fn serve(root: PathBuf) -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let files = Files {
        root,
        log: log.clone(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().fallback(serve_file).with_state(files);
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), log)
}

/// Spot `trades` rows (trade id, price, qty, quoteQty, time, isBuyerMaker, isBestMatch) of one
/// day: `n` trades a second apart, the price walking up for the first half and down after.
fn trades_csv(first_id: u64, day_start_ms: i64, micros: bool, n: u64) -> String {
    let mut s = String::new();
    for i in 0..n {
        let step = if i < n / 2 { i } else { n - i };
        let cents = 9_400_000 + step * 137;
        let price = format!("{}.{:02}000000", cents / 100, cents % 100);
        let ms = day_start_ms + i as i64 * 1000 + 7;
        let time = if micros {
            format!("{}", ms * 1000 + 250)
        } else {
            ms.to_string()
        };
        let maker = if i % 3 == 0 { "True" } else { "False" };
        s.push_str(&format!(
            "{},{price},0.00150000,141.00000000,{time},{maker},True\n",
            first_id + i
        ));
    }
    s
}

fn zip_bytes(entry: &str, csv: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(entry, opts).unwrap();
    w.write_all(csv.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

/// Publishes one daily trades archive and its `.CHECKSUM` under `site`; `wrong_sum` publishes
/// a checksum of other bytes.
fn publish(site: &Path, date: &str, csv: &str, wrong_sum: bool) -> Vec<u8> {
    let dir = site.join("data/spot/daily/trades/BTCUSDT");
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("BTCUSDT-trades-{date}.zip");
    let bytes = zip_bytes(&format!("BTCUSDT-trades-{date}.csv"), csv);
    std::fs::write(dir.join(&name), &bytes).unwrap();
    let summed: &[u8] = if wrong_sum { b"other bytes" } else { &bytes };
    let sum = hex::encode(Sha256::digest(summed));
    std::fs::write(
        dir.join(format!("{name}.CHECKSUM")),
        format!("{sum}  {name}\n"),
    )
    .unwrap();
    bytes
}

fn download(out: &Path, addr: SocketAddr, from: &str, to: &str) -> Output {
    peregrine()
        .args([
            "download", "--symbol", "BTCUSDT", "--from", from, "--to", to,
        ])
        .arg("--out")
        .arg(out)
        .arg("--base-url")
        .arg(format!("http://{addr}"))
        .output()
        .unwrap()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const DAY_2024_12_31_MS: i64 = 1_735_603_200_000;
const DAY_2025_01_01_MS: i64 = 1_735_689_600_000;

#[test]
fn download_import_backtest_with_resume_and_checksums() {
    let site = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let old = publish(
        site.path(),
        "2024-12-31",
        &trades_csv(1, DAY_2024_12_31_MS, false, 400),
        false,
    );
    let new = publish(
        site.path(),
        "2025-01-01",
        &trades_csv(401, DAY_2025_01_01_MS, true, 400),
        false,
    );
    publish(
        site.path(),
        "2025-01-02",
        &trades_csv(801, DAY_2025_01_01_MS + 86_400_000, true, 10),
        true,
    );
    let (addr, log) = serve(site.path().to_path_buf());

    // First run: both days fetched and verified.
    let text = ok(&download(out.path(), addr, "2024-12-31", "2025-01-01"));
    assert!(
        text.contains("BTCUSDT-trades-2024-12-31.zip: downloaded"),
        "{text}"
    );
    let old_local = out.path().join("BTCUSDT-trades-2024-12-31.zip");
    let new_local = out.path().join("BTCUSDT-trades-2025-01-01.zip");
    assert_eq!(std::fs::read(&old_local).unwrap(), old);
    assert_eq!(std::fs::read(&new_local).unwrap(), new);
    assert!(out
        .path()
        .join("BTCUSDT-trades-2025-01-01.zip.CHECKSUM")
        .exists());

    // An interrupted second file: only its first part is here. The rerun skips the verified
    // first day without any request and continues the second with a Range request.
    std::fs::remove_file(&new_local).unwrap();
    let half = new.len() / 2;
    std::fs::write(
        out.path().join("BTCUSDT-trades-2025-01-01.zip.part"),
        &new[..half],
    )
    .unwrap();
    log.lock().unwrap().clear();
    let text = ok(&download(out.path(), addr, "2024-12-31", "2025-01-01"));
    assert!(text.contains("2024-12-31.zip: already here"), "{text}");
    assert!(text.contains(&format!("resumed at byte {half}")), "{text}");
    assert_eq!(std::fs::read(&new_local).unwrap(), new);
    let seen = log.lock().unwrap().clone();
    assert!(
        !seen.iter().any(|(p, _)| p.contains("2024-12-31")),
        "a verified file was requested again: {seen:?}"
    );
    let zip_get = seen
        .iter()
        .find(|(p, _)| p.ends_with("2025-01-01.zip"))
        .expect("the archive was requested");
    assert_eq!(
        zip_get.1.as_deref(),
        Some(format!("bytes={half}-").as_str())
    );

    // A file that does not match its checksum is refused and not kept.
    let bad = download(out.path(), addr, "2025-01-02", "2025-01-02");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("differs from"), "{err}");
    assert!(!out.path().join("BTCUSDT-trades-2025-01-02.zip").exists());
    assert!(!out
        .path()
        .join("BTCUSDT-trades-2025-01-02.zip.part")
        .exists());

    // Import both days (given newest first: the import merges by time).
    let ticks = out.path().join("ticks.jsonl");
    let text = ok(&peregrine()
        .arg("import")
        .arg(&new_local)
        .arg(&old_local)
        .arg("--out")
        .arg(&ticks)
        .output()
        .unwrap());
    assert!(
        text.contains("binance-trades (checksum verified), 400 rows -> 400 events"),
        "{text}"
    );
    let lines = jsonl(&ticks);
    assert_eq!(lines.len(), 800);
    let first = &lines[0];
    assert_eq!(first["symbol"], "BTC-USDT");
    assert_eq!(first["kind"], "trade");
    assert_eq!(first["price"], "94000.00000000");
    assert_eq!(first["qty"], "0.00150000");
    assert_eq!(first["side"], "sell", "isBuyerMaker True: the seller took");
    assert_eq!(first["trade_id"], "1");
    assert_eq!(first["exch_ts_ns"], (DAY_2024_12_31_MS + 7) * 1_000_000);
    // The first 2025 trade: microseconds in the file, the same scale of time out.
    let jan = &lines[400];
    assert_eq!(jan["trade_id"], "401");
    assert_eq!(
        jan["exch_ts_ns"],
        (DAY_2025_01_01_MS + 7) * 1_000_000 + 250_000
    );
    let ts: Vec<i64> = lines
        .iter()
        .map(|l| l["exch_ts_ns"].as_i64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "merged by time");

    // A tampered archive is refused by the import too.
    let tampered = out.path().join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    let t_zip = tampered.join("BTCUSDT-trades-2025-01-01.zip");
    std::fs::copy(&old_local, &t_zip).unwrap();
    std::fs::copy(
        out.path().join("BTCUSDT-trades-2025-01-01.zip.CHECKSUM"),
        tampered.join("BTCUSDT-trades-2025-01-01.zip.CHECKSUM"),
    )
    .unwrap();
    let bad = peregrine()
        .arg("import")
        .arg(&t_zip)
        .arg("--out")
        .arg(tampered.join("x.jsonl"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(!tampered.join("x.jsonl").exists());

    // Backtest the imported trades: a strategy that trades on prints alone.
    let strategy = out.path().join("dip.rhai");
    std::fs::write(
        &strategy,
        r#"
fn on_start() { this.n = 0; }
fn on_trade(t) {
    this.n += 1;
    if this.n % 100 == 50 {
        if position() == 0 { limit("buy", t.price, "0.001"); }
        else { limit("sell", t.price, position()); }
    }
}
"#,
    )
    .unwrap();
    let bt_out = out.path().join("bt");
    let text = ok(&peregrine()
        .args(["backtest", "--strategy"])
        .arg(&strategy)
        .arg("--data")
        .arg(&ticks)
        .arg("--out")
        .arg(&bt_out)
        .output()
        .unwrap());
    assert!(text.contains("800 events"), "{text}");
    let fills = jsonl(&bt_out.join("fills.jsonl"));
    assert!(
        !fills.is_empty(),
        "no fills over real-layout trades:\n{text}"
    );
    assert!(text.contains("round trips"), "{text}");
    assert!(bt_out.join("trades.jsonl").is_file());

    // The same from another directory: the default config is built in.
    let elsewhere = peregrine()
        .current_dir(out.path())
        .args(["backtest", "--strategy"])
        .arg(&strategy)
        .arg("--data")
        .arg(&ticks)
        .output()
        .unwrap();
    assert_eq!(ok(&elsewhere).lines().next(), text.lines().next());
    // A missing data file: the OS reason is printed once.
    let missing = peregrine()
        .args(["backtest", "--strategy"])
        .arg(&strategy)
        .arg("--data")
        .arg(out.path().join("nope.jsonl"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}
