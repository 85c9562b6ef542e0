//! The one fee model of the simulator and the backtest venue: maker/taker rates and the asset
//! a fill's commission is taken in, as Binance spot charges it.
//!
//! Binance (without BNB fee payment) takes the commission from what the fill gives you: a
//! buy pays in the base asset it receives, a sell in the quote asset it receives, rounded to
//! 8 decimals (half away from zero). [`FeeAsset::Quote`] charges every fill in the quote
//! asset instead (a venue or account that works that way).

use rust_decimal::{Decimal, RoundingStrategy};

use peregrine_engine::types::Side;

/// Which asset a fill's commission is taken in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FeeAsset {
    /// The asset the fill delivers: base for a buy, quote for a sell (Binance spot).
    #[default]
    Received,
    /// Always the quote asset.
    Quote,
}

/// The asset one commission was taken in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charged {
    /// In the base asset (this many units).
    Base(Decimal),
    /// In the quote asset (this amount).
    Quote(Decimal),
}

/// Maker/taker rates (fractions: `0.001` is 10 bps) and the fee asset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeeModel {
    /// Rate of a fill whose order rested.
    pub maker: Decimal,
    /// Rate of a fill whose order took liquidity.
    pub taker: Decimal,
    /// Asset the commission is taken in.
    pub asset: FeeAsset,
}

impl FeeModel {
    /// A model from rates in basis points of notional (`10` is 0.1 %).
    pub fn from_bps(maker_bps: Decimal, taker_bps: Decimal, asset: FeeAsset) -> Self {
        let per = Decimal::from(10_000);
        Self {
            maker: maker_bps / per,
            taker: taker_bps / per,
            asset,
        }
    }

    /// The maker rate in basis points.
    pub fn maker_bps(&self) -> Decimal {
        (self.maker * Decimal::from(10_000)).normalize()
    }

    /// The taker rate in basis points.
    pub fn taker_bps(&self) -> Decimal {
        (self.taker * Decimal::from(10_000)).normalize()
    }

    /// The commission of one fill of `qty` at `price`.
    pub fn charge(&self, side: Side, price: Decimal, qty: Decimal, is_maker: bool) -> Charged {
        let rate = if is_maker { self.maker } else { self.taker };
        match (self.asset, side) {
            (FeeAsset::Received, Side::Buy) => Charged::Base(round8(qty * rate)),
            _ => Charged::Quote(round8(price * qty * rate)),
        }
    }
}

/// Rounded to 8 decimals, half away from zero, as Binance reports commissions.
fn round8(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn binance_takes_the_fee_from_what_the_fill_gives() {
        let m = FeeModel {
            maker: dec!(0.001),
            taker: dec!(0.002),
            asset: FeeAsset::Received,
        };
        assert_eq!(
            m.charge(Side::Buy, dec!(60000), dec!(0.001), false),
            Charged::Base(dec!(0.000002))
        );
        assert_eq!(
            m.charge(Side::Sell, dec!(60000), dec!(0.001), true),
            Charged::Quote(dec!(0.06))
        );
        let q = FeeModel {
            asset: FeeAsset::Quote,
            ..m
        };
        assert_eq!(
            q.charge(Side::Buy, dec!(60000), dec!(0.001), false),
            Charged::Quote(dec!(0.12))
        );
        // Rounded to 8 decimals half away from zero.
        assert_eq!(
            m.charge(Side::Buy, dec!(1), dec!(0.000005), true),
            Charged::Base(dec!(0.00000001))
        );
    }
}
