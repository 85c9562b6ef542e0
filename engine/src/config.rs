//! The TOML configuration: one file describes venue, instruments, strategies, risk and sink.
//!
//! Relative paths in the file (strategy files, the SQLite database, the kill-switch file) are
//! relative to the working directory the engine is started from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

pub mod bus;
mod decimal;
mod limits;
mod locate;
pub mod market_data;

use locate::Locator;

pub use market_data::{MarketCategory, MarketDataConfig, MarketDataInstrument};

/// Errors loading or validating a configuration file. Every message names the file and,
/// where one applies, the field or line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema (the message has line/column).
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line, column and field.
        message: String,
    },
    /// A value is of the wrong type or not acceptable.
    #[error("invalid config file {path}{}: field `{field}`: {message}", at_line(*line))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted path of the offending field.
        field: String,
        /// 1-based line of the field (or of its nearest enclosing key) in the file.
        line: Option<usize>,
        /// What is wrong with it.
        message: String,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Core loop settings.
    #[serde(default)]
    pub engine: EngineConfig,
    /// The built-in simulator; when enabled, the venue's URLs point at it.
    #[serde(default)]
    pub sim: SimSection,
    /// The venue to connect to.
    pub venue: VenueConfig,
    /// Instruments to trade (canonical `BASE-QUOTE` symbols).
    pub instruments: Vec<InstrumentConfig>,
    /// Extra market-data venues (`[[market_data]]`): their ticks reach the core, orders never
    /// go there. Empty by default.
    #[serde(default)]
    pub market_data: Vec<MarketDataConfig>,
    /// Strategies to run.
    #[serde(default)]
    pub strategies: Vec<StrategyConfig>,
    /// Risk limits.
    pub risk: RiskConfig,
    /// Persistence.
    pub sink: SinkSection,
    /// Latency knobs: topology, wait policy, CPU pinning, latency windows.
    #[serde(default)]
    pub tuning: TuningSection,
    /// The Prometheus `/metrics` and `/health` endpoint.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// The NATS market-data bus (`[bus]`): `peregrine feed` publishes to it, `peregrine run`
    /// consumes it with `consume = true`.
    #[serde(default)]
    pub bus: bus::BusSection,
}

/// Core loop settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Capacity of the lock-free market-data queue (ticks); a full queue is counted.
    #[serde(default = "default_queue_capacity")]
    pub tick_queue_capacity: usize,
    /// Cancel our open orders when the engine stops.
    #[serde(default = "default_true")]
    pub cancel_on_stop: bool,
    /// How long to wait at stop for in-flight orders to reach a final state, in ms.
    #[serde(default = "default_drain_ms")]
    pub drain_timeout_ms: u64,
    /// Interval of the progress log line, in seconds (0 = off).
    #[serde(default = "default_progress_s")]
    pub progress_interval_s: u64,
    /// File holding the run sequence, the persisted half of every run's identity (see
    /// [`crate::run_id`]); engines on one machine trading one account should share it.
    #[serde(default = "default_run_sequence_file")]
    pub run_sequence_file: PathBuf,
    /// Interval of the `equity_snapshots` rows (realized, unrealized, fees, mark and equity
    /// per strategy and for the account), in seconds (0 = off; otherwise one more at the
    /// stop).
    #[serde(default = "default_equity_snapshot_s")]
    pub equity_snapshot_interval_s: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            tick_queue_capacity: default_queue_capacity(),
            cancel_on_stop: true,
            drain_timeout_ms: default_drain_ms(),
            progress_interval_s: default_progress_s(),
            run_sequence_file: default_run_sequence_file(),
            equity_snapshot_interval_s: default_equity_snapshot_s(),
        }
    }
}

fn default_equity_snapshot_s() -> u64 {
    10
}

fn default_run_sequence_file() -> PathBuf {
    PathBuf::from("data/run-sequence")
}

fn default_queue_capacity() -> usize {
    65_536
}
fn default_true() -> bool {
    true
}
fn default_drain_ms() -> u64 {
    5_000
}
fn default_progress_s() -> u64 {
    5
}

/// The built-in exchange simulator.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSection {
    /// Start the simulator in-process and point the venue at it.
    #[serde(default)]
    pub enabled: bool,
    /// Port on 127.0.0.1 (0 = any free port).
    #[serde(default)]
    pub port: u16,
    /// Seed of the synthetic market.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Market step interval in ms.
    #[serde(default = "default_md_interval")]
    pub md_interval_ms: u64,
    /// `[sim.market]`: the synthetic market's knobs (`daily_vol`, `drift_per_day`,
    /// `jumps_per_day`, `jump_vol`, `turbulent_share`, `turbulent_vol_ratio`,
    /// `turbulent_minutes`, `seasonality`, `peak_hour_utc`, `takers_per_s`; floats), read
    /// into `exchanges::sim::MarketParams` (which checks them) when the simulator starts.
    /// Empty: the BTC-like defaults.
    #[serde(default)]
    pub market: toml::Table,
}

impl Default for SimSection {
    fn default() -> Self {
        Self {
            enabled: false,
            port: 0,
            seed: default_seed(),
            md_interval_ms: default_md_interval(),
            market: toml::Table::new(),
        }
    }
}

fn default_seed() -> u64 {
    42
}
fn default_md_interval() -> u64 {
    10
}

/// The venue connection.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// Venue name; only `binance` in this version.
    pub name: String,
    /// Websocket base URL (`wss://stream.binance.com:9443`); ignored when the simulator is on.
    pub ws_url: String,
    /// REST base URL (`https://api.binance.com`); ignored when the simulator is on.
    pub rest_url: String,
    /// Name of the environment variable holding the API key.
    #[serde(default = "default_key_env")]
    pub api_key_env: String,
    /// Name of the environment variable holding the API secret (HMAC keys).
    #[serde(default = "default_secret_env")]
    pub api_secret_env: String,
    /// The API key type: `hmac` (secret from `api_secret_env`) or `ed25519` (PKCS#8 PEM
    /// private key from `api_private_key_env`; Binance's recommended type).
    #[serde(default)]
    pub key_type: KeyTypeConfig,
    /// Name of the environment variable holding the Ed25519 private key (PEM).
    #[serde(default = "default_private_key_env")]
    pub api_private_key_env: String,
    /// How orders are sent: `ws_api` (the WebSocket API, REST as fallback while it is down;
    /// the default) or `rest`. User data always comes over the WebSocket API.
    #[serde(default)]
    pub order_transport: OrderTransportConfig,
    /// WebSocket API URL; ignored when the simulator is on.
    #[serde(default = "default_ws_api_url")]
    pub ws_api_url: String,
    /// `recvWindow` sent with signed requests, in ms (Binance allows up to 60000).
    #[serde(default = "default_recv_window")]
    pub recv_window_ms: u64,
    /// Market-data stale-feed watchdog: no frame for this long marks the feed stale and
    /// reconnects, in ms.
    #[serde(default = "default_stale_after")]
    pub stale_after_ms: u64,
    /// First market-data reconnect delay in ms; doubles (with jitter) up to `reconnect_max_ms`.
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_ms: u64,
    /// Longest market-data reconnect delay, in ms.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    /// Replace the market-data connection after this many seconds; absent: 5 % before the
    /// venue's own cut (Binance: 24 h).
    #[serde(default)]
    pub max_session_s: Option<u64>,
    /// Largest accepted market-data websocket frame, in bytes; a bigger one is an error and a
    /// reconnect.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: usize,
    /// Label of the venue account these keys trade, under which the venue trade-history
    /// checkpoints are kept in the database (one per venue, account and symbol). Give each
    /// account its own label when several share one database. Never a key.
    #[serde(default = "default_account")]
    pub account: String,
    /// What the start (and every reconciliation) does with an order of an earlier run of
    /// this engine found at the venue: `adopt` (track it, bring its fills and state up to
    /// date) or `cancel` (adopt it, then cancel it at once).
    #[serde(default)]
    pub on_start_earlier_orders: EarlierOrders,
    /// What it does with an open order this engine never placed (a client order id that is
    /// not ours): `report` (a risk event, the order is left alone) or `cancel` (a risk event,
    /// and the order is cancelled).
    #[serde(default)]
    pub foreign_orders: ForeignOrders,
    /// The market streams subscribed per instrument, by Binance's stream names without the
    /// `<symbol>@` (see [`market_data::VENUE_CHANNELS`]): `trade`, `aggTrade`, `bookTicker`,
    /// one book stream (`depth`, `depth@100ms`, or partial depth `depth5/10/20[@100ms]`).
    /// Absent: `trade`, `bookTicker`, `depth@100ms`.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
}

/// `[venue] on_start_earlier_orders`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EarlierOrders {
    /// Track them and bring them up to date (the default).
    #[default]
    Adopt,
    /// Adopt them, then cancel the open ones.
    Cancel,
}

/// `[venue] foreign_orders`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForeignOrders {
    /// Record a risk event and leave the order alone (the default).
    #[default]
    Report,
    /// Record a risk event and cancel the order.
    Cancel,
}

fn default_account() -> String {
    "default".into()
}

impl VenueConfig {
    /// [`VenueConfig::stale_after_ms`] as a duration.
    pub fn stale_after(&self) -> Duration {
        Duration::from_millis(self.stale_after_ms)
    }

    /// [`VenueConfig::reconnect_min_ms`] and [`VenueConfig::reconnect_max_ms`] as durations.
    pub fn reconnect_range(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.reconnect_min_ms),
            Duration::from_millis(self.reconnect_max_ms),
        )
    }

    /// [`VenueConfig::max_session_s`] as a duration.
    pub fn max_session(&self) -> Option<Duration> {
        self.max_session_s.map(Duration::from_secs)
    }
}

fn default_stale_after() -> u64 {
    30_000
}
fn default_reconnect_min() -> u64 {
    250
}
fn default_reconnect_max() -> u64 {
    30_000
}
fn default_max_frame_bytes() -> usize {
    16 << 20
}

/// `[venue] key_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyTypeConfig {
    /// HMAC-SHA256 secret.
    #[default]
    Hmac,
    /// Ed25519 private key.
    Ed25519,
}

/// `[venue] order_transport`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderTransportConfig {
    /// The WebSocket API (`order.place`, `order.cancel`, `order.status`).
    #[default]
    WsApi,
    /// REST (`/api/v3/order`).
    Rest,
}

fn default_private_key_env() -> String {
    "PEREGRINE_API_PRIVATE_KEY".into()
}
fn default_ws_api_url() -> String {
    "wss://ws-api.binance.com:443/ws-api/v3".into()
}
fn default_key_env() -> String {
    "PEREGRINE_API_KEY".into()
}
fn default_secret_env() -> String {
    "PEREGRINE_API_SECRET".into()
}
fn default_recv_window() -> u64 {
    5_000
}

/// One instrument.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// Canonical symbol, `BASE-QUOTE`.
    pub symbol: String,
    /// Minimum price increment.
    #[serde(deserialize_with = "decimal::string")]
    pub tick_size: Decimal,
    /// Minimum quantity increment.
    #[serde(deserialize_with = "decimal::string")]
    pub lot_size: Decimal,
    /// Starting price of the simulator's synthetic market for this instrument.
    #[serde(default, deserialize_with = "decimal::opt_string")]
    pub sim_start_price: Option<Decimal>,
}

/// One strategy instance.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// Unique name (stored with its orders, fills and positions).
    pub name: String,
    /// Path of the `.rhai` file.
    pub file: PathBuf,
    /// Symbols it trades; the first is its default instrument.
    pub instruments: Vec<String>,
    /// Parameters, read from the script with `param(name)`. Write money as strings
    /// (`qty = "0.001"`): strings that are decimals reach the script as exact decimals.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// Bar timeframes delivered to `on_bar`, e.g. `["1m", "5s"]` (empty: no bars).
    #[serde(default)]
    pub bars: Vec<String>,
    /// Watch the file and swap in a new version when it changes (see `strategies/README.md`).
    #[serde(default)]
    pub hot_reload: bool,
}

/// Risk limits applied to every order before it leaves.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Largest notional (price x qty, quote currency) of a single order.
    #[serde(deserialize_with = "decimal::string")]
    pub max_order_notional: Decimal,
    /// Largest absolute position per instrument (base units), counting open orders.
    #[serde(deserialize_with = "decimal::string")]
    pub max_position: Decimal,
    /// Start with the kill switch on (every new order refused).
    #[serde(default)]
    pub kill_switch: bool,
    /// While this file exists the kill switch is on (checked about every 100 ms).
    #[serde(default)]
    pub kill_switch_file: Option<PathBuf>,
    /// Largest quantity of a single order (base units).
    #[serde(default, deserialize_with = "decimal::opt_string")]
    pub max_order_qty: Option<Decimal>,
    /// Largest gross exposure of the account (|positions| + working orders, quote currency).
    #[serde(default, deserialize_with = "decimal::opt_string")]
    pub max_gross_exposure: Option<Decimal>,
    /// Largest number of working orders on the account.
    #[serde(default)]
    pub max_open_orders: Option<usize>,
    /// Fat-finger guard: largest distance of a limit price from the reference price, bps.
    #[serde(default)]
    pub price_band_bps: Option<u32>,
    /// Refuse orders when an instrument's last market-data tick is older than this, ms.
    #[serde(default)]
    pub max_tick_age_ms: Option<u64>,
    /// Refuse an order identical to the last approved one on the instrument within this, ms.
    #[serde(default)]
    pub duplicate_window_ms: Option<u64>,
    /// Refuse orders that would cross one of our own resting orders.
    #[serde(default)]
    pub self_trade_prevention: bool,
    /// The account's request-weight budget per minute, shared by every strategy (0 = off).
    #[serde(default = "default_weight_per_minute")]
    pub request_weight_per_minute: u64,
    /// The account's order budget per 10 seconds, shared by every strategy (0 = off).
    #[serde(default = "default_orders_per_10s")]
    pub orders_per_10s: u64,
    /// Largest loss of the UTC day (realized + unrealized, net of fees, quote currency)
    /// before the kill switch trips.
    #[serde(default, deserialize_with = "decimal::opt_string")]
    pub daily_loss_limit: Option<Decimal>,
    /// Largest fall of equity from the day's peak before the kill switch trips.
    #[serde(default, deserialize_with = "decimal::opt_string")]
    pub max_drawdown: Option<Decimal>,
    /// When the kill switch trips, also close every position with market orders.
    #[serde(default)]
    pub flatten_on_kill: bool,
    /// Per-instrument overrides, keyed by canonical symbol.
    #[serde(default)]
    pub instruments: BTreeMap<String, InstrumentRiskConfig>,
    /// Seconds between reconciliations with the venue (also run at start and after every
    /// user-stream reconnect).
    #[serde(default = "default_reconcile_interval_s")]
    pub reconcile_interval_s: u64,
    /// Venue clock offset beyond which a `clock_skew` risk event is raised, ms (the offset is
    /// measured every minute and applied to signed requests either way).
    #[serde(default = "default_clock_skew_alarm_ms")]
    pub clock_skew_alarm_ms: i64,
}

fn default_reconcile_interval_s() -> u64 {
    60
}

fn default_clock_skew_alarm_ms() -> i64 {
    500
}

/// Per-instrument risk overrides (`[risk.instruments."BTC-USDT"]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentRiskConfig {
    /// Overrides `risk.max_order_notional`.
    #[serde(default, deserialize_with = "decimal::opt_string")]
    pub max_order_notional: Option<Decimal>,
    /// Overrides `risk.max_order_qty`.
    #[serde(default, deserialize_with = "decimal::opt_string")]
    pub max_order_qty: Option<Decimal>,
    /// Overrides `risk.max_position`.
    #[serde(default, deserialize_with = "decimal::opt_string")]
    pub max_position: Option<Decimal>,
}

fn default_weight_per_minute() -> u64 {
    6000
}

fn default_orders_per_10s() -> u64 {
    100
}

/// Persistence settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    /// Database URL: `sqlite://data/peregrine.db` (created if missing) or `postgres://…`
    /// (Supabase). `DATABASE_URL` in the environment overrides it for `peregrine run`.
    pub url: String,
    /// Rows per batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Oldest pending row age that forces a flush, in ms.
    #[serde(default = "default_batch_age")]
    pub batch_age_ms: u64,
    /// Directory of the durable spool (events wait there until the database committed
    /// them). One engine per directory.
    #[serde(default = "default_spool_dir")]
    pub spool_dir: PathBuf,
    /// When the spool forces appends to disk: `batch` (after every burst), `interval`
    /// (every `fsync_interval_ms`) or `never` (left to the OS; a process crash still loses
    /// nothing, a power loss may).
    #[serde(default)]
    pub fsync: FsyncMode,
    /// Interval for `fsync = "interval"`, in ms.
    #[serde(default = "default_fsync_interval")]
    pub fsync_interval_ms: u64,
    /// Engage the kill switch while the database cannot be written (default false: keep
    /// trading, events are spooled).
    #[serde(default)]
    pub halt_on_db_down: bool,
    /// Owner of the rows written to PostgreSQL (`auth.users.id`). The environment variable
    /// `PEREGRINE_USER_ID` overrides it.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Backstop poll of `global_settings.kill_switch` (PostgreSQL only), in seconds; the
    /// switch is normally followed by LISTEN/NOTIFY.
    #[serde(default = "default_kill_poll")]
    pub kill_switch_poll_s: u64,
}

/// Spool fsync policy as written in the config file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncMode {
    /// After every burst of appended events.
    #[default]
    Batch,
    /// At most every `fsync_interval_ms`.
    Interval,
    /// Never (left to the OS).
    Never,
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from("data/spool")
}
fn default_fsync_interval() -> u64 {
    100
}
fn default_kill_poll() -> u64 {
    5
}

fn default_batch_size() -> usize {
    500
}
fn default_batch_age() -> u64 {
    50
}

impl SinkSection {
    /// The batch age as a duration.
    pub fn batch_age(&self) -> Duration {
        Duration::from_millis(self.batch_age_ms)
    }

    /// The spool settings.
    pub fn spool(&self) -> crate::sink::SpoolConfig {
        let fsync = match self.fsync {
            FsyncMode::Batch => crate::sink::FsyncPolicy::EveryBatch,
            FsyncMode::Interval => {
                crate::sink::FsyncPolicy::Interval(Duration::from_millis(self.fsync_interval_ms))
            }
            FsyncMode::Never => crate::sink::FsyncPolicy::Never,
        };
        crate::sink::SpoolConfig {
            fsync,
            ..crate::sink::SpoolConfig::new(&self.spool_dir)
        }
    }
}

/// Latency knobs (`[tuning]`); every key is documented in `config/default.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningSection {
    /// `pipelined` (feed thread -> queue -> core thread) or `inline` (core on the feed thread).
    #[serde(default)]
    pub topology: crate::tuning::Topology,
    /// Core wait policy: `spin`, `spin_then_park` or `park`.
    #[serde(default)]
    pub wait_policy: crate::tuning::WaitPolicy,
    /// Spin budget before parking, microseconds (`spin_then_park`).
    #[serde(default = "crate::tuning::default_spin_us")]
    pub spin_us: u64,
    /// Pin the core thread to this CPU (unset = let the OS place it).
    #[serde(default)]
    pub core_cpu: Option<usize>,
    /// Pin the I/O runtime's threads (feed, gateway, user stream) to this CPU.
    #[serde(default)]
    pub io_cpu: Option<usize>,
    /// Latency window for the log line and `latency_stats` rows, seconds (0 = one at the end).
    #[serde(default = "crate::tuning::default_latency_window_s")]
    pub latency_window_s: u64,
}

impl Default for TuningSection {
    fn default() -> Self {
        Self {
            topology: Default::default(),
            wait_policy: Default::default(),
            spin_us: crate::tuning::default_spin_us(),
            core_cpu: None,
            io_cpu: None,
            latency_window_s: crate::tuning::default_latency_window_s(),
        }
    }
}

/// The metrics endpoint (`[metrics]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve `/metrics` and `/health`.
    #[serde(default)]
    pub enabled: bool,
    /// Listen address; keep it on 127.0.0.1 unless a firewall guards the port (port 0 = any).
    #[serde(default = "default_metrics_listen")]
    pub listen: std::net::SocketAddr,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: default_metrics_listen(),
        }
    }
}

fn default_metrics_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 9187))
}

impl Config {
    /// Reads, parses and validates a config file, including each strategy's parameters
    /// against the `param()` calls of its script (read from disk).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg = Self::parse(&text, path)?;
        cfg.check_strategy_params(path, &Locator::new(&text))?;
        Ok(cfg)
    }

    /// Parses and validates config text; `path` is only used in error messages. Strategy
    /// scripts are not read (see [`Config::load`]).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let loc = Locator::new(text);
        let cfg: Config = toml::from_str(text).map_err(|e| {
            // A type error inside a value names the key and its line; syntax errors keep
            // the parser's own message (with line and column).
            match e.span().and_then(|sp| loc.key_at(sp.start)) {
                Some((field, line)) => ConfigError::Invalid {
                    path: path.to_path_buf(),
                    field: field.to_string(),
                    line: Some(line),
                    message: e.message().to_string(),
                },
                None => ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string().trim_end().to_string(),
                },
            }
        })?;
        cfg.validate(path, &loc)?;
        Ok(cfg)
    }

    /// Each strategy's `params` against what its script reads ([`crate::strategy::params`]).
    fn check_strategy_params(&self, path: &Path, loc: &Locator) -> Result<(), ConfigError> {
        for (i, s) in self.strategies.iter().enumerate() {
            let invalid = |field: String, message: String| ConfigError::Invalid {
                path: path.to_path_buf(),
                line: loc.line_of(&field),
                field,
                message,
            };
            let source = std::fs::read_to_string(&s.file).map_err(|e| {
                invalid(
                    format!("strategies[{i}].file"),
                    format!("cannot read {}: {e}", s.file.display()),
                )
            })?;
            let script = crate::strategy::params::script_params(&s.file, &source)
                .map_err(|e| invalid(format!("strategies[{i}].file"), e.to_string()))?;
            if let Some(p) = crate::strategy::params::check(&s.params, &script)
                .into_iter()
                .next()
            {
                let field = if p.missing {
                    format!("strategies[{i}].params")
                } else {
                    format!("strategies[{i}].params.{}", p.key)
                };
                return Err(invalid(
                    field,
                    format!("strategy {:?}: {}", s.name, p.message),
                ));
            }
        }
        Ok(())
    }

    fn validate(&self, path: &Path, loc: &Locator) -> Result<(), ConfigError> {
        let invalid = |field: String, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: loc.line_of(&field),
            field,
            message,
        };
        limits::validate(self).map_err(|(field, message)| invalid(field, message))?;
        bus::validate(&self.bus).map_err(|(field, message)| invalid(field, message))?;
        if self.venue.name != "binance" {
            return Err(invalid(
                "venue.name".into(),
                format!(
                    "unsupported trading venue {:?}; supported: \"binance\" (other venues \
                     can feed market data through [[market_data]]: {})",
                    self.venue.name,
                    market_data::MARKET_DATA_VENUES.join(", ")
                ),
            ));
        }
        if let Some(names) = &self.venue.channels {
            market_data::check_channels("binance", names)
                .map_err(|e| invalid("venue.channels".into(), e))?;
        }
        if self.venue.recv_window_ms == 0 || self.venue.recv_window_ms > 60_000 {
            return Err(invalid(
                "venue.recv_window_ms".into(),
                "must be in 1..=60000".into(),
            ));
        }
        if self.venue.stale_after_ms < 100 {
            return Err(invalid(
                "venue.stale_after_ms".into(),
                "must be at least 100".into(),
            ));
        }
        if self.venue.reconnect_min_ms == 0
            || self.venue.reconnect_min_ms > self.venue.reconnect_max_ms
        {
            return Err(invalid(
                "venue.reconnect_min_ms".into(),
                "must be positive and at most venue.reconnect_max_ms".into(),
            ));
        }
        if self.venue.max_session_s == Some(0) {
            return Err(invalid(
                "venue.max_session_s".into(),
                "must be positive (leave it out for the venue's limit)".into(),
            ));
        }
        if self.venue.max_frame_bytes < 4096 {
            return Err(invalid(
                "venue.max_frame_bytes".into(),
                "must be at least 4096".into(),
            ));
        }
        if self.instruments.is_empty() {
            return Err(invalid(
                "instruments".into(),
                "at least one [[instruments]] is required".into(),
            ));
        }
        for (i, inst) in self.instruments.iter().enumerate() {
            let field = |f: &str| format!("instruments[{i}].{f}");
            match inst.symbol.split_once('-') {
                Some((b, q)) if !b.is_empty() && !q.is_empty() => {}
                _ => {
                    return Err(invalid(
                        field("symbol"),
                        format!(
                            "{:?} is not in BASE-QUOTE form (e.g. \"BTC-USDT\")",
                            inst.symbol
                        ),
                    ))
                }
            }
            if inst.tick_size <= Decimal::ZERO {
                return Err(invalid(field("tick_size"), "must be positive".into()));
            }
            if inst.lot_size <= Decimal::ZERO {
                return Err(invalid(field("lot_size"), "must be positive".into()));
            }
            if self.sim.enabled && inst.sim_start_price.is_none_or(|p| p <= Decimal::ZERO) {
                return Err(invalid(
                    field("sim_start_price"),
                    "a positive start price is required when [sim] is enabled".into(),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.strategies.iter().enumerate() {
            if !names.insert(&s.name) {
                return Err(invalid(
                    format!("strategies[{i}].name"),
                    format!("duplicate strategy name {:?}", s.name),
                ));
            }
            if s.instruments.is_empty() {
                return Err(invalid(
                    format!("strategies[{i}].instruments"),
                    "at least one symbol is required".into(),
                ));
            }
            for sym in &s.instruments {
                let known = match sym.split_once(':') {
                    // `venue:SYMBOL`: an instrument of a [[market_data]] venue (market data
                    // only: orders go to the trading venue).
                    Some((venue, symbol)) => self.market_data.iter().any(|m| {
                        m.venue == venue && m.instruments.iter().any(|x| x.symbol == symbol)
                    }),
                    None => self.instruments.iter().any(|x| &x.symbol == sym),
                };
                if !known {
                    return Err(invalid(
                        format!("strategies[{i}].instruments"),
                        format!(
                            "{sym:?} is not listed in [[instruments]] (or, as venue:SYMBOL, in \
                             a [[market_data]] venue's instruments)"
                        ),
                    ));
                }
            }
        }
        if self.risk.max_order_notional <= Decimal::ZERO {
            return Err(invalid(
                "risk.max_order_notional".into(),
                "must be positive".into(),
            ));
        }
        for sym in self.risk.instruments.keys() {
            if !self.instruments.iter().any(|x| &x.symbol == sym) {
                return Err(invalid(
                    format!("risk.instruments.{sym}"),
                    "is not listed in [[instruments]]".into(),
                ));
            }
        }
        market_data::validate(&self.market_data, &self.venue, &self.instruments)
            .map_err(|(field, message)| invalid(field, message))?;
        if self.sink.batch_size == 0 {
            return Err(invalid(
                "sink.batch_size".into(),
                "must be at least 1".into(),
            ));
        }
        if !self.sink.url.starts_with("sqlite:")
            && !crate::sink::pg::is_postgres_url(&self.sink.url)
        {
            return Err(invalid(
                "sink.url".into(),
                "only sqlite: and postgres:// URLs are supported".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[sim]
enabled = true
[venue]
name = "binance"
ws_url = "wss://stream.binance.com:9443"
rest_url = "https://api.binance.com"
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
sim_start_price = "60000"
[[strategies]]
name = "x"
file = "strategies/ema_cross.rhai"
instruments = ["BTC-USDT"]
params = { qty = "0.001", fast = 8 }
[risk]
max_order_notional = "1000"
max_position = "0.05"
[sink]
url = "sqlite://data/peregrine.db"
"#;

    #[test]
    fn parses_a_good_file_exactly() {
        let cfg = Config::parse(GOOD, Path::new("good.toml")).expect("valid");
        assert_eq!(cfg.instruments[0].tick_size.to_string(), "0.01");
        assert_eq!(cfg.risk.max_position.to_string(), "0.05");
        assert_eq!(cfg.sink.batch_size, 500);
        assert!(cfg.engine.cancel_on_stop);
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let bad = GOOD.replace("name = \"x\"", "name = x");
        let err = Config::parse(&bad, Path::new("bad.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.toml") && err.contains("line"), "{err}");
    }

    #[test]
    fn unknown_field_is_refused() {
        let bad = GOOD.replace("max_position", "max_positon");
        let err = Config::parse(&bad, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_positon"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_field() {
        let bad = GOOD.replace("symbol = \"BTC-USDT\"", "symbol = \"BTCUSDT\"");
        let err = Config::parse(&bad, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("instruments[0].symbol"), "{err}");
        let bad = GOOD.replace(
            "instruments = [\"BTC-USDT\"]",
            "instruments = [\"ETH-USDT\"]",
        );
        let err = Config::parse(&bad, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("strategies[0].instruments"), "{err}");
        let bad = GOOD.replace(
            "max_order_notional = \"1000\"",
            "max_order_notional = \"-1\"",
        );
        let err = Config::parse(&bad, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("risk.max_order_notional"), "{err}");
    }

    #[test]
    fn a_strategy_may_list_market_data_instruments_as_venue_symbol() {
        let with_okx = format!(
            "{GOOD}\n[[market_data]]\nvenue = \"okx\"\ninstruments = [{{ symbol = \"BTC-USDT\" }}]\n"
        );
        let ok = with_okx.replace(
            "instruments = [\"BTC-USDT\"]",
            "instruments = [\"BTC-USDT\", \"okx:BTC-USDT\"]",
        );
        let cfg = Config::parse(&ok, Path::new("c.toml")).expect("valid");
        assert_eq!(cfg.strategies[0].instruments[1], "okx:BTC-USDT");
        for bad in ["okx:ETH-USDT", "bybit:BTC-USDT"] {
            let text = with_okx.replace(
                "instruments = [\"BTC-USDT\"]",
                &format!("instruments = [\"BTC-USDT\", \"{bad}\"]"),
            );
            let err = Config::parse(&text, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("strategies[0].instruments") && err.contains(bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Config::load(Path::new("/nonexistent/peregrine.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/peregrine.toml"), "{err}");
    }
    #[test]
    fn feed_knobs_default_and_validate() {
        let cfg = Config::parse(GOOD, Path::new("c.toml")).expect("valid");
        assert_eq!(cfg.venue.stale_after(), Duration::from_secs(30));
        assert_eq!(
            cfg.venue.reconnect_range(),
            (Duration::from_millis(250), Duration::from_secs(30))
        );
        assert_eq!(cfg.venue.max_session(), None);
        assert_eq!(cfg.venue.max_frame_bytes, 16 << 20);
        let set = GOOD.replace(
            "rest_url = \"https://api.binance.com\"",
            "rest_url = \"https://api.binance.com\"\nstale_after_ms = 2000\nmax_session_s = 3600",
        );
        let cfg = Config::parse(&set, Path::new("c.toml")).expect("valid");
        assert_eq!(cfg.venue.stale_after(), Duration::from_secs(2));
        assert_eq!(cfg.venue.max_session(), Some(Duration::from_secs(3600)));
        for (field, bad) in [
            ("venue.reconnect_min_ms", "reconnect_min_ms = 60000"),
            ("venue.stale_after_ms", "stale_after_ms = 0"),
            ("venue.max_session_s", "max_session_s = 0"),
            ("venue.max_frame_bytes", "max_frame_bytes = 10"),
            (
                "venue.channels",
                "channels = [\"trade\", \"depth\", \"depth20\"]",
            ),
            ("venue.channels", "channels = [\"trades\"]"),
        ] {
            let text = GOOD.replace(
                "rest_url = \"https://api.binance.com\"",
                &format!("rest_url = \"https://api.binance.com\"\n{bad}"),
            );
            let err = Config::parse(&text, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    fn err_of(text: &str) -> String {
        Config::parse(text, Path::new("c.toml"))
            .unwrap_err()
            .to_string()
    }

    /// Line (1-based) of the first line of `text` containing `needle`.
    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn a_zero_capacity_is_an_error_naming_key_and_line() {
        let text = format!("[engine]\ntick_queue_capacity = 0\n{GOOD}");
        let err = err_of(&text);
        assert!(
            err.contains("c.toml, line 2: field `engine.tick_queue_capacity`: must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn limits_must_be_positive() {
        for (key, value) in [
            ("daily_loss_limit", "\"-50\""),
            ("max_drawdown", "\"0\""),
            ("max_order_qty", "\"-1\""),
            ("max_gross_exposure", "\"0\""),
            ("max_position", "\"0\""),
            ("max_open_orders", "0"),
            ("price_band_bps", "0"),
            ("max_tick_age_ms", "0"),
            ("duplicate_window_ms", "0"),
            ("reconcile_interval_s", "0"),
            ("clock_skew_alarm_ms", "-5"),
        ] {
            // max_position is required: the case for it replaces the good value.
            let keep = if key == "max_position" {
                ""
            } else {
                "max_position = \"0.05\"\n"
            };
            let text = GOOD
                .replace("max_position = \"0.05\"\n", "")
                .replace("[risk]\n", &format!("[risk]\n{keep}{key} = {value}\n"));
            let err = err_of(&text);
            let line = line_of(&text, &format!("{key} = {value}"));
            assert!(
                err.contains(&format!("line {line}: field `risk.{key}`: must be")),
                "{key}: {err}"
            );
        }
        for (section, key) in [
            ("[sink]", "batch_age_ms"),
            ("[sink]", "fsync_interval_ms"),
            ("[sink]", "kill_switch_poll_s"),
            ("[sim]", "md_interval_ms"),
        ] {
            let text = GOOD.replace(&format!("{section}\n"), &format!("{section}\n{key} = 0\n"));
            let err = err_of(&text);
            assert!(
                err.contains(&format!(
                    "`{}.{key}`: must be at least 1",
                    &section[1..section.len() - 1]
                )),
                "{err}"
            );
        }
        let text = format!("{GOOD}[risk.instruments.\"BTC-USDT\"]\nmax_position = \"-1\"\n");
        let err = err_of(&text);
        assert!(
            err.contains("risk.instruments.BTC-USDT.max_position"),
            "{err}"
        );
    }

    #[test]
    fn money_written_as_a_toml_number_is_an_error_naming_the_key() {
        for (from, to, key) in [
            (
                "max_order_notional = \"1000\"",
                "max_order_notional = 150.7",
                "risk.max_order_notional",
            ),
            (
                "max_order_notional = \"1000\"",
                "max_order_notional = 1000",
                "risk.max_order_notional",
            ),
            (
                "tick_size = \"0.01\"",
                "tick_size = 0.01",
                "instruments[0].tick_size",
            ),
            (
                "sim_start_price = \"60000\"",
                "sim_start_price = 60000",
                "instruments[0].sim_start_price",
            ),
        ] {
            let text = GOOD.replace(from, to);
            let err = err_of(&text);
            let line = line_of(&text, to);
            assert!(
                err.contains(&format!("line {line}: field `{key}`"))
                    && err.contains("written as strings"),
                "{to}: {err}"
            );
        }
        let text = GOOD.replace(
            "max_position = \"0.05\"",
            "max_position = \"0.05\"\ndaily_loss_limit = 50",
        );
        let err = err_of(&text);
        assert!(
            err.contains("risk.daily_loss_limit") && err.contains("strings"),
            "{err}"
        );
        let err = err_of(&GOOD.replace("\"0.05\"", "\"lots\""));
        assert!(
            err.contains("risk.max_position") && err.contains("\"lots\" is not a decimal"),
            "{err}"
        );
    }

    /// A config file and a script in a temporary directory, loaded with [`Config::load`].
    fn load_with_script(script: &str, params: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.rhai");
        std::fs::write(&file, script).unwrap();
        let text = GOOD
            .replace("strategies/ema_cross.rhai", &file.display().to_string())
            .replace("params = { qty = \"0.001\", fast = 8 }\n", "")
            .replace(
                "[risk]\n",
                &format!("[strategies.params]\n{params}\n[risk]\n"),
            );
        let path = dir.path().join("p.toml");
        std::fs::write(&path, &text).unwrap();
        Config::load(&path).map_err(|e| e.to_string())
    }

    const SCRIPT: &str =
        "fn on_start() {\n    this.qty = param(\"qty\");\n    this.n = param(\"fast\", 8);\n}\n";

    #[test]
    fn strategy_params_are_checked_against_the_script() {
        assert!(load_with_script(SCRIPT, "qty = \"0.001\"\nfast = 3").is_ok());
        let err = load_with_script(SCRIPT, "qty = 0.001").unwrap_err();
        assert!(
            err.contains("field `strategies[0].params.qty`")
                && err.contains("line ")
                && err.contains("s.rhai:2")
                && err.contains("qty = \"0.001\""),
            "{err}"
        );
        let err = load_with_script(SCRIPT, "qty = \"1\"\nfats = 3").unwrap_err();
        assert!(
            err.contains("strategies[0].params.fats") && err.contains("unknown parameter"),
            "{err}"
        );
        let err = load_with_script(SCRIPT, "qty = \"1\"\nfast = \"x\"").unwrap_err();
        assert!(
            err.contains("expects an integer") && err.contains("s.rhai:3"),
            "{err}"
        );
        let err = load_with_script(SCRIPT, "fast = 3").unwrap_err();
        assert!(
            err.contains("missing parameter `qty`") && err.contains("s.rhai:2"),
            "{err}"
        );
        let err = load_with_script("fn on_start( {", "").unwrap_err();
        assert!(
            err.contains("strategies[0].file") && err.contains("syntax error"),
            "{err}"
        );
    }

    #[test]
    fn the_shipped_default_config_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join("config/default.toml")).unwrap();
        let text = text.replace(
            "\"strategies/",
            &format!("\"{}/strategies/", root.display()),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).expect("the default config is valid");
    }
}
