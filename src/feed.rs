//! `peregrine feed`: a feed node. It holds the venue connections of its config (the trading
//! venue's market data, the in-process simulator when `[sim]` is enabled, and every
//! `[[market_data]]` venue), runs them exactly as `peregrine run` does (connection manager,
//! normalizers, book sequencer, into a bounded tick queue), and publishes every normalized
//! event to the NATS bus (`[bus]`): one message per venue message on
//! `<prefix>.md.<venue>.<symbol>.<kind>`, captured by a JetStream stream created if missing,
//! numbered per subject, with book snapshots answered on request
//! (`<prefix>.snap.<venue>.<symbol>`), and a heartbeat on `<prefix>.hb` every
//! `[bus] heartbeat_ms`. See `exchanges::bus`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use peregrine_engine::config::bus::{BusEncoding, BusStorage};
use peregrine_engine::config::Config;
use peregrine_engine::sink::redact_url;
use peregrine_engine::stages::LatencyHub;
use peregrine_engine::tick::Tick;
use peregrine_exchanges::bus::assemble::{AssembleStats, Assembler};
use peregrine_exchanges::bus::publish::{
    ensure_stream, serve_snapshots, Publisher, StreamSettings,
};
use peregrine_exchanges::bus::Subjects;
use peregrine_exchanges::sim;
use peregrine_exchanges::venue::Venue;
use peregrine_exchanges::ws::FeedStatsSnapshot;
use tokio::sync::watch;

/// What a feed node did.
#[derive(Debug)]
pub struct FeedOutcome {
    /// Bus messages published.
    pub messages: u64,
    /// Payload bytes published.
    pub bytes: u64,
    /// Snapshot requests answered.
    pub snapshots_served: u64,
    /// Book messages the assembler could not complete (their ticks were dropped).
    pub assemble: AssembleStats,
    /// Each venue connection's counters.
    pub venues: Vec<(Venue, FeedStatsSnapshot)>,
}

/// `peregrine feed --config FILE`: runs the feed node until `duration` or Ctrl-C and prints
/// its counters.
pub fn feed_cli(config: &Path, duration: Option<Duration>) -> Result<()> {
    let cfg = Config::load(config)?;
    let rt = crate::app::runtime()?;
    let out = rt.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            crate::app::until_stopped(duration).await;
            let _ = stop_tx.send(true);
        });
        run_feed_node(cfg, stop_rx).await
    })?;
    println!(
        "feed: published {} messages ({} bytes), {} snapshots served, {} incomplete book messages",
        out.messages, out.bytes, out.snapshots_served, out.assemble.incomplete
    );
    println!("{}", crate::venues::feeds_json(&out.venues));
    Ok(())
}

/// The stream settings of `[bus]`.
pub fn stream_settings(cfg: &Config) -> StreamSettings {
    let b = &cfg.bus;
    StreamSettings {
        name: b.stream.clone(),
        max_age: (b.max_age_s > 0).then(|| Duration::from_secs(b.max_age_s)),
        max_bytes: (b.max_bytes > 0).then_some(b.max_bytes),
        max_msgs_per_subject: (b.max_msgs_per_subject > 0).then_some(b.max_msgs_per_subject),
        memory: b.storage == BusStorage::Memory,
    }
}

/// Runs a feed node on `cfg` until `stop` turns true: connects NATS (and creates the stream),
/// starts the simulator if enabled, the venue connections, the publisher and the snapshot
/// responder; then stops the feeds, publishes what they queued, flushes, and reports.
pub async fn run_feed_node(cfg: Config, mut stop: watch::Receiver<bool>) -> Result<FeedOutcome> {
    let instruments = Arc::new(crate::venues::registry(&cfg)?);
    let subjects = Subjects::new(&cfg.bus.prefix)?;
    let url = redact_url(&cfg.bus.url);
    let client = crate::bus_source::connect_nats(&cfg).await?;
    let captured = ensure_stream(&client, &subjects, &stream_settings(&cfg))
        .await
        .with_context(|| format!("the JetStream stream on {url}"))?;
    tracing::info!(%url, stream = %cfg.bus.stream, subjects = ?captured, "bus stream ready");
    let json = cfg.bus.encoding == BusEncoding::Json;
    let publisher = Publisher::new(client.clone(), &subjects, &instruments, json)?;
    let (shelf, pub_stats) = (publisher.shelf(), publisher.stats());

    let (sim_handle, ws_base, rest_base) = if cfg.sim.enabled {
        let sim_cfg =
            crate::app::sim_config(&cfg, crate::app::random_hex(32), crate::app::random_hex(32))?;
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, cfg.sim.port));
        let handle = sim::spawn(sim_cfg, bind)
            .await
            .context("starting the built-in simulator")?;
        let (ws, rest) = (handle.ws_base_url(), handle.rest_base_url());
        (Some(handle), ws, rest)
    } else {
        (None, cfg.venue.ws_url.clone(), cfg.venue.rest_url.clone())
    };

    let hub = Arc::new(LatencyHub::new());
    let (tick_tx, tick_rx) = crossbeam_channel::bounded(cfg.bus.queue_capacity);
    let (feed_stop_tx, feed_stop_rx) = watch::channel(false);
    let crate::venues::AllFeeds {
        trading: feed_stats,
        venue_stats,
        market_data: md_futures,
    } = crate::venues::all_feeds(&cfg, &instruments, &hub, &tick_tx, &feed_stop_rx)?;
    let feeds = crate::topology::FeedParts {
        cfg: crate::app::feed_config(&cfg, ws_base, rest_base)?,
        instruments: instruments.clone(),
        out: tick_tx,
        stop: feed_stop_rx,
        stats: feed_stats,
        market_data: md_futures,
        bus: None,
    };

    let (snap_stop_tx, snap_stop_rx) = watch::channel(false);
    let responder = tokio::spawn(serve_snapshots(
        client.clone(),
        subjects.clone(),
        instruments.clone(),
        shelf,
        pub_stats.clone(),
        json,
        snap_stop_rx,
    ));
    let heartbeat = tokio::spawn(heartbeat(
        client.clone(),
        subjects.heartbeat(),
        Duration::from_millis(cfg.bus.heartbeat_ms),
        stop.clone(),
    ));
    let handle = tokio::runtime::Handle::current();
    let n = instruments.len();
    let publisher = std::thread::Builder::new()
        .name("peregrine-bus-pub".into())
        .spawn(move || publish_loop(handle, tick_rx, publisher, n))
        .context("starting the bus publisher")?;
    let feed_task = tokio::spawn(feeds.run());
    tracing::info!(instruments = n, "feed node running");

    let _ = stop.wait_for(|s| *s).await;
    tracing::info!("feed node stopping: feeds first, then the publisher drains and flushes");
    let _ = feed_stop_tx.send(true);
    feed_task.await.context("the feed task panicked")?;
    let assemble = tokio::task::spawn_blocking(move || publisher.join())
        .await
        .context("joining the publisher")?
        .map_err(|_| anyhow::anyhow!("the bus publisher panicked"))??;
    let _ = snap_stop_tx.send(true);
    let _ = heartbeat.await;
    responder
        .await
        .context("the snapshot responder panicked")?
        .context("the snapshot responder")?;
    if let Some(h) = sim_handle {
        h.shutdown().await;
    }
    let venues = venue_stats
        .iter()
        .map(|(v, s)| (*v, s.snapshot()))
        .collect();
    Ok(FeedOutcome {
        messages: pub_stats.messages.load(Ordering::Relaxed),
        bytes: pub_stats.bytes.load(Ordering::Relaxed),
        snapshots_served: pub_stats.snapshots_served.load(Ordering::Relaxed),
        assemble,
        venues,
    })
}

/// Publishes the feed node's heartbeat (its wall clock, ns, as decimal text) on `subject`
/// every `every` until `stop` turns true. Engines mark their books stale when it goes silent.
async fn heartbeat(
    client: async_nats::Client,
    subject: String,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = peregrine_engine::clock::Clock::wall_ns().to_string();
                if let Err(e) = client.publish(subject.clone(), now.into()).await {
                    tracing::warn!(error = %e, "bus: cannot publish the heartbeat");
                }
            }
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

/// The publisher thread: ticks from the queue, assembled into bus events, published in queue
/// order, until every feed has dropped its sender; then a flush.
fn publish_loop(
    handle: tokio::runtime::Handle,
    ticks: Receiver<Tick>,
    mut publisher: Publisher,
    instruments: usize,
) -> Result<AssembleStats> {
    let mut assembler = Assembler::new(instruments);
    let mut events = Vec::with_capacity(64);
    handle.block_on(async move {
        loop {
            match ticks.recv_timeout(Duration::from_millis(100)) {
                Ok(t) => {
                    let now = peregrine_engine::clock::Clock::wall_ns();
                    assembler.push(&t, now, &mut events);
                    // Whatever else is queued goes out in the same turn.
                    while events.len() < 256 {
                        match ticks.try_recv() {
                            Ok(t) => assembler.push(&t, now, &mut events),
                            Err(_) => break,
                        }
                    }
                    for (id, ev) in events.drain(..) {
                        publisher.publish(id, &ev).await?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        publisher.flush().await?;
        Ok(assembler.stats)
    })
}
