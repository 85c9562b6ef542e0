//! The market-data protocol of each venue, for the shared connection manager.

use std::sync::Arc;

use peregrine_engine::types::Instruments;

use crate::md::channels::Channels;
use crate::venue::{Venue, VenueProtocol};

/// Options that only some venues use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolOptions {
    /// Bybit category (spot or linear); ignored by the other venues.
    pub bybit_category: crate::bybit::Category,
    /// Websocket URL instead of the venue's public endpoint (e.g. a local server in tests).
    pub ws_url: Option<String>,
    /// The channels to subscribe to (`[[market_data]] channels`); `None`: the venue's
    /// default set (Coinbase's `heartbeats` is always subscribed).
    pub channels: Option<Channels>,
}

impl Default for ProtocolOptions {
    /// Bybit spot, the venue's own endpoint.
    fn default() -> Self {
        Self {
            bybit_category: crate::bybit::Category::Spot,
            ws_url: None,
            channels: None,
        }
    }
}

/// The market-data protocol of `venue` for its instruments in `instruments` (instruments of
/// other venues are ignored), connecting to `options.ws_url` if set. `None` for Binance, whose
/// protocol ([`crate::binance::feed::BinanceProtocol`]) also needs a REST endpoint for depth
/// snapshots: it is built from a [`crate::binance::feed::FeedConfig`].
pub fn market_data_protocol(
    venue: Venue,
    instruments: Arc<Instruments>,
    options: ProtocolOptions,
) -> Option<Box<dyn VenueProtocol>> {
    let url = options.ws_url;
    let channels = options.channels.as_ref();
    Some(match venue {
        Venue::Binance => return None,
        Venue::Bybit => Box::new(
            crate::bybit::protocol(instruments, options.bybit_category, channels)
                .with_url_override(url),
        ),
        Venue::Okx => Box::new(crate::okx::protocol(instruments, channels).with_url_override(url)),
        Venue::Kraken => {
            Box::new(crate::kraken::protocol(instruments, channels).with_url_override(url))
        }
        Venue::Coinbase => {
            Box::new(crate::coinbase::protocol(instruments, channels).with_url_override(url))
        }
    })
}

/// The frame normalizer of `venue` (for tools such as `peregrine normalize`). Every venue has
/// one; the `Option` is kept for callers written when Binance had none.
pub fn normalizer(venue: Venue) -> Option<Box<dyn crate::md::VenueNormalizer>> {
    Some(match venue {
        Venue::Binance => Box::new(crate::binance::Normalizer::new()),
        Venue::Bybit => Box::new(crate::bybit::Normalizer::new()),
        Venue::Okx => Box::new(crate::okx::Normalizer::new()),
        Venue::Kraken => Box::new(crate::kraken::Normalizer::new()),
        Venue::Coinbase => Box::new(crate::coinbase::Normalizer::new()),
    })
}
