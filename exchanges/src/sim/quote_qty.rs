//! `quoteOrderQty` MARKET orders: the base quantity is computed at order entry from the book
//! as it stands, so REST and the WebSocket API (both go through [`Exchange::place_order`])
//! trade the same way.
//!
//! As Binance documents: a BUY buys as much base as `quoteOrderQty` can pay for, a SELL sells
//! as much base as is needed to receive `quoteOrderQty`; the quantity never breaks `LOT_SIZE`
//! (each level's share is rounded down to the step, so the notional never exceeds
//! `quoteOrderQty`). Liquidity that self-trade prevention would expire (our own resting
//! orders) is not counted.

use peregrine_engine::types::Side;
use rust_decimal::Decimal;

use super::error::ApiError;
use super::exchange::{Exchange, NewOrder, OrderType};
use super::matching::Owner;

impl Exchange {
    /// Sets `req.qty` from `req.quote_qty` for a MARKET order given in quote units. Fails
    /// with Binance's messages when the book cannot fill the minimum quantity.
    pub fn resolve_quote_qty(&self, req: &mut NewOrder) -> Result<(), ApiError> {
        let Some(quote) = req.quote_qty else {
            return Ok(());
        };
        if req.order_type != OrderType::Market {
            return Err(ApiError::not_required("quoteOrderQty"));
        }
        if quote <= Decimal::ZERO {
            return Err(ApiError::illegal_chars("quoteOrderQty"));
        }
        let sym = self
            .symbols
            .get(&req.symbol)
            .ok_or_else(ApiError::invalid_symbol)?;
        let (lot, min_qty, max_qty) = (sym.spec.lot_size, sym.spec.min_qty, sym.spec.max_qty);
        let opposite = match req.side {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        };
        let mut left = quote;
        let mut qty = Decimal::ZERO;
        let mut any = false;
        for (price, o) in sym.book.orders_on(opposite) {
            if o.owner == Owner::Account {
                continue;
            }
            any = true;
            let affordable = (left / price / lot).floor() * lot;
            let take = o.qty.min(affordable).min(max_qty - qty);
            qty += take;
            left -= take * price;
            if take < o.qty {
                break;
            }
        }
        if !any {
            return Err(ApiError::order_rejected(
                "Order book liquidity is less than symbol minimum quantity.",
            ));
        }
        if qty < min_qty {
            return Err(ApiError::order_rejected(
                "Order book liquidity is less than `LOT_SIZE` filter minimum quantity.",
            ));
        }
        req.qty = qty;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::{SimConfig, SimSymbol};
    use crate::sim::fanout::Fanout;
    use crate::sim::matching::TimeInForce;
    use rust_decimal_macros::dec;

    fn order(side: Side, quote: Decimal) -> NewOrder {
        NewOrder {
            symbol: "BTCUSDT".into(),
            side,
            order_type: OrderType::Market,
            tif: TimeInForce::Gtc,
            qty: Decimal::ZERO,
            quote_qty: Some(quote),
            price: None,
            client_order_id: None,
        }
    }

    #[test]
    fn quantity_spends_at_most_the_quote_and_respects_the_step() {
        let cfg = SimConfig {
            symbols: vec![SimSymbol::btcusdt()],
            ..SimConfig::default()
        };
        let mut ex = Exchange::new(&cfg, Fanout::new()).unwrap();
        let mut req = order(Side::Buy, dec!(100));
        assert_eq!(
            ex.resolve_quote_qty(&mut req).unwrap_err().msg,
            "Order book liquidity is less than symbol minimum quantity."
        );
        for i in 0..5 {
            ex.market_step(i);
        }
        for side in [Side::Buy, Side::Sell] {
            let mut req = order(side, dec!(1000));
            ex.resolve_quote_qty(&mut req).unwrap();
            assert!(req.qty > Decimal::ZERO && (req.qty % dec!(0.00001)).is_zero());
            let (filled, cost) =
                ex.symbols["BTCUSDT"]
                    .book
                    .fillable(side, req.qty, None, Owner::Account);
            assert_eq!(filled, req.qty);
            assert!(cost <= dec!(1000), "{cost}");
            // One more step would overspend.
            let (_, more) = ex.symbols["BTCUSDT"].book.fillable(
                side,
                req.qty + dec!(0.00001),
                None,
                Owner::Account,
            );
            assert!(more > dec!(1000), "{more}");
        }
        let mut limit = order(Side::Buy, dec!(10));
        limit.order_type = OrderType::Limit;
        assert_eq!(ex.resolve_quote_qty(&mut limit).unwrap_err().code, -1106);
    }
}
