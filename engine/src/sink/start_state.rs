//! What the database knows at start, read by the sink thread once the spool a previous run
//! left has been written (so a crash between the spool and the database hides nothing):
//! the venue trade-history checkpoints, the orders not yet in a final state, and every fill
//! of the venue (from which positions are recomputed, and which tell the order tracker which
//! fills it already has).

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::{PgPool, Row, SqlitePool};

use crate::events::{FillRow, OrderRow, OrderStatus};
use crate::types::Side;

/// Which venue and account to read the start state of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartQuery {
    /// Venue name as stored in rows.
    pub venue: String,
    /// The `[venue] account` label of the checkpoints.
    pub account: String,
}

/// The database's view of one venue and account at start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StartState {
    /// Last venue trade id accounted for, per canonical symbol (absent: no checkpoint yet).
    pub checkpoints: HashMap<String, i64>,
    /// Orders of the venue whose stored state is not final (`pending`, `acked`,
    /// `partially_filled`), oldest first.
    pub open_orders: Vec<OrderRow>,
    /// Every fill of the venue, in (symbol, trade id) order.
    pub fills: Vec<FillRow>,
    /// Conditional orders the engine held for the venue that have not fired or been dropped,
    /// oldest first (held again at start).
    pub held: Vec<crate::events::HeldRow>,
}

impl StartState {
    /// The fills stored for one client order id.
    pub fn fills_of<'a>(&'a self, client_order_id: &'a str) -> impl Iterator<Item = &'a FillRow> {
        self.fills
            .iter()
            .filter(move |f| f.client_order_id == client_order_id)
    }
}

const OPEN: [&str; 3] = ["pending", "acked", "partially_filled"];

fn decode_err(what: &str, v: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{what}: unexpected stored value {v:?}").into())
}

fn side(v: &str) -> Result<Side, sqlx::Error> {
    match v {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        _ => Err(decode_err("side", v)),
    }
}

fn status(v: &str) -> Result<OrderStatus, sqlx::Error> {
    Ok(match v {
        "pending" => OrderStatus::Pending,
        "acked" => OrderStatus::Acked,
        "partially_filled" => OrderStatus::PartiallyFilled,
        "filled" => OrderStatus::Filled,
        "cancelled" => OrderStatus::Cancelled,
        "rejected" => OrderStatus::Rejected,
        "expired" => OrderStatus::Expired,
        _ => return Err(decode_err("status", v)),
    })
}

fn dec(what: &str, v: &str) -> Result<Decimal, sqlx::Error> {
    Decimal::from_str(v).map_err(|_| decode_err(what, v))
}

/// Reads the start state from SQLite (money is TEXT there).
pub(crate) async fn read_sqlite(
    pool: &SqlitePool,
    q: &StartQuery,
) -> Result<StartState, sqlx::Error> {
    let mut st = StartState::default();
    for r in sqlx::query(
        "SELECT symbol, last_trade_id FROM venue_checkpoints WHERE venue = ? AND account = ?",
    )
    .bind(&q.venue)
    .bind(&q.account)
    .fetch_all(pool)
    .await?
    {
        st.checkpoints.insert(r.try_get(0)?, r.try_get(1)?);
    }
    for r in sqlx::query(
        "SELECT client_order_id, venue_order_id, strategy, venue, symbol, side, order_type, \
         price, qty, filled_qty, status, reject_reason, created_ns, updated_ns FROM orders \
         WHERE venue = ? AND status IN (?, ?, ?) ORDER BY created_ns, client_order_id",
    )
    .bind(&q.venue)
    .bind(OPEN[0])
    .bind(OPEN[1])
    .bind(OPEN[2])
    .fetch_all(pool)
    .await?
    {
        let price: Option<String> = r.try_get(7)?;
        st.open_orders.push(OrderRow {
            client_order_id: r.try_get(0)?,
            venue_order_id: r.try_get(1)?,
            strategy: r.try_get(2)?,
            venue: r.try_get(3)?,
            symbol: r.try_get(4)?,
            side: side(r.try_get(5)?)?,
            order_type: r.try_get(6)?,
            price: price.as_deref().map(|p| dec("price", p)).transpose()?,
            qty: dec("qty", r.try_get(8)?)?,
            filled_qty: dec("filled_qty", r.try_get(9)?)?,
            status: status(r.try_get(10)?)?,
            reject_reason: r.try_get(11)?,
            created_ns: r.try_get(12)?,
            updated_ns: r.try_get(13)?,
        });
    }
    for r in sqlx::query(
        "SELECT venue, symbol, trade_id, client_order_id, strategy, side, price, qty, fee, \
         fee_asset, is_maker, exch_ts_ns FROM fills WHERE venue = ? \
         ORDER BY symbol, trade_id, client_order_id",
    )
    .bind(&q.venue)
    .fetch_all(pool)
    .await?
    {
        st.fills.push(FillRow {
            venue: r.try_get(0)?,
            symbol: r.try_get(1)?,
            trade_id: r.try_get(2)?,
            client_order_id: r.try_get(3)?,
            strategy: r.try_get(4)?,
            side: side(r.try_get(5)?)?,
            price: dec("price", r.try_get(6)?)?,
            qty: dec("qty", r.try_get(7)?)?,
            fee: dec("fee", r.try_get(8)?)?,
            fee_asset: r.try_get(9)?,
            is_maker: r.try_get(10)?,
            exch_ts_ns: r.try_get(11)?,
        });
    }
    st.held = super::held_rows::read_sqlite(pool, &q.venue).await?;
    Ok(st)
}

/// Reads the start state of `user_id` from PostgreSQL (money is `numeric` there).
pub(crate) async fn read_pg(
    pool: &PgPool,
    user_id: &str,
    q: &StartQuery,
) -> Result<StartState, sqlx::Error> {
    let mut st = StartState::default();
    for r in sqlx::query(
        "SELECT symbol, last_trade_id FROM public.venue_checkpoints \
         WHERE user_id = $1::uuid AND venue = $2 AND account = $3",
    )
    .bind(user_id)
    .bind(&q.venue)
    .bind(&q.account)
    .fetch_all(pool)
    .await?
    {
        st.checkpoints.insert(r.try_get(0)?, r.try_get(1)?);
    }
    for r in sqlx::query(
        "SELECT client_order_id, venue_order_id, strategy, venue, symbol, side::text, \
         order_type::text, price, qty, filled_qty, status::text, reject_reason, created_ns, \
         updated_ns FROM public.orders WHERE user_id = $1::uuid AND venue = $2 \
         AND status = ANY($3::text[]::public.order_status[]) \
         ORDER BY created_ns, client_order_id",
    )
    .bind(user_id)
    .bind(&q.venue)
    .bind(&OPEN[..])
    .fetch_all(pool)
    .await?
    {
        st.open_orders.push(OrderRow {
            client_order_id: r.try_get(0)?,
            venue_order_id: r.try_get(1)?,
            strategy: r.try_get(2)?,
            venue: r.try_get(3)?,
            symbol: r.try_get(4)?,
            side: side(r.try_get(5)?)?,
            order_type: r.try_get(6)?,
            price: r.try_get(7)?,
            qty: r.try_get(8)?,
            filled_qty: r.try_get(9)?,
            status: status(r.try_get(10)?)?,
            reject_reason: r.try_get(11)?,
            created_ns: r.try_get(12)?,
            updated_ns: r.try_get(13)?,
        });
    }
    for r in sqlx::query(
        "SELECT venue, symbol, trade_id, client_order_id, strategy, side::text, price, qty, \
         fee, fee_asset, is_maker, exch_ts_ns FROM public.fills \
         WHERE user_id = $1::uuid AND venue = $2 ORDER BY symbol, trade_id, client_order_id",
    )
    .bind(user_id)
    .bind(&q.venue)
    .fetch_all(pool)
    .await?
    {
        st.fills.push(FillRow {
            venue: r.try_get(0)?,
            symbol: r.try_get(1)?,
            trade_id: r.try_get(2)?,
            client_order_id: r.try_get(3)?,
            strategy: r.try_get(4)?,
            side: side(r.try_get(5)?)?,
            price: r.try_get(6)?,
            qty: r.try_get(7)?,
            fee: r.try_get(8)?,
            fee_asset: r.try_get(9)?,
            is_maker: r.try_get(10)?,
            exch_ts_ns: r.try_get(11)?,
        });
    }
    st.held = super::held_rows::read_pg(pool, user_id, &q.venue).await?;
    Ok(st)
}
