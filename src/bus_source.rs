//! `[bus] consume = true`: `peregrine run` takes its market data from the NATS bus (a feed
//! node, `peregrine feed`, publishes it) instead of opening venue connections. The consumer
//! (`exchanges::bus::consume`) delivers the same ticks a direct feed would into the same
//! queue, so the core path is unchanged; its counters go to `/metrics` and the summary.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use crossbeam_channel::Sender;
use peregrine_engine::config::Config;
use peregrine_engine::sink::redact_url;
use peregrine_engine::stages::LatencyHub;
use peregrine_engine::tick::Tick;
use peregrine_engine::types::Instruments;
use peregrine_exchanges::bus::consume::{run_bus_feed, ConsumeSettings, ConsumeStats};
use peregrine_exchanges::bus::Subjects;
use tokio::sync::watch;

/// Connects to `[bus] url` (5 s timeout; the URL's credentials are never in the error).
pub async fn connect_nats(cfg: &Config) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(cfg.bus.url.as_str())
        .await
        .with_context(|| format!("connecting to NATS at {}", redact_url(&cfg.bus.url)))
}

/// A connected bus source, ready to run as the run's feed.
pub struct BusSource {
    client: async_nats::Client,
    settings: ConsumeSettings,
    /// The consumer's counters.
    pub stats: Arc<ConsumeStats>,
}

impl BusSource {
    /// Connects to `[bus] url` (failing the run at start if NATS is not there).
    pub async fn connect(cfg: &Config) -> Result<Self> {
        let b = &cfg.bus;
        let subjects = Subjects::new(&b.prefix)?;
        let client = connect_nats(cfg).await?;
        Ok(BusSource {
            client,
            settings: ConsumeSettings {
                subjects,
                stream: crate::feed::stream_settings(cfg),
                durable: (!b.durable.is_empty()).then(|| b.durable.clone()),
                heartbeat_timeout: Duration::from_millis(b.heartbeat_timeout_ms),
                snapshot_timeout: Duration::from_millis(b.snapshot_timeout_ms),
                max_buffered: b.max_buffered,
            },
            stats: Arc::new(ConsumeStats::default()),
        })
    }

    /// The feed future: consumes until `stop`, delivering ticks to `out`. A consumer error
    /// is logged and ends the feed (the core then sees no more ticks; the stop is unchanged).
    pub fn future(
        self,
        instruments: Arc<Instruments>,
        out: Sender<Tick>,
        stop: watch::Receiver<bool>,
        hub: Arc<LatencyHub>,
    ) -> crate::topology::FeedFuture {
        Box::pin(async move {
            let r = run_bus_feed(
                self.client,
                self.settings,
                instruments,
                out,
                stop,
                self.stats,
                hub,
            )
            .await;
            match r {
                Ok(()) => tracing::info!("bus consumer stopped"),
                Err(e) => tracing::error!(error = %e, "bus consumer failed"),
            }
        })
    }
}

/// `[bus] signals`: follows `<prefix>.sig.>` (core NATS) until `stop`, handing each signal
/// to the core (`on_signal` of the strategy it names). Malformed messages are logged and
/// skipped.
pub async fn follow_signals(
    cfg: &Config,
    out: crossbeam_channel::Sender<peregrine_engine::signal::ExternalSignal>,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    use futures_util::StreamExt;
    let client = connect_nats(cfg).await?;
    let subject = format!("{}.sig.>", cfg.bus.prefix);
    let mut sub = client
        .subscribe(subject.clone())
        .await
        .with_context(|| format!("subscribing to {subject}"))?;
    client.flush().await.context("NATS flush")?;
    Ok(tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                m = sub.next() => match m { Some(m) => m, None => return },
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() { return; }
                    continue;
                }
            };
            match peregrine_engine::signal::ExternalSignal::from_json(&msg.payload) {
                Ok(s) => {
                    if out.send(s).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(subject = %msg.subject, error = %e, "bus: signal refused"),
            }
        }
    }))
}

/// The consumer's counters as JSON (run summary).
pub fn stats_json(s: &ConsumeStats) -> serde_json::Value {
    use std::sync::atomic::Ordering::Relaxed;
    serde_json::json!({
        "messages": s.messages.load(Relaxed),
        "bytes": s.bytes.load(Relaxed),
        "ticks": s.ticks.load(Relaxed),
        "dropped": s.dropped.load(Relaxed),
        "lost": s.lost.load(Relaxed),
        "book_gaps": s.book_gaps.load(Relaxed),
        "resyncs": s.resyncs.load(Relaxed),
        "snapshot_requests": s.snapshot_requests.load(Relaxed),
        "redelivered": s.redelivered.load(Relaxed),
        "ignored": s.ignored.load(Relaxed),
        "feed_lost": s.feed_lost.load(Relaxed),
        "lag_ns": s.lag_ns.load(Relaxed),
        "stream_seq": s.stream_seq.load(Relaxed),
    })
}
