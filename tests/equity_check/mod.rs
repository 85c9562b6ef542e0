//! The check a run's `equity_snapshots` must pass in either backend (SQLite and PostgreSQL
//! tests read their rows into these structs): every snapshot is one moment; each
//! strategy's row of an instrument is its stored position (quantity, realized PnL, fees)
//! valued at the row's mark, `(mark - avg_price) x qty`; totals and the account rows are
//! the sums of those rows; the last snapshot (taken at the stop) agrees with the final
//! positions.

#![allow(dead_code)]

use std::collections::BTreeMap;

use rust_decimal::Decimal;

/// One stored `equity_snapshots` row.
#[derive(Clone, Debug)]
pub struct Snap {
    /// `<run hex>-q<snapshot>-<row>`.
    pub id: String,
    /// Engine time, ns.
    pub ts_ns: i64,
    /// `strategy` or `account`.
    pub scope: String,
    /// Strategy name (account rows: none).
    pub strategy: Option<String>,
    /// Symbol (totals: none).
    pub symbol: Option<String>,
    /// Quantity (per instrument).
    pub qty: Option<Decimal>,
    /// Mark (per instrument).
    pub mark: Option<Decimal>,
    /// Realized PnL.
    pub realized: Decimal,
    /// Unrealized PnL.
    pub unrealized: Option<Decimal>,
    /// Fees.
    pub fees: Decimal,
    /// Realized + unrealized.
    pub equity: Option<Decimal>,
}

/// One stored `positions` row.
#[derive(Clone, Debug)]
pub struct Pos {
    /// Strategy name.
    pub strategy: String,
    /// Symbol.
    pub symbol: String,
    /// Signed quantity.
    pub qty: Decimal,
    /// Average entry.
    pub avg_price: Decimal,
    /// Realized PnL.
    pub realized: Decimal,
    /// Fees.
    pub fees: Decimal,
}

fn snapshot_no(id: &str) -> u64 {
    let mut parts = id.rsplit('-');
    let _row = parts.next();
    parts
        .next()
        .and_then(|q| q.strip_prefix('q'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("equity snapshot id {id:?} is not <run>-q<n>-<row>"))
}

#[derive(Default)]
struct Sum {
    qty: Decimal,
    realized: Decimal,
    unrealized: Decimal,
    fees: Decimal,
}

impl Sum {
    fn add(&mut self, s: &Snap) {
        self.qty += s.qty.unwrap_or_default();
        self.realized += s.realized;
        self.unrealized += s.unrealized.expect("every held instrument has a mark");
        self.fees += s.fees;
    }
    fn assert_total(&self, s: &Snap, what: &str) {
        assert_eq!(
            (s.realized, s.unrealized, s.fees, s.equity),
            (
                self.realized,
                Some(self.unrealized),
                self.fees,
                Some(self.realized + self.unrealized)
            ),
            "{what} is not the sum of its rows"
        );
    }
}

/// Checks every snapshot in `snaps` and the last one against `positions`; at least
/// `min_snapshots` snapshots must have been taken. Returns the number of snapshots.
pub fn check(snaps: &[Snap], positions: &[Pos], min_snapshots: usize) -> usize {
    let mut by_no: BTreeMap<u64, Vec<&Snap>> = BTreeMap::new();
    for s in snaps {
        by_no.entry(snapshot_no(&s.id)).or_default().push(s);
    }
    assert!(
        by_no.len() >= min_snapshots,
        "{} equity snapshots, expected at least {min_snapshots}",
        by_no.len()
    );
    for (no, rows) in &by_no {
        assert!(
            rows.iter().all(|r| r.ts_ns == rows[0].ts_ns),
            "snapshot {no} spans several moments"
        );
        check_one(*no, rows);
    }
    let (_, last) = by_no.iter().next_back().expect("at least one snapshot");
    let held: Vec<&Pos> = positions
        .iter()
        .filter(|p| {
            !(p.qty.is_zero() && p.realized.is_zero() && p.fees.is_zero() && p.avg_price.is_zero())
        })
        .collect();
    let per_instrument = last
        .iter()
        .filter(|r| r.scope == "strategy" && r.symbol.is_some())
        .count();
    assert_eq!(per_instrument, held.len(), "one row per stored position");
    for p in held {
        let r = last
            .iter()
            .find(|r| {
                r.scope == "strategy"
                    && r.strategy.as_deref() == Some(p.strategy.as_str())
                    && r.symbol.as_deref() == Some(p.symbol.as_str())
            })
            .unwrap_or_else(|| panic!("no snapshot row for {p:?}"));
        assert_eq!(
            (r.qty, r.realized, r.fees),
            (Some(p.qty), p.realized, p.fees),
            "the last snapshot differs from the stored position {p:?}"
        );
        let mark = r.mark.expect("a traded instrument has a mark");
        assert!(mark > Decimal::ZERO);
        assert_eq!(
            r.unrealized,
            Some((mark - p.avg_price) * p.qty),
            "unrealized PnL of {p:?} at {mark}"
        );
    }
    by_no.len()
}

fn check_one(no: u64, rows: &[&Snap]) {
    let mut strategies: BTreeMap<&str, Sum> = BTreeMap::new();
    let mut account: BTreeMap<&str, (Sum, Option<Decimal>)> = BTreeMap::new();
    let mut all = Sum::default();
    for r in rows {
        if let (Some(u), Some(e)) = (r.unrealized, r.equity) {
            assert_eq!(e, r.realized + u, "equity of {r:?}");
        }
        if let (Some(strategy), Some(symbol)) = (r.strategy.as_deref(), r.symbol.as_deref()) {
            assert_eq!(r.scope, "strategy");
            strategies.entry(strategy).or_default().add(r);
            let a = account.entry(symbol).or_default();
            a.0.add(r);
            a.1 = r.mark;
            all.add(r);
        }
    }
    assert!(!strategies.is_empty(), "snapshot {no} has no strategy rows");
    for (name, sum) in &strategies {
        let total = rows
            .iter()
            .find(|r| r.strategy.as_deref() == Some(*name) && r.symbol.is_none())
            .unwrap_or_else(|| panic!("snapshot {no}: no total of {name}"));
        sum.assert_total(total, &format!("snapshot {no}: total of {name}"));
    }
    for (symbol, (sum, mark)) in &account {
        let r = rows
            .iter()
            .find(|r| r.scope == "account" && r.symbol.as_deref() == Some(*symbol))
            .unwrap_or_else(|| panic!("snapshot {no}: no account row of {symbol}"));
        assert_eq!((r.qty, r.mark), (Some(sum.qty), *mark), "account {symbol}");
        sum.assert_total(r, &format!("snapshot {no}: account {symbol}"));
    }
    let total = rows
        .iter()
        .find(|r| r.scope == "account" && r.symbol.is_none())
        .unwrap_or_else(|| panic!("snapshot {no}: no account total"));
    assert!(total.strategy.is_none() && total.qty.is_none() && total.mark.is_none());
    all.assert_total(total, &format!("snapshot {no}: account total"));
    let per_instrument = rows
        .iter()
        .filter(|r| r.scope == "strategy" && r.symbol.is_some())
        .count();
    assert_eq!(
        rows.len(),
        per_instrument + strategies.len() + account.len() + 1,
        "snapshot {no}: rows besides the per-instrument rows, totals and account rows"
    );
}
