//! What a quant reads off a backtest: round trips from the fills, and statistics of the trips
//! and of the equity curve against a starting capital.
//!
//! A round trip opens when a strategy's tradable position in an instrument leaves zero and
//! closes when it is back to zero (tradable: the lot-size multiple, so base-fee dust does not
//! keep a trip open). A fill that flips the position closes the trip (its whole fee goes to
//! it) and opens the next with the remainder at its price. A trip still open at the end is
//! reported with `exit_ts_ns: None` and its PnL so far realized.

use peregrine_engine::events::FillRow;
use peregrine_engine::position::{tradable, Fee, Position};
use peregrine_engine::types::{InstrumentSpec, Instruments};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use super::metrics::EquityPoint;

/// Nanoseconds in a year of 365.25 days (annualisation).
const YEAR_NS: f64 = 365.25 * 86_400e9;

/// One round trip.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundTrip {
    /// Strategy.
    pub strategy: String,
    /// Symbol.
    pub symbol: String,
    /// `long` or `short`.
    pub direction: &'static str,
    /// Time of the opening fill, ns.
    pub entry_ts_ns: i64,
    /// Time of the closing fill, ns (`None`: still open at the end).
    pub exit_ts_ns: Option<i64>,
    /// Average price of the fills that opened or added.
    pub entry_price: Decimal,
    /// Average price of the fills that reduced or closed (`None` if none yet).
    pub exit_price: Option<Decimal>,
    /// Quantity opened (sum of opening and adding fills).
    pub qty: Decimal,
    /// PnL realized over the trip, net of its fees, quote currency.
    pub pnl: Decimal,
    /// Fees of the trip, valued in quote currency.
    pub fees: Decimal,
    /// `exit - entry`, ns (to the end of the data for an open trip).
    pub holding_ns: i64,
}

struct Open {
    trip: RoundTrip,
    entry_notional: Decimal,
    exit_qty: Decimal,
    exit_notional: Decimal,
    realized_at_entry: Decimal,
    fees_at_entry: Decimal,
}

/// A fill's fee as a position books it: in the base asset (reduces the quantity), in the
/// quote asset, or nothing for a third asset (a backtest charges none).
pub fn fill_fee(f: &FillRow, spec: &InstrumentSpec) -> Fee {
    if f.fee_asset == spec.base {
        Fee::Base(f.fee)
    } else if f.fee_asset == spec.quote {
        Fee::Quote(f.fee)
    } else {
        Fee::Quote(Decimal::ZERO)
    }
}

/// The round trips of a run's fills, in the order they opened.
pub fn round_trips(fills: &[FillRow], instruments: &Instruments, end_ts_ns: i64) -> Vec<RoundTrip> {
    let mut b = RoundTrips::default();
    for f in fills {
        b.push(f, instruments);
    }
    b.finish(end_ts_ns)
}

/// (strategy, symbol).
type StrategySymbol = (String, String);

/// Round trips built one fill at a time (a backtest that streams its fills to a file keeps
/// only these, not the fills).
#[derive(Default)]
pub struct RoundTrips {
    /// Per (strategy, symbol): its position and open trip (few entries: a linear scan).
    positions: Vec<(StrategySymbol, (Position, Option<Open>))>,
    done: Vec<RoundTrip>,
}

impl RoundTrips {
    /// Books one fill (fills of instruments not in `instruments` are ignored).
    pub fn push(&mut self, f: &FillRow, instruments: &Instruments) {
        let Some(id) = instruments.by_symbol(&f.symbol) else {
            return;
        };
        let spec = instruments.spec(id);
        let fee = fill_fee(f, spec);
        let at = match self
            .positions
            .iter()
            .position(|((st, sy), _)| *st == f.strategy && *sy == f.symbol)
        {
            Some(i) => i,
            None => {
                self.positions.push((
                    (f.strategy.clone(), f.symbol.clone()),
                    (Position::default(), None),
                ));
                self.positions.len() - 1
            }
        };
        let (pos, open) = &mut self.positions[at].1;
        let before = tradable(pos.qty, spec.lot_size);
        let realized_before = pos.realized_pnl;
        let fees_before = pos.fees;
        pos.apply_fill_with_fee(f.side, f.price, f.qty, fee);
        let after = tradable(pos.qty, spec.lot_size);
        let signed = f.side.sign() * f.qty;
        if before.is_zero() {
            if !after.is_zero() {
                *open = Some(start(f, after, realized_before, fees_before));
            }
            return;
        }
        let Some(o) = open.as_mut() else {
            return;
        };
        let adding = before.is_sign_positive() == signed.is_sign_positive();
        if adding {
            o.trip.qty += f.qty;
            o.entry_notional += f.price * f.qty;
            return;
        }
        let flipped = !after.is_zero() && after.is_sign_positive() != before.is_sign_positive();
        let closing_qty = if flipped {
            before.abs()
        } else {
            f.qty.min(before.abs())
        };
        o.exit_qty += closing_qty;
        o.exit_notional += f.price * closing_qty;
        if after.is_zero() || flipped {
            if let Some(mut o) = open.take() {
                o.trip.exit_ts_ns = Some(f.exch_ts_ns);
                finish(&mut o, pos, f.exch_ts_ns);
                self.done.push(o.trip);
            }
            if flipped {
                let mut next = start(f, after, pos.realized_pnl, pos.fees);
                next.trip.qty = after.abs();
                next.entry_notional = f.price * after.abs();
                *open = Some(next);
            }
        }
    }

    /// The trips, in the order they opened; those still open end at `end_ts_ns`.
    pub fn finish(mut self, end_ts_ns: i64) -> Vec<RoundTrip> {
        let mut done = self.done;
        self.positions.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, (pos, open)) in self.positions {
            if let Some(mut o) = open {
                finish(&mut o, &pos, end_ts_ns);
                done.push(o.trip);
            }
        }
        done.sort_by_key(|t| t.entry_ts_ns);
        done
    }
}

fn start(f: &FillRow, after: Decimal, realized: Decimal, fees: Decimal) -> Open {
    Open {
        trip: RoundTrip {
            strategy: f.strategy.clone(),
            symbol: f.symbol.clone(),
            direction: if after.is_sign_positive() {
                "long"
            } else {
                "short"
            },
            entry_ts_ns: f.exch_ts_ns,
            exit_ts_ns: None,
            entry_price: f.price,
            exit_price: None,
            qty: f.qty,
            pnl: Decimal::ZERO,
            fees: Decimal::ZERO,
            holding_ns: 0,
        },
        entry_notional: f.price * f.qty,
        exit_qty: Decimal::ZERO,
        exit_notional: Decimal::ZERO,
        realized_at_entry: realized,
        fees_at_entry: fees,
    }
}

fn finish(o: &mut Open, pos: &Position, end_ts_ns: i64) {
    let t = &mut o.trip;
    if !t.qty.is_zero() {
        t.entry_price = (o.entry_notional / t.qty).normalize();
    }
    if !o.exit_qty.is_zero() {
        t.exit_price = Some((o.exit_notional / o.exit_qty).normalize());
    }
    t.pnl = (pos.realized_pnl - o.realized_at_entry).normalize();
    t.fees = (pos.fees - o.fees_at_entry).normalize();
    t.holding_ns = t.exit_ts_ns.unwrap_or(end_ts_ns) - t.entry_ts_ns;
}

/// Statistics of a run, relative to a starting capital in quote currency.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Capital the percentages refer to.
    pub capital: Decimal,
    /// Closed round trips.
    pub round_trips: usize,
    /// Of which with PnL > 0.
    pub wins: usize,
    /// Wins / closed trips.
    pub win_rate: Option<f64>,
    /// Gross profit / gross loss of closed trips (`None` without a loss).
    pub profit_factor: Option<f64>,
    /// Mean PnL per closed trip, quote currency.
    pub expectancy: Option<Decimal>,
    /// Mean holding time of closed trips, seconds.
    pub avg_holding_s: Option<f64>,
    /// Share of the data's time span with a position open (all trips), 0..1.
    pub exposure: f64,
    /// Final equity / capital, percent.
    pub total_return_pct: f64,
    /// Compounded to a year from the data's time span, percent.
    pub annualized_return_pct: Option<f64>,
    /// Sharpe ratio of per-sample returns, annualised by samples per year of the span.
    pub sharpe: Option<f64>,
    /// Sortino ratio (downside deviation), annualised likewise.
    pub sortino: Option<f64>,
    /// Annualised return / max drawdown.
    pub calmar: Option<f64>,
    /// Largest fall of capital + equity from a peak, percent of that peak.
    pub max_drawdown_pct: f64,
    /// How long that drawdown lasted, from its peak to recovery (or the end), seconds.
    pub max_drawdown_duration_s: f64,
    /// Buying the capital's worth at the first mark and holding to the last, percent.
    pub buy_and_hold_return_pct: Option<f64>,
}

/// Computes the [`Report`] of a run: its trips, equity curve, marks at the start and end.
pub fn report(
    trips: &[RoundTrip],
    points: &[EquityPoint],
    capital: Decimal,
    first_mark: Option<Decimal>,
    last_mark: Option<Decimal>,
) -> Report {
    let closed: Vec<&RoundTrip> = trips.iter().filter(|t| t.exit_ts_ns.is_some()).collect();
    let wins = closed.iter().filter(|t| t.pnl > Decimal::ZERO).count();
    let gross_win: Decimal = closed
        .iter()
        .filter(|t| t.pnl > Decimal::ZERO)
        .map(|t| t.pnl)
        .sum();
    let gross_loss: Decimal = closed
        .iter()
        .filter(|t| t.pnl < Decimal::ZERO)
        .map(|t| -t.pnl)
        .sum();
    let n = closed.len();
    let span_ns = match (points.first(), points.last()) {
        (Some(a), Some(b)) => b.ts_ns - a.ts_ns,
        _ => 0,
    };
    let held: i64 = trips.iter().map(|t| t.holding_ns).sum();
    let cap = capital.to_f64().unwrap_or(0.0);
    let final_eq = points.last().and_then(|p| p.equity.to_f64()).unwrap_or(0.0);
    let total = if cap > 0.0 { final_eq / cap } else { 0.0 };
    let years = span_ns as f64 / YEAR_NS;
    let annual = (years > 0.0 && 1.0 + total > 0.0).then(|| (1.0 + total).powf(1.0 / years) - 1.0);
    let (sharpe, sortino) = ratios(points, cap, span_ns);
    let (dd, dd_ns) = drawdown(points, cap);
    Report {
        capital,
        round_trips: n,
        wins,
        win_rate: (n > 0).then(|| wins as f64 / n as f64),
        profit_factor: (!gross_loss.is_zero())
            .then(|| (gross_win / gross_loss).to_f64())
            .flatten(),
        expectancy: (n > 0).then(|| {
            (closed.iter().map(|t| t.pnl).sum::<Decimal>() / Decimal::from(n)).normalize()
        }),
        avg_holding_s: (n > 0)
            .then(|| closed.iter().map(|t| t.holding_ns as f64).sum::<f64>() / n as f64 / 1e9),
        exposure: if span_ns > 0 {
            (held as f64 / span_ns as f64).min(1.0)
        } else {
            0.0
        },
        total_return_pct: total * 100.0,
        annualized_return_pct: annual.map(|a| a * 100.0),
        sharpe,
        sortino,
        calmar: annual.and_then(|a| (dd > 0.0).then(|| a / dd)),
        max_drawdown_pct: dd * 100.0,
        max_drawdown_duration_s: dd_ns as f64 / 1e9,
        buy_and_hold_return_pct: match (first_mark, last_mark) {
            (Some(a), Some(b)) if a > Decimal::ZERO => ((b - a) / a).to_f64().map(|r| r * 100.0),
            _ => None,
        },
    }
}

/// Annualised Sharpe and Sortino of per-sample returns of `capital + equity`.
fn ratios(points: &[EquityPoint], cap: f64, span_ns: i64) -> (Option<f64>, Option<f64>) {
    if cap <= 0.0 || points.len() < 3 || span_ns <= 0 {
        return (None, None);
    }
    let values: Vec<f64> = points
        .iter()
        .map(|p| cap + p.equity.to_f64().unwrap_or(0.0))
        .collect();
    let rets: Vec<f64> = values
        .windows(2)
        .filter(|w| w[0] > 0.0)
        .map(|w| w[1] / w[0] - 1.0)
        .collect();
    let n = rets.len() as f64;
    if n < 2.0 {
        return (None, None);
    }
    let per_year = n / (span_ns as f64 / YEAR_NS);
    let mean = rets.iter().sum::<f64>() / n;
    let sd = (rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let down = (rets.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    let ann = per_year.sqrt();
    let sharpe = (sd > 0.0 && sd.is_finite()).then(|| mean / sd * ann);
    let sortino = (down > 0.0 && down.is_finite()).then(|| mean / down * ann);
    (sharpe, sortino)
}

/// Largest fall of `capital + equity` from a peak, as a fraction of the peak, and how long
/// (ns) from that peak until the value was back at it (or the end of the data).
fn drawdown(points: &[EquityPoint], cap: f64) -> (f64, i64) {
    if cap <= 0.0 {
        return (0.0, 0);
    }
    let mut peak = f64::MIN;
    let mut peak_ts = 0;
    let mut worst = 0.0;
    let mut episode: Option<(i64, Option<i64>)> = None;
    for p in points {
        let v = cap + p.equity.to_f64().unwrap_or(0.0);
        if v >= peak {
            if let Some((start, end @ None)) = episode.as_mut() {
                if *start == peak_ts {
                    *end = Some(p.ts_ns);
                }
            }
            peak = v;
            peak_ts = p.ts_ns;
            continue;
        }
        let dd = (peak - v) / peak;
        if dd > worst {
            worst = dd;
            if episode.map(|(s, _)| s) != Some(peak_ts) {
                episode = Some((peak_ts, None));
            }
        }
    }
    let last = points.last().map_or(0, |p| p.ts_ns);
    let duration = episode.map_or(0, |(start, end)| end.unwrap_or(last) - start);
    (worst, duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_engine::types::Side;
    use rust_decimal_macros::dec;

    fn fill(
        t: i64,
        side: Side,
        price: Decimal,
        qty: Decimal,
        fee: Decimal,
        asset: &str,
    ) -> FillRow {
        FillRow {
            venue: "backtest".into(),
            symbol: "BTC-USDT".into(),
            trade_id: t,
            client_order_id: format!("c{t}"),
            strategy: "s".into(),
            side,
            price,
            qty,
            fee,
            fee_asset: asset.into(),
            is_maker: false,
            exch_ts_ns: t * 1_000_000_000,
        }
    }

    fn point(t: i64, equity: Decimal) -> EquityPoint {
        EquityPoint {
            ts_ns: t * 1_000_000_000,
            equity,
            realized: Decimal::ZERO,
            fees: Decimal::ZERO,
            position: Decimal::ZERO,
        }
    }

    #[test]
    fn trips_flips_dust_and_stats() {
        let mut inst = Instruments::new();
        inst.intern(
            InstrumentSpec::from_canonical("backtest", "BTC-USDT", dec!(0.01), dec!(0.001))
                .unwrap(),
        );
        let fills = vec![
            // Long 1 (fee 0.001 BTC: 0.999 held), closed by selling the tradable 0.999 at
            // 110: dust 0 here since 0.999 is a lot multiple.
            fill(1, Side::Buy, dec!(100), dec!(1), dec!(0.001), "BTC"),
            fill(5, Side::Sell, dec!(110), dec!(0.999), dec!(0), "USDT"),
            // Long 1 at 100, flipped short by selling 2 at 90, covered at 95.
            fill(10, Side::Buy, dec!(100), dec!(1), dec!(0), "USDT"),
            fill(12, Side::Sell, dec!(90), dec!(2), dec!(0.2), "USDT"),
            fill(20, Side::Buy, dec!(95), dec!(1), dec!(0), "USDT"),
        ];
        let trips = round_trips(&fills, &inst, 30 * 1_000_000_000);
        type Row<'a> = (&'a str, i64, Option<i64>, Decimal, Option<Decimal>, Decimal);
        let summary: Vec<Row> = trips
            .iter()
            .map(|t| {
                (
                    t.direction,
                    t.entry_ts_ns / 1_000_000_000,
                    t.exit_ts_ns.map(|x| x / 1_000_000_000),
                    t.entry_price,
                    t.exit_price,
                    t.pnl,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                // 0.999 * (110 - 100) - the 0.001 BTC fee valued at 100 = 9.89.
                ("long", 1, Some(5), dec!(100), Some(dec!(110)), dec!(9.89)),
                // 1 * (90 - 100) - the flip fill's whole fee 0.2.
                ("long", 10, Some(12), dec!(100), Some(dec!(90)), dec!(-10.2)),
                ("short", 12, Some(20), dec!(90), Some(dec!(95)), dec!(-5)),
            ]
        );
        assert_eq!(trips[1].holding_ns, 2_000_000_000);

        let points = vec![
            point(0, dec!(0)),
            point(10, dec!(100)),
            point(20, dec!(-100)),
            point(30, dec!(50)),
            point(40, dec!(150)),
        ];
        let r = report(&trips, &points, dec!(1000), Some(dec!(100)), Some(dec!(95)));
        assert_eq!((r.round_trips, r.wins), (3, 1));
        assert!((r.win_rate.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.profit_factor.unwrap() - 9.89 / 15.2).abs() < 1e-12);
        assert_eq!(r.expectancy, Some(dec!(-1.77)));
        assert!((r.total_return_pct - 15.0).abs() < 1e-9);
        // Peak 1100 at 10 s, trough 900 at 20 s: 18.18 %, recovered at 40 s.
        assert!((r.max_drawdown_pct - 200.0 / 1100.0 * 100.0).abs() < 1e-9);
        assert_eq!(r.max_drawdown_duration_s, 30.0);
        assert!((r.buy_and_hold_return_pct.unwrap() + 5.0).abs() < 1e-9);
        // Trips held 4 + 2 + 8 = 14 s of the 40 s span.
        assert!((r.exposure - 14.0 / 40.0).abs() < 1e-12);
        assert!(r.sharpe.is_some() && r.sortino.is_some() && r.calmar.is_some());
    }

    #[test]
    fn annualised_ratios_match_hand_computation() {
        // Capital 1000; equity 0, +100, +50, +150 at days 0..3: values 1000, 1100, 1050, 1150.
        let day = 86_400;
        let points: Vec<EquityPoint> = [dec!(0), dec!(100), dec!(50), dec!(150)]
            .iter()
            .enumerate()
            .map(|(i, e)| point(i as i64 * day, *e))
            .collect();
        let r = report(&[], &points, dec!(1000), Some(dec!(200)), Some(dec!(230)));
        // Per-sample returns 100/1000, -50/1100, 100/1050; three samples in three days:
        // 365.25 samples a year.
        let rets = [0.1, -50.0 / 1100.0, 100.0 / 1050.0];
        let mean = (rets[0] + rets[1] + rets[2]) / 3.0;
        let sd = (rets.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 2.0).sqrt();
        let down = ((50.0f64 / 1100.0).powi(2) / 3.0).sqrt();
        let ann = 365.25f64.sqrt();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert!(close(r.sharpe.unwrap(), mean / sd * ann), "{:?}", r.sharpe);
        assert!(
            close(r.sortino.unwrap(), mean / down * ann),
            "{:?}",
            r.sortino
        );
        // +15 % over 3 days, compounded to a year of 365.25 days.
        let annual = 1.15f64.powf(365.25 / 3.0) - 1.0;
        assert!(close(r.annualized_return_pct.unwrap(), annual * 100.0));
        // Max drawdown 1100 -> 1050 (4.545 %) from day 1, recovered on day 3.
        assert!(close(r.max_drawdown_pct, 50.0 / 1100.0 * 100.0));
        assert_eq!(r.max_drawdown_duration_s, 2.0 * day as f64);
        assert!(close(r.calmar.unwrap(), annual / (50.0 / 1100.0)));
        assert!(close(r.buy_and_hold_return_pct.unwrap(), 15.0));
        assert!(close(r.total_return_pct, 15.0));
        // No trips: no trip statistics, no exposure.
        assert_eq!((r.round_trips, r.win_rate, r.expectancy), (0, None, None));
        assert_eq!(r.exposure, 0.0);
    }
}
