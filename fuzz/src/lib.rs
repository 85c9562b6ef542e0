//! The checks every fuzz target runs (one target per venue, `fuzz_targets/`).
//!
//! An input is one or more frames, one per line (the seed corpus holds the documented frames
//! of `tests/frames/` and the normalizer tests, each alone and each venue's file whole). Every
//! frame goes through the venue's normalizer, and (all venues but Binance, whose protocol needs
//! a REST endpoint) through its `MdProtocol` on one registry, so a sequence of frames drives
//! the book sequencer. Besides "no panic, no hang", what comes out must hold the shared
//! reader's promises:
//! - a message has a non-empty symbol; a trade a positive price, a positive quantity and a
//!   non-empty id; a quote positive prices with bid below ask; a book level a positive price;
//!   no quantity is negative;
//! - every price and quantity is the frame's own decimal text (never rewritten: its
//!   `Display` occurs in the frame);
//! - a book the sequencer holds in sync is never crossed, and its ticks have positive prices.

use std::sync::Arc;

use peregrine_engine::tick::TickKind;
use peregrine_engine::types::{InstrumentSpec, Instruments};
use peregrine_exchanges::md::protocol::MdProtocol;
use peregrine_exchanges::md::{Msg, MsgKind, VenueNormalizer};
use peregrine_exchanges::protocols::normalizer;
use peregrine_exchanges::venue::{Venue, VenueProtocol};
use peregrine_exchanges::{bybit, coinbase, kraken, okx};
use rust_decimal::Decimal;

/// Runs `data` (UTF-8 frames, one per line) through `venue`'s decoders; panics when an
/// invariant is broken.
pub fn check(venue: Venue, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(mut n) = normalizer(venue) else {
        return;
    };
    let mut proto = Protocol::new(venue);
    for (i, frame) in text.split('\n').enumerate() {
        let _ = n.normalize(frame, &mut |m| check_msg(frame, m));
        if let Some(p) = proto.as_mut() {
            p.frame(frame, i as u64);
        }
    }
}

/// Runs `data` (one binary frame) through the Binance SBE decoder; panics when a message breaks
/// the shared reader's promises (there is no text to compare decimals with).
pub fn check_sbe(data: &[u8]) {
    let mut d = peregrine_exchanges::binance::sbe::SbeDecoder::new();
    let _ = d.decode(data, &mut |m| check_values(m));
}

fn positive(d: Decimal) -> bool {
    d > Decimal::ZERO
}

/// The decimal's text occurs in the frame: it was kept as sent.
fn kept(frame: &str, what: &str, d: Decimal) {
    let text = d.to_string();
    assert!(
        frame.contains(&text),
        "{what} {text} is not the frame's text: {frame}"
    );
}

fn check_msg(frame: &str, m: &Msg<'_, '_>) {
    check_values(m);
    match m.kind {
        MsgKind::Trade(t) => {
            kept(frame, "price", t.price);
            kept(frame, "qty", t.qty);
        }
        MsgKind::Quote(q) => {
            for (what, d) in [
                ("bid", q.bid_px),
                ("bid qty", q.bid_qty),
                ("ask", q.ask_px),
                ("ask qty", q.ask_qty),
            ] {
                kept(frame, what, d);
            }
        }
        MsgKind::Book(b) => {
            for &(_, p, q) in b.levels {
                kept(frame, "level price", p);
                kept(frame, "level qty", q);
            }
        }
    }
}

/// The value promises of one message, whatever its encoding.
fn check_values(m: &Msg<'_, '_>) {
    // Binance's REST depth snapshot names no symbol (the caller knows it): only a snapshot may.
    let snapshot = matches!(m.kind, MsgKind::Book(b) if b.snapshot);
    assert!(snapshot || !m.symbol.is_empty(), "empty symbol: {m:?}");
    match m.kind {
        MsgKind::Trade(t) => {
            assert!(positive(t.price), "trade price: {m:?}");
            assert!(positive(t.qty), "trade qty: {m:?}");
            assert!(!t.trade_id.is_empty(), "empty trade id: {m:?}");
        }
        MsgKind::Quote(q) => {
            // An empty side is price 0, quantity 0 (a one-sided book); else a positive price.
            let bid_empty = q.bid_px.is_zero() && q.bid_qty.is_zero();
            let ask_empty = q.ask_px.is_zero() && q.ask_qty.is_zero();
            assert!(
                (bid_empty || positive(q.bid_px)) && (ask_empty || positive(q.ask_px)),
                "quote prices: {m:?}"
            );
            assert!(
                bid_empty || ask_empty || q.bid_px < q.ask_px,
                "crossed quote passed: {m:?}"
            );
            assert!(
                !q.bid_qty.is_sign_negative() && !q.ask_qty.is_sign_negative(),
                "negative quote qty: {m:?}"
            );
        }
        MsgKind::Book(b) => {
            for &(_, p, q) in b.levels {
                assert!(positive(p), "level price {p}: {m:?}");
                assert!(!q.is_sign_negative(), "level qty {q}: {m:?}");
            }
        }
    }
}

/// A venue's market-data protocol over the symbols of its seed frames.
enum Protocol {
    Bybit(MdProtocol<bybit::Normalizer>),
    Okx(MdProtocol<okx::Normalizer>),
    Kraken(MdProtocol<kraken::Normalizer>),
    Coinbase(MdProtocol<coinbase::Normalizer>),
}

fn registry(venue: &str, symbols: &[(&str, Option<&str>, &str, &str)]) -> Arc<Instruments> {
    let mut r = Instruments::new();
    for &(canonical, venue_symbol, tick, lot) in symbols {
        let d = |s: &str| Decimal::from_str_exact(s).expect("a decimal literal");
        let mut spec = InstrumentSpec::from_canonical(venue, canonical, d(tick), d(lot))
            .expect("a canonical symbol");
        if let Some(s) = venue_symbol {
            spec.venue_symbol = s.to_string();
        }
        r.intern(spec);
    }
    Arc::new(r)
}

impl Protocol {
    fn new(venue: Venue) -> Option<Self> {
        Some(match venue {
            Venue::Binance => return None,
            Venue::Bybit => Self::Bybit(bybit::protocol(
                registry("bybit", &[("BTC-USDT", None, "0.01", "0.001")]),
                bybit::Category::Linear,
                None,
            )),
            Venue::Okx => Self::Okx(okx::protocol(
                registry(
                    "okx",
                    &[
                        ("BTC-USDT", None, "0.01", "0.00000001"),
                        ("BCH-USDT", Some("BCH-USDT-SWAP"), "0.01", "1"),
                    ],
                ),
                None,
            )),
            Venue::Kraken => Self::Kraken(kraken::protocol(
                registry(
                    "kraken",
                    &[
                        ("BTC-USD", None, "0.1", "0.00000001"),
                        ("ALGO-USD", None, "0.00001", "0.00000001"),
                        ("MATIC-USD", None, "0.0001", "0.00000001"),
                    ],
                ),
                None,
            )),
            Venue::Coinbase => Self::Coinbase(coinbase::protocol(
                registry(
                    "coinbase",
                    &[
                        ("BTC-USD", None, "0.01", "0.00000001"),
                        ("ETH-USD", None, "0.01", "0.00000001"),
                    ],
                ),
                None,
            )),
        })
    }

    fn frame(&mut self, frame: &str, recv_ns: u64) {
        match self {
            Self::Bybit(p) => run(p, frame, recv_ns),
            Self::Okx(p) => run(p, frame, recv_ns),
            Self::Kraken(p) => run(p, frame, recv_ns),
            Self::Coinbase(p) => run(p, frame, recv_ns),
        }
    }
}

fn run<N: VenueNormalizer>(p: &mut MdProtocol<N>, frame: &str, recv_ns: u64) {
    let _ = p.on_frame(frame, recv_ns, &mut |t| {
        if let TickKind::BookDelta(d) = t.kind {
            assert!(positive(d.price), "book tick price {}: {frame}", d.price);
            assert!(
                !d.qty.is_sign_negative(),
                "book tick qty {}: {frame}",
                d.qty
            );
        }
    });
    let ids: Vec<_> = p.instruments().iter().map(|(id, _)| id).collect();
    for id in ids {
        if let Some(b) = p.book(id) {
            assert!(
                !(b.is_synced() && b.book().is_crossed()),
                "a crossed book is in sync after: {frame}"
            );
        }
    }
}
