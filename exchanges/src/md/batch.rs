//! The messages of one frame, collected while the frame is read and passed on only once all
//! of it proved well-formed. Reused from frame to frame: no allocation once grown.
//!
//! A record refers to the frame by byte spans (it cannot borrow it across frames) and to its
//! book levels by a range of the shared level buffer. The first semantic error (a bad
//! number, a missing field) is kept and stops the collection: the records before it are still
//! passed, as [`super::VenueNormalizer`] promises.
//!
//! The value checks every venue shares are made here, once, as messages are collected: a
//! price must be positive (levels, trades, quotes; a quote's empty side is price and quantity
//! zero), a trade's quantity must not be zero, a symbol and a trade id must not be empty, and
//! a quote's bid must be below its ask ([`MdError::CrossedQuote`]). Signs and exponents never get this far: the decimal readers
//! refuse them ([`super::decimal`]).

use peregrine_engine::types::{Price, Qty, Side};

use super::{BookMsg, Level, MdError, Msg, MsgKind, QuoteMsg, TradeMsg};

/// A byte range of the frame.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// The span of `part`, a slice of `frame`.
    fn of(frame: &str, part: &str) -> Self {
        let start = (part.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
        Span {
            start,
            end: start.wrapping_add(part.len()),
        }
    }

    fn get(self, frame: &str) -> &str {
        frame.get(self.start..self.end).unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy)]
enum Body {
    Trade {
        price: Price,
        qty: Qty,
        side: Side,
        trade_id: Span,
    },
    Quote(QuoteMsg),
    /// `head.levels` is empty; the levels are `levels[start..end]` of the batch.
    Book {
        head: BookMsg<'static>,
        snapshot: Option<bool>,
        start: usize,
        end: usize,
    },
}

#[derive(Debug, Clone, Copy)]
struct Rec {
    symbol: Span,
    /// `None`: the frame's time, given when the batch is passed on.
    ts: Option<i64>,
    body: Body,
}

/// The value checks of a trade (unsigned prices and quantities are the decimal reader's): an
/// empty symbol or trade id, a zero price or a zero quantity. Every decoder applies them, the
/// binary one included.
#[inline]
pub fn trade_problem(symbol: &str, trade_id: &str, price: Price, qty: Qty) -> Option<MdError> {
    if symbol.is_empty() {
        Some(MdError::EmptySymbol)
    } else if trade_id.is_empty() {
        Some(MdError::EmptyTradeId)
    } else if price.is_zero() {
        Some(MdError::NonPositivePrice { field: "price" })
    } else if qty.is_zero() {
        Some(MdError::ZeroTradeQty { field: "qty" })
    } else {
        None
    }
}

/// The value checks of a quote: an empty symbol, a zero price with a quantity, or a bid at or
/// above the ask. An empty side is spelled price 0, quantity 0 (Binance's `bookTicker` of a
/// one-sided book).
#[inline]
pub fn quote_problem(symbol: &str, quote: &QuoteMsg) -> Option<MdError> {
    let bid_empty = quote.bid_px.is_zero() && quote.bid_qty.is_zero();
    let ask_empty = quote.ask_px.is_zero() && quote.ask_qty.is_zero();
    if symbol.is_empty() {
        Some(MdError::EmptySymbol)
    } else if quote.bid_px.is_zero() && !bid_empty {
        Some(MdError::NonPositivePrice { field: "bid_px" })
    } else if quote.ask_px.is_zero() && !ask_empty {
        Some(MdError::NonPositivePrice { field: "ask_px" })
    } else if !bid_empty && !ask_empty && quote.bid_px >= quote.ask_px {
        Some(crossed(symbol, quote))
    } else {
        None
    }
}

/// The error of a crossed quote (out of line: rare).
#[cold]
#[inline(never)]
fn crossed(symbol: &str, q: &QuoteMsg) -> MdError {
    MdError::CrossedQuote {
        symbol: symbol.to_string(),
        bid: q.bid_px.to_string(),
        ask: q.ask_px.to_string(),
    }
}

/// What a normalizer collects from one frame.
#[derive(Debug, Default)]
pub struct Batch {
    levels: Vec<Level>,
    recs: Vec<Rec>,
    error: Option<MdError>,
}

impl Batch {
    /// An empty batch with room for a typical frame.
    pub fn new() -> Self {
        Self {
            levels: Vec::with_capacity(64),
            recs: Vec::with_capacity(8),
            error: None,
        }
    }

    /// Empties the batch for the next frame.
    #[inline]
    pub fn clear(&mut self) {
        self.levels.clear();
        self.recs.clear();
        if self.error.is_some() {
            self.error = None;
        }
    }

    /// True once an error was kept: nothing more is collected.
    #[inline]
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Keeps `e` if it is the first error.
    #[inline]
    pub fn fail(&mut self, e: MdError) {
        self.error.get_or_insert(e);
    }

    /// Takes the kept error, if any.
    pub fn take_error(&mut self) -> Option<MdError> {
        self.error.take()
    }

    /// Collects `r`'s value, or keeps its error.
    #[inline]
    pub fn check<T>(&mut self, r: Result<T, MdError>) -> Option<T> {
        match r {
            Ok(v) if !self.failed() => Some(v),
            Ok(_) => None,
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// The number of levels collected so far (where the next book's levels start).
    #[inline]
    pub fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// Adds one level (a price of zero is kept as the batch's error instead).
    #[inline]
    pub fn push_level(&mut self, level: Level) {
        if level.1.is_zero() {
            self.fail(MdError::NonPositivePrice {
                field: "level price",
            });
            return;
        }
        self.levels.push(level);
    }

    /// Drops the levels from `start` on (a book that failed).
    pub fn truncate_levels(&mut self, start: usize) {
        self.levels.truncate(start);
    }

    /// Adds a trade; `symbol` and `trade_id` are slices of `frame`. An empty symbol or trade
    /// id, a zero price or a zero quantity is kept as the batch's error instead.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn trade(
        &mut self,
        frame: &str,
        symbol: &str,
        ts: i64,
        price: Price,
        qty: Qty,
        side: Side,
        trade_id: &str,
    ) {
        if self.failed() {
            return;
        }
        if let Some(e) = trade_problem(symbol, trade_id, price, qty) {
            self.fail(e);
            return;
        }
        self.recs.push(Rec {
            symbol: Span::of(frame, symbol),
            ts: Some(ts),
            body: Body::Trade {
                price,
                qty,
                side,
                trade_id: Span::of(frame, trade_id),
            },
        });
    }

    /// Adds a quote; `ts: None` takes the frame's time. An empty symbol, a zero price with a
    /// quantity, or a bid at or above the ask is kept as the batch's error instead.
    #[inline]
    pub fn quote(&mut self, frame: &str, symbol: &str, ts: Option<i64>, quote: QuoteMsg) {
        if self.failed() {
            return;
        }
        if let Some(e) = quote_problem(symbol, &quote) {
            self.fail(e);
            return;
        }
        self.recs.push(Rec {
            symbol: Span::of(frame, symbol),
            ts,
            body: Body::Quote(quote),
        });
    }

    /// Adds a book message over the levels collected from `start` on (`head.levels` is
    /// ignored); `ts: None` takes the frame's time, `snapshot: None` the frame's kind.
    #[inline]
    pub fn book(
        &mut self,
        frame: &str,
        symbol: &str,
        ts: Option<i64>,
        snapshot: Option<bool>,
        start: usize,
        head: BookMsg<'_>,
    ) {
        if symbol.is_empty() {
            self.fail(MdError::EmptySymbol);
        }
        if self.failed() {
            self.levels.truncate(start);
            return;
        }
        self.recs.push(Rec {
            symbol: Span::of(frame, symbol),
            ts,
            body: Body::Book {
                head: BookMsg {
                    levels: &[],
                    ..head
                },
                snapshot,
                start,
                end: self.levels.len(),
            },
        });
    }

    /// Adds a book message for a frame that names no symbol (Binance's REST depth snapshot
    /// and its raw partial-depth stream): the message's symbol is empty, the consumer knows
    /// the instrument from its own request. Otherwise as [`Batch::book`].
    pub fn book_unnamed(
        &mut self,
        ts: Option<i64>,
        snapshot: Option<bool>,
        start: usize,
        head: BookMsg<'_>,
    ) {
        if self.failed() {
            self.levels.truncate(start);
            return;
        }
        self.recs.push(Rec {
            symbol: Span { start: 0, end: 0 },
            ts,
            body: Body::Book {
                head: BookMsg {
                    levels: &[],
                    ..head
                },
                snapshot,
                start,
                end: self.levels.len(),
            },
        });
    }

    /// Sets the sequence of every quote and book message collected (a per-frame sequence such
    /// as Coinbase's `sequence_num`).
    pub fn set_seq(&mut self, seq: Option<u64>) {
        for rec in &mut self.recs {
            match &mut rec.body {
                Body::Quote(q) => q.seq = seq,
                Body::Book { head, .. } => head.seq = seq,
                Body::Trade { .. } => {}
            }
        }
    }

    /// Passes the collected messages to `sink` in order (`ts`, `snapshot`: the frame's time
    /// and kind, for messages that have none of their own), then returns the kept error.
    pub fn emit<'a>(
        &mut self,
        frame: &'a str,
        ts: i64,
        snapshot: bool,
        sink: &mut dyn FnMut(&Msg<'a, '_>),
    ) -> Result<(), MdError> {
        for rec in &self.recs {
            let kind = match rec.body {
                Body::Trade {
                    price,
                    qty,
                    side,
                    trade_id,
                } => MsgKind::Trade(TradeMsg {
                    price,
                    qty,
                    side,
                    trade_id: trade_id.get(frame),
                }),
                Body::Quote(q) => MsgKind::Quote(q),
                Body::Book {
                    head,
                    snapshot: own,
                    start,
                    end,
                } => MsgKind::Book(BookMsg {
                    snapshot: own.unwrap_or(snapshot),
                    levels: self.levels.get(start..end).unwrap_or(&[]),
                    ..head
                }),
            };
            sink(&Msg {
                symbol: rec.symbol.get(frame),
                exch_ts_ns: rec.ts.unwrap_or(ts),
                kind,
            });
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
