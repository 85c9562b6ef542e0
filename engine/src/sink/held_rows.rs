//! `held_orders` in both backends: one batch's latest states upserted (a newer event sequence
//! wins, so a replayed spool never moves a row back), and the rows still `held` read at start.

use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::sqlite::seq_i64;
use crate::events::{parse_tif, tif_str, HeldRow, HeldStatus, HeldTrigger, TriggerKind};
use crate::order::OrderType;
use crate::types::Side;

/// SQLite's default maximum number of bind parameters per statement, over this table's 21
/// columns.
const SQLITE_ROWS: usize = 32_766 / 21;

/// The columns both backends write, in order.
const COLUMNS: &str = "client_order_id, strategy, venue, symbol, side, order_type, price, \
     qty, time_in_force, post_only, reduce_only, trigger_kind, trigger_price, trail_offset, \
     trail_percent, trail_extreme, oco_with, status, created_ns, updated_ns, seq";

/// What an upsert changes (never the identity or the creation time).
const UPDATE: &str = "qty = excluded.qty, trigger_price = excluded.trigger_price, \
     trail_extreme = excluded.trail_extreme, oco_with = excluded.oco_with, \
     status = excluded.status, updated_ns = excluded.updated_ns, seq = excluded.seq";

/// Upserts the batch's held orders into SQLite; rows written.
pub(crate) async fn write_sqlite(
    conn: &mut SqliteConnection,
    rows: &[(u64, &HeldRow)],
) -> Result<u64, sqlx::Error> {
    let text = |d: Option<Decimal>| d.map(|d| d.to_string());
    let mut written = 0;
    for chunk in rows.chunks(SQLITE_ROWS) {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("INSERT INTO held_orders ({COLUMNS}) "));
        qb.push_values(chunk, |mut b, (seq, h)| {
            b.push_bind(h.client_order_id.as_str())
                .push_bind(h.strategy.as_str())
                .push_bind(h.venue.as_str())
                .push_bind(h.symbol.as_str())
                .push_bind(h.side.as_str())
                .push_bind(h.order_type.as_str())
                .push_bind(text(h.price))
                .push_bind(h.qty.to_string())
                .push_bind(tif_str(h.time_in_force))
                .push_bind(h.post_only)
                .push_bind(h.reduce_only)
                .push_bind(h.trigger.kind.as_str())
                .push_bind(text(h.trigger.price))
                .push_bind(text(h.trigger.offset))
                .push_bind(h.trigger.percent)
                .push_bind(text(h.trigger.extreme))
                .push_bind(h.oco_with.as_deref())
                .push_bind(h.status.as_str())
                .push_bind(h.created_ns)
                .push_bind(h.updated_ns)
                .push_bind(seq_i64(*seq));
        });
        qb.push(format!(
            " ON CONFLICT (client_order_id) DO UPDATE SET {UPDATE} \
             WHERE excluded.seq > held_orders.seq"
        ));
        written += qb.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(written)
}

/// Upserts the batch's held orders of `user_id` into PostgreSQL (one `UNNEST` statement);
/// rows written.
pub(crate) async fn write_pg(
    conn: &mut PgConnection,
    user_id: &str,
    rows: &[(u64, &HeldRow)],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let col =
        |f: fn(&HeldRow) -> Option<Decimal>| rows.iter().map(|(_, h)| f(h)).collect::<Vec<_>>();
    let text = |f: fn(&HeldRow) -> &str| rows.iter().map(|(_, h)| f(h)).collect::<Vec<_>>();
    let flag = |f: fn(&HeldRow) -> bool| rows.iter().map(|(_, h)| f(h)).collect::<Vec<_>>();
    let int = |f: fn(&HeldRow) -> i64| rows.iter().map(|(_, h)| f(h)).collect::<Vec<_>>();
    let sql = format!(
        "INSERT INTO public.held_orders (user_id, {COLUMNS}) \
         SELECT $1::uuid, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], \
         $6::text[]::public.order_side[], $7::text[]::public.order_type[], $8::numeric[], \
         $9::numeric[], $10::text[]::public.time_in_force[], $11::bool[], $12::bool[], \
         $13::text[]::public.trigger_kind[], $14::numeric[], $15::numeric[], $16::bool[], \
         $17::numeric[], $18::text[], $19::text[]::public.held_order_status[], $20::int8[], \
         $21::int8[], $22::int8[]) \
         ON CONFLICT (user_id, venue, client_order_id) DO UPDATE SET {UPDATE} \
         WHERE excluded.seq > held_orders.seq"
    );
    let r = sqlx::query(&sql)
        .bind(user_id)
        .bind(text(|h| h.client_order_id.as_str()))
        .bind(text(|h| h.strategy.as_str()))
        .bind(text(|h| h.venue.as_str()))
        .bind(text(|h| h.symbol.as_str()))
        .bind(text(|h| h.side.as_str()))
        .bind(text(|h| h.order_type.as_str()))
        .bind(col(|h| h.price))
        .bind(col(|h| Some(h.qty)))
        .bind(text(|h| tif_str(h.time_in_force)))
        .bind(flag(|h| h.post_only))
        .bind(flag(|h| h.reduce_only))
        .bind(text(|h| h.trigger.kind.as_str()))
        .bind(col(|h| h.trigger.price))
        .bind(col(|h| h.trigger.offset))
        .bind(flag(|h| h.trigger.percent))
        .bind(col(|h| h.trigger.extreme))
        .bind(
            rows.iter()
                .map(|(_, h)| h.oco_with.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(text(|h| h.status.as_str()))
        .bind(int(|h| h.created_ns))
        .bind(int(|h| h.updated_ns))
        .bind(rows.iter().map(|(s, _)| seq_i64(*s)).collect::<Vec<_>>())
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}

fn bad(what: &str, v: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("held_orders.{what}: unexpected stored value {v:?}").into())
}

/// The values of one stored row, as text (SQLite stores decimals as text; PostgreSQL's are
/// selected `::text`), decoded into a [`HeldRow`].
fn decode(r: &impl RowText) -> Result<HeldRow, sqlx::Error> {
    let dec = |i: usize, what: &str| -> Result<Option<Decimal>, sqlx::Error> {
        r.text(i)?
            .map(|s| Decimal::from_str(&s).map_err(|_| bad(what, &s)))
            .transpose()
    };
    let req = |i: usize, what: &str| -> Result<String, sqlx::Error> {
        r.text(i)?.ok_or_else(|| bad(what, "NULL"))
    };
    let side = match req(4, "side")?.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        v => return Err(bad("side", v)),
    };
    let order_type = match req(5, "order_type")?.as_str() {
        "market" => OrderType::Market,
        "limit" => OrderType::Limit,
        v => return Err(bad("order_type", v)),
    };
    let tif = req(8, "time_in_force")?;
    let kind = req(11, "trigger_kind")?;
    let status = req(17, "status")?;
    Ok(HeldRow {
        client_order_id: req(0, "client_order_id")?,
        strategy: req(1, "strategy")?,
        venue: req(2, "venue")?,
        symbol: req(3, "symbol")?,
        side,
        order_type,
        price: dec(6, "price")?,
        qty: dec(7, "qty")?.ok_or_else(|| bad("qty", "NULL"))?,
        time_in_force: parse_tif(&tif).ok_or_else(|| bad("time_in_force", &tif))?,
        post_only: r.flag(9)?,
        reduce_only: r.flag(10)?,
        trigger: HeldTrigger {
            kind: TriggerKind::parse(&kind).ok_or_else(|| bad("trigger_kind", &kind))?,
            price: dec(12, "trigger_price")?,
            offset: dec(13, "trail_offset")?,
            percent: r.flag(14)?,
            extreme: dec(15, "trail_extreme")?,
        },
        oco_with: r.text(16)?,
        status: HeldStatus::parse(&status).ok_or_else(|| bad("status", &status))?,
        created_ns: r.int(18)?,
        updated_ns: r.int(19)?,
    })
}

/// Column access shared by the two backends' rows.
trait RowText {
    fn text(&self, i: usize) -> Result<Option<String>, sqlx::Error>;
    fn flag(&self, i: usize) -> Result<bool, sqlx::Error>;
    fn int(&self, i: usize) -> Result<i64, sqlx::Error>;
}

/// Both backends' rows read these types the same way.
macro_rules! row_text {
    ($($row:ty),*) => {$(
        impl RowText for $row {
            fn text(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
                self.try_get(i)
            }
            fn flag(&self, i: usize) -> Result<bool, sqlx::Error> {
                self.try_get(i)
            }
            fn int(&self, i: usize) -> Result<i64, sqlx::Error> {
                self.try_get(i)
            }
        }
    )*};
}
row_text!(sqlx::sqlite::SqliteRow, sqlx::postgres::PgRow);

/// The held orders of `venue` still waiting for their trigger, oldest first (SQLite).
pub(crate) async fn read_sqlite(
    pool: &SqlitePool,
    venue: &str,
) -> Result<Vec<HeldRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM held_orders WHERE venue = ? AND status = 'held' \
         ORDER BY created_ns, client_order_id"
    ))
    .bind(venue)
    .fetch_all(pool)
    .await?
    .iter()
    .map(decode)
    .collect()
}

/// The held orders of `user_id` on `venue` still waiting for their trigger, oldest first
/// (PostgreSQL; enums and numerics read as text).
pub(crate) async fn read_pg(
    pool: &PgPool,
    user_id: &str,
    venue: &str,
) -> Result<Vec<HeldRow>, sqlx::Error> {
    sqlx::query(
        "SELECT client_order_id, strategy, venue, symbol, side::text, order_type::text, \
         price::text, qty::text, time_in_force::text, post_only, reduce_only, \
         trigger_kind::text, trigger_price::text, trail_offset::text, trail_percent, \
         trail_extreme::text, oco_with, status::text, created_ns, updated_ns, seq \
         FROM public.held_orders WHERE user_id = $1::uuid AND venue = $2 AND status = 'held' \
         ORDER BY created_ns, client_order_id",
    )
    .bind(user_id)
    .bind(venue)
    .fetch_all(pool)
    .await?
    .iter()
    .map(decode)
    .collect()
}
