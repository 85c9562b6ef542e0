//! `[[market_data]]`: venues whose market data flows into the core beside the trading venue's.
//!
//! Orders only ever go to `[venue]`; these venues are read-only. Every key is documented in
//! `config/examples/multi_venue.toml`.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::{InstrumentConfig, VenueConfig};

/// The venues `[[market_data]]` accepts (Binance's market data comes from `[venue]`).
pub const MARKET_DATA_VENUES: [&str; 4] = ["bybit", "okx", "kraken", "coinbase"];

/// One extra market-data venue (`[[market_data]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketDataConfig {
    /// Venue name: one of [`MARKET_DATA_VENUES`].
    pub venue: String,
    /// Websocket URL; absent: the venue's public endpoint (per `category` for Bybit).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// Bybit market category (`spot` or `linear`); Bybit only, default `spot`.
    #[serde(default)]
    pub category: Option<MarketCategory>,
    /// Instruments to subscribe, by canonical symbol.
    pub instruments: Vec<MarketDataInstrument>,
    /// Overrides `venue.stale_after_ms` for this connection.
    #[serde(default)]
    pub stale_after_ms: Option<u64>,
    /// Overrides `venue.reconnect_min_ms` for this connection.
    #[serde(default)]
    pub reconnect_min_ms: Option<u64>,
    /// Overrides `venue.reconnect_max_ms` for this connection.
    #[serde(default)]
    pub reconnect_max_ms: Option<u64>,
    /// Overrides `venue.max_session_s` for this connection (absent in both: the venue's own
    /// session limit, if it has one).
    #[serde(default)]
    pub max_session_s: Option<u64>,
    /// Overrides `venue.max_frame_bytes` for this connection.
    #[serde(default)]
    pub max_frame_bytes: Option<usize>,
    /// The venue's channels to subscribe to, by the venue's own names (see
    /// [`VENUE_CHANNELS`]); absent: the venue's default set.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
}

/// Per venue: every channel `channels` accepts (the venue's own names), and the ones among them
/// that carry an L2 book. At most one book channel per connection: two would feed the same
/// book (and OKX refuses `books-l2-tbt` next to `books`/`books50-l2-tbt`). Binance's are its
/// stream names without the `<symbol>@` (`[venue] channels`): diff depth `depth` (1000 ms) or
/// `depth@100ms`, partial depth `depth5/10/20` (1000 ms) or with `@100ms`.
pub const VENUE_CHANNELS: [(&str, &[&str], &[&str]); 5] = [
    (
        "binance",
        &[
            "trade",
            "aggTrade",
            "bookTicker",
            "depth",
            "depth@100ms",
            "depth5",
            "depth5@100ms",
            "depth10",
            "depth10@100ms",
            "depth20",
            "depth20@100ms",
        ],
        &[
            "depth",
            "depth@100ms",
            "depth5",
            "depth5@100ms",
            "depth10",
            "depth10@100ms",
            "depth20",
            "depth20@100ms",
        ],
    ),
    (
        "okx",
        &[
            "trades",
            "bbo-tbt",
            "tickers",
            "books",
            "books5",
            "books50-l2-tbt",
            "books-l2-tbt",
        ],
        &["books", "books5", "books50-l2-tbt", "books-l2-tbt"],
    ),
    (
        "bybit",
        &["publicTrade", "orderbook.1", "orderbook.50", "tickers"],
        &["orderbook.50"],
    ),
    ("kraken", &["trade", "ticker", "book"], &["book"]),
    (
        "coinbase",
        &["market_trades", "ticker", "level2"],
        &["level2"],
    ),
];

/// Checks a `channels` list for `venue`: not empty, every name one of the venue's (see
/// [`VENUE_CHANNELS`]), none twice, at most one book channel. The error says what is wrong.
pub fn check_channels(venue: &str, names: &[String]) -> Result<(), String> {
    let Some((_, all, books)) = VENUE_CHANNELS.iter().find(|(v, ..)| *v == venue) else {
        return Err(format!("{venue:?} has no selectable channels"));
    };
    if names.is_empty() {
        return Err("at least one channel is required".into());
    }
    for (i, name) in names.iter().enumerate() {
        if !all.contains(&name.as_str()) {
            return Err(format!(
                "unknown {venue} channel {name:?}; known: {}",
                all.join(", ")
            ));
        }
        if names[..i].contains(name) {
            return Err(format!("channel {name:?} is listed twice"));
        }
    }
    let chosen: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| books.contains(n))
        .collect();
    if chosen.len() > 1 {
        return Err(format!(
            "at most one book channel per venue ({} would feed the same book)",
            chosen.join(" and ")
        ));
    }
    Ok(())
}

/// Bybit's market category, which picks its public endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketCategory {
    /// Spot (`/v5/public/spot`).
    #[default]
    Spot,
    /// USDT/USDC perpetuals and futures (`/v5/public/linear`).
    Linear,
}

/// One instrument of a market-data venue.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketDataInstrument {
    /// Canonical symbol, `BASE-QUOTE` in upper case (e.g. `BTC-USDT`).
    pub symbol: String,
    /// The venue's own spelling when it is not the default mapping of `symbol` (e.g. OKX
    /// `BTC-USDT-SWAP`).
    #[serde(default)]
    pub venue_symbol: Option<String>,
    /// Price increment on this venue; absent: the `[[instruments]]` entry's. Required for
    /// Kraken (its book checksum is computed at the pair's price precision).
    #[serde(default, deserialize_with = "super::decimal::opt_string")]
    pub tick_size: Option<Decimal>,
    /// Quantity increment on this venue; absent: the `[[instruments]]` entry's. Required for
    /// Kraken (its book checksum is computed at the pair's quantity precision).
    #[serde(default, deserialize_with = "super::decimal::opt_string")]
    pub lot_size: Option<Decimal>,
}

/// The connection knobs of one market-data venue, `[venue]`'s where not overridden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedKnobs {
    /// Stale-feed watchdog interval.
    pub stale_after: Duration,
    /// First reconnect delay.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Scheduled replacement of the connection, if configured.
    pub max_session: Option<Duration>,
    /// Largest accepted frame, bytes.
    pub max_frame_bytes: usize,
}

impl MarketDataConfig {
    /// This venue's connection knobs: its overrides, else `[venue]`'s.
    pub fn knobs(&self, venue: &VenueConfig) -> FeedKnobs {
        FeedKnobs {
            stale_after: Duration::from_millis(self.stale_after_ms.unwrap_or(venue.stale_after_ms)),
            reconnect_min: Duration::from_millis(
                self.reconnect_min_ms.unwrap_or(venue.reconnect_min_ms),
            ),
            reconnect_max: Duration::from_millis(
                self.reconnect_max_ms.unwrap_or(venue.reconnect_max_ms),
            ),
            max_session: self
                .max_session_s
                .or(venue.max_session_s)
                .map(Duration::from_secs),
            max_frame_bytes: self.max_frame_bytes.unwrap_or(venue.max_frame_bytes),
        }
    }
}

/// A market-data instrument with its increments resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedInstrument {
    /// Canonical symbol.
    pub symbol: String,
    /// The venue's spelling, if overridden.
    pub venue_symbol: Option<String>,
    /// Price increment.
    pub tick_size: Decimal,
    /// Quantity increment.
    pub lot_size: Decimal,
}

impl MarketDataInstrument {
    /// The increments of this instrument: its own, else those of the `[[instruments]]` entry
    /// with the same symbol. `None` if neither has them (validation refuses that).
    pub fn resolve(&self, trading: &[InstrumentConfig]) -> Option<ResolvedInstrument> {
        let fallback = trading.iter().find(|t| t.symbol == self.symbol);
        Some(ResolvedInstrument {
            symbol: self.symbol.clone(),
            venue_symbol: self.venue_symbol.clone(),
            tick_size: self.tick_size.or(fallback.map(|t| t.tick_size))?,
            lot_size: self.lot_size.or(fallback.map(|t| t.lot_size))?,
        })
    }
}

/// True for `BASE-QUOTE` with both parts non-empty upper-case ASCII letters or digits.
fn is_canonical(symbol: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    matches!(symbol.split_once('-'), Some((b, q)) if ok(b) && ok(q))
}

/// Checks every `[[market_data]]` entry; the error is `(dotted field path, message)`.
pub(super) fn validate(
    entries: &[MarketDataConfig],
    venue_cfg: &VenueConfig,
    trading: &[InstrumentConfig],
) -> Result<(), (String, String)> {
    for (i, md) in entries.iter().enumerate() {
        let field = |f: &str| format!("market_data[{i}].{f}");
        let venue = md.venue.as_str();
        if venue.eq_ignore_ascii_case("binance") {
            return Err((
                field("venue"),
                "binance market data comes from [venue] (the trading venue); list only \
                 the other venues here"
                    .into(),
            ));
        }
        if !MARKET_DATA_VENUES.contains(&venue) {
            return Err((
                field("venue"),
                format!(
                    "unsupported market-data venue {venue:?}; supported: {}",
                    MARKET_DATA_VENUES.join(", ")
                ),
            ));
        }
        if let Some(j) = entries[..i].iter().position(|e| e.venue == md.venue) {
            return Err((
                field("venue"),
                format!("{venue:?} is already configured in market_data[{j}]"),
            ));
        }
        if let Some(url) = &md.ws_url {
            if !(url.starts_with("ws://") || url.starts_with("wss://")) || url.len() <= 6 {
                return Err((
                    field("ws_url"),
                    format!("{url:?} is not a ws:// or wss:// URL"),
                ));
            }
        }
        if md.category.is_some() && venue != "bybit" {
            return Err((field("category"), "only bybit has market categories".into()));
        }
        validate_knobs(md, venue_cfg, &field)?;
        if let Some(names) = &md.channels {
            check_channels(venue, names).map_err(|e| (field("channels"), e))?;
        }
        if md.instruments.is_empty() {
            return Err((
                field("instruments"),
                "at least one instrument is required".into(),
            ));
        }
        for (k, inst) in md.instruments.iter().enumerate() {
            let field = |f: &str| format!("market_data[{i}].instruments[{k}].{f}");
            if !is_canonical(&inst.symbol) {
                return Err((
                    field("symbol"),
                    format!(
                        "{:?} is not in upper-case BASE-QUOTE form (e.g. \"BTC-USDT\")",
                        inst.symbol
                    ),
                ));
            }
            if md.instruments[..k].iter().any(|x| x.symbol == inst.symbol) {
                return Err((
                    field("symbol"),
                    format!("{:?} is listed twice for {venue}", inst.symbol),
                ));
            }
            if let Some(s) = &inst.venue_symbol {
                if s.is_empty() || s.chars().any(char::is_whitespace) {
                    return Err((
                        field("venue_symbol"),
                        format!("{s:?} is not a venue symbol"),
                    ));
                }
            }
            for (name, v) in [("tick_size", inst.tick_size), ("lot_size", inst.lot_size)] {
                if v.is_some_and(|v| v <= Decimal::ZERO) {
                    return Err((field(name), "must be positive".into()));
                }
                if venue == "kraken" && v.is_none() {
                    return Err((
                        field(name),
                        "required for kraken: its book checksum uses the pair's precision \
                         (set Kraken's price_increment / qty_increment)"
                            .into(),
                    ));
                }
            }
            if inst.resolve(trading).is_none() {
                let missing = if inst.tick_size.is_none() {
                    "tick_size"
                } else {
                    "lot_size"
                };
                return Err((
                    field(missing),
                    format!(
                        "required: {:?} has no [[instruments]] entry to take it from",
                        inst.symbol
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The per-venue overrides of the `[venue]` feed knobs, checked as `[venue]`'s are.
fn validate_knobs(
    md: &MarketDataConfig,
    venue: &VenueConfig,
    field: &dyn Fn(&str) -> String,
) -> Result<(), (String, String)> {
    if md.stale_after_ms.is_some_and(|v| v < 100) {
        return Err((field("stale_after_ms"), "must be at least 100".into()));
    }
    if md.reconnect_min_ms == Some(0) {
        return Err((field("reconnect_min_ms"), "must be positive".into()));
    }
    let k = md.knobs(venue);
    if k.reconnect_min > k.reconnect_max {
        let which = if md.reconnect_min_ms.is_some() {
            "reconnect_min_ms"
        } else {
            "reconnect_max_ms"
        };
        return Err((
            field(which),
            format!(
                "reconnect_min_ms ({} ms) must be at most reconnect_max_ms ({} ms; [venue]'s \
                 unless overridden here)",
                k.reconnect_min.as_millis(),
                k.reconnect_max.as_millis()
            ),
        ));
    }
    if md.max_session_s == Some(0) {
        return Err((
            field("max_session_s"),
            "must be positive (leave it out for the venue's limit)".into(),
        ));
    }
    if md.max_frame_bytes.is_some_and(|v| v < 4096) {
        return Err((field("max_frame_bytes"), "must be at least 4096".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;
    use super::*;

    const BASE: &str = r#"
[sim]
enabled = true
[venue]
name = "binance"
ws_url = "wss://stream.binance.com:9443"
rest_url = "https://api.binance.com"
reconnect_max_ms = 10000
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
sim_start_price = "60000"
[risk]
max_order_notional = "1000"
max_position = "0.05"
[sink]
url = "sqlite://data/peregrine.db"
"#;

    const OKX: &str = r#"
[[market_data]]
venue = "okx"
ws_url = "ws://127.0.0.1:9000/ws"
stale_after_ms = 5000
instruments = [{ symbol = "BTC-USDT" }, { symbol = "ETH-USDT", venue_symbol = "ETH-USDT-SWAP", tick_size = "0.01", lot_size = "0.001" }]
[[market_data]]
venue = "bybit"
category = "linear"
instruments = [{ symbol = "BTC-USDT" }]
[[market_data]]
venue = "kraken"
instruments = [{ symbol = "BTC-USD", tick_size = "0.1", lot_size = "0.00000001" }]
"#;

    fn parse(extra: &str) -> Result<Config, String> {
        Config::parse(&format!("{BASE}{extra}"), Path::new("md.toml")).map_err(|e| e.to_string())
    }

    /// The error names `field` (the dotted path) and contains `what`.
    fn refused(extra: &str, field: &str, what: &str) {
        let err = parse(extra).expect_err("must be refused");
        assert!(
            err.contains(&format!("field `{field}`")) && err.contains(what),
            "expected `{field}` / {what:?} in: {err}"
        );
    }

    #[test]
    fn no_market_data_by_default() {
        let cfg = parse("").expect("valid");
        assert!(cfg.market_data.is_empty());
    }

    #[test]
    fn parses_every_key_and_resolves_defaults() {
        let cfg = parse(OKX).expect("valid");
        assert_eq!(cfg.market_data.len(), 3);
        let okx = &cfg.market_data[0];
        assert_eq!(okx.venue, "okx");
        assert_eq!(okx.ws_url.as_deref(), Some("ws://127.0.0.1:9000/ws"));
        assert_eq!(okx.category, None);
        let k = okx.knobs(&cfg.venue);
        assert_eq!(k.stale_after, Duration::from_secs(5));
        assert_eq!(k.reconnect_min, Duration::from_millis(250));
        assert_eq!(k.reconnect_max, Duration::from_secs(10));
        assert_eq!(k.max_session, None);
        assert_eq!(k.max_frame_bytes, 16 << 20);
        // The increments come from [[instruments]] unless given.
        let btc = okx.instruments[0]
            .resolve(&cfg.instruments)
            .expect("resolved");
        assert_eq!(
            (btc.tick_size.to_string(), btc.lot_size.to_string()),
            ("0.01".into(), "0.00001".into())
        );
        assert_eq!(btc.venue_symbol, None);
        let eth = okx.instruments[1]
            .resolve(&cfg.instruments)
            .expect("resolved");
        assert_eq!(eth.venue_symbol.as_deref(), Some("ETH-USDT-SWAP"));
        assert_eq!(eth.tick_size.to_string(), "0.01");
        assert_eq!(cfg.market_data[1].category, Some(MarketCategory::Linear));
        assert_eq!(cfg.market_data[1].ws_url, None);
        let kraken = cfg.market_data[2].instruments[0]
            .resolve(&cfg.instruments)
            .expect("resolved");
        assert_eq!(kraken.tick_size.to_string(), "0.1");
    }

    #[test]
    fn channels_are_the_venue_own_names_with_at_most_one_book() {
        let entry = |venue: &str, channels: &str| {
            format!(
                "[[market_data]]\nvenue = \"{venue}\"\nchannels = {channels}\ninstruments = [{{ symbol = \"BTC-USDT\" }}]\n"
            )
        };
        let cfg = parse(&entry("okx", r#"["trades", "books5", "tickers"]"#)).expect("valid");
        assert_eq!(
            cfg.market_data[0].channels.as_deref(),
            Some(&["trades".to_string(), "books5".into(), "tickers".into()][..])
        );
        assert!(parse(&entry("bybit", r#"["tickers", "orderbook.50"]"#)).is_ok());
        assert_eq!(parse(OKX).expect("valid").market_data[0].channels, None);
        let f = "market_data[0].channels";
        refused(&entry("okx", "[]"), f, "at least one channel");
        refused(
            &entry("okx", r#"["books", "candle1m"]"#),
            f,
            "unknown okx channel \"candle1m\"",
        );
        refused(&entry("okx", r#"["trades", "trades"]"#), f, "listed twice");
        refused(
            &entry("okx", r#"["books-l2-tbt", "books5"]"#),
            f,
            "books-l2-tbt and books5 would feed the same book",
        );
        // Each venue's names only: Bybit's topic prefix is not an OKX channel.
        refused(
            &entry("okx", r#"["publicTrade"]"#),
            f,
            "unknown okx channel",
        );
        for (venue, all, books) in VENUE_CHANNELS {
            assert!(books.iter().all(|b| all.contains(b)), "{venue}");
            let names: Vec<String> = all.iter().map(|s| s.to_string()).collect();
            assert!(check_channels(venue, &names[..1]).is_ok(), "{venue}");
        }
    }

    #[test]
    fn every_bad_entry_names_its_field() {
        let entry = |body: &str| format!("[[market_data]]\n{body}\n");
        refused(
            &entry("venue = \"ftx\"\ninstruments = [{ symbol = \"BTC-USDT\" }]"),
            "market_data[0].venue",
            "supported: bybit, okx, kraken, coinbase",
        );
        refused(
            &entry("venue = \"binance\"\ninstruments = [{ symbol = \"BTC-USDT\" }]"),
            "market_data[0].venue",
            "[venue]",
        );
        refused(
            &format!(
                "{}{}",
                entry("venue = \"okx\"\ninstruments = [{ symbol = \"BTC-USDT\" }]"),
                entry("venue = \"okx\"\ninstruments = [{ symbol = \"ETH-USDT\", tick_size = \"1\", lot_size = \"1\" }]")
            ),
            "market_data[1].venue",
            "already configured in market_data[0]",
        );
        refused(
            &entry("venue = \"okx\"\nws_url = \"http://127.0.0.1:1\"\ninstruments = [{ symbol = \"BTC-USDT\" }]"),
            "market_data[0].ws_url",
            "not a ws://",
        );
        refused(
            &entry(
                "venue = \"okx\"\ncategory = \"linear\"\ninstruments = [{ symbol = \"BTC-USDT\" }]",
            ),
            "market_data[0].category",
            "only bybit",
        );
        refused(
            &entry("venue = \"okx\"\ninstruments = []"),
            "market_data[0].instruments",
            "at least one",
        );
        refused(
            &entry("venue = \"okx\"\ninstruments = [{ symbol = \"btc-usdt\" }]"),
            "market_data[0].instruments[0].symbol",
            "BASE-QUOTE",
        );
        refused(
            &entry("venue = \"okx\"\ninstruments = [{ symbol = \"BTCUSDT\" }]"),
            "market_data[0].instruments[0].symbol",
            "BASE-QUOTE",
        );
        refused(
            &entry("venue = \"okx\"\ninstruments = [{ symbol = \"BTC-USDT\" }, { symbol = \"BTC-USDT\" }]"),
            "market_data[0].instruments[1].symbol",
            "listed twice",
        );
        refused(
            &entry(
                "venue = \"okx\"\ninstruments = [{ symbol = \"BTC-USDT\", venue_symbol = \"\" }]",
            ),
            "market_data[0].instruments[0].venue_symbol",
            "not a venue symbol",
        );
        refused(
            &entry("venue = \"okx\"\ninstruments = [{ symbol = \"BTC-USDT\", tick_size = \"0\" }]"),
            "market_data[0].instruments[0].tick_size",
            "positive",
        );
        refused(
            &entry(
                "venue = \"okx\"\ninstruments = [{ symbol = \"ETH-USDT\", tick_size = \"0.01\" }]",
            ),
            "market_data[0].instruments[0].lot_size",
            "no [[instruments]] entry",
        );
        refused(
            &entry("venue = \"coinbase\"\ninstruments = [{ symbol = \"ETH-USD\" }]"),
            "market_data[0].instruments[0].tick_size",
            "no [[instruments]] entry",
        );
        refused(
            &entry("venue = \"kraken\"\ninstruments = [{ symbol = \"BTC-USDT\", tick_size = \"0.1\" }]"),
            "market_data[0].instruments[0].lot_size",
            "required for kraken",
        );
        for (knob, what) in [
            ("stale_after_ms = 10", "at least 100"),
            ("reconnect_min_ms = 0", "positive"),
            ("reconnect_min_ms = 20000", "at most reconnect_max_ms"),
            ("max_session_s = 0", "positive"),
            ("max_frame_bytes = 100", "at least 4096"),
        ] {
            let name = knob.split(' ').next().unwrap_or_default();
            refused(
                &entry(&format!(
                    "venue = \"okx\"\n{knob}\ninstruments = [{{ symbol = \"BTC-USDT\" }}]"
                )),
                &format!("market_data[0].{name}"),
                what,
            );
        }
        // A bigger reconnect_max_ms here makes a bigger reconnect_min_ms acceptable.
        parse(&entry(
            "venue = \"okx\"\nreconnect_min_ms = 20000\nreconnect_max_ms = 60000\ninstruments = [{ symbol = \"BTC-USDT\" }]",
        ))
        .expect("valid");
    }

    #[test]
    fn schema_errors_name_the_key() {
        for (body, what) in [
            ("venue = \"bybit\"\ncategory = \"inverse\"\ninstruments = [{ symbol = \"BTC-USDT\" }]", "inverse"),
            ("venue = \"okx\"\nurl = \"ws://127.0.0.1:1\"\ninstruments = [{ symbol = \"BTC-USDT\" }]", "url"),
            ("venue = \"okx\"\ninstruments = [{ symbol = \"BTC-USDT\", precision = 2 }]", "precision"),
            ("venue = \"okx\"", "instruments"),
        ] {
            let err = parse(&format!("[[market_data]]\n{body}\n")).expect_err(body);
            assert!(err.contains(what) && err.contains("line"), "{err}");
        }
    }

    #[test]
    fn trading_venue_error_lists_the_market_data_venues() {
        let err = Config::parse(
            &BASE.replace("name = \"binance\"", "name = \"okx\""),
            Path::new("md.toml"),
        )
        .expect_err("okx cannot trade")
        .to_string();
        assert!(
            err.contains("venue.name") && err.contains("[[market_data]]") && err.contains("okx"),
            "{err}"
        );
    }
}
