//! End to end on the embedded default: the built-in simulator on 127.0.0.1, the real Binance
//! adapter over loopback websocket and HTTP, real Rhai strategies, the risk gate, and SQLite.
//! The simulator's own ledger is the truth the database is checked against.

mod equity_check;
mod sqlite_rows;
use sqlite_rows::dec_col;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use peregrine::app::run_engine;
use peregrine_engine::config::Config;
use peregrine_engine::sink::sqlite_pool;
use peregrine_engine::types::Side;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sqlx::Row;
use tokio::sync::watch;

/// Quotes both sides at the touch and requotes every 40 trades: orders rest, get hit by the
/// simulator's takers (often partially), and are cancelled.
const MAKER: &str = r#"
fn on_start() { this.n = 0; }
fn on_trade(t) {
    this.n += 1;
    if this.n % 40 != 1 { return; }
    cancel_all();
    let b = best_bid();
    let a = best_ask();
    if b == () || a == () { return; }
    if position() < param("max_inventory") { limit("buy", b, param("qty")); }
    if position() > -param("max_inventory") { limit("sell", a, param("qty")); }
}
"#;

/// Every 100 trades asks for an order far above the notional limit (the risk gate must refuse
/// it, with a recorded reason) and one below the venue's minimum notional (refused before it
/// leaves by the gate's instrument rules from exchangeInfo, reason `min_notional`).
const OVERSIZE: &str = r#"
fn on_start() { this.n = 0; }
fn on_trade(t) {
    this.n += 1;
    if this.n % 100 == 0 { limit("buy", t.price, "1"); }
    if this.n % 100 == 50 { limit("buy", t.price - 100, "0.00001"); }
}
"#;

fn config(dir: &Path, venue_extra: &str) -> Config {
    std::fs::write(dir.join("maker.rhai"), MAKER).unwrap();
    std::fs::write(dir.join("oversize.rhai"), OVERSIZE).unwrap();
    let ema = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai");
    let text = format!(
        r#"
[engine]
progress_interval_s = 0
drain_timeout_ms = 5000
equity_snapshot_interval_s = 2
[sim]
enabled = true
seed = 7
md_interval_ms = 5
[venue]
name = "binance"
ws_url = "ws://127.0.0.1:1"
rest_url = "http://127.0.0.1:1"
{venue_extra}
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
sim_start_price = "60000"
[[strategies]]
name = "ema"
file = "{ema}"
instruments = ["BTC-USDT"]
params = {{ fast = 3, slow = 8, qty = "0.001" }}
[[strategies]]
name = "maker"
file = "{maker}"
instruments = ["BTC-USDT"]
params = {{ qty = "0.0007", max_inventory = "0.002" }}
[[strategies]]
name = "oversize"
file = "{oversize}"
instruments = ["BTC-USDT"]
[risk]
max_order_notional = "150"
max_position = "0.004"
[sink]
url = "sqlite://{db}"
batch_size = 64
batch_age_ms = 20
spool_dir = "{spool}"
"#,
        ema = ema.display(),
        maker = dir.join("maker.rhai").display(),
        oversize = dir.join("oversize.rhai").display(),
        db = dir.join("e2e.db").display(),
        spool = dir.join("spool").display(),
    );
    Config::parse(&text, Path::new("e2e.toml")).expect("valid test config")
}

/// The default: HMAC key, orders and user data over the WebSocket API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_simulator_fill_reaches_sqlite_exactly_once_within_risk_limits() {
    fills_exactly_once("").await;
}

/// Ed25519 key: `session.logon` + `userDataStream.subscribe`, orders on the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_key_over_the_ws_api_fills_exactly_once() {
    fills_exactly_once("key_type = \"ed25519\"").await;
}

/// Orders over REST, user data over the WebSocket API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_order_transport_fills_exactly_once() {
    fills_exactly_once("order_transport = \"rest\"").await;
}

async fn fills_exactly_once(venue_extra: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), venue_extra);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(6)).await;
        let _ = stop_tx.send(true);
    });
    let outcome = run_engine(cfg, stop_rx).await.expect("run completes");
    let summary = outcome.summary;
    let ledger = outcome.sim_ledger.expect("the simulator ran in-process");
    eprint!("{}", summary.render());
    eprintln!("simulator ledger: {} fills", ledger.len());

    assert!(summary.ticks > 500, "too few ticks: {}", summary.ticks);
    assert!(summary.orders >= 10, "too few orders: {}", summary.orders);
    assert!(!ledger.is_empty(), "the simulator made no fills for us");
    assert_eq!(
        summary.fills as usize,
        ledger.len(),
        "engine booked a different number of fills than the venue made"
    );
    assert_eq!(summary.detail.working_orders_at_exit, 0);
    assert_eq!(summary.detail.strategy_errors, 0);
    assert!(
        summary.detail.risk_rejects >= 3,
        "the oversize strategy must have been refused: {}",
        summary.detail.risk_rejects
    );
    assert!(summary.latency_ns.count > 0 && summary.latency_ns.p50 > 0);

    let pool = sqlite_pool(&format!("sqlite://{}", dir.path().join("e2e.db").display()))
        .await
        .unwrap();

    // Fills: exactly the simulator's, once each, with identical economics.
    let rows = sqlx::query("SELECT * FROM fills")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        ledger.len(),
        "fills in SQLite vs fills in the simulator's ledger"
    );
    let mut db: HashMap<(i64, String), (String, Decimal, Decimal, String)> = HashMap::new();
    for r in &rows {
        let key = (
            r.get::<i64, _>("trade_id"),
            r.get::<String, _>("client_order_id"),
        );
        let val = (
            r.get::<String, _>("side"),
            dec_col(r, "price"),
            dec_col(r, "qty"),
            r.get::<String, _>("strategy"),
        );
        assert!(
            db.insert(key.clone(), val).is_none(),
            "duplicate fill {key:?}"
        );
    }
    let mut strategy_of_order: HashMap<String, String> = HashMap::new();
    for f in &ledger {
        assert_eq!(f.symbol, "BTCUSDT");
        let key = (f.trade_id as i64, f.client_order_id.clone());
        let (side, price, qty, strategy) = db
            .get(&key)
            .unwrap_or_else(|| panic!("ledger fill {key:?} missing from SQLite"));
        assert_eq!(
            (side.as_str(), *price, *qty),
            (f.side.as_str(), f.price, f.qty),
            "fill {key:?} differs"
        );
        strategy_of_order.insert(f.client_order_id.clone(), strategy.clone());
    }

    // Positions: each strategy's stored position is the signed sum of its fills, less the
    // fees the venue took in the base asset (they reduce what we hold).
    let base_fee = |f: &peregrine_exchanges::sim::LedgerFill| {
        if f.commission_asset == "BTC" {
            f.commission
        } else {
            Decimal::ZERO
        }
    };
    let mut expected: BTreeMap<String, Decimal> = BTreeMap::new();
    for f in &ledger {
        let s = strategy_of_order[&f.client_order_id].clone();
        *expected.entry(s).or_default() += f.side.sign() * f.qty - base_fee(f);
    }
    let rows = sqlx::query("SELECT strategy, qty FROM positions WHERE symbol = 'BTC-USDT'")
        .fetch_all(&pool)
        .await
        .unwrap();
    let stored: BTreeMap<String, Decimal> = rows
        .iter()
        .map(|r| (r.get::<String, _>("strategy"), dec_col(r, "qty")))
        .collect();
    for (s, q) in &expected {
        assert_eq!(
            stored.get(s).copied().unwrap_or_default(),
            *q,
            "position of {s}"
        );
    }

    // Risk: no order above the notional limit ever left; the account position never went
    // beyond the limit at any point of the venue's fill sequence.
    let rows = sqlx::query("SELECT client_order_id, price, qty, status, reject_reason FROM orders")
        .fetch_all(&pool)
        .await
        .unwrap();
    let venue_rejected = rows
        .iter()
        .filter(|r| r.get::<String, _>("status") == "rejected")
        .map(|r| {
            r.get::<Option<String>, _>("reject_reason")
                .unwrap_or_default()
        })
        .collect::<Vec<_>>();
    assert!(
        venue_rejected.iter().all(|r| r.starts_with("-1013")),
        "{venue_rejected:?}"
    );
    assert_eq!(
        summary.rejects,
        summary.detail.risk_rejects + venue_rejected.len() as u64
    );
    assert_eq!(
        rows.len() as u64,
        summary.orders,
        "one order row per order sent"
    );
    for r in &rows {
        let price = Decimal::from_str(r.get::<String, _>("price").as_str())
            .expect("all test orders are limits");
        assert!(
            price * dec_col(r, "qty") <= dec!(150),
            "order over the notional limit"
        );
        let status: String = r.get("status");
        assert!(
            ["filled", "cancelled", "expired", "rejected"].contains(&status.as_str()),
            "order left {status}"
        );
    }
    let mut pos = Decimal::ZERO;
    for f in &ledger {
        pos += f.side.sign() * f.qty - base_fee(f);
        assert!(
            pos.abs() <= dec!(0.004),
            "account position {pos} beyond max_position"
        );
    }
    assert!(
        ledger.iter().any(|f| f.side == Side::Buy) && ledger.iter().any(|f| f.side == Side::Sell)
    );

    // Every refusal is recorded with its reason.
    let refused: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM risk_events WHERE reason IN ('max_order_notional', 'max_position', 'kill_switch', 'invalid_order', 'no_reference_price', 'tick_size', 'lot_size', 'min_qty', 'max_qty', 'min_notional', 'max_order_qty', 'max_gross_exposure', 'max_open_orders', 'price_band', 'rate_limit', 'duplicate_order', 'self_trade', 'stale_market_data')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(refused as u64, summary.detail.risk_rejects);
    let oversize: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM risk_events WHERE reason = 'max_order_notional' AND strategy = 'oversize'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(oversize >= 3);
    let below_min: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM risk_events WHERE reason = 'min_notional' AND strategy = 'oversize'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        below_min >= 1,
        "below-minimum orders are refused before they leave"
    );

    // Equity snapshots every 2 s of the 6 s run (once something is held) and at the stop, valued from the positions.
    let opt = |r: &sqlx::sqlite::SqliteRow, col: &str| {
        r.get::<Option<String>, _>(col)
            .map(|s| Decimal::from_str_exact(&s).expect("exact decimal text"))
    };
    let snaps: Vec<equity_check::Snap> = sqlx::query("SELECT * FROM equity_snapshots")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| equity_check::Snap {
            id: r.get("id"),
            ts_ns: r.get("ts_ns"),
            scope: r.get("scope"),
            strategy: r.get("strategy"),
            symbol: r.get("symbol"),
            qty: opt(r, "qty"),
            mark: opt(r, "mark"),
            realized: dec_col(r, "realized_pnl"),
            unrealized: opt(r, "unrealized_pnl"),
            fees: dec_col(r, "fees"),
            equity: opt(r, "equity"),
        })
        .collect();
    let positions: Vec<equity_check::Pos> = sqlx::query("SELECT * FROM positions")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| equity_check::Pos {
            strategy: r.get("strategy"),
            symbol: r.get("symbol"),
            qty: dec_col(r, "qty"),
            avg_price: dec_col(r, "avg_price"),
            realized: dec_col(r, "realized_pnl"),
            fees: dec_col(r, "fees"),
        })
        .collect();
    let taken = equity_check::check(&snaps, &positions, 2);
    eprintln!("{taken} equity snapshots, {} rows", snaps.len());
}
