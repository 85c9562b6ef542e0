//! The ops endpoint: Prometheus `/metrics` (OpenMetrics text, encoded with the
//! `prometheus-client` crate) and `/health`, served on the address of `[metrics] listen`.
//!
//! Stage latency is recorded in hdrhistograms by the engine threads (see
//! `peregrine_engine::stages`); each scrape turns the cumulative histograms into one
//! Prometheus histogram family, `peregrine_stage_latency_seconds{stage="..."}`, with fixed
//! buckets from 1 us to 1 s. Nothing is recorded twice and scraping never touches the hot path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use peregrine_engine::latency::LatencyRecorder;
use peregrine_engine::stages::{EngineCounters, LatencyHub, Stage};
use peregrine_exchanges::binance::feed::FeedStats;
use peregrine_exchanges::md::Reason;
use peregrine_exchanges::venue::Venue;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::watch;

/// Upper bounds of the latency buckets, seconds (the last bucket, +Inf, is implicit).
const BUCKETS_S: [f64; 19] = [
    1e-6, 2.5e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
    25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,
];

/// What the endpoint reads: the engine's latency hub and counters, the feed's counters, and
/// whether the core loop is still running.
#[derive(Clone, Debug)]
pub struct MetricsSources {
    /// Stage latency and engine counters.
    pub hub: Arc<LatencyHub>,
    /// The trading venue's feed counters (frames, resyncs, drops).
    pub feed: Arc<FeedStats>,
    /// Every venue's feed counters (the trading venue's and each `[[market_data]]` venue's),
    /// exported with a `venue` label.
    pub venues: Vec<(Venue, Arc<FeedStats>)>,
    /// True while the core loop runs; `/health` answers 503 once it is false.
    pub core_running: Arc<AtomicBool>,
    /// When the run started.
    pub started: Instant,
    /// The sink's backlog (pending events, spool bytes, database down), when there is a sink.
    pub sink: Option<Arc<peregrine_engine::sink::SinkGauges>>,
    /// The bus consumer's counters, when the run consumes the NATS bus (`[bus] consume`).
    pub bus: Option<Arc<peregrine_exchanges::bus::consume::ConsumeStats>>,
}

#[derive(Debug)]
struct EngineCollector(MetricsSources);

/// The per-bucket counts (not cumulative) and the sum, in seconds, of one histogram.
fn buckets(h: &LatencyRecorder) -> (Vec<(f64, u64)>, f64, u64) {
    let mut out: Vec<(f64, u64)> = BUCKETS_S.iter().map(|b| (*b, 0)).collect();
    out.push((f64::MAX, 0));
    let mut sum = 0.0;
    let hist = h.histogram();
    for v in hist.iter_recorded() {
        let secs = v.value_iterated_to() as f64 / 1e9;
        let n = v.count_at_value();
        sum += secs * n as f64;
        let i = BUCKETS_S
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS_S.len());
        out[i].1 += n;
    }
    (out, sum, hist.len())
}

impl EngineCollector {
    fn counter(
        enc: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        v: u64,
    ) -> std::fmt::Result {
        let m = ConstCounter::new(v);
        m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
    }

    fn gauge(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> std::fmt::Result {
        let m = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
        m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
    }
}

impl EngineCollector {
    /// The bus consumer's lag and drops.
    fn bus(
        enc: &mut DescriptorEncoder<'_>,
        b: &peregrine_exchanges::bus::consume::ConsumeStats,
    ) -> std::fmt::Result {
        let f = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        {
            let lag = ConstGauge::new(f(&b.lag_ns) as f64 / 1e9);
            lag.encode(enc.encode_descriptor(
                "peregrine_bus_lag",
                "Bus lag of the last message received: engine receive - feed node publish (wall clocks)",
                Some(&Unit::Seconds),
                lag.metric_type(),
            )?)?;
        }
        let counters: [(&str, &str, &std::sync::atomic::AtomicU64); 7] = [
            (
                "peregrine_bus_messages",
                "Bus messages received",
                &b.messages,
            ),
            (
                "peregrine_bus_dropped_ticks",
                "Bus ticks lost to a full market-data queue",
                &b.dropped,
            ),
            (
                "peregrine_bus_lost_messages",
                "Bus messages missing by sequence (trades, quotes, statuses, bars)",
                &b.lost,
            ),
            (
                "peregrine_bus_book_gaps",
                "Book gaps on the bus (each marked the book stale)",
                &b.book_gaps,
            ),
            (
                "peregrine_bus_resyncs",
                "Books resynced from a feed node snapshot",
                &b.resyncs,
            ),
            (
                "peregrine_bus_redelivered",
                "Messages JetStream delivered again, skipped",
                &b.redelivered,
            ),
            (
                "peregrine_bus_feed_lost",
                "Times the feed node's heartbeat went silent",
                &b.feed_lost,
            ),
        ];
        for (name, help, v) in counters {
            Self::counter(enc, name, help, f(v))?;
        }
        Ok(())
    }
}

impl Collector for EngineCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = &self.0;
        {
            let mut fam = enc.encode_descriptor(
                "peregrine_stage_latency",
                "Latency of one pipeline stage (cumulative over the run, closed windows)",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            s.hub.with_cumulative(|c| -> std::fmt::Result {
                for stage in Stage::ALL {
                    let (b, sum, count) = buckets(c.get(stage));
                    let labels = [("stage", stage.as_str())];
                    fam.encode_family(&labels)?
                        .encode_histogram::<NoLabelSet>(sum, count, &b, None)?;
                }
                Ok(())
            })?;
        }
        let c = &s.hub.counters;
        let get = EngineCounters::get;
        let f = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Self::counter(
            &mut enc,
            "peregrine_ticks",
            "Ticks processed by the core",
            get(&c.ticks),
        )?;
        Self::counter(
            &mut enc,
            "peregrine_orders",
            "Orders handed to the venue",
            get(&c.orders),
        )?;
        Self::counter(
            &mut enc,
            "peregrine_rejects",
            "Orders refused by risk or the venue",
            get(&c.rejects),
        )?;
        Self::counter(&mut enc, "peregrine_fills", "Fills booked", get(&c.fills))?;
        Self::counter(
            &mut enc,
            "peregrine_feed_frames",
            "Websocket frames received",
            f(&s.feed.frames),
        )?;
        Self::counter(
            &mut enc,
            "peregrine_feed_dropped_ticks",
            "Ticks lost to a full queue",
            f(&s.feed.dropped),
        )?;
        Self::counter(
            &mut enc,
            "peregrine_feed_resyncs",
            "Order books resynced from a snapshot",
            f(&s.feed.resyncs),
        )?;
        Self::counter(
            &mut enc,
            "peregrine_feed_reconnects",
            "Feed reconnections",
            f(&s.feed.reconnects),
        )?;
        type Field = fn(&FeedStats) -> &std::sync::atomic::AtomicU64;
        let per_venue: [(&str, &str, Field); 5] = [
            (
                "peregrine_venue_feed_frames",
                "Websocket frames received, per venue",
                |s| &s.frames,
            ),
            (
                "peregrine_venue_feed_ticks",
                "Ticks delivered to the core's queue, per venue",
                |s| &s.ticks,
            ),
            (
                "peregrine_venue_feed_dropped_ticks",
                "Ticks lost to a full queue, per venue",
                |s| &s.dropped,
            ),
            (
                "peregrine_venue_feed_reconnects",
                "Feed reconnections, per venue",
                |s| &s.reconnects,
            ),
            (
                "peregrine_venue_feed_resyncs",
                "Order books resynced from a snapshot, per venue",
                |s| &s.resyncs,
            ),
        ];
        for (name, help, field) in per_venue {
            let mut fam = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (venue, stats) in &s.venues {
                let labels = [("venue", venue.as_str())];
                ConstCounter::new(f(field(stats))).encode(fam.encode_family(&labels)?)?;
            }
        }
        {
            let mut fam = enc.encode_descriptor(
                "peregrine_venue_feed_rejected",
                "Frames refused by the venue's normalizer or its value checks, per venue and reason",
                None,
                MetricType::Counter,
            )?;
            for (venue, stats) in &s.venues {
                for reason in Reason::ALL {
                    let labels = [("venue", venue.as_str()), ("reason", reason.as_str())];
                    let n = f(&stats.rejected[reason.index()]);
                    ConstCounter::new(n).encode(fam.encode_family(&labels)?)?;
                }
            }
        }
        Self::gauge(
            &mut enc,
            "peregrine_queue_depth",
            "Ticks waiting in the market-data queue",
            get(&c.queue_depth),
        )?;
        if let Some(b) = &s.bus {
            Self::bus(&mut enc, b)?;
        }
        if let Some(g) = &s.sink {
            Self::gauge(
                &mut enc,
                "peregrine_sink_pending_events",
                "Events handed to the sink and not yet committed to the database",
                g.pending_events.load(Ordering::Relaxed),
            )?;
            Self::gauge(
                &mut enc,
                "peregrine_sink_spool_bytes",
                "Bytes held in the sink's durable spool",
                g.spool_bytes.load(Ordering::Relaxed),
            )?;
            Self::gauge(
                &mut enc,
                "peregrine_sink_database_down",
                "1 while database writes are failing (events wait in the spool)",
                u64::from(g.db_down.load(Ordering::Relaxed)),
            )?;
        }
        Ok(())
    }
}

/// Encodes the current metrics as OpenMetrics text.
pub fn render(sources: &MetricsSources) -> Result<String> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(EngineCollector(sources.clone())));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .context("encoding the metrics")?;
    Ok(out)
}

async fn metrics(State(s): State<MetricsSources>) -> impl IntoResponse {
    match render(&s) {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    }
}

async fn health(State(s): State<MetricsSources>) -> impl IntoResponse {
    let running = s.core_running.load(Ordering::Relaxed);
    let body = serde_json::json!({
        "status": if running { "ok" } else { "stopped" },
        "uptime_s": s.started.elapsed().as_secs_f64(),
        "ticks": EngineCounters::get(&s.hub.counters.ticks),
        "orders": EngineCounters::get(&s.hub.counters.orders),
        "feed_frames": s.feed.frames.load(Ordering::Relaxed),
    });
    let code = if running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body))
}

/// Binds `addr` and serves `/metrics` and `/health` until `stop` turns true. Returns the
/// bound address (useful with port 0) and the server task.
pub async fn serve(
    addr: SocketAddr,
    sources: MetricsSources,
    mut stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics endpoint on {addr}"))?;
    let bound = listener.local_addr().context("metrics listener address")?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(sources);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "metrics endpoint failed");
        }
    });
    tracing::info!(%bound, "metrics endpoint: /metrics and /health");
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_engine::stages::StageSet;

    #[test]
    fn histogram_family_and_counters_follow_the_naming_conventions() {
        let hub = Arc::new(LatencyHub::new());
        let mut w = StageSet::new();
        w.record(Stage::Strategy, 3_000); // 3 us -> the 5 us bucket
        w.record(Stage::Strategy, 2_000_000_000); // 2 s -> +Inf
        hub.close_window(&mut w);
        EngineCounters::bump(&hub.counters.ticks);
        let okx = Arc::new(FeedStats::default());
        okx.ticks.fetch_add(7, Ordering::Relaxed);
        okx.reject(Reason::DuplicateKey);
        let s = MetricsSources {
            hub,
            feed: Arc::new(FeedStats::default()),
            venues: vec![
                (Venue::Binance, Arc::new(FeedStats::default())),
                (Venue::Okx, okx),
            ],
            core_running: Arc::new(AtomicBool::new(true)),
            started: Instant::now(),
            sink: Some(Arc::new(peregrine_engine::sink::SinkGauges::default())),
            bus: Some(Arc::new(Default::default())),
        };
        let text = render(&s).expect("renders");
        for bus in [
            "# TYPE peregrine_bus_lag_seconds gauge",
            "peregrine_bus_dropped_ticks_total 0",
            "peregrine_bus_book_gaps_total 0",
        ] {
            assert!(text.contains(bus), "{bus}: {text}");
        }
        assert!(
            text.contains("# TYPE peregrine_stage_latency_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("peregrine_stage_latency_seconds_count{stage=\"strategy\"} 2"),
            "{text}"
        );
        // Buckets are cumulative: nothing at or below 2.5 us, the 3 us sample from 5 us on.
        assert!(
            text.contains(
                "peregrine_stage_latency_seconds_bucket{le=\"0.0000025\",stage=\"strategy\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "peregrine_stage_latency_seconds_bucket{le=\"0.000005\",stage=\"strategy\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "peregrine_stage_latency_seconds_bucket{le=\"1.0\",stage=\"strategy\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "peregrine_stage_latency_seconds_bucket{le=\"+Inf\",stage=\"strategy\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("peregrine_ticks_total 1"), "{text}");
        assert!(text.contains("peregrine_queue_depth 0"), "{text}");
        assert!(
            text.contains("peregrine_venue_feed_ticks_total{venue=\"okx\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("peregrine_venue_feed_ticks_total{venue=\"binance\"} 0"),
            "{text}"
        );
        assert!(
            text.contains(
                "peregrine_venue_feed_rejected_total{venue=\"okx\",reason=\"duplicate_key\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "peregrine_venue_feed_rejected_total{venue=\"binance\",reason=\"crossed_quote\"} 0"
            ),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}
