//! What every venue adapter shares: the venue names, canonical-to-venue symbol mapping, and
//! the contract between a venue's websocket protocol and the shared connection manager.

use std::fmt;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;

use peregrine_engine::tick::Tick;
use peregrine_engine::types::InstrumentId;

/// A supported venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Venue {
    /// Binance spot (and the built-in simulator, which speaks its protocol).
    Binance,
    /// Bybit v5 (spot and linear).
    Bybit,
    /// OKX v5.
    Okx,
    /// Kraken spot websocket v2.
    Kraken,
    /// Coinbase Advanced Trade.
    Coinbase,
}

/// Every venue, in a fixed order.
pub const ALL_VENUES: [Venue; 5] = [
    Venue::Binance,
    Venue::Bybit,
    Venue::Okx,
    Venue::Kraken,
    Venue::Coinbase,
];

/// A venue name that is not one of [`ALL_VENUES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown venue `{0}` (expected one of: binance, bybit, okx, kraken, coinbase)")]
pub struct UnknownVenue(pub String);

/// A canonical symbol that cannot be mapped to a venue's spelling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("symbol `{0}` is not canonical BASE-QUOTE (e.g. BTC-USDT)")]
pub struct BadSymbol(pub String);

impl Venue {
    /// The lower-case name used in config files, the interchange format and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Bybit => "bybit",
            Venue::Okx => "okx",
            Venue::Kraken => "kraken",
            Venue::Coinbase => "coinbase",
        }
    }

    /// The venue's spelling of a canonical spot symbol `BASE-QUOTE`: Binance and Bybit
    /// `BTCUSDT`, OKX and Coinbase `BTC-USDT`, Kraken v2 `BTC/USDT`. (Derivatives such as
    /// OKX `-SWAP` or Bybit linear use the same spelling plus the venue's own market type,
    /// configured per instrument.)
    pub fn venue_symbol(self, canonical: &str) -> Result<String, BadSymbol> {
        let (base, quote) = split_canonical(canonical)?;
        Ok(match self {
            Venue::Binance | Venue::Bybit => format!("{base}{quote}"),
            Venue::Okx | Venue::Coinbase => format!("{base}-{quote}"),
            Venue::Kraken => format!("{base}/{quote}"),
        })
    }
}

/// Splits `BASE-QUOTE` (both non-empty, upper-case alphanumeric) into its parts.
pub fn split_canonical(canonical: &str) -> Result<(&str, &str), BadSymbol> {
    let bad = || BadSymbol(canonical.to_string());
    let (base, quote) = canonical.split_once('-').ok_or_else(bad)?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    if ok(base) && ok(quote) {
        Ok((base, quote))
    } else {
        Err(bad())
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Venue {
    type Err = UnknownVenue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_VENUES
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownVenue(s.to_string()))
    }
}

/// How a venue wants the connection kept alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heartbeat {
    /// Send a websocket ping frame this often (the venue answers with pong).
    WsPing(Duration),
    /// Send this text message this often (e.g. Bybit `{"op":"ping"}`, OKX `ping`).
    Text {
        /// Send interval.
        every: Duration,
        /// The message.
        payload: String,
    },
    /// The venue sends heartbeats itself; the client sends nothing.
    ServerOnly,
}

/// What one inbound text frame turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameOutcome {
    /// Market data; its ticks were emitted.
    Data,
    /// A subscription ack, pong or heartbeat: proves liveness, emits nothing.
    Control,
    /// The venue replied with an error (a refused subscription, a bad request); the manager
    /// logs and counts it.
    VenueError(String),
    /// A book lost sync (gap, bad checksum, crossed book). The protocol has already emitted
    /// a `Stale` status tick; the manager must resubscribe (it reconnects) so the venue sends
    /// a fresh snapshot.
    Resync(String),
    /// The venue announced it is about to close this connection (e.g. Binance's
    /// `serverShutdown` event): the manager replaces it at once, without backoff.
    Reconnect(String),
}

/// Why a protocol refused a frame: the reason it is counted under and the precise message the
/// manager logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FrameError {
    /// The counter it goes to.
    pub reason: crate::md::Reason,
    /// What was wrong, naming the field.
    pub message: String,
}

impl FrameError {
    /// A frame that is not what the protocol expects, outside the normalizer's own errors.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self {
            reason: crate::md::Reason::Malformed,
            message: message.into(),
        }
    }
}

impl From<crate::md::MdError> for FrameError {
    fn from(e: crate::md::MdError) -> Self {
        Self {
            reason: e.reason(),
            message: e.to_string(),
        }
    }
}

/// One venue's websocket market-data protocol, driven by the shared connection manager.
///
/// The manager owns the socket: connect, backoff, heartbeats, the stale-feed watchdog and the
/// scheduled reconnect. The protocol owns the bytes: what to subscribe to, and what a frame
/// means.
pub trait VenueProtocol: Send {
    /// The venue.
    fn venue(&self) -> Venue;

    /// The websocket URL to connect to.
    fn url(&self) -> String;

    /// Messages to send right after (re)connecting, in order.
    fn subscribe_messages(&self) -> Vec<String>;

    /// How to keep the connection alive.
    fn heartbeat(&self) -> Heartbeat;

    /// Longest a connection may live before the manager replaces it (Binance cuts at 24 h).
    fn max_session(&self) -> Option<Duration> {
        None
    }

    /// Called after every (re)connect, before subscribing: every book is untrusted until its
    /// new snapshot arrives.
    fn on_connect(&mut self, out: &mut dyn FnMut(Tick));

    /// Called when the connection is lost or replaced: emit `Disconnected`/`Stale` status.
    fn on_disconnect(&mut self, out: &mut dyn FnMut(Tick));

    /// Handles one text frame received at `recv_ns` ([`peregrine_engine::clock::Clock::now_ns`]).
    /// A refused frame is an `Err` with its reason and a precise message; the manager logs,
    /// counts it per reason and goes on.
    fn on_frame(
        &mut self,
        frame: &str,
        recv_ns: u64,
        out: &mut dyn FnMut(Tick),
    ) -> Result<FrameOutcome, FrameError>;

    /// Background work the protocol started itself (e.g. Binance's REST depth snapshot):
    /// the manager polls this alongside the socket. When a result is ready the protocol
    /// handles it, emitting ticks to `out`, and returns `Ready` with what it amounted to
    /// (`Resync` makes the manager reconnect). The default has no background work.
    fn poll_deferred(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut dyn FnMut(Tick),
    ) -> Poll<FrameOutcome> {
        let _ = (cx, out);
        Poll::Pending
    }

    /// The stale-feed watchdog fired (no text frame for the configured interval): emit a
    /// `Stale` status for every instrument. The manager then reconnects (and calls
    /// [`VenueProtocol::on_disconnect`]). The default emits nothing.
    fn on_stale(&mut self, out: &mut dyn FnMut(Tick)) {
        let _ = out;
    }

    /// A book tick of `instrument` could not be delivered (the tick queue was full), so the
    /// downstream book has a hole; the manager already owes downstream a `Stale` status for it.
    /// Return `Resync` to have the manager reconnect (the default: a fresh subscription
    /// brings a fresh snapshot), anything else if the protocol resyncs the book itself.
    fn on_book_tick_lost(&mut self, instrument: InstrumentId) -> FrameOutcome {
        FrameOutcome::Resync(format!(
            "a book tick of instrument {} was lost to a full queue",
            instrument.index()
        ))
    }
}

/// A boxed protocol (as [`crate::protocols::market_data_protocol`] returns) is a protocol,
/// so the connection manager can run venues chosen at run time.
impl<P: VenueProtocol + ?Sized> VenueProtocol for Box<P> {
    fn venue(&self) -> Venue {
        (**self).venue()
    }

    fn url(&self) -> String {
        (**self).url()
    }

    fn subscribe_messages(&self) -> Vec<String> {
        (**self).subscribe_messages()
    }

    fn heartbeat(&self) -> Heartbeat {
        (**self).heartbeat()
    }

    fn max_session(&self) -> Option<Duration> {
        (**self).max_session()
    }

    fn on_connect(&mut self, out: &mut dyn FnMut(Tick)) {
        (**self).on_connect(out)
    }

    fn on_disconnect(&mut self, out: &mut dyn FnMut(Tick)) {
        (**self).on_disconnect(out)
    }

    fn on_frame(
        &mut self,
        frame: &str,
        recv_ns: u64,
        out: &mut dyn FnMut(Tick),
    ) -> Result<FrameOutcome, FrameError> {
        (**self).on_frame(frame, recv_ns, out)
    }

    fn poll_deferred(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut dyn FnMut(Tick),
    ) -> Poll<FrameOutcome> {
        (**self).poll_deferred(cx, out)
    }

    fn on_stale(&mut self, out: &mut dyn FnMut(Tick)) {
        (**self).on_stale(out)
    }

    fn on_book_tick_lost(&mut self, instrument: InstrumentId) -> FrameOutcome {
        (**self).on_book_tick_lost(instrument)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in ALL_VENUES {
            assert_eq!(v.as_str().parse::<Venue>().unwrap(), v);
        }
        assert!("BINANCE".parse::<Venue>().is_ok());
        assert!("ftx".parse::<Venue>().is_err());
    }

    #[test]
    fn venue_symbols() {
        assert_eq!(Venue::Binance.venue_symbol("BTC-USDT").unwrap(), "BTCUSDT");
        assert_eq!(Venue::Bybit.venue_symbol("ETH-USDT").unwrap(), "ETHUSDT");
        assert_eq!(Venue::Okx.venue_symbol("BTC-USDT").unwrap(), "BTC-USDT");
        assert_eq!(Venue::Coinbase.venue_symbol("BTC-USD").unwrap(), "BTC-USD");
        assert_eq!(Venue::Kraken.venue_symbol("BTC-USD").unwrap(), "BTC/USD");
        assert!(Venue::Okx.venue_symbol("BTCUSDT").is_err());
        assert!(Venue::Okx.venue_symbol("btc-usdt").is_err());
        assert!(Venue::Okx.venue_symbol("-USDT").is_err());
    }
}
