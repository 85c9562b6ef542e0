//! Where a backtest's event rows go: kept in memory (the library default: tests read them) or
//! written to the output directory's JSON-lines files as the core emits them, so a long run's
//! orders and fills do not pile up in memory (`peregrine backtest --out`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use peregrine_engine::events::{FillRow, OrderRow, RiskEventRow, SignalRow};
use serde::Serialize;

use super::BacktestError;

/// The row files, in the order [`Files`] holds them.
pub const ROW_FILES: [&str; 4] = [
    "orders.jsonl",
    "fills.jsonl",
    "risk_events.jsonl",
    "signals.jsonl",
];

struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Writer {
    fn create(path: PathBuf) -> Result<Self, BacktestError> {
        let file = File::create(&path).map_err(|source| BacktestError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(Self {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
        })
    }

    fn line<T: Serialize>(&mut self, row: &T) -> Result<(), BacktestError> {
        serde_json::to_writer(&mut self.out, row)?;
        self.out
            .write_all(b"\n")
            .map_err(|source| BacktestError::Write {
                path: self.path.clone(),
                source,
            })
    }

    fn flush(&mut self) -> Result<(), BacktestError> {
        self.out.flush().map_err(|source| BacktestError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// Streaming writers of the four row files.
struct Files {
    orders: Writer,
    fills: Writer,
    risk_events: Writer,
    signals: Writer,
}

/// Writes `row` to its file when streaming, else keeps it.
fn keep<T: Serialize>(
    file: Option<&mut Writer>,
    rows: &mut Vec<T>,
    row: T,
) -> Result<(), BacktestError> {
    match file {
        Some(w) => w.line(&row),
        None => {
            rows.push(row);
            Ok(())
        }
    }
}

/// The rows of a run: in memory, or streamed to files.
#[derive(Default)]
pub struct Rows {
    files: Option<Files>,
    /// Order state changes (empty when streamed).
    pub orders: Vec<OrderRow>,
    /// Fills (empty when streamed).
    pub fills: Vec<FillRow>,
    /// Risk events (empty when streamed).
    pub risk_events: Vec<RiskEventRow>,
    /// `signal()` calls (empty when streamed).
    pub signals: Vec<SignalRow>,
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("streamed", &self.files.is_some())
            .field("orders", &self.orders.len())
            .field("fills", &self.fills.len())
            .finish()
    }
}

impl Rows {
    /// Rows written to `dir`'s `orders.jsonl`, `fills.jsonl`, `risk_events.jsonl` and
    /// `signals.jsonl` as they come (the directory is created if missing).
    pub fn streamed_to(dir: &Path) -> Result<Self, BacktestError> {
        std::fs::create_dir_all(dir).map_err(|source| BacktestError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let [o, f, r, s] = ROW_FILES.map(|name| dir.join(name));
        Ok(Self {
            files: Some(Files {
                orders: Writer::create(o)?,
                fills: Writer::create(f)?,
                risk_events: Writer::create(r)?,
                signals: Writer::create(s)?,
            }),
            ..Self::default()
        })
    }

    /// Whether rows go to files instead of memory.
    pub fn is_streamed(&self) -> bool {
        self.files.is_some()
    }

    /// An order state change.
    pub fn order(&mut self, row: OrderRow) -> Result<(), BacktestError> {
        keep(
            self.files.as_mut().map(|f| &mut f.orders),
            &mut self.orders,
            row,
        )
    }

    /// A fill.
    pub fn fill(&mut self, row: FillRow) -> Result<(), BacktestError> {
        keep(
            self.files.as_mut().map(|f| &mut f.fills),
            &mut self.fills,
            row,
        )
    }

    /// A risk event.
    pub fn risk_event(&mut self, row: RiskEventRow) -> Result<(), BacktestError> {
        let file = self.files.as_mut().map(|f| &mut f.risk_events);
        keep(file, &mut self.risk_events, row)
    }

    /// A signal.
    pub fn signal(&mut self, row: SignalRow) -> Result<(), BacktestError> {
        keep(
            self.files.as_mut().map(|f| &mut f.signals),
            &mut self.signals,
            row,
        )
    }

    /// Flushes the files (nothing to do in memory).
    pub fn flush(&mut self) -> Result<(), BacktestError> {
        if let Some(f) = &mut self.files {
            f.orders.flush()?;
            f.fills.flush()?;
            f.risk_events.flush()?;
            f.signals.flush()?;
        }
        Ok(())
    }
}
