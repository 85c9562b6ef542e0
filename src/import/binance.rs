//! Binance public data CSV rows (spot `trades`, `aggTrades`, `klines`) to interchange lines.
//!
//! Columns as `binance/binance-public-data` documents them (sources in
//! `exchanges/tests/SOURCES.md`). Spot times are milliseconds up to 2024-12-31 and
//! microseconds from 2025-01-01; each value's unit is read from its size (below 10^14 is ms:
//! 10^14 ms is the year 5138, 10^14 µs is 1973), so a file of either period, or one that
//! mixes them, converts right. Decimal text is kept as written (`"0.01000000"`).

use std::collections::VecDeque;

use peregrine_engine::interchange::{EventKind, EventLine};
use peregrine_engine::types::Side;
use rust_decimal::Decimal;

use super::format::Format;
use super::{positive, RowConverter, RowError};

/// Converts the rows of one Binance file.
pub struct BinanceRows {
    format: Format,
    symbol: String,
}

impl BinanceRows {
    /// A converter for `format` rows of canonical `symbol`.
    pub fn new(format: Format, symbol: String) -> Self {
        Self { format, symbol }
    }

    fn line(&self, kind: EventKind, exch_ts_ns: i64) -> EventLine {
        EventLine {
            venue: "binance".into(),
            symbol: self.symbol.clone(),
            kind: Some(kind),
            exch_ts_ns: Some(exch_ts_ns),
            ..EventLine::default()
        }
    }

    fn trade(
        &self,
        id: &str,
        price: &str,
        qty: &str,
        ts: &str,
        buyer_is_maker: &str,
    ) -> Result<EventLine, RowError> {
        let mut ev = self.line(EventKind::Trade, time_ns(ts)?);
        ev.price = Some(positive("price", price)?);
        ev.qty = Some(positive("qty", qty)?);
        // The buyer resting means the seller took: the aggressor sold.
        ev.side = Some(if boolean("isBuyerMaker", buyer_is_maker)? {
            Side::Sell
        } else {
            Side::Buy
        });
        ev.trade_id = Some(integer("trade id", id)?.to_string());
        Ok(ev)
    }

    /// Four prints per bar: open at the open time, then high and low (low first on a bar that
    /// closed up), close at the close time; each a quarter of the bar's volume (exact: a
    /// decimal divides by 4 without rounding). A bar without volume had no trades and gives
    /// nothing.
    fn kline(&self, f: &[&str], out: &mut VecDeque<EventLine>) -> Result<(), RowError> {
        let open_ns = time_ns(f[0])?;
        let close_ns = time_ns(f[6])?;
        if close_ns < open_ns {
            return Err(RowError("close time before open time".into()));
        }
        let o = positive("open", f[1])?;
        let h = positive("high", f[2])?;
        let l = positive("low", f[3])?;
        let c = positive("close", f[4])?;
        if h < o.max(c).max(l) || l > o.min(c) {
            return Err(RowError(format!(
                "high {h} / low {l} do not bound open {o} and close {c}"
            )));
        }
        let volume = super::decimal("volume", f[5])?;
        if volume.is_zero() {
            return Ok(());
        }
        let quarter = volume / Decimal::from(4);
        let third = (close_ns - open_ns) / 3;
        let path = if c >= o { [o, l, h, c] } else { [o, h, l, c] };
        let times = [open_ns, open_ns + third, open_ns + 2 * third, close_ns];
        let mut prev = o;
        for (i, (&px, &ts)) in path.iter().zip(times.iter()).enumerate() {
            let mut ev = self.line(EventKind::Trade, ts);
            ev.price = Some(px);
            ev.qty = Some(quarter);
            ev.side = Some(if i == 0 || px >= prev {
                Side::Buy
            } else {
                Side::Sell
            });
            prev = px;
            out.push_back(ev);
        }
        Ok(())
    }
}

impl RowConverter for BinanceRows {
    fn row(&mut self, f: &[&str], out: &mut VecDeque<EventLine>) -> Result<(), RowError> {
        let want = match self.format {
            Format::BinanceTrades => 7,
            Format::BinanceAggTrades => 8,
            _ => 12,
        };
        if f.len() != want {
            return Err(RowError(format!(
                "{} columns, a {} row has {want}",
                f.len(),
                self.format
            )));
        }
        match self.format {
            Format::BinanceTrades => out.push_back(self.trade(f[0], f[1], f[2], f[4], f[5])?),
            Format::BinanceAggTrades => out.push_back(self.trade(f[0], f[1], f[2], f[5], f[6])?),
            _ => self.kline(f, out)?,
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut VecDeque<EventLine>) {}
}

/// Whether a first line is a header (its first field is not a number).
pub fn is_header(line: &str) -> bool {
    line.split(',')
        .next()
        .is_some_and(|f| f.trim().parse::<u64>().is_err())
}

/// A Binance time (ms before 2025, µs from 2025) in ns since the epoch.
pub fn time_ns(s: &str) -> Result<i64, RowError> {
    let v = integer("time", s)?;
    let ns = if v < 100_000_000_000_000 {
        v.checked_mul(1_000_000)
    } else {
        v.checked_mul(1_000)
    };
    ns.and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| RowError(format!("time {s} is out of range")))
}

fn integer(field: &str, s: &str) -> Result<u64, RowError> {
    s.trim()
        .parse()
        .map_err(|_| RowError(format!("{field} {s:?} is not an unsigned integer")))
}

fn boolean(field: &str, s: &str) -> Result<bool, RowError> {
    match s.trim() {
        "True" | "true" => Ok(true),
        "False" | "false" => Ok(false),
        other => Err(RowError(format!("{field} {other:?} is not True/False"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(format: Format, line: &str) -> Result<Vec<EventLine>, RowError> {
        let mut c = BinanceRows::new(format, "BTC-USDT".into());
        let f: Vec<&str> = line.split(',').collect();
        let mut out = VecDeque::new();
        c.row(&f, &mut out)?;
        Ok(out.into_iter().collect())
    }

    #[test]
    fn trades_of_both_periods_keep_their_text() {
        let old = rows(
            Format::BinanceTrades,
            "51175358,17.80180000,5.69000000,101.29224200,1583709433583,True,True",
        )
        .unwrap();
        assert_eq!(old[0].exch_ts_ns, Some(1_583_709_433_583_000_000));
        assert_eq!(old[0].price.unwrap().to_string(), "17.80180000");
        assert_eq!(old[0].side, Some(Side::Sell));
        assert_eq!(old[0].trade_id.as_deref(), Some("51175358"));
        let new = rows(
            Format::BinanceAggTrades,
            "29,29.20000000,50.00000000,0,0,1735689600010866,False,True",
        )
        .unwrap();
        assert_eq!(new[0].exch_ts_ns, Some(1_735_689_600_010_866_000));
        assert_eq!(new[0].side, Some(Side::Buy));
        assert_eq!(new[0].qty.unwrap().to_string(), "50.00000000");
    }

    #[test]
    fn a_kline_is_four_prints_that_add_up_to_its_volume() {
        let bar = "1735689600000000,4.15070000,4.15870000,4.15060000,4.15540000,539.23000000,\
                   1735693199999999,2240.39860900,13,401.82000000,1669.98121300,0";
        let evs = rows(Format::BinanceKlines, bar).unwrap();
        let px: Vec<String> = evs.iter().map(|e| e.price.unwrap().to_string()).collect();
        assert_eq!(px, ["4.15070000", "4.15060000", "4.15870000", "4.15540000"]);
        let vol: Decimal = evs.iter().map(|e| e.qty.unwrap()).sum();
        assert_eq!(vol, "539.23".parse::<Decimal>().unwrap());
        assert_eq!(evs[0].exch_ts_ns, Some(1_735_689_600_000_000_000));
        assert_eq!(evs[3].exch_ts_ns, Some(1_735_693_199_999_999_000));
        assert_eq!(
            evs.iter().map(|e| e.side.unwrap()).collect::<Vec<_>>(),
            [Side::Buy, Side::Sell, Side::Buy, Side::Sell]
        );
    }

    #[test]
    fn bad_rows_say_why() {
        let e = rows(Format::BinanceTrades, "1,0,1,0,1583709433583,True,True").unwrap_err();
        assert!(e.0.contains("price 0 is not positive"), "{}", e.0);
        let e = rows(Format::BinanceTrades, "1,1,1,1,1583709433583,Maybe,True").unwrap_err();
        assert!(e.0.contains("isBuyerMaker"), "{}", e.0);
        let e = rows(Format::BinanceAggTrades, "1,1,1,1,1583709433583,True,True").unwrap_err();
        assert!(e.0.contains("7 columns"), "{}", e.0);
    }
}
