//! The account's balances per asset, as the engine knows them: the venue's balances at start
//! (free + locked), moved by every fill of ours (base and quote legs, the fee in whatever
//! asset it was charged), exactly. What strategies read with `balance(asset)`,
//! `available(asset)` and `equity()`.
//!
//! `available` is the balance less what working orders hold: ours (a limit buy holds
//! `leaves * price` of the quote asset, a sell `leaves` of the base asset; a market buy holds
//! nothing here, it fills at once), and what was locked at start by orders this engine does
//! not track (the venue's `locked` less what our restored working orders explain). It is the
//! engine's own arithmetic, not a venue push: a deposit or a trade made outside the engine
//! shows up at the next start.

use std::collections::BTreeMap;

use rhai::ImmutableString;
use rust_decimal::Decimal;

use crate::orders::TrackedOrder;
use crate::types::{Instruments, Side};

/// One asset of the venue account at start: name, free and locked amounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartBalance {
    /// Asset name as the venue spells it (`BTC`, `USDT`).
    pub asset: String,
    /// Free amount.
    pub free: Decimal,
    /// Amount locked by open orders.
    pub locked: Decimal,
}

/// Balances per asset and what orders the engine does not track hold.
#[derive(Clone, Debug, Default)]
pub struct Balances {
    /// Asset -> (balance, locked by untracked orders).
    assets: BTreeMap<ImmutableString, (Decimal, Decimal)>,
}

impl Balances {
    /// From the venue's balances at start; `tracked` are the working orders the engine
    /// restored (their holds are part of the venue's `locked` and are counted as ours).
    pub fn new<'a>(
        start: &[StartBalance],
        tracked: impl IntoIterator<Item = &'a TrackedOrder>,
        instruments: &Instruments,
    ) -> Self {
        let mut b = Balances::default();
        for s in start {
            b.assets
                .insert(s.asset.as_str().into(), (s.free + s.locked, s.locked));
        }
        for o in tracked {
            if let Some((asset, held)) = hold(o, instruments) {
                if let Some(e) = b.assets.get_mut(asset) {
                    e.1 = (e.1 - held).max(Decimal::ZERO);
                }
            }
        }
        b
    }

    /// Books one fill: `side` `qty` of `base` at `price` in `quote`, and `fee` in `fee_asset`.
    #[allow(clippy::too_many_arguments)]
    pub fn apply_fill(
        &mut self,
        base: &str,
        quote: &str,
        side: Side,
        price: Decimal,
        qty: Decimal,
        fee: Decimal,
        fee_asset: &str,
    ) {
        let notional = price * qty;
        *self.entry(base) += side.sign() * qty;
        *self.entry(quote) -= side.sign() * notional;
        if !fee.is_zero() {
            *self.entry(fee_asset) -= fee;
        }
    }

    fn entry(&mut self, asset: &str) -> &mut Decimal {
        &mut self.assets.entry(asset.into()).or_default().0
    }

    /// The balance of `asset` (zero if the account never held it).
    pub fn balance(&self, asset: &str) -> Decimal {
        self.assets.get(asset).map_or(Decimal::ZERO, |e| e.0)
    }

    /// Every asset with its balance and its amount held by untracked orders, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&ImmutableString, Decimal, Decimal)> {
        self.assets.iter().map(|(a, (b, l))| (a, *b, *l))
    }
}

/// The balances as they were before `reports`' fills: the venue's `snapshot` taken at start
/// already contains fills the engine has not booked yet (made while it was down, queued for
/// the core), which the core books again when it applies them.
pub fn before_fills(
    snapshot: &[StartBalance],
    reports: &[crate::order::ExecReport],
    instruments: &Instruments,
) -> Vec<StartBalance> {
    let mut b = Balances::new(snapshot, [], instruments);
    for r in reports {
        if let crate::order::ExecKind::Fill(f) = &r.kind {
            let spec = instruments.spec(r.instrument);
            let undo = match r.side {
                Side::Buy => Side::Sell,
                Side::Sell => Side::Buy,
            };
            b.apply_fill(
                &spec.base,
                &spec.quote,
                undo,
                f.price,
                f.qty,
                -f.fee,
                &f.fee_asset,
            );
        }
    }
    b.iter()
        .map(|(asset, balance, locked)| StartBalance {
            asset: asset.to_string(),
            free: balance - locked,
            locked,
        })
        .collect()
}

/// What a working order of ours holds: (asset, amount), or `None` (final, or a market buy).
pub fn hold<'a>(o: &TrackedOrder, instruments: &'a Instruments) -> Option<(&'a str, Decimal)> {
    let leaves = o.leaves();
    if leaves.is_zero() {
        return None;
    }
    let it = &o.request.intent;
    let spec = instruments.spec(it.instrument);
    match it.side {
        Side::Buy => it.price.map(|p| (spec.quote.as_str(), leaves * p)),
        Side::Sell => Some((spec.base.as_str(), leaves)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{ClientOrderId, OrderIntent, OrderRequest, OrderType, TimeInForce};
    use crate::types::{InstrumentId, InstrumentSpec};
    use rust_decimal_macros::dec;

    fn instruments() -> Instruments {
        let mut i = Instruments::new();
        i.intern(
            InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
                .unwrap(),
        );
        i
    }

    fn working(side: Side, price: Decimal, qty: Decimal, filled: Decimal) -> TrackedOrder {
        let mut t = crate::orders::OrderTracker::new(1, 1);
        let req = OrderRequest {
            client_order_id: ClientOrderId { run: 1, seq: 1 },
            intent: OrderIntent {
                strategy: 0,
                instrument: InstrumentId(0),
                side,
                order_type: OrderType::Limit,
                price: Some(price),
                qty,
                tif: TimeInForce::Gtc,
                reduce_only: false,
                post_only: false,
                origin_recv_ns: 0,
            },
        };
        t.insert(req, 0);
        let mut o = t.get(&req.client_order_id).cloned().unwrap();
        o.filled = filled;
        o
    }

    #[test]
    fn fills_move_both_legs_and_the_fee_asset_exactly() {
        let inst = instruments();
        let start = [
            StartBalance {
                asset: "USDT".into(),
                free: dec!(900),
                locked: dec!(100),
            },
            StartBalance {
                asset: "BTC".into(),
                free: dec!(0.5),
                locked: dec!(0),
            },
        ];
        // A restored buy of 0.001 @ 50000 explains 50 of the 100 USDT locked.
        let restored = working(Side::Buy, dec!(50000), dec!(0.001), dec!(0));
        let mut b = Balances::new(&start, [&restored], &inst);
        assert_eq!(b.balance("USDT"), dec!(1000));
        let locked: Vec<_> = b.iter().map(|(a, _, l)| (a.to_string(), l)).collect();
        assert_eq!(
            locked,
            vec![("BTC".into(), dec!(0)), ("USDT".into(), dec!(50))]
        );
        b.apply_fill(
            "BTC",
            "USDT",
            Side::Buy,
            dec!(50000.1),
            dec!(0.002),
            dec!(0.000002),
            "BTC",
        );
        assert_eq!(b.balance("BTC"), dec!(0.501998));
        assert_eq!(b.balance("USDT"), dec!(899.9998));
        b.apply_fill(
            "BTC",
            "USDT",
            Side::Sell,
            dec!(50001),
            dec!(0.1),
            dec!(0.05),
            "BNB",
        );
        assert_eq!(b.balance("BTC"), dec!(0.401998));
        assert_eq!(b.balance("USDT"), dec!(5900.0998));
        assert_eq!(b.balance("BNB"), dec!(-0.05));
        assert_eq!(b.balance("ETH"), dec!(0));
    }

    /// A fill made while the engine was down is in the venue's balances and queued for the
    /// core: the start balances leave it out, so booking it lands on the venue's figure.
    #[test]
    fn start_balances_leave_out_the_queued_fills() {
        let inst = instruments();
        let snapshot = [
            StartBalance {
                asset: "USDT".into(),
                free: dec!(949.95),
                locked: dec!(0),
            },
            StartBalance {
                asset: "BTC".into(),
                free: dec!(0.001),
                locked: dec!(0),
            },
        ];
        let fill = crate::order::ExecReport {
            client_order_id: ClientOrderId { run: 1, seq: 1 },
            instrument: InstrumentId(0),
            side: Side::Buy,
            kind: crate::order::ExecKind::Fill(crate::order::FillInfo {
                trade_id: 9,
                price: dec!(50000),
                qty: dec!(0.001),
                fee: dec!(0.05),
                fee_asset: "USDT".into(),
                is_maker: true,
                leaves_qty: dec!(0),
                exch_ts_ns: 0,
            }),
            recv_ns: 0,
        };
        let start = before_fills(&snapshot, std::slice::from_ref(&fill), &inst);
        let mut b = Balances::new(&start, [], &inst);
        assert_eq!((b.balance("USDT"), b.balance("BTC")), (dec!(1000), dec!(0)));
        b.apply_fill(
            "BTC",
            "USDT",
            Side::Buy,
            dec!(50000),
            dec!(0.001),
            dec!(0.05),
            "USDT",
        );
        assert_eq!(
            (b.balance("USDT"), b.balance("BTC")),
            (dec!(949.95), dec!(0.001))
        );
    }

    #[test]
    fn working_orders_hold_quote_for_buys_and_base_for_sells() {
        let inst = instruments();
        let buy = working(Side::Buy, dec!(100), dec!(0.5), dec!(0.2));
        assert_eq!(hold(&buy, &inst), Some(("USDT", dec!(30.0))));
        let sell = working(Side::Sell, dec!(100), dec!(0.5), dec!(0));
        assert_eq!(hold(&sell, &inst), Some(("BTC", dec!(0.5))));
        let done = working(Side::Sell, dec!(100), dec!(0.5), dec!(0.5));
        assert_eq!(hold(&done, &inst), None);
    }
}
