//! Venue book checksums over the sequencer's local book.

use std::fmt::Write;

use rust_decimal::Decimal;

use super::LocalBook;

/// OKX: CRC32 of `bid1px:bid1sz:ask1px:ask1sz:bid2px:...` over the top 25 levels of each side
/// (when one side is shorter the other's remaining levels follow alone), using the venue's own
/// decimal text (a [`Decimal`] parsed from it prints it back unchanged), as a signed `i32`.
/// `scratch` is reused between calls.
pub fn okx_checksum(book: &LocalBook, scratch: &mut String) -> i32 {
    scratch.clear();
    let bids = book.bids.levels();
    let asks = book.asks.levels();
    for i in 0..25 {
        for level in [bids.get(i), asks.get(i)].into_iter().flatten() {
            if !scratch.is_empty() {
                scratch.push(':');
            }
            // Writing to a String cannot fail.
            let _ = write!(scratch, "{}:{}", level.0, level.1);
        }
    }
    crc32fast::hash(scratch.as_bytes()) as i32
}

/// Kraken v2: CRC32 of the top 10 asks (low to high) then the top 10 bids (high to low), each
/// level as price then qty formatted with the pair's decimal places, with the decimal point
/// and leading zeros removed; compared as unsigned. `scratch` is reused between calls.
pub fn kraken_checksum(book: &LocalBook, price_dp: u32, qty_dp: u32, scratch: &mut String) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for side in [book.asks.levels(), book.bids.levels()] {
        for &(p, q) in side.iter().take(10) {
            push_kraken(&mut hasher, p, price_dp, scratch);
            push_kraken(&mut hasher, q, qty_dp, scratch);
        }
    }
    hasher.finalize()
}

fn push_kraken(hasher: &mut crc32fast::Hasher, value: Decimal, dp: u32, scratch: &mut String) {
    scratch.clear();
    let mut v = value;
    v.rescale(dp);
    // Writing to a String cannot fail.
    let _ = write!(scratch, "{v}");
    let mut buf = [0u8; 64];
    let mut n = 0;
    for &b in scratch.as_bytes() {
        if b == b'.' || (n == 0 && b == b'0') || n == buf.len() {
            continue;
        }
        buf[n] = b;
        n += 1;
    }
    hasher.update(&buf[..n]);
}
