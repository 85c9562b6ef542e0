//! A small, strict JSON pull reader over one frame, borrowing from it: the venue normalizers
//! read the fields they need in one pass and skip the rest without building anything.
//!
//! Strict like `serde_json`: the grammar of RFC 8259 (no trailing commas, no comments, no
//! control characters inside strings, valid escapes, trailing whitespace only), nesting at
//! most [`MAX_DEPTH`] deep. Strings are returned as the frame's own bytes; a string holding
//! an escape is an error where plain text is required ([`Reader::str`]), and is decoded on
//! request ([`Reader::str_cow`], error messages only). An escaped object key matches no field
//! name (venues never escape their keys).

use std::borrow::Cow;

use super::MdError;

/// Deepest nesting accepted (as `serde_json`'s recursion limit).
pub const MAX_DEPTH: u32 = 128;

/// A cursor over one JSON text.
pub struct Reader<'a> {
    src: &'a str,
    pos: usize,
}

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
        Self { src, pos: 0 }
    }

    /// A reader at byte `pos` of `src` (a position an earlier reader reported).
    pub fn at(src: &'a str, pos: usize) -> Self {
        Self { src, pos }
    }

    /// The current byte position.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// A `Malformed` error naming what was expected and where.
    #[cold]
    #[inline(never)]
    pub fn error(&self, expected: &str) -> MdError {
        MdError::Malformed(format!("expected {expected} at byte {}", self.pos))
    }

    #[inline]
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
    fn expect(&mut self, c: u8, what: &str) -> Result<(), MdError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// Checks that only whitespace is left.
    pub fn end(&mut self) -> Result<(), MdError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("the end of the frame")),
        }
    }

    /// True (and consumed) if the next value is `null`.
    #[inline(always)]
    pub fn null(&mut self) -> Result<bool, MdError> {
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), MdError> {
        let b = self.bytes();
        if b.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("a value"))
        }
    }

    /// Reads an object, calling `f` with each key; `f` must consume the key's value.
    #[inline(always)]
    pub fn object(
        &mut self,
        mut f: impl FnMut(&mut Self, &'a str) -> Result<(), MdError>,
    ) -> Result<(), MdError> {
        self.expect(b'{', "an object")?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.expect(b'"', "a key")?;
            let (start, end, _) = self.string_body()?;
            let key = self.src.get(start..end).unwrap_or("");
            self.expect(b':', "`:`")?;
            f(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("`,` or `}`")),
            }
        }
    }

    /// Reads an array, calling `f` once per element; `f` must consume the element.
    #[inline(always)]
    pub fn array(&mut self, mut f: impl FnMut(&mut Self) -> Result<(), MdError>) -> Result<(), MdError> {
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
                _ => return Err(self.error("`,` or `]`")),
            }
        }
    }

    /// Reads an array of at least `min` elements, reading the first `min` with `f` (given the
    /// index) and skipping the rest.
    #[inline]
    pub fn tuple(
        &mut self,
        min: usize,
        mut f: impl FnMut(&mut Self, usize) -> Result<(), MdError>,
    ) -> Result<(), MdError> {
        let mut n = 0;
        self.array(|r| {
            if n < min {
                f(r, n)?;
            } else {
                r.skip()?;
            }
            n += 1;
            Ok(())
        })?;
        if n < min {
            return Err(MdError::Malformed(format!(
                "array of {n} elements, expected at least {min}, before byte {}",
                self.pos
            )));
        }
        Ok(())
    }

    /// Scans a string whose opening quote was consumed: `(start, end, had_escape)` of its
    /// content; the closing quote is consumed. Eight bytes at a time up to the first `"`,
    /// backslash or control character; anything but the closing quote goes the slow way.
    #[inline(always)]
    fn string_body(&mut self) -> Result<(usize, usize, bool), MdError> {
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
    fn string_rest(&mut self, start: usize, mut i: usize) -> Result<(usize, usize, bool), MdError> {
        let b = self.bytes();
        let mut escaped = false;
        loop {
            let Some(&c) = b.get(i) else {
                self.pos = i;
                return Err(self.error("the end of a string"));
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
                    self.pos = i;
                    return Err(self.error("no control character in a string"));
                }
                _ => i += 1,
            }
        }
    }

    /// Validates the escape whose backslash precedes `i`; returns the position after it.
    fn escape(&mut self, i: usize) -> Result<usize, MdError> {
        let b = self.bytes();
        match b.get(i) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 1),
            Some(b'u') => match b.get(i + 1..i + 5) {
                Some(h) if h.iter().all(u8::is_ascii_hexdigit) => Ok(i + 5),
                _ => {
                    self.pos = i;
                    Err(self.error("four hex digits"))
                }
            },
            _ => {
                self.pos = i;
                Err(self.error("a valid escape"))
            }
        }
    }

    /// Reads a string without escapes, borrowed from the frame.
    #[inline(always)]
    pub fn str(&mut self) -> Result<&'a str, MdError> {
        self.expect(b'"', "a string")?;
        let (start, end, escaped) = self.string_body()?;
        if escaped {
            return Err(MdError::Malformed(format!(
                "escaped string where plain text was expected at byte {start}"
            )));
        }
        Ok(self.src.get(start..end).unwrap_or(""))
    }

    /// Reads `[a, b, ...]` of at least two plain strings, returning the first two (the rest
    /// are skipped): a `[price, qty, ...]` level.
    #[inline(always)]
    pub fn str_pair(&mut self) -> Result<(&'a str, &'a str), MdError> {
        self.expect(b'[', "a [price, qty] array")?;
        let first = self.str()?;
        self.expect(b',', "a second element")?;
        let second = self.str()?;
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
                _ => return Err(self.error("`,` or `]`")),
            }
        }
    }

    /// Reads a string or `null`.
    #[inline(always)]
    pub fn opt_str(&mut self) -> Result<Option<&'a str>, MdError> {
        if self.null()? {
            return Ok(None);
        }
        self.str().map(Some)
    }

    /// Reads a string, decoding escapes when it has any.
    pub fn str_cow(&mut self) -> Result<Cow<'a, str>, MdError> {
        self.expect(b'"', "a string")?;
        let (start, end, escaped) = self.string_body()?;
        if !escaped {
            return Ok(Cow::Borrowed(self.src.get(start..end).unwrap_or("")));
        }
        let quoted = self.src.get(start - 1..end + 1).unwrap_or("\"\"");
        serde_json::from_str::<String>(quoted)
            .map(Cow::Owned)
            .map_err(MdError::json)
    }

    /// Reads a number and returns its text.
    #[inline]
    pub fn number(&mut self) -> Result<&'a str, MdError> {
        self.peek();
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                i += 1;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => return Err(self.error("a number")),
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let digits = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == digits {
                self.pos = i;
                return Err(self.error("a digit after `.`"));
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let digits = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == digits {
                self.pos = i;
                return Err(self.error("an exponent"));
            }
        }
        self.pos = i;
        Ok(self.src.get(start..i).unwrap_or(""))
    }

    /// Reads a non-negative integer that fits a `u64`.
    #[inline(always)]
    pub fn u64(&mut self) -> Result<u64, MdError> {
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

    /// [`Reader::u64`] for what its fast path leaves out (and for errors).
    #[cold]
    fn u64_general(&mut self) -> Result<u64, MdError> {
        let at = self.peek().map(|_| self.pos);
        let text = self.number()?;
        let mut v = 0u64;
        for &c in text.as_bytes() {
            if !c.is_ascii_digit() {
                return Err(self.not_int(at, "an unsigned integer"));
            }
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or_else(|| self.not_int(at, "an integer that fits 64 bits"))?;
        }
        Ok(v)
    }

    /// Reads an integer that fits an `i64`.
    #[inline]
    pub fn i64(&mut self) -> Result<i64, MdError> {
        let at = self.peek().map(|_| self.pos);
        let text = self.number()?;
        let (neg, digits) = match text.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, text),
        };
        let mut v = 0i64;
        for &c in digits.as_bytes() {
            if !c.is_ascii_digit() {
                return Err(self.not_int(at, "an integer"));
            }
            let d = i64::from(c - b'0');
            v = v
                .checked_mul(10)
                .and_then(|v| if neg { v.checked_sub(d) } else { v.checked_add(d) })
                .ok_or_else(|| self.not_int(at, "an integer that fits 64 bits"))?;
        }
        Ok(v)
    }

    #[cold]
    #[inline(never)]
    fn not_int(&self, at: Option<usize>, what: &str) -> MdError {
        MdError::Malformed(format!("expected {what} at byte {}", at.unwrap_or(self.pos)))
    }

    /// Reads a `u64` or `null`.
    #[inline(always)]
    pub fn opt_u64(&mut self) -> Result<Option<u64>, MdError> {
        if self.null()? {
            return Ok(None);
        }
        self.u64().map(Some)
    }

    /// Reads an `i64` or `null`.
    #[inline(always)]
    pub fn opt_i64(&mut self) -> Result<Option<i64>, MdError> {
        if self.null()? {
            return Ok(None);
        }
        self.i64().map(Some)
    }

    /// Reads a boolean or `null`.
    pub fn opt_bool(&mut self) -> Result<Option<bool>, MdError> {
        if self.null()? {
            return Ok(None);
        }
        self.bool().map(Some)
    }

    /// Reads a string (escapes decoded) or `null`.
    pub fn opt_str_cow(&mut self) -> Result<Option<Cow<'a, str>>, MdError> {
        if self.null()? {
            return Ok(None);
        }
        self.str_cow().map(Some)
    }

    /// Reads `true` or `false`.
    pub fn bool(&mut self) -> Result<bool, MdError> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|()| true),
            Some(b'f') => self.literal(b"false").map(|()| false),
            _ => Err(self.error("a boolean")),
        }
    }

    /// Skips one value and returns its text.
    pub fn raw(&mut self) -> Result<&'a str, MdError> {
        self.peek();
        let start = self.pos;
        self.skip()?;
        Ok(self.src.get(start..self.pos).unwrap_or(""))
    }

    /// Skips one value, checking its grammar.
    #[inline(always)]
    pub fn skip(&mut self) -> Result<(), MdError> {
        if self.peek() == Some(b'"') {
            self.pos += 1;
            return self.string_body().map(|_| ());
        }
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: u32) -> Result<(), MdError> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.string_body().map(|_| ())
            }
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return Err(self.error("less nesting"));
                }
                self.object(|r, _| r.skip_nested(depth + 1))
            }
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(self.error("less nesting"));
                }
                self.array(|r| r.skip_nested(depth + 1))
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => self.number().map(|_| ()),
        }
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
            assert!(serde_json::from_str::<serde_json::Value>(ok).is_ok(), "{ok}");
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
        assert_eq!(
            Reader::new("18446744073709551615").u64(),
            Ok(u64::MAX)
        );
        assert_eq!(Reader::new("-9223372036854775808").i64(), Ok(i64::MIN));
        assert!(Reader::new("-1").u64().is_err());
    }

    proptest! {
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
