//! The stored form of a conditional order the engine holds (`held_orders`): what a restart
//! needs to hold it again (`core::CoreRestore::held`).

use serde::{Deserialize, Serialize};

use crate::order::{OrderType, TimeInForce, Trigger};
use crate::types::{Price, Qty, Side};

/// Where a held order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldStatus {
    /// Waiting for its trigger (restored at start).
    Held,
    /// Its trigger fired: placed under its id (its order has its own rows from then on).
    Fired,
    /// Cancelled before it fired (`cancel`, `cancel_all`, its OCO partner, the kill switch,
    /// a halt).
    Dropped,
}

impl HeldStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            HeldStatus::Held => "held",
            HeldStatus::Fired => "fired",
            HeldStatus::Dropped => "dropped",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "held" => HeldStatus::Held,
            "fired" => HeldStatus::Fired,
            "dropped" => HeldStatus::Dropped,
            _ => return None,
        })
    }
}

/// A held order's trigger as stored: kind and its numbers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldTrigger {
    /// `stop`, `take_profit` or `trailing`.
    pub kind: TriggerKind,
    /// Trigger price (stop, take-profit).
    pub price: Option<Price>,
    /// Trailing distance (price units, or percent with `percent`).
    pub offset: Option<Price>,
    /// The trailing distance is a percentage.
    pub percent: bool,
    /// The best trade a trailing stop has seen (as of this row).
    pub extreme: Option<Price>,
}

/// The kind of a stored trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// [`Trigger::Stop`].
    Stop,
    /// [`Trigger::TakeProfit`].
    TakeProfit,
    /// [`Trigger::Trailing`].
    Trailing,
}

impl TriggerKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Stop => "stop",
            TriggerKind::TakeProfit => "take_profit",
            TriggerKind::Trailing => "trailing",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "stop" => TriggerKind::Stop,
            "take_profit" => TriggerKind::TakeProfit,
            "trailing" => TriggerKind::Trailing,
            _ => return None,
        })
    }
}

impl From<Trigger> for HeldTrigger {
    fn from(t: Trigger) -> Self {
        let none = HeldTrigger {
            kind: TriggerKind::Stop,
            price: None,
            offset: None,
            percent: false,
            extreme: None,
        };
        match t {
            Trigger::Stop { price } => HeldTrigger {
                price: Some(price),
                ..none
            },
            Trigger::TakeProfit { price } => HeldTrigger {
                kind: TriggerKind::TakeProfit,
                price: Some(price),
                ..none
            },
            Trigger::Trailing {
                offset,
                percent,
                extreme,
            } => HeldTrigger {
                kind: TriggerKind::Trailing,
                offset: Some(offset),
                percent,
                extreme,
                ..none
            },
        }
    }
}

impl HeldTrigger {
    /// The trigger again; `None` if a number its kind needs is missing.
    pub fn trigger(&self) -> Option<Trigger> {
        Some(match self.kind {
            TriggerKind::Stop => Trigger::Stop { price: self.price? },
            TriggerKind::TakeProfit => Trigger::TakeProfit { price: self.price? },
            TriggerKind::Trailing => Trigger::Trailing {
                offset: self.offset?,
                percent: self.percent,
                extreme: self.extreme,
            },
        })
    }
}

/// Stored name of a time in force.
pub fn tif_str(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Gtc => "gtc",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
    }
}

/// Parses a stored time in force.
pub fn parse_tif(s: &str) -> Option<TimeInForce> {
    Some(match s {
        "gtc" => TimeInForce::Gtc,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        _ => return None,
    })
}

/// One held order in its latest state (upserted on `client_order_id`, newer sequence wins).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldRow {
    /// The id it is placed under when it fires (natural key).
    pub client_order_id: String,
    /// Strategy name.
    pub strategy: String,
    /// Venue name.
    pub venue: String,
    /// Canonical symbol.
    pub symbol: String,
    /// Side of the order it places.
    pub side: Side,
    /// Market or limit, once fired.
    pub order_type: OrderType,
    /// Limit price of the placed order.
    pub price: Option<Price>,
    /// Quantity.
    pub qty: Qty,
    /// Time in force of the placed order.
    pub time_in_force: TimeInForce,
    /// Post-only flag of the placed order.
    pub post_only: bool,
    /// Reduce-only flag of the placed order.
    pub reduce_only: bool,
    /// When it fires.
    pub trigger: HeldTrigger,
    /// Its OCO partner (held or working), if linked.
    pub oco_with: Option<String>,
    /// Held, fired or dropped.
    pub status: HeldStatus,
    /// Wall time it was first held, ns since the epoch.
    pub created_ns: i64,
    /// Wall time of this state, ns since the epoch.
    pub updated_ns: i64,
}
