//! The pre-trade risk gate: pure checks on every order intent, each refusal with a reason.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::order::{OrderIntent, OrderType};
use crate::types::{Price, Qty, Side};

/// The local kill switch: while on, every new order is refused. Shared with whatever flips
/// it (config, a file watcher, a signal); reading it is one relaxed atomic load.
#[derive(Clone, Debug, Default)]
pub struct KillSwitch(Arc<AtomicBool>);

impl KillSwitch {
    /// A switch in the given state.
    pub fn new(on: bool) -> Self {
        Self(Arc::new(AtomicBool::new(on)))
    }

    /// Turns the switch on or off.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }

    /// True while orders must be refused.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Limits applied to every order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskLimits {
    /// Largest price x qty of a single order, in quote currency.
    pub max_order_notional: Price,
    /// Largest absolute position per instrument, counting open orders on the same side.
    pub max_position: Qty,
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

/// The state of the instrument the gate needs to judge an order.
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
}

/// The risk gate. Pure: no I/O, no allocation on approval.
#[derive(Clone, Debug)]
pub struct RiskGate {
    limits: RiskLimits,
    kill_switch: KillSwitch,
}

impl RiskGate {
    /// A gate with these limits and switch.
    pub fn new(limits: RiskLimits, kill_switch: KillSwitch) -> Self {
        Self {
            limits,
            kill_switch,
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> RiskLimits {
        self.limits
    }

    /// The kill switch this gate follows.
    pub fn kill_switch(&self) -> &KillSwitch {
        &self.kill_switch
    }

    /// Approves or refuses one order intent.
    pub fn check(&self, intent: &OrderIntent, view: &ExposureView) -> Result<(), RiskReject> {
        if self.kill_switch.is_on() {
            return Err(reject(RejectReason::KillSwitch, || {
                "kill switch is on: all new orders are refused".into()
            }));
        }
        if intent.qty <= Decimal::ZERO {
            return Err(reject(RejectReason::InvalidOrder, || {
                format!("quantity {} is not positive", intent.qty)
            }));
        }
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
        let notional = price * intent.qty;
        if notional > self.limits.max_order_notional {
            return Err(reject(RejectReason::MaxOrderNotional, || {
                format!(
                    "{} {} @ {} = notional {} exceeds max_order_notional {}",
                    intent.side, intent.qty, price, notional, self.limits.max_order_notional
                )
            }));
        }
        // Worst case if every working order on this side fills as well.
        let worst = match intent.side {
            Side::Buy => view.position + view.open_buy_qty + intent.qty,
            Side::Sell => view.position - view.open_sell_qty - intent.qty,
        };
        if worst.abs() > self.limits.max_position && worst.abs() > view.position.abs() {
            return Err(reject(RejectReason::MaxPosition, || {
                format!(
                    "{} {} would take the position to {} (position {}, open buys {}, open sells {}), beyond max_position {}",
                    intent.side, intent.qty, worst, view.position, view.open_buy_qty, view.open_sell_qty, self.limits.max_position
                )
            }));
        }
        Ok(())
    }
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
}
