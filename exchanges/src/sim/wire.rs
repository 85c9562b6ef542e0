//! Wire formatting shared by the REST and websocket layers: decimals as Binance-style strings,
//! enum names, the clock.

use std::time::{SystemTime, UNIX_EPOCH};

use peregrine_engine::types::Side;
use rust_decimal::Decimal;

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A decimal as Binance writes it: at least 8 decimal places (`"0.00100000"`), never rounded,
/// so the string is exactly the value.
pub fn dec(d: Decimal) -> String {
    let mut d = d;
    if d.scale() < 8 {
        d.rescale(8);
    }
    d.to_string()
}

/// `BUY` / `SELL`.
pub fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// Parses `BUY` / `SELL`.
pub fn parse_side(s: &str) -> Option<Side> {
    match s {
        "BUY" => Some(Side::Buy),
        "SELL" => Some(Side::Sell),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec as d;

    #[test]
    fn decimals_are_padded_not_rounded() {
        assert_eq!(dec(d!(0)), "0.00000000");
        assert_eq!(dec(d!(60000.5)), "60000.50000000");
        assert_eq!(dec(d!(0.0000000075)), "0.0000000075");
    }
}
