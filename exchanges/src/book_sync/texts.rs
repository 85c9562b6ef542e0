//! The checksum text of a book's top levels, kept from one message to the next: a level's
//! price and quantity are spelled when it reaches the top and again only when the side's
//! version ids say their text may have changed ([`super::side::LevelMeta`]). The checksum of
//! an update then costs the spelling of the levels it changed, the copying of the rest and
//! one CRC32.
//!
//! Results are those of [`super::okx_checksum`] / [`super::kraken_checksum`] (a property test
//! checks it): the text of a number depends only on its exact representation.

use rust_decimal::Decimal;

use super::checksum::{kraken_text, okx_text, KRAKEN_DEPTH, OKX_DEPTH};
use super::side::{LevelMeta, SideBook};
use super::LocalBook;
use crate::md::num::TEXT_CAP;

/// How a checksum spells the numbers of a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spelling {
    /// OKX: as `Display` prints them (the venue's own text).
    Okx,
    /// Kraken: rescaled to the pair's places, point and leading zeros dropped.
    Kraken {
        /// Decimal places of prices.
        price_dp: u32,
        /// Decimal places of quantities.
        qty_dp: u32,
    },
}

/// One spelled number.
#[derive(Debug, Clone, Copy)]
struct Text {
    len: u8,
    bytes: [u8; TEXT_CAP],
}

/// Room for a level's joined text: price, separator, quantity.
const JOINED_CAP: usize = 2 * TEXT_CAP + 1;

/// One level's spelling, and the version ids it was spelled at.
#[derive(Debug, Clone, Copy)]
struct Entry {
    px_id: u64,
    qty_id: u64,
    /// The price alone, to join again when only the quantity changes.
    px: Text,
    /// Price and quantity as the checksum has them (OKX `px:qty`, Kraken `pxqty`).
    joined: [u8; JOINED_CAP],
    joined_len: u8,
}

impl Entry {
    fn new(px_id: u64, qty_id: u64, px: Text, qty: &Text, sep: Option<u8>) -> Self {
        let mut e = Entry {
            px_id,
            qty_id,
            px,
            joined: [0; JOINED_CAP],
            joined_len: 0,
        };
        e.set_qty(qty_id, qty, sep);
        e
    }

    /// Joins the price with a new quantity text.
    fn set_qty(&mut self, qty_id: u64, qty: &Text, sep: Option<u8>) {
        self.qty_id = qty_id;
        self.joined[..TEXT_CAP].copy_from_slice(&self.px.bytes);
        let mut n = usize::from(self.px.len);
        if let Some(sep) = sep {
            self.joined[n] = sep;
            n += 1;
        }
        self.joined[n..n + TEXT_CAP].copy_from_slice(&qty.bytes);
        self.joined_len = (n + usize::from(qty.len)) as u8;
    }
}

/// The spelled top levels of both sides, and the buffer the checksum text is built in.
#[derive(Debug)]
pub(crate) struct BookTexts {
    spelling: Spelling,
    depth: usize,
    bids: Vec<Entry>,
    asks: Vec<Entry>,
    text: Vec<u8>,
    scratch: String,
}

impl BookTexts {
    /// Texts for a book checked with `spelling`.
    pub(crate) fn new(spelling: Spelling) -> Self {
        let depth = match spelling {
            Spelling::Okx => OKX_DEPTH,
            Spelling::Kraken { .. } => KRAKEN_DEPTH,
        };
        Self {
            spelling,
            depth,
            bids: Vec::with_capacity(depth + 1),
            asks: Vec::with_capacity(depth + 1),
            // Every level with its separator, plus room for one whole-width copy at the end.
            text: vec![0; 2 * depth * (JOINED_CAP + 1) + JOINED_CAP],
            scratch: String::new(),
        }
    }

    /// The separator between price and quantity (OKX), if any.
    fn sep(&self) -> Option<u8> {
        match self.spelling {
            Spelling::Okx => Some(b':'),
            Spelling::Kraken { .. } => None,
        }
    }

    fn spell(&mut self, d: &Decimal, price: bool) -> Text {
        let mut t = Text {
            len: 0,
            bytes: [0; TEXT_CAP],
        };
        let n = match self.spelling {
            Spelling::Okx => okx_text(d, &mut t.bytes, &mut self.scratch),
            Spelling::Kraken { price_dp, qty_dp } => {
                let dp = if price { price_dp } else { qty_dp };
                kraken_text(d, dp, &mut t.bytes, &mut self.scratch)
            }
        };
        t.len = n as u8;
        t
    }

    /// Brings one side's entries up to date with its top levels.
    fn update(&mut self, bids: bool, side: &SideBook) {
        let levels = side.levels();
        let meta: &[LevelMeta] = side.meta();
        let n = levels.len().min(meta.len()).min(self.depth);
        let mut entries = std::mem::take(if bids { &mut self.bids } else { &mut self.asks });
        let mut i = 0;
        while i < n {
            let ((p, q), m) = (&levels[i], &meta[i]);
            if let Some(e) = entries.get(i) {
                if e.px_id == m.px_id {
                    if e.qty_id != m.qty_id {
                        let qty_text = self.spell(q, false);
                        let sep = self.sep();
                        entries[i].set_qty(m.qty_id, &qty_text, sep);
                    }
                    i += 1;
                    continue;
                }
                // A level above was removed: the entry below moved up.
                if entries.get(i + 1).is_some_and(|e| e.px_id == m.px_id) {
                    entries.remove(i);
                    continue;
                }
            }
            let px_text = self.spell(p, true);
            let qty_text = self.spell(q, false);
            let entry = Entry::new(m.px_id, m.qty_id, px_text, &qty_text, self.sep());
            // A level was inserted here: the entry at `i` moved down.
            let inserted = entries
                .get(i)
                .zip(meta.get(i + 1))
                .is_some_and(|(e, next)| e.px_id == next.px_id);
            if inserted {
                entries.insert(i, entry);
            } else if i < entries.len() {
                entries[i] = entry;
            } else {
                entries.push(entry);
            }
            i += 1;
        }
        entries.truncate(n);
        if bids {
            self.bids = entries;
        } else {
            self.asks = entries;
        }
    }

    /// Appends `e`'s joined text at `pos` of the text buffer; returns the new end.
    #[inline]
    fn put(text: &mut [u8], pos: usize, e: &Entry) -> usize {
        if let Some(dst) = text.get_mut(pos..pos + JOINED_CAP) {
            dst.copy_from_slice(&e.joined);
        }
        pos + usize::from(e.joined_len)
    }

    /// The OKX checksum of `book` (see [`super::okx_checksum`]).
    pub(crate) fn okx(&mut self, book: &LocalBook) -> i32 {
        self.update(true, &book.bids);
        self.update(false, &book.asks);
        let mut pos = 0;
        let text = &mut self.text;
        for i in 0..self.depth {
            for e in [self.bids.get(i), self.asks.get(i)].into_iter().flatten() {
                if pos > 0 {
                    if let Some(b) = text.get_mut(pos) {
                        *b = b':';
                    }
                    pos += 1;
                }
                pos = Self::put(text, pos, e);
            }
        }
        crc32fast::hash(text.get(..pos).unwrap_or(&[])) as i32
    }

    /// The Kraken checksum of `book` (see [`super::kraken_checksum`]).
    pub(crate) fn kraken(&mut self, book: &LocalBook) -> u32 {
        self.update(true, &book.bids);
        self.update(false, &book.asks);
        let mut pos = 0;
        let text = &mut self.text;
        for e in self.asks.iter().chain(self.bids.iter()) {
            pos = Self::put(text, pos, e);
        }
        crc32fast::hash(text.get(..pos).unwrap_or(&[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book_sync::{kraken_checksum, okx_checksum};
    use proptest::prelude::*;

    /// A price around 100 with 0 to 2 places, or a quantity (possibly zero: a delete), as
    /// random text so that scales vary (`1.5` and `1.50` both occur).
    fn number() -> impl Strategy<Value = Decimal> {
        (0u64..400, 0u32..3).prop_map(|(m, scale)| Decimal::new(m as i64, scale))
    }

    proptest! {
        /// Kept texts give the reference checksums after every update, whatever the updates
        /// do to the top of the book (inserts, deletes, quantity changes, rescaled prices).
        #[test]
        fn kept_texts_match_the_reference(
            updates in proptest::collection::vec((any::<bool>(), number(), number()), 1..200),
            price_dp in 1u32..4,
            qty_dp in 2u32..5,
        ) {
            let mut book = LocalBook::default();
            let mut okx = BookTexts::new(Spelling::Okx);
            let mut kraken = BookTexts::new(Spelling::Kraken { price_dp, qty_dp });
            let mut scratch = String::new();
            for (bid, price, qty) in updates {
                let side = if bid { &mut book.bids } else { &mut book.asks };
                side.set(price, qty);
                prop_assert_eq!(okx.okx(&book), okx_checksum(&book, &mut scratch));
                prop_assert_eq!(
                    kraken.kraken(&book),
                    kraken_checksum(&book, price_dp, qty_dp, &mut scratch)
                );
            }
        }
    }
}
