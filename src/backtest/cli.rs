//! Command-line arguments of `peregrine backtest` and `peregrine gen-ticks`, and how they
//! become a [`BacktestConfig`] / [`GenConfig`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::config::{Config, ConfigError, StrategyConfig};
use peregrine_engine::risk::RiskLimits;
use peregrine_engine::strategy::StrategyLimits;
use peregrine_engine::types::{InstrumentSpec, Instruments};
use rust_decimal::Decimal;

use super::gen::GenConfig;
use super::BacktestConfig;
use peregrine_exchanges::sim::fees::{FeeAsset, FeeModel};
use peregrine_exchanges::sim::MarketParams;

/// The config a backtest uses without `--config`: `config/default.toml`, built in.
const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");
/// How errors name it.
const DEFAULT_CONFIG_NAME: &str = "config/default.toml (built in)";

/// `peregrine backtest` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct BacktestArgs {
    /// The strategy file (`.rhai`); repeatable: several strategies run side by side in one
    /// core (a portfolio). Default: every `[[strategies]]` entry of `--config`.
    #[arg(long)]
    pub strategy: Vec<PathBuf>,
    /// Tick file in the interchange format (JSON lines, as `peregrine normalize` or
    /// `peregrine gen-ticks` write it).
    #[arg(long)]
    pub data: PathBuf,
    /// Strategy parameter `name=value` (repeatable; overrides the config file's). Integers and
    /// `true`/`false` are passed as such, anything else as a string (decimal strings become
    /// exact decimals in the script). With several strategies, `STRATEGY.name=value` names
    /// the strategy it is for.
    #[arg(long = "param", value_name = "K=V")]
    pub params: Vec<String>,
    /// Bar timeframe delivered to `on_bar`, e.g. `1m` (repeatable; replaces the config entry's
    /// `bars`).
    #[arg(long = "bars", value_name = "TIMEFRAME")]
    pub bars: Vec<String>,
    /// Output directory for orders.jsonl, fills.jsonl, risk_events.jsonl, equity.jsonl,
    /// summary.json and equity.svg.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Config file: instruments (tick/lot size), [risk] limits, and the parameters of the
    /// [[strategies]] entry with the same file. Default: the built-in copy of
    /// `config/default.toml` (whatever the working directory).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Symbol to trade (canonical, e.g. BTC-USDT) for a strategy without a config entry
    /// (and for one with, instead of its instruments); default: the strategy entry's
    /// instruments, else the config's first instrument.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Maker and taker fee in basis points of notional (both).
    #[arg(long, default_value = "0")]
    pub fee_bps: Decimal,
    /// Maker fee in bps (overrides --fee-bps).
    #[arg(long)]
    pub maker_fee_bps: Option<Decimal>,
    /// Taker fee in bps (overrides --fee-bps).
    #[arg(long)]
    pub taker_fee_bps: Option<Decimal>,
    /// Asset the fee is taken in: `received` (as Binance spot charges it: a buy pays in the
    /// base asset, a sell in the quote asset; the simulator's model) or `quote`.
    #[arg(long, value_enum, default_value = "received")]
    pub fee_asset: FeeAssetArg,
    /// Order latency in event time (e.g. `0ms`, `5ms`): requests reach the venue this long
    /// after the event that caused them.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0ms")]
    pub latency: Duration,
    /// Starting capital in quote currency: returns, drawdown and the buy-and-hold benchmark
    /// are percentages of it.
    #[arg(long, default_value = "10000")]
    pub capital: Decimal,
    /// Equity curve sampling interval in event time.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub equity_interval: Duration,
}

/// `--fee-asset` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FeeAssetArg {
    /// The asset the fill delivers (Binance spot).
    Received,
    /// Always the quote asset.
    Quote,
}

/// `peregrine gen-ticks` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct GenTicksArgs {
    /// Seed of the synthetic market.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Event-time span to generate (e.g. `10m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Output file (interchange JSON lines).
    #[arg(long)]
    pub out: PathBuf,
    /// Market step in event time.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10ms")]
    pub step: Duration,
    /// Symbol (canonical).
    #[arg(long, default_value = "BTC-USDT")]
    pub symbol: String,
    /// Start price.
    #[arg(long, default_value = "60000")]
    pub start_price: Decimal,
    /// Price increment.
    #[arg(long, default_value = "0.01")]
    pub tick_size: Decimal,
    /// Quantity increment.
    #[arg(long, default_value = "0.00001")]
    pub lot_size: Decimal,
    /// Event time of the first line, ms since the Unix epoch (fixed, so output is
    /// reproducible).
    #[arg(long, default_value_t = 1_767_225_600_000)]
    pub start_ms: i64,
    /// The market's character (defaults: BTC-like, as the simulator's).
    #[command(flatten)]
    pub market: MarketArgs,
}

/// The knobs of the synthetic market's process (`exchanges::sim::market_model`); each
/// defaults to the simulator's BTC-like value.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MarketArgs {
    /// Daily volatility of the log price, without jumps (0.025 = 2.5 %).
    #[arg(long)]
    pub daily_vol: Option<f64>,
    /// Expected log return per day (0.001 = +0.1 %).
    #[arg(long)]
    pub drift_per_day: Option<f64>,
    /// Mean jumps per day.
    #[arg(long)]
    pub jumps_per_day: Option<f64>,
    /// Standard deviation of a jump's log size (0.003 = 0.3 %).
    #[arg(long)]
    pub jump_vol: Option<f64>,
    /// Share of time in the turbulent regime (0 = always calm).
    #[arg(long)]
    pub turbulent_share: Option<f64>,
    /// Turbulent over calm volatility (>= 1).
    #[arg(long)]
    pub turbulent_vol_ratio: Option<f64>,
    /// Mean turbulent spell, minutes.
    #[arg(long)]
    pub turbulent_minutes: Option<f64>,
    /// Intraday activity amplitude, 0 <= a < 1 (0 = flat).
    #[arg(long)]
    pub seasonality: Option<f64>,
    /// UTC hour of peak activity.
    #[arg(long)]
    pub peak_hour_utc: Option<f64>,
    /// Synthetic market orders per second at mean activity.
    #[arg(long)]
    pub takers_per_s: Option<f64>,
}

impl MarketArgs {
    /// The parameters: the given knobs over the defaults, checked.
    pub fn to_params(&self) -> Result<MarketParams, ArgsError> {
        let d = MarketParams::default();
        let p = MarketParams {
            daily_vol: self.daily_vol.unwrap_or(d.daily_vol),
            drift_per_day: self.drift_per_day.unwrap_or(d.drift_per_day),
            jumps_per_day: self.jumps_per_day.unwrap_or(d.jumps_per_day),
            jump_vol: self.jump_vol.unwrap_or(d.jump_vol),
            turbulent_share: self.turbulent_share.unwrap_or(d.turbulent_share),
            turbulent_vol_ratio: self.turbulent_vol_ratio.unwrap_or(d.turbulent_vol_ratio),
            turbulent_minutes: self.turbulent_minutes.unwrap_or(d.turbulent_minutes),
            seasonality: self.seasonality.unwrap_or(d.seasonality),
            peak_hour_utc: self.peak_hour_utc.unwrap_or(d.peak_hour_utc),
            takers_per_s: self.takers_per_s.unwrap_or(d.takers_per_s),
        };
        p.validate().map_err(|e| {
            ArgsError::Invalid(format!(
                "--{}",
                e.trim_start_matches("market ").replace('_', "-")
            ))
        })?;
        Ok(p)
    }
}

/// A bad command line or config for a backtest.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// The config file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Something else is wrong (the message says what).
    #[error("{0}")]
    Invalid(String),
}

fn param_value(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match v {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(v.to_string()),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

impl BacktestArgs {
    /// The backtest configuration these arguments describe.
    pub fn to_config(&self) -> Result<BacktestConfig, ArgsError> {
        let (cfg, config_name) = match &self.config {
            Some(path) => (Config::load(path)?, path.display().to_string()),
            None => (
                Config::parse(DEFAULT_CONFIG, Path::new(DEFAULT_CONFIG_NAME))?,
                DEFAULT_CONFIG_NAME.to_string(),
            ),
        };
        let mut strategies = self.strategies(&cfg)?;
        self.apply_params(&mut strategies)?;
        // The instruments of every strategy, in order of first appearance.
        let mut instruments = Instruments::new();
        for s in &strategies {
            for symbol in &s.instruments {
                if instruments.by_symbol(symbol).is_some() {
                    continue;
                }
                let inst = cfg
                    .instruments
                    .iter()
                    .find(|i| &i.symbol == symbol)
                    .ok_or_else(|| {
                        ArgsError::Invalid(format!(
                            "{symbol} is not in {config_name}'s [[instruments]] (tick and lot size are needed)"
                        ))
                    })?;
                let spec = InstrumentSpec::from_canonical(
                    "backtest",
                    symbol,
                    inst.tick_size,
                    inst.lot_size,
                )
                .ok_or_else(|| ArgsError::Invalid(format!("{symbol:?} is not BASE-QUOTE")))?;
                instruments.intern(spec);
            }
        }
        let bps = |v: Option<Decimal>| -> Result<Decimal, ArgsError> {
            let v = v.unwrap_or(self.fee_bps);
            if v < Decimal::ZERO {
                return Err(ArgsError::Invalid(format!("fee {v} bps is negative")));
            }
            Ok(v)
        };
        let mut strategies = strategies.into_iter();
        let first = strategies
            .next()
            .ok_or_else(|| ArgsError::Invalid("no strategy: pass --strategy FILE".into()))?;
        Ok(BacktestConfig {
            strategy: first,
            more_strategies: strategies.collect(),
            instruments: Arc::new(instruments),
            risk: RiskLimits {
                max_order_notional: cfg.risk.max_order_notional,
                max_position: cfg.risk.max_position,
            },
            fees: FeeModel::from_bps(
                bps(self.maker_fee_bps)?,
                bps(self.taker_fee_bps)?,
                match self.fee_asset {
                    FeeAssetArg::Received => FeeAsset::Received,
                    FeeAssetArg::Quote => FeeAsset::Quote,
                },
            ),
            latency_ns: u64::try_from(self.latency.as_nanos()).unwrap_or(u64::MAX),
            equity_interval_ns: i64::try_from(self.equity_interval.as_nanos())
                .unwrap_or(i64::MAX)
                .max(1),
            strategy_limits: StrategyLimits::default(),
            cancel_at_end: true,
            capital: self.capital,
        })
    }

    /// The strategies of the run: one per `--strategy` (its config entry's name, instruments,
    /// parameters and bars when the config has the file), else the config's entries.
    fn strategies(&self, cfg: &Config) -> Result<Vec<StrategyConfig>, ArgsError> {
        let default_symbol = || {
            self.symbol
                .clone()
                .or_else(|| cfg.instruments.first().map(|i| i.symbol.clone()))
                .ok_or_else(|| ArgsError::Invalid("no symbol: pass --symbol".into()))
        };
        let mut out: Vec<StrategyConfig> = Vec::new();
        if self.strategy.is_empty() {
            if cfg.strategies.is_empty() {
                return Err(ArgsError::Invalid(
                    "no strategy: pass --strategy FILE or a --config with [[strategies]]".into(),
                ));
            }
            out.extend(cfg.strategies.iter().cloned());
        }
        for file in &self.strategy {
            let entry = cfg.strategies.iter().find(|s| same_file(&s.file, file));
            let name = entry.map(|e| e.name.clone()).unwrap_or_else(|| {
                file.file_stem()
                    .map_or("strategy".into(), |s| s.to_string_lossy().into_owned())
            });
            out.push(StrategyConfig {
                name,
                file: file.clone(),
                instruments: entry.map(|e| e.instruments.clone()).unwrap_or_default(),
                params: entry.map(|e| e.params.clone()).unwrap_or_default(),
                bars: entry.map(|e| e.bars.clone()).unwrap_or_default(),
                ..Default::default()
            });
        }
        for s in &mut out {
            if self.symbol.is_some() || s.instruments.is_empty() {
                s.instruments = vec![default_symbol()?];
            }
            if let Some(md) = s.instruments.iter().find(|i| i.contains(':')) {
                return Err(ArgsError::Invalid(format!(
                    "strategy {}: {md} is a market-data venue's instrument; a backtest trades recorded symbols only",
                    s.name
                )));
            }
            if !self.bars.is_empty() {
                s.bars = self.bars.clone();
            }
        }
        for (i, s) in out.iter().enumerate() {
            if out[..i].iter().any(|o| o.name == s.name) {
                return Err(ArgsError::Invalid(format!(
                    "two strategies are named {:?}: give them distinct names in [[strategies]] entries of a --config",
                    s.name
                )));
            }
        }
        Ok(out)
    }

    /// `--param` overrides: `K=V` with one strategy, `STRATEGY.K=V` for a named one.
    fn apply_params(&self, strategies: &mut [StrategyConfig]) -> Result<(), ArgsError> {
        let single = strategies.len() == 1;
        for p in &self.params {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| ArgsError::Invalid(format!("--param {p:?}: expected K=V")))?;
            let k = k.trim();
            let target = strategies.iter().position(|s| {
                k.strip_prefix(s.name.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
            });
            let (i, key) = match target {
                Some(i) => (i, &k[strategies[i].name.len() + 1..]),
                None if single => (0, k),
                None => {
                    return Err(ArgsError::Invalid(format!(
                        "--param {p:?}: with several strategies, name the one it is for: STRATEGY.{k}=... (strategies: {})",
                        strategies
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            };
            strategies[i]
                .params
                .insert(key.to_string(), param_value(v.trim()));
        }
        Ok(())
    }
}

impl GenTicksArgs {
    /// The generator configuration these arguments describe.
    pub fn to_config(&self) -> Result<GenConfig, ArgsError> {
        let step_ms = i64::try_from(self.step.as_millis()).unwrap_or(i64::MAX);
        if step_ms < 1 {
            return Err(ArgsError::Invalid("--step must be at least 1ms".into()));
        }
        let span = i64::try_from(self.duration.as_millis()).unwrap_or(i64::MAX);
        Ok(GenConfig {
            seed: self.seed,
            symbol: self.symbol.clone(),
            start_price: self.start_price,
            tick_size: self.tick_size,
            lot_size: self.lot_size,
            start_ms: self.start_ms,
            step_ms,
            steps: (span / step_ms).max(0) as u64,
            market: self.market.to_params()?,
        })
    }
}
