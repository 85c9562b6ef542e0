//! The SQLite backend: opening the database, migrations, and writing one batch.
//!
//! Decimals are bound as their exact `Display` string into TEXT columns (see
//! `migrations/sqlite/`). Each table's rows go in multi-row `INSERT`s built with
//! [`QueryBuilder::push_values`], chunked so one statement stays under SQLite's limit on
//! bind parameters; all statements of a batch run in one transaction.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};

use super::batch::Batch;
use super::error::{redact_url, SinkError};

/// The SQLite schema, embedded at compile time from `engine/migrations/sqlite/`.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// SQLite's default maximum number of bind parameters per statement (since 3.32).
const SQLITE_MAX_BINDS: usize = 32_766;

/// How long a write waits on a lock held by another connection before it fails (and the
/// sink's retry with backoff takes over, logging the reason).
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// An event sequence number as SQL `bigint`/`INTEGER` (they stay below 2^63: wall-clock ns
/// until the year 2262).
pub(crate) fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// The audit row of a batch: its id (`<first seq>-<last seq>`, the same when the batch is
/// replayed) and what it wrote.
pub(crate) fn audit_detail(batch: &Batch<'_>, written: &Written) -> (String, serde_json::Value) {
    (
        format!("{}-{}", batch.seq_range.0, batch.seq_range.1),
        serde_json::json!({
            "events": batch.events,
            "orders": written.orders,
            "order_events": written.order_events,
            "fills": written.fills,
            "positions": written.positions,
            "risk_events": written.risk_events,
            "signals": written.signals,
            "latency_stats": written.latency_stats,
            "equity_snapshots": written.equity_snapshots,
            "strategy_reloads": written.strategy_reloads,
            "held_orders": written.held_orders,
        }),
    )
}

/// Rows written per table by one batch, as reported by the database (an ignored duplicate
/// fill or risk event counts 0; an upserted order or position counts 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    /// Order rows inserted or updated.
    pub(crate) orders: u64,
    /// Order state changes inserted into the history.
    pub(crate) order_events: u64,
    /// Fill rows inserted.
    pub(crate) fills: u64,
    /// Position rows inserted or updated.
    pub(crate) positions: u64,
    /// Risk event rows inserted.
    pub(crate) risk_events: u64,
    /// Signal rows inserted.
    pub(crate) signals: u64,
    /// Latency window rows inserted.
    pub(crate) latency_stats: u64,
    /// Equity snapshot rows inserted.
    pub(crate) equity_snapshots: u64,
    /// Strategy reload outcomes inserted.
    pub(crate) strategy_reloads: u64,
    /// Held conditional orders inserted or updated.
    pub(crate) held_orders: u64,
}

/// Opens (creating the file and its parent directory if missing) the SQLite database at
/// `url` in WAL mode with `synchronous = FULL`, and applies the embedded migrations.
/// `max_connections` bounds the pool; the sink uses 1 (single writer).
pub(crate) async fn open(url: &str, max_connections: u32) -> Result<SqlitePool, SinkError> {
    let shown = redact_url(url);
    if !url.starts_with("sqlite:") {
        return Err(SinkError::Config {
            url: shown,
            reason: "only sqlite: and postgres: URLs are supported".into(),
        });
    }
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|source| SinkError::Open {
            url: shown.clone(),
            source,
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT);
    create_parent_dir(opts.get_filename(), &shown)?;
    // No idle timeout or max lifetime: the single connection stays open, which also keeps
    // a `sqlite::memory:` database alive for the pool's lifetime.
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(opts)
        .await
        .map_err(|source| SinkError::Open {
            url: shown.clone(),
            source,
        })?;
    if let Err(source) = MIGRATOR.run(&pool).await {
        pool.close().await;
        return Err(SinkError::Migrate { url: shown, source });
    }
    Ok(pool)
}

/// Creates the directory holding a database file, unless the database is in memory or the
/// file is in the current directory.
fn create_parent_dir(file: &Path, shown_url: &str) -> Result<(), SinkError> {
    let name = file.to_string_lossy();
    if name.starts_with("file:") || name == ":memory:" {
        return Ok(());
    }
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| SinkError::CreateDir {
                url: shown_url.to_string(),
                path: dir.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Rows per statement for a table of `columns` columns.
fn chunk_rows(columns: usize) -> usize {
    (SQLITE_MAX_BINDS / columns).max(1)
}

/// Writes one batch in one transaction: orders and positions upserted to their latest
/// state, fills and risk events inserted once. On error the transaction is rolled back and
/// nothing of the batch is written.
pub(crate) async fn write_batch(
    pool: &SqlitePool,
    account: &str,
    batch: &Batch<'_>,
) -> Result<Written, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut written = Written::default();

    for chunk in batch.orders.chunks(chunk_rows(15)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO orders (client_order_id, venue_order_id, strategy, venue, symbol, \
             side, order_type, price, qty, filled_qty, status, reject_reason, created_ns, \
             updated_ns, seq) ",
        );
        qb.push_values(chunk, |mut b, (seq, o)| {
            b.push_bind(o.client_order_id.as_str())
                .push_bind(o.venue_order_id)
                .push_bind(o.strategy.as_str())
                .push_bind(o.venue.as_str())
                .push_bind(o.symbol.as_str())
                .push_bind(o.side.as_str())
                .push_bind(o.order_type.as_str())
                .push_bind(o.price.map(|p| p.to_string()))
                .push_bind(o.qty.to_string())
                .push_bind(o.filled_qty.to_string())
                .push_bind(o.status.as_str())
                .push_bind(o.reject_reason.as_deref())
                .push_bind(o.created_ns)
                .push_bind(o.updated_ns)
                .push_bind(seq_i64(*seq));
        });
        // created_ns is kept from the first insert: creation time never changes. An older
        // event (lower seq, e.g. replayed from the spool) never overwrites a newer state.
        qb.push(
            " ON CONFLICT (client_order_id) DO UPDATE SET \
             venue_order_id = excluded.venue_order_id, strategy = excluded.strategy, \
             venue = excluded.venue, symbol = excluded.symbol, side = excluded.side, \
             order_type = excluded.order_type, price = excluded.price, qty = excluded.qty, \
             filled_qty = excluded.filled_qty, status = excluded.status, \
             reject_reason = excluded.reject_reason, updated_ns = excluded.updated_ns, \
             seq = excluded.seq WHERE excluded.seq > orders.seq",
        );
        written.orders += qb.build().execute(&mut *tx).await?.rows_affected();
    }

    // Every state change once, on (client order id, status, filled quantity).
    for chunk in batch.order_events.chunks(chunk_rows(7)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO order_events (client_order_id, seq, venue_order_id, status, \
             filled_qty, reject_reason, ts_ns) ",
        );
        qb.push_values(chunk, |mut b, (seq, o)| {
            b.push_bind(o.client_order_id.as_str())
                .push_bind(seq_i64(*seq))
                .push_bind(o.venue_order_id)
                .push_bind(o.status.as_str())
                .push_bind(o.filled_qty.to_string())
                .push_bind(o.reject_reason.as_deref())
                .push_bind(o.updated_ns);
        });
        qb.push(" ON CONFLICT (client_order_id, status, filled_qty) DO NOTHING");
        written.order_events += qb.build().execute(&mut *tx).await?.rows_affected();
    }

    for chunk in batch.fills.chunks(chunk_rows(13)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO fills (venue, symbol, trade_id, client_order_id, strategy, side, \
             price, qty, fee, fee_asset, is_maker, exch_ts_ns, seq) ",
        );
        qb.push_values(chunk, |mut b, (seq, f)| {
            b.push_bind(f.venue.as_str())
                .push_bind(f.symbol.as_str())
                .push_bind(f.trade_id)
                .push_bind(f.client_order_id.as_str())
                .push_bind(f.strategy.as_str())
                .push_bind(f.side.as_str())
                .push_bind(f.price.to_string())
                .push_bind(f.qty.to_string())
                .push_bind(f.fee.to_string())
                .push_bind(f.fee_asset.as_str())
                .push_bind(f.is_maker)
                .push_bind(f.exch_ts_ns)
                .push_bind(seq_i64(*seq));
        });
        qb.push(" ON CONFLICT (venue, symbol, trade_id, client_order_id) DO NOTHING");
        written.fills += qb.build().execute(&mut *tx).await?.rows_affected();
    }

    for chunk in batch.positions.chunks(chunk_rows(9)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO positions (strategy, venue, symbol, qty, avg_price, realized_pnl, \
             fees, updated_ns, seq) ",
        );
        qb.push_values(chunk, |mut b, (seq, p)| {
            b.push_bind(p.strategy.as_str())
                .push_bind(p.venue.as_str())
                .push_bind(p.symbol.as_str())
                .push_bind(p.qty.to_string())
                .push_bind(p.avg_price.to_string())
                .push_bind(p.realized_pnl.to_string())
                .push_bind(p.fees.to_string())
                .push_bind(p.updated_ns)
                .push_bind(seq_i64(*seq));
        });
        qb.push(
            " ON CONFLICT (strategy, venue, symbol) DO UPDATE SET qty = excluded.qty, \
             avg_price = excluded.avg_price, realized_pnl = excluded.realized_pnl, \
             fees = excluded.fees, updated_ns = excluded.updated_ns, seq = excluded.seq \
             WHERE excluded.seq > positions.seq",
        );
        written.positions += qb.build().execute(&mut *tx).await?.rows_affected();
    }

    for chunk in batch.risks.chunks(chunk_rows(6)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO risk_events (id, ts_ns, strategy, symbol, reason, message) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.id.as_str())
                .push_bind(r.ts_ns)
                .push_bind(r.strategy.as_deref())
                .push_bind(r.symbol.as_deref())
                .push_bind(r.reason.as_str())
                .push_bind(r.message.as_str());
        });
        qb.push(" ON CONFLICT (id) DO NOTHING");
        written.risk_events += qb.build().execute(&mut *tx).await?.rows_affected();
    }

    for chunk in batch.signals.chunks(chunk_rows(6)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO signals (id, ts_ns, strategy, symbol, name, value) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.id.as_str())
                .push_bind(r.ts_ns)
                .push_bind(r.strategy.as_str())
                .push_bind(r.symbol.as_deref())
                .push_bind(r.name.as_str())
                .push_bind(r.value);
        });
        qb.push(" ON CONFLICT (id) DO NOTHING");
        written.signals += qb.build().execute(&mut *tx).await?.rows_affected();
    }

    for chunk in batch.latency.chunks(chunk_rows(9)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO latency_stats (run_id, stage, window_start_ns, window_end_ns, count, \
             p50_ns, p99_ns, p999_ns, max_ns) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.run_id.as_str())
                .push_bind(r.stage.as_str())
                .push_bind(r.window_start_ns)
                .push_bind(r.window_end_ns)
                .push_bind(r.count)
                .push_bind(r.p50_ns)
                .push_bind(r.p99_ns)
                .push_bind(r.p999_ns)
                .push_bind(r.max_ns);
        });
        qb.push(" ON CONFLICT (run_id, stage, window_end_ns) DO NOTHING");
        written.latency_stats += qb.build().execute(&mut *tx).await?.rows_affected();
    }

    for chunk in batch.equity.chunks(chunk_rows(13)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO equity_snapshots (id, run_id, ts_ns, scope, strategy, venue, symbol, \
             qty, mark, realized_pnl, unrealized_pnl, fees, equity) ",
        );
        let text = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string());
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.id.as_str())
                .push_bind(r.run_id.as_str())
                .push_bind(r.ts_ns)
                .push_bind(r.scope.as_str())
                .push_bind(r.strategy.as_deref())
                .push_bind(r.venue.as_str())
                .push_bind(r.symbol.as_deref())
                .push_bind(text(r.qty))
                .push_bind(text(r.mark))
                .push_bind(r.realized_pnl.to_string())
                .push_bind(text(r.unrealized_pnl))
                .push_bind(r.fees.to_string())
                .push_bind(text(r.equity));
        });
        qb.push(" ON CONFLICT (id) DO NOTHING");
        written.equity_snapshots += qb.build().execute(&mut *tx).await?.rows_affected();
    }

    for chunk in batch.reloads.chunks(chunk_rows(9)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO strategy_reloads (id, run_id, ts_ns, strategy, origin, version, \
             source_hash, accepted, message) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.id.as_str())
                .push_bind(r.run_id.as_str())
                .push_bind(r.ts_ns)
                .push_bind(r.strategy.as_str())
                .push_bind(r.origin.as_str())
                .push_bind(r.version)
                .push_bind(r.source_hash.as_str())
                .push_bind(r.accepted)
                .push_bind(r.message.as_str());
        });
        qb.push(" ON CONFLICT (id) DO NOTHING");
        written.strategy_reloads += qb.build().execute(&mut *tx).await?.rows_affected();
    }

    written.held_orders = super::held_rows::write_sqlite(&mut tx, &batch.held).await?;

    // The trade-history checkpoint moves with the fills, in their transaction, never back.
    for c in &batch.checkpoints {
        sqlx::query(
            "INSERT INTO venue_checkpoints (venue, account, symbol, last_trade_id, \
             last_trade_ns, updated_ns) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (venue, account, symbol) DO UPDATE SET \
             last_trade_id = excluded.last_trade_id, last_trade_ns = excluded.last_trade_ns, \
             updated_ns = excluded.updated_ns \
             WHERE excluded.last_trade_id > venue_checkpoints.last_trade_id",
        )
        .bind(c.venue.as_str())
        .bind(account)
        .bind(c.symbol.as_str())
        .bind(c.last_trade_id)
        .bind(c.last_trade_ns)
        .bind(crate::clock::Clock::wall_ns())
        .execute(&mut *tx)
        .await?;
    }

    // Each run's latest state, never overwritten by an older event.
    for (seq, r) in &batch.runs {
        sqlx::query(
            "INSERT INTO runs (run_id, version, config_hash, started_ns, stopped_ns, status, \
             heartbeat_ns, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (run_id) DO UPDATE SET stopped_ns = excluded.stopped_ns, \
             status = excluded.status, heartbeat_ns = excluded.heartbeat_ns, \
             seq = excluded.seq WHERE excluded.seq > runs.seq",
        )
        .bind(r.run_id.as_str())
        .bind(r.version.as_str())
        .bind(r.config_hash.as_str())
        .bind(r.started_ns)
        .bind(r.stopped_ns)
        .bind(r.status.as_str())
        .bind(r.heartbeat_ns)
        .bind(seq_i64(*seq))
        .execute(&mut *tx)
        .await?;
    }

    let (entity_id, detail) = audit_detail(batch, &written);
    sqlx::query(
        "INSERT INTO audit_log (ts_ns, actor_kind, action, entity, entity_id, detail) \
         VALUES (?, 'engine', 'sink_batch', 'batch', ?, ?) \
         ON CONFLICT (action, entity_id) DO NOTHING",
    )
    .bind(crate::clock::Clock::wall_ns())
    .bind(entity_id)
    .bind(detail.to_string())
    .execute(&mut *tx)
    .await?;

    tx.commit().await?;
    Ok(written)
}
