//! Venue book checksums over the sequencer's local book.
//!
//! Numbers are spelled by the hand-written formatter of [`crate::md::num`], which prints
//! exactly what `Decimal`'s `Display` prints; values it does not cover (negative, a mantissa of
//! 2^64 or more, Kraken values with more places than the pair's) go through `Display`. The
//! sequencer itself keeps the spelled text of the top levels between messages
//! ([`super::texts`]); these functions spell every level each time and are the reference.

use std::fmt::Write;

use rust_decimal::Decimal;

use super::LocalBook;
use crate::md::num::{format_plain, rescaled_digits, TEXT_CAP};

/// Levels per side in the OKX checksum.
pub(crate) const OKX_DEPTH: usize = 25;
/// Levels per side in the Kraken checksum.
pub(crate) const KRAKEN_DEPTH: usize = 10;

/// Writes `d` as `Display` prints it (the venue's own text, for OKX) into `buf`; returns its
/// length. `scratch` is used for values the fast formatter does not cover.
#[inline]
pub(crate) fn okx_text(d: &Decimal, buf: &mut [u8; TEXT_CAP], scratch: &mut String) -> usize {
    if let Some(n) = format_plain(d, buf) {
        return n;
    }
    scratch.clear();
    // Writing to a String cannot fail.
    let _ = write!(scratch, "{d}");
    copy_text(scratch.as_bytes(), buf)
}

/// Writes `d` as Kraken's checksum spells it (rescaled to `dp` places, the point and leading
/// zeros removed) into `buf`; returns its length. `scratch` is used for values the fast path
/// does not cover.
#[inline]
pub(crate) fn kraken_text(
    d: &Decimal,
    dp: u32,
    buf: &mut [u8; TEXT_CAP],
    scratch: &mut String,
) -> usize {
    if let Some(n) = rescaled_digits(d, dp, buf) {
        return n;
    }
    scratch.clear();
    let mut v = *d;
    v.rescale(dp);
    // Writing to a String cannot fail.
    let _ = write!(scratch, "{v}");
    let mut n = 0;
    for &b in scratch.as_bytes() {
        if b == b'.' || (n == 0 && b == b'0') || n == buf.len() {
            continue;
        }
        buf[n] = b;
        n += 1;
    }
    n
}

/// Copies `text` into `buf` (a `Decimal`'s text always fits); returns the length copied.
fn copy_text(text: &[u8], buf: &mut [u8; TEXT_CAP]) -> usize {
    let n = text.len().min(TEXT_CAP);
    buf[..n].copy_from_slice(&text[..n]);
    n
}

/// OKX: CRC32 of `bid1px:bid1sz:ask1px:ask1sz:bid2px:...` over the top 25 levels of each side
/// (when one side is shorter the other's remaining levels follow alone), using the venue's own
/// decimal text (a [`Decimal`] parsed from it prints it back unchanged), as a signed `i32`.
/// The text is left in `scratch` (reused between calls).
pub fn okx_checksum(book: &LocalBook, scratch: &mut String) -> i32 {
    let mut text = std::mem::take(scratch).into_bytes();
    text.clear();
    let mut spare = String::new();
    let mut buf = [0u8; TEXT_CAP];
    let bids = book.bids.levels();
    let asks = book.asks.levels();
    for i in 0..OKX_DEPTH {
        for level in [bids.get(i), asks.get(i)].into_iter().flatten() {
            if !text.is_empty() {
                text.push(b':');
            }
            let n = okx_text(&level.0, &mut buf, &mut spare);
            text.extend_from_slice(&buf[..n]);
            text.push(b':');
            let n = okx_text(&level.1, &mut buf, &mut spare);
            text.extend_from_slice(&buf[..n]);
        }
    }
    let crc = crc32fast::hash(&text);
    // The text is ASCII: this never fails (on failure the buffer is only lost, not reused).
    *scratch = String::from_utf8(text).unwrap_or_default();
    crc as i32
}

/// Kraken v2: CRC32 of the top 10 asks (low to high) then the top 10 bids (high to low), each
/// level as price then qty formatted with the pair's decimal places, with the decimal point
/// and leading zeros removed; compared as unsigned. `scratch` is reused between calls.
pub fn kraken_checksum(book: &LocalBook, price_dp: u32, qty_dp: u32, scratch: &mut String) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = [0u8; TEXT_CAP];
    for side in [book.asks.levels(), book.bids.levels()] {
        for (p, q) in side.iter().take(KRAKEN_DEPTH) {
            let n = kraken_text(p, price_dp, &mut buf, scratch);
            hasher.update(&buf[..n]);
            let n = kraken_text(q, qty_dp, &mut buf, scratch);
            hasher.update(&buf[..n]);
        }
    }
    hasher.finalize()
}
