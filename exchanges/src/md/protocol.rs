//! One [`VenueProtocol`] implementation for every venue whose normalizer yields [`Msg`]s:
//! symbols resolved to instruments, trades and quotes to ticks, book messages through the
//! shared [`BookSequencer`], connection-level sequence gaps (Coinbase) detected here.

use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::tick::{FeedStatus, Quote, Tick, TickKind, Trade};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments};

use super::{trade_id_u64, FrameKind, MdError, Msg, MsgKind, VenueNormalizer};
use crate::book_sync::{BookRule, BookSequencer, SyncOutcome};
use crate::venue::{FrameError, FrameOutcome, Heartbeat, Venue, VenueProtocol};

/// The venue-specific, non-parsing half of a protocol: where to connect, what to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    /// Websocket URL.
    pub url: String,
    /// Messages to send after (re)connecting.
    pub subscribe: Vec<String>,
    /// Keep-alive rule.
    pub heartbeat: Heartbeat,
    /// Longest connection life, if the venue cuts connections.
    pub max_session: Option<Duration>,
}

/// A market-data protocol: a venue normalizer, its wiring, and one book sequencer per
/// instrument.
pub struct MdProtocol<N> {
    normalizer: N,
    wiring: Wiring,
    instruments: Arc<Instruments>,
    /// `(venue symbol, instrument, index into books)`, searched linearly (a connection carries
    /// a handful of symbols).
    symbols: Vec<(Box<str>, InstrumentId)>,
    books: Vec<BookSequencer>,
    last_conn_seq: Option<u64>,
    unknown_symbols: u64,
}

impl<N: VenueNormalizer> MdProtocol<N> {
    /// A protocol for the instruments of `instruments` that belong to the normalizer's venue;
    /// `rule` gives each instrument's book rule.
    pub fn new(
        normalizer: N,
        wiring: Wiring,
        instruments: Arc<Instruments>,
        rule: impl Fn(&InstrumentSpec) -> BookRule,
    ) -> Self {
        let venue = normalizer.venue();
        let mut symbols = Vec::new();
        let mut books = Vec::new();
        for (id, spec) in instruments.iter() {
            if spec.venue.eq_ignore_ascii_case(venue.as_str()) {
                symbols.push((resolve_venue_symbol(venue, spec).into(), id));
                books.push(BookSequencer::new(id, rule(spec)));
            }
        }
        Self {
            normalizer,
            wiring,
            instruments,
            symbols,
            books,
            last_conn_seq: None,
            unknown_symbols: 0,
        }
    }

    /// Connects to `url` instead of the venue's endpoint, if given.
    pub fn with_url_override(mut self, url: Option<String>) -> Self {
        if let Some(url) = url {
            self.wiring.url = url;
        }
        self
    }

    /// The instrument registry.
    pub fn instruments(&self) -> &Arc<Instruments> {
        &self.instruments
    }

    /// The book sequencer of `id`, if it is one of this protocol's instruments.
    pub fn book(&self, id: InstrumentId) -> Option<&BookSequencer> {
        self.books.iter().find(|b| b.instrument() == id)
    }

    /// Stale events counted over all books.
    pub fn stale_events(&self) -> u64 {
        self.books.iter().map(BookSequencer::stale_events).sum()
    }

    /// Messages dropped because their symbol is not configured.
    pub fn unknown_symbols(&self) -> u64 {
        self.unknown_symbols
    }

    fn all_status(&self, status: FeedStatus, recv_ns: u64, out: &mut dyn FnMut(Tick)) {
        for &(_, instrument) in &self.symbols {
            out(Tick {
                instrument,
                exch_ts_ns: 0,
                recv_ns,
                kind: TickKind::Status(status),
            });
        }
    }
}

impl<N: VenueNormalizer> VenueProtocol for MdProtocol<N> {
    fn venue(&self) -> Venue {
        self.normalizer.venue()
    }

    fn url(&self) -> String {
        self.wiring.url.clone()
    }

    fn subscribe_messages(&self) -> Vec<String> {
        self.wiring.subscribe.clone()
    }

    fn heartbeat(&self) -> Heartbeat {
        self.wiring.heartbeat.clone()
    }

    fn max_session(&self) -> Option<Duration> {
        self.wiring.max_session
    }

    fn on_connect(&mut self, _out: &mut dyn FnMut(Tick)) {
        self.last_conn_seq = None;
        self.books.iter_mut().for_each(BookSequencer::reset);
    }

    fn on_disconnect(&mut self, out: &mut dyn FnMut(Tick)) {
        self.books.iter_mut().for_each(BookSequencer::reset);
        self.all_status(FeedStatus::Disconnected, 0, out);
    }

    /// The watchdog saw no frame for too long: every book is stale (the manager reconnects).
    fn on_stale(&mut self, out: &mut dyn FnMut(Tick)) {
        self.books.iter_mut().for_each(BookSequencer::reset);
        self.all_status(FeedStatus::Stale, 0, out);
    }

    fn on_frame(
        &mut self,
        frame: &str,
        recv_ns: u64,
        out: &mut dyn FnMut(Tick),
    ) -> Result<FrameOutcome, FrameError> {
        let mut resync: Option<String> = None;
        let symbols = &self.symbols;
        let books = &mut self.books;
        let unknown = &mut self.unknown_symbols;
        let parsed = self.normalizer.normalize(frame, &mut |msg| {
            let Some(pos) = symbols.iter().position(|(s, _)| **s == *msg.symbol) else {
                *unknown += 1;
                return;
            };
            let instrument = symbols[pos].1;
            match msg.kind {
                MsgKind::Trade(_) | MsgKind::Quote(_) => {
                    if let Some(t) = market_tick(instrument, msg, recv_ns) {
                        out(t);
                    }
                }
                MsgKind::Book(b) => {
                    if let SyncOutcome::Resync(reason) =
                        books[pos].on_book(&b, msg.exch_ts_ns, recv_ns, out)
                    {
                        resync.get_or_insert(reason);
                    }
                }
            }
        });
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                if let MdError::CrossedQuote { symbol, .. } = &e {
                    // A crossed top of book: the quote is not passed on and the book is
                    // stale until its next snapshot.
                    if let Some(pos) = self.symbols.iter().position(|(s, _)| **s == **symbol) {
                        self.books[pos].mark_stale(0, recv_ns, out);
                    }
                }
                return Err(e.into());
            }
        };
        if let Some(seq) = parsed.conn_seq {
            let prev = self.last_conn_seq.replace(seq);
            if let Some(prev) = prev {
                if seq != prev.wrapping_add(1) && resync.is_none() {
                    for b in &mut self.books {
                        b.mark_stale(0, recv_ns, out);
                    }
                    resync = Some(format!("connection sequence gap: {seq} after {prev}"));
                }
            }
        }
        if let Some(reason) = resync {
            return Ok(FrameOutcome::Resync(reason));
        }
        Ok(match parsed.kind {
            FrameKind::Data => FrameOutcome::Data,
            FrameKind::Control => FrameOutcome::Control,
            FrameKind::VenueError(e) => FrameOutcome::VenueError(e),
        })
    }
}

/// The tick of a trade or quote message of `instrument` (`None` for a book message, which
/// goes through the book sequencer).
#[inline]
pub(crate) fn market_tick(
    instrument: InstrumentId,
    msg: &Msg<'_, '_>,
    recv_ns: u64,
) -> Option<Tick> {
    let kind = match msg.kind {
        MsgKind::Trade(t) => TickKind::Trade(Trade {
            price: t.price,
            qty: t.qty,
            side: t.side,
            trade_id: trade_id_u64(t.trade_id),
        }),
        MsgKind::Quote(q) => TickKind::Quote(Quote {
            bid_px: q.bid_px,
            bid_qty: q.bid_qty,
            ask_px: q.ask_px,
            ask_qty: q.ask_qty,
            update_id: q.seq.unwrap_or(0),
        }),
        MsgKind::Book(_) => return None,
    };
    Some(Tick {
        instrument,
        exch_ts_ns: msg.exch_ts_ns,
        recv_ns,
        kind,
    })
}

/// The venue symbols of the instruments that belong to `venue`.
pub fn venue_symbols(instruments: &Instruments, venue: Venue) -> Vec<String> {
    instruments
        .iter()
        .filter(|(_, s)| s.venue.eq_ignore_ascii_case(venue.as_str()))
        .map(|(_, s)| resolve_venue_symbol(venue, s))
        .collect()
}

/// The symbol to subscribe to and match frames on: the configured `venue_symbol` when it was
/// set explicitly (e.g. OKX `BTC-USDT-SWAP`), else the venue's spelling of the canonical
/// symbol (a spec built by `InstrumentSpec::from_canonical` carries Binance's `BASEQUOTE`).
pub fn resolve_venue_symbol(venue: Venue, spec: &InstrumentSpec) -> String {
    let default = format!("{}{}", spec.base, spec.quote);
    if spec.venue_symbol != default {
        return spec.venue_symbol.clone();
    }
    venue
        .venue_symbol(&spec.symbol)
        .unwrap_or_else(|_| spec.venue_symbol.clone())
}
