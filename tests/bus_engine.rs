//! Engines on the bus: `peregrine run` with `[bus] consume = true` against a feed node
//! (`peregrine feed`, its own process) and the simulator (`peregrine sim`, its own process),
//! on a real nats-server with JetStream.
//!
//! - the engine trades on ticks it took only from the bus (its instruments start untrusted,
//!   so an order proves the book was resynced over the bus) and reports the `bus` stage;
//! - the feed node is killed mid-stream: the consumer marks the book stale, and when a new
//!   feed node starts the book is resynced and equals the simulator's, level by level;
//! - a consumer restarted on the same durable resumes where it stopped: every trade
//!   published between its first and its last is applied once, none twice.

mod nats_support;
mod sim_process;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use peregrine::bus_source::BusSource;
use peregrine_engine::book::OrderBook;
use peregrine_engine::config::Config;
use peregrine_engine::stages::LatencyHub;
use peregrine_engine::tick::{BookDelta, FeedStatus, Tick, TickKind};
use peregrine_exchanges::bus::{BusEvent, Kind, Payload, Subjects};
use rust_decimal::Decimal;
use tokio::sync::watch;

const KEY: &str = "bus-test-key";
const SECRET: &str = "bus-test-secret";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_peregrine")
}

/// A config for the simulator, the feed node and the engines of one test: the venue at
/// `ws`/`rest`, the bus under the test's names, `extra` appended (`[[strategies]]`, ...).
fn config(
    dir: &Path,
    names: &nats_support::TestNames,
    ws: &str,
    rest: &str,
    bus: &str,
    extra: &str,
) -> String {
    format!(
        r#"
[engine]
progress_interval_s = 0
drain_timeout_ms = 2000
cancel_on_stop = true
run_sequence_file = "{dir}/run-sequence"
[sim]
enabled = false
seed = 5
md_interval_ms = 5
[venue]
name = "binance"
ws_url = "{ws}"
rest_url = "{rest}"
ws_api_url = "{ws}/ws-api/v3"
api_key_env = "BUS_TEST_KEY"
api_secret_env = "BUS_TEST_SECRET"
account = "bus-test"
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
sim_start_price = "60000"
[risk]
max_order_notional = "150"
max_position = "0.01"
[sink]
url = "sqlite://{dir}/engine.db"
spool_dir = "{dir}/spool"
[bus]
url = "{url}"
prefix = "{prefix}"
stream = "{stream}"
storage = "memory"
max_age_s = 600
heartbeat_ms = 100
heartbeat_timeout_ms = 800
snapshot_timeout_ms = 500
{bus}
{extra}
"#,
        dir = dir.display(),
        url = nats_support::server_url(),
        prefix = names.prefix,
        stream = names.stream,
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The simulator in its own process, its market stepped every `step_ms`.
fn start_sim(dir: &Path, names: &nats_support::TestNames, step_ms: u64) -> sim_process::SimProc {
    let text = config(dir, names, "ws://127.0.0.1:1", "http://127.0.0.1:1", "", "")
        .replace("md_interval_ms = 5", &format!("md_interval_ms = {step_ms}"));
    let cfg = write(dir, "sim.toml", &text);
    sim_process::start(
        bin(),
        &cfg,
        &[("BUS_TEST_KEY", KEY), ("BUS_TEST_SECRET", SECRET)],
        Stdio::null(),
    )
    .expect("peregrine sim starts")
}

fn spawn(args: &[&str], cfg: &Path, log: &Path) -> Proc {
    let child = Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(cfg)
        .env_remove("DATABASE_URL")
        .env("BUS_TEST_KEY", KEY)
        .env("BUS_TEST_SECRET", SECRET)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Proc(child)
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_trades_on_ticks_it_takes_from_the_bus() {
    let Some((client, names)) = nats_support::fresh("engine").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &names, 5);
    let strategy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resting_quotes.rhai");
    let strategies = format!(
        r#"
[[strategies]]
name = "mm"
file = "{}"
instruments = ["BTC-USDT"]
params = {{ qty = "0.0002", max_inventory = "0.004", every_ms = 200 }}
"#,
        strategy.display()
    );
    let feed_cfg = write(
        dir.path(),
        "feed.toml",
        &config(dir.path(), &names, &sim.ws, &sim.rest, "", ""),
    );
    let engine_cfg = write(
        dir.path(),
        "engine.toml",
        &config(
            dir.path(),
            &names,
            &sim.ws,
            &sim.rest,
            "consume = true\nevents = true",
            &strategies,
        ),
    );
    // A real subscriber of the engine's events (no user: `default`).
    let mut events = client
        .subscribe(format!("{}.ev.default.>", names.prefix))
        .await
        .unwrap();
    client.flush().await.unwrap();
    let feed_log = dir.path().join("feed.log");
    let _feed = spawn(&["feed"], &feed_cfg, &feed_log);
    let summary = dir.path().join("summary.json");
    let engine_log = dir.path().join("engine.log");
    let mut engine = spawn(
        &[
            "run",
            "--duration",
            "6s",
            "--summary",
            summary.to_str().unwrap(),
        ],
        &engine_cfg,
        &engine_log,
    );
    let status = engine.0.wait().unwrap();
    assert!(
        status.success(),
        "engine failed: {status}\n{}\nfeed:\n{}",
        tail(&engine_log),
        tail(&feed_log)
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let bus = &s["feed"]["bus"];
    assert!(bus["messages"].as_u64().unwrap() > 100, "bus messages: {s}");
    assert!(bus["ticks"].as_u64().unwrap() > 100, "{bus}");
    assert_eq!(bus["dropped"], 0, "{bus}");
    assert!(s["ticks"].as_u64().unwrap() > 100, "core ticks: {s}");
    // The book was untrusted until resynced over the bus; orders prove it was.
    assert!(
        s["orders"].as_u64().unwrap() > 0,
        "orders: {s}\n{}",
        tail(&engine_log)
    );
    let stages = s["detail"]["stages"].as_array().unwrap();
    let bus_stage = stages
        .iter()
        .find(|x| x["stage"] == "bus")
        .unwrap_or_else(|| panic!("a bus stage: {stages:?}"));
    assert!(bus_stage["latency_ns"]["count"].as_u64().unwrap() > 0);
    assert!(
        !stages.iter().any(|x| x["stage"] == "normalize"),
        "no venue socket was read: {stages:?}"
    );

    // Events out: every order state the sink took is on the bus as JSON, money as strings,
    // in the sink's order; the database has the same orders.
    let mut orders = std::collections::BTreeSet::new();
    let mut last_seq = 0;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), events.next()).await {
        let kind = m.subject.as_str().rsplit('.').next().unwrap().to_string();
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["kind"], kind.as_str(), "{v}");
        let seq = v["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "sink order");
        last_seq = seq;
        if kind == "order" {
            assert!(v["data"]["qty"].is_string(), "decimal as a string: {v}");
            assert!(
                v["data"]["price"].is_string(),
                "limit price as a string: {v}"
            );
            orders.insert(v["data"]["client_order_id"].as_str().unwrap().to_string());
        }
    }
    assert!(!orders.is_empty(), "order events on the bus");
    let url = format!("sqlite://{}", dir.path().join("engine.db").display());
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let stored: std::collections::BTreeSet<String> =
        sqlx::query_scalar("SELECT client_order_id FROM orders")
            .fetch_all(&mut db)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(orders, stored, "the bus carried exactly the stored orders");
    drop(sim);
    nats_support::drop_stream(&client, &names.stream).await;
}

/// The consumer's book as the core keeps it: snapshot ticks clear it, deltas apply, a stale
/// status untrusts it until a complete snapshot; the top levels after each message by book
/// sequence (the venue's update id), for the last few thousand messages.
#[derive(Default)]
struct Follower {
    book: OrderBook,
    trusted: bool,
    stale_marks: u64,
    resyncs: u64,
    history: BTreeMap<u64, (Levels, Levels)>,
    order: VecDeque<u64>,
    trades: Vec<u64>,
}

const TOP: usize = 10;

impl Follower {
    fn apply(&mut self, t: &Tick) {
        match t.kind {
            TickKind::BookSnapshot { seq } => self.book.clear(seq),
            TickKind::BookDelta(d) => {
                self.book.apply(&d);
                if d.is_end_of_batch() {
                    if d.flags & BookDelta::SNAPSHOT != 0 && !self.trusted {
                        self.trusted = true;
                        self.resyncs += 1;
                    }
                    if self.trusted {
                        let top = (
                            self.book.bids_best_first().take(TOP).collect(),
                            self.book.asks_best_first().take(TOP).collect(),
                        );
                        self.history.insert(self.book.seq, top);
                        self.order.push_back(self.book.seq);
                        while self.order.len() > 5000 {
                            if let Some(old) = self.order.pop_front() {
                                self.history.remove(&old);
                            }
                        }
                    }
                }
            }
            TickKind::Status(FeedStatus::Stale | FeedStatus::Disconnected) => {
                if self.trusted {
                    self.stale_marks += 1;
                }
                self.trusted = false;
            }
            TickKind::Status(FeedStatus::Resynced) => self.trusted = true,
            TickKind::Trade(tr) => self.trades.push(tr.trade_id),
            _ => {}
        }
    }
}

/// A bus consumer of `cfg` run in this process (the engine's own code path: `BusSource`),
/// its ticks on a channel.
struct Consumer {
    ticks: crossbeam_channel::Receiver<Tick>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    source_stats: Arc<peregrine_exchanges::bus::consume::ConsumeStats>,
}

async fn consumer(cfg: &Config) -> Consumer {
    let instruments = Arc::new(peregrine::venues::registry(cfg).unwrap());
    let source = BusSource::connect(cfg).await.expect("bus source");
    let source_stats = source.stats.clone();
    let (tx, ticks) = crossbeam_channel::bounded(1 << 16);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(source.future(instruments, tx, stop_rx, Arc::new(LatencyHub::new())));
    Consumer {
        ticks,
        stop,
        task,
        source_stats,
    }
}

impl Consumer {
    /// Applies what arrived to `f` until `until(f)` or the deadline; true if `until` held.
    async fn follow(
        &self,
        f: &mut Follower,
        within: Duration,
        until: impl Fn(&Follower) -> bool,
    ) -> bool {
        let deadline = Instant::now() + within;
        loop {
            while let Ok(t) = self.ticks.try_recv() {
                f.apply(&t);
                if until(f) {
                    return true;
                }
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the consumer, then applies what it had delivered before it stopped.
    async fn stop(self, f: &mut Follower) {
        let _ = self.stop.send(true);
        self.task.await.unwrap();
        while let Ok(t) = self.ticks.try_recv() {
            f.apply(&t);
        }
    }
}

type Levels = Vec<(Decimal, Decimal)>;

/// The simulator's book: `(lastUpdateId, top bids, top asks)` from `GET /api/v3/depth`.
async fn sim_depth(rest: &str) -> (u64, Levels, Levels) {
    let v: serde_json::Value =
        reqwest::get(format!("{rest}/api/v3/depth?symbol=BTCUSDT&limit={TOP}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let side = |k: &str| -> Levels {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let d = |i: usize| l[i].as_str().unwrap().parse::<Decimal>().unwrap();
                (d(0), d(1))
            })
            .collect()
    };
    (
        v["lastUpdateId"].as_u64().unwrap(),
        side("bids"),
        side("asks"),
    )
}

/// The follower's book equals the simulator's at the same update id, level by level
/// (retried: the simulator's id must be one the follower has seen).
async fn book_matches_sim(c: &Consumer, f: &mut Follower, rest: &str) {
    let mut tried = Vec::new();
    for _ in 0..50 {
        let (id, bids, asks) = sim_depth(rest).await;
        tried.push(id);
        // Until the batch that reached `id` has ended (the book's seq moves at its first
        // delta; the history entry is written at its last), or the book has moved past it.
        c.follow(f, Duration::from_secs(2), |f| {
            f.history.contains_key(&id) || f.book.seq > id
        })
        .await;
        if let Some((b, a)) = f.history.get(&id) {
            assert_eq!(b, &bids, "bids at update id {id}");
            assert_eq!(a, &asks, "asks at update id {id}");
            assert!(!bids.is_empty() && !asks.is_empty());
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen: Vec<&u64> = f.history.keys().rev().take(20).collect();
    panic!(
        "never saw the simulator's update id in the consumer's book: tried {tried:?}, the \
         book is at {}, its last ids {seen:?}",
        f.book.seq
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_feed_node_makes_books_stale_and_a_new_one_resyncs_them() {
    let Some((client, names)) = nats_support::fresh("recover").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // One market step per 150 ms, so that the simulator's book between two 100 ms diffs is
    // often one the bus carried (compared at equal update ids).
    let sim = start_sim(dir.path(), &names, 150);
    let text = config(dir.path(), &names, &sim.ws, &sim.rest, "", "");
    let feed_cfg = write(dir.path(), "feed.toml", &text);
    let cfg = Config::parse(&text, Path::new("recover.toml")).unwrap();
    let c = consumer(&cfg).await;
    let log = dir.path().join("feed.log");
    let mut feed = spawn(&["feed"], &feed_cfg, &log);

    let mut f = Follower::default();
    assert!(
        c.follow(&mut f, Duration::from_secs(20), |f| f.trusted
            && f.history.len() > 50)
            .await,
        "the book synced over the bus\n{}",
        tail(&log)
    );
    book_matches_sim(&c, &mut f, &sim.rest).await;

    // Kill the feed node (SIGKILL: no last words) mid-stream.
    feed.0.kill().unwrap();
    feed.0.wait().unwrap();
    assert!(
        c.follow(&mut f, Duration::from_secs(5), |f| !f.trusted)
            .await,
        "the book was marked stale after the feed died"
    );
    assert_eq!(f.stale_marks, 1);
    let resyncs_before = f.resyncs;

    // A new feed node: the book is resynced and is the simulator's again.
    feed = spawn(&["feed"], &feed_cfg, &log);
    assert!(
        c.follow(&mut f, Duration::from_secs(20), |f| f.trusted)
            .await,
        "the book was resynced after the feed came back\n{}",
        tail(&log)
    );
    assert!(f.resyncs > resyncs_before);
    c.follow(&mut f, Duration::from_millis(500), |_| false)
        .await;
    book_matches_sim(&c, &mut f, &sim.rest).await;
    let stats = c.source_stats.clone();
    c.stop(&mut f).await;
    drop(feed);
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(stats.feed_lost.load(Relaxed), 1);
    assert_eq!(stats.dropped.load(Relaxed), 0);
    drop(sim);
    nats_support::drop_stream(&client, &names.stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consumer_resumes_from_its_durable_without_loss_or_repeat() {
    let Some((client, names)) = nats_support::fresh("durable").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &names, 5);
    let durable = format!("engine_{}", std::process::id());
    let text = config(
        dir.path(),
        &names,
        &sim.ws,
        &sim.rest,
        &format!("durable = \"{durable}\""),
        "",
    );
    let feed_cfg = write(dir.path(), "feed.toml", &text);
    let cfg = Config::parse(&text, Path::new("durable.toml")).unwrap();
    // Every trade the feed publishes, as a plain subscriber sees it.
    let subjects = Subjects::new(&names.prefix).unwrap();
    let mut all = client
        .subscribe(subjects.md("binance", "BTC-USDT", Kind::Trade))
        .await
        .unwrap();
    client.flush().await.unwrap();
    let log = dir.path().join("feed.log");
    let feed = spawn(&["feed"], &feed_cfg, &log);

    // First life of the engine's consumer.
    let c = consumer(&cfg).await;
    let mut first = Follower::default();
    assert!(
        c.follow(&mut first, Duration::from_secs(20), |f| f.trades.len() > 30)
            .await,
        "trades over the bus\n{}",
        tail(&log)
    );
    c.stop(&mut first).await;
    // Down for a while: trades go on into the stream.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let c = consumer(&cfg).await;
    let mut second = Follower::default();
    assert!(
        c.follow(&mut second, Duration::from_secs(20), |f| f.trades.len()
            > 60)
            .await,
        "trades after the restart"
    );
    c.stop(&mut second).await;
    drop(feed);

    let mut published = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), all.next()).await {
        let ev = BusEvent::decode(&m.payload).unwrap();
        if let Payload::Trade(t) = ev.payload {
            published.push(t.trade_id);
        }
    }
    let applied: Vec<u64> = first
        .trades
        .iter()
        .chain(second.trades.iter())
        .copied()
        .collect();
    let from = published
        .iter()
        .position(|t| *t == applied[0])
        .expect("the first applied trade was published");
    let expected = &published[from..from + applied.len()];
    assert_eq!(
        applied, expected,
        "the two lives applied exactly the published trades, in order, once"
    );
    drop(sim);
    nats_support::drop_stream(&client, &names.stream).await;
}

/// The summary of an engine run that exited successfully.
fn summary_of(mut engine: Proc, path: &Path, log: &Path) -> serde_json::Value {
    let status = engine.0.wait().unwrap();
    assert!(status.success(), "engine failed: {status}\n{}", tail(log));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn stage_count(s: &serde_json::Value, stage: &str) -> u64 {
    s["detail"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["stage"] == stage)
        .map_or(0, |x| x["latency_ns"]["count"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_feed_node_two_engines_and_the_python_model_run_together() {
    if !nats_support::python_has("nats", "python/requirements.txt") {
        return;
    }
    let Some((client, names)) = nats_support::fresh("shards").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &names, 5);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let feed_cfg = write(
        dir.path(),
        "feed.toml",
        &config(dir.path(), &names, &sim.ws, &sim.rest, "", ""),
    );
    let _feed = spawn(&["feed"], &feed_cfg, &dir.path().join("feed.log"));
    // The Python model: a score per 300 ms bar, for strategy `follow`.
    let model_log = dir.path().join("model.log");
    let _model = Proc(
        Command::new("python3")
            .arg(root.join("python/examples/score_model.py"))
            .args([
                "--url",
                &nats_support::server_url(),
                "--prefix",
                &names.prefix,
            ])
            .args(["--strategy", "follow", "--bar-ms", "300"])
            .stdout(std::fs::File::create(&model_log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the model"),
    );
    // Engine A serves `follow` (trades on the model's score), engine B serves `mm`; each has
    // its own durable consumer, spool, database and account label.
    let shard = |name: &str, strategy: &str, params: &str, bus: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let extra = format!(
            "[[strategies]]\nname = \"{strategy}\"\nfile = \"{}\"\ninstruments = [\"BTC-USDT\"]\nparams = {{ {params} }}\n",
            root.join(match strategy {
                "follow" => "strategies/signal_follow.rhai",
                _ => "tests/fixtures/resting_quotes.rhai",
            })
            .display()
        );
        let text = config(&d, &names, &sim.ws, &sim.rest, bus, &extra).replace(
            "account = \"bus-test\"",
            &format!("account = \"bus-test-{name}\""),
        );
        (write(&d, "engine.toml", &text), d)
    };
    let (cfg_a, dir_a) = shard(
        "a",
        "follow",
        "qty = \"0.0001\", max_inventory = \"0.001\", enter = \"0\"",
        "consume = true\nsignals = true\ndurable = \"shard_a\"",
    );
    let (cfg_b, dir_b) = shard(
        "b",
        "mm",
        "qty = \"0.0002\", max_inventory = \"0.004\", every_ms = 200",
        "consume = true\ndurable = \"shard_b\"",
    );
    let run = |cfg: &Path, d: &Path| {
        let summary = d.join("summary.json");
        let log = d.join("engine.log");
        let p = spawn(
            &[
                "run",
                "--duration",
                "8s",
                "--summary",
                summary.to_str().unwrap(),
            ],
            cfg,
            &log,
        );
        (p, summary, log)
    };
    let (a, sum_a, log_a) = run(&cfg_a, &dir_a);
    let (b, sum_b, log_b) = run(&cfg_b, &dir_b);
    let s_a = summary_of(a, &sum_a, &log_a);
    let s_b = summary_of(b, &sum_b, &log_b);
    for s in [&s_a, &s_b] {
        assert!(s["feed"]["bus"]["messages"].as_u64().unwrap() > 100, "{s}");
        assert!(s["ticks"].as_u64().unwrap() > 100, "{s}");
        assert!(stage_count(s, "bus") > 0);
    }
    // A traded on the model's signals only (its strategy has no market-data callback).
    assert!(
        stage_count(&s_a, "signal") > 0,
        "signals reached engine A: {s_a}\n{}",
        tail(&log_a)
    );
    assert!(
        s_a["orders"].as_u64().unwrap() > 0,
        "engine A ordered: {s_a}\n{}",
        tail(&log_a)
    );
    assert!(
        s_b["orders"].as_u64().unwrap() > 0,
        "engine B ordered: {s_b}"
    );
    assert_eq!(stage_count(&s_b, "signal"), 0, "B follows no signals");
    let model = std::fs::read_to_string(&model_log).unwrap();
    assert!(model.contains("signal 1 "), "the model published: {model}");
    drop(sim);
    nats_support::drop_stream(&client, &names.stream).await;
}
