//! Core value types shared by every stage: exact money, interned instruments, sides.

use std::collections::HashMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An exact price in quote currency. Never a float.
pub type Price = Decimal;
/// An exact quantity in base currency. Never a float.
pub type Qty = Decimal;

/// Which side of the book an order or level is on; for trades, the aggressor's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Bid side / a buy.
    Buy,
    /// Ask side / a sell.
    Sell,
}

impl Side {
    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// +1 for buys, -1 for sells, for signed position arithmetic.
    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }

    /// Lower-case name, as stored in the database (`buy`/`sell`).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An interned instrument: a small integer resolved once from a symbol, never per tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstrumentId(pub u32);

impl InstrumentId {
    /// The index of this instrument in its [`Instruments`] registry.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Static trading rules and names of one instrument on one venue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstrumentSpec {
    /// Canonical symbol, `BASE-QUOTE` (e.g. `BTC-USDT`).
    pub symbol: String,
    /// Venue name (e.g. `binance`).
    pub venue: String,
    /// The venue's own spelling (e.g. `BTCUSDT`).
    pub venue_symbol: String,
    /// Base asset (e.g. `BTC`).
    pub base: String,
    /// Quote asset (e.g. `USDT`).
    pub quote: String,
    /// Minimum price increment.
    pub tick_size: Price,
    /// Minimum quantity increment.
    pub lot_size: Qty,
}

impl InstrumentSpec {
    /// Builds a spec from a canonical `BASE-QUOTE` symbol; the venue symbol is `BASEQUOTE`
    /// (Binance's spelling). Returns `None` if the symbol has no `-`.
    pub fn from_canonical(
        venue: &str,
        symbol: &str,
        tick_size: Price,
        lot_size: Qty,
    ) -> Option<Self> {
        let (base, quote) = symbol.split_once('-')?;
        if base.is_empty() || quote.is_empty() {
            return None;
        }
        Some(Self {
            symbol: symbol.to_string(),
            venue: venue.to_string(),
            venue_symbol: format!("{base}{quote}").to_uppercase(),
            base: base.to_uppercase(),
            quote: quote.to_uppercase(),
            tick_size,
            lot_size,
        })
    }
}

/// The interning table: symbols to [`InstrumentId`] and back. Built at start, read-only after.
///
/// An instrument is one symbol on one venue, so `BTC-USDT` on Binance and on OKX are two
/// instruments. The venue of the first interned instrument is the registry's *primary* venue
/// (a run interns the trading venue's instruments first); [`Instruments::by_symbol`] and
/// [`Instruments::by_venue_symbol`] resolve on the primary venue only, and
/// [`Instruments::on_venue`] on any venue.
#[derive(Clone, Debug, Default)]
pub struct Instruments {
    specs: Vec<InstrumentSpec>,
    by_venue_symbol: HashMap<String, InstrumentId>,
    by_symbol: HashMap<String, InstrumentId>,
}

impl Instruments {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an instrument (or returns the id it already has: same venue, same symbol).
    pub fn intern(&mut self, spec: InstrumentSpec) -> InstrumentId {
        if let Some(id) = self.on_venue(&spec.venue, &spec.symbol) {
            return id;
        }
        let id = InstrumentId(self.specs.len() as u32);
        if self.primary_venue().is_none_or(|v| v == spec.venue) {
            self.by_venue_symbol.insert(spec.venue_symbol.clone(), id);
            self.by_symbol.insert(spec.symbol.clone(), id);
        }
        self.specs.push(spec);
        id
    }

    /// The venue of the first interned instrument (the trading venue of a run).
    pub fn primary_venue(&self) -> Option<&str> {
        self.specs.first().map(|s| s.venue.as_str())
    }

    /// Resolves a primary-venue spelling (`BTCUSDT`); case-sensitive, no allocation.
    pub fn by_venue_symbol(&self, venue_symbol: &str) -> Option<InstrumentId> {
        self.by_venue_symbol.get(venue_symbol).copied()
    }

    /// Resolves a canonical symbol (`BTC-USDT`) on the primary venue.
    pub fn by_symbol(&self, symbol: &str) -> Option<InstrumentId> {
        self.by_symbol.get(symbol).copied()
    }

    /// Resolves a canonical symbol on `venue` (a linear search: for set-up, not per tick).
    pub fn on_venue(&self, venue: &str, symbol: &str) -> Option<InstrumentId> {
        self.iter()
            .find(|(_, s)| s.venue == venue && s.symbol == symbol)
            .map(|(id, _)| id)
    }

    /// The spec of an interned instrument.
    pub fn spec(&self, id: InstrumentId) -> &InstrumentSpec {
        &self.specs[id.index()]
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True when nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// All (id, spec) pairs in id order.
    pub fn iter(&self) -> impl Iterator<Item = (InstrumentId, &InstrumentSpec)> {
        self.specs
            .iter()
            .enumerate()
            .map(|(i, s)| (InstrumentId(i as u32), s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(venue: &str, symbol: &str, venue_symbol: &str) -> InstrumentSpec {
        InstrumentSpec {
            venue_symbol: venue_symbol.into(),
            ..InstrumentSpec::from_canonical(venue, symbol, Decimal::ONE, Decimal::ONE)
                .expect("canonical")
        }
    }

    #[test]
    fn one_symbol_on_two_venues_is_two_instruments() {
        let mut r = Instruments::new();
        let bn = r.intern(spec("binance", "BTC-USDT", "BTCUSDT"));
        let bybit = r.intern(spec("bybit", "BTC-USDT", "BTCUSDT"));
        let okx = r.intern(spec("okx", "BTC-USDT", "BTC-USDT"));
        let okx_eth = r.intern(spec("okx", "ETH-USDT", "ETH-USDT"));
        assert_eq!(r.len(), 4);
        assert!(bn != bybit && bybit != okx && okx != okx_eth);
        // Interning again returns the same id.
        assert_eq!(r.intern(spec("okx", "BTC-USDT", "BTC-USDT")), okx);
        assert_eq!(r.len(), 4);
        // The primary venue (first interned) owns the unqualified lookups, even where another
        // venue spells the symbol the same way.
        assert_eq!(r.primary_venue(), Some("binance"));
        assert_eq!(r.by_symbol("BTC-USDT"), Some(bn));
        assert_eq!(r.by_venue_symbol("BTCUSDT"), Some(bn));
        assert_eq!(r.by_symbol("ETH-USDT"), None);
        assert_eq!(r.by_venue_symbol("ETH-USDT"), None);
        assert_eq!(r.on_venue("bybit", "BTC-USDT"), Some(bybit));
        assert_eq!(r.on_venue("okx", "ETH-USDT"), Some(okx_eth));
        assert_eq!(r.on_venue("kraken", "BTC-USDT"), None);
        assert_eq!(r.spec(okx).venue, "okx");
    }
}
