//! Position and PnL of one instrument, exact: average entry price, realized PnL, fees,
//! flips through zero.

use rust_decimal::Decimal;

use crate::types::{Price, Qty, Side};

/// A position in one instrument. Quantity is the signed sum of fill quantities (fees charged
/// in the base asset are accounted as a quote-currency cost at the fill price, not as a change
/// of quantity, so the position always equals the sum of fills).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Position {
    /// Signed quantity: positive long, negative short.
    pub qty: Qty,
    /// Average entry price of the open quantity (zero when flat).
    pub avg_price: Price,
    /// Realized PnL in quote currency, net of fees.
    pub realized_pnl: Price,
    /// Fees paid, in quote currency.
    pub fees: Price,
}

impl Position {
    /// Applies one fill. `fee_in_quote` is the fee already converted to quote currency.
    pub fn apply_fill(&mut self, side: Side, price: Price, qty: Qty, fee_in_quote: Price) {
        let signed = side.sign() * qty;
        self.fees += fee_in_quote;
        self.realized_pnl -= fee_in_quote;
        if self.qty.is_zero() || self.qty.is_sign_positive() == signed.is_sign_positive() {
            // Opening or adding: weighted average entry.
            let new_qty = self.qty + signed;
            self.avg_price = (self.avg_price * self.qty.abs() + price * qty) / new_qty.abs();
            self.qty = new_qty;
            return;
        }
        // Reducing, closing or flipping.
        let closing = qty.min(self.qty.abs());
        let direction = if self.qty.is_sign_positive() {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        self.realized_pnl += (price - self.avg_price) * closing * direction;
        self.qty += signed;
        if self.qty.is_zero() {
            self.avg_price = Decimal::ZERO;
        } else if self.qty.is_sign_positive() != direction.is_sign_positive() {
            // Flipped through zero: the remainder opens at this fill's price.
            self.avg_price = price;
        }
    }

    /// Unrealized PnL at a mark price.
    pub fn unrealized_pnl(&self, mark: Price) -> Price {
        (mark - self.avg_price) * self.qty
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn long_round_trip_realizes_exactly() {
        let mut p = Position::default();
        p.apply_fill(Side::Buy, dec!(100), dec!(1), dec!(0));
        p.apply_fill(Side::Buy, dec!(110), dec!(1), dec!(0));
        assert_eq!(p.avg_price, dec!(105));
        p.apply_fill(Side::Sell, dec!(120), dec!(0.5), dec!(0.1));
        assert_eq!(p.qty, dec!(1.5));
        assert_eq!(p.realized_pnl, dec!(7.4));
        assert_eq!(p.unrealized_pnl(dec!(106)), dec!(1.5));
        p.apply_fill(Side::Sell, dec!(100), dec!(1.5), dec!(0));
        assert_eq!(p.qty, dec!(0));
        assert_eq!(p.avg_price, dec!(0));
        assert_eq!(p.realized_pnl, dec!(-0.1));
        assert_eq!(p.fees, dec!(0.1));
    }

    #[test]
    fn flips_through_zero() {
        let mut p = Position::default();
        p.apply_fill(Side::Buy, dec!(100), dec!(1), dec!(0));
        p.apply_fill(Side::Sell, dec!(90), dec!(3), dec!(0));
        assert_eq!(p.qty, dec!(-2));
        assert_eq!(p.avg_price, dec!(90));
        assert_eq!(p.realized_pnl, dec!(-10));
        p.apply_fill(Side::Buy, dec!(80), dec!(2), dec!(0));
        assert_eq!(p.qty, dec!(0));
        assert_eq!(p.realized_pnl, dec!(10));
    }

    #[test]
    fn short_average_and_partial_cover() {
        let mut p = Position::default();
        p.apply_fill(Side::Sell, dec!(50), dec!(2), dec!(0));
        p.apply_fill(Side::Sell, dec!(53), dec!(1), dec!(0));
        assert_eq!(p.avg_price, dec!(51));
        p.apply_fill(Side::Buy, dec!(41), dec!(1), dec!(0));
        assert_eq!(p.realized_pnl, dec!(10));
        assert_eq!(p.qty, dec!(-2));
        assert_eq!(p.avg_price, dec!(51));
    }
}
