//! Where Binance public data keeps a symbol's spot files (`binance/binance-public-data`,
//! sources in `exchanges/tests/SOURCES.md`):
//!
//! ```text
//! data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2025-01-01.zip
//! data/spot/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01.zip
//! data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-01.zip
//! ```
//!
//! each with `<file>.CHECKSUM` (SHA-256, `sha256sum` output) beside it.

use std::fmt;
use std::str::FromStr;

use peregrine_exchanges::md::time::{civil_from_days, days_from_civil};

/// Which data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Every trade.
    Trades,
    /// Aggregate trades.
    #[value(name = "aggTrades")]
    AggTrades,
    /// Klines of `--interval`.
    Klines,
}

/// Daily or monthly files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Period {
    /// One file per UTC day.
    Daily,
    /// One file per calendar month.
    Monthly,
}

/// A calendar date (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Days since 1970-01-01.
    days: i64,
}

/// A date that is not `YYYY-MM-DD`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0:?} is not a date YYYY-MM-DD")]
pub struct BadDate(String);

impl FromStr for Date {
    type Err = BadDate;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadDate(s.to_string());
        let mut it = s.split('-');
        let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let (y, m, d): (i64, i64, i64) = (
            y.parse().map_err(|_| bad())?,
            m.parse().map_err(|_| bad())?,
            d.parse().map_err(|_| bad())?,
        );
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(bad());
        }
        let days = days_from_civil(y, m, d);
        // 2025-02-30 would silently become March: refuse dates that do not round-trip.
        if civil_from_days(days) != (y, m, d) {
            return Err(bad());
        }
        Ok(Date { days })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.days);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Date {
    fn next_day(self) -> Date {
        Date {
            days: self.days + 1,
        }
    }

    fn month(self) -> (i64, i64) {
        let (y, m, _) = civil_from_days(self.days);
        (y, m)
    }
}

/// One file to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// Path below the base URL (`data/spot/...zip`).
    pub path: String,
    /// File name (the last path segment).
    pub name: String,
}

/// The files covering `from..=to` for a venue symbol (`BTCUSDT`).
pub fn files(
    symbol: &str,
    kind: Kind,
    interval: &str,
    period: Period,
    from: Date,
    to: Date,
) -> Vec<RemoteFile> {
    let (dir, label) = match kind {
        Kind::Trades => (format!("trades/{symbol}"), "trades".to_string()),
        Kind::AggTrades => (format!("aggTrades/{symbol}"), "aggTrades".to_string()),
        Kind::Klines => (format!("klines/{symbol}/{interval}"), interval.to_string()),
    };
    let period_dir = match period {
        Period::Daily => "daily",
        Period::Monthly => "monthly",
    };
    let mut stamps: Vec<String> = Vec::new();
    let mut d = from;
    while d <= to {
        let stamp = match period {
            Period::Daily => d.to_string(),
            Period::Monthly => {
                let (y, m) = d.month();
                format!("{y:04}-{m:02}")
            }
        };
        if stamps.last() != Some(&stamp) {
            stamps.push(stamp);
        }
        d = d.next_day();
    }
    stamps
        .into_iter()
        .map(|stamp| {
            let name = format!("{symbol}-{label}-{stamp}.zip");
            RemoteFile {
                path: format!("data/spot/{period_dir}/{dir}/{name}"),
                name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn daily_monthly_and_klines_paths() {
        let f = files(
            "BTCUSDT",
            Kind::Trades,
            "1m",
            Period::Daily,
            date("2024-12-31"),
            date("2025-01-01"),
        );
        assert_eq!(
            f.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            [
                "data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-12-31.zip",
                "data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2025-01-01.zip"
            ]
        );
        let f = files(
            "BTCUSDT",
            Kind::Klines,
            "1h",
            Period::Monthly,
            date("2024-01-15"),
            date("2024-03-01"),
        );
        assert_eq!(f.len(), 3);
        assert_eq!(
            f[0].path,
            "data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip"
        );
        assert_eq!(f[2].name, "BTCUSDT-1h-2024-03.zip");
        assert!(files(
            "X",
            Kind::AggTrades,
            "",
            Period::Daily,
            date("2024-02-02"),
            date("2024-02-01")
        )
        .is_empty());
    }

    #[test]
    fn dates() {
        assert_eq!(date("2024-02-29").to_string(), "2024-02-29");
        assert!("2025-02-29".parse::<Date>().is_err());
        assert!("2025-1-01".parse::<Date>().is_err());
        assert!("yesterday".parse::<Date>().is_err());
    }
}
