//! The venues of one run: the instrument registry (the trading venue's instruments first, then
//! those of every `[[market_data]]` venue) and the extra market-data connections, each on the
//! shared connection manager (`exchanges::ws::run_connection`).

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result};
use crossbeam_channel::Sender;
use peregrine_engine::config::{Config, MarketCategory, MarketDataConfig};
use peregrine_engine::stages::LatencyHub;
use peregrine_engine::tick::Tick;
use peregrine_engine::types::{InstrumentSpec, Instruments};
use peregrine_exchanges::bybit::Category;
use peregrine_exchanges::md::channels::Channels;
use peregrine_exchanges::md::Reason;
use peregrine_exchanges::protocols::{market_data_protocol, ProtocolOptions};
use peregrine_exchanges::venue::{Venue, VenueProtocol};
use peregrine_exchanges::ws::{run_connection, FeedStats, FeedStatsSnapshot, FrameTap, WsConfig};
use tokio::sync::watch;

/// The registry of a run: the trading venue's `[[instruments]]` first (so they are its primary
/// venue: strategies and the order path resolve symbols there), then each market-data venue's
/// instruments, spelled the venue's way unless `venue_symbol` overrides it.
pub fn registry(cfg: &Config) -> Result<Instruments> {
    let mut out = Instruments::new();
    for i in &cfg.instruments {
        let spec =
            InstrumentSpec::from_canonical(&cfg.venue.name, &i.symbol, i.tick_size, i.lot_size)
                .with_context(|| format!("instrument {:?} is not BASE-QUOTE", i.symbol))?;
        out.intern(spec);
    }
    for md in &cfg.market_data {
        let venue = venue_of(md)?;
        for inst in &md.instruments {
            let r = inst.resolve(&cfg.instruments).with_context(|| {
                format!("{venue} {}: no tick_size/lot_size configured", inst.symbol)
            })?;
            let mut spec =
                InstrumentSpec::from_canonical(venue.as_str(), &r.symbol, r.tick_size, r.lot_size)
                    .with_context(|| {
                        format!("{venue} instrument {:?} is not BASE-QUOTE", r.symbol)
                    })?;
            spec.venue_symbol = match r.venue_symbol {
                Some(s) => s,
                None => venue.venue_symbol(&r.symbol)?,
            };
            out.intern(spec);
        }
    }
    Ok(out)
}

/// The venue of a `[[market_data]]` entry (validated when the config was loaded).
fn venue_of(md: &MarketDataConfig) -> Result<Venue> {
    md.venue
        .parse::<Venue>()
        .with_context(|| format!("market_data venue {:?}", md.venue))
}

/// One configured market-data connection, ready to run.
pub struct MdFeed {
    /// The venue.
    pub venue: Venue,
    /// Its live counters.
    pub stats: Arc<FeedStats>,
    proto: Box<dyn VenueProtocol>,
    ws: WsConfig,
}

impl MdFeed {
    /// Runs the connection until `stop` turns true (or the tick receiver is gone), delivering
    /// ticks to `out`; returns its final counters.
    pub fn run(
        self,
        out: Sender<Tick>,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = FeedStatsSnapshot> + Send + 'static {
        let venue = self.venue;
        async move {
            let snap = run_connection(self.proto, self.ws, out, stop, self.stats).await;
            tracing::info!(%venue, ?snap, "market-data feed stopped");
            snap
        }
    }
}

/// Every feed of a run into one tick queue: the trading venue's [`FeedStats`] (its latency
/// into `hub`), the `[[market_data]]` venues' connections ready to run into `out` until
/// `stop`, and each venue's counters for the summary and `/metrics`.
pub struct AllFeeds {
    /// The trading venue's feed counters.
    pub trading: Arc<peregrine_exchanges::binance::feed::FeedStats>,
    /// Counters per venue, the trading venue first.
    pub venue_stats: Vec<(
        peregrine_exchanges::venue::Venue,
        Arc<peregrine_exchanges::binance::feed::FeedStats>,
    )>,
    /// The `[[market_data]]` connections, to hand to the topology.
    pub market_data: Vec<crate::topology::MdFuture>,
}

/// Builds [`AllFeeds`] for `cfg`.
pub fn all_feeds(
    cfg: &Config,
    instruments: &Arc<Instruments>,
    hub: &Arc<LatencyHub>,
    out: &Sender<Tick>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<AllFeeds> {
    let trading = Arc::new(peregrine_exchanges::binance::feed::FeedStats {
        latency: hub.clone(),
        ..Default::default()
    });
    let md_feeds = market_data_feeds(cfg, instruments, hub, None)?;
    let mut venue_stats = vec![(peregrine_exchanges::venue::Venue::Binance, trading.clone())];
    venue_stats.extend(md_feeds.iter().map(|f| (f.venue, f.stats.clone())));
    let market_data = md_feeds
        .into_iter()
        .map(|f| Box::pin(f.run(out.clone(), stop.clone())) as crate::topology::MdFuture)
        .collect();
    Ok(AllFeeds {
        trading,
        venue_stats,
        market_data,
    })
}

/// The market-data connections of every `[[market_data]]` venue, resolving symbols through
/// `instruments` (built by [`registry`]), recording stage latency into `hub` and handing raw
/// frames to `tap` if given.
pub fn market_data_feeds(
    cfg: &Config,
    instruments: &Arc<Instruments>,
    hub: &Arc<LatencyHub>,
    tap: Option<&FrameTap>,
) -> Result<Vec<MdFeed>> {
    let mut feeds = Vec::with_capacity(cfg.market_data.len());
    for md in &cfg.market_data {
        let venue = venue_of(md)?;
        let options = ProtocolOptions {
            bybit_category: match md.category.unwrap_or_default() {
                MarketCategory::Spot => Category::Spot,
                MarketCategory::Linear => Category::Linear,
            },
            ws_url: md.ws_url.clone(),
            channels: md
                .channels
                .as_deref()
                .map(|names| Channels::parse(venue, names))
                .transpose()?,
        };
        let proto = market_data_protocol(venue, instruments.clone(), options)
            .with_context(|| format!("{venue} has no market-data protocol"))?;
        let k = md.knobs(&cfg.venue);
        let ws = WsConfig {
            backoff_min: k.reconnect_min,
            backoff_max: k.reconnect_max,
            stale_after: k.stale_after,
            max_session: k.max_session,
            max_frame_bytes: k.max_frame_bytes,
            tap: tap.cloned(),
            ..WsConfig::default()
        };
        tracing::info!(%venue, url = %proto.url(), instruments = md.instruments.len(), "market-data venue configured");
        feeds.push(MdFeed {
            venue,
            stats: Arc::new(FeedStats {
                latency: hub.clone(),
                ..FeedStats::default()
            }),
            proto,
            ws,
        });
    }
    Ok(feeds)
}

/// One venue's counters as the run summary shows them.
fn feed_json(s: &FeedStatsSnapshot) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for (k, v) in [
        ("frames", s.frames),
        ("ticks", s.ticks),
        ("malformed", s.malformed),
        ("dropped", s.dropped),
        ("reconnects", s.reconnects),
        ("resyncs", s.resyncs),
        ("stale", s.stale),
        ("venue_errors", s.venue_errors),
        ("oversized", s.oversized),
    ] {
        m.insert(k.into(), v.into());
    }
    // The refused frames per reason, only the reasons that occurred.
    let rejected: serde_json::Map<String, serde_json::Value> = Reason::ALL
        .iter()
        .filter(|r| s.rejected(**r) > 0)
        .map(|r| (r.as_str().to_string(), s.rejected(*r).into()))
        .collect();
    m.insert("rejected".into(), rejected.into());
    m
}

/// The run summary's `feed`: every counter summed over the venues, and under `venues` each
/// venue's own (`{"frames": .., "venues": {"binance": {"frames": ..}, "okx": {..}}}`).
pub fn feeds_json(feeds: &[(Venue, FeedStatsSnapshot)]) -> serde_json::Value {
    let total = feeds
        .iter()
        .fold(FeedStatsSnapshot::default(), |a, (_, s)| {
            FeedStatsSnapshot {
                frames: a.frames + s.frames,
                ticks: a.ticks + s.ticks,
                malformed: a.malformed + s.malformed,
                dropped: a.dropped + s.dropped,
                reconnects: a.reconnects + s.reconnects,
                resyncs: a.resyncs + s.resyncs,
                control: a.control + s.control,
                venue_errors: a.venue_errors + s.venue_errors,
                oversized: a.oversized + s.oversized,
                stale: a.stale + s.stale,
                resync_requests: a.resync_requests + s.resync_requests,
                scheduled: a.scheduled + s.scheduled,
                rejected: std::array::from_fn(|i| a.rejected[i] + s.rejected[i]),
            }
        });
    let mut out = feed_json(&total);
    let venues = feeds
        .iter()
        .map(|(v, s)| (v.as_str().to_string(), feed_json(s).into()))
        .collect::<serde_json::Map<_, _>>();
    out.insert("venues".into(), venues.into());
    out.into()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn registry_keys_instruments_per_venue_and_spells_symbols_the_venue_way() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples/multi_venue.toml"),
        )
        .expect("example config");
        let cfg = Config::parse(&text, Path::new("multi_venue.toml")).expect("valid example");
        let r = registry(&cfg).expect("registry");
        assert_eq!(r.primary_venue(), Some("binance"));
        let bn = r.by_symbol("BTC-USDT").expect("binance BTC-USDT");
        assert_eq!(r.spec(bn).venue, "binance");
        for (venue, symbol, spelled) in [
            ("okx", "BTC-USDT", "BTC-USDT"),
            ("bybit", "BTC-USDT", "BTCUSDT"),
            ("kraken", "BTC-USD", "BTC/USD"),
            ("coinbase", "BTC-USD", "BTC-USD"),
        ] {
            let id = r
                .on_venue(venue, symbol)
                .unwrap_or_else(|| panic!("{venue} {symbol}"));
            assert_ne!(id, bn);
            assert_eq!(r.spec(id).venue_symbol, spelled, "{venue}");
        }
        // The Binance spelling still resolves to Binance, not to Bybit's identical one.
        assert_eq!(r.by_venue_symbol("BTCUSDT"), Some(bn));
        let hub = Arc::new(LatencyHub::new());
        let feeds = market_data_feeds(&cfg, &Arc::new(r), &hub, None).expect("feeds");
        let venues: Vec<Venue> = feeds.iter().map(|f| f.venue).collect();
        assert_eq!(
            venues,
            [Venue::Okx, Venue::Bybit, Venue::Kraken, Venue::Coinbase]
        );
        // Real endpoints only as defaults; nothing here connects.
        assert_eq!(feeds[0].proto.url(), "wss://ws.okx.com:8443/ws/v5/public");
        // The example's OKX `channels` are what it subscribes to.
        let sub = &feeds[0].proto.subscribe_messages()[0];
        for c in ["trades", "tickers", "books5"] {
            assert!(sub.contains(&format!(r#""channel":"{c}""#)), "{c}: {sub}");
        }
        assert!(!sub.contains(r#""channel":"books""#), "{sub}");
    }

    #[test]
    fn the_default_config_has_no_market_data_venue() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let cfg = Config::load(&path).expect("valid default");
        assert!(
            cfg.market_data.is_empty(),
            "the default config must stay offline"
        );
        let r = registry(&cfg).expect("registry");
        assert!(r.iter().all(|(_, s)| s.venue == "binance"));
        let feeds = market_data_feeds(&cfg, &Arc::new(r), &Arc::new(LatencyHub::new()), None)
            .expect("no feeds");
        assert!(feeds.is_empty());
    }

    #[test]
    fn feed_summary_sums_the_venues_and_keeps_each() {
        let bn = FeedStatsSnapshot {
            frames: 10,
            ticks: 30,
            dropped: 1,
            ..Default::default()
        };
        let okx = FeedStatsSnapshot {
            frames: 5,
            ticks: 7,
            reconnects: 2,
            ..Default::default()
        };
        let j = feeds_json(&[(Venue::Binance, bn), (Venue::Okx, okx)]);
        assert_eq!(j["frames"], 15);
        assert_eq!(j["ticks"], 37);
        assert_eq!(j["dropped"], 1);
        assert_eq!(j["reconnects"], 2);
        assert_eq!(j["venues"]["binance"]["ticks"], 30);
        assert_eq!(j["venues"]["okx"]["ticks"], 7);
        assert_eq!(j["venues"]["okx"]["reconnects"], 2);
        assert_eq!(j["venues"].as_object().map(|m| m.len()), Some(2));
    }
}
