//! `peregrine import FILE... --out OUT.jsonl`: historical files (Binance public data, Tardis
//! CSV) into the tick interchange format ([`EventLine`]), decimal text kept exactly.
//!
//! Each file's layout is detected from its name and first line ([`format`]); `--format`
//! overrides the name. A file with a `.CHECKSUM` beside it must match it
//! ([`checksum`]). Several files are merged by exchange time (ties in command-line order), so
//! a day of trades and quotes, or several days, make one time-ordered file. The output is
//! written to `OUT.jsonl.part` and renamed when complete.

pub mod binance;
pub mod checksum;
pub mod format;
pub mod source;
pub mod tardis;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use peregrine_engine::interchange::{EventKind, EventLine};
use peregrine_exchanges::md::canonical_symbol;
use peregrine_exchanges::venue::Venue;
use rust_decimal::Decimal;

use self::binance::BinanceRows;
use self::checksum::ChecksumError;
use self::format::Format;
use self::tardis::TardisRows;

/// Why one row could not be converted (the importer adds file and line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError(pub String);

/// Turns the CSV rows of one layout into interchange lines.
pub trait RowConverter {
    /// Converts one row (its comma-separated fields) into zero or more lines.
    fn row(&mut self, fields: &[&str], out: &mut VecDeque<EventLine>) -> Result<(), RowError>;
    /// End of the file: emits whatever is still gathered.
    fn finish(&mut self, out: &mut VecDeque<EventLine>);
}

/// An exact decimal from its text (the shared `md` number reader).
pub(crate) fn decimal(field: &'static str, s: &str) -> Result<Decimal, RowError> {
    peregrine_exchanges::md::decimal(field, s).map_err(|e| RowError(e.to_string()))
}

/// An exact decimal that must be above zero (prices, quantities).
pub(crate) fn positive(field: &'static str, s: &str) -> Result<Decimal, RowError> {
    let d = decimal(field, s)?;
    if d <= Decimal::ZERO {
        return Err(RowError(format!("{field} {s} is not positive")));
    }
    Ok(d)
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A checksum did not verify.
    #[error(transparent)]
    Checksum(#[from] ChecksumError),
    /// The layout of a file could not be told, or is not what `--format` or its name says.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A row could not be converted.
    #[error("{path}:{line}: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Writing the output failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// What to import.
#[derive(Clone, Debug)]
pub struct ImportConfig {
    /// Input files, merged by time.
    pub files: Vec<PathBuf>,
    /// Output interchange file.
    pub out: PathBuf,
    /// Canonical symbol written on every line (default: from the file name for Binance files,
    /// from the rows for Tardis files).
    pub symbol: Option<String>,
    /// Layout of every file (default: detected per file).
    pub format: Option<Format>,
}

/// What one input gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSummary {
    /// The file.
    pub path: PathBuf,
    /// Its layout.
    pub format: Format,
    /// Whether a `.CHECKSUM` beside it verified it (false: there was none).
    pub checksum_verified: bool,
    /// Data rows read.
    pub rows: u64,
    /// Interchange lines made from them.
    pub events: u64,
    /// Rows skipped (Tardis: book updates before the first snapshot, one-sided quotes).
    pub skipped: u64,
}

/// What an import wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Per input, in command-line order.
    pub files: Vec<FileSummary>,
    /// Lines written.
    pub events: u64,
    /// Lines per kind: trades, quotes, book snapshots, book deltas.
    pub trades: u64,
    /// Quote lines.
    pub quotes: u64,
    /// Book snapshot lines.
    pub snapshots: u64,
    /// Book delta lines.
    pub deltas: u64,
    /// Exchange time of the first and last line written, ns.
    pub first_ts_ns: Option<i64>,
    /// Exchange time of the last line written, ns.
    pub last_ts_ns: Option<i64>,
}

/// One input being read.
struct Input {
    path: PathBuf,
    reader: Box<dyn BufRead>,
    converter: Converter,
    queue: VecDeque<EventLine>,
    line: usize,
    buf: String,
    done: bool,
    summary: FileSummary,
}

enum Converter {
    Binance(BinanceRows),
    Tardis(Box<TardisRows>),
}

impl Converter {
    fn as_dyn(&mut self) -> &mut dyn RowConverter {
        match self {
            Converter::Binance(c) => c,
            Converter::Tardis(c) => c.as_mut(),
        }
    }

    fn skipped(&self) -> u64 {
        match self {
            Converter::Binance(_) => 0,
            Converter::Tardis(c) => c.skipped,
        }
    }
}

impl Input {
    fn open(
        path: &Path,
        format: Option<Format>,
        symbol: Option<&str>,
    ) -> Result<Self, ImportError> {
        let checksum_verified = checksum::verify_beside(path)?;
        let io_err = |source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        };
        let fmt_err = |message: String| ImportError::Format {
            path: path.to_path_buf(),
            message,
        };
        let mut reader = source::open(path).map_err(io_err)?;
        let mut first = String::new();
        reader.read_line(&mut first).map_err(io_err)?;
        let first_line = first.trim_end_matches(['\n', '\r']).to_string();
        if first_line.is_empty() {
            return Err(fmt_err("the file is empty".into()));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let by_name = Format::from_name(&name);
        let by_columns = Format::from_first_line(&first_line);
        let format = match (format, &by_name) {
            (Some(f), _) => f,
            (None, Some((f, _))) => *f,
            (None, None) => by_columns.ok_or_else(|| {
                fmt_err("neither its name nor its columns show its layout: pass --format".into())
            })?,
        };
        if !format.fits_first_line(&first_line) {
            return Err(fmt_err(format!(
                "its first line does not fit {format} (columns: {})",
                first_line.chars().take(120).collect::<String>()
            )));
        }
        let mut input = Input {
            path: path.to_path_buf(),
            reader,
            converter: Converter::Binance(BinanceRows::new(format, String::new())),
            queue: VecDeque::new(),
            line: 1,
            buf: String::new(),
            done: false,
            summary: FileSummary {
                path: path.to_path_buf(),
                format,
                checksum_verified,
                rows: 0,
                events: 0,
                skipped: 0,
            },
        };
        if format.is_tardis() {
            let header: Vec<&str> = first_line.split(',').collect();
            let conv = TardisRows::new(format, &header, symbol.map(str::to_string))
                .map_err(|e| fmt_err(e.0))?;
            input.converter = Converter::Tardis(Box::new(conv));
        } else {
            let venue_symbol = by_name.and_then(|(_, s)| s);
            let symbol =
                match (symbol, venue_symbol) {
                    (Some(s), _) => s.to_string(),
                    (None, Some(v)) => canonical_symbol(Venue::Binance, &v),
                    (None, None) => return Err(fmt_err(
                        "the file name does not name the symbol (SYMBOL-kind-DATE): pass --symbol"
                            .into(),
                    )),
                };
            input.converter = Converter::Binance(BinanceRows::new(format, symbol));
            if !binance::is_header(&first_line) {
                input.convert(&first_line)?;
            }
        }
        Ok(input)
    }

    fn convert(&mut self, text: &str) -> Result<(), ImportError> {
        let fields: Vec<&str> = text.split(',').collect();
        self.summary.rows += 1;
        let before = self.queue.len();
        self.converter
            .as_dyn()
            .row(&fields, &mut self.queue)
            .map_err(|e| ImportError::Row {
                path: self.path.clone(),
                line: self.line,
                message: e.0,
            })?;
        self.summary.events += (self.queue.len() - before) as u64;
        Ok(())
    }

    /// The next line of this input, `None` at its end.
    fn next(&mut self) -> Result<Option<EventLine>, ImportError> {
        while self.queue.is_empty() && !self.done {
            self.buf.clear();
            let n = self
                .reader
                .read_line(&mut self.buf)
                .map_err(|source| ImportError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            self.line += 1;
            if n == 0 {
                self.done = true;
                let before = self.queue.len();
                self.converter.as_dyn().finish(&mut self.queue);
                self.summary.events += (self.queue.len() - before) as u64;
                self.summary.skipped = self.converter.skipped();
                break;
            }
            let text = std::mem::take(&mut self.buf);
            let trimmed = text.trim_end_matches(['\n', '\r']);
            if !trimmed.is_empty() {
                self.convert(trimmed)?;
            }
            self.buf = text;
        }
        Ok(self.queue.pop_front())
    }
}

/// The time an event is merged by.
fn merge_key(ev: &EventLine) -> i64 {
    ev.exch_ts_ns
        .or(ev.ts_ns.and_then(|t| i64::try_from(t).ok()))
        .unwrap_or(0)
}

/// Imports `cfg.files` into `cfg.out`.
pub fn run(cfg: &ImportConfig) -> Result<ImportSummary, ImportError> {
    let mut inputs = cfg
        .files
        .iter()
        .map(|p| Input::open(p, cfg.format, cfg.symbol.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let part = {
        let mut s = cfg.out.as_os_str().to_owned();
        s.push(".part");
        PathBuf::from(s)
    };
    let write_err = |source| ImportError::Write {
        path: cfg.out.clone(),
        source,
    };
    let file = File::create(&part).map_err(write_err)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let mut summary = ImportSummary::default();
    let result = merge(&mut inputs, &mut out, &cfg.out, &mut summary)
        .and_then(|()| out.flush().map_err(write_err));
    if let Err(e) = result {
        drop(out);
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    drop(out);
    std::fs::rename(&part, &cfg.out).map_err(write_err)?;
    summary.files = inputs.into_iter().map(|i| i.summary).collect();
    Ok(summary)
}

fn merge<W: Write>(
    inputs: &mut [Input],
    out: &mut W,
    out_path: &Path,
    summary: &mut ImportSummary,
) -> Result<(), ImportError> {
    let mut heads: Vec<Option<EventLine>> = Vec::with_capacity(inputs.len());
    let mut heap = BinaryHeap::new();
    for (i, input) in inputs.iter_mut().enumerate() {
        let head = input.next()?;
        if let Some(ev) = &head {
            heap.push(Reverse((merge_key(ev), i)));
        }
        heads.push(head);
    }
    let io_err = |source| ImportError::Write {
        path: out_path.to_path_buf(),
        source,
    };
    while let Some(Reverse((_, i))) = heap.pop() {
        let Some(ev) = heads[i].take() else { continue };
        ev.write_line(out).map_err(io_err)?;
        summary.events += 1;
        match ev.kind {
            Some(EventKind::Trade) => summary.trades += 1,
            Some(EventKind::Quote) => summary.quotes += 1,
            Some(EventKind::BookSnapshot) => summary.snapshots += 1,
            Some(EventKind::BookDelta) => summary.deltas += 1,
            _ => {}
        }
        let ts = merge_key(&ev);
        summary.first_ts_ns.get_or_insert(ts);
        summary.last_ts_ns = Some(ts);
        let next = inputs[i].next()?;
        if let Some(n) = &next {
            heap.push(Reverse((merge_key(n), i)));
        }
        heads[i] = next;
    }
    Ok(())
}

impl ImportSummary {
    /// The report `peregrine import` prints.
    pub fn render(&self, out: &Path) -> String {
        let mut s = String::new();
        for f in &self.files {
            s.push_str(&format!(
                "{}: {} ({}), {} rows -> {} events{}\n",
                f.path.display(),
                f.format,
                if f.checksum_verified {
                    "checksum verified"
                } else {
                    "no .CHECKSUM beside it"
                },
                f.rows,
                f.events,
                if f.skipped > 0 {
                    format!(", {} rows skipped", f.skipped)
                } else {
                    String::new()
                }
            ));
        }
        s.push_str(&format!(
            "{}: {} events ({} trades, {} quotes, {} book snapshots, {} book deltas)",
            out.display(),
            self.events,
            self.trades,
            self.quotes,
            self.snapshots,
            self.deltas
        ));
        if let (Some(a), Some(b)) = (self.first_ts_ns, self.last_ts_ns) {
            s.push_str(&format!(", {:.3} s of exchange time", (b - a) as f64 / 1e9));
        }
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzipped_tardis_files_merge_by_time_and_partial_output_is_not_left() {
        let dir = tempfile::tempdir().unwrap();
        let gz = |name: &str, text: &str| {
            let path = dir.path().join(name);
            let mut enc = flate2::write::GzEncoder::new(
                File::create(&path).unwrap(),
                flate2::Compression::fast(),
            );
            enc.write_all(text.as_bytes()).unwrap();
            enc.finish().unwrap();
            path
        };
        let trades = gz(
            "binance_trades_2024-01-01_BTCUSDT.csv.gz",
            "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
             binance,BTCUSDT,1000,1100,1,buy,42000.10,0.5\n\
             binance,BTCUSDT,3000,3100,2,sell,42000.00,0.25\n",
        );
        let quotes = gz(
            "binance_quotes_2024-01-01_BTCUSDT.csv.gz",
            "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n\
             binance,BTCUSDT,2000,2100,1.0,42000.20,42000.00,2.0\n",
        );
        let out = dir.path().join("out.jsonl");
        let cfg = ImportConfig {
            files: vec![trades.clone(), quotes],
            out: out.clone(),
            symbol: None,
            format: None,
        };
        let s = run(&cfg).unwrap();
        assert_eq!((s.trades, s.quotes), (2, 1));
        assert_eq!(s.files[0].format, Format::TardisTrades);
        assert!(!s.files[0].checksum_verified);
        let text = std::fs::read_to_string(&out).unwrap();
        let kinds: Vec<&str> = text
            .lines()
            .map(|l| if l.contains("\"quote\"") { "q" } else { "t" })
            .collect();
        assert_eq!(kinds, ["t", "q", "t"], "{text}");
        assert!(text.contains(r#""price":"42000.10""#), "{text}");

        // A bad row fails the import and leaves neither the output nor its .part.
        let bad = gz(
            "binance_trades_2024-01-02_BTCUSDT.csv.gz",
            "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
             binance,BTCUSDT,1000,1100,1,sideways,1,1\n",
        );
        let out2 = dir.path().join("out2.jsonl");
        let e = run(&ImportConfig {
            files: vec![bad],
            out: out2.clone(),
            symbol: None,
            format: None,
        })
        .unwrap_err();
        assert!(e.to_string().contains(":2: side \"sideways\""), "{e}");
        assert!(!out2.exists());
        assert!(!dir.path().join("out2.jsonl.part").exists());
    }
}
