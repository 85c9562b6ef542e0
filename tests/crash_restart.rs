//! Nothing is lost across crashes: the simulator runs in its own process (`peregrine sim`),
//! the engine (`peregrine run` against it, keys from the environment) is `kill -9`ed several
//! times at random moments (seeded: the seed is printed, `CRASH_SEED` replays one) and
//! restarted, once within the same second, and left down for a while so that its resting
//! quotes (`tests/fixtures/resting_quotes.rhai`) fill at the venue while no engine runs (at
//! least five kills, more until such a fill happened, at most ten); then a clean stop.
//!
//! The truth is the simulator's own ledger, read as a real client would (signed `myTrades`
//! and `allOrders`). Asserted, for SQLite and for PostgreSQL: every venue trade is in the
//! database exactly once, with the same client order id, price, quantity and side, and no
//! other fill is; every order at the venue is in the database with the venue's final state
//! and executed quantity (an order the database has that the venue never saw is `rejected`);
//! the stored position equals the ledger's net quantity (each fill counted once); and the
//! test is not vacuous (orders were adopted at restarts, and some fills happened while the
//! engine was down).

mod pg_support;

mod sim_process;
use sim_process::SimProc;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_exchanges::binance::rest::{BinanceRest, VenueOrder, VenueTrade};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use sqlx::{Connection, Row};

const KEY: &str = "crash-test-key";
const SECRET: &str = "crash-test-secret";
const SYMBOL: &str = "BTCUSDT";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_peregrine")
}

fn config(dir: &Path, rest: &str, ws: &str, sink_url: &str, user: Option<&str>) -> String {
    let strategy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resting_quotes.rhai");
    let user = user.map_or(String::new(), |u| format!("user_id = \"{u}\"\n"));
    format!(
        r#"
[engine]
progress_interval_s = 0
drain_timeout_ms = 3000
cancel_on_stop = true
[sim]
enabled = false
seed = 7
md_interval_ms = 5
[venue]
name = "binance"
ws_url = "{ws}"
rest_url = "{rest}"
ws_api_url = "{ws}/ws-api/v3"
api_key_env = "CRASH_TEST_KEY"
api_secret_env = "CRASH_TEST_SECRET"
account = "crash-test"
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
sim_start_price = "60000"
[[strategies]]
name = "mm"
file = "{strategy}"
instruments = ["BTC-USDT"]
params = {{ qty = "0.0002", max_inventory = "0.004", every_ms = 300 }}
[risk]
max_order_notional = "150"
max_position = "0.01"
[sink]
url = "{sink_url}"
{user}batch_age_ms = 20
spool_dir = "{spool}"
kill_switch_poll_s = 30
"#,
        strategy = strategy.display(),
        spool = dir.join("spool").display(),
    )
}

fn start_sim(dir: &Path) -> SimProc {
    let cfg = dir.join("sim.toml");
    std::fs::write(
        &cfg,
        config(
            dir,
            "http://127.0.0.1:1",
            "ws://127.0.0.1:1",
            "sqlite::memory:",
            None,
        ),
    )
    .unwrap();
    sim_process::start(
        bin(),
        &cfg,
        &[("CRASH_TEST_KEY", KEY), ("CRASH_TEST_SECRET", SECRET)],
        Stdio::null(),
    )
    .expect("peregrine sim starts")
}

fn spawn_engine(cfg: &Path, log: &Path, duration: Option<&str>) -> Child {
    let mut c = Command::new(bin());
    c.arg("run");
    if let Some(d) = duration {
        c.args(["--duration", d]);
    }
    c.arg("--config")
        .arg(cfg)
        .env_remove("DATABASE_URL")
        .env("CRASH_TEST_KEY", KEY)
        .env("CRASH_TEST_SECRET", SECRET)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    c.spawn().unwrap()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The venue's ledger, read with signed REST as a client would.
async fn venue_ledger(rest_url: &str) -> (Vec<VenueTrade>, Vec<VenueOrder>) {
    let rest = BinanceRest::new(
        rest_url,
        ApiCredentials {
            key: Secret::new(KEY.to_string()),
            secret: Secret::new(SECRET.to_string()),
        },
        5000,
        Duration::from_secs(10),
    )
    .unwrap();
    let mut trades = Vec::new();
    let mut from = 0;
    loop {
        let page = rest.my_trades(SYMBOL, Some(from), 0).await.unwrap();
        let n = page.len();
        if let Some(t) = page.last() {
            from = t.id + 1;
        }
        trades.extend(page);
        if n < 1000 {
            break;
        }
    }
    let mut orders = Vec::new();
    let mut from = 0;
    loop {
        let page = rest.all_orders_from(SYMBOL, from, 1000).await.unwrap();
        let n = page.len();
        if let Some(o) = page.last() {
            from = o.order_id + 1;
        }
        orders.extend(page);
        if n < 1000 {
            break;
        }
    }
    (trades, orders)
}

/// What the database holds: fills (client order id, trade id, side, price, qty, fee, fee
/// asset), orders (client order id -> status, filled qty, reject reason), the position rows
/// (qty) and the count of risk events per reason.
/// A stored fill: client order id, trade id, side, price, qty, fee, fee asset.
type StoredFill = (String, i64, String, Decimal, Decimal, Decimal, String);

#[derive(Default)]
struct Stored {
    fills: Vec<StoredFill>,
    orders: HashMap<String, (String, Decimal, Option<String>)>,
    position: Option<Decimal>,
    events: BTreeMap<String, i64>,
}

async fn stored_sqlite(url: &str) -> Stored {
    let pool = peregrine_engine::sink::sqlite_pool(url).await.unwrap();
    let d = |s: String| s.parse::<Decimal>().unwrap();
    let mut st = Stored::default();
    for r in
        sqlx::query("select client_order_id, trade_id, side, price, qty, fee, fee_asset from fills")
            .fetch_all(&pool)
            .await
            .unwrap()
    {
        st.fills.push((
            r.get(0),
            r.get(1),
            r.get(2),
            d(r.get(3)),
            d(r.get(4)),
            d(r.get(5)),
            r.get(6),
        ));
    }
    for r in sqlx::query("select client_order_id, status, filled_qty, reject_reason from orders")
        .fetch_all(&pool)
        .await
        .unwrap()
    {
        st.orders
            .insert(r.get(0), (r.get(1), d(r.get(2)), r.get(3)));
    }
    st.position =
        sqlx::query_scalar::<_, String>("select qty from positions where strategy = 'mm'")
            .fetch_optional(&pool)
            .await
            .unwrap()
            .map(d);
    for r in sqlx::query("select reason, count(*) from risk_events group by reason")
        .fetch_all(&pool)
        .await
        .unwrap()
    {
        st.events.insert(r.get(0), r.get(1));
    }
    pool.close().await;
    st
}

async fn stored_pg(db: &pg_support::TestDb) -> Stored {
    let mut c = db.conn().await;
    let mut st = Stored::default();
    for r in sqlx::query(
        "select client_order_id, trade_id, side::text, price, qty, fee, fee_asset from fills",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
    {
        st.fills.push((
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
        ));
    }
    for r in
        sqlx::query("select client_order_id, status::text, filled_qty, reject_reason from orders")
            .fetch_all(&mut c)
            .await
            .unwrap()
    {
        st.orders.insert(r.get(0), (r.get(1), r.get(2), r.get(3)));
    }
    st.position = sqlx::query_scalar("select qty from positions where strategy = 'mm'")
        .fetch_optional(&mut c)
        .await
        .unwrap();
    for r in sqlx::query("select reason, count(*) from risk_events group by reason")
        .fetch_all(&mut c)
        .await
        .unwrap()
    {
        st.events.insert(r.get(0), r.get(1));
    }
    c.close().await.ok();
    st
}

fn venue_status(s: &str) -> &'static str {
    match s {
        "NEW" | "PENDING_NEW" => "acked",
        "PARTIALLY_FILLED" => "partially_filled",
        "FILLED" => "filled",
        "CANCELED" => "cancelled",
        "EXPIRED" | "EXPIRED_IN_MATCH" => "expired",
        "REJECTED" => "rejected",
        _ => "?",
    }
}

/// Runs the crash scenario against `sink_url`; `read` reads back what the database holds.
async fn crash_scenario<F, Fut>(
    label: &str,
    dir: &Path,
    sink_url: &str,
    user: Option<&str>,
    read: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Stored>,
{
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("crash_restart[{label}]: seed {seed} (CRASH_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let sim = start_sim(dir);
    let cfg = dir.join("engine.toml");
    std::fs::write(&cfg, config(dir, &sim.rest, &sim.ws, sink_url, user)).unwrap();

    // Kills at random moments; run 2 restarts at once after run 1's kill (same second);
    // every other restart waits a while so resting quotes fill while no engine runs.
    let mut down_windows_ms: Vec<(i64, i64)> = Vec::new();
    let mut last_kill_ms: Option<i64> = None;
    // At least `kills` kills; more (up to `max_kills`) until some fill happened at the venue
    // while no engine ran, so the scenario is never vacuous.
    let (kills, max_kills) = (5, 10);
    let mut logs: Vec<PathBuf> = Vec::new();
    let mut fills_while_down = 0;
    for i in 0..max_kills {
        if i >= kills && fills_while_down > 0 {
            break;
        }
        let log = dir.join(format!("run{i}.log"));
        let now_ms = peregrine_engine::clock::Clock::wall_ms();
        if let Some(k) = last_kill_ms {
            down_windows_ms.push((k, now_ms));
        }
        let mut child = spawn_engine(&cfg, &log, None);
        logs.push(log.clone());
        let life = if i == 1 {
            rng.random_range(1200..1800)
        } else {
            rng.random_range(2500..5000)
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(life) {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("run {i} exited early ({status}):\n{}", tail(&log));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        last_kill_ms = Some(peregrine_engine::clock::Clock::wall_ms());
        println!("crash_restart[{label}]: run {i} killed after {life} ms");
        if i != 0 {
            // Run 0 is followed at once by run 1 (within the same second).
            tokio::time::sleep(Duration::from_millis(rng.random_range(3500..6500))).await;
            let (trades, _) = venue_ledger(&sim.rest).await;
            let (from, to) = (
                last_kill_ms.unwrap(),
                peregrine_engine::clock::Clock::wall_ms(),
            );
            fills_while_down += trades
                .iter()
                .filter(|t| t.time > from && t.time < to)
                .count();
        }
    }
    // A clean run to the end.
    let log = dir.join("final.log");
    down_windows_ms.push((
        last_kill_ms.unwrap(),
        peregrine_engine::clock::Clock::wall_ms(),
    ));
    let mut child = spawn_engine(&cfg, &log, Some("6s"));
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the final run did not stop:\n{}",
            tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "final run failed:\n{}", tail(&log));

    let (trades, orders) = venue_ledger(&sim.rest).await;
    drop(sim);
    let st = read().await;
    let orders_by_id: HashMap<u64, &VenueOrder> = orders.iter().map(|o| (o.order_id, o)).collect();

    // Every venue trade once, with the same order, price, quantity and side; nothing else.
    let mut stored: HashMap<(String, i64), Vec<&StoredFill>> = HashMap::new();
    for f in &st.fills {
        stored.entry((f.0.clone(), f.1)).or_default().push(f);
    }
    let mut net = Decimal::ZERO;
    let mut while_down = 0;
    for t in &trades {
        let o = orders_by_id[&t.order_id];
        let key = (o.client_order_id.clone(), t.id as i64);
        let rows = stored.remove(&key).unwrap_or_default();
        assert_eq!(
            rows.len(),
            1,
            "[{label}] venue trade {} of {} must be stored exactly once, found {} (seed {seed})",
            t.id,
            o.client_order_id,
            rows.len()
        );
        let f = rows[0];
        let side = if t.is_buyer { "buy" } else { "sell" };
        assert_eq!(
            (f.2.as_str(), f.3, f.4),
            (side, t.price, t.qty),
            "[{label}] fill {} differs from the venue's (seed {seed})",
            t.id
        );
        let s = if t.is_buyer {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        net += s * t.qty;
        if t.commission_asset == "BTC" {
            net -= t.commission;
        }
        if down_windows_ms
            .iter()
            .any(|(a, b)| t.time > *a && t.time < *b)
        {
            while_down += 1;
        }
    }
    assert!(
        stored.is_empty(),
        "[{label}] fills stored that the venue does not have: {:?} (seed {seed})",
        stored.keys().collect::<Vec<_>>()
    );
    // Every venue order with the venue's final state.
    for o in &orders {
        let Some((status, filled, _)) = st.orders.get(&o.client_order_id) else {
            panic!(
                "[{label}] venue order {} ({}) is not in the database (seed {seed})",
                o.client_order_id, o.status
            );
        };
        assert_eq!(
            (status.as_str(), *filled),
            (venue_status(&o.status), o.executed_qty),
            "[{label}] order {} in the database differs from the venue's {} (seed {seed})",
            o.client_order_id,
            o.status
        );
        assert!(
            !matches!(o.status.as_str(), "NEW" | "PARTIALLY_FILLED"),
            "[{label}] order {} still open at the venue after the clean stop",
            o.client_order_id
        );
    }
    let known: std::collections::HashSet<&str> =
        orders.iter().map(|o| o.client_order_id.as_str()).collect();
    for (id, (status, _, reason)) in &st.orders {
        if !known.contains(id.as_str()) {
            assert_eq!(
                status, "rejected",
                "[{label}] order {id} the venue never saw must be stored as rejected, is {status} ({reason:?})"
            );
        }
    }
    assert_eq!(
        st.position,
        Some(net),
        "[{label}] stored position vs the ledger's net quantity (seed {seed})"
    );
    let adopted = st.events.get("order_adopted").copied().unwrap_or(0);
    println!(
        "crash_restart[{label}]: {} trades, {} orders at the venue, {while_down} trades while the engine was down, {adopted} adoptions; risk events {:?}",
        trades.len(),
        orders.len(),
        st.events
    );
    assert!(
        !trades.is_empty(),
        "[{label}] no fills at all: proves nothing"
    );
    assert!(
        adopted > 0,
        "[{label}] no order was adopted at a restart: proves nothing"
    );
    assert!(
        while_down > 0,
        "[{label}] no fill happened while the engine was down: proves nothing (seed {seed})"
    );
    let _ = logs;
}

/// With `CRASH_KEEP=1` the test's directory (engine logs, database, spool) is kept and named.
fn keep_dir(dir: tempfile::TempDir) -> KeptDir {
    if std::env::var("CRASH_KEEP").is_ok_and(|v| v == "1") {
        let path = dir.keep();
        println!("crash_restart: keeping {}", path.display());
        KeptDir::Kept(path)
    } else {
        KeptDir::Temp(dir)
    }
}

/// The test's directory: removed at the end, or kept.
enum KeptDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl KeptDir {
    fn path(&self) -> &Path {
        match self {
            KeptDir::Temp(d) => d.path(),
            KeptDir::Kept(p) => p,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_dash_nine_restarts_lose_no_venue_fill() {
    let dir = keep_dir(tempfile::tempdir().unwrap());
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let read_url = url.clone();
    crash_scenario("sqlite", dir.path(), &url, None, || {
        stored_sqlite(&read_url)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kill_dash_nine_restarts_lose_no_venue_fill() {
    // A database name of this process's own: other checkouts may run this test on the same
    // server at the same time.
    let tag = format!("crash_restart_{}", std::process::id());
    let Some(db) = pg_support::test_db(&tag).await else {
        return;
    };
    let dir = keep_dir(tempfile::tempdir().unwrap());
    crash_scenario(
        "postgres",
        dir.path(),
        &db.engine_url(),
        Some(pg_support::USER_A),
        || stored_pg(&db),
    )
    .await;
    if !matches!(dir, KeptDir::Kept(_)) {
        db.drop_db().await;
    }
}
