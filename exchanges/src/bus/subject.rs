//! Bus subjects: `<prefix>.md.<venue>.<symbol>.<kind>` for market data (kinds: `trade`,
//! `quote`, `book_delta`, `book_snapshot`, `bar`, `status`) and `<prefix>.snap.<venue>.<symbol>`
//! for book snapshot requests. The prefix is `peregrine` unless configured (tests give each
//! their own so they can share one server). Venue and symbol are the registry's names
//! (`binance`, `BTC-USDT`).

use super::codec::Kind;

/// The default subject prefix.
pub const DEFAULT_PREFIX: &str = "peregrine";

/// A subject token is invalid: empty, or holding `.`, `*`, `>` or whitespace.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} {token:?} cannot be a NATS subject token (empty, or has '.', '*', '>' or whitespace)"
)]
pub struct TokenError {
    /// Which name (prefix, venue, symbol).
    pub what: &'static str,
    /// The name.
    pub token: String,
}

/// Checks one subject token (a prefix may have several, joined by `.`).
pub fn check_token(what: &'static str, token: &str) -> Result<(), TokenError> {
    let bad = token.is_empty()
        || token
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace());
    if bad {
        return Err(TokenError {
            what,
            token: token.to_string(),
        });
    }
    Ok(())
}

/// The subjects under one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Default for Subjects {
    fn default() -> Self {
        Subjects {
            prefix: DEFAULT_PREFIX.to_string(),
        }
    }
}

impl Subjects {
    /// Subjects under `prefix` (one or more tokens joined by `.`).
    pub fn new(prefix: &str) -> Result<Self, TokenError> {
        for t in prefix.split('.') {
            check_token("subject prefix", t).map_err(|_| TokenError {
                what: "subject prefix",
                token: prefix.to_string(),
            })?;
        }
        Ok(Subjects {
            prefix: prefix.to_string(),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.md.<venue>.<symbol>.<kind>`; venue and symbol must be valid tokens
    /// ([`check_token`], checked once when a feed or consumer starts).
    pub fn md(&self, venue: &str, symbol: &str, kind: Kind) -> String {
        format!("{}.md.{venue}.{symbol}.{}", self.prefix, kind.token())
    }

    /// `<prefix>.md.>`: every market-data subject (what the JetStream stream captures).
    pub fn md_all(&self) -> String {
        format!("{}.md.>", self.prefix)
    }

    /// `<prefix>.md.<venue>.<symbol>.*`: one instrument's subjects.
    pub fn md_instrument(&self, venue: &str, symbol: &str) -> String {
        format!("{}.md.{venue}.{symbol}.*", self.prefix)
    }

    /// `<prefix>.snap.<venue>.<symbol>`: where a book snapshot is requested.
    pub fn snapshot_request(&self, venue: &str, symbol: &str) -> String {
        format!("{}.snap.{venue}.{symbol}", self.prefix)
    }

    /// `<prefix>.snap.>`: every snapshot request subject (what the feed answers).
    pub fn snapshot_all(&self) -> String {
        format!("{}.snap.>", self.prefix)
    }

    /// `<prefix>.hb`: the feed node's heartbeat (core NATS, not in the stream); engines
    /// that hear none for a while mark their books stale.
    pub fn heartbeat(&self) -> String {
        format!("{}.hb", self.prefix)
    }

    /// Venue, symbol and kind of a market-data subject under this prefix.
    pub fn parse_md<'a>(&self, subject: &'a str) -> Option<(&'a str, &'a str, Kind)> {
        let rest = subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".md.")?;
        let mut it = rest.split('.');
        let (venue, symbol, kind) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        Some((venue, symbol, Kind::from_token(kind)?))
    }

    /// Venue and symbol of a snapshot request subject under this prefix.
    pub fn parse_snapshot<'a>(&self, subject: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".snap.")?;
        let (venue, symbol) = rest.split_once('.')?;
        (!symbol.contains('.')).then_some((venue, symbol))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_and_bad_tokens_are_refused() {
        let s = Subjects::default();
        let subj = s.md("binance", "BTC-USDT", Kind::BookDelta);
        assert_eq!(subj, "peregrine.md.binance.BTC-USDT.book_delta");
        assert_eq!(
            s.parse_md(&subj),
            Some(("binance", "BTC-USDT", Kind::BookDelta))
        );
        assert_eq!(s.parse_md("peregrine.md.binance.BTC-USDT.candle"), None);
        assert_eq!(s.parse_md("other.md.binance.BTC-USDT.trade"), None);
        assert_eq!(
            s.parse_snapshot(&s.snapshot_request("okx", "ETH-USDT")),
            Some(("okx", "ETH-USDT"))
        );
        for k in Kind::ALL {
            assert_eq!(Kind::from_token(k.token()), Some(k));
        }
        let t = Subjects::new("t1_bus.a").unwrap();
        assert_eq!(t.md_all(), "t1_bus.a.md.>");
        for bad in ["", "a..b", "a.*", "a b", "x>"] {
            assert!(Subjects::new(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "BTC.USDT", "BTC*", "BTC USDT"] {
            assert!(check_token("symbol", bad).is_err(), "{bad:?}");
        }
        check_token("symbol", "BTC-USDT").unwrap();
    }
}
