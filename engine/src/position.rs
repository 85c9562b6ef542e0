//! Position and PnL of one instrument, exact: average entry price, realized PnL, fees,
//! flips through zero.

use rust_decimal::Decimal;

use crate::types::{Price, Qty, Side};

/// A position in one instrument. Quantity is the signed sum of fill quantities, minus fees
/// charged in the base asset (they reduce what we hold). A base-asset fee is booked as a cost
/// of `fee x fill price` in quote currency plus the loss of `fee` units, priced at the average
/// entry when it reduces the position (exactly the cash-flow result).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Position {
    /// Signed quantity: positive long, negative short.
    pub qty: Qty,
    /// Average entry price of the open quantity (zero when flat).
    pub avg_price: Price,
    /// Realized PnL in quote currency, net of fees.
    pub realized_pnl: Price,
    /// Fees paid, valued in quote currency.
    pub fees: Price,
}

/// A fee as charged on a fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fee {
    /// In the quote asset (or already converted to it).
    Quote(Price),
    /// In the base asset: reduces the quantity held.
    Base(Qty),
}

impl Position {
    /// Applies one fill. `fee_in_quote` is the fee already converted to quote currency.
    pub fn apply_fill(&mut self, side: Side, price: Price, qty: Qty, fee_in_quote: Price) {
        self.apply_fill_with_fee(side, price, qty, Fee::Quote(fee_in_quote));
    }

    /// Applies one fill and its fee, in whichever asset it was charged.
    pub fn apply_fill_with_fee(&mut self, side: Side, price: Price, qty: Qty, fee: Fee) {
        match fee {
            Fee::Quote(f) => {
                self.fees += f;
                self.realized_pnl -= f;
                self.trade(side.sign() * qty, price);
            }
            Fee::Base(f) => {
                self.trade(side.sign() * qty, price);
                if !f.is_zero() {
                    // Giving up `f` units: like selling them at `price` for nothing.
                    let cost = f * price;
                    self.fees += cost;
                    self.realized_pnl -= cost;
                    self.trade(-f, price);
                }
            }
        }
    }

    /// Moves the position by `signed` units at `price`, realizing PnL on the closed part.
    fn trade(&mut self, signed: Qty, price: Price) {
        if signed.is_zero() {
            return;
        }
        let qty = signed.abs();
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

/// The part of a position that can be traded: `qty` rounded toward zero to a multiple of
/// `lot` (no rounding when `lot` is zero). The rest is dust: base-asset fees leave sub-lot
/// remainders (a buy of 0.001 paying 0.000001 BTC holds 0.000999) that no order can sell.
/// Strategies see and close the tradable part, so a closed position reads exactly zero;
/// the dust stays in [`Position::qty`] and is valued at the mark.
pub fn tradable(qty: Qty, lot: Qty) -> Qty {
    if lot <= Decimal::ZERO {
        return qty;
    }
    let lots = (qty / lot).trunc();
    let t = lots * lot;
    if t.is_zero() {
        Decimal::ZERO
    } else {
        t.normalize()
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
    fn base_fee_dust_is_not_tradable() {
        let mut p = Position::default();
        p.apply_fill_with_fee(
            Side::Buy,
            dec!(60000),
            dec!(0.001),
            Fee::Base(dec!(0.000001)),
        );
        assert_eq!(p.qty, dec!(0.000999));
        assert_eq!(tradable(p.qty, dec!(0.00001)), dec!(0.00099));
        p.apply_fill_with_fee(Side::Sell, dec!(60000), dec!(0.00099), Fee::Quote(dec!(0)));
        assert_eq!(tradable(p.qty, dec!(0.00001)), Decimal::ZERO);
        assert_eq!(p.qty, dec!(0.000009));
        assert_eq!(tradable(dec!(-0.00123), dec!(0.001)), dec!(-0.001));
        assert_eq!(tradable(dec!(0.5), Decimal::ZERO), dec!(0.5));
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

    #[test]
    fn base_fee_reduces_the_position_and_costs_its_value() {
        let mut p = Position::default();
        p.apply_fill_with_fee(Side::Buy, dec!(100), dec!(1), Fee::Base(dec!(0.001)));
        assert_eq!(p.qty, dec!(0.999));
        assert_eq!(p.fees, dec!(0.1));
        assert_eq!(p.avg_price, dec!(100));
        // Total PnL at mark 200: paid 100 for 0.999 units worth 199.8.
        assert_eq!(p.realized_pnl + p.unrealized_pnl(dec!(200)), dec!(99.8));
    }

    /// Reference: plain cash flow. PnL at a mark = cash + held quantity x mark.
    fn reference(fills: &[(bool, i64, i64, i64, bool)], mark: Decimal) -> (Decimal, Decimal) {
        let (mut cash, mut qty) = (Decimal::ZERO, Decimal::ZERO);
        for &(buy, px, q, fee, base_fee) in fills {
            let (px, q, fee) = (
                Decimal::new(px, 2),
                Decimal::new(q, 3),
                Decimal::new(fee, 5),
            );
            let s = if buy {
                Decimal::ONE
            } else {
                Decimal::NEGATIVE_ONE
            };
            cash -= s * q * px;
            qty += s * q;
            if base_fee {
                qty -= fee;
            } else {
                cash -= fee;
            }
        }
        (qty, cash + qty * mark)
    }

    proptest::proptest! {
        #[test]
        fn position_and_pnl_match_a_cash_flow_reference(
            fills in proptest::collection::vec(
                (proptest::bool::ANY, 1i64..2_000_000, 1i64..5_000, 0i64..500, proptest::bool::ANY),
                0..40,
            ),
            mark in 1i64..2_000_000,
        ) {
            let mark = Decimal::new(mark, 2);
            let mut p = Position::default();
            let mut fee_total = Decimal::ZERO;
            for &(buy, px, q, fee, base_fee) in &fills {
                let (px, q, fee) = (Decimal::new(px, 2), Decimal::new(q, 3), Decimal::new(fee, 5));
                let side = if buy { Side::Buy } else { Side::Sell };
                let f = if base_fee { Fee::Base(fee) } else { Fee::Quote(fee) };
                fee_total += if base_fee { fee * px } else { fee };
                p.apply_fill_with_fee(side, px, q, f);
            }
            let (qty, pnl) = reference(&fills, mark);
            proptest::prop_assert_eq!(p.qty, qty);
            let ours = p.realized_pnl + p.unrealized_pnl(mark);
            // Average prices are divided decimals (28 significant digits): allow 1e-12.
            proptest::prop_assert!((ours - pnl).abs() < Decimal::new(1, 12), "ours {} ref {}", ours, pnl);
            proptest::prop_assert_eq!(p.fees, fee_total);
            if p.qty.is_zero() {
                proptest::prop_assert_eq!(p.avg_price, Decimal::ZERO);
            }
        }
    }
}
