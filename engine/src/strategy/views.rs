//! The event objects passed to callbacks, and their script-side getters.

use rhai::{Dynamic, Engine, ImmutableString};

use crate::bars::Bar;
use crate::types::{InstrumentId, Price, Qty, Side};

/// A trade as a script sees it: `t.price`, `t.qty`, `t.side` (aggressor, `"buy"`/`"sell"`),
/// `t.symbol`, `t.id`, `t.ts` (exchange ns).
#[derive(Clone, Debug)]
pub struct TradeView {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Canonical symbol.
    pub symbol: ImmutableString,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Aggressor side.
    pub side: Side,
    /// Venue trade id.
    pub trade_id: u64,
    /// Exchange time, ns.
    pub exch_ts_ns: i64,
}

/// Best bid/offer as a script sees it: `q.bid`, `q.bid_qty`, `q.ask`, `q.ask_qty`, `q.symbol`.
#[derive(Clone, Debug)]
pub struct QuoteView {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Canonical symbol.
    pub symbol: ImmutableString,
    /// Best bid.
    pub bid: Price,
    /// Bid quantity.
    pub bid_qty: Qty,
    /// Best ask.
    pub ask: Price,
    /// Ask quantity.
    pub ask_qty: Qty,
}

/// One of our fills as a script sees it: `f.price`, `f.qty`, `f.side`, `f.fee`,
/// `f.fee_asset`, `f.partial` (order still open), `f.order_id`, `f.symbol`.
#[derive(Clone, Debug)]
pub struct FillView {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Canonical symbol.
    pub symbol: ImmutableString,
    /// Our order's id.
    pub order_id: ImmutableString,
    /// Our side.
    pub side: Side,
    /// Fill price.
    pub price: Price,
    /// Fill quantity.
    pub qty: Qty,
    /// Fee.
    pub fee: Price,
    /// Fee asset.
    pub fee_asset: ImmutableString,
    /// True if the order still has open quantity.
    pub partial: bool,
}

/// A complete book update as a script sees it in `on_book(b)`: `b.bid`, `b.bid_qty`, `b.ask`,
/// `b.ask_qty` (each `()` while that side is empty), `b.bid_levels`, `b.ask_levels` (depth),
/// `b.symbol`. Deeper levels: `book_bids(n)` / `book_asks(n)`.
#[derive(Clone, Debug)]
pub struct BookView {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Canonical symbol.
    pub symbol: ImmutableString,
    /// Best bid (price, qty).
    pub bid: Option<(Price, Qty)>,
    /// Best ask (price, qty).
    pub ask: Option<(Price, Qty)>,
    /// Number of bid levels.
    pub bid_levels: usize,
    /// Number of ask levels.
    pub ask_levels: usize,
}

/// A closed bar as a script sees it in `on_bar(bar)`: `bar.open`, `.high`, `.low`, `.close`,
/// `.volume` (decimals), `.trades`, `.start`, `.end` (engine ns), `.timeframe` (as configured,
/// e.g. `"1m"`), `.symbol`.
#[derive(Clone, Debug)]
pub struct BarView {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Canonical symbol.
    pub symbol: ImmutableString,
    /// Timeframe label from the config.
    pub timeframe: ImmutableString,
    /// The bar.
    pub bar: Bar,
}

/// A change of one of our orders as a script sees it in `on_order(o)`: `o.id`, `o.status`
/// (`"accepted"`, `"rejected"`, `"cancelled"`, `"expired"`), `o.reason` (why rejected, else
/// `""`), `o.side`, `o.price` (`()` for market orders), `o.qty`, `o.filled`, `o.symbol`.
#[derive(Clone, Debug)]
pub struct OrderView {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Canonical symbol.
    pub symbol: ImmutableString,
    /// Our order id.
    pub id: ImmutableString,
    /// What happened.
    pub status: &'static str,
    /// Rejection reason, or empty.
    pub reason: ImmutableString,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Option<Price>,
    /// Ordered quantity.
    pub qty: Qty,
    /// Filled so far.
    pub filled: Qty,
}

/// An order our risk gate refused, as a script sees it in `on_risk_reject(r)`: `r.reason`
/// (machine-readable, e.g. `"max_position"`), `r.message`, `r.id`, `r.side`, `r.price`,
/// `r.qty`, `r.symbol`.
#[derive(Clone, Debug)]
pub struct RejectView {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Canonical symbol.
    pub symbol: ImmutableString,
    /// The id the order would have had.
    pub id: ImmutableString,
    /// Machine-readable reason.
    pub reason: ImmutableString,
    /// Explanation.
    pub message: ImmutableString,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Option<Price>,
    /// Quantity.
    pub qty: Qty,
}

fn opt(v: Option<Price>) -> Dynamic {
    v.map(Dynamic::from_decimal).unwrap_or(Dynamic::UNIT)
}

fn side_str(s: Side) -> ImmutableString {
    ImmutableString::from(s.as_str())
}

/// Registers the event types and their getters.
pub(super) fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<TradeView>("Trade")
        .register_get("price", |t: &mut TradeView| t.price)
        .register_get("qty", |t: &mut TradeView| t.qty)
        .register_get("side", |t: &mut TradeView| side_str(t.side))
        .register_get("symbol", |t: &mut TradeView| t.symbol.clone())
        .register_get("id", |t: &mut TradeView| t.trade_id as i64)
        .register_get("ts", |t: &mut TradeView| t.exch_ts_ns);
    engine
        .register_type_with_name::<QuoteView>("Quote")
        .register_get("bid", |q: &mut QuoteView| q.bid)
        .register_get("bid_qty", |q: &mut QuoteView| q.bid_qty)
        .register_get("ask", |q: &mut QuoteView| q.ask)
        .register_get("ask_qty", |q: &mut QuoteView| q.ask_qty)
        .register_get("symbol", |q: &mut QuoteView| q.symbol.clone());
    engine
        .register_type_with_name::<FillView>("Fill")
        .register_get("price", |f: &mut FillView| f.price)
        .register_get("qty", |f: &mut FillView| f.qty)
        .register_get("side", |f: &mut FillView| side_str(f.side))
        .register_get("fee", |f: &mut FillView| f.fee)
        .register_get("fee_asset", |f: &mut FillView| f.fee_asset.clone())
        .register_get("partial", |f: &mut FillView| f.partial)
        .register_get("order_id", |f: &mut FillView| f.order_id.clone())
        .register_get("id", |f: &mut FillView| f.order_id.clone())
        .register_get("symbol", |f: &mut FillView| f.symbol.clone());
    engine
        .register_type_with_name::<BookView>("Book")
        .register_get("bid", |b: &mut BookView| opt(b.bid.map(|x| x.0)))
        .register_get("bid_qty", |b: &mut BookView| opt(b.bid.map(|x| x.1)))
        .register_get("ask", |b: &mut BookView| opt(b.ask.map(|x| x.0)))
        .register_get("ask_qty", |b: &mut BookView| opt(b.ask.map(|x| x.1)))
        .register_get("bid_levels", |b: &mut BookView| b.bid_levels as i64)
        .register_get("ask_levels", |b: &mut BookView| b.ask_levels as i64)
        .register_get("symbol", |b: &mut BookView| b.symbol.clone());
    engine
        .register_type_with_name::<BarView>("Bar")
        .register_get("open", |b: &mut BarView| b.bar.open)
        .register_get("high", |b: &mut BarView| b.bar.high)
        .register_get("low", |b: &mut BarView| b.bar.low)
        .register_get("close", |b: &mut BarView| b.bar.close)
        .register_get("volume", |b: &mut BarView| b.bar.volume)
        .register_get("trades", |b: &mut BarView| b.bar.trades as i64)
        .register_get("start", |b: &mut BarView| b.bar.start_ns)
        .register_get("end", |b: &mut BarView| b.bar.start_ns + b.bar.timeframe_ns)
        .register_get("timeframe", |b: &mut BarView| b.timeframe.clone())
        .register_get("symbol", |b: &mut BarView| b.symbol.clone());
    engine
        .register_type_with_name::<OrderView>("Order")
        .register_get("id", |o: &mut OrderView| o.id.clone())
        .register_get("status", |o: &mut OrderView| {
            ImmutableString::from(o.status)
        })
        .register_get("reason", |o: &mut OrderView| o.reason.clone())
        .register_get("side", |o: &mut OrderView| side_str(o.side))
        .register_get("price", |o: &mut OrderView| opt(o.price))
        .register_get("qty", |o: &mut OrderView| o.qty)
        .register_get("filled", |o: &mut OrderView| o.filled)
        .register_get("symbol", |o: &mut OrderView| o.symbol.clone());
    engine
        .register_type_with_name::<RejectView>("RiskReject")
        .register_get("id", |r: &mut RejectView| r.id.clone())
        .register_get("reason", |r: &mut RejectView| r.reason.clone())
        .register_get("message", |r: &mut RejectView| r.message.clone())
        .register_get("side", |r: &mut RejectView| side_str(r.side))
        .register_get("price", |r: &mut RejectView| opt(r.price))
        .register_get("qty", |r: &mut RejectView| r.qty)
        .register_get("symbol", |r: &mut RejectView| r.symbol.clone());
}
