//! The WebSocket API connection drops with orders in flight, against the simulator: the real
//! engine (`run_engine`, orders and user data over the WebSocket API) requotes both sides at
//! the touch every 250 ms on a simulator in this process, which (with the engine unaware)
//! drops the connection after reading an `order.place`:
//! 1. after placing the order, while refusing new WebSocket API connections for 2 s: the
//!    order's outcome is unknown to the engine, which must learn it from REST (`GET
//!    /api/v3/order`), send its next orders over REST meanwhile, and get the fills it missed
//!    on the User Data Stream from reconciliation once it is back;
//! 2. before placing the order: the lookup (`order.status` once reconnected, or REST) finds
//!    nothing and the order is closed as rejected (-2013).
//!
//! Asserted with HMAC and with Ed25519 keys: both drops happened; the first order is in the
//! database with the venue's own final state and its fills, the second is `rejected`; REST
//! carried orders while the WebSocket API was down; every fill of the simulator's ledger is
//! in SQLite exactly once with the same economics and no other fill is.

mod sqlite_rows;
use sqlite_rows::dec_col;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use peregrine::app::run_engine;
use peregrine_engine::config::Config;
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::sink::sqlite_pool;
use peregrine_exchanges::binance::rest::BinanceRest;
use peregrine_exchanges::sim::{self, OrderDrop, SimConfig, SimEd25519Key};
use rust_decimal::Decimal;
use sqlx::Row;
use tokio::sync::watch;

const SYMBOL: &str = "BTCUSDT";

/// Requotes both sides at the touch on a timer (cancel everything, then a bid and an ask), so
/// orders keep going out while the User Data Stream is down, and rest to be filled.
const REQUOTE: &str = r#"
fn on_start() { every("quote", param("every_ms", 250)); }
fn on_timer(name) {
    cancel_all();
    let b = best_bid();
    let a = best_ask();
    if b == () || a == () { return; }
    limit("buy", b, param("qty"));
    limit("sell", a, param("qty"));
}
"#;

/// The engine's config against the simulator at `rest` / `ws`, its key in the environment
/// variables named `<env>_KEY` and `<env>_SECRET` (HMAC secret or Ed25519 PEM).
fn config(dir: &Path, rest: &str, ws: &str, env: &str, key_type: &str) -> Config {
    let strategy = dir.join("requote.rhai");
    std::fs::write(&strategy, REQUOTE).unwrap();
    let text = format!(
        r#"
[engine]
progress_interval_s = 0
drain_timeout_ms = 5000
run_sequence_file = "{seq}"
[sim]
enabled = false
[venue]
name = "binance"
ws_url = "{ws}"
rest_url = "{rest}"
ws_api_url = "{ws}/ws-api/v3"
api_key_env = "{env}_KEY"
api_secret_env = "{env}_SECRET"
api_private_key_env = "{env}_SECRET"
key_type = "{key_type}"
order_transport = "ws_api"
account = "ws-drop-{key_type}"
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
[[strategies]]
name = "quotes"
file = "{strategy}"
instruments = ["BTC-USDT"]
params = {{ qty = "0.0002", every_ms = 250 }}
[risk]
max_order_notional = "150"
max_position = "0.02"
reconcile_interval_s = 600
[sink]
url = "sqlite://{db}"
batch_age_ms = 20
spool_dir = "{spool}"
"#,
        seq = dir.join("run-sequence").display(),
        strategy = strategy.display(),
        db = dir.join("drop.db").display(),
        spool = dir.join("spool").display(),
    );
    Config::parse(&text, Path::new("ws-api-drop.toml")).expect("valid test config")
}

/// The database status of a venue order status at the end of a run.
fn db_status(venue: &str) -> &'static str {
    match venue {
        "FILLED" => "filled",
        "CANCELED" => "cancelled",
        "EXPIRED" | "EXPIRED_IN_MATCH" => "expired",
        "REJECTED" => "rejected",
        other => panic!("order not final at the venue: {other}"),
    }
}

#[test]
fn hmac_orders_in_flight_when_the_ws_api_drops_are_resolved_once() {
    drop_case("WSDROP_HMAC", "hmac");
}

#[test]
fn ed25519_orders_in_flight_when_the_ws_api_drops_are_resolved_once() {
    drop_case("WSDROP_ED", "ed25519");
}

fn drop_case(env: &str, key_type: &str) {
    let api_key = format!("{}-key", env.to_ascii_lowercase());
    let hmac_secret = format!("{}-secret", env.to_ascii_lowercase());
    let (engine_secret, ed25519_key) = if key_type == "ed25519" {
        let (private_pem, public_pem) = peregrine::venue_keys::throwaway_ed25519().unwrap();
        let ed = SimEd25519Key {
            api_key: api_key.clone(),
            public_key_pem: public_pem,
        };
        (private_pem.expose().to_string(), Some(ed))
    } else {
        (hmac_secret.clone(), None)
    };
    // Names of this case only; the engine reads them once at start.
    std::env::set_var(format!("{env}_KEY"), &api_key);
    std::env::set_var(format!("{env}_SECRET"), &engine_secret);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let sim_cfg = SimConfig {
            seed: 23,
            md_interval_ms: 5,
            api_key: if ed25519_key.is_some() {
                format!("{api_key}-hmac")
            } else {
                api_key.clone()
            },
            api_secret: hmac_secret.clone(),
            ed25519_key,
            ..SimConfig::default()
        };
        let sim = sim::spawn(sim_cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            &sim.rest_base_url(),
            &sim.ws_base_url(),
            env,
            key_type,
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let engine = tokio::spawn(run_engine(cfg, stop_rx));

        // 1. After placing, with the WebSocket API refused for 2 s.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sim.refuse_ws_api_for(Duration::from_secs(2));
        sim.drop_ws_api_on_orders(&[OrderDrop::AfterPlacing]);
        wait_for_drops(&sim, 1).await;
        // 2. Before placing, once the connection is back.
        tokio::time::sleep(Duration::from_millis(3000)).await;
        sim.drop_ws_api_on_orders(&[OrderDrop::BeforePlacing]);
        wait_for_drops(&sim, 2).await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let _ = stop_tx.send(true);
        let outcome = engine.await.unwrap().expect("run completes");
        let summary = &outcome.summary;
        eprint!("{}", summary.render());
        eprintln!(
            "gateway {:?}, WebSocket API reconnects {}",
            outcome.gateway, outcome.ws_api_reconnects
        );

        let drops = sim.ws_api_drops();
        assert_eq!(
            drops.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
            [OrderDrop::AfterPlacing, OrderDrop::BeforePlacing]
        );
        let (placed, never) = (&drops[0].1, &drops[1].1);
        assert!(
            outcome.ws_api_reconnects >= 2,
            "{}",
            outcome.ws_api_reconnects
        );
        assert!(
            outcome.gateway.unknown_outcomes >= 2,
            "{:?}",
            outcome.gateway
        );
        assert!(
            outcome.gateway.rest_fallbacks >= 1,
            "no order went over REST while the WebSocket API was refused: {:?}",
            outcome.gateway
        );
        assert!(outcome.gateway.via_ws_api > 0, "{:?}", outcome.gateway);
        assert_eq!(summary.detail.strategy_errors, 0);
        assert_eq!(summary.detail.working_orders_at_exit, 0);

        // The venue's truth, read as a client would.
        let rest = BinanceRest::new(
            &sim.rest_base_url(),
            ApiCredentials {
                key: Secret::new(if key_type == "ed25519" {
                    format!("{api_key}-hmac")
                } else {
                    api_key.clone()
                }),
                secret: Secret::new(hmac_secret.clone()),
            },
            5000,
            Duration::from_secs(10),
        )
        .unwrap();
        let venue_placed = rest.query_order(SYMBOL, placed).await.unwrap();
        assert!(
            rest.query_order(SYMBOL, never).await.is_err(),
            "the order dropped before placing must not exist at the venue"
        );

        let pool = sqlite_pool(&format!(
            "sqlite://{}",
            dir.path().join("drop.db").display()
        ))
        .await
        .unwrap();
        let status_of = |coid: String| {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT status, reject_reason FROM orders WHERE client_order_id = ?")
                    .bind(coid)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        let row = status_of(placed.clone()).await;
        assert_eq!(
            row.get::<String, _>("status"),
            db_status(&venue_placed.status),
            "the order placed before the drop has the venue's final state"
        );
        let row = status_of(never.clone()).await;
        assert_eq!(row.get::<String, _>("status"), "rejected");
        let reason: String = row
            .get::<Option<String>, _>("reject_reason")
            .unwrap_or_default();
        assert!(reason.starts_with("-2013"), "{reason}");

        // Every fill exactly once.
        let ledger = sim.ledger();
        assert!(!ledger.is_empty(), "the simulator made no fills for us");
        let rows = sqlx::query("SELECT trade_id, client_order_id, side, price, qty FROM fills")
            .fetch_all(&pool)
            .await
            .unwrap();
        let mut db: HashMap<(i64, String), (String, Decimal, Decimal)> = HashMap::new();
        for r in &rows {
            let key = (
                r.get::<i64, _>("trade_id"),
                r.get::<String, _>("client_order_id"),
            );
            let val = (
                r.get::<String, _>("side"),
                dec_col(r, "price"),
                dec_col(r, "qty"),
            );
            assert!(
                db.insert(key.clone(), val).is_none(),
                "duplicate fill {key:?}"
            );
        }
        assert_eq!(
            rows.len(),
            ledger.len(),
            "fills in SQLite vs the venue's ledger"
        );
        for f in &ledger {
            let key = (f.trade_id as i64, f.client_order_id.clone());
            let got = db
                .get(&key)
                .unwrap_or_else(|| panic!("venue fill {key:?} missing from SQLite"));
            assert_eq!(
                (got.0.as_str(), got.1, got.2),
                (f.side.as_str(), f.price, f.qty),
                "fill {key:?}"
            );
        }
        let placed_fills = ledger
            .iter()
            .filter(|f| &f.client_order_id == placed)
            .count();
        eprintln!(
            "dropped-after-placing order {placed}: venue {} with {placed_fills} fills",
            venue_placed.status
        );
        sim.shutdown().await;
    });
}

async fn wait_for_drops(sim: &sim::SimHandle, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.ws_api_drops().len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no order.place to drop within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
