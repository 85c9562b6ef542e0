//! A small, strict JSON pull reader over one frame, borrowing from it: the venue normalizers
//! read the fields they need in one pass and skip the rest without building anything.
//!
//! Reading fails with the zero-sized [`Malformed`]: what was expected and where is kept in the
//! reader ([`Reader::error`]), so the hot paths pass nothing but a flag around.
//!
//! Strict like `serde_json`: the grammar of RFC 8259 (no trailing commas, no comments, no
//! control characters inside strings, valid escapes, trailing whitespace only), nesting at
//! most [`MAX_DEPTH`] deep. Strings are returned as the frame's own bytes; a string holding
//! an escape is an error where plain text is required ([`Reader::str`]), and is decoded on
//! request ([`Reader::str_cow`], error messages only). An escaped object key matches no field
//! name (venues never escape their keys).

use std::borrow::Cow;

use rust_decimal::Decimal;

use super::MdError;

/// A number read from the frame: its text, and its value when it has the plain shape the
/// reader converts while scanning (`digits[.digits]`, at most 19 digits). The value is kept
/// as its parts, made a `Decimal` where it is used (fewer copies through memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num<'a> {
    /// The number's text (a string's content, or a JSON number), as bytes of the frame.
    pub text: &'a [u8],
    mantissa: u64,
    /// [`NOT_CONVERTED`] when the scan left the text alone.
    scale: u32,
}

/// The scale of a [`Num`] whose text was not converted.
const NOT_CONVERTED: u32 = u32::MAX;

impl<'a> Num<'a> {
    /// A number known by its text only.
    pub fn text_only(text: &'a [u8]) -> Self {
        Num {
            text,
            mantissa: 0,
            scale: NOT_CONVERTED,
        }
    }

    #[inline(always)]
    fn plain(text: &'a [u8], mantissa: u64, scale: u32) -> Self {
        Num {
            text,
            mantissa,
            scale,
        }
    }

    /// Its exact value, when the scan already converted it.
    #[inline(always)]
    pub fn value(&self) -> Option<Decimal> {
        (self.scale != NOT_CONVERTED).then(|| plain(self.mantissa, self.scale))
    }

    /// The exact, non-negative value ([`super::decimal`] of the text when the scan did not
    /// convert it: exponents, signs, long mantissas, or a bad number).
    #[inline(always)]
    pub fn decimal(self, field: &'static str) -> Result<Decimal, MdError> {
        if self.scale != NOT_CONVERTED {
            return Ok(plain(self.mantissa, self.scale));
        }
        decimal_text(field, self.text)
    }
}

/// [`super::decimal`] of text the scan did not convert (kept out of line: rare).
#[cold]
#[inline(never)]
fn decimal_text(field: &'static str, text: &[u8]) -> Result<Decimal, MdError> {
    // The text is a slice of the frame cut at ASCII bytes: always UTF-8.
    super::decimal(field, std::str::from_utf8(text).unwrap_or(""))
}

/// High bit set in every byte of `w` that is an ASCII digit (exact per byte: the additions
/// touch only the low seven bits, so nothing carries from one byte into the next).
#[inline(always)]
fn digit_bytes(w: u64) -> u64 {
    let low7 = w & !HI;
    let ge_0 = low7.wrapping_add(LO * (0x80 - u64::from(b'0'))) & HI;
    let ge_colon = low7.wrapping_add(LO * (0x80 - u64::from(b'9') - 1)) & HI;
    ge_0 & !ge_colon & !w & HI
}

/// Bytes (of eight) from `k` up zeroed: keeps the first `k` bytes of a little-endian word.
#[inline(always)]
fn low_bytes(w: u64, k: usize) -> u64 {
    if k >= 8 {
        w
    } else {
        w & ((1u64 << (8 * k)) - 1)
    }
}

/// The value of up to eight decimal digits (0 to 9, one a byte, the first in the lowest
/// byte), `k` of them.
#[inline(always)]
fn eight_digits(w: u64, k: usize) -> u64 {
    // Left-align so that missing digits are leading zeros, then combine pairs, quads, eights.
    let v = if k == 0 { 0 } else { w << (8 * (8 - k)) };
    let v = (v.wrapping_mul(10).wrapping_add(v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100).wrapping_add(v >> 16)) & 0x0000_FFFF_0000_FFFF;
    (v.wrapping_mul(10_000).wrapping_add(v >> 32)) & 0xFFFF_FFFF
}

/// A plain decimal (`digits[.digits]`, the point neither first nor last) that fills the
/// start of the eight bytes `s` up to the first byte that is neither a digit nor a point:
/// `(its length, its value)`. Whatever follows is the caller's to check.
#[inline(always)]
fn short_decimal(s: &[u8]) -> Option<(usize, u64, u32)> {
    let mut word = [0u8; 8];
    word.copy_from_slice(s);
    let w = u64::from_le_bytes(word);
    // Per-byte classes without carries between bytes.
    let digit = digit_bytes(w);
    let x = w ^ (LO * u64::from(b'.'));
    let dot = !((x & !HI).wrapping_add(LO * 0x7F) | x) & HI;
    let n = ((!(digit | dot) & HI).trailing_zeros() / 8) as usize;
    if n == 0 {
        return None;
    }
    let dots = low_bytes(dot, n);
    let digits = low_bytes(w, n) ^ low_bytes(LO * u64::from(b'0'), n);
    let (digits, k, scale) = match dots.count_ones() {
        0 => (digits, n, 0),
        1 => {
            let p = (dots.trailing_zeros() / 8) as usize;
            if p == 0 || p + 1 == n {
                return None;
            }
            // Close the gap the point leaves.
            let joined = low_bytes(digits, p) | ((digits >> (8 * (p + 1))) << (8 * p));
            (joined, n - 1, (n - 1 - p) as u32)
        }
        _ => return None,
    };
    Some((n, eight_digits(digits, k), scale))
}

/// No decimal point seen (a position no point can have).
const NO_DOT: usize = usize::MAX;

/// `m` with `scale` places (`m` below 2^64).
#[inline(always)]
fn plain(m: u64, scale: u32) -> Decimal {
    Decimal::from_parts(m as u32, (m >> 32) as u32, 0, false, scale)
}

/// Deepest nesting accepted (as `serde_json`'s recursion limit).
pub const MAX_DEPTH: u32 = 128;

/// The frame is not the JSON expected; [`Reader::error`] says what and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// What reading returns.
pub type JsonResult<T> = Result<T, Malformed>;

/// A cursor over one JSON text.
pub struct Reader<'a> {
    src: &'a str,
    pos: usize,
    /// The first failure: byte position and what was expected there.
    failure: Option<(usize, &'static str)>,
    /// The first failure was a duplicate key (at the failure's position).
    duplicate: bool,
}

/// The filter bit of an object key: a one-byte key's own byte (low seven bits), else the top
/// seven bits of a multiplicative hash of its bytes. The multiplier was picked so that no two
/// keys of one object collide in any documented frame of the five venues (nor in the bench
/// frames): those never pay the re-read (`md::checks_tests` checks the samples).
#[inline(always)]
pub(crate) fn key_bit(key: &[u8]) -> u32 {
    if let [c] = key {
        return u32::from(*c & 0x7F);
    }
    let mut h = key.len() as u32;
    for &c in key {
        h = (h ^ u32::from(c)).wrapping_mul(KEY_MUL);
    }
    h >> 25
}

/// See [`key_bit`].
const KEY_MUL: u32 = 0xFAEC_BD39;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in the lowest byte of `w` (little-endian) that is `"`, `\` or a control
/// character (no false positive at or below the first such byte).
#[inline]
fn special_bytes(w: u64) -> u64 {
    let q = w ^ (LO * u64::from(b'"'));
    let b = w ^ (LO * u64::from(b'\\'));
    let quote = q.wrapping_sub(LO) & !q;
    let backslash = b.wrapping_sub(LO) & !b;
    let control = w.wrapping_sub(LO * 0x20) & !w;
    (quote | backslash | control) & HI
}

impl<'a> Reader<'a> {
    /// A reader at the start of `src`.
    pub fn new(src: &'a str) -> Self {
        Self::at(src, 0)
    }

    /// A reader at byte `pos` of `src` (a position an earlier reader reported).
    pub fn at(src: &'a str, pos: usize) -> Self {
        Self {
            src,
            pos,
            failure: None,
            duplicate: false,
        }
    }

    /// The current byte position.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Records that `expected` was expected at the current position (the first failure
    /// wins) and returns the error to propagate.
    #[cold]
    #[inline(never)]
    pub fn fail(&mut self, expected: &'static str) -> Malformed {
        self.fail_at(self.pos, expected)
    }

    #[cold]
    #[inline(never)]
    fn fail_at(&mut self, pos: usize, expected: &'static str) -> Malformed {
        self.failure.get_or_insert((pos, expected));
        Malformed
    }

    /// The [`MdError`] of the recorded failure.
    #[cold]
    #[inline(never)]
    pub fn error(&self) -> MdError {
        let (pos, expected) = self.failure.unwrap_or((self.pos, "valid JSON"));
        if self.duplicate && self.failure.is_some() {
            let mut r = Reader::at(self.src, pos.saturating_sub(1));
            let key = r.str_cow().map(|k| k.into_owned()).unwrap_or_default();
            return MdError::DuplicateKey(key);
        }
        MdError::Malformed(format!("expected {expected} at byte {pos}"))
    }

    #[inline(always)]
    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    /// Skips whitespace and returns the next byte without consuming it.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        let c = *self.bytes().get(self.pos)?;
        // Every byte that starts a token is above the space; whitespace is not.
        if c > b' ' {
            return Some(c);
        }
        self.peek_after_space()
    }

    #[inline(never)]
    fn peek_after_space(&mut self) -> Option<u8> {
        let b = self.bytes();
        while let Some(&c) = b.get(self.pos) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(c);
            }
            self.pos += 1;
        }
        None
    }

    #[inline(always)]
    fn expect(&mut self, c: u8, what: &'static str) -> JsonResult<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.fail(what))
        }
    }

    /// Checks that only whitespace is left.
    pub fn end(&mut self) -> JsonResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.fail("the end of the frame")),
        }
    }

    /// True (and consumed) if the next value is `null`.
    #[inline(always)]
    pub fn null(&mut self) -> JsonResult<bool> {
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    fn literal(&mut self, word: &[u8]) -> JsonResult<()> {
        let b = self.bytes();
        if b.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.fail("a value"))
        }
    }

    /// Reads an object, calling `f` with each key (its raw bytes: an escaped key matches no
    /// field name); `f` must consume the key's value. A key that appears twice in the object
    /// is an error ([`MdError::DuplicateKey`] from [`Reader::error`]): no "last one wins".
    /// Duplicates are found without allocating: each key sets one bit of a 128-bit filter
    /// (a one-byte key its own bit, so Binance's keys never collide); only when its bit was
    /// already set is the object read again from its start to compare the keys.
    #[inline(always)]
    pub fn object(
        &mut self,
        mut f: impl FnMut(&mut Self, &'a [u8]) -> JsonResult<()>,
    ) -> JsonResult<()> {
        self.expect(b'{', "an object")?;
        let open = self.pos;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut seen = 0u128;
        loop {
            self.expect(b'"', "a key")?;
            let (start, end, _) = self.string_body()?;
            let key = self.bytes().get(start..end).unwrap_or(&[]);
            let bit = 1u128 << key_bit(key);
            if seen & bit != 0 {
                self.check_duplicate(open, start, key)?;
            }
            seen |= bit;
            self.expect(b':', "`:`")?;
            f(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.fail("`,` or `}`")),
            }
        }
    }

    /// Reads the object that opened at `open` again, up to the key starting at `at`: an
    /// error if one of its keys is `key`.
    #[cold]
    #[inline(never)]
    fn check_duplicate(&mut self, open: usize, at: usize, key: &[u8]) -> JsonResult<()> {
        let mut r = Reader::at(self.src, open);
        loop {
            if r.expect(b'"', "a key").is_err() {
                return Ok(());
            }
            let Ok((start, end, _)) = r.string_body() else {
                return Ok(());
            };
            if start >= at {
                return Ok(());
            }
            if r.bytes().get(start..end) == Some(key) {
                if self.failure.is_none() {
                    self.duplicate = true;
                }
                return Err(self.fail_at(at, "a key not seen before in this object"));
            }
            let next = r.expect(b':', "`:`").and_then(|()| r.skip());
            if next.and_then(|()| r.expect(b',', "`,`")).is_err() {
                return Ok(());
            }
        }
    }

    /// Reads an array, calling `f` once per element; `f` must consume the element.
    #[inline(always)]
    pub fn array(&mut self, mut f: impl FnMut(&mut Self) -> JsonResult<()>) -> JsonResult<()> {
        self.expect(b'[', "an array")?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            f(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.fail("`,` or `]`")),
            }
        }
    }

    /// Opens an array read element by element (no closure): true if it has a first element.
    /// Read each element, then call [`Reader::array_next`].
    #[inline(always)]
    pub fn array_start(&mut self) -> JsonResult<bool> {
        self.expect(b'[', "an array")?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// After an element of an array opened by [`Reader::array_start`]: true if another one
    /// follows, false at the end of the array.
    #[inline(always)]
    pub fn array_next(&mut self) -> JsonResult<bool> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b']') => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.fail("`,` or `]`")),
        }
    }

    /// Scans a string whose opening quote was consumed: `(start, end, had_escape)` of its
    /// content; the closing quote is consumed. Eight bytes at a time up to the first `"`,
    /// backslash or control character; anything but the closing quote goes the slow way.
    #[inline(always)]
    fn string_body(&mut self) -> JsonResult<(usize, usize, bool)> {
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        while let Some(chunk) = b.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            let m = special_bytes(u64::from_le_bytes(w));
            if m != 0 {
                i += (m.trailing_zeros() / 8) as usize;
                if b.get(i) == Some(&b'"') {
                    self.pos = i + 1;
                    return Ok((start, i, false));
                }
                break;
            }
            i += 8;
        }
        self.string_rest(start, i)
    }

    /// The rest of a string from `i` on: escapes, control characters, the last few bytes of
    /// the frame.
    #[cold]
    #[inline(never)]
    fn string_rest(&mut self, start: usize, mut i: usize) -> JsonResult<(usize, usize, bool)> {
        let b = self.bytes();
        let mut escaped = false;
        loop {
            let Some(&c) = b.get(i) else {
                return Err(self.fail_at(i, "the end of a string"));
            };
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok((start, i, escaped));
                }
                b'\\' => {
                    escaped = true;
                    i = self.escape(i + 1)?;
                }
                c if c < 0x20 => {
                    return Err(self.fail_at(i, "no control character in a string"));
                }
                _ => i += 1,
            }
        }
    }

    /// Validates the escape whose backslash precedes `i`; returns the position after it.
    fn escape(&mut self, i: usize) -> JsonResult<usize> {
        let b = self.bytes();
        match b.get(i) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 1),
            Some(b'u') => match b.get(i + 1..i + 5) {
                Some(h) if h.iter().all(u8::is_ascii_hexdigit) => Ok(i + 5),
                _ => Err(self.fail_at(i, "four hex digits")),
            },
            _ => Err(self.fail_at(i, "a valid escape")),
        }
    }

    /// Reads a string without escapes, borrowed from the frame.
    #[inline(always)]
    pub fn str(&mut self) -> JsonResult<&'a str> {
        self.expect(b'"', "a string")?;
        let (start, end, escaped) = self.string_body()?;
        if escaped {
            return Err(self.fail_at(start, "a string without escapes"));
        }
        Ok(self.src.get(start..end).unwrap_or(""))
    }

    /// Reads a string holding a decimal, converting it while scanning when it is plain
    /// (`digits[.digits]`, at most 19 digits: the shapes [`super::num::parse_plain`] takes);
    /// other strings are returned as text only.
    #[inline(always)]
    pub fn decimal_str(&mut self) -> JsonResult<Num<'a>> {
        self.expect(b'"', "a string")?;
        let b = self.bytes();
        let start = self.pos;
        if let Some((n, m, scale)) = b.get(start..start + 8).and_then(short_decimal) {
            if b.get(start + n) == Some(&b'"') {
                self.pos = start + n + 1;
                return Ok(Num::plain(b.get(start..start + n).unwrap_or(&[]), m, scale));
            }
        }
        let mut i = start;
        let mut m = 0u64;
        let mut digits = 0u32;
        let mut dot = NO_DOT;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d < 10 {
                m = m.wrapping_mul(10).wrapping_add(u64::from(d));
                digits += 1;
            } else if c == b'.' && dot == NO_DOT && i > start {
                dot = i;
            } else {
                if c == b'"' && i > start && digits <= 19 && dot.wrapping_add(1) != i {
                    self.pos = i + 1;
                    let scale = if dot == NO_DOT {
                        0
                    } else {
                        (i - dot - 1) as u32
                    };
                    return Ok(Num::plain(b.get(start..i).unwrap_or(&[]), m, scale));
                }
                break;
            }
            i += 1;
        }
        self.pos = start;
        let (start, end, escaped) = self.string_body()?;
        if escaped {
            return Err(self.fail_at(start, "a number without escapes"));
        }
        Ok(Num::text_only(self.bytes().get(start..end).unwrap_or(&[])))
    }

    /// Reads a JSON number, converting it while scanning when it is plain (no sign, no
    /// exponent, at most 19 digits); other numbers are returned as text only.
    #[inline(always)]
    pub fn decimal_number(&mut self) -> JsonResult<Num<'a>> {
        self.peek();
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        let mut m = 0u64;
        let mut digits = 0u32;
        let mut dot = NO_DOT;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d < 10 {
                m = m.wrapping_mul(10).wrapping_add(u64::from(d));
                digits += 1;
            } else if c == b'.' && dot == NO_DOT && i > start {
                dot = i;
            } else {
                break;
            }
            i += 1;
        }
        // JSON allows no leading zero (`01`); `0.5` is fine.
        let leading_zero = b.get(start) == Some(&b'0') && dot != start + 1 && i > start + 1;
        let plain_shape = i > start
            && digits <= 19
            && dot.wrapping_add(1) != i
            && !leading_zero
            && !matches!(b.get(i), Some(b'e' | b'E'));
        if plain_shape {
            self.pos = i;
            let scale = if dot == NO_DOT {
                0
            } else {
                (i - dot - 1) as u32
            };
            return Ok(Num::plain(b.get(start..i).unwrap_or(&[]), m, scale));
        }
        self.pos = start;
        Ok(Num::text_only(self.number()?.as_bytes()))
    }

    /// Reads `[a, b, ...]` of at least two decimal strings, returning the first two (the rest
    /// are skipped): a `[price, qty, ...]` level.
    #[inline(always)]
    pub fn decimal_pair(&mut self) -> JsonResult<(Num<'a>, Num<'a>)> {
        self.expect(b'[', "a [price, qty] array")?;
        let first = self.decimal_str()?;
        self.expect(b',', "a second element")?;
        let second = self.decimal_str()?;
        loop {
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return Ok((first, second));
                }
                Some(b',') => {
                    self.pos += 1;
                    self.skip()?;
                }
                _ => return Err(self.fail("`,` or `]`")),
            }
        }
    }

    /// Reads a string without escapes as the frame's bytes (no UTF-8 boundary checks: for
    /// text that is only compared or parsed).
    #[inline(always)]
    pub fn str_bytes(&mut self) -> JsonResult<&'a [u8]> {
        self.expect(b'"', "a string")?;
        let (start, end, escaped) = self.string_body()?;
        if escaped {
            return Err(self.fail_at(start, "a string without escapes"));
        }
        Ok(self.bytes().get(start..end).unwrap_or(&[]))
    }

    /// [`Reader::str_bytes`] or `null`.
    #[inline(always)]
    pub fn opt_str_bytes(&mut self) -> JsonResult<Option<&'a [u8]>> {
        if self.null()? {
            return Ok(None);
        }
        self.str_bytes().map(Some)
    }

    /// Reads a string or `null`.
    #[inline(always)]
    pub fn opt_str(&mut self) -> JsonResult<Option<&'a str>> {
        if self.null()? {
            return Ok(None);
        }
        self.str().map(Some)
    }

    /// Reads a string, decoding escapes when it has any.
    pub fn str_cow(&mut self) -> JsonResult<Cow<'a, str>> {
        self.expect(b'"', "a string")?;
        let (start, end, escaped) = self.string_body()?;
        if !escaped {
            return Ok(Cow::Borrowed(self.src.get(start..end).unwrap_or("")));
        }
        let quoted = self.src.get(start - 1..end + 1).unwrap_or("\"\"");
        match serde_json::from_str::<String>(quoted) {
            Ok(s) => Ok(Cow::Owned(s)),
            Err(_) => Err(self.fail_at(start, "a string with valid escapes")),
        }
    }

    /// Reads a number and returns its text.
    #[inline]
    pub fn number(&mut self) -> JsonResult<&'a str> {
        self.peek();
        let start = self.pos;
        let end = self.number_end(start)?;
        self.pos = end;
        Ok(self.src.get(start..end).unwrap_or(""))
    }

    /// Where the number starting at `start` ends (its grammar checked).
    #[inline(always)]
    fn number_end(&mut self, start: usize) -> JsonResult<usize> {
        let b = self.bytes();
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(|c| c.wrapping_sub(b'0') < 10) {
                i += 1;
            }
            i
        };
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(i + 1),
            _ => return Err(self.fail_at(i, "a number")),
        }
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return Err(self.fail_at(end, "a digit after `.`"));
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return Err(self.fail_at(end, "an exponent"));
            }
            i = end;
        }
        Ok(i)
    }

    /// Reads a non-negative integer that fits a `u64`.
    #[inline(always)]
    pub fn u64(&mut self) -> JsonResult<u64> {
        self.peek();
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        let mut v = 0u64;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d >= 10 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        let n = i - start;
        let plain = n > 0
            && n <= 19
            && (n == 1 || b.get(start) != Some(&b'0'))
            && !matches!(b.get(i), Some(b'.' | b'e' | b'E'));
        if !plain {
            return self.u64_general();
        }
        self.pos = i;
        Ok(v)
    }

    /// Reads a non-negative integer that fits a `u64` and returns its text (an id kept as
    /// sent).
    #[inline(always)]
    pub fn uint_text(&mut self) -> JsonResult<&'a str> {
        self.peek();
        let start = self.pos;
        self.u64()?;
        Ok(self.src.get(start..self.pos).unwrap_or(""))
    }

    /// [`Reader::u64`] for what its fast path leaves out (and for errors).
    #[cold]
    #[inline(never)]
    fn u64_general(&mut self) -> JsonResult<u64> {
        let at = self.pos;
        let text = self.number()?;
        let mut v = 0u64;
        for &c in text.as_bytes() {
            if !c.is_ascii_digit() {
                return Err(self.fail_at(at, "an unsigned integer"));
            }
            match v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
            {
                Some(n) => v = n,
                None => return Err(self.fail_at(at, "an integer that fits 64 bits")),
            }
        }
        Ok(v)
    }

    /// Reads an integer that fits an `i64`.
    #[inline]
    pub fn i64(&mut self) -> JsonResult<i64> {
        self.peek();
        let at = self.pos;
        let text = self.number()?;
        let (neg, digits) = match text.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, text),
        };
        let mut v = 0i64;
        for &c in digits.as_bytes() {
            if !c.is_ascii_digit() {
                return Err(self.fail_at(at, "an integer"));
            }
            let d = i64::from(c - b'0');
            let next = v.checked_mul(10).and_then(|v| {
                if neg {
                    v.checked_sub(d)
                } else {
                    v.checked_add(d)
                }
            });
            match next {
                Some(n) => v = n,
                None => return Err(self.fail_at(at, "an integer that fits 64 bits")),
            }
        }
        Ok(v)
    }

    /// Reads a `u64` or `null`.
    #[inline(always)]
    pub fn opt_u64(&mut self) -> JsonResult<Option<u64>> {
        if self.null()? {
            return Ok(None);
        }
        self.u64().map(Some)
    }

    /// Reads an `i64` or `null`.
    #[inline(always)]
    pub fn opt_i64(&mut self) -> JsonResult<Option<i64>> {
        if self.null()? {
            return Ok(None);
        }
        self.i64().map(Some)
    }

    /// Reads a boolean or `null`.
    pub fn opt_bool(&mut self) -> JsonResult<Option<bool>> {
        if self.null()? {
            return Ok(None);
        }
        self.bool().map(Some)
    }

    /// Reads a string (escapes decoded) or `null`.
    pub fn opt_str_cow(&mut self) -> JsonResult<Option<Cow<'a, str>>> {
        if self.null()? {
            return Ok(None);
        }
        self.str_cow().map(Some)
    }

    /// Reads `true` or `false`.
    pub fn bool(&mut self) -> JsonResult<bool> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|()| true),
            Some(b'f') => self.literal(b"false").map(|()| false),
            _ => Err(self.fail("a boolean")),
        }
    }

    /// Skips one value and returns its text.
    pub fn raw(&mut self) -> JsonResult<&'a str> {
        self.peek();
        let start = self.pos;
        self.skip()?;
        Ok(self.src.get(start..self.pos).unwrap_or(""))
    }

    /// Skips one value, checking its grammar.
    #[inline(always)]
    pub fn skip(&mut self) -> JsonResult<()> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.string_body().map(|_| ())
            }
            Some(b'{' | b'[') => self.skip_nested(),
            _ => self.skip_scalar(),
        }
    }

    /// Skips a number, `true`, `false` or `null`.
    #[inline]
    fn skip_scalar(&mut self) -> JsonResult<()> {
        match self.peek() {
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => {
                self.pos = self.number_end(self.pos)?;
                Ok(())
            }
        }
    }

    /// Skips an object or array without recursion: the open containers are bits of a
    /// 128-bit stack (1 = object), so nesting is limited to [`MAX_DEPTH`].
    #[inline(never)]
    fn skip_nested(&mut self) -> JsonResult<()> {
        let mut stack: u128 = 0;
        let mut depth = 0u32;
        // Positioned at a value.
        'value: loop {
            match self.peek() {
                Some(open @ (b'{' | b'[')) => {
                    if depth >= MAX_DEPTH {
                        return Err(self.fail("less nesting"));
                    }
                    self.pos += 1;
                    depth += 1;
                    let is_object = open == b'{';
                    stack = (stack << 1) | u128::from(is_object);
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        stack >>= 1;
                        depth -= 1;
                    } else {
                        if is_object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    self.pos += 1;
                    self.string_body()?;
                }
                _ => self.skip_scalar()?,
            }
            // After a value: a separator, or the end of one or more containers.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let in_object = stack & 1 == 1;
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if in_object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if in_object => {}
                    Some(b']') if !in_object => {}
                    _ => return Err(self.fail("`,` or the end of a container")),
                }
                self.pos += 1;
                stack >>= 1;
                depth -= 1;
            }
        }
    }

    /// Reads `"key":`, the key unused.
    #[inline(always)]
    fn key(&mut self) -> JsonResult<()> {
        self.expect(b'"', "a key")?;
        self.string_body()?;
        self.expect(b':', "`:`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Skips a whole text as one value: `Ok` iff the reader accepts it.
    fn accepts(s: &str) -> bool {
        let mut r = Reader::new(s);
        r.skip().and_then(|()| r.end()).is_ok()
    }

    #[test]
    fn grammar_like_serde_json() {
        for ok in [
            r#"{}"#,
            r#"[]"#,
            r#" {"a" : [1, -2.5e+3, "x\"y\\u00e9", true, false, null, {}], "b":0.10} "#,
            r#""caf\u00e9 é""#,
            "0",
            "-0.0e-0",
            "12345678901234567890123",
        ] {
            assert!(accepts(ok), "{ok}");
            assert!(
                serde_json::from_str::<serde_json::Value>(ok).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "",
            "{",
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            "01",
            "1.",
            ".5",
            "1e",
            "-",
            "+1",
            r#""\x""#,
            r#""\u12g4""#,
            "\"a\nb\"",
            "tru",
            "nul",
            "[1] x",
            r#"{"a":1}}"#,
        ] {
            assert!(!accepts(bad), "{bad:?}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(!accepts(&deep), "nesting beyond the limit");
        let ok_deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(accepts(&ok_deep));
    }

    #[test]
    fn strings_numbers_and_integers() {
        let mut r = Reader::new(r#"["abc", "a\"b", 42, -7, 1.5, "plain0123456789abcdef"]"#);
        let mut seen = Vec::new();
        let mut i = 0;
        r.array(|r| {
            match i {
                0 => seen.push(r.str()?.to_string()),
                1 => {
                    assert!(Reader::at(r.src, r.pos).str().is_err(), "escaped");
                    seen.push(r.str_cow()?.into_owned());
                }
                2 => seen.push(r.u64()?.to_string()),
                3 => seen.push(r.i64()?.to_string()),
                4 => {
                    assert!(Reader::at(r.src, r.pos).u64().is_err());
                    seen.push(r.number()?.to_string());
                }
                _ => seen.push(r.str()?.to_string()),
            }
            i += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            ["abc", "a\"b", "42", "-7", "1.5", "plain0123456789abcdef"]
        );
        assert!(Reader::new("18446744073709551616").u64().is_err());
        assert_eq!(Reader::new("18446744073709551615").u64(), Ok(u64::MAX));
        assert_eq!(Reader::new("-9223372036854775808").i64(), Ok(i64::MIN));
        assert!(Reader::new("-1").u64().is_err());
    }

    #[test]
    fn decimals_converted_while_scanning() {
        let mut r = Reader::new(
            r#"["0.0100", "16578.50", "7", "1e-5", "-1", ".5", "1.", "12345678901234567890", "a\"b"]"#,
        );
        let mut got = Vec::new();
        r.array(|r| {
            got.push(match r.decimal_str() {
                Ok(n) => Ok((
                    String::from_utf8(n.text.to_vec()).unwrap(),
                    n.value().map(|d| d.to_string()),
                )),
                Err(_) => Err(()),
            });
            Ok(())
        })
        .unwrap();
        let plain = |t: &str, v: &str| Ok((t.to_string(), Some(v.to_string())));
        let text = |t: &str| Ok((t.to_string(), None));
        assert_eq!(
            got,
            vec![
                plain("0.0100", "0.0100"),
                plain("16578.50", "16578.50"),
                plain("7", "7"),
                text("1e-5"),
                text("-1"),
                text(".5"),
                text("1."),
                text("12345678901234567890"),
                Err(()),
            ]
        );
        for (json, text, value) in [
            ("45283.5,", "45283.5", Some("45283.5")),
            ("0.10000000}", "0.10000000", Some("0.10000000")),
            ("0]", "0", Some("0")),
            ("1e-5,", "1e-5", None),
            ("-2.5,", "-2.5", None),
            ("12345678901234567890,", "12345678901234567890", None),
        ] {
            let n = Reader::new(json).decimal_number().unwrap();
            assert_eq!(n.text, text.as_bytes(), "{json}");
            assert_eq!(n.value().map(|d| d.to_string()).as_deref(), value, "{json}");
        }
        for bad in ["01", "1.", ".5", "-", "x"] {
            let mut r = Reader::new(bad);
            let ok = r.decimal_number().and_then(|_| r.end()).is_ok();
            assert!(!ok, "{bad}");
        }
    }

    #[test]
    fn short_decimals_by_word() {
        let word = |s: &str| {
            let mut w = [b'"'; 8];
            w[..s.len()].copy_from_slice(s.as_bytes());
            short_decimal(&w).map(|(n, m, scale)| (n, plain(m, scale).to_string()))
        };
        assert_eq!(word("30000.00"), Some((8, "30000.00".into())));
        assert_eq!(word("1.250"), Some((5, "1.250".into())));
        assert_eq!(word("0"), Some((1, "0".into())));
        assert_eq!(word("99999999"), Some((8, "99999999".into())));
        assert_eq!(word("007.5"), Some((5, "7.5".into())));
        assert_eq!(word(".5"), None);
        assert_eq!(word("5."), None);
        assert_eq!(word("1.2.3"), None);
        assert_eq!(word(""), None);
        assert_eq!(
            word("12x"),
            Some((2, "12".into())),
            "stops at the first other byte"
        );
    }

    /// Any JSON value of a few levels: scalars of every kind (strings with escapes and
    /// non-ASCII text, integers, floats), arrays and objects.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "[a-z\"\\\\/\n\t\u{1}é€😀 ]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z_]{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Every JSON text (compact or pretty) is accepted, and after one byte is removed,
        /// replaced or inserted it is accepted exactly when `serde_json` accepts it.
        #[test]
        fn generated_json_like_serde_json(
            v in json_value(),
            pretty in any::<bool>(),
            at in any::<prop::sample::Index>(),
            edit in 0u8..3,
            byte in prop::sample::select(b"{}[],:\"\\0123456789.eE+-tfnul x\n".to_vec()),
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&v).unwrap()
            } else {
                serde_json::to_string(&v).unwrap()
            };
            prop_assert!(accepts(&text), "{}", text);
            let mut bytes = text.into_bytes();
            let i = at.index(bytes.len() + 1);
            match edit {
                0 if i < bytes.len() => {
                    bytes.remove(i);
                }
                1 if i < bytes.len() => bytes[i] = byte,
                _ => bytes.insert(i, byte),
            }
            // Edits inside multi-byte characters make no text; those are not frames.
            if let Ok(edited) = String::from_utf8(bytes) {
                let want = serde_json::from_str::<serde::de::IgnoredAny>(&edited).is_ok();
                prop_assert_eq!(accepts(&edited), want, "{:?}", edited);
            }
        }

        /// The word-at-a-time reading agrees with `parse_plain` on every short text of
        /// digits, points and other bytes.
        #[test]
        fn short_decimal_matches_parse_plain(s in "[0-9.]{0,8}", tail in proptest::collection::vec(any::<u8>(), 8)) {
            let mut w = [0u8; 8];
            w[..s.len()].copy_from_slice(s.as_bytes());
            w[s.len()..].copy_from_slice(&tail[s.len()..]);
            let n = w.iter().position(|c| !(c.is_ascii_digit() || *c == b'.')).unwrap_or(8);
            let want = super::super::num::parse_plain(&w[..n]).map(|d| (n, d.serialize()));
            let got = short_decimal(&w).map(|(n, m, scale)| (n, plain(m, scale).serialize()));
            prop_assert_eq!(got, want, "{:?}", w);
        }

        /// What the scan converts is what `from_str_exact` makes of the same text, and a JSON
        /// number it does not convert is still read in full.
        #[test]
        fn scanned_decimals_match_from_str_exact(s in "[0-9.]{1,22}|[0-9]{1,6}\\.[0-9]{1,8}") {
            let quoted = format!("\"{s}\"");
            let n = Reader::new(&quoted).decimal_str().unwrap();
            prop_assert_eq!(n.text, s.as_bytes());
            prop_assert_eq!(n.value(), super::super::num::parse_plain(s.as_bytes()));
            if let Some(v) = n.value() {
                let want = Decimal::from_str_exact(&s).unwrap();
                prop_assert_eq!(v.to_string(), want.to_string());
            }
            let mut r = Reader::new(&s);
            let number = r.decimal_number().and_then(|n| r.end().map(|()| n));
            let json_ok = serde_json::from_str::<serde::de::IgnoredAny>(&s).is_ok();
            prop_assert_eq!(number.is_ok(), json_ok, "{:?}", s);
            if let Some(v) = number.ok().and_then(|n| n.value()) {
                prop_assert_eq!(v.to_string(), Decimal::from_str_exact(&s).unwrap().to_string());
            }
        }

        /// Agrees with `serde_json` on what is JSON, for arbitrary text and for JSON-ish
        /// text built from JSON's own characters.
        #[test]
        fn accepts_what_serde_json_accepts(s in "[\\[\\]{}\",:0-9a-z.eE+\\-\\\\ ]{0,24}|.{0,24}") {
            let want = serde_json::from_str::<serde::de::IgnoredAny>(&s).is_ok();
            prop_assert_eq!(accepts(&s), want, "{:?}", s);
        }

        #[test]
        fn strings_round_trip(s in ".{0,40}") {
            let quoted = serde_json::to_string(&s).unwrap();
            let mut r = Reader::new(&quoted);
            prop_assert_eq!(r.str_cow().unwrap(), s.as_str());
            prop_assert!(r.end().is_ok());
        }
    }
}
