//! RFC 3339 UTC times to ns since the epoch: a hand-written parser, and a cache of the last
//! minute seen so that the times of one connection (which share their date, hour and minute
//! most of the time) cost a compare and the seconds.

use super::MdError;

/// Parses an RFC 3339 UTC time (`2023-02-09T20:32:50.714964855Z`, up to 9 fraction digits)
/// into ns since the epoch (times outside 1677-2262, which an `i64` cannot hold, are invalid).
#[inline]
pub fn rfc3339_ns(field: &'static str, s: &str) -> Result<i64, MdError> {
    rfc3339(s.as_bytes()).ok_or(MdError::Invalid {
        field,
        problem: "not an RFC 3339 UTC time",
    })
}

/// `10^(9 - k)` for a fraction of `k` digits: its value in nanoseconds per unit.
const NANOS_PER_DIGITS: [i64; 10] = [
    1_000_000_000,
    100_000_000,
    10_000_000,
    1_000_000,
    100_000,
    10_000,
    1_000,
    100,
    10,
    1,
];

#[inline]
fn rfc3339(b: &[u8]) -> Option<i64> {
    let [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T' | b't' | b' ', h0, h1, b':', mi0, mi1, b':', s0, s1, rest @ .., b'Z' | b'z'] =
        b
    else {
        return None;
    };
    let two = |x: u8, y: u8| {
        let (x, y) = (x.wrapping_sub(b'0'), y.wrapping_sub(b'0'));
        (x < 10 && y < 10).then_some(i64::from(x) * 10 + i64::from(y))
    };
    let y = two(*y0, *y1)? * 100 + two(*y2, *y3)?;
    let (mo, d) = (two(*mo0, *mo1)?, two(*d0, *d1)?);
    let (h, mi, sec) = (two(*h0, *h1)?, two(*mi0, *mi1)?, two(*s0, *s1)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut nanos = 0i64;
    if let Some((&dot, frac)) = rest.split_first() {
        if dot != b'.' || frac.is_empty() || frac.len() > 9 {
            return None;
        }
        let mut v = 0i64;
        for &c in frac {
            let digit = c.wrapping_sub(b'0');
            if digit >= 10 {
                return None;
            }
            v = v * 10 + i64::from(digit);
        }
        nanos = v * NANOS_PER_DIGITS[frac.len()];
    }
    // Days from the civil date (proleptic Gregorian), after H. Hinnant's algorithm, one
    // 400-year era later so that every quantity stays non-negative.
    let yy = y + 400 - i64::from(mo <= 2);
    let era = yy / 400;
    let yoe = yy - era * 400;
    let mp = if mo > 2 { mo - 3 } else { mo + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era - 1) * 146_097 + doe - 719_468;
    // ns since the epoch fit an i64 only from 1677 to 2262.
    (days * 86_400 + h * 3_600 + mi * 60 + sec)
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

/// The part of a time after `YYYY-MM-DDTHH:MM:`: `SS[.fraction]Z`, as ns.
#[inline]
fn seconds_part(b: &[u8]) -> Option<i64> {
    let [s0, s1, rest @ .., b'Z' | b'z'] = b else {
        return None;
    };
    let (x, y) = (s0.wrapping_sub(b'0'), s1.wrapping_sub(b'0'));
    if x >= 10 || y >= 10 {
        return None;
    }
    let sec = i64::from(x) * 10 + i64::from(y);
    if sec > 60 {
        return None;
    }
    let mut nanos = 0i64;
    if let Some((&dot, frac)) = rest.split_first() {
        if dot != b'.' || frac.is_empty() || frac.len() > 9 {
            return None;
        }
        let mut v = 0i64;
        for &c in frac {
            let digit = c.wrapping_sub(b'0');
            if digit >= 10 {
                return None;
            }
            v = v * 10 + i64::from(digit);
        }
        nanos = v * NANOS_PER_DIGITS[frac.len()];
    }
    Some(sec * 1_000_000_000 + nanos)
}

/// One remembered minute: the sixteen bytes `YYYY-MM-DDTHH:MM` (the seventeenth, `:`, is
/// checked on its own) and its ns.
#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    prefix: u128,
    ns: i64,
    valid: bool,
}

/// [`rfc3339_ns`] that remembers the last two minutes it parsed (`YYYY-MM-DDTHH:MM` and their
/// ns; two, because a frame's own time and its events' times may differ; a new minute
/// replaces the older one): a time in one of them is read from its seconds on. Results are
/// those of [`rfc3339_ns`].
#[derive(Debug, Clone, Default)]
pub struct TimeCache {
    minutes: [Minute; 2],
    /// The slot the next new minute replaces (the older of the two).
    next: usize,
}

/// `(YYYY-MM-DDTHH:MM as a word, SS[.fraction]Z)` of a time, if it has a `:` after the minute.
#[inline(always)]
fn split_minute(b: &[u8]) -> Option<(u128, &[u8])> {
    let (head, rest) = b.split_first_chunk::<16>()?;
    let (&colon, rest) = rest.split_first()?;
    (colon == b':').then_some((u128::from_le_bytes(*head), rest))
}

impl TimeCache {
    /// A cache that remembers nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// ns since the epoch of the RFC 3339 UTC time `s` (text or its bytes; `field` names it
    /// in errors).
    #[inline]
    pub fn ns(&mut self, field: &'static str, s: impl AsRef<[u8]>) -> Result<i64, MdError> {
        let s = s.as_ref();
        let split = split_minute(s);
        if let Some((prefix, rest)) = split {
            let hit = self
                .minutes
                .iter()
                .find(|m| m.valid && m.prefix == prefix)
                .map(|m| m.ns);
            if let Some(ns) = hit.and_then(|base| base.checked_add(seconds_part(rest)?)) {
                return Ok(ns);
            }
        }
        let ns = rfc3339(s).ok_or(MdError::Invalid {
            field,
            problem: "not an RFC 3339 UTC time",
        })?;
        if let Some((prefix, rest)) = split {
            if let Some(r) = seconds_part(rest) {
                if let Some(slot) = self.minutes.get_mut(self.next) {
                    *slot = Minute {
                        prefix,
                        ns: ns - r,
                        valid: true,
                    };
                }
                self.next ^= 1;
            }
        }
        Ok(ns)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (`m` 1..=12, `d` 1..=31); the one
/// calendar conversion of the crate (RFC 3339 times here, the simulator's kline buckets).
#[inline]
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day count since 1970-01-01: the inverse of [`days_from_civil`].
#[inline]
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339_ns("t", "1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            rfc3339_ns("t", "2023-02-09T20:32:50.714964855Z"),
            Ok(1_675_974_770_714_964_855)
        );
        assert_eq!(
            rfc3339_ns("t", "2023-09-25T07:48:36.925533Z"),
            Ok(1_695_628_116_925_533_000)
        );
        assert_eq!(
            rfc3339_ns("t", "2019-08-14T20:42:27.265Z"),
            Ok(1_565_815_347_265_000_000)
        );
        for bad in [
            "",
            "2023-02-09",
            "2023-13-09T00:00:00Z",
            "2023-02-09T00:00:00+01:00",
            "2023-02-09T00:00:00.Z",
            "2023-02-09T00:00:00.1234567891Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert!(rfc3339_ns("t", bad).is_err(), "{bad}");
        }
    }

    /// The original parser, kept as the reference for [`rfc3339_ns`].
    fn rfc3339_reference(s: &str) -> Option<i64> {
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' || !matches!(b[b.len() - 1], b'Z' | b'z') {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let mut v = 0i64;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + i64::from(c - b'0');
            }
            Some(v)
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let mut nanos = 0i64;
        let rest = &b[19..b.len() - 1];
        if !rest.is_empty() {
            if rest[0] != b'.' || rest.len() < 2 || rest.len() > 10 {
                return None;
            }
            nanos = num(20..19 + rest.len())? * 10i64.pow(10 - rest.len() as u32);
        }
        let days = days_from_civil(y, mo, d);
        // (Checked here: the original overflowed past 2262.)
        (days * 86_400 + h * 3_600 + mi * 60 + sec)
            .checked_mul(1_000_000_000)?
            .checked_add(nanos)
    }

    proptest::proptest! {
        /// Any time of years 0000 to 9999, well-formed or with one byte changed, parses as
        /// the reference parser says.
        #[test]
        fn rfc3339_matches_the_reference(
            y in 0u32..10_000, mo in 0u32..14, d in 0u32..33, h in 0u32..25, mi in 0u32..61,
            sec in 0u32..62, frac in "(\\.[0-9]{0,10})?", z in "[Zz]",
            poke in proptest::option::of((0usize..40, proptest::prelude::any::<u8>())),
        ) {
            let mut s = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}{frac}{z}").into_bytes();
            if let Some((i, byte)) = poke {
                if let Some(b) = s.get_mut(i) {
                    *b = byte.min(0x7f);
                }
            }
            let s = String::from_utf8(s).unwrap();
            proptest::prop_assert_eq!(rfc3339_ns("t", &s).ok(), rfc3339_reference(&s), "{}", s);
        }
    }

    proptest::proptest! {
        /// The cache gives what the parser gives, for times in and out of the cached minute.
        #[test]
        fn cached_times_match_the_parser(
            times in proptest::collection::vec(
                (0u32..4, 0u32..62, "(\\.[0-9]{0,10})?", "[Zz ]"), 1..30),
        ) {
            let mut cache = TimeCache::new();
            for (minute, sec, frac, z) in times {
                let s = format!("2023-02-09T20:{minute:02}:{sec:02}{frac}{z}");
                proptest::prop_assert_eq!(cache.ns("t", &s), rfc3339_ns("t", &s), "{}", s);
            }
        }
    }
}
