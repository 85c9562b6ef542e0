//! The PostgreSQL (Supabase) backend: connection options and writing one batch (migrations:
//! [`super::pg_migrate`]).
//!
//! One transaction per batch. Each table's rows go in one `INSERT … SELECT … FROM
//! UNNEST($1::t[], …)` with one bound array per column: the statement text is the same for
//! every batch size (prepared once per connection) and the 65,535-bind limit never applies.
//! Fills, order state changes, risk events, signals and latency windows are inserted once on
//! their natural keys (`ON CONFLICT DO NOTHING`); orders and positions are upserted only when the incoming
//! event sequence is newer (`WHERE excluded.seq > t.seq`). An audit row for the batch goes
//! in the same transaction. `Decimal`s bind as `numeric[]`: exact.
//!
//! The multi-row `VALUES` and `COPY` variants of the fill insert exist for the sink bench
//! (`benches/sink.rs`), which measures all three in the same run.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{Postgres, QueryBuilder};

use super::batch::Batch;
use super::error::{redact_url, SinkError};
use super::sqlite::{audit_detail, seq_i64, Written};
use crate::events::FillRow;

/// `peregrine migrate` (see [`super::pg_migrate`]).
pub use super::pg_migrate::migrate;

/// True for `postgres://` and `postgresql://` URLs.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Connection options for `url`, with TLS verified by default: unless the URL sets
/// `sslmode` itself, every host but a loopback address or a Unix socket gets
/// `sslmode=verify-full` (sqlx's own default, `prefer`, silently falls back to plaintext).
/// Supabase hosts (`*.supabase.co`, `*.supabase.com`) with a weaker explicit mode get a
/// warning. The application name is `peregrine`.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, SinkError> {
    let shown = redact_url(url);
    let mut opts = PgConnectOptions::from_str(url).map_err(|source| SinkError::Open {
        url: shown.clone(),
        source,
    })?;
    let explicit = url
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv.starts_with("sslmode=")));
    let host = opts.get_host().to_string();
    let local = host == "localhost"
        || host.starts_with('/')
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !explicit && !local {
        opts = opts.ssl_mode(PgSslMode::VerifyFull);
    }
    let supabase = host.ends_with(".supabase.co") || host.ends_with(".supabase.com");
    if supabase && explicit && !matches!(opts.get_ssl_mode(), PgSslMode::VerifyFull) {
        tracing::warn!(url = %shown, "Supabase host without sslmode=verify-full: the server certificate is not fully verified");
    }
    Ok(opts.application_name("peregrine"))
}

/// A small pool for the sink (connections are made lazily, so an unreachable database at
/// start does not stop the engine: the spool takes the events).
pub(crate) fn lazy_pool(opts: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(opts)
}

/// How the fill rows of a batch are sent (the bench compares them; the sink uses
/// [`FillInsert::Unnest`]). All three are idempotent on the fills' natural key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillInsert {
    /// `INSERT … SELECT … FROM UNNEST(arrays) ON CONFLICT DO NOTHING`.
    Unnest,
    /// Multi-row `INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING`, chunked under the bind
    /// limit.
    Values,
    /// `COPY` (text format) into a temporary staging table, then `INSERT … SELECT … ON
    /// CONFLICT DO NOTHING`.
    Copy,
}

/// Inserts `fills` (with their event sequence) for `user_id` on `conn` using `method`,
/// returning the rows inserted (duplicates count 0). Runs in the caller's transaction, if
/// any. Public for the sink bench.
pub async fn insert_fills(
    conn: &mut PgConnection,
    user_id: &str,
    fills: &[(u64, &FillRow)],
    method: FillInsert,
) -> Result<u64, sqlx::Error> {
    if fills.is_empty() {
        return Ok(0);
    }
    match method {
        FillInsert::Unnest => fills_unnest(conn, user_id, fills).await,
        FillInsert::Values => fills_values(conn, user_id, fills).await,
        FillInsert::Copy => fills_copy(conn, user_id, fills).await,
    }
}

const FILL_COLUMNS: &str = "user_id, venue, symbol, trade_id, client_order_id, strategy, side, \
                            price, qty, fee, fee_asset, is_maker, exch_ts_ns, seq";

async fn fills_unnest(
    conn: &mut PgConnection,
    user_id: &str,
    fills: &[(u64, &FillRow)],
) -> Result<u64, sqlx::Error> {
    let col = |f: fn(&FillRow) -> &str| -> Vec<&str> { fills.iter().map(|(_, r)| f(r)).collect() };
    let dec =
        |f: fn(&FillRow) -> Decimal| -> Vec<Decimal> { fills.iter().map(|(_, r)| f(r)).collect() };
    let sql = format!(
        "INSERT INTO public.fills ({FILL_COLUMNS}) \
         SELECT $1::uuid, * FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[], \
         $6::text[], $7::text[]::public.order_side[], $8::numeric[], $9::numeric[], \
         $10::numeric[], $11::text[], $12::bool[], $13::int8[], $14::int8[]) \
         ON CONFLICT ON CONSTRAINT fills_natural_key DO NOTHING"
    );
    let r = sqlx::query(&sql)
        .bind(user_id)
        .bind(col(|r| &r.venue))
        .bind(col(|r| &r.symbol))
        .bind(fills.iter().map(|(_, r)| r.trade_id).collect::<Vec<i64>>())
        .bind(col(|r| &r.client_order_id))
        .bind(col(|r| &r.strategy))
        .bind(col(|r| r.side.as_str()))
        .bind(dec(|r| r.price))
        .bind(dec(|r| r.qty))
        .bind(dec(|r| r.fee))
        .bind(col(|r| &r.fee_asset))
        .bind(fills.iter().map(|(_, r)| r.is_maker).collect::<Vec<bool>>())
        .bind(
            fills
                .iter()
                .map(|(_, r)| r.exch_ts_ns)
                .collect::<Vec<i64>>(),
        )
        .bind(fills.iter().map(|(s, _)| seq_i64(*s)).collect::<Vec<i64>>())
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}

async fn fills_values(
    conn: &mut PgConnection,
    user_id: &str,
    fills: &[(u64, &FillRow)],
) -> Result<u64, sqlx::Error> {
    let mut n = 0;
    for chunk in fills.chunks(65_535 / 14) {
        let mut qb =
            QueryBuilder::<Postgres>::new(format!("INSERT INTO public.fills ({FILL_COLUMNS}) "));
        qb.push_values(chunk, |mut b, (seq, f)| {
            b.push_bind(user_id)
                .push_unseparated("::uuid")
                .push_bind(f.venue.as_str())
                .push_bind(f.symbol.as_str())
                .push_bind(f.trade_id)
                .push_bind(f.client_order_id.as_str())
                .push_bind(f.strategy.as_str())
                .push_bind(f.side.as_str())
                .push_unseparated("::text::public.order_side")
                .push_bind(f.price)
                .push_bind(f.qty)
                .push_bind(f.fee)
                .push_bind(f.fee_asset.as_str())
                .push_bind(f.is_maker)
                .push_bind(f.exch_ts_ns)
                .push_bind(seq_i64(*seq));
        });
        qb.push(" ON CONFLICT ON CONSTRAINT fills_natural_key DO NOTHING");
        n += qb.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(n)
}

/// Escapes a value for PostgreSQL's COPY text format.
fn copy_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

async fn fills_copy(
    conn: &mut PgConnection,
    user_id: &str,
    fills: &[(u64, &FillRow)],
) -> Result<u64, sqlx::Error> {
    use std::fmt::Write as _;
    sqlx::raw_sql(
        "CREATE TEMP TABLE IF NOT EXISTS peregrine_fills_stage (\
         user_id uuid, venue text, symbol text, trade_id bigint, client_order_id text, \
         strategy text, side public.order_side, price numeric, qty numeric, fee numeric, fee_asset text, \
         is_maker boolean, exch_ts_ns bigint, seq bigint); \
         TRUNCATE peregrine_fills_stage",
    )
    .execute(&mut *conn)
    .await?;
    let mut buf = String::with_capacity(fills.len() * 128);
    for (seq, f) in fills {
        buf.push_str(user_id);
        buf.push('\t');
        copy_text(&mut buf, &f.venue);
        buf.push('\t');
        copy_text(&mut buf, &f.symbol);
        let _ = write!(buf, "\t{}\t", f.trade_id);
        copy_text(&mut buf, &f.client_order_id);
        buf.push('\t');
        copy_text(&mut buf, &f.strategy);
        let _ = write!(
            buf,
            "\t{}\t{}\t{}\t{}\t",
            f.side.as_str(),
            f.price,
            f.qty,
            f.fee
        );
        copy_text(&mut buf, &f.fee_asset);
        let _ = writeln!(
            buf,
            "\t{}\t{}\t{}",
            if f.is_maker { 't' } else { 'f' },
            f.exch_ts_ns,
            seq_i64(*seq)
        );
    }
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY peregrine_fills_stage ({FILL_COLUMNS}) FROM STDIN (FORMAT text)"
        ))
        .await?;
    if let Err(e) = copy.send(buf.as_bytes()).await {
        let _ = copy.abort("send failed").await;
        return Err(e);
    }
    copy.finish().await?;
    let r = sqlx::query(&format!(
        "INSERT INTO public.fills ({FILL_COLUMNS}) SELECT {FILL_COLUMNS} \
         FROM peregrine_fills_stage ON CONFLICT ON CONSTRAINT fills_natural_key DO NOTHING"
    ))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Writes one batch for `user_id` in one transaction (see the module docs). On error the
/// transaction is rolled back and nothing of the batch is written.
pub(crate) async fn write_batch(
    pool: &PgPool,
    user_id: &str,
    account: &str,
    batch: &Batch<'_>,
) -> Result<Written, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut written = Written::default();

    if !batch.orders.is_empty() {
        let o = &batch.orders;
        let s = |f: fn(&crate::events::OrderRow) -> &str| -> Vec<&str> {
            o.iter().map(|(_, r)| f(r)).collect()
        };
        written.orders = sqlx::query(
            "INSERT INTO public.orders (user_id, venue, client_order_id, venue_order_id, \
             strategy, symbol, side, order_type, price, qty, filled_qty, status, \
             reject_reason, created_ns, updated_ns, seq) \
             SELECT $1::uuid, * FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[], \
             $6::text[], $7::text[]::public.order_side[], $8::text[]::public.order_type[], \
             $9::numeric[], $10::numeric[], $11::numeric[], \
             $12::text[]::public.order_status[], $13::text[], $14::int8[], $15::int8[], \
             $16::int8[]) \
             ON CONFLICT (user_id, venue, client_order_id) DO UPDATE SET \
             venue_order_id = excluded.venue_order_id, strategy = excluded.strategy, \
             symbol = excluded.symbol, side = excluded.side, \
             order_type = excluded.order_type, price = excluded.price, qty = excluded.qty, \
             filled_qty = excluded.filled_qty, status = excluded.status, \
             reject_reason = excluded.reject_reason, updated_ns = excluded.updated_ns, \
             seq = excluded.seq WHERE excluded.seq > orders.seq",
        )
        .bind(user_id)
        .bind(s(|r| &r.venue))
        .bind(s(|r| &r.client_order_id))
        .bind(o.iter().map(|(_, r)| r.venue_order_id).collect::<Vec<_>>())
        .bind(s(|r| &r.strategy))
        .bind(s(|r| &r.symbol))
        .bind(s(|r| r.side.as_str()))
        .bind(s(|r| &r.order_type))
        .bind(o.iter().map(|(_, r)| r.price).collect::<Vec<_>>())
        .bind(o.iter().map(|(_, r)| r.qty).collect::<Vec<_>>())
        .bind(o.iter().map(|(_, r)| r.filled_qty).collect::<Vec<_>>())
        .bind(s(|r| r.status.as_str()))
        .bind(
            o.iter()
                .map(|(_, r)| r.reject_reason.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(o.iter().map(|(_, r)| r.created_ns).collect::<Vec<_>>())
        .bind(o.iter().map(|(_, r)| r.updated_ns).collect::<Vec<_>>())
        .bind(o.iter().map(|(s, _)| seq_i64(*s)).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    if !batch.order_events.is_empty() {
        let o = &batch.order_events;
        written.order_events = sqlx::query(
            "INSERT INTO public.order_events (user_id, venue, client_order_id, seq, \
             venue_order_id, status, filled_qty, reject_reason, ts_ns) \
             SELECT $1::uuid, * FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[], \
             $6::text[]::public.order_status[], $7::numeric[], $8::text[], $9::int8[]) \
             ON CONFLICT (user_id, venue, client_order_id, status, filled_qty) DO NOTHING",
        )
        .bind(user_id)
        .bind(o.iter().map(|(_, r)| r.venue.as_str()).collect::<Vec<_>>())
        .bind(
            o.iter()
                .map(|(_, r)| r.client_order_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(o.iter().map(|(s, _)| seq_i64(*s)).collect::<Vec<_>>())
        .bind(o.iter().map(|(_, r)| r.venue_order_id).collect::<Vec<_>>())
        .bind(o.iter().map(|(_, r)| r.status.as_str()).collect::<Vec<_>>())
        .bind(o.iter().map(|(_, r)| r.filled_qty).collect::<Vec<_>>())
        .bind(
            o.iter()
                .map(|(_, r)| r.reject_reason.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(o.iter().map(|(_, r)| r.updated_ns).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    written.fills = insert_fills(&mut tx, user_id, &batch.fills, FillInsert::Unnest).await?;

    if !batch.positions.is_empty() {
        let p = &batch.positions;
        let s = |f: fn(&crate::events::PositionRow) -> &str| -> Vec<&str> {
            p.iter().map(|(_, r)| f(r)).collect()
        };
        let d = |f: fn(&crate::events::PositionRow) -> Decimal| -> Vec<Decimal> {
            p.iter().map(|(_, r)| f(r)).collect()
        };
        written.positions = sqlx::query(
            "INSERT INTO public.positions (user_id, strategy, venue, symbol, qty, avg_price, \
             realized_pnl, fees, updated_ns, seq) \
             SELECT $1::uuid, * FROM UNNEST($2::text[], $3::text[], $4::text[], \
             $5::numeric[], $6::numeric[], $7::numeric[], $8::numeric[], $9::int8[], \
             $10::int8[]) \
             ON CONFLICT (user_id, strategy, venue, symbol) DO UPDATE SET qty = excluded.qty, \
             avg_price = excluded.avg_price, realized_pnl = excluded.realized_pnl, \
             fees = excluded.fees, updated_ns = excluded.updated_ns, seq = excluded.seq \
             WHERE excluded.seq > positions.seq",
        )
        .bind(user_id)
        .bind(s(|r| &r.strategy))
        .bind(s(|r| &r.venue))
        .bind(s(|r| &r.symbol))
        .bind(d(|r| r.qty))
        .bind(d(|r| r.avg_price))
        .bind(d(|r| r.realized_pnl))
        .bind(d(|r| r.fees))
        .bind(p.iter().map(|(_, r)| r.updated_ns).collect::<Vec<_>>())
        .bind(p.iter().map(|(s, _)| seq_i64(*s)).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    if !batch.risks.is_empty() {
        let r = &batch.risks;
        written.risk_events = sqlx::query(
            "INSERT INTO public.risk_events (user_id, id, ts_ns, strategy, symbol, reason, \
             message) SELECT $1::uuid, * FROM UNNEST($2::text[], $3::int8[], $4::text[], \
             $5::text[], $6::text[], $7::text[]) ON CONFLICT (user_id, id) DO NOTHING",
        )
        .bind(user_id)
        .bind(r.iter().map(|x| x.id.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.ts_ns).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.strategy.as_deref()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.symbol.as_deref()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.reason.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.message.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    if !batch.signals.is_empty() {
        let r = &batch.signals;
        written.signals = sqlx::query(
            "INSERT INTO public.signals (user_id, id, ts_ns, strategy, symbol, name, value) \
             SELECT $1::uuid, * FROM UNNEST($2::text[], $3::int8[], $4::text[], $5::text[], \
             $6::text[], $7::float8[]) ON CONFLICT (user_id, id) DO NOTHING",
        )
        .bind(user_id)
        .bind(r.iter().map(|x| x.id.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.ts_ns).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.strategy.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.symbol.as_deref()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.name.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.value).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    if !batch.latency.is_empty() {
        let r = &batch.latency;
        written.latency_stats = sqlx::query(
            "INSERT INTO public.latency_stats (user_id, run_id, stage, window_start_ns, \
             window_end_ns, count, p50_ns, p99_ns, p999_ns, max_ns) \
             SELECT $1::uuid, * FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[], \
             $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[]) \
             ON CONFLICT (user_id, run_id, stage, window_end_ns) DO NOTHING",
        )
        .bind(user_id)
        .bind(r.iter().map(|x| x.run_id.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.stage.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.window_start_ns).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.window_end_ns).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.count).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.p50_ns).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.p99_ns).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.p999_ns).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.max_ns).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    if !batch.equity.is_empty() {
        let r = &batch.equity;
        written.equity_snapshots = sqlx::query(
            "INSERT INTO public.equity_snapshots (user_id, id, run_id, ts_ns, scope, strategy, \
             venue, symbol, qty, mark, realized_pnl, unrealized_pnl, fees, equity) \
             SELECT $1::uuid, * FROM UNNEST($2::text[], $3::text[], $4::int8[], \
             $5::text[]::public.equity_scope[], $6::text[], $7::text[], $8::text[], \
             $9::numeric[], $10::numeric[], $11::numeric[], $12::numeric[], $13::numeric[], \
             $14::numeric[]) ON CONFLICT (user_id, id) DO NOTHING",
        )
        .bind(user_id)
        .bind(r.iter().map(|x| x.id.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.run_id.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.ts_ns).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.scope.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.strategy.as_deref()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.venue.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.symbol.as_deref()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.qty).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.mark).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.realized_pnl).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.unrealized_pnl).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.fees).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.equity).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    if !batch.reloads.is_empty() {
        let r = &batch.reloads;
        written.strategy_reloads = sqlx::query(
            "INSERT INTO public.strategy_reloads (user_id, id, run_id, ts_ns, strategy, origin, \
             version, source_hash, accepted, message) \
             SELECT $1::uuid, * FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[], \
             $6::text[], $7::int8[], $8::text[], $9::bool[], $10::text[]) \
             ON CONFLICT (user_id, id) DO NOTHING",
        )
        .bind(user_id)
        .bind(r.iter().map(|x| x.id.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.run_id.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.ts_ns).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.strategy.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.origin.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.version).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.source_hash.as_str()).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.accepted).collect::<Vec<_>>())
        .bind(r.iter().map(|x| x.message.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    written.held_orders = super::held_rows::write_pg(&mut tx, user_id, &batch.held).await?;

    // The trade-history checkpoint moves with the fills, in their transaction, never back.
    for c in &batch.checkpoints {
        sqlx::query(
            "INSERT INTO public.venue_checkpoints (user_id, venue, account, symbol, \
             last_trade_id, last_trade_ns, updated_ns) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_id, venue, account, symbol) DO UPDATE SET \
             last_trade_id = excluded.last_trade_id, last_trade_ns = excluded.last_trade_ns, \
             updated_ns = excluded.updated_ns \
             WHERE excluded.last_trade_id > venue_checkpoints.last_trade_id",
        )
        .bind(user_id)
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
            "INSERT INTO public.runs (user_id, run_id, version, config_hash, started_ns, \
             stopped_ns, status, heartbeat_ns, seq) \
             VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::text::public.run_status, $8, $9) \
             ON CONFLICT (user_id, run_id) DO UPDATE SET stopped_ns = excluded.stopped_ns, \
             status = excluded.status, heartbeat_ns = excluded.heartbeat_ns, \
             seq = excluded.seq WHERE excluded.seq > runs.seq",
        )
        .bind(user_id)
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
        "INSERT INTO public.audit_log (user_id, actor_kind, action, entity, entity_id, detail) \
         VALUES ($1::uuid, 'engine', 'sink_batch', 'batch', $2, $3::jsonb) \
         ON CONFLICT (user_id, action, entity_id) WHERE actor_kind = 'engine' DO NOTHING",
    )
    .bind(user_id)
    .bind(entity_id)
    .bind(detail.to_string())
    .execute(&mut *tx)
    .await?;

    tx.commit().await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_verified_by_default_except_on_loopback() {
        let o = connect_options("postgres://u:p@db.abc.supabase.co:5432/postgres").unwrap();
        assert!(matches!(o.get_ssl_mode(), PgSslMode::VerifyFull));
        let o = connect_options("postgres://u:p@example.com/db").unwrap();
        assert!(matches!(o.get_ssl_mode(), PgSslMode::VerifyFull));
        let o = connect_options("postgres://u@127.0.0.1:5432/test").unwrap();
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Prefer));
        let o = connect_options("postgres://u@localhost/test").unwrap();
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Prefer));
        let o = connect_options("postgres://u@example.com/db?sslmode=require").unwrap();
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Require));
    }

    #[test]
    fn copy_text_escapes_separators() {
        let mut s = String::new();
        copy_text(&mut s, "a\tb\\c\nd");
        assert_eq!(s, "a\\tb\\\\c\\nd");
    }
}
