//! The pre-trade risk gate: O(1) checks on every order intent, each refusal with a
//! machine-readable reason and a human message; plus the account-level latched kill switch
//! ([`account`]) and the shared venue rate budget ([`bucket`]).
//!
//! Order of checks (the first failure is reported): kill switch, validity, stale data,
//! instrument rules (tick, lot, min/max qty, min notional), price band, max order qty and
//! notional, max position, max gross exposure, max open orders, self-trade, duplicate, rate
//! budget. Only [`RiskGate::check_order`] (the core's path) counts the rate budget and
//! remembers orders for duplicate suppression; [`RiskGate::check`] is the pure part.

pub mod account;
pub mod bucket;
pub mod setup;

use rust_decimal::Decimal;

pub use account::{AccountBreach, AccountGuard, AccountLimits, KillSwitch};
pub use bucket::{RateBudget, SlidingWindow, UsageKind, VenueUsage};

use crate::order::{OrderIntent, OrderType};
use crate::types::{InstrumentId, Price, Qty, Side};

/// Limits applied to every order (account-wide defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskLimits {
    /// Largest price x qty of a single order, in quote currency.
    pub max_order_notional: Price,
    /// Largest absolute position per instrument, counting open orders on the same side.
    pub max_position: Qty,
}

/// The further account-wide limits (each `None`/zero = off). Set with
/// [`RiskGate::with_extra`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExtraLimits {
    /// Largest quantity of a single order.
    pub max_order_qty: Option<Qty>,
    /// Largest gross exposure over all instruments (|position| + open quantity on both sides,
    /// valued at the mark), quote currency, including the new order; orders that do not
    /// increase the worst-case position are not held back by it.
    pub max_gross_exposure: Option<Price>,
    /// Largest number of working orders on the account.
    pub max_open_orders: Option<usize>,
    /// Largest distance of a limit price from the reference price, basis points.
    pub price_band_bps: Option<u32>,
    /// Refuse when the instrument's last market-data tick is older than this, ms.
    pub max_tick_age_ms: Option<u64>,
    /// Refuse an order identical (strategy, instrument, side, type, price, qty) to the last
    /// approved one on the instrument within this window, ms.
    pub duplicate_window_ms: Option<u64>,
    /// Refuse an order that would cross one of our own resting orders.
    pub self_trade_prevention: bool,
    /// Request weight of a new order on the venue (Binance spot: 1).
    pub order_weight: u64,
}

/// Per-instrument rules (from the venue's exchange info) and limit overrides.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct InstrumentLimits {
    /// Price increment (`PRICE_FILTER.tickSize`); zero = unchecked.
    pub tick_size: Price,
    /// Quantity increment (`LOT_SIZE.stepSize`); zero = unchecked.
    pub lot_size: Qty,
    /// `LOT_SIZE.minQty`.
    pub min_qty: Option<Qty>,
    /// `LOT_SIZE.maxQty`.
    pub max_qty: Option<Qty>,
    /// `NOTIONAL.minNotional` (quote currency).
    pub min_notional: Option<Price>,
    /// Overrides [`RiskLimits::max_order_notional`] for this instrument.
    pub max_order_notional: Option<Price>,
    /// Overrides [`ExtraLimits::max_order_qty`] for this instrument.
    pub max_order_qty: Option<Qty>,
    /// Overrides [`RiskLimits::max_position`] for this instrument.
    pub max_position: Option<Qty>,
}

/// Why an order was refused (machine-readable; stored as the risk event's `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The kill switch is on.
    KillSwitch,
    /// Quantity is zero or negative, or a limit price is missing/non-positive.
    InvalidOrder,
    /// No price to value a market order with.
    NoReferencePrice,
    /// Order notional above the limit.
    MaxOrderNotional,
    /// The order could take the position beyond the limit.
    MaxPosition,
    /// Price not a multiple of the tick size.
    TickSize,
    /// Quantity not a multiple of the lot size.
    LotSize,
    /// Quantity below the venue's minimum.
    MinQty,
    /// Quantity above the venue's maximum.
    MaxQty,
    /// Notional below the venue's minimum.
    MinNotional,
    /// Quantity above the configured per-order maximum.
    MaxOrderQty,
    /// Gross exposure would exceed the limit.
    MaxGrossExposure,
    /// Too many working orders.
    MaxOpenOrders,
    /// Limit price too far from the reference price (fat finger).
    PriceBand,
    /// The account's venue request budget is spent.
    RateLimit,
    /// Same order as one just approved.
    DuplicateOrder,
    /// Would trade against our own resting order.
    SelfTrade,
    /// Market data for the instrument is stale or missing.
    StaleMarketData,
}

impl RejectReason {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::KillSwitch => "kill_switch",
            RejectReason::InvalidOrder => "invalid_order",
            RejectReason::NoReferencePrice => "no_reference_price",
            RejectReason::MaxOrderNotional => "max_order_notional",
            RejectReason::MaxPosition => "max_position",
            RejectReason::TickSize => "tick_size",
            RejectReason::LotSize => "lot_size",
            RejectReason::MinQty => "min_qty",
            RejectReason::MaxQty => "max_qty",
            RejectReason::MinNotional => "min_notional",
            RejectReason::MaxOrderQty => "max_order_qty",
            RejectReason::MaxGrossExposure => "max_gross_exposure",
            RejectReason::MaxOpenOrders => "max_open_orders",
            RejectReason::PriceBand => "price_band",
            RejectReason::RateLimit => "rate_limit",
            RejectReason::DuplicateOrder => "duplicate_order",
            RejectReason::SelfTrade => "self_trade",
            RejectReason::StaleMarketData => "stale_market_data",
        }
    }
}

/// A refusal: the reason and a human explanation with the numbers involved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", reason.as_str())]
pub struct RiskReject {
    /// Machine-readable reason.
    pub reason: RejectReason,
    /// What was asked and which limit it broke.
    pub message: String,
}

/// The state of the account and instrument the gate needs to judge an order.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExposureView {
    /// Current signed position.
    pub position: Qty,
    /// Open (unfilled) quantity of our working buy orders.
    pub open_buy_qty: Qty,
    /// Open (unfilled) quantity of our working sell orders.
    pub open_sell_qty: Qty,
    /// Price to value market orders with: the far touch (best ask for buys, best bid for
    /// sells), else the last trade.
    pub reference_price: Option<Price>,
    /// Gross exposure of the account before this order (quote currency).
    pub gross_exposure: Price,
    /// Working orders on the account.
    pub open_orders: usize,
    /// Highest price of our resting buy orders on the instrument.
    pub own_best_bid: Option<Price>,
    /// Lowest price of our resting sell orders on the instrument.
    pub own_best_ask: Option<Price>,
    /// The feed reported the instrument stale or disconnected.
    pub stale: bool,
    /// Monotonic ns of the instrument's last market-data tick (0 = none yet).
    pub last_tick_ns: u64,
    /// Monotonic ns now.
    pub now_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct LastOrder {
    intent: OrderIntent,
    at_ns: u64,
}

/// The risk gate. No I/O, no allocation on approval.
#[derive(Clone, Debug)]
pub struct RiskGate {
    limits: RiskLimits,
    extra: ExtraLimits,
    kill_switch: KillSwitch,
    instruments: Vec<InstrumentLimits>,
    budget: RateBudget,
    last: Vec<Option<LastOrder>>,
    account: AccountGuard,
    flatten_on_kill: bool,
}

impl RiskGate {
    /// A gate with these limits and switch (the further checks off until configured).
    pub fn new(limits: RiskLimits, kill_switch: KillSwitch) -> Self {
        Self {
            limits,
            extra: ExtraLimits::default(),
            kill_switch,
            instruments: Vec::new(),
            budget: RateBudget::new(0, 0),
            last: Vec::new(),
            account: AccountGuard::default(),
            flatten_on_kill: false,
        }
    }

    /// Adds the account-level loss limits; `flatten_on_kill` makes a trip also close every
    /// position with market orders.
    pub fn with_account(mut self, limits: AccountLimits, flatten_on_kill: bool) -> Self {
        self.account = AccountGuard::new(limits);
        self.flatten_on_kill = flatten_on_kill;
        self
    }

    /// True if a daily loss or drawdown limit is set.
    pub fn account_guard_enabled(&self) -> bool {
        self.account.is_enabled()
    }

    /// Whether a trip also flattens positions.
    pub fn flatten_on_kill(&self) -> bool {
        self.flatten_on_kill
    }

    /// Observes the account equity (PnL since start, quote currency) at wall time `now_ns`;
    /// on a breach trips the kill switch and returns the breach and its message.
    pub fn observe_equity(
        &mut self,
        equity: Price,
        now_ns: i64,
    ) -> Option<(AccountBreach, String)> {
        let breach = self.account.observe(equity, now_ns)?;
        self.kill_switch
            .trip(&format!("{}: {}", breach.0.as_str(), breach.1));
        Some(breach)
    }

    /// Adds the further account-wide limits.
    pub fn with_extra(mut self, extra: ExtraLimits) -> Self {
        self.extra = extra;
        self
    }

    /// Sets per-instrument rules and overrides, indexed by [`InstrumentId`].
    pub fn with_instruments(mut self, rules: Vec<InstrumentLimits>) -> Self {
        self.last = vec![None; rules.len()];
        self.instruments = rules;
        self
    }

    /// Sets the account's venue request budget (shared by every strategy).
    pub fn with_rate_budget(mut self, budget: RateBudget) -> Self {
        self.budget = budget;
        self
    }

    /// Makes the rate budget also respect the venue's reported usage ([`VenueUsage`], fed
    /// by the venue transports).
    pub fn with_venue_usage(mut self, usage: std::sync::Arc<VenueUsage>) -> Self {
        self.budget = self.budget.with_venue_usage(usage);
        self
    }

    /// The configured limits.
    pub fn limits(&self) -> RiskLimits {
        self.limits
    }

    /// The further limits.
    pub fn extra(&self) -> ExtraLimits {
        self.extra
    }

    /// The kill switch this gate follows.
    pub fn kill_switch(&self) -> &KillSwitch {
        &self.kill_switch
    }

    /// Counts a non-order request (a cancel) of `weight` against the shared budget.
    pub fn record_request(&mut self, weight: u64, now_ns: u64) {
        self.budget.record_request(weight, now_ns);
    }

    /// The full check on the core's path: [`RiskGate::check`], then duplicate suppression and
    /// the rate budget. On approval the order is remembered and its weight taken.
    pub fn check_order(
        &mut self,
        intent: &OrderIntent,
        view: &ExposureView,
    ) -> Result<(), RiskReject> {
        self.check(intent, view)?;
        let idx = intent.instrument.index();
        if let (Some(window_ms), Some(Some(last))) =
            (self.extra.duplicate_window_ms, self.last.get(idx))
        {
            if last.intent.strategy == intent.strategy
                && last.intent.side == intent.side
                && last.intent.order_type == intent.order_type
                && last.intent.price == intent.price
                && last.intent.qty == intent.qty
                && view.now_ns.saturating_sub(last.at_ns) < window_ms.saturating_mul(1_000_000)
            {
                return Err(reject(RejectReason::DuplicateOrder, || {
                    format!(
                        "{} {} @ {:?} repeats the order approved {} µs ago (duplicate_window_ms {})",
                        intent.side,
                        intent.qty,
                        intent.price,
                        view.now_ns.saturating_sub(last.at_ns) / 1000,
                        window_ms
                    )
                }));
            }
        }
        let weight = self.extra.order_weight.max(1);
        if !self.budget.can_send_order(weight, view.now_ns) {
            return Err(reject(RejectReason::RateLimit, || {
                format!(
                    "account request budget spent: {} weight and {} orders left",
                    self.budget.weight.available(view.now_ns),
                    self.budget.orders.available(view.now_ns)
                )
            }));
        }
        self.budget.record_order(weight, view.now_ns);
        if let Some(slot) = self.last.get_mut(idx) {
            *slot = Some(LastOrder {
                intent: *intent,
                at_ns: view.now_ns,
            });
        }
        Ok(())
    }

    /// Approves or refuses one order intent (the stateless checks).
    pub fn check(&self, intent: &OrderIntent, view: &ExposureView) -> Result<(), RiskReject> {
        if self.kill_switch.is_on() {
            return Err(reject(RejectReason::KillSwitch, || {
                format!(
                    "kill switch is on ({}): all new orders are refused",
                    self.kill_switch.reason()
                )
            }));
        }
        if intent.qty <= Decimal::ZERO {
            return Err(reject(RejectReason::InvalidOrder, || {
                format!("quantity {} is not positive", intent.qty)
            }));
        }
        if view.stale {
            return Err(reject(RejectReason::StaleMarketData, || {
                "the feed reports the instrument stale or disconnected".into()
            }));
        }
        if let Some(max_age) = self.extra.max_tick_age_ms {
            let age_ns = view.now_ns.saturating_sub(view.last_tick_ns);
            if view.last_tick_ns == 0 || age_ns > max_age.saturating_mul(1_000_000) {
                return Err(reject(RejectReason::StaleMarketData, || {
                    format!(
                        "last tick {} ms ago, beyond max_tick_age_ms {max_age}",
                        age_ns / 1_000_000
                    )
                }));
            }
        }
        let rules = self
            .instruments
            .get(intent.instrument.index())
            .copied()
            .unwrap_or_default();
        let price = match (intent.order_type, intent.price) {
            (OrderType::Limit, Some(p)) if p > Decimal::ZERO => p,
            (OrderType::Limit, p) => {
                return Err(reject(RejectReason::InvalidOrder, || {
                    format!("limit order needs a positive price, got {p:?}")
                }))
            }
            (OrderType::Market, _) => match view.reference_price {
                Some(p) => p,
                None => {
                    return Err(reject(RejectReason::NoReferencePrice, || {
                        "market order before any price is known for the instrument".into()
                    }))
                }
            },
        };
        self.check_instrument_rules(intent, price, &rules)?;
        if let (Some(bps), OrderType::Limit) = (self.extra.price_band_bps, intent.order_type) {
            let Some(reference) = view.reference_price else {
                return Err(reject(RejectReason::NoReferencePrice, || {
                    "no reference price to check the price band against".into()
                }));
            };
            // |price - reference| / reference > bps / 10^4, without a division.
            if (price - reference).abs() * Decimal::from(10_000) > reference * Decimal::from(bps) {
                return Err(reject(RejectReason::PriceBand, || {
                    format!(
                        "limit price {price} is more than {bps} bps from the reference {reference}"
                    )
                }));
            }
        }
        if let Some(max_qty) = rules.max_order_qty.or(self.extra.max_order_qty) {
            if intent.qty > max_qty {
                return Err(reject(RejectReason::MaxOrderQty, || {
                    format!("quantity {} exceeds max_order_qty {max_qty}", intent.qty)
                }));
            }
        }
        let notional = price * intent.qty;
        let max_notional = rules
            .max_order_notional
            .unwrap_or(self.limits.max_order_notional);
        if notional > max_notional {
            return Err(reject(RejectReason::MaxOrderNotional, || {
                format!(
                    "{} {} @ {} = notional {} exceeds max_order_notional {}",
                    intent.side, intent.qty, price, notional, max_notional
                )
            }));
        }
        // Worst case if every working order on this side fills as well.
        let worst = match intent.side {
            Side::Buy => view.position + view.open_buy_qty + intent.qty,
            Side::Sell => view.position - view.open_sell_qty - intent.qty,
        };
        let max_position = rules.max_position.unwrap_or(self.limits.max_position);
        let increases = worst.abs() > view.position.abs();
        if worst.abs() > max_position && increases {
            return Err(reject(RejectReason::MaxPosition, || {
                format!(
                    "{} {} would take the position to {} (position {}, open buys {}, open sells {}), beyond max_position {}",
                    intent.side, intent.qty, worst, view.position, view.open_buy_qty, view.open_sell_qty, max_position
                )
            }));
        }
        if let (Some(max_gross), true) = (self.extra.max_gross_exposure, increases) {
            let after = view.gross_exposure + notional;
            if after > max_gross {
                return Err(reject(RejectReason::MaxGrossExposure, || {
                    format!(
                        "gross exposure {} + order {notional} = {after} exceeds max_gross_exposure {max_gross}",
                        view.gross_exposure
                    )
                }));
            }
        }
        if let Some(max_open) = self.extra.max_open_orders {
            if view.open_orders >= max_open {
                return Err(reject(RejectReason::MaxOpenOrders, || {
                    format!(
                        "{} orders working, max_open_orders {max_open}",
                        view.open_orders
                    )
                }));
            }
        }
        if self.extra.self_trade_prevention {
            let crosses = match (intent.side, intent.order_type) {
                (Side::Buy, OrderType::Market) => view.own_best_ask.is_some(),
                (Side::Sell, OrderType::Market) => view.own_best_bid.is_some(),
                (Side::Buy, OrderType::Limit) => view.own_best_ask.is_some_and(|a| price >= a),
                (Side::Sell, OrderType::Limit) => view.own_best_bid.is_some_and(|b| price <= b),
            };
            if crosses {
                return Err(reject(RejectReason::SelfTrade, || {
                    format!(
                        "{} {:?} @ {price} would cross our own resting order (our bid {:?}, our ask {:?})",
                        intent.side, intent.order_type, view.own_best_bid, view.own_best_ask
                    )
                }));
            }
        }
        Ok(())
    }

    #[inline]
    fn check_instrument_rules(
        &self,
        intent: &OrderIntent,
        price: Price,
        rules: &InstrumentLimits,
    ) -> Result<(), RiskReject> {
        if intent.order_type == OrderType::Limit && !is_multiple(price, rules.tick_size) {
            return Err(reject(RejectReason::TickSize, || {
                format!(
                    "price {price} is not a multiple of tick_size {}",
                    rules.tick_size
                )
            }));
        }
        if !is_multiple(intent.qty, rules.lot_size) {
            return Err(reject(RejectReason::LotSize, || {
                format!(
                    "quantity {} is not a multiple of lot_size {}",
                    intent.qty, rules.lot_size
                )
            }));
        }
        if let Some(min) = rules.min_qty {
            if intent.qty < min {
                return Err(reject(RejectReason::MinQty, || {
                    format!("quantity {} is below min_qty {min}", intent.qty)
                }));
            }
        }
        if let Some(max) = rules.max_qty {
            if intent.qty > max {
                return Err(reject(RejectReason::MaxQty, || {
                    format!("quantity {} is above the venue's max_qty {max}", intent.qty)
                }));
            }
        }
        if let Some(min) = rules.min_notional {
            let notional = price * intent.qty;
            if notional < min {
                return Err(reject(RejectReason::MinNotional, || {
                    format!("notional {notional} is below min_notional {min}")
                }));
            }
        }
        Ok(())
    }
}

/// Looks up the instrument's limits (for tests and tools).
impl RiskGate {
    /// The rules of one instrument (defaults if none were set).
    pub fn instrument_limits(&self, id: InstrumentId) -> InstrumentLimits {
        self.instruments
            .get(id.index())
            .copied()
            .unwrap_or_default()
    }
}

/// True if `v` is a whole multiple of `step` (any `v` when `step` is zero). Fast path for the
/// usual power-of-ten steps (`0.01`, `0.00001`): `v` with no more decimals than `step` is a
/// multiple without the (slow) decimal remainder.
#[inline]
fn is_multiple(v: Decimal, step: Decimal) -> bool {
    if step.is_zero() {
        return true;
    }
    if step.mantissa() == 1 && v.scale() <= step.scale() {
        return true;
    }
    (v % step).is_zero()
}

#[cold]
fn reject(reason: RejectReason, message: impl FnOnce() -> String) -> RiskReject {
    RiskReject {
        reason,
        message: message(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::TimeInForce;
    use crate::types::InstrumentId;
    use rust_decimal_macros::dec;

    fn intent(side: Side, price: Option<Price>, qty: Qty) -> OrderIntent {
        OrderIntent {
            strategy: 0,
            instrument: InstrumentId(0),
            side,
            order_type: if price.is_some() {
                OrderType::Limit
            } else {
                OrderType::Market
            },
            price,
            qty,
            tif: TimeInForce::Gtc,
            reduce_only: false,
            post_only: false,
            origin_recv_ns: 0,
        }
    }

    fn gate() -> RiskGate {
        RiskGate::new(
            RiskLimits {
                max_order_notional: dec!(1000),
                max_position: dec!(0.05),
            },
            KillSwitch::new(false),
        )
    }

    #[test]
    fn approves_within_limits() {
        let v = ExposureView {
            reference_price: Some(dec!(60000)),
            ..Default::default()
        };
        assert_eq!(
            gate().check(&intent(Side::Buy, Some(dec!(60000)), dec!(0.01)), &v),
            Ok(())
        );
        assert_eq!(
            gate().check(&intent(Side::Sell, None, dec!(0.01)), &v),
            Ok(())
        );
    }

    #[test]
    fn refuses_notional_above_limit_exactly_at_the_boundary() {
        let v = ExposureView::default();
        assert!(gate()
            .check(&intent(Side::Buy, Some(dec!(100000)), dec!(0.01)), &v)
            .is_ok());
        let err = gate()
            .check(&intent(Side::Buy, Some(dec!(100000.01)), dec!(0.01)), &v)
            .unwrap_err();
        assert_eq!(err.reason, RejectReason::MaxOrderNotional);
        assert!(err.message.contains("1000.0001"), "{}", err.message);
    }

    #[test]
    fn market_orders_are_valued_at_the_reference_price() {
        let v = ExposureView {
            reference_price: Some(dec!(200000)),
            ..Default::default()
        };
        let err = gate()
            .check(&intent(Side::Buy, None, dec!(0.01)), &v)
            .unwrap_err();
        assert_eq!(err.reason, RejectReason::MaxOrderNotional);
        let err = gate()
            .check(
                &intent(Side::Buy, None, dec!(0.01)),
                &ExposureView::default(),
            )
            .unwrap_err();
        assert_eq!(err.reason, RejectReason::NoReferencePrice);
    }

    #[test]
    fn position_limit_counts_open_orders_and_allows_reducing() {
        let v = ExposureView {
            position: dec!(0.03),
            open_buy_qty: dec!(0.015),
            ..Default::default()
        };
        assert!(gate()
            .check(&intent(Side::Buy, Some(dec!(100)), dec!(0.005)), &v)
            .is_ok());
        let err = gate()
            .check(&intent(Side::Buy, Some(dec!(100)), dec!(0.006)), &v)
            .unwrap_err();
        assert_eq!(err.reason, RejectReason::MaxPosition);
        // Over the limit already (e.g. limit lowered): reducing is still allowed.
        let v = ExposureView {
            position: dec!(0.08),
            ..Default::default()
        };
        assert!(gate()
            .check(&intent(Side::Sell, Some(dec!(100)), dec!(0.01)), &v)
            .is_ok());
        assert_eq!(
            gate()
                .check(&intent(Side::Buy, Some(dec!(100)), dec!(0.01)), &v)
                .unwrap_err()
                .reason,
            RejectReason::MaxPosition
        );
        let v = ExposureView {
            position: dec!(-0.04),
            open_sell_qty: dec!(0.01),
            ..Default::default()
        };
        assert_eq!(
            gate()
                .check(&intent(Side::Sell, Some(dec!(100)), dec!(0.001)), &v)
                .unwrap_err()
                .reason,
            RejectReason::MaxPosition
        );
    }

    #[test]
    fn kill_switch_refuses_everything_until_reset() {
        let g = gate();
        g.kill_switch().set(true);
        let v = ExposureView::default();
        assert_eq!(
            g.check(&intent(Side::Sell, Some(dec!(1)), dec!(0.001)), &v)
                .unwrap_err()
                .reason,
            RejectReason::KillSwitch
        );
        g.kill_switch().set(false);
        assert!(g
            .check(&intent(Side::Sell, Some(dec!(1)), dec!(0.001)), &v)
            .is_ok());
    }

    #[test]
    fn invalid_orders_are_refused() {
        let v = ExposureView::default();
        assert_eq!(
            gate()
                .check(&intent(Side::Buy, Some(dec!(1)), dec!(0)), &v)
                .unwrap_err()
                .reason,
            RejectReason::InvalidOrder
        );
        assert_eq!(
            gate()
                .check(&intent(Side::Buy, Some(dec!(-1)), dec!(1)), &v)
                .unwrap_err()
                .reason,
            RejectReason::InvalidOrder
        );
    }

    #[test]
    fn multiples_fast_path_agrees_with_the_remainder() {
        for (v, step) in [
            (dec!(60000.01), dec!(0.01)),
            (dec!(60000.010), dec!(0.01)),
            (dec!(60000.015), dec!(0.01)),
            (dec!(1.5), dec!(0.5)),
            (dec!(1.25), dec!(0.5)),
            (dec!(7), dec!(1)),
            (dec!(0.00001), dec!(0.00001)),
            (dec!(0.000015), dec!(0.00001)),
            (dec!(3), dec!(0)),
        ] {
            let expected = step.is_zero() || (v % step).is_zero();
            assert_eq!(is_multiple(v, step), expected, "{v} / {step}");
        }
    }

    fn full_gate() -> RiskGate {
        gate()
            .with_extra(ExtraLimits {
                max_order_qty: Some(dec!(0.04)),
                max_gross_exposure: Some(dec!(5000)),
                max_open_orders: Some(3),
                price_band_bps: Some(500),
                max_tick_age_ms: Some(1000),
                duplicate_window_ms: Some(50),
                self_trade_prevention: true,
                order_weight: 1,
            })
            .with_instruments(vec![InstrumentLimits {
                tick_size: dec!(0.01),
                lot_size: dec!(0.001),
                min_qty: Some(dec!(0.001)),
                max_qty: Some(dec!(100)),
                min_notional: Some(dec!(5)),
                ..Default::default()
            }])
            .with_rate_budget(RateBudget::new(1000, 5))
    }

    fn fresh(reference: Price) -> ExposureView {
        ExposureView {
            reference_price: Some(reference),
            last_tick_ns: 1_000_000_000,
            now_ns: 1_000_000_001,
            ..Default::default()
        }
    }

    #[test]
    fn each_further_check_has_its_reason() {
        let g = full_gate();
        let v = fresh(dec!(10000));
        let buy = |px, q| intent(Side::Buy, Some(px), q);
        let r = |i: OrderIntent, v: &ExposureView| g.check(&i, v).map_err(|e| e.reason);
        assert_eq!(r(buy(dec!(10000), dec!(0.01)), &v), Ok(()));
        assert_eq!(
            r(buy(dec!(10000.005), dec!(0.01)), &v),
            Err(RejectReason::TickSize)
        );
        assert_eq!(
            r(buy(dec!(10000), dec!(0.0105)), &v),
            Err(RejectReason::LotSize)
        );
        assert_eq!(
            r(buy(dec!(4000), dec!(0.001)), &v),
            Err(RejectReason::MinNotional)
        );
        assert_eq!(
            r(buy(dec!(10600), dec!(0.01)), &v),
            Err(RejectReason::PriceBand)
        );
        assert_eq!(
            r(buy(dec!(9600), dec!(0.05)), &v),
            Err(RejectReason::MaxOrderQty)
        );
        let busy = ExposureView {
            gross_exposure: dec!(4950),
            ..v
        };
        assert_eq!(
            r(buy(dec!(10000), dec!(0.01)), &busy),
            Err(RejectReason::MaxGrossExposure)
        );
        let busy = ExposureView {
            open_orders: 3,
            ..v
        };
        assert_eq!(
            r(buy(dec!(10000), dec!(0.01)), &busy),
            Err(RejectReason::MaxOpenOrders)
        );
        let own = ExposureView {
            own_best_ask: Some(dec!(10000)),
            ..v
        };
        assert_eq!(
            r(buy(dec!(10000), dec!(0.01)), &own),
            Err(RejectReason::SelfTrade)
        );
        assert_eq!(r(buy(dec!(9999.99), dec!(0.01)), &own), Ok(()));
        let stale = ExposureView { stale: true, ..v };
        assert_eq!(
            r(buy(dec!(10000), dec!(0.01)), &stale),
            Err(RejectReason::StaleMarketData)
        );
        let old = ExposureView {
            now_ns: 2_000_000_001,
            ..v
        };
        assert_eq!(
            r(buy(dec!(10000), dec!(0.01)), &old),
            Err(RejectReason::StaleMarketData)
        );
    }

    #[test]
    fn duplicates_and_the_rate_budget_are_counted_on_the_core_path() {
        let mut g = full_gate();
        let mut v = fresh(dec!(10000));
        let first_ns = v.now_ns;
        let i = intent(Side::Buy, Some(dec!(10000)), dec!(0.001));
        assert_eq!(g.check_order(&i, &v), Ok(()));
        assert_eq!(
            g.check_order(&i, &v).unwrap_err().reason,
            RejectReason::DuplicateOrder
        );
        v.now_ns += 50_000_000;
        assert_eq!(g.check_order(&i, &v), Ok(()), "after the window");
        for k in 0..3 {
            let other = intent(Side::Buy, Some(dec!(9990) + Decimal::from(k)), dec!(0.001));
            assert_eq!(g.check_order(&other, &v), Ok(()));
        }
        let sixth = intent(Side::Sell, Some(dec!(10010)), dec!(0.001));
        let err = g.check_order(&sixth, &v).unwrap_err();
        assert_eq!(err.reason, RejectReason::RateLimit, "5 orders per 10 s");
        // A sliding window: nothing frees up until the first order is 10 s old.
        v.now_ns += 2_000_000_000;
        v.last_tick_ns = v.now_ns;
        assert_eq!(
            g.check_order(&sixth, &v).unwrap_err().reason,
            RejectReason::RateLimit
        );
        v.now_ns = first_ns + 10_000_000_000;
        v.last_tick_ns = v.now_ns;
        assert_eq!(
            g.check_order(&sixth, &v),
            Ok(()),
            "the first order left the window"
        );
    }

    /// An independent statement of every limit, for the property test.
    fn breaks_a_limit(g: &RiskGate, i: &OrderIntent, v: &ExposureView) -> Option<&'static str> {
        let r = g.instrument_limits(i.instrument);
        let x = g.extra();
        let px = match i.order_type {
            OrderType::Limit => i.price?,
            OrderType::Market => v.reference_price?,
        };
        let n = px * i.qty;
        let reference = v.reference_price;
        let signed = if i.side == Side::Buy { i.qty } else { -i.qty };
        let same_side_open = if i.side == Side::Buy {
            v.open_buy_qty
        } else {
            -v.open_sell_qty
        };
        let worst = v.position + same_side_open + signed;
        let checks: [(&str, bool); 14] = [
            ("kill", g.kill_switch().is_on()),
            ("qty", i.qty <= Decimal::ZERO),
            (
                "stale",
                v.stale || v.now_ns - v.last_tick_ns > 1_000_000_000,
            ),
            (
                "tick",
                i.order_type == OrderType::Limit && (px / r.tick_size).fract() != Decimal::ZERO,
            ),
            ("lot", (i.qty / r.lot_size).fract() != Decimal::ZERO),
            ("min_qty", i.qty < r.min_qty.unwrap_or_default()),
            ("min_notional", n < r.min_notional.unwrap_or_default()),
            (
                "band",
                i.order_type == OrderType::Limit
                    && reference.is_none_or(|rf| {
                        (px - rf).abs() * Decimal::from(10_000)
                            > rf * Decimal::from(x.price_band_bps.unwrap_or(0))
                    }),
            ),
            ("order_qty", i.qty > x.max_order_qty.unwrap_or(Decimal::MAX)),
            ("notional", n > g.limits().max_order_notional),
            (
                "position",
                worst.abs() > g.limits().max_position && worst.abs() > v.position.abs(),
            ),
            (
                "gross",
                v.gross_exposure + n > x.max_gross_exposure.unwrap_or(Decimal::MAX)
                    && worst.abs() > v.position.abs(),
            ),
            (
                "open_orders",
                v.open_orders >= x.max_open_orders.unwrap_or(usize::MAX),
            ),
            (
                "self_trade",
                match i.side {
                    Side::Buy => v
                        .own_best_ask
                        .is_some_and(|a| i.order_type == OrderType::Market || px >= a),
                    Side::Sell => v
                        .own_best_bid
                        .is_some_and(|b| i.order_type == OrderType::Market || px <= b),
                },
            ),
        ];
        checks.iter().find(|c| c.1).map(|c| c.0)
    }

    proptest::proptest! {
        #[test]
        fn the_gate_never_approves_an_order_that_breaks_a_limit(
            orders in proptest::collection::vec(((
                proptest::bool::ANY,            // buy?
                proptest::option::of(900_000_i64..1_100_000), // limit price in cents, None = market
                1i64..60,                       // qty in 0.001 (sometimes 0.0005 steps)
                proptest::bool::ANY,            // odd lot
                ), (
                -60i64..60,                     // position in 0.001
                0i64..30, 0i64..30,             // open buy / sell in 0.001
                0i64..6000,                     // gross exposure
                0usize..5,                      // open orders
                ), (
                proptest::option::of(950_000_i64..1_050_000), // own best bid
                proptest::option::of(950_000_i64..1_050_000), // own best ask
                (0u64..1_500, 0u64..20),        // tick age ms, ms since last order
                proptest::bool::ANY,            // stale
            )), 1..60),
        ) {
            let mut g = full_gate();
            let mut now = 10_000_000_000u64;
            let mut approved_times: Vec<u64> = Vec::new();
            for ((buy, px, q, odd), (pos, ob, os, gross, open), (obid, oask, (age, dt), stale)) in orders {
                now += dt * 1_000_000;
                let qty = Decimal::new(q, 3) + if odd { Decimal::new(5, 4) } else { Decimal::ZERO };
                let i = intent(if buy { Side::Buy } else { Side::Sell }, px.map(|p| Decimal::new(p, 2)), qty);
                let v = ExposureView {
                    position: Decimal::new(pos, 3),
                    open_buy_qty: Decimal::new(ob, 3),
                    open_sell_qty: Decimal::new(os, 3),
                    reference_price: Some(dec!(10000)),
                    gross_exposure: Decimal::from(gross),
                    open_orders: open,
                    own_best_bid: obid.map(|p| Decimal::new(p, 2)),
                    own_best_ask: oask.map(|p| Decimal::new(p, 2)),
                    stale,
                    last_tick_ns: now - age * 1_000_000,
                    now_ns: now,
                };
                if g.check_order(&i, &v).is_ok() {
                    proptest::prop_assert_eq!(breaks_a_limit(&g, &i, &v), None, "approved {:?} {:?}", i, v);
                    approved_times.push(now);
                    // Never more than 5 orders in any 10 s (the venue's window).
                    let in_window = approved_times.iter().filter(|t| now - **t < 10_000_000_000).count();
                    proptest::prop_assert!(in_window <= 5, "{} orders within 10 s", in_window);
                }
            }
        }
    }
}
