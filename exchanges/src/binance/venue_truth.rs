//! The venue's truth at start, for the whole account, on every trading instrument.
//!
//! Before the core runs (and after the user stream is connected, so nothing that happens from
//! now on is missed), [`take_venue_truth`] compares what the database holds (the sink's
//! [`StartState`]) with what the venue says:
//!
//! - **Every open order** (`openOrders`). Ours by client id (any run: an earlier run's, or
//!   this one's after a same-id restart) is adopted; one we never placed is reported as a
//!   risk event `foreign_open_order` and left alone, or cancelled by its venue order id with
//!   `[venue] foreign_orders = "cancel"` (risk event `foreign_order_cancelled`).
//! - **Every order the database holds as not final** (`pending`, `acked`,
//!   `partially_filled`): looked up at the venue (`GET order` by client id) and adopted with
//!   the venue's state; one the venue does not know (`-2013`) never reached it and is closed
//!   as rejected.
//! - **Every trade after the checkpoint** (`myTrades?fromId=checkpoint+1`, paged by 1000):
//!   its order (`allOrders?orderId=`, paged) is adopted if it is ours, so fills made while the
//!   engine was down are taken; a trade of an order we never placed is a risk event
//!   `foreign_trade` (it moves no position). Without a checkpoint yet (a new database, or a
//!   new account label), the checkpoint is set to the account's latest trade on the symbol:
//!   earlier history is not ours to import.
//!
//! An adopted order is tracked by the core from its start with the trade ids of the fills the
//! database already has ([`AdoptedOrder::seen_trade_ids`]); then its ack, **all** its venue
//! trades (`myTrades?orderId=`) and its final state are queued as exec reports, so each fill
//! the database lacks is booked exactly once and the stored state ends as the venue's. With
//! `[venue] on_start_earlier_orders = "cancel"` an adopted order still open is cancelled by
//! the core right after adoption. Every action is a risk event (and an order row).
//!
//! Limitation: a trade at or below the checkpoint of an order the database holds as final is
//! not looked at again (the checkpoint is the greatest committed fill, so only a fill the
//! user stream missed while a later one was committed, followed by a crash before the next
//! reconciliation, could hide there).

use std::collections::{BTreeMap, HashMap, HashSet};

use peregrine_engine::clock::Clock;
use peregrine_engine::config::{EarlierOrders, ForeignOrders};
use peregrine_engine::core::AdoptedOrder;
use peregrine_engine::events::{CheckpointRow, OrderRow, OrderStatus};
use peregrine_engine::order::{ClientOrderId, ExecKind, ExecReport, FillInfo, OrderType};
use peregrine_engine::sink::StartState;
use peregrine_engine::types::{InstrumentId, Instruments};
use rust_decimal::Decimal;

use super::clock_skew::AlarmFn;
use super::rest::{BinanceRest, RestError, VenueOrder, VenueTrade};

/// `myTrades` / `allOrders` page size (the venue's maximum).
const PAGE: usize = 1000;

/// What to do with the orders found at start (`[venue]` config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StartPolicy {
    /// Orders of earlier runs.
    pub earlier: EarlierOrders,
    /// Open orders we never placed.
    pub foreign: ForeignOrders,
}

/// The outcome of [`take_venue_truth`].
#[derive(Debug, Default)]
pub struct VenueTruth {
    /// Orders of earlier runs for the core to track from its start.
    pub adopted: Vec<AdoptedOrder>,
    /// Exec reports to queue after the adoption (acks, fills, final states), per order in
    /// venue order.
    pub reports: Vec<ExecReport>,
    /// First checkpoints of symbols that had none, for the sink.
    pub checkpoints: Vec<CheckpointRow>,
    /// Next venue trade id to read per venue symbol (for the periodic reconciler).
    pub next_trade_id: HashMap<String, u64>,
    /// Adopted orders by venue symbol: (client order id, venue order id), for the periodic
    /// reconciler to follow until they are final.
    pub followed: HashMap<String, Vec<(ClientOrderId, u64)>>,
    /// Risk events raised (reason, message), also sent to the alarm.
    pub events: Vec<(&'static str, String)>,
}

/// One candidate for adoption, gathered from the three sources.
struct Candidate {
    coid: ClientOrderId,
    venue: Option<VenueOrder>,
    db: Option<OrderRow>,
    why: &'static str,
}

/// Takes the venue's truth for the whole account on every trading instrument (those of the
/// registry's primary venue) against the database's `db` (see the module docs). `venue` is
/// the venue name stored in rows. Fails on the first REST error (the caller decides whether
/// to start anyway).
pub async fn take_venue_truth(
    rest: &BinanceRest,
    instruments: &Instruments,
    venue: &str,
    db: &StartState,
    policy: StartPolicy,
    alarm: &AlarmFn,
) -> Result<VenueTruth, RestError> {
    let mut out = VenueTruth::default();
    let primary = instruments.primary_venue().unwrap_or_default().to_string();
    let specs: Vec<(InstrumentId, String, String)> = instruments
        .iter()
        .filter(|(_, s)| s.venue == primary)
        .map(|(id, s)| (id, s.symbol.clone(), s.venue_symbol.clone()))
        .collect();
    for (id, symbol, vs) in specs {
        symbol_truth(rest, venue, id, &symbol, &vs, db, policy, &mut out).await?;
    }
    for (reason, msg) in &out.events {
        alarm(reason, msg.clone());
    }
    Ok(out)
}

fn raise(out: &mut VenueTruth, reason: &'static str, msg: String) {
    tracing::warn!(reason, "venue truth: {msg}");
    out.events.push((reason, msg));
}

fn is_open(status: &str) -> bool {
    matches!(status, "NEW" | "PARTIALLY_FILLED" | "PENDING_NEW")
}

#[allow(clippy::too_many_arguments)]
async fn symbol_truth(
    rest: &BinanceRest,
    venue: &str,
    id: InstrumentId,
    symbol: &str,
    vs: &str,
    db: &StartState,
    policy: StartPolicy,
    out: &mut VenueTruth,
) -> Result<(), RestError> {
    let mut by_id: HashMap<u64, VenueOrder> = HashMap::new();
    let mut candidates: BTreeMap<ClientOrderId, Candidate> = BTreeMap::new();

    // 1. Every open order of the account.
    for o in rest.open_orders(vs).await? {
        match o.client_order_id.parse::<ClientOrderId>() {
            Ok(coid) => {
                candidates.insert(
                    coid,
                    Candidate {
                        coid,
                        venue: Some(o.clone()),
                        db: None,
                        why: "open at the venue",
                    },
                );
            }
            Err(_) => foreign_open(rest, vs, &o, policy, out).await,
        }
        by_id.insert(o.order_id, o);
    }

    // 2. Every trade after the checkpoint.
    let mut trades: Vec<VenueTrade> = Vec::new();
    match db.checkpoints.get(symbol) {
        Some(&last) => {
            let mut from = u64::try_from(last).unwrap_or(0) + 1;
            loop {
                let page = rest.my_trades(vs, Some(from), 0).await?;
                let full = page.len() >= PAGE;
                if let Some(t) = page.last() {
                    from = t.id + 1;
                }
                trades.extend(page);
                if !full {
                    break;
                }
            }
            out.next_trade_id.insert(vs.to_string(), from);
        }
        None => {
            let latest = rest.latest_trade(vs).await?;
            let (last, ns) = latest
                .as_ref()
                .map_or((0, 0), |t| (t.id, t.time.saturating_mul(1_000_000)));
            out.checkpoints.push(CheckpointRow {
                venue: venue.to_string(),
                symbol: symbol.to_string(),
                last_trade_id: i64::try_from(last).unwrap_or(i64::MAX),
                last_trade_ns: ns,
            });
            out.next_trade_id.insert(vs.to_string(), last + 1);
            tracing::info!(%symbol, last_trade_id = last, "no trade-history checkpoint yet: starting it at the account's latest trade");
        }
    }
    // The orders of those trades.
    let mut missing: Vec<u64> = trades
        .iter()
        .map(|t| t.order_id)
        .filter(|o| !by_id.contains_key(o))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    while let Some(&first) = missing.first() {
        let page = rest.all_orders_from(vs, first, PAGE as u16).await?;
        let full = page.len() >= PAGE;
        let last = page.last().map(|o| o.order_id);
        for o in page {
            by_id.insert(o.order_id, o);
        }
        missing.retain(|o| !by_id.contains_key(o));
        match (full, last) {
            (true, Some(l)) => missing.retain(|o| *o > l),
            _ => break,
        }
    }
    let mut foreign_trades = 0usize;
    for t in &trades {
        let Some(o) = by_id.get(&t.order_id) else {
            raise(
                out,
                "unknown_trade",
                format!(
                    "trade {} on {vs} of order {} that allOrders does not list",
                    t.id, t.order_id
                ),
            );
            continue;
        };
        match o.client_order_id.parse::<ClientOrderId>() {
            Ok(coid) => {
                candidates.entry(coid).or_insert_with(|| Candidate {
                    coid,
                    venue: Some(o.clone()),
                    db: None,
                    why: "it has fills the database lacks",
                });
            }
            Err(_) => foreign_trades += 1,
        }
    }
    if foreign_trades > 0 {
        raise(
            out,
            "foreign_trade",
            format!(
                "{foreign_trades} trade(s) on {vs} since the checkpoint are of orders this engine never placed; positions do not include them"
            ),
        );
    }

    // 3. Every order the database holds as not final.
    for row in db.open_orders.iter().filter(|r| r.symbol == symbol) {
        let Ok(coid) = row.client_order_id.parse::<ClientOrderId>() else {
            continue;
        };
        if let Some(c) = candidates.get_mut(&coid) {
            c.db = Some(row.clone());
            continue;
        }
        let venue_order = match row.venue_order_id.and_then(|v| by_id.get(&(v as u64))) {
            Some(o) => Some(o.clone()),
            None => match rest.order(vs, &row.client_order_id).await {
                Ok(o) => Some(o),
                Err(RestError::Api { code: -2013, .. }) => None,
                Err(e) => return Err(e),
            },
        };
        candidates.insert(
            coid,
            Candidate {
                coid,
                venue: venue_order,
                db: Some(row.clone()),
                why: "its stored state is not final",
            },
        );
    }

    // 4. Adopt each, with all its venue trades and its final state.
    for (_, c) in candidates {
        adopt(rest, id, vs, db, policy, c, out).await?;
    }
    Ok(())
}

async fn foreign_open(
    rest: &BinanceRest,
    vs: &str,
    o: &VenueOrder,
    policy: StartPolicy,
    out: &mut VenueTruth,
) {
    let what = format!(
        "{} {} {:?} {} @ {} (venue order id {})",
        vs, o.client_order_id, o.side, o.orig_qty, o.price, o.order_id
    );
    match policy.foreign {
        ForeignOrders::Report => raise(
            out,
            "foreign_open_order",
            format!("open order at the venue this engine never placed, left alone: {what}"),
        ),
        ForeignOrders::Cancel => match rest.cancel_by_order_id(vs, o.order_id).await {
            Ok(()) => raise(
                out,
                "foreign_order_cancelled",
                format!(
                    "open order at the venue this engine never placed, cancelled (foreign_orders = \"cancel\"): {what}"
                ),
            ),
            Err(e) => raise(
                out,
                "foreign_open_order",
                format!("open order at the venue this engine never placed; cancelling it failed ({e}): {what}"),
            ),
        },
    }
}

async fn adopt(
    rest: &BinanceRest,
    id: InstrumentId,
    vs: &str,
    db: &StartState,
    policy: StartPolicy,
    c: Candidate,
    out: &mut VenueTruth,
) -> Result<(), RestError> {
    let coid_text = c.coid.to_string();
    let stored: Vec<_> = db.fills_of(&coid_text).collect();
    let seen: Vec<u64> = stored.iter().map(|f| f.trade_id as u64).collect();
    let filled: Decimal = stored.iter().map(|f| f.qty).sum();
    let strategy =
        c.db.as_ref()
            .map(|r| r.strategy.clone())
            .or_else(|| stored.first().map(|f| f.strategy.clone()));
    let (side, order_type, price, qty, created_ns) = match (&c.db, &c.venue) {
        (Some(r), _) => (
            r.side,
            if r.order_type == "market" {
                OrderType::Market
            } else {
                OrderType::Limit
            },
            r.price,
            r.qty,
            r.created_ns,
        ),
        (None, Some(v)) => {
            let market = v.order_type == "MARKET";
            (
                v.side,
                if market {
                    OrderType::Market
                } else {
                    OrderType::Limit
                },
                (!market).then_some(v.price),
                v.orig_qty,
                v.time.saturating_mul(1_000_000),
            )
        }
        (None, None) => return Ok(()),
    };
    let status =
        c.db.as_ref()
            .map(|r| r.status)
            .filter(|s| !s.is_terminal())
            .unwrap_or(OrderStatus::Acked);
    let open = c.venue.as_ref().is_some_and(|v| is_open(&v.status));
    let why = match &c.venue {
        Some(v) => format!("{} (venue status {})", c.why, v.status),
        None => format!("{} (the venue does not know it)", c.why),
    };
    out.adopted.push(AdoptedOrder {
        client_order_id: c.coid,
        strategy,
        instrument: id,
        side,
        order_type,
        price,
        qty,
        status,
        filled,
        venue_order_id: c.venue.as_ref().map(|v| v.order_id).or_else(|| {
            c.db.as_ref()
                .and_then(|r| r.venue_order_id.map(|v| v as u64))
        }),
        created_ns,
        seen_trade_ids: seen,
        cancel: policy.earlier == EarlierOrders::Cancel && open,
        why,
    });
    let report = |kind: ExecKind| ExecReport {
        client_order_id: c.coid,
        instrument: id,
        side,
        kind,
        recv_ns: Clock::now_ns(),
    };
    let Some(v) = c.venue else {
        out.reports.push(report(ExecKind::Rejected {
            code: -2013,
            reason: "the venue does not know this order (it never reached it)".into(),
        }));
        return Ok(());
    };
    out.reports.push(report(ExecKind::Ack {
        venue_order_id: v.order_id,
    }));
    if !v.executed_qty.is_zero() {
        let mut trades = Vec::new();
        let mut from = 0u64;
        loop {
            let page = rest.order_trades(vs, v.order_id, from).await?;
            let full = page.len() >= PAGE;
            if let Some(t) = page.last() {
                from = t.id + 1;
            }
            trades.extend(page);
            if !full {
                break;
            }
        }
        let mut cum = Decimal::ZERO;
        let mut ids = HashSet::new();
        for t in trades {
            if !ids.insert(t.id) {
                continue;
            }
            cum += t.qty;
            out.reports.push(report(ExecKind::Fill(FillInfo {
                trade_id: t.id,
                price: t.price,
                qty: t.qty,
                fee: t.commission,
                fee_asset: t.commission_asset,
                is_maker: t.is_maker,
                leaves_qty: (v.orig_qty - cum).max(Decimal::ZERO),
                exch_ts_ns: t.time.saturating_mul(1_000_000),
            })));
        }
    }
    match v.status.as_str() {
        "CANCELED" => out.reports.push(report(ExecKind::Cancelled)),
        "EXPIRED" | "EXPIRED_IN_MATCH" => out.reports.push(report(ExecKind::Expired)),
        "REJECTED" => out.reports.push(report(ExecKind::Rejected {
            code: 0,
            reason: "venue reports the order REJECTED".into(),
        })),
        _ => {}
    }
    if open {
        out.followed
            .entry(vs.to_string())
            .or_default()
            .push((c.coid, v.order_id));
    }
    Ok(())
}
