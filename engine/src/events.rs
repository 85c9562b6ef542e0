//! Rows the core loop emits for persistence. Owned, plain data: they leave the hot path
//! through a channel to the sink thread.

use serde::{Deserialize, Serialize};

use crate::types::{Price, Qty, Side};

mod held;
pub use held::{parse_tif, tif_str, HeldRow, HeldStatus, HeldTrigger, TriggerKind};

/// Lifecycle state of one of our orders, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Sent, not yet acknowledged.
    Pending,
    /// Acknowledged by the venue and working.
    Acked,
    /// Some quantity filled, rest working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled (possibly after partial fills).
    Cancelled,
    /// Refused by the venue or the gateway.
    Rejected,
    /// Expired (IOC/FOK remainder).
    Expired,
}

impl OrderStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Acked => "acked",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Expired => "expired",
        }
    }

    /// True once no more fills can come.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Cancelled
                | OrderStatus::Rejected
                | OrderStatus::Expired
        )
    }
}

/// The current state of one order (upserted on `client_order_id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRow {
    /// Our id (natural key).
    pub client_order_id: String,
    /// Venue's order id once acked.
    pub venue_order_id: Option<i64>,
    /// Strategy name.
    pub strategy: String,
    /// Venue name.
    pub venue: String,
    /// Canonical symbol.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// `market` or `limit`.
    pub order_type: String,
    /// Limit price, if any.
    pub price: Option<Price>,
    /// Ordered quantity.
    pub qty: Qty,
    /// Filled so far.
    pub filled_qty: Qty,
    /// Lifecycle state.
    pub status: OrderStatus,
    /// Why it was rejected, if it was.
    pub reject_reason: Option<String>,
    /// Wall time of creation, ns since the epoch.
    pub created_ns: i64,
    /// Wall time of this state, ns since the epoch.
    pub updated_ns: i64,
}

/// One fill of one of our orders (inserted once on `(venue, symbol, trade_id, client_order_id)`:
/// one venue trade can fill two of our own orders that matched each other).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FillRow {
    /// Venue name.
    pub venue: String,
    /// Canonical symbol.
    pub symbol: String,
    /// Venue trade id.
    pub trade_id: i64,
    /// Our order id.
    pub client_order_id: String,
    /// Strategy name.
    pub strategy: String,
    /// Our side.
    pub side: Side,
    /// Fill price.
    pub price: Price,
    /// Fill quantity.
    pub qty: Qty,
    /// Fee charged.
    pub fee: Price,
    /// Fee asset.
    pub fee_asset: String,
    /// True if we were the maker.
    pub is_maker: bool,
    /// Exchange time, ns since the epoch.
    pub exch_ts_ns: i64,
}

/// A position snapshot after a change (upserted on `(strategy, venue, symbol)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PositionRow {
    /// Strategy name.
    pub strategy: String,
    /// Venue name.
    pub venue: String,
    /// Canonical symbol.
    pub symbol: String,
    /// Signed quantity (negative = short).
    pub qty: Qty,
    /// Average entry price of the open quantity (zero when flat).
    pub avg_price: Price,
    /// Realized PnL in quote currency, after fees paid in quote.
    pub realized_pnl: Price,
    /// Fees paid in quote currency.
    pub fees: Price,
    /// Wall time of this state, ns since the epoch.
    pub updated_ns: i64,
}

/// A risk decision or safety event worth keeping (inserted once on `id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskEventRow {
    /// Unique id (`<run hex>-<seq>`).
    pub id: String,
    /// Wall time, ns since the epoch.
    pub ts_ns: i64,
    /// Strategy concerned, if any.
    pub strategy: Option<String>,
    /// Symbol concerned, if any.
    pub symbol: Option<String>,
    /// Machine-readable reason (e.g. `max_order_notional`).
    pub reason: String,
    /// Human-readable explanation.
    pub message: String,
}

/// A named value a strategy recorded with `signal(name, value)`, for the frontend (inserted
/// once on `id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalRow {
    /// Unique id (`<run hex>-s<seq>`).
    pub id: String,
    /// Engine time of the signal, ns since the epoch.
    pub ts_ns: i64,
    /// Strategy that recorded it.
    pub strategy: String,
    /// Symbol it concerns, if any.
    pub symbol: Option<String>,
    /// Signal name.
    pub name: String,
    /// Signal value (a statistic, not money: indicator outputs are `f64`).
    pub value: f64,
}

/// Latency of one pipeline stage over one reporting window (inserted once on
/// `(run_id, stage, window_end_ns)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyStatRow {
    /// Engine run id (hex).
    pub run_id: String,
    /// Stage name (`normalize`, `queue`, `strategy`, `risk`, `sign`, `ack`, `fill`, ...).
    pub stage: String,
    /// Window start, wall ns since the epoch.
    pub window_start_ns: i64,
    /// Window end, wall ns since the epoch.
    pub window_end_ns: i64,
    /// Samples in the window.
    pub count: i64,
    /// Median, ns.
    pub p50_ns: i64,
    /// 99th percentile, ns.
    pub p99_ns: i64,
    /// 99.9th percentile, ns.
    pub p999_ns: i64,
    /// Maximum, ns.
    pub max_ns: i64,
}

/// How far the venue's trade history of one symbol has been taken into the database: every
/// trade of the account with a venue trade id at most `last_trade_id` is either a committed
/// fill or was never ours (upserted per (venue, account, symbol) to the greatest id). The sink
/// also derives it from the fills of every batch it commits, in the same transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRow {
    /// Venue name.
    pub venue: String,
    /// Canonical symbol.
    pub symbol: String,
    /// Highest venue trade id accounted for (0: none yet).
    pub last_trade_id: i64,
    /// Exchange time of that trade, ns since the epoch (0 if unknown).
    pub last_trade_ns: i64,
}

/// Where an engine run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and beating (a row whose heartbeat stopped without `stopped` died).
    Running,
    /// Stopped in order.
    Stopped,
}

impl RunStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Stopped => "stopped",
        }
    }
}

/// One engine run's identity and health (upserted on `run_id`, latest event wins).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    /// The run id in hex (as in client order ids).
    pub run_id: String,
    /// Engine version.
    pub version: String,
    /// SHA-256 (hex) of the run's parsed configuration.
    pub config_hash: String,
    /// Wall time of the start, ns since the epoch.
    pub started_ns: i64,
    /// Wall time of the stop, once stopped.
    pub stopped_ns: Option<i64>,
    /// Running or stopped.
    pub status: RunStatus,
    /// Wall time of the latest heartbeat, ns since the epoch.
    pub heartbeat_ns: i64,
}

/// What an equity snapshot row covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EquityScope {
    /// One strategy's own positions.
    Strategy,
    /// The account: every configured strategy's positions summed.
    Account,
}

impl EquityScope {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EquityScope::Strategy => "strategy",
            EquityScope::Account => "account",
        }
    }
}

/// PnL of one strategy or of the account at one moment, per instrument (`symbol` set) or
/// over all instruments (`symbol` `None`), taken from the core's positions every
/// `[engine] equity_snapshot_interval_s` (inserted once on `id`). `equity` is realized +
/// unrealized PnL (since the positions began, not the account balance); `unrealized_pnl`
/// and `equity` are `None` while a held instrument has no price yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EquityRow {
    /// Unique id (`<run hex>-q<snapshot>-<row>`).
    pub id: String,
    /// The run id in hex (as in client order ids).
    pub run_id: String,
    /// Engine time of the snapshot, ns since the epoch.
    pub ts_ns: i64,
    /// Strategy or account.
    pub scope: EquityScope,
    /// The strategy (`None` for the account).
    pub strategy: Option<String>,
    /// Venue name.
    pub venue: String,
    /// Canonical symbol; `None` for the total over instruments.
    pub symbol: Option<String>,
    /// Signed quantity held (per instrument only).
    pub qty: Option<Qty>,
    /// Mark price: last trade, else mid of the touch (per instrument only, once known).
    pub mark: Option<Price>,
    /// Realized PnL in quote currency, net of fees.
    pub realized_pnl: Price,
    /// Unrealized PnL at the mark.
    pub unrealized_pnl: Option<Price>,
    /// Fees paid in quote currency.
    pub fees: Price,
    /// Realized + unrealized PnL.
    pub equity: Option<Price>,
}

/// The outcome of one new version of a strategy (a changed file or `strategies` row),
/// inserted once on `id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StrategyReloadRow {
    /// Unique id (`<run hex>-r<seq>`).
    pub id: String,
    /// The run id in hex.
    pub run_id: String,
    /// Engine time, ns since the epoch.
    pub ts_ns: i64,
    /// Strategy name.
    pub strategy: String,
    /// `file` or `database`.
    pub origin: String,
    /// The `strategies` row version (database origin only).
    pub version: Option<i64>,
    /// FNV-1a hash of the source, hex (as in the reload log line).
    pub source_hash: String,
    /// True if the new version runs now; false if refused (the old one keeps running).
    pub accepted: bool,
    /// What happened (the refusal's reasons).
    pub message: String,
}

/// Everything the sink persists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SinkEvent {
    /// Order state change.
    Order(OrderRow),
    /// A fill.
    Fill(FillRow),
    /// Position after a fill.
    Position(PositionRow),
    /// Risk/safety event.
    Risk(RiskEventRow),
    /// A strategy signal.
    Signal(SignalRow),
    /// Stage latency over one window.
    LatencyStat(LatencyStatRow),
    /// The venue trade-history checkpoint of one symbol (see [`CheckpointRow`]).
    Checkpoint(CheckpointRow),
    /// The run's start, heartbeat or stop.
    Run(RunRow),
    /// One row of an equity snapshot.
    Equity(EquityRow),
    /// A strategy reload accepted or refused.
    StrategyReload(StrategyReloadRow),
    /// A conditional order the engine holds, in its latest state.
    Held(HeldRow),
}
