//! The simulator's own record of every fill of our account's orders.

use peregrine_engine::types::Side;
use rust_decimal::Decimal;

/// One fill of one of our orders, recorded at the moment of matching.
///
/// This is the ground truth the end-to-end test compares the engine's database against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerFill {
    /// Symbol, e.g. `"BTCUSDT"`.
    pub symbol: String,
    /// The symbol's trade id (as in `t` of the trade stream and executionReport).
    pub trade_id: u64,
    /// Our order's id.
    pub order_id: u64,
    /// Our order's client order id.
    pub client_order_id: String,
    /// Our order's side.
    pub side: Side,
    /// Execution price.
    pub price: Decimal,
    /// Executed quantity.
    pub qty: Decimal,
    /// Commission charged for this fill.
    pub commission: Decimal,
    /// Asset the commission was charged in (the asset received).
    pub commission_asset: String,
    /// Whether our order was the resting (maker) side.
    pub is_maker: bool,
    /// Match time, ms since the Unix epoch.
    pub time_ms: i64,
}
