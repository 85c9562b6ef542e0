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

    /// Adds an instrument (or returns the id it already has).
    pub fn intern(&mut self, spec: InstrumentSpec) -> InstrumentId {
        if let Some(id) = self.by_symbol.get(&spec.symbol) {
            return *id;
        }
        let id = InstrumentId(self.specs.len() as u32);
        self.by_venue_symbol.insert(spec.venue_symbol.clone(), id);
        self.by_symbol.insert(spec.symbol.clone(), id);
        self.specs.push(spec);
        id
    }

    /// Resolves a venue's spelling (`BTCUSDT`); case-sensitive, no allocation.
    pub fn by_venue_symbol(&self, venue_symbol: &str) -> Option<InstrumentId> {
        self.by_venue_symbol.get(venue_symbol).copied()
    }

    /// Resolves a canonical symbol (`BTC-USDT`).
    pub fn by_symbol(&self, symbol: &str) -> Option<InstrumentId> {
        self.by_symbol.get(symbol).copied()
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
