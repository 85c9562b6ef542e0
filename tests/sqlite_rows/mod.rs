//! Reading the engine's SQLite rows in tests: money columns are exact decimal text.

use rust_decimal::Decimal;
use sqlx::Row;

/// The exact decimal in text column `col` (panics, naming it, if it is not one).
pub fn dec_col(row: &sqlx::sqlite::SqliteRow, col: &str) -> Decimal {
    let s: String = row.get(col);
    Decimal::from_str_exact(&s)
        .unwrap_or_else(|e| panic!("{col}={s:?} is not an exact decimal: {e}"))
}
