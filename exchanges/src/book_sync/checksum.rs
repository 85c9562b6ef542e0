//! Venue book checksums over the sequencer's local book.
//!
//! The text is written into a stack buffer (flushed to the CRC in blocks) by the hand-written
//! formatter of [`crate::md::num`], which prints exactly what `Decimal`'s `Display` prints;
//! values it does not cover (negative, or a mantissa of 2^64 or more) go through `Display`.

use std::fmt::Write;

use rust_decimal::Decimal;

use super::LocalBook;
use crate::md::num::{format_plain, rescaled_digits, TEXT_CAP};

/// Bytes buffered before they are handed to the CRC.
const BLOCK: usize = 1024;

/// Text in, CRC32 out, without allocating.
struct CrcText {
    hasher: crc32fast::Hasher,
    buf: [u8; BLOCK],
    len: usize,
}

impl CrcText {
    fn new() -> Self {
        Self {
            hasher: crc32fast::Hasher::new(),
            buf: [0; BLOCK],
            len: 0,
        }
    }

    #[inline]
    fn push(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > BLOCK {
            self.flush();
        }
        if bytes.len() > BLOCK {
            self.hasher.update(bytes);
            return;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn flush(&mut self) {
        self.hasher.update(&self.buf[..self.len]);
        self.len = 0;
    }

    fn finish(mut self) -> u32 {
        self.flush();
        self.hasher.finalize()
    }
}

/// Appends `d` to `out` as `Display` prints it.
#[inline]
fn push_decimal(out: &mut String, d: &Decimal) {
    let mut buf = [0u8; TEXT_CAP];
    let text = format_plain(d, &mut buf).and_then(|n| std::str::from_utf8(&buf[..n]).ok());
    match text {
        Some(t) => out.push_str(t),
        // Writing to a String cannot fail.
        None => {
            let _ = write!(out, "{d}");
        }
    }
}

/// OKX: CRC32 of `bid1px:bid1sz:ask1px:ask1sz:bid2px:...` over the top 25 levels of each side
/// (when one side is shorter the other's remaining levels follow alone), using the venue's own
/// decimal text (a [`Decimal`] parsed from it prints it back unchanged), as a signed `i32`.
/// The text is left in `scratch` (reused between calls).
pub fn okx_checksum(book: &LocalBook, scratch: &mut String) -> i32 {
    scratch.clear();
    let bids = book.bids.levels();
    let asks = book.asks.levels();
    for i in 0..25 {
        for level in [bids.get(i), asks.get(i)].into_iter().flatten() {
            if !scratch.is_empty() {
                scratch.push(':');
            }
            push_decimal(scratch, &level.0);
            scratch.push(':');
            push_decimal(scratch, &level.1);
        }
    }
    crc32fast::hash(scratch.as_bytes()) as i32
}

/// Kraken v2: CRC32 of the top 10 asks (low to high) then the top 10 bids (high to low), each
/// level as price then qty formatted with the pair's decimal places, with the decimal point
/// and leading zeros removed; compared as unsigned. `scratch` is used only for values the
/// fast path does not cover (more places than the pair's, negative, very long mantissas).
pub fn kraken_checksum(book: &LocalBook, price_dp: u32, qty_dp: u32, scratch: &mut String) -> u32 {
    let mut out = CrcText::new();
    for side in [book.asks.levels(), book.bids.levels()] {
        for &(p, q) in side.iter().take(10) {
            push_kraken(&mut out, p, price_dp, scratch);
            push_kraken(&mut out, q, qty_dp, scratch);
        }
    }
    out.finish()
}

#[inline]
fn push_kraken(out: &mut CrcText, value: Decimal, dp: u32, scratch: &mut String) {
    let mut buf = [0u8; TEXT_CAP];
    if let Some(n) = rescaled_digits(&value, dp, &mut buf) {
        out.push(&buf[..n]);
        return;
    }
    scratch.clear();
    let mut v = value;
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
    out.push(&buf[..n]);
}
