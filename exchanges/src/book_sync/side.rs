//! One side of the sequencer's book: levels best first in a vector (allocation-free once
//! grown), found by an integer key instead of decimal comparisons.
//!
//! Beside each level it keeps a [`LevelMeta`]: the price as an integer that sorts like the
//! side (exact: `mantissa * 10^(18 - scale)` for the non-negative prices with a mantissa below
//! 2^64 and at most 18 places, which is every venue price we know of; a side holding any other
//! price searches by decimal comparison until it is cleared), and version ids that change
//! whenever the text of the level's price or quantity may have changed (for the checksum texts
//! kept by [`super::texts`]).

use std::cmp::Ordering;

use crate::md::Level;
use peregrine_engine::types::{Price, Qty, Side};
use rust_decimal::Decimal;

/// Places every keyed price is brought to.
const KEY_SCALE: u32 = 18;

/// `10^(18 - scale)` for scales 0 to 18.
const KEY_FACTOR: [u64; 19] = {
    let mut t = [1u64; 19];
    let mut i = 17;
    loop {
        t[i] = t[i + 1] * 10;
        if i == 0 {
            break t;
        }
        i -= 1;
    }
};

/// Per-level data kept in step with the levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LevelMeta {
    /// Sort key, ascending from the best level (bids store the complement).
    key: u128,
    /// Changes whenever the price's representation may have changed.
    pub(crate) px_id: u64,
    /// Changes on every set of the level.
    pub(crate) qty_id: u64,
}

/// One side of a book, best first.
#[derive(Debug, Clone, Default)]
pub struct SideBook {
    levels: Vec<(Price, Qty)>,
    meta: Vec<LevelMeta>,
    /// Some level has no key: search by decimal comparison until cleared.
    unkeyed: bool,
    descending: bool,
    last_id: u64,
}

/// `p * 10^(18 - scale)` for a non-negative price with a mantissa below 2^64 and at most 18
/// places: equal keys for equal values, and keys sort like values.
#[inline]
fn order_key(p: &Decimal) -> Option<u128> {
    let scale = p.scale();
    if p.is_sign_negative() || scale > KEY_SCALE {
        return None;
    }
    let m = u64::try_from(p.mantissa()).ok()?;
    let factor = KEY_FACTOR.get(scale as usize)?;
    Some(u128::from(m) * u128::from(*factor))
}

/// `a.cmp(b)` with a fast path for two mantissas below 2^64 at the same scale, or at scales
/// close enough to bring them to one scale in a `u128` (exact either way).
#[inline]
pub(crate) fn cmp_price(a: &Decimal, b: &Decimal) -> Ordering {
    let (sa, sb) = (a.scale(), b.scale());
    if sa == sb {
        return a.mantissa().cmp(&b.mantissa());
    }
    let (Ok(ma), Ok(mb)) = (u64::try_from(a.mantissa()), u64::try_from(b.mantissa())) else {
        return a.cmp(b);
    };
    if a.is_sign_negative() || b.is_sign_negative() || sa.abs_diff(sb) > 19 {
        return a.cmp(b);
    }
    // Bring both to the larger scale: (2^64 - 1) * 10^19 still fits a u128.
    let up = |m: u64, by: u32| u128::from(m) * 10u128.pow(by);
    if sa < sb {
        up(ma, sb - sa).cmp(&u128::from(mb))
    } else {
        u128::from(ma).cmp(&up(mb, sa - sb))
    }
}

impl SideBook {
    /// An empty side; `descending` for bids.
    pub(super) fn new(descending: bool) -> Self {
        Self {
            levels: Vec::with_capacity(64),
            meta: Vec::with_capacity(64),
            unkeyed: false,
            descending,
            last_id: 0,
        }
    }

    /// The levels, best first.
    pub fn levels(&self) -> &[(Price, Qty)] {
        &self.levels
    }

    /// The per-level keys and version ids, in step with [`SideBook::levels`].
    pub(crate) fn meta(&self) -> &[LevelMeta] {
        &self.meta
    }

    /// Where the level with sort key `key` is (`Ok`) or would go (`Err`). Most updates touch
    /// the top of the book: the first few levels are scanned in order (a predictable loop),
    /// the rest halved.
    #[inline]
    fn find(&self, key: u128) -> Result<usize, usize> {
        const SCAN: usize = 8;
        for (i, m) in self.meta.iter().take(SCAN).enumerate() {
            if m.key >= key {
                return if m.key == key { Ok(i) } else { Err(i) };
            }
        }
        match self.meta.get(SCAN..) {
            Some(rest) if !rest.is_empty() => rest
                .binary_search_by(|m| m.key.cmp(&key))
                .map(|i| i + SCAN)
                .map_err(|i| i + SCAN),
            _ => Err(self.meta.len()),
        }
    }

    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// Sets a level's absolute quantity (zero removes it).
    pub fn set(&mut self, price: Price, qty: Qty) {
        let key = if self.unkeyed {
            None
        } else {
            order_key(&price).map(|k| if self.descending { !k } else { k })
        };
        let found = match key {
            Some(k) => self.find(k),
            None => {
                self.unkeyed = true;
                let desc = self.descending;
                self.levels.binary_search_by(|(p, _)| {
                    if desc {
                        cmp_price(&price, p)
                    } else {
                        cmp_price(p, &price)
                    }
                })
            }
        };
        match (found, qty.is_zero()) {
            (Ok(i), true) => {
                self.levels.remove(i);
                self.meta.remove(i);
            }
            (Ok(i), false) => {
                // Keyed: the same key is the same value, so the same scale is the same text.
                let same_text = !self.unkeyed && self.levels[i].0.scale() == price.scale();
                self.levels[i] = (price, qty);
                if !same_text {
                    self.meta[i].px_id = self.next_id();
                }
                self.meta[i].qty_id = self.next_id();
            }
            (Err(_), true) => {}
            (Err(i), false) => {
                let meta = LevelMeta {
                    key: key.unwrap_or(0),
                    px_id: self.next_id(),
                    qty_id: self.next_id(),
                };
                self.levels.insert(i, (price, qty));
                self.meta.insert(i, meta);
            }
        }
    }

    /// Removes every level.
    pub(super) fn clear(&mut self) {
        self.levels.clear();
        self.meta.clear();
        self.unkeyed = false;
    }

    /// Keeps the best `depth` levels.
    pub(super) fn truncate(&mut self, depth: usize) {
        self.levels.truncate(depth);
        self.meta.truncate(depth);
    }

    /// Keeps the best `depth` levels, appending a delete (qty zero) for each level removed.
    pub(super) fn truncate_into(&mut self, depth: usize, side: Side, removed: &mut Vec<Level>) {
        if self.levels.len() > depth {
            removed.extend(
                self.levels[depth..]
                    .iter()
                    .map(|&(p, _)| (side, p, Qty::ZERO)),
            );
            self.truncate(depth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn key_factors_are_powers_of_ten() {
        for (scale, f) in KEY_FACTOR.iter().enumerate() {
            assert_eq!(*f, 10u64.pow(KEY_SCALE - scale as u32));
        }
        let key = |s: &str| order_key(&Decimal::from_str_exact(s).unwrap());
        assert_eq!(key("1.5"), key("1.50"));
        assert!(key("1.49") < key("1.5"));
        assert_eq!(key("-1"), None);
        assert_eq!(key("0.0000000000000000001"), None, "19 places");
    }

    /// A price of 0 to 3 places (so equal values with different scales occur) or, rarely,
    /// one the keys do not cover (more places than 18, or a mantissa of 2^64 and more).
    fn price() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            8 => (0i64..300, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s)),
            1 => (0i64..300, 19u32..22)
                .prop_map(|(m, s)| Decimal::from_i128_with_scale(i128::from(m) * 10i128.pow(s - 2), s)),
            1 => (0i64..300).prop_map(|m| Decimal::from_i128_with_scale(i128::from(m) << 64, 2)),
        ]
    }

    proptest! {
        /// Against a model (a sorted list by decimal order, last write wins): the same levels
        /// in the same order, the last representation kept, and version ids that change
        /// exactly when the text can.
        #[test]
        fn keeps_the_model_order(
            ops in proptest::collection::vec((price(), 0u32..3), 1..150),
            descending in any::<bool>(),
        ) {
            let mut side = SideBook::new(descending);
            let mut model: Vec<(Decimal, Decimal)> = Vec::new();
            for (p, q) in ops {
                let q = Decimal::from(q);
                let before: Option<(Decimal, LevelMeta)> = side
                    .levels()
                    .iter()
                    .zip(side.meta())
                    .find(|((lp, _), _)| *lp == p)
                    .map(|((lp, _), m)| (*lp, *m));
                side.set(p, q);
                match model.iter().position(|(mp, _)| *mp == p) {
                    Some(i) if q.is_zero() => {
                        model.remove(i);
                    }
                    Some(i) => model[i] = (p, q),
                    None if q.is_zero() => {}
                    None => model.push((p, q)),
                }
                model.sort_by(|a, b| if descending { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) });
                prop_assert_eq!(side.levels().len(), side.meta().len());
                let got: Vec<_> = side.levels().iter().map(|(p, q)| (p.serialize(), *q)).collect();
                let want: Vec<_> = model.iter().map(|(p, q)| (p.serialize(), *q)).collect();
                prop_assert_eq!(got, want);
                if let (Some((old_p, old_m)), false) = (before, q.is_zero()) {
                    let i = side.levels().iter().position(|(lp, _)| *lp == p).unwrap();
                    let m = side.meta()[i];
                    prop_assert_ne!(m.qty_id, old_m.qty_id);
                    if old_p.serialize() != p.serialize() {
                        prop_assert_ne!(m.px_id, old_m.px_id, "the price text changed");
                    }
                }
            }
        }

        #[test]
        fn price_comparison_is_decimal_order(
            a in any::<i64>(),
            b in any::<i64>(),
            sa in 0u32..=28,
            sb in 0u32..=28,
            small in any::<bool>(),
        ) {
            let (a, b) = if small { (a % 1_000_000, b % 1_000_000) } else { (a, b) };
            let (x, y) = (Decimal::new(a, sa), Decimal::new(b, sb));
            prop_assert_eq!(cmp_price(&x, &y), x.cmp(&y), "{} vs {}", x, y);
            let big = Decimal::from_i128_with_scale(i128::from(a) << 30, sa);
            prop_assert_eq!(cmp_price(&big, &y), big.cmp(&y));
        }
    }
}
