//! Which historical file layout a file is, from its name and its first line.
//!
//! Names: Binance public data files are `SYMBOL-trades-DATE`, `SYMBOL-aggTrades-DATE` and
//! `SYMBOL-INTERVAL-DATE` (klines) with `.zip` or `.csv`; Tardis files are
//! `EXCHANGE_DATATYPE_DATE_SYMBOL.csv[.gz]`. Columns: Tardis CSV has a header naming its
//! columns; Binance spot CSV has none and is told apart by its column count (trades 7,
//! aggTrades 8, klines 12). A name and columns that disagree is an error.

use std::fmt;

/// A supported historical file layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Binance spot `trades` (trade id, price, qty, quote qty, time, buyer is maker, best match).
    BinanceTrades,
    /// Binance spot `aggTrades` (agg id, price, qty, first id, last id, time, buyer is maker,
    /// best match).
    BinanceAggTrades,
    /// Binance spot `klines` (open time, O, H, L, C, volume, close time, ...; 12 columns).
    BinanceKlines,
    /// Tardis `trades`.
    TardisTrades,
    /// Tardis `quotes` (best bid and ask).
    TardisQuotes,
    /// Tardis `incremental_book_L2`.
    TardisIncrementalBookL2,
    /// Tardis `book_snapshot_25`.
    TardisBookSnapshot25,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::BinanceTrades => "binance-trades",
            Format::BinanceAggTrades => "binance-agg-trades",
            Format::BinanceKlines => "binance-klines",
            Format::TardisTrades => "tardis-trades",
            Format::TardisQuotes => "tardis-quotes",
            Format::TardisIncrementalBookL2 => "tardis-incremental-book-l2",
            Format::TardisBookSnapshot25 => "tardis-book-snapshot-25",
        })
    }
}

/// Binance kline intervals as they appear in file names.
const KLINE_INTERVALS: [&str; 16] = [
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
    "1mo",
];

/// The first columns of every Tardis CSV file.
const TARDIS_PREFIX: [&str; 4] = ["exchange", "symbol", "timestamp", "local_timestamp"];

impl Format {
    /// Whether the file starts with a header line naming its columns.
    pub fn is_tardis(self) -> bool {
        matches!(
            self,
            Format::TardisTrades
                | Format::TardisQuotes
                | Format::TardisIncrementalBookL2
                | Format::TardisBookSnapshot25
        )
    }

    /// The layout a file name announces, and for Binance files the venue symbol it names.
    pub fn from_name(name: &str) -> Option<(Format, Option<String>)> {
        let stem = strip_extensions(name);
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.len() >= 3 && !parts[0].is_empty() && parts[0].bytes().all(is_symbol_byte) {
            let kind = match parts[1] {
                "trades" => Some(Format::BinanceTrades),
                "aggTrades" => Some(Format::BinanceAggTrades),
                i if KLINE_INTERVALS.contains(&i) => Some(Format::BinanceKlines),
                _ => None,
            };
            if let Some(kind) = kind {
                if parts[2].len() == 4 && parts[2].bytes().all(|b| b.is_ascii_digit()) {
                    return Some((kind, Some(parts[0].to_string())));
                }
            }
        }
        let tardis = [
            ("_incremental_book_L2_", Format::TardisIncrementalBookL2),
            ("_book_snapshot_25_", Format::TardisBookSnapshot25),
            ("_quotes_", Format::TardisQuotes),
            ("_trades_", Format::TardisTrades),
        ];
        tardis
            .iter()
            .find(|(marker, _)| stem.contains(marker))
            .map(|&(_, f)| (f, None))
    }

    /// The layout a first line shows, if it is recognisable on its own.
    pub fn from_first_line(line: &str) -> Option<Format> {
        let cols: Vec<&str> = line.trim_end().split(',').collect();
        if cols.len() >= 4 && cols[..4] == TARDIS_PREFIX {
            let has = |c: &str| cols.contains(&c);
            return if has("is_snapshot") {
                Some(Format::TardisIncrementalBookL2)
            } else if has("asks[24].price") {
                Some(Format::TardisBookSnapshot25)
            } else if has("ask_amount") && has("bid_price") {
                Some(Format::TardisQuotes)
            } else if has("id") && has("side") && has("price") && has("amount") {
                Some(Format::TardisTrades)
            } else {
                None
            };
        }
        match cols.len() {
            7 => Some(Format::BinanceTrades),
            8 => Some(Format::BinanceAggTrades),
            12 => Some(Format::BinanceKlines),
            _ => None,
        }
    }

    /// Whether a first line fits this layout (a header for Tardis, a row or a header for
    /// Binance).
    pub fn fits_first_line(self, line: &str) -> bool {
        let cols = line.trim_end().split(',').count();
        match self {
            Format::BinanceTrades => cols == 7,
            Format::BinanceAggTrades => cols == 8,
            Format::BinanceKlines => cols == 12,
            _ => Format::from_first_line(line) == Some(self),
        }
    }
}

fn is_symbol_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

/// The file name without `.zip`, `.gz` and `.csv`.
pub fn strip_extensions(name: &str) -> &str {
    let mut s = name;
    for ext in [".zip", ".gz", ".csv"] {
        if let Some(rest) = s.strip_suffix(ext) {
            s = rest;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            Format::from_name("BTCUSDT-trades-2024-01-01.zip"),
            Some((Format::BinanceTrades, Some("BTCUSDT".into())))
        );
        assert_eq!(
            Format::from_name("BTCUSDT-aggTrades-2025-01.zip"),
            Some((Format::BinanceAggTrades, Some("BTCUSDT".into())))
        );
        assert_eq!(
            Format::from_name("ETHBTC-1m-2025-02-03.csv"),
            Some((Format::BinanceKlines, Some("ETHBTC".into())))
        );
        assert_eq!(
            Format::from_name("binance_incremental_book_L2_2024-01-01_BTCUSDT.csv.gz"),
            Some((Format::TardisIncrementalBookL2, None))
        );
        assert_eq!(
            Format::from_name("deribit_trades_2019-11-01_BTC-PERPETUAL.csv.gz"),
            Some((Format::TardisTrades, None))
        );
        assert_eq!(Format::from_name("ticks.jsonl"), None);
        assert_eq!(Format::from_name("BTCUSDT-bookTicker-2024-01-01.zip"), None);
    }

    #[test]
    fn columns() {
        assert_eq!(
            Format::from_first_line("1,0.1,2,0.2,1735689600010866,True,True"),
            Some(Format::BinanceTrades)
        );
        assert_eq!(
            Format::from_first_line("exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"),
            Some(Format::TardisQuotes)
        );
        assert_eq!(
            Format::from_first_line(
                "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
            ),
            Some(Format::TardisIncrementalBookL2)
        );
        assert!(!Format::BinanceKlines.fits_first_line("1,0.1,2,0.2,17356896,True,True"));
    }
}
