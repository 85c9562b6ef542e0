//! The market-data protocol of each venue, for the shared connection manager.

use std::sync::Arc;

use peregrine_engine::types::Instruments;

use crate::venue::{Venue, VenueProtocol};

/// Options that only some venues use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolOptions {
    /// Bybit category (spot or linear); ignored by the other venues.
    pub bybit_category: crate::bybit::Category,
}

impl Default for ProtocolOptions {
    fn default() -> Self {
        Self {
            bybit_category: crate::bybit::Category::Spot,
        }
    }
}

/// The market-data protocol of `venue` for its instruments in `instruments` (instruments of
/// other venues are ignored). `None` for Binance, whose feed ([`crate::binance::feed`]) still
/// drives its own socket and REST snapshot until it moves onto the connection manager.
pub fn market_data_protocol(
    venue: Venue,
    instruments: Arc<Instruments>,
    options: ProtocolOptions,
) -> Option<Box<dyn VenueProtocol>> {
    Some(match venue {
        Venue::Binance => return None,
        Venue::Bybit => Box::new(crate::bybit::protocol(instruments, options.bybit_category)),
        Venue::Okx => Box::new(crate::okx::protocol(instruments)),
        Venue::Kraken => Box::new(crate::kraken::protocol(instruments)),
        Venue::Coinbase => Box::new(crate::coinbase::protocol(instruments)),
    })
}

/// The frame normalizer of `venue` (for tools such as `peregrine normalize`). `None` for
/// Binance, whose normalizer ([`crate::binance::Normalizer`]) emits `Tick`s directly.
pub fn normalizer(venue: Venue) -> Option<Box<dyn crate::md::VenueNormalizer>> {
    Some(match venue {
        Venue::Binance => return None,
        Venue::Bybit => Box::new(crate::bybit::Normalizer::new()),
        Venue::Okx => Box::new(crate::okx::Normalizer::new()),
        Venue::Kraken => Box::new(crate::kraken::Normalizer::new()),
        Venue::Coinbase => Box::new(crate::coinbase::Normalizer::new()),
    })
}
