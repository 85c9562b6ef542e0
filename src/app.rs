//! One engine run, wired: simulator (optional) -> Binance feed (+ the `[[market_data]]`
//! venues' feeds) -> lock-free queue -> core loop -> order gateway -> exec reports back -> sink. The binary's edge: errors are `anyhow`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use peregrine_engine::config::{Config, OrderTransportConfig};
use peregrine_engine::core::CoreSetup;
use peregrine_engine::risk::setup::gate_from_config;
use peregrine_engine::risk::{InstrumentLimits, KillSwitch};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::sink::remote_kill::follow_kill_switch;
use peregrine_engine::sink::strategy_rows::follow_strategies;
use peregrine_engine::sink::{pg, redact_url, spawn_sink_with_start, SinkConfig, StartQuery};
use peregrine_engine::stages::LatencyHub;
use peregrine_engine::strategy::StrategyLimits;
use peregrine_engine::types::{InstrumentSpec, Instruments};
use peregrine_exchanges::binance::feed::{run_feed_with_stats, FeedConfig, FeedStats};
use peregrine_exchanges::binance::gateway::{run_gateway, GatewayConfig, OrderTransport};
use peregrine_exchanges::binance::ledger::ExecLedger;
use peregrine_exchanges::binance::rest::BinanceRest;
use peregrine_exchanges::binance::signer::BinanceSigner;
use peregrine_exchanges::binance::ws_api::{spawn_ws_api, WsApiConfig, WsApiParts, WsAuth};
use peregrine_exchanges::md::channels::Channels;
use peregrine_exchanges::sim::{self, LedgerFill, SimConfig, SimHandle, SimSymbol};
use peregrine_exchanges::venue::Venue;
use peregrine_exchanges::ws::FeedStatsSnapshot;
use peregrine_exchanges::ws::FrameTap;
use tokio::sync::watch;

use crate::summary::RunSummary;

/// The outcome of [`run_engine`]: the summary, and the simulator's own ledger of our fills
/// when the simulator ran in-process (taken after the engine stopped).
#[derive(Debug)]
pub struct RunOutcome {
    /// What the run did.
    pub summary: RunSummary,
    /// Every fill the simulator made for our account, if it ran.
    pub sim_ledger: Option<Vec<LedgerFill>>,
    /// The order gateway's counters (orders whose outcome was looked up, REST fallbacks).
    pub gateway: peregrine_exchanges::binance::gateway::GatewayStats,
    /// WebSocket API reconnections after the first session.
    pub ws_api_reconnects: u64,
}

/// `peregrine run`: loads the config, runs until `duration` or Ctrl-C, prints the summary and
/// writes it as JSON if asked. A strategy halted during the run makes it an error (after the
/// summary is out) unless `allow_halted`.
pub fn run_cli(
    config: &Path,
    duration: Option<Duration>,
    summary_path: Option<&Path>,
    allow_halted: bool,
) -> Result<()> {
    let mut cfg = Config::load(config)?;
    // `DATABASE_URL` in the environment sends the run to PostgreSQL (Supabase).
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if !url.is_empty() {
            cfg.sink.url = url;
        }
    }
    let rt = runtime_pinned(cfg.tuning.io_cpu)?;
    let outcome = rt.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            match duration {
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => tracing::info!("run duration reached; stopping"),
                        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C; stopping"),
                    }
                }
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                    tracing::info!("Ctrl-C; stopping");
                }
            }
            let _ = stop_tx.send(true);
        });
        run_engine(cfg, stop_rx).await
    })?;
    print!("{}", outcome.summary.render());
    if let Some(path) = summary_path {
        let json = serde_json::to_string_pretty(&outcome.summary)
            .context("serializing the run summary")?;
        std::fs::write(path, json)
            .with_context(|| format!("writing the run summary to {}", path.display()))?;
    }
    let halted = outcome.summary.halted();
    if !halted.is_empty() && !allow_halted {
        bail!(
            "strategy halted during the run: {} (see the summary; --allow-halted exits 0)",
            halted.join(", ")
        );
    }
    Ok(())
}

/// `peregrine sim`: runs the simulator alone until Ctrl-C. Credentials come from the
/// environment variables named in the config's `[venue]` (defaults: `PEREGRINE_API_KEY`,
/// `PEREGRINE_API_SECRET`), or are the fixed development pair `sim-key`/`sim-secret`.
pub fn sim_cli(config: &Path, port: u16) -> Result<()> {
    let mut cfg = Config::load(config)?;
    // `DATABASE_URL` in the environment sends the run to PostgreSQL (Supabase).
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if !url.is_empty() {
            cfg.sink.url = url;
        }
    }
    let rt = runtime()?;
    let key = std::env::var(&cfg.venue.api_key_env).unwrap_or_else(|_| "sim-key".into());
    let secret = std::env::var(&cfg.venue.api_secret_env).unwrap_or_else(|_| "sim-secret".into());
    // The simulator is Binance as it is today: listenKey endpoints answer 410.
    let sim_cfg = sim_config(&cfg, key.clone(), secret)?;
    rt.block_on(async move {
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let handle = sim::spawn(sim_cfg, bind).await?;
        println!(
            "simulator listening: REST {}  websocket {}  WebSocket API {}",
            handle.rest_base_url(),
            handle.ws_base_url(),
            handle.ws_api_url()
        );
        println!("API key {key:?}; Ctrl-C to stop; GET /sim/latency for tick-to-trade");
        let _ = tokio::signal::ctrl_c().await;
        let latency = handle.wire_latency();
        handle.shutdown().await;
        print!("{latency}");
        Ok(())
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    runtime_pinned(None)
}

/// The I/O runtime, its threads pinned to `cpu` if given (`[tuning] io_cpu`).
fn runtime_pinned(cpu: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.worker_threads(1).enable_all().thread_name("peregrine-io");
    if let Some(cpu) = cpu {
        b.on_thread_start(move || {
            peregrine_engine::tuning::pin_current_thread(cpu, "peregrine-io");
        });
    }
    b.build().context("starting the async runtime")
}

pub(crate) fn sim_config(cfg: &Config, api_key: String, api_secret: String) -> Result<SimConfig> {
    let mut symbols = Vec::new();
    for i in &cfg.instruments {
        let spec = InstrumentSpec::from_canonical("binance", &i.symbol, i.tick_size, i.lot_size)
            .with_context(|| format!("instrument {:?} is not BASE-QUOTE", i.symbol))?;
        let Some(start_price) = i.sim_start_price else {
            bail!(
                "instrument {}: sim_start_price is required for the simulator",
                i.symbol
            );
        };
        symbols.push(SimSymbol {
            symbol: spec.venue_symbol,
            base: spec.base,
            quote: spec.quote,
            start_price,
            tick_size: i.tick_size,
            lot_size: i.lot_size,
            min_qty: i.lot_size,
            ..SimSymbol::btcusdt()
        });
    }
    Ok(SimConfig {
        seed: cfg.sim.seed,
        symbols,
        api_key,
        api_secret,
        md_interval_ms: cfg.sim.md_interval_ms,
        market: sim_market(&cfg.sim.market)?,
        ..SimConfig::default()
    })
}

/// `[sim.market]` as the simulator's market parameters: without the table the calm default
/// market; with it, its knobs over the BTC-like defaults (the simulator checks the ranges when
/// it starts).
fn sim_market(table: &toml::Table) -> Result<peregrine_exchanges::sim::MarketParams> {
    if table.is_empty() {
        return Ok(peregrine_exchanges::sim::MarketParams::calm());
    }
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e| anyhow::anyhow!("[sim.market]: {e}"))
}

/// A random hex string for the in-process simulator's throwaway credentials.
pub(crate) fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs the engine on `cfg` until `stop` turns true, then stops in order (feed, core drain,
/// user stream, gateway, sink, simulator) and reports.
pub async fn run_engine(cfg: Config, mut stop: watch::Receiver<bool>) -> Result<RunOutcome> {
    let started = Instant::now();
    let instruments = Arc::new(crate::venues::registry(&cfg)?);

    // Venue endpoints and keys: the in-process simulator with throwaway keys, or the
    // configured venue with the user's keys from Supabase Vault or keys from the environment
    // (`[venue] key_type`).
    let (sim_handle, ws_base, rest_base, venue_keys): (
        Option<SimHandle>,
        String,
        String,
        crate::venue_keys::VenueKeys,
    ) = if cfg.sim.enabled {
        let key = random_hex(32);
        let secret = random_hex(32);
        let mut sim_cfg = sim_config(&cfg, key.clone(), secret.clone())?;
        // `key_type = "ed25519"`: a throwaway Ed25519 key pair, its public key registered
        // with the simulator's account.
        let kind = crate::venue_keys::key_type(&cfg);
        let credentials = match kind {
            peregrine_exchanges::binance::sign::KeyType::Hmac => ApiCredentials {
                key: Secret::new(key),
                secret: Secret::new(secret),
            },
            peregrine_exchanges::binance::sign::KeyType::Ed25519 => {
                let ed_key = format!("ed{}", random_hex(31));
                let (private_pem, public_pem) = crate::venue_keys::throwaway_ed25519()?;
                sim_cfg.ed25519_key = Some(sim::SimEd25519Key {
                    api_key: ed_key.clone(),
                    public_key_pem: public_pem,
                });
                ApiCredentials {
                    key: Secret::new(ed_key),
                    secret: private_pem,
                }
            }
        };
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, cfg.sim.port));
        let handle = sim::spawn(sim_cfg, bind)
            .await
            .context("starting the built-in simulator")?;
        tracing::info!(rest = %handle.rest_base_url(), ws = %handle.ws_base_url(), "simulator started");
        let (ws, rest) = (handle.ws_base_url(), handle.rest_base_url());
        let keys = crate::venue_keys::from_credentials(credentials, kind)?;
        (Some(handle), ws, rest, keys)
    } else {
        // The user's keys in Supabase Vault, else the environment's.
        let keys = match crate::venue_keys::from_vault(&cfg, sink_user_id(&cfg).as_deref()).await? {
            Some(k) => k,
            None => crate::venue_keys::from_env(&cfg)?,
        };
        (
            None,
            cfg.venue.ws_url.clone(),
            cfg.venue.rest_url.clone(),
            keys,
        )
    };

    let usage = peregrine_engine::risk::VenueUsage::shared();
    // The account's key, shared by the REST client, the WebSocket API and the core's signer,
    // and replaced there when the user's key row changes.
    let key_ring = venue_keys.ring();
    let rest = BinanceRest::new(
        &rest_base,
        venue_keys.credentials.clone(),
        cfg.venue.recv_window_ms,
        Duration::from_secs(10),
    )
    .context("building the REST client")?
    .with_keys(key_ring.clone())
    .with_usage(usage.clone());
    let venue_rules = check_instrument_rules(&rest, &instruments).await?;
    // Venue clock offset before the first signed request (re-measured every minute).
    match rest.sync_time().await {
        Ok(offset) => tracing::info!(offset_ms = offset, "venue clock offset measured"),
        Err(e) => tracing::warn!(error = %e, "cannot measure the venue clock offset yet"),
    }
    // A run identity no earlier or concurrent run has (persisted sequence + OS randomness),
    // whatever the clock says.
    let identity = peregrine_engine::run_id::acquire(&cfg.engine.run_sequence_file)
        .context("taking the run identity")?;
    let run_id = identity.run;
    tracing::info!(run = %format!("{run_id:x}"), sequence = identity.sequence, "run identity taken");
    let run_since_ms = rest.now_ms() - 1000;

    // The kill switch first: the sink (halt_on_db_down) and the remote follower set it.
    let kill = KillSwitch::new(cfg.risk.kill_switch);
    // The sink next: a bad database URL fails the run before anything trades.
    // It writes what a previous run left in its spool, then reads the database's start state
    // (checkpoints, orders not final, fills), which the venue's truth is taken against.
    let mut sink_cfg = sink_config(&cfg, &kill);
    // `[bus] events`: the sink's events also go to NATS once spooled.
    let events_out = if cfg.bus.events {
        let (tap, task) = crate::events_out::start(&cfg, sink_user_id(&cfg).as_deref()).await?;
        sink_cfg.tap = Some(tap);
        Some(task)
    } else {
        None
    };
    let (sink_tx, sink_join, start_state) =
        spawn_sink_with_start(sink_cfg).context("starting the sink")?;
    tracing::info!(url = %redact_url(&cfg.sink.url), spool = %cfg.sink.spool_dir.display(), "sink started");
    let run_record = crate::run_record::RunRecorder::start(sink_tx.clone(), run_id, &cfg);
    let (remote_kill_stop, remote_kill_rx) = watch::channel(false);
    let remote_kill = if pg::is_postgres_url(&cfg.sink.url) {
        Some(tokio::spawn(follow_kill_switch(
            pg::connect_options(&cfg.sink.url)?,
            sink_user_id(&cfg),
            kill.clone(),
            Duration::from_secs(cfg.sink.kill_switch_poll_s.max(1)),
            remote_kill_rx.clone(),
        )))
    } else {
        None
    };
    // The user's `strategies` rows: each new version is checked and handed to the core.
    let (db_reload_tx, db_reloads) = crossbeam_channel::unbounded();
    let strategy_rows = match (pg::is_postgres_url(&cfg.sink.url), sink_user_id(&cfg)) {
        (true, Some(user)) => Some(tokio::spawn(follow_strategies(
            pg::connect_options(&cfg.sink.url)?,
            user,
            cfg.strategies.iter().map(|s| s.name.clone()).collect(),
            db_reload_tx,
            Duration::from_secs(cfg.sink.kill_switch_poll_s.max(1)),
            remote_kill_rx,
        ))),
        _ => None,
    };

    // The user's `user_exchange_keys` row (not for the in-process simulator's throwaway
    // keys): a changed key replaces the one in `key_ring`.
    let key_rows = match (
        pg::is_postgres_url(&cfg.sink.url) && !cfg.sim.enabled,
        sink_user_id(&cfg),
    ) {
        (true, Some(user)) => Some(crate::venue_keys::spawn_key_follower(
            &cfg,
            user,
            &venue_keys,
            key_ring.clone(),
            remote_kill_stop.subscribe(),
        )?),
        _ => None,
    };

    let (tick_tx, tick_rx) = crossbeam_channel::bounded(cfg.engine.tick_queue_capacity);
    let (exec_tx, exec_rx) = crossbeam_channel::unbounded();
    let (gw_tx, gw_rx) = tokio::sync::mpsc::unbounded_channel();
    let ledger = Arc::new(ExecLedger::default());

    // The WebSocket API (user data, and orders unless `order_transport = "rest"`), connected
    // and subscribed before the first order can be sent.
    let (ws_stop_tx, ws_stop_rx) = watch::channel(false);
    let reconnected = Arc::new(tokio::sync::Notify::new());
    let ws_api_url = if sim_handle.is_some() {
        format!("{}/ws-api/v3", ws_base.trim_end_matches('/'))
    } else {
        cfg.venue.ws_api_url.clone()
    };
    let mut ws_cfg = WsApiConfig::new(ws_api_url);
    ws_cfg.recv_window_ms = cfg.venue.recv_window_ms;
    ws_cfg.on_reconnect = Some(reconnected.clone());
    let (ws_api, ws_task) = spawn_ws_api(
        WsApiParts {
            cfg: ws_cfg,
            auth: WsAuth {
                keys: key_ring.clone(),
                clock_offset_ms: rest.clock_offset(),
            },
            instruments: instruments.clone(),
            exec_tx: exec_tx.clone(),
            ledger: ledger.clone(),
            usage: Some(usage.clone()),
        },
        ws_stop_rx,
    );
    let mut ws_ready = ws_api.ready();
    tokio::time::timeout(Duration::from_secs(10), ws_ready.wait_for(|r| *r))
        .await
        .context("the WebSocket API (user data stream) did not connect within 10 s")?
        .context("the WebSocket API stopped before connecting")?;

    let ws_orders = cfg.venue.order_transport == OrderTransportConfig::WsApi;
    let transport = if ws_orders {
        OrderTransport::ws_api(rest.clone(), ws_api.clone())
    } else {
        OrderTransport::rest(rest.clone())
    };
    let gateway = tokio::spawn(run_gateway(
        transport,
        gw_rx,
        exec_tx.clone(),
        ledger,
        GatewayConfig::default(),
    ));
    let alarm = crate::venue_guard::alarm_to_sink(sink_tx.clone(), run_id);
    let (restore, truth, balances) = crate::venue_guard::take_start_truth(
        &cfg.venue,
        &rest,
        &instruments,
        start_state,
        &exec_tx,
        &sink_tx,
        &alarm,
    )
    .await?;
    let guards = crate::venue_guard::VenueGuards::start(
        &cfg.risk,
        rest.clone(),
        instruments.clone(),
        run_id,
        run_since_ms,
        exec_tx.clone(),
        alarm,
        reconnected,
        &truth,
        cfg.venue.foreign_orders,
    );
    drop(exec_tx);

    // Local kill switch watchers (latched): the kill/reset files and SIGUSR1 (see
    // `crate::kill`). The switch itself was created before the sink.
    crate::kill::spawn_watchers(&cfg, &kill);

    // `[bus] signals`: external signals for the strategies' `on_signal`.
    let (signal_tx, signals) = crossbeam_channel::unbounded();
    let (signals_stop_tx, signals_stop_rx) = watch::channel(false);
    let signals_in = if cfg.bus.signals {
        Some(crate::bus_source::follow_signals(&cfg, signal_tx, signals_stop_rx).await?)
    } else {
        drop(signal_tx);
        None
    };
    let setup = CoreSetup {
        run_id,
        venue: cfg.venue.name.clone(),
        instruments: instruments.clone(),
        strategies: cfg.strategies.clone(),
        strategy_limits: StrategyLimits::default(),
        max_strategy_errors: 10,
        error_window: Duration::from_secs(60),
        risk: gate_from_config(&cfg.risk, &instruments, &venue_rules, kill)
            .with_venue_usage(usage.clone()),
        signer: Box::new({
            let s = BinanceSigner::with_key(
                instruments.clone(),
                (*venue_keys.signer).clone(),
                cfg.venue.recv_window_ms,
            )
            .with_clock_offset(rest.clock_offset());
            if ws_orders {
                s.ws_api(venue_keys.ws_api_key())
            } else {
                s
            }
            .with_keys(key_ring.clone())
        }),
        gateway: gw_tx,
        ticks: tick_rx,
        execs: exec_rx,
        sink: Box::new(sink_tx),
        cancel_on_stop: cfg.engine.cancel_on_stop,
        drain_timeout: Duration::from_millis(cfg.engine.drain_timeout_ms),
        progress_interval: Duration::from_secs(cfg.engine.progress_interval_s),
        equity_interval: Duration::from_secs(cfg.engine.equity_snapshot_interval_s),
        restore,
        balances,
        db_reloads,
        signals,
    };
    // Feed and core in the configured topology; stage latency and counters go to `hub`,
    // which the metrics endpoint reads.
    let hub = Arc::new(LatencyHub::new());
    let (feed_stop_tx, feed_stop_rx) = watch::channel(false);
    // The `[[market_data]]` venues: market data only, into the same queue.
    let crate::venues::AllFeeds {
        trading: feed_stats,
        venue_stats,
        market_data: md_futures,
    } = crate::venues::all_feeds(&cfg, &instruments, &hub, &tick_tx, &feed_stop_rx)?;
    // `[bus] consume`: ticks from the NATS bus instead of the venue connections above.
    let bus_source = if cfg.bus.consume {
        Some(crate::bus_source::BusSource::connect(&cfg).await?)
    } else {
        None
    };
    let bus_stats = bus_source.as_ref().map(|b| b.stats.clone());
    let core_running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (metrics_stop_tx, metrics_stop_rx) = watch::channel(false);
    let metrics = if cfg.metrics.enabled {
        let sources = crate::metrics::MetricsSources {
            sink: Some(sink_join.gauges()),
            hub: hub.clone(),
            feed: feed_stats.clone(),
            venues: venue_stats.clone(),
            core_running: core_running.clone(),
            started,
            bus: bus_stats.clone(),
        };
        // A taken port must not stop trading: say so loudly and run without the endpoint.
        match crate::metrics::serve(cfg.metrics.listen, sources, metrics_stop_rx).await {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "metrics endpoint NOT running; set [metrics] listen to a free address (port 0 picks one)");
                None
            }
        }
    } else {
        None
    };
    let bus_feed = bus_source.map(|b| {
        b.future(
            instruments.clone(),
            tick_tx.clone(),
            feed_stop_rx.clone(),
            hub.clone(),
        )
    });
    let started_parts = crate::topology::start(
        cfg.tuning.topology,
        setup,
        crate::topology::core_tuning(&cfg.tuning, hub.clone()),
        crate::topology::FeedParts {
            cfg: feed_config(&cfg, ws_base.clone(), rest_base.clone())?,
            instruments: instruments.clone(),
            out: tick_tx,
            stop: feed_stop_rx,
            stats: feed_stats.clone(),
            market_data: if bus_feed.is_some() {
                Vec::new()
            } else {
                md_futures
            },
            bus: bus_feed,
        },
        core_running,
    )?;
    let core = started_parts.core;

    // Run until asked to stop, or until the core stops on its own (a strategy failed to load).
    let mut core_done = started_parts.core_done;
    tokio::select! {
        _ = stop.wait_for(|s| *s) => {}
        _ = &mut core_done => {}
    }
    tracing::info!("stopping: feed first, then the core drains its orders");
    let _ = feed_stop_tx.send(true);
    if let Some(feed) = started_parts.feed {
        feed.await.context("the feed task panicked")?;
    }
    let core_report = tokio::task::spawn_blocking(move || core.join())
        .await
        .context("joining the core thread")?
        .map_err(|_| anyhow::anyhow!("the core thread panicked"))??;
    let _ = signals_stop_tx.send(true);
    if let Some(task) = signals_in {
        let _ = task.await;
    }
    // The gateway first (it may still look orders up over the WebSocket API), then the
    // WebSocket API.
    guards.stop().await;
    let gw_stats = gateway.await.context("the gateway task panicked")?;
    let _ = ws_stop_tx.send(true);
    ws_task.await.context("the WebSocket API task panicked")?;
    let us_stats = ws_api.stats();
    let feed_snapshots: Vec<(Venue, FeedStatsSnapshot)> = venue_stats
        .iter()
        .map(|(v, s)| (*v, s.snapshot()))
        .collect();
    let _ = metrics_stop_tx.send(true);
    if let Some((_, task)) = metrics {
        let _ = task.await;
    }
    run_record.stop();
    let sink_stats = tokio::task::spawn_blocking(move || sink_join.join())
        .await
        .context("joining the sink")?
        .context("the sink failed to flush")?;
    if let Some(task) = events_out {
        let _ = task.await;
    }
    let _ = remote_kill_stop.send(true);
    if let Some(task) = remote_kill {
        let _ = task.await;
    }
    if let Some(task) = strategy_rows {
        let _ = task.await;
    }
    if let Some(task) = key_rows {
        let _ = task.await;
    }
    let sim_ledger = match sim_handle {
        Some(h) => {
            let ledger = h.ledger();
            h.shutdown().await;
            Some(ledger)
        }
        None => None,
    };
    tracing::info!(?us_stats, ?gw_stats, "venue connections closed");

    let summary = RunSummary {
        ticks: core_report.ticks,
        orders: core_report.orders,
        fills: core_report.fills,
        rejects: core_report.rejects,
        realized_pnl: core_report.realized_pnl.clone(),
        latency_ns: core_report.latency_ns,
        feed: match &bus_stats {
            Some(b) => serde_json::json!({ "bus": crate::bus_source::stats_json(b) }),
            None => crate::venues::feeds_json(&feed_snapshots),
        },
        sink: serde_json::json!({
            "orders": sink_stats.orders,
            "fills": sink_stats.fills,
            "positions": sink_stats.positions,
            "risk_events": sink_stats.risk_events,
            "batches": sink_stats.batches,
            "retries": sink_stats.retries,
            "recovered": sink_stats.recovered,
            "quarantined": sink_stats.quarantined,
            "spooled_left": sink_stats.spooled_left,
        }),
        detail: core_report,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    Ok(RunOutcome {
        summary,
        sim_ledger,
        gateway: gw_stats,
        ws_api_reconnects: us_stats
            .reconnects
            .load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// The owner of the run's rows: environment `PEREGRINE_USER_ID` over `sink.user_id`.
fn sink_user_id(cfg: &Config) -> Option<String> {
    std::env::var("PEREGRINE_USER_ID")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| cfg.sink.user_id.clone())
}

/// The sink's settings from the config: spool, batching, the row owner (environment
/// `PEREGRINE_USER_ID` over `sink.user_id`), and the kill switch for `halt_on_db_down`.
fn sink_config(cfg: &Config, kill: &KillSwitch) -> SinkConfig {
    // The in-process simulator is a new venue every run (its trade ids start again), so its
    // trade-history checkpoints are its own.
    let account = if cfg.sim.enabled {
        format!("{}-sim-{}", cfg.venue.account, random_hex(8))
    } else {
        cfg.venue.account.clone()
    };
    let user_id = sink_user_id(cfg);
    SinkConfig {
        url: cfg.sink.url.clone(),
        batch_size: cfg.sink.batch_size,
        batch_age: cfg.sink.batch_age(),
        user_id,
        spool: Some(cfg.sink.spool()),
        halt_on_db_down: cfg.sink.halt_on_db_down.then(|| kill.clone()),
        account: account.clone(),
        start_query: Some(StartQuery {
            venue: cfg.venue.name.clone(),
            account,
        }),
        tap: None,
    }
}

/// `peregrine keys check`: validates `user`'s keys from Supabase Vault against the venue's
/// account endpoint and prints the outcome (never a key).
pub fn keys_check_cli(config: &Path, user: &str) -> Result<()> {
    let mut cfg = Config::load(config)?;
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if !url.is_empty() {
            cfg.sink.url = url;
        }
    }
    let balances = runtime()?.block_on(crate::venue_keys::check_keys(&cfg, user))?;
    println!(
        "keys of user {user} for {}/{}: valid ({balances} balances on the account)",
        cfg.venue.name, cfg.venue.account
    );
    Ok(())
}

/// `peregrine migrate`: applies the Supabase migrations to `DATABASE_URL` (or `url`).
pub fn migrate_cli(url: Option<&str>) -> Result<()> {
    let url = match url {
        Some(u) => u.to_string(),
        None => std::env::var("DATABASE_URL")
            .context("set DATABASE_URL (or pass --database-url) to the PostgreSQL to migrate")?,
    };
    if !pg::is_postgres_url(&url) {
        bail!(
            "peregrine migrate needs a postgres:// URL, got {}",
            redact_url(&url)
        );
    }
    let rt = runtime()?;
    let applied = rt
        .block_on(pg::migrate(&url))
        .with_context(|| format!("migrating {}", redact_url(&url)))?;
    if applied.is_empty() {
        println!("{}: schema up to date", redact_url(&url));
    } else {
        for v in applied {
            println!("{}: applied migration {v}", redact_url(&url));
        }
    }
    Ok(())
}

/// Checks the configured instruments against the venue's exchange info (a tick or lot
/// mismatch would make every order fail the venue's filters, so it stops the run) and returns
/// each instrument's trading rules for the risk gate, indexed by instrument id.
async fn check_instrument_rules(
    rest: &BinanceRest,
    instruments: &Instruments,
) -> Result<Vec<InstrumentLimits>> {
    // The trading venue's instruments: the registry's primary venue, interned first (ids
    // 0..n); market-data venues' instruments follow and keep the gate's default limits.
    let primary = instruments.primary_venue().unwrap_or_default();
    let trading = || instruments.iter().filter(|(_, s)| s.venue == primary);
    let symbols: Vec<&str> = trading().map(|(_, s)| s.venue_symbol.as_str()).collect();
    let rules = rest
        .exchange_info(&symbols)
        .await
        .context("fetching exchangeInfo from the venue")?;
    let mut out = Vec::with_capacity(symbols.len());
    for (id, spec) in trading() {
        if id.index() != out.len() {
            bail!("the trading venue's instruments must be interned first");
        }
        let Some(r) = rules.iter().find(|r| r.symbol == spec.venue_symbol) else {
            bail!(
                "the venue does not list {} ({})",
                spec.symbol,
                spec.venue_symbol
            );
        };
        if r.tick_size != Some(spec.tick_size) || r.step_size != Some(spec.lot_size) {
            bail!(
                "{}: configured tick_size {} / lot_size {} differ from the venue's {:?} / {:?}",
                spec.symbol,
                spec.tick_size,
                spec.lot_size,
                r.tick_size,
                r.step_size
            );
        }
        if r.status != "TRADING" {
            tracing::warn!(symbol = %spec.symbol, status = %r.status, "the venue does not list the symbol as TRADING");
        }
        out.push(InstrumentLimits {
            tick_size: spec.tick_size,
            lot_size: spec.lot_size,
            min_qty: r.min_qty,
            max_qty: r.max_qty,
            min_notional: r.min_notional,
            ..Default::default()
        });
    }
    Ok(out)
}

/// The Binance feed's configuration: the endpoints plus the `[venue]` feed knobs.
pub(crate) fn feed_config(cfg: &Config, ws_base: String, rest_base: String) -> Result<FeedConfig> {
    let mut feed = FeedConfig::new(ws_base, rest_base);
    (feed.reconnect_min, feed.reconnect_max) = cfg.venue.reconnect_range();
    feed.idle_timeout = cfg.venue.stale_after();
    feed.max_session = cfg.venue.max_session();
    feed.max_frame_bytes = cfg.venue.max_frame_bytes;
    feed.channels = cfg
        .venue
        .channels
        .as_deref()
        .map(|names| Channels::parse(Venue::Binance, names))
        .transpose()?;
    Ok(feed)
}

/// One line of `peregrine record` output.
#[derive(serde::Serialize)]
struct RecordLine<'a> {
    /// Local receive time, ns since the Unix epoch.
    ts_ns: u64,
    venue: &'a str,
    frame: &'a str,
}

/// `peregrine record`: connects the market-data feeds of `config` (the trading venue's, which
/// is the in-process simulator when `[sim]` is enabled, and every `[[market_data]]` venue's)
/// and writes every raw websocket text frame with its venue and local receive time to `out`,
/// one JSON object per line, until `duration` or Ctrl-C.
pub fn record_cli(config: &Path, out: &Path, duration: Option<Duration>) -> Result<()> {
    use std::io::Write;

    let cfg = Config::load(config)?;
    let instruments = Arc::new(crate::venues::registry(&cfg)?);
    let file = std::fs::File::create(out)
        .with_context(|| format!("creating the record file {}", out.display()))?;
    let (line_tx, line_rx) = crossbeam_channel::unbounded::<String>();
    let out_name = out.display().to_string();
    let writer = std::thread::Builder::new()
        .name("peregrine-record".into())
        .spawn(move || -> std::io::Result<u64> {
            let mut w = std::io::BufWriter::new(file);
            let mut n = 0u64;
            for line in line_rx {
                w.write_all(line.as_bytes())?;
                w.write_all(b"\n")?;
                n += 1;
            }
            w.flush()?;
            Ok(n)
        })
        .context("starting the record writer")?;
    // Receive times are monotonic (`Clock::now_ns`); the file holds them as wall-clock ns
    // since the epoch, offset once so they never go backwards within a recording.
    let wall_offset = peregrine_engine::clock::Clock::wall_ns()
        .max(0)
        .unsigned_abs()
        .saturating_sub(peregrine_engine::clock::Clock::now_ns());
    let tap = FrameTap(Arc::new(move |venue: Venue, recv_ns: u64, frame: &str| {
        let line = RecordLine {
            ts_ns: wall_offset.saturating_add(recv_ns),
            venue: venue.as_str(),
            frame,
        };
        match serde_json::to_string(&line) {
            Ok(l) => {
                let _ = line_tx.send(l);
            }
            Err(e) => tracing::error!(error = %e, "record: cannot serialize a frame"),
        }
    }));
    // Every `[[market_data]]` venue, its frames through the same tap.
    let md_feeds = crate::venues::market_data_feeds(
        &cfg,
        &instruments,
        &Arc::new(LatencyHub::new()),
        Some(&tap),
    )?;
    let rt = runtime()?;
    let stats = rt.block_on(async {
        let (sim_handle, ws_base, rest_base) = if cfg.sim.enabled {
            let sim_cfg = sim_config(&cfg, random_hex(32), random_hex(32))?;
            let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, cfg.sim.port));
            let handle = sim::spawn(sim_cfg, bind)
                .await
                .context("starting the built-in simulator")?;
            let (ws, rest) = (handle.ws_base_url(), handle.rest_base_url());
            (Some(handle), ws, rest)
        } else {
            (None, cfg.venue.ws_url.clone(), cfg.venue.rest_url.clone())
        };
        let mut feed_cfg = feed_config(&cfg, ws_base, rest_base)?;
        // The tap moves into the feeds: the writer ends when the last of them is dropped.
        feed_cfg.tap = Some(tap);
        // Book ticks are built as in a run (snapshots included); nobody needs them here.
        let (tick_tx, tick_rx) = crossbeam_channel::bounded(cfg.engine.tick_queue_capacity);
        let drain = std::thread::spawn(move || tick_rx.iter().count());
        let (stop_tx, stop_rx) = watch::channel(false);
        let md_feeds: Vec<_> = md_feeds
            .into_iter()
            .map(|f| tokio::spawn(f.run(tick_tx.clone(), stop_rx.clone())))
            .collect();
        let feed = tokio::spawn(run_feed_with_stats(
            feed_cfg,
            instruments,
            tick_tx,
            stop_rx,
            Arc::new(FeedStats::default()),
        ));
        until_stopped(duration).await;
        let _ = stop_tx.send(true);
        let mut stats = vec![feed.await.context("the feed task panicked")?];
        for f in md_feeds {
            stats.push(f.await.context("a market-data feed task panicked")?);
        }
        let _ = tokio::task::spawn_blocking(move || drain.join()).await;
        if let Some(h) = sim_handle {
            h.shutdown().await;
        }
        anyhow::Ok(stats)
    })?;
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the record writer panicked"))?
        .with_context(|| format!("writing {out_name}"))?;
    eprintln!(
        "recorded {written} frames to {out_name} (malformed {}, reconnects {})",
        stats.iter().map(|s| s.malformed).sum::<u64>(),
        stats.iter().map(|s| s.reconnects).sum::<u64>()
    );
    Ok(())
}

/// Returns after `duration`, or at Ctrl-C (without a duration: at Ctrl-C only).
pub(crate) async fn until_stopped(duration: Option<Duration>) {
    match duration {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C; stopping"),
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
