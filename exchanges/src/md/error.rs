//! Why a frame was refused: the typed error of every venue normalizer, and the fixed list of
//! reasons it is counted under (`FeedStats::rejected`, `/metrics`
//! `peregrine_venue_feed_rejected_total{venue,reason}`).

/// Why a frame could not be normalized. Names the field and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MdError {
    /// Not valid JSON, or a field of the wrong JSON type.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A key the normalizer reads appears twice in one object (no "last one wins").
    #[error("duplicate key `{0}`")]
    DuplicateKey(String),
    /// A field the message kind requires is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A number could not be read exactly.
    #[error("field `{field}`: bad number {value:?}")]
    BadNumber {
        /// The venue's field name.
        field: &'static str,
        /// The offending text.
        value: String,
    },
    /// A decimal in exponent form (`1.5E+3`): refused, since its text cannot be kept as sent.
    #[error("field `{field}`: decimal in exponent form {value:?} refused")]
    Exponent {
        /// The venue's field name.
        field: &'static str,
        /// The offending text.
        value: String,
    },
    /// A signed decimal (`-1`, and `-0` too: it would be rewritten as `0`).
    #[error("field `{field}`: negative number")]
    Negative {
        /// The venue's field name.
        field: &'static str,
    },
    /// A price of zero (prices must be positive).
    #[error("field `{field}`: price is not positive")]
    NonPositivePrice {
        /// The venue's field name.
        field: &'static str,
    },
    /// A trade of zero quantity.
    #[error("field `{field}`: trade quantity is zero")]
    ZeroTradeQty {
        /// The venue's field name.
        field: &'static str,
    },
    /// An empty symbol.
    #[error("empty symbol")]
    EmptySymbol,
    /// An empty trade id.
    #[error("empty trade id")]
    EmptyTradeId,
    /// A best bid at or above the best ask: the quote is not passed on and the instrument's
    /// book is marked stale.
    #[error("crossed quote for {symbol}: bid {bid} >= ask {ask}")]
    CrossedQuote {
        /// The venue's symbol.
        symbol: String,
        /// The bid price's text.
        bid: String,
        /// The ask price's text.
        ask: String,
    },
    /// A field has a value that makes no sense (bad side, bad time, ...).
    #[error("field `{field}`: {problem}")]
    Invalid {
        /// The venue's field name.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A well-formed message of a kind this normalizer does not handle.
    #[error("unsupported message {0:?}")]
    Unsupported(String),
}

impl MdError {
    pub(crate) fn json(e: serde_json::Error) -> Self {
        MdError::Malformed(e.to_string())
    }

    /// The reason it is counted under.
    pub fn reason(&self) -> Reason {
        match self {
            MdError::Malformed(_) => Reason::Malformed,
            MdError::DuplicateKey(_) => Reason::DuplicateKey,
            MdError::MissingField(_) => Reason::MissingField,
            MdError::BadNumber { .. } => Reason::BadNumber,
            MdError::Exponent { .. } => Reason::Exponent,
            MdError::Negative { .. } => Reason::Negative,
            MdError::NonPositivePrice { .. } => Reason::NonPositivePrice,
            MdError::ZeroTradeQty { .. } => Reason::ZeroTradeQty,
            MdError::EmptySymbol => Reason::EmptySymbol,
            MdError::EmptyTradeId => Reason::EmptyTradeId,
            MdError::CrossedQuote { .. } => Reason::CrossedQuote,
            MdError::Invalid { .. } => Reason::Invalid,
            MdError::Unsupported(_) => Reason::Unsupported,
        }
    }
}

/// The reason a frame was refused, one counter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Not JSON, or not the JSON expected (including binary frames and protocol errors
    /// outside the normalizer).
    Malformed,
    /// [`MdError::DuplicateKey`].
    DuplicateKey,
    /// [`MdError::MissingField`].
    MissingField,
    /// [`MdError::BadNumber`].
    BadNumber,
    /// [`MdError::Exponent`].
    Exponent,
    /// [`MdError::Negative`].
    Negative,
    /// [`MdError::NonPositivePrice`].
    NonPositivePrice,
    /// [`MdError::ZeroTradeQty`].
    ZeroTradeQty,
    /// [`MdError::EmptySymbol`].
    EmptySymbol,
    /// [`MdError::EmptyTradeId`].
    EmptyTradeId,
    /// [`MdError::CrossedQuote`].
    CrossedQuote,
    /// [`MdError::Invalid`].
    Invalid,
    /// [`MdError::Unsupported`].
    Unsupported,
}

impl Reason {
    /// How many reasons there are.
    pub const COUNT: usize = 13;

    /// Every reason, in counter order ([`Reason::index`]).
    pub const ALL: [Reason; Reason::COUNT] = [
        Reason::Malformed,
        Reason::DuplicateKey,
        Reason::MissingField,
        Reason::BadNumber,
        Reason::Exponent,
        Reason::Negative,
        Reason::NonPositivePrice,
        Reason::ZeroTradeQty,
        Reason::EmptySymbol,
        Reason::EmptyTradeId,
        Reason::CrossedQuote,
        Reason::Invalid,
        Reason::Unsupported,
    ];

    /// Its position in [`Reason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The label used in metrics and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::DuplicateKey => "duplicate_key",
            Reason::MissingField => "missing_field",
            Reason::BadNumber => "bad_number",
            Reason::Exponent => "exponent",
            Reason::Negative => "negative",
            Reason::NonPositivePrice => "non_positive_price",
            Reason::ZeroTradeQty => "zero_trade_qty",
            Reason::EmptySymbol => "empty_symbol",
            Reason::EmptyTradeId => "empty_trade_id",
            Reason::CrossedQuote => "crossed_quote",
            Reason::Invalid => "invalid",
            Reason::Unsupported => "unsupported",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_indexed_in_order_with_distinct_labels() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let mut labels: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Reason::COUNT);
    }
}
