//! Tardis CSV rows (`trades`, `quotes`, `incremental_book_L2`, `book_snapshot_25`) to
//! interchange lines.
//!
//! Columns are found by their header names (docs.tardis.dev "Downloadable CSV files", sources
//! in `exchanges/tests/SOURCES.md`): `timestamp` (the exchange's, µs) becomes `exch_ts_ns`,
//! `local_timestamp` (arrival, µs) becomes `ts_ns`. `incremental_book_L2` rows are grouped
//! into one line per message: consecutive snapshot rows form one `book_snapshot`, other rows
//! sharing a `local_timestamp` one `book_delta`; rows before the first snapshot are skipped
//! (Tardis: buffered updates from before the exchange's initial snapshot).

use std::collections::VecDeque;

use peregrine_engine::interchange::{EventKind, EventLine, Level};
use peregrine_engine::types::Side;
use peregrine_exchanges::md::canonical_symbol;
use peregrine_exchanges::venue::Venue;
use rust_decimal::Decimal;

use super::format::Format;
use super::{positive, RowConverter, RowError};

/// Column positions of the fields a layout needs.
struct Cols {
    exchange: usize,
    symbol: usize,
    timestamp: usize,
    local_timestamp: usize,
    /// Layout-specific columns, in the order the layout's converter reads them.
    rest: Vec<usize>,
    /// `book_snapshot_25`: (price, amount) columns of asks then bids, per level.
    levels: Vec<(Side, usize, usize)>,
}

/// Converts the rows of one Tardis file.
pub struct TardisRows {
    format: Format,
    cols: Cols,
    symbol_override: Option<String>,
    /// The last exchange/symbol pair and its interchange spelling.
    names: Option<(String, String, String, String)>,
    /// `incremental_book_L2`: the message being gathered.
    pending: Option<EventLine>,
    pending_snapshot: bool,
    pending_local: u64,
    seen_snapshot: bool,
    /// `trades`: the last price, for rows whose side is `unknown`.
    last_price: Option<Decimal>,
    /// Rows skipped: book updates before the first snapshot, one-sided quotes.
    pub skipped: u64,
    /// Trades whose aggressor side Tardis gives as `unknown`, set by the tick rule.
    pub inferred_sides: u64,
}

fn find(header: &[&str], name: &str) -> Result<usize, RowError> {
    header
        .iter()
        .position(|c| *c == name)
        .ok_or_else(|| RowError(format!("the header has no `{name}` column")))
}

impl TardisRows {
    /// A converter for a file of `format` with this header; `symbol` (canonical) replaces the
    /// rows' own exchange and symbol.
    pub fn new(format: Format, header: &[&str], symbol: Option<String>) -> Result<Self, RowError> {
        let rest_names: &[&str] = match format {
            Format::TardisTrades => &["id", "side", "price", "amount"],
            Format::TardisQuotes => &["bid_price", "bid_amount", "ask_price", "ask_amount"],
            Format::TardisIncrementalBookL2 => &["is_snapshot", "side", "price", "amount"],
            _ => &[],
        };
        let rest = rest_names
            .iter()
            .map(|n| find(header, n))
            .collect::<Result<Vec<_>, _>>()?;
        let mut levels = Vec::new();
        if format == Format::TardisBookSnapshot25 {
            for (side, name) in [(Side::Sell, "asks"), (Side::Buy, "bids")] {
                for i in 0..25 {
                    levels.push((
                        side,
                        find(header, &format!("{name}[{i}].price"))?,
                        find(header, &format!("{name}[{i}].amount"))?,
                    ));
                }
            }
        }
        Ok(Self {
            format,
            cols: Cols {
                exchange: find(header, "exchange")?,
                symbol: find(header, "symbol")?,
                timestamp: find(header, "timestamp")?,
                local_timestamp: find(header, "local_timestamp")?,
                rest,
                levels,
            },
            symbol_override: symbol,
            names: None,
            pending: None,
            pending_snapshot: false,
            pending_local: 0,
            seen_snapshot: false,
            last_price: None,
            skipped: 0,
            inferred_sides: 0,
        })
    }

    /// The interchange venue and symbol of a row: the venue by name when Peregrine knows it
    /// (its canonical `BASE-QUOTE` symbol), else the Tardis exchange id and symbol as given.
    fn names(&mut self, exchange: &str, symbol: &str) -> (String, String) {
        if let Some((e, s, v, c)) = &self.names {
            if e == exchange && s == symbol {
                return (v.clone(), c.clone());
            }
        }
        let (venue, canonical) = match exchange.parse::<Venue>() {
            Ok(v) => (v.as_str().to_string(), canonical_symbol(v, symbol)),
            Err(_) => (exchange.to_string(), symbol.to_string()),
        };
        let canonical = self.symbol_override.clone().unwrap_or(canonical);
        self.names = Some((
            exchange.to_string(),
            symbol.to_string(),
            venue.clone(),
            canonical.clone(),
        ));
        (venue, canonical)
    }

    fn base(&mut self, f: &[&str], kind: EventKind) -> Result<(EventLine, u64), RowError> {
        let (venue, symbol) = self.names(f[self.cols.exchange], f[self.cols.symbol]);
        let exch_ts_ns = i64::try_from(micros_ns("timestamp", f[self.cols.timestamp])?)
            .map_err(|_| RowError("timestamp out of range".into()))?;
        let local = micros_ns("local_timestamp", f[self.cols.local_timestamp])?;
        Ok((
            EventLine {
                venue,
                symbol,
                kind: Some(kind),
                ts_ns: Some(local),
                exch_ts_ns: Some(exch_ts_ns),
                ..EventLine::default()
            },
            local,
        ))
    }

    fn trade(&mut self, f: &[&str], out: &mut VecDeque<EventLine>) -> Result<(), RowError> {
        let (mut ev, _) = self.base(f, EventKind::Trade)?;
        let r = &self.cols.rest;
        let price = positive("price", f[r[2]])?;
        let side = match f[r[1]] {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            "unknown" => {
                self.inferred_sides += 1;
                match self.last_price {
                    Some(p) if price < p => Side::Sell,
                    _ => Side::Buy,
                }
            }
            other => return Err(RowError(format!("side {other:?} is not buy/sell/unknown"))),
        };
        self.last_price = Some(price);
        ev.price = Some(price);
        ev.qty = Some(positive("amount", f[r[3]])?);
        ev.side = Some(side);
        ev.trade_id = (!f[r[0]].is_empty()).then(|| f[r[0]].to_string());
        out.push_back(ev);
        Ok(())
    }

    fn quote(&mut self, f: &[&str], out: &mut VecDeque<EventLine>) -> Result<(), RowError> {
        let r = self.cols.rest.clone();
        if r.iter().any(|&i| f[i].is_empty()) {
            self.skipped += 1;
            return Ok(());
        }
        let (mut ev, _) = self.base(f, EventKind::Quote)?;
        ev.bid_px = Some(super::decimal("bid_price", f[r[0]])?);
        ev.bid_qty = Some(super::decimal("bid_amount", f[r[1]])?);
        ev.ask_px = Some(super::decimal("ask_price", f[r[2]])?);
        ev.ask_qty = Some(super::decimal("ask_amount", f[r[3]])?);
        out.push_back(ev);
        Ok(())
    }

    fn book_level(&mut self, f: &[&str], out: &mut VecDeque<EventLine>) -> Result<(), RowError> {
        let r = self.cols.rest.clone();
        let snapshot = match f[r[0]] {
            "true" => true,
            "false" => false,
            other => return Err(RowError(format!("is_snapshot {other:?} is not true/false"))),
        };
        if !snapshot && !self.seen_snapshot {
            self.skipped += 1;
            return Ok(());
        }
        self.seen_snapshot = true;
        let side = match f[r[1]] {
            "bid" => Side::Buy,
            "ask" => Side::Sell,
            other => return Err(RowError(format!("side {other:?} is not bid/ask"))),
        };
        let level: Level = [
            super::decimal("price", f[r[2]])?,
            super::decimal("amount", f[r[3]])?,
        ];
        let kind = if snapshot {
            EventKind::BookSnapshot
        } else {
            EventKind::BookDelta
        };
        let (ev, local) = self.base(f, kind)?;
        let continues = self.pending.as_ref().is_some_and(|p| {
            p.symbol == ev.symbol
                && p.venue == ev.venue
                && self.pending_snapshot == snapshot
                && (snapshot || self.pending_local == local)
        });
        if !continues {
            self.flush(out);
            self.pending = Some(ev);
            self.pending_snapshot = snapshot;
            self.pending_local = local;
        }
        if let Some(p) = self.pending.as_mut() {
            match side {
                Side::Buy => p.bids.push(level),
                Side::Sell => p.asks.push(level),
            }
        }
        Ok(())
    }

    fn snapshot25(&mut self, f: &[&str], out: &mut VecDeque<EventLine>) -> Result<(), RowError> {
        let (mut ev, _) = self.base(f, EventKind::BookSnapshot)?;
        for &(side, p, a) in &self.cols.levels {
            if f[p].is_empty() || f[a].is_empty() {
                continue;
            }
            let level = [
                super::decimal("price", f[p])?,
                super::decimal("amount", f[a])?,
            ];
            match side {
                Side::Buy => ev.bids.push(level),
                Side::Sell => ev.asks.push(level),
            }
        }
        out.push_back(ev);
        Ok(())
    }

    fn flush(&mut self, out: &mut VecDeque<EventLine>) {
        if let Some(p) = self.pending.take() {
            out.push_back(p);
        }
    }

    fn columns(&self) -> usize {
        let c = &self.cols;
        let mut m = c
            .exchange
            .max(c.symbol)
            .max(c.timestamp)
            .max(c.local_timestamp);
        for &i in &c.rest {
            m = m.max(i);
        }
        for &(_, p, a) in &c.levels {
            m = m.max(p).max(a);
        }
        m + 1
    }
}

impl RowConverter for TardisRows {
    fn row(&mut self, f: &[&str], out: &mut VecDeque<EventLine>) -> Result<(), RowError> {
        let need = self.columns();
        if f.len() < need {
            return Err(RowError(format!(
                "{} columns, the header names at least {need}",
                f.len()
            )));
        }
        match self.format {
            Format::TardisTrades => self.trade(f, out),
            Format::TardisQuotes => self.quote(f, out),
            Format::TardisIncrementalBookL2 => self.book_level(f, out),
            _ => self.snapshot25(f, out),
        }
    }

    fn finish(&mut self, out: &mut VecDeque<EventLine>) {
        self.flush(out);
    }
}

fn micros_ns(field: &str, s: &str) -> Result<u64, RowError> {
    s.parse::<u64>()
        .ok()
        .and_then(|us| us.checked_mul(1_000))
        .ok_or_else(|| RowError(format!("{field} {s:?} is not microseconds since the epoch")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(format: Format, csv: &str) -> (Vec<EventLine>, TardisRows) {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let mut c = TardisRows::new(format, &header, None).unwrap();
        let mut out = VecDeque::new();
        for l in lines {
            let f: Vec<&str> = l.split(',').collect();
            c.row(&f, &mut out).unwrap();
        }
        c.finish(&mut out);
        (out.into_iter().collect(), c)
    }

    #[test]
    fn l2_rows_become_one_line_per_message() {
        let csv = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n\
            binance,BTCUSDT,1000,1001,false,bid,9.0,1\n\
            binance,BTCUSDT,2000,2001,true,bid,10.00,1.50\n\
            binance,BTCUSDT,2000,2001,true,ask,10.10,2\n\
            binance,BTCUSDT,3000,3005,false,bid,10.00,0\n\
            binance,BTCUSDT,3000,3005,false,ask,10.20,4\n\
            binance,BTCUSDT,4000,4005,false,ask,10.10,0";
        let (evs, c) = convert(Format::TardisIncrementalBookL2, csv);
        assert_eq!(c.skipped, 1);
        let kinds: Vec<_> = evs.iter().map(|e| e.kind.unwrap()).collect();
        assert_eq!(
            kinds,
            [
                EventKind::BookSnapshot,
                EventKind::BookDelta,
                EventKind::BookDelta
            ]
        );
        assert_eq!(evs[0].symbol, "BTC-USDT");
        assert_eq!(evs[0].bids[0][1].to_string(), "1.50");
        assert_eq!(evs[0].exch_ts_ns, Some(2_000_000));
        assert_eq!(evs[0].ts_ns, Some(2_001_000));
        assert_eq!(evs[1].bids.len() + evs[1].asks.len(), 2);
        assert_eq!(evs[2].asks[0][1], Decimal::ZERO);
    }

    #[test]
    fn trades_quotes_and_snapshots() {
        let csv = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
            deribit,BTC-PERPETUAL,1572566400000000,1572566400100000,t1,sell,9151.5,10\n\
            deribit,BTC-PERPETUAL,1572566401000000,1572566401100000,,unknown,9150.0,20";
        let (evs, c) = convert(Format::TardisTrades, csv);
        assert_eq!(evs[0].venue, "deribit");
        assert_eq!(evs[0].symbol, "BTC-PERPETUAL");
        assert_eq!(evs[0].side, Some(Side::Sell));
        assert_eq!(
            evs[1].side,
            Some(Side::Sell),
            "tick rule: a lower print sold"
        );
        assert_eq!(evs[1].trade_id, None);
        assert_eq!(c.inferred_sides, 1);

        let csv =
            "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n\
            okx,BTC-USDT,1,2,0.5,100.1,100.0,0.25\n\
            okx,BTC-USDT,3,4,,,100.0,0.25";
        let (evs, c) = convert(Format::TardisQuotes, csv);
        assert_eq!(evs.len(), 1);
        assert_eq!(c.skipped, 1);
        assert_eq!(evs[0].ask_px.unwrap().to_string(), "100.1");
        assert_eq!(evs[0].bid_qty.unwrap().to_string(), "0.25");

        let mut header = String::from("exchange,symbol,timestamp,local_timestamp");
        let mut row = String::from("binance,BTCUSDT,10,11");
        for side in ["asks", "bids"] {
            for i in 0..25 {
                header.push_str(&format!(",{side}[{i}].price,{side}[{i}].amount"));
                if i < 2 {
                    let px = if side == "asks" { 101 + i } else { 100 - i };
                    row.push_str(&format!(",{px}.0,1.0"));
                } else {
                    row.push_str(",,");
                }
            }
        }
        let (evs, _) = convert(Format::TardisBookSnapshot25, &format!("{header}\n{row}"));
        assert_eq!(evs[0].kind, Some(EventKind::BookSnapshot));
        assert_eq!(evs[0].asks.len(), 2);
        assert_eq!(evs[0].bids[1][0].to_string(), "99.0");
    }
}
