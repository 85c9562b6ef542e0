//! Test helpers shared by the venue normalizer tests.

use peregrine_engine::interchange::EventLine;
use peregrine_engine::tick::{FeedStatus, Tick, TickKind};
use rust_decimal::Decimal;

use super::{event_line, MdError, Parsed, VenueNormalizer};

/// Runs `frame` through `n`, returning the outcome and one interchange line per message.
pub fn lines<N: VenueNormalizer + ?Sized>(
    n: &mut N,
    frame: &str,
) -> (Result<Parsed, MdError>, Vec<EventLine>) {
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

/// The status ticks among `ticks`, in order.
pub fn statuses(ticks: &[Tick]) -> Vec<FeedStatus> {
    ticks
        .iter()
        .filter_map(|t| match t.kind {
            TickKind::Status(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Fuzz body shared by the venue proptests: `s` alone, then `s` spliced into each of `frames`
/// at `cut`, through a fresh normalizer. Returning at all is the assertion (no panic).
pub fn never_panics<N: VenueNormalizer>(new: fn() -> N, s: &str, cut: usize, frames: &[&str]) {
    let _ = lines(&mut new(), s);
    for f in frames {
        let mut c = cut.min(f.len());
        while !f.is_char_boundary(c) {
            c -= 1;
        }
        let mutated = format!("{}{}{}", &f[..c], s, &f[c..]);
        let _ = lines(&mut new(), &mutated);
    }
}
