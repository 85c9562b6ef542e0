//! Which of a venue's public channels a connection subscribes to (`[[market_data]] channels`),
//! by the venue's own names. The names each venue accepts and the one-book rule are the
//! config's ([`peregrine_engine::config::market_data::VENUE_CHANNELS`], checked by
//! [`check_channels`]): one list, used by the config check and here.

use peregrine_engine::config::market_data::{check_channels, VENUE_CHANNELS};

use crate::venue::Venue;

/// A checked set of channel names of one venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    names: Vec<&'static str>,
}

/// A `channels` list the venue does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{venue} channels: {problem}")]
pub struct ChannelError {
    /// The venue.
    pub venue: Venue,
    /// What is wrong (unknown name, listed twice, two book channels, empty).
    pub problem: String,
}

impl Channels {
    /// The channels `names` of `venue`, checked as the config checks them.
    pub fn parse(venue: Venue, names: &[String]) -> Result<Self, ChannelError> {
        let fail = |problem| ChannelError { venue, problem };
        check_channels(venue.as_str(), names).map_err(fail)?;
        let all = venue_names(venue).ok_or_else(|| fail("no selectable channels".into()))?;
        let names = names
            .iter()
            .filter_map(|n| all.iter().copied().find(|a| *a == n.as_str()))
            .collect();
        Ok(Self { names })
    }

    /// `defaults` as a set (each venue's own default subscription).
    pub(crate) fn of(names: &[&'static str]) -> Self {
        Self {
            names: names.to_vec(),
        }
    }

    /// True if `name` is subscribed.
    pub fn has(&self, name: &str) -> bool {
        self.names.contains(&name)
    }

    /// The names, in the order given.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }
}

/// Every channel name `venue` accepts.
fn venue_names(venue: Venue) -> Option<&'static [&'static str]> {
    VENUE_CHANNELS
        .iter()
        .find(|(v, ..)| *v == venue.as_str())
        .map(|(_, all, _)| *all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_venue_names_and_refuses_the_rest() {
        let c = Channels::parse(Venue::Okx, &names(&["tickers", "books5"])).expect("valid");
        assert_eq!(c.names(), ["tickers", "books5"]);
        assert!(c.has("books5") && !c.has("books"));
        let e = Channels::parse(Venue::Okx, &names(&["books", "books5"])).unwrap_err();
        assert!(
            e.to_string().starts_with("okx channels: at most one book"),
            "{e}"
        );
        assert!(Channels::parse(Venue::Bybit, &names(&["books5"])).is_err());
        // Binance's stream names (`[venue] channels`), not another venue's.
        assert!(Channels::parse(Venue::Binance, &names(&["trade", "depth5"])).is_ok());
        assert!(Channels::parse(Venue::Binance, &names(&["trades"])).is_err());
        assert!(Channels::parse(Venue::Binance, &names(&["depth", "depth20"])).is_err());
    }
}
