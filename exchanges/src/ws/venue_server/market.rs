//! The test venue's true market: one L2 book per symbol (exact decimals), evolved by seeded
//! random level changes, and the diff of the part a venue shows (its depth window).

use std::collections::BTreeMap;

use peregrine_engine::types::Side;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

/// Levels `(price, qty)`, best first.
pub(crate) type Levels = Vec<(Decimal, Decimal)>;

/// How one symbol's book looks and moves.
#[derive(Debug, Clone)]
pub(crate) struct BookShape {
    /// The venue's spelling of the symbol.
    pub symbol: String,
    /// Starting mid price (a multiple of `tick`).
    pub center: Decimal,
    /// Price step.
    pub tick: Decimal,
    /// Decimal places of quantities.
    pub qty_dp: u32,
    /// Levels live at most this many ticks from the center.
    pub max_ticks: u32,
}

/// One symbol's true book.
#[derive(Debug, Clone)]
pub(crate) struct TrueBook {
    shape: BookShape,
    center: Decimal,
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

/// The changes a venue sends for one step, and whether the top of book moved.
#[derive(Debug, Clone, Default)]
pub(crate) struct Diff {
    /// Bid levels to send (qty zero deletes).
    pub bids: Levels,
    /// Ask levels to send.
    pub asks: Levels,
}

impl TrueBook {
    /// A book with about four levels in five filled on each side.
    pub fn new(shape: BookShape, rng: &mut ChaCha8Rng) -> Self {
        let mut b = Self {
            center: shape.center,
            shape,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
        };
        for k in 1..=b.shape.max_ticks {
            for side in [Side::Buy, Side::Sell] {
                if rng.random_range(0..5) != 0 {
                    let q = b.random_qty(rng);
                    let p = b.price(side, k);
                    b.side_mut(side).insert(p, q);
                }
            }
        }
        b
    }

    /// The top `depth` bids, highest first.
    pub fn bids(&self, depth: usize) -> Levels {
        self.bids
            .iter()
            .rev()
            .take(depth)
            .map(|(p, q)| (*p, *q))
            .collect()
    }

    /// The top `depth` asks, lowest first.
    pub fn asks(&self, depth: usize) -> Levels {
        self.asks
            .iter()
            .take(depth)
            .map(|(p, q)| (*p, *q))
            .collect()
    }

    /// Best bid and best ask.
    pub fn top(&self) -> Option<((Decimal, Decimal), (Decimal, Decimal))> {
        let b = self.bids.iter().next_back()?;
        let a = self.asks.iter().next()?;
        Some(((*b.0, *b.1), (*a.0, *a.1)))
    }

    /// A random quantity with the shape's decimal places (never zero).
    pub fn random_qty(&self, rng: &mut ChaCha8Rng) -> Decimal {
        Decimal::new(
            rng.random_range(1..=5 * 10i64.pow(self.shape.qty_dp.min(6))),
            self.shape.qty_dp.min(6),
        )
    }

    /// The price `k` ticks away from the center on `side` (bids below, asks at or above).
    fn price(&self, side: Side, k: u32) -> Decimal {
        let off = self.shape.tick * Decimal::from(k);
        match side {
            Side::Buy => self.center - off,
            Side::Sell => self.center + off - self.shape.tick,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<Decimal, Decimal> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// One random step: sometimes the center moves a tick (levels that would cross or fall
    /// too far away are removed), then one to three levels near the top change or vanish.
    pub fn step(&mut self, rng: &mut ChaCha8Rng) {
        if rng.random_range(0..20) == 0 {
            let up = rng.random_bool(0.5);
            let t = self.shape.tick;
            self.center += if up { t } else { -t };
            let lo = self.price(Side::Buy, self.shape.max_ticks);
            let hi = self.price(Side::Sell, self.shape.max_ticks);
            let c = self.center;
            self.bids.retain(|p, _| *p < c && *p >= lo);
            self.asks.retain(|p, _| *p >= c && *p <= hi);
        }
        for _ in 0..rng.random_range(1..=3) {
            let side = if rng.random_bool(0.5) {
                Side::Buy
            } else {
                Side::Sell
            };
            let m = self.shape.max_ticks;
            // Skewed towards the top of the book.
            let k = 1 + rng.random_range(0..m) * rng.random_range(0..m) / m;
            let p = self.price(side, k);
            let exists = self.side_mut(side).contains_key(&p);
            let len = self.side_mut(side).len();
            if exists && len > 5 && rng.random_range(0..3) == 0 {
                self.side_mut(side).remove(&p);
            } else {
                let q = self.random_qty(rng);
                self.side_mut(side).insert(p, q);
            }
        }
    }

    /// Changes the quantity of the best level of `side` (to a different value).
    pub fn bump_top(&mut self, side: Side) {
        let unit = Decimal::new(1, self.shape.qty_dp.min(6));
        if let Some((_, q)) = match side {
            Side::Buy => self.bids.iter_mut().next_back(),
            Side::Sell => self.asks.iter_mut().next(),
        } {
            *q += unit;
        }
    }
}

/// What a venue sends when its view of one side (`depth` levels) goes from `before` to
/// `after`. `keep_pushed_out`: like Kraken, send no delete for a level that only fell out of
/// the window (it still exists in `truth`); the client truncates.
pub(crate) fn side_diff(
    before: &[(Decimal, Decimal)],
    after: &[(Decimal, Decimal)],
    truth_has: impl Fn(Decimal) -> bool,
    keep_pushed_out: bool,
) -> Levels {
    let mut out = Levels::new();
    for &(p, _) in before {
        let still_shown = after.iter().any(|&(ap, _)| ap == p);
        let pushed_out = keep_pushed_out && truth_has(p);
        if !still_shown && !pushed_out {
            out.push((p, Decimal::ZERO));
        }
    }
    for &(p, q) in after {
        if !before.iter().any(|&(bp, bq)| bp == p && bq == q) {
            out.push((p, q));
        }
    }
    out
}

impl TrueBook {
    /// Whether a bid (`Buy`) or ask (`Sell`) level exists at `p`.
    pub fn has(&self, side: Side, p: Decimal) -> bool {
        match side {
            Side::Buy => self.bids.contains_key(&p),
            Side::Sell => self.asks.contains_key(&p),
        }
    }

    /// Applies `change` and returns what a venue showing `depth` levels sends for it.
    pub fn change(
        &mut self,
        depth: usize,
        keep_pushed_out: bool,
        change: impl FnOnce(&mut Self),
    ) -> Diff {
        let (b0, a0) = (self.bids(depth), self.asks(depth));
        change(self);
        let (b1, a1) = (self.bids(depth), self.asks(depth));
        Diff {
            bids: side_diff(&b0, &b1, |p| self.has(Side::Buy, p), keep_pushed_out),
            asks: side_diff(&a0, &a1, |p| self.has(Side::Sell, p), keep_pushed_out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn steps_keep_the_book_uncrossed_and_bounded() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let shape = BookShape {
            symbol: "X".into(),
            center: d("100.00"),
            tick: d("0.01"),
            qty_dp: 4,
            max_ticks: 30,
        };
        let mut b = TrueBook::new(shape, &mut rng);
        for _ in 0..5000 {
            b.step(&mut rng);
            let ((bp, _), (ap, _)) = b.top().unwrap();
            assert!(bp < ap, "crossed: {bp} >= {ap}");
            assert!(b.bids.len() <= 31 && b.asks.len() <= 31);
        }
    }

    #[test]
    fn a_window_diff_omits_pushed_out_levels_only_when_asked() {
        let before = vec![(d("10"), d("1")), (d("9"), d("1"))];
        let after = vec![(d("11"), d("2")), (d("10"), d("1"))];
        // 9 still exists in the true book; it only fell out of a two-level window.
        let kraken = side_diff(&before, &after, |p| p == d("9"), true);
        assert_eq!(kraken, vec![(d("11"), d("2"))]);
        let full = side_diff(&before, &after, |p| p == d("9"), false);
        assert_eq!(full, vec![(d("9"), Decimal::ZERO), (d("11"), d("2"))]);
    }
}
