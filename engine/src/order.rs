//! Orders through their life: intent (from a strategy) -> request (approved by risk) -> exec
//! reports (from the venue).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use rust_decimal::Decimal;

use crate::types::{InstrumentId, Price, Qty, Side};

/// Our id for an order, unique across runs: the run's identity ([`crate::run_id`]) and a
/// sequence number within the run. `Copy`; rendered as `pg<run hex>-<seq decimal>`, at most
/// 29 characters of `[a-z0-9-]` (a valid Binance `newClientOrderId`); [`Self::alphanumeric`]
/// is the form for venues that allow letters and digits only (OKX `clOrdId`, at most 32).
///
/// Runs before the persisted run identity used the wall-clock second as `run` (below 2^32);
/// their ids parse the same way, and no later run id falls in that range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientOrderId {
    /// Identifies the engine run that created the order.
    pub run: u64,
    /// Sequence within the run, from 1.
    pub seq: u32,
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pg{:x}-{}", self.run, self.seq)
    }
}

impl ClientOrderId {
    /// The letters-and-digits form: `pg`, the run as exactly 16 hex digits, the sequence in
    /// decimal (at most 28 characters). Parsed back by [`Self::parse_alphanumeric`].
    pub fn alphanumeric(self) -> Alphanumeric {
        Alphanumeric(self)
    }

    /// Parses the [`Self::alphanumeric`] form (canonical spelling only).
    pub fn parse_alphanumeric(s: &str) -> Result<Self, ParseClientOrderIdError> {
        let err = || ParseClientOrderIdError(s.to_string());
        let rest = s.strip_prefix("pg").ok_or_else(err)?;
        if rest.len() <= 16 || !rest.is_char_boundary(16) {
            return Err(err());
        }
        let (run, seq) = rest.split_at(16);
        if !run.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(err());
        }
        Ok(Self {
            run: u64::from_str_radix(run, 16).map_err(|_| err())?,
            seq: parse_decimal(seq).ok_or_else(err)?,
        })
    }
}

/// [`ClientOrderId::alphanumeric`]'s `Display`.
#[derive(Clone, Copy, Debug)]
pub struct Alphanumeric(ClientOrderId);

impl fmt::Display for Alphanumeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pg{:016x}{}", self.0.run, self.0.seq)
    }
}

/// Error for a string that is not one of our client order ids.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a Peregrine client order id: {0:?}")]
pub struct ParseClientOrderIdError(pub String);

impl FromStr for ClientOrderId {
    type Err = ParseClientOrderIdError;

    /// Accepts exactly what [`fmt::Display`] writes (lower-case hex run without leading
    /// zeros, decimal sequence without leading zeros), for every run id ever used, so that
    /// parsing tells our orders from anyone else's.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseClientOrderIdError(s.to_string());
        let rest = s.strip_prefix("pg").ok_or_else(err)?;
        let (run, seq) = rest.split_once('-').ok_or_else(err)?;
        let canonical_hex = !run.is_empty()
            && run.len() <= 16
            && run.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && (run == "0" || !run.starts_with('0'));
        if !canonical_hex {
            return Err(err());
        }
        Ok(Self {
            run: u64::from_str_radix(run, 16).map_err(|_| err())?,
            seq: parse_decimal(seq).ok_or_else(err)?,
        })
    }
}

/// A `u32` written in decimal digits only, without leading zeros.
fn parse_decimal(s: &str) -> Option<u32> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// Order type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderType {
    /// Executes immediately at the best available prices.
    Market,
    /// Executes at the limit price or better.
    Limit,
}

impl OrderType {
    /// Lower-case name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "market",
            OrderType::Limit => "limit",
        }
    }
}

/// How long a limit order stays working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel: fill what is possible now, cancel the rest.
    Ioc,
    /// Fill or kill: fill all now or nothing.
    Fok,
}

/// What a strategy asks for; not yet checked by risk, not yet given an id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderIntent {
    /// Index of the strategy that asked.
    pub strategy: u16,
    /// Instrument to trade.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Market or limit.
    pub order_type: OrderType,
    /// Limit price (`None` for market orders).
    pub price: Option<Price>,
    /// Quantity in base units.
    pub qty: Qty,
    /// Time in force (limit orders).
    pub tif: TimeInForce,
    /// Only reduce an existing position.
    pub reduce_only: bool,
    /// Rest only; reject if it would take liquidity.
    pub post_only: bool,
    /// Monotonic receive time of the tick that caused this intent (for tick-to-order latency).
    pub origin_recv_ns: u64,
}

/// When a conditional order the engine holds is sent, judged on each trade of its instrument
/// (the last price, as venues trigger stops): the order then goes through the risk gate as
/// any other, on the tick that crossed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// Stop: a sell once a trade is at or below `price`, a buy at or above.
    Stop {
        /// Trigger price.
        price: Price,
    },
    /// Take-profit: a sell once a trade is at or above `price`, a buy at or below.
    TakeProfit {
        /// Trigger price.
        price: Price,
    },
    /// Trailing stop: a sell once a trade is `offset` below the highest trade since it was
    /// placed, a buy once one is `offset` above the lowest; with `percent`, `offset` is a
    /// percentage of that extreme.
    Trailing {
        /// Distance from the extreme (price units, or percent).
        offset: Decimal,
        /// `offset` is a percentage.
        percent: bool,
        /// The highest (sell) or lowest (buy) trade seen so far.
        extreme: Option<Price>,
    },
}

impl Trigger {
    /// Feeds one trade at `price` to the trigger of an order on `side`; true if it fires.
    pub fn on_trade(&mut self, side: Side, price: Price) -> bool {
        match (self, side) {
            (Trigger::Stop { price: p }, Side::Sell)
            | (Trigger::TakeProfit { price: p }, Side::Buy) => price <= *p,
            (Trigger::Stop { price: p }, Side::Buy)
            | (Trigger::TakeProfit { price: p }, Side::Sell) => price >= *p,
            (
                Trigger::Trailing {
                    offset,
                    percent,
                    extreme,
                },
                side,
            ) => {
                let ext = match (*extreme, side) {
                    (Some(e), Side::Sell) => e.max(price),
                    (Some(e), Side::Buy) => e.min(price),
                    (None, _) => price,
                };
                *extreme = Some(ext);
                let dist = if *percent {
                    ext * *offset / Decimal::ONE_HUNDRED
                } else {
                    *offset
                };
                match side {
                    Side::Sell => price <= ext - dist,
                    Side::Buy => price >= ext + dist,
                }
            }
        }
    }
}

/// One exit of a bracket: held by the engine from the entry's first fill, sized by what the
/// entry has filled, placed (reduce-only, opposite side) when its trigger fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BracketExit {
    /// The id the exit order is placed under.
    pub id: ClientOrderId,
    /// When it fires ([`Trigger::Stop`] or [`Trigger::TakeProfit`]).
    pub trigger: Trigger,
    /// Limit price of the placed order (`None`: a market order).
    pub price: Option<Price>,
}

/// The exits attached to a bracket's entry: a stop, a take-profit, or both (then one
/// cancels the other).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BracketExits {
    /// The protective stop.
    pub stop: Option<BracketExit>,
    /// The take-profit.
    pub take_profit: Option<BracketExit>,
}

/// An order approved by the risk gate, with its id: what the gateway sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderRequest {
    /// Our unique id for the order.
    pub client_order_id: ClientOrderId,
    /// The approved intent.
    pub intent: OrderIntent,
}

/// Fill details inside an [`ExecReport`].
#[derive(Clone, Debug, PartialEq)]
pub struct FillInfo {
    /// Venue trade id, unique per instrument on the venue: the natural key of a fill.
    pub trade_id: u64,
    /// Fill price.
    pub price: Price,
    /// Fill quantity.
    pub qty: Qty,
    /// Fee charged.
    pub fee: Price,
    /// Asset the fee was charged in.
    pub fee_asset: String,
    /// True if our order was the resting (maker) side.
    pub is_maker: bool,
    /// Quantity of the order still open after this fill.
    pub leaves_qty: Qty,
    /// Exchange time of the fill, ns since the epoch.
    pub exch_ts_ns: i64,
}

/// What happened to one of our orders, as reported by the venue (or the gateway).
#[derive(Clone, Debug, PartialEq)]
pub enum ExecKind {
    /// The venue accepted the order.
    Ack {
        /// The venue's order id.
        venue_order_id: u64,
    },
    /// A (partial) fill.
    Fill(FillInfo),
    /// The order was cancelled (by us, or IOC/market remainder).
    Cancelled,
    /// The order expired (e.g. FOK not fillable).
    Expired,
    /// The venue or the gateway refused the order.
    Rejected {
        /// Venue error code (Binance's negative codes) or 0 for transport errors.
        code: i64,
        /// Human-readable reason.
        reason: String,
    },
    /// A cancel request for the order was refused (e.g. `-2011` unknown order: it already
    /// filled); the order's state is unchanged and it may be cancelled again.
    CancelRejected {
        /// Venue error code, or 0 for transport errors.
        code: i64,
        /// Human-readable reason.
        reason: String,
    },
}

/// An execution report for one of our orders.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecReport {
    /// Which order.
    pub client_order_id: ClientOrderId,
    /// Instrument of the order.
    pub instrument: InstrumentId,
    /// Side of the order.
    pub side: Side,
    /// What happened.
    pub kind: ExecKind,
    /// Local monotonic receive time.
    pub recv_ns: u64,
}

#[cfg(test)]
mod tests;
