//! Test helpers shared by the venue normalizer tests.

use peregrine_engine::interchange::EventLine;
use rust_decimal::Decimal;

use super::{event_line, MdError, Parsed, VenueNormalizer};

/// Runs `frame` through `n`, returning the outcome and one interchange line per message.
pub fn lines<N: VenueNormalizer>(n: &mut N, frame: &str) -> (Result<Parsed, MdError>, Vec<EventLine>) {
    let venue = n.venue();
    let mut out = Vec::new();
    let r = n.normalize(frame, &mut |m| out.push(event_line(venue, m, None)));
    (r, out)
}

/// An exact decimal from its text (keeps the scale).
pub fn d(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

/// `[price, qty]` levels from text pairs.
pub fn lvls(pairs: &[(&str, &str)]) -> Vec<[Decimal; 2]> {
    pairs.iter().map(|(p, q)| [d(p), d(q)]).collect()
}
