//! User Data Stream events: our orders' `executionReport`s as [`ExecReport`]s.
//!
//! The events arrive on the WebSocket API connection ([`super::ws_api`], subscribed with
//! `userDataStream.subscribe[.signature]`; Binance retired listen keys on 2026-02-20). They
//! are the only source of fills, cancels and expiries (see [`super::gateway`]).

use peregrine_engine::order::{ClientOrderId, ExecKind, ExecReport, FillInfo};
use peregrine_engine::types::{Instruments, Side};
use serde::Deserialize;

use crate::md::{decimal, MdError};

/// What one User Data Stream event was.
#[derive(Debug, Clone, PartialEq)]
pub enum UserEvent {
    /// A report about one of our orders.
    Exec(ExecReport),
    /// An `executionReport` for an order that is not ours (client id not a [`ClientOrderId`])
    /// or for a symbol we don't trade.
    NotOurs,
    /// An `executionReport` with an execution type we don't report (e.g. `REPLACED`).
    Skipped,
    /// Another event (`outboundAccountPosition`, `balanceUpdate`, ...).
    Other,
    /// `eventStreamTerminated`: the venue ended the subscription; resubscribe.
    StreamTerminated,
    /// `serverShutdown`: the WebSocket API server is going away; reconnect.
    ServerShutdown,
}

/// Why a user-stream message could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UserStreamError {
    /// Not JSON, or not an event of the documented shape.
    #[error("malformed user stream event: {0}")]
    Malformed(String),
    /// A number field could not be read.
    #[error(transparent)]
    Field(#[from] MdError),
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    e: &'a str,
}

#[derive(Deserialize)]
struct RawExecutionReport<'a> {
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "c")]
    client_order_id: &'a str,
    #[serde(rename = "C", default, borrow)]
    orig_client_order_id: Option<&'a str>,
    #[serde(rename = "S")]
    side: &'a str,
    #[serde(rename = "x")]
    exec_type: &'a str,
    #[serde(rename = "r", default, borrow)]
    reject_reason: Option<&'a str>,
    #[serde(rename = "i")]
    order_id: u64,
    #[serde(rename = "q")]
    order_qty: &'a str,
    #[serde(rename = "l")]
    last_qty: &'a str,
    #[serde(rename = "z")]
    cum_qty: &'a str,
    #[serde(rename = "L")]
    last_price: &'a str,
    #[serde(rename = "n", default, borrow)]
    commission: Option<&'a str>,
    #[serde(rename = "N", default, borrow)]
    commission_asset: Option<&'a str>,
    #[serde(rename = "T")]
    transact_time: i64,
    #[serde(rename = "t")]
    trade_id: i64,
    #[serde(rename = "m")]
    is_maker: bool,
}

/// Reads one user-stream text message received at `recv_ns`.
pub fn parse_user_event(
    text: &str,
    instruments: &Instruments,
    recv_ns: u64,
) -> Result<UserEvent, UserStreamError> {
    let head: Head<'_> =
        serde_json::from_str(text).map_err(|e| UserStreamError::Malformed(e.to_string()))?;
    match head.e {
        "executionReport" => {}
        "eventStreamTerminated" => return Ok(UserEvent::StreamTerminated),
        "serverShutdown" => return Ok(UserEvent::ServerShutdown),
        _ => return Ok(UserEvent::Other),
    }
    let r: RawExecutionReport<'_> =
        serde_json::from_str(text).map_err(|e| UserStreamError::Malformed(e.to_string()))?;
    let coid_text = match r.orig_client_order_id {
        Some(c) if !c.is_empty() => c,
        _ => r.client_order_id,
    };
    let Ok(client_order_id) = coid_text.parse::<ClientOrderId>() else {
        tracing::debug!(
            client_order_id = coid_text,
            "executionReport for an order that is not ours"
        );
        return Ok(UserEvent::NotOurs);
    };
    let Some(instrument) = instruments.by_venue_symbol(r.symbol) else {
        tracing::debug!(
            symbol = r.symbol,
            "executionReport for a symbol we don't trade"
        );
        return Ok(UserEvent::NotOurs);
    };
    let side = match r.side {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        other => {
            return Err(UserStreamError::Malformed(format!(
                "field `S`: unknown side {other:?}"
            )))
        }
    };
    let kind = match r.exec_type {
        "NEW" => ExecKind::Ack {
            venue_order_id: r.order_id,
        },
        "TRADE" => {
            let qty = decimal("l", r.last_qty)?;
            let leaves_qty = decimal("q", r.order_qty)? - decimal("z", r.cum_qty)?;
            let trade_id = u64::try_from(r.trade_id).map_err(|_| {
                UserStreamError::Malformed(format!("field `t`: bad trade id {}", r.trade_id))
            })?;
            let exch_ts_ns = r.transact_time.checked_mul(1_000_000).ok_or_else(|| {
                UserStreamError::Malformed("field `T`: time overflows".to_string())
            })?;
            ExecKind::Fill(FillInfo {
                trade_id,
                price: decimal("L", r.last_price)?,
                qty,
                fee: decimal("n", r.commission.unwrap_or("0"))?,
                fee_asset: r.commission_asset.unwrap_or("").to_string(),
                is_maker: r.is_maker,
                leaves_qty,
                exch_ts_ns,
            })
        }
        "CANCELED" => ExecKind::Cancelled,
        "EXPIRED" | "TRADE_PREVENTION" => ExecKind::Expired,
        "REJECTED" => ExecKind::Rejected {
            code: 0,
            reason: r.reject_reason.unwrap_or("REJECTED").to_string(),
        },
        _ => return Ok(UserEvent::Skipped),
    };
    Ok(UserEvent::Exec(ExecReport {
        client_order_id,
        instrument,
        side,
        kind,
        recv_ns,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_engine::types::{InstrumentId, InstrumentSpec};
    use rust_decimal_macros::dec;

    fn registry() -> Instruments {
        let mut r = Instruments::new();
        r.intern(
            InstrumentSpec::from_canonical("binance", "ETH-BTC", dec!(0.000001), dec!(0.001))
                .unwrap(),
        );
        r
    }

    /// Shape from Binance's "User Data Streams" documentation (executionReport payload).
    pub(crate) fn report(x: &str, c: &str, cc: &str) -> String {
        format!(
            r#"{{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"{c}","S":"BUY","o":"LIMIT","f":"GTC",
            "q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"{cc}","x":"{x}",
            "X":"PARTIALLY_FILLED","r":"NONE","i":4293153,"l":"0.40000000","z":"0.40000000","L":"0.10264400",
            "n":"0.00004000","N":"BNB","T":1499405658657,"t":42,"v":3,"I":8641984,"w":true,"m":false,"M":false,
            "O":1499405658657,"Z":"0.04105760","Y":"0.04105760","Q":"0.00000000","W":1499405658657,"V":"NONE"}}"#
        )
    }

    fn exec(text: &str) -> ExecReport {
        match parse_user_event(text, &registry(), 5).unwrap() {
            UserEvent::Exec(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn execution_types_map_to_reports() {
        let me = ClientOrderId { run: 0x1f, seq: 3 };
        let r = exec(&report("TRADE", "pg1f-3", ""));
        assert_eq!(
            (r.client_order_id, r.instrument, r.side, r.recv_ns),
            (me, InstrumentId(0), Side::Buy, 5)
        );
        assert_eq!(
            r.kind,
            ExecKind::Fill(FillInfo {
                trade_id: 42,
                price: dec!(0.102644),
                qty: dec!(0.4),
                fee: dec!(0.00004),
                fee_asset: "BNB".into(),
                is_maker: false,
                leaves_qty: dec!(0.6),
                exch_ts_ns: 1_499_405_658_657_000_000,
            })
        );
        assert_eq!(
            exec(&report("NEW", "pg1f-3", "")).kind,
            ExecKind::Ack {
                venue_order_id: 4293153
            }
        );
        // A cancel carries the cancel request's id in `c` and ours in `C`.
        let c = exec(&report("CANCELED", "web_abc", "pg1f-3"));
        assert_eq!((c.client_order_id, c.kind), (me, ExecKind::Cancelled));
        assert_eq!(
            exec(&report("EXPIRED", "pg1f-3", "")).kind,
            ExecKind::Expired
        );
        assert!(matches!(
            exec(&report("REJECTED", "pg1f-3", "")).kind,
            ExecKind::Rejected { .. }
        ));
    }

    #[test]
    fn foreign_orders_other_events_and_malformed() {
        let reg = registry();
        assert_eq!(
            parse_user_event(&report("NEW", "web_123", ""), &reg, 0),
            Ok(UserEvent::NotOurs)
        );
        assert_eq!(
            parse_user_event(&report("REPLACED", "pg1-1", ""), &reg, 0),
            Ok(UserEvent::Skipped)
        );
        let other = r#"{"e":"outboundAccountPosition","E":1,"u":1,"B":[]}"#;
        assert_eq!(parse_user_event(other, &reg, 0), Ok(UserEvent::Other));
        assert_eq!(
            parse_user_event(r#"{"e":"eventStreamTerminated","E":1}"#, &reg, 0),
            Ok(UserEvent::StreamTerminated)
        );
        assert!(matches!(
            parse_user_event("nope", &reg, 0),
            Err(UserStreamError::Malformed(_))
        ));
        let bad = report("TRADE", "pg1-1", "").replace(r#""l":"0.40000000""#, r#""l":"0.4x""#);
        assert!(matches!(
            parse_user_event(&bad, &reg, 0),
            Err(UserStreamError::Field(MdError::BadNumber {
                field: "l",
                ..
            }))
        ));
    }
}
