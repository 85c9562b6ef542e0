//! Exact decimal text in and out, for the common shapes venues send: a hand-written parser
//! for plain ASCII decimals (`123`, `0.0100`) and a formatter that prints a [`Decimal`] as
//! its `Display` does. Anything else goes the general (slower) way, so results are always
//! those of `Decimal::from_str_exact` / `Display`.

use rust_decimal::Decimal;

/// Parses `digits[.digits]` with at most 19 digits in all (so the mantissa fits a `u64`),
/// keeping the scale as sent (`"0.0100"` has scale 4). `None` for any other shape (sign,
/// exponent, separators, more digits): the caller falls back to `Decimal::from_str_exact`.
#[inline]
pub fn parse_plain(s: &[u8]) -> Option<Decimal> {
    let n = s.len();
    if n == 0 || n > 20 {
        return None;
    }
    let mut m = 0u64;
    let mut i = 0;
    while i < n {
        let d = s[i].wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    if i == n {
        // 20 digits without a point may not fit.
        return (n <= 19).then(|| Decimal::from_parts(m as u32, (m >> 32) as u32, 0, false, 0));
    }
    if i == 0 || s[i] != b'.' || i + 1 == n {
        return None;
    }
    i += 1;
    let scale = (n - i) as u32;
    while i < n {
        let d = s[i].wrapping_sub(b'0');
        if d >= 10 {
            return None;
        }
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    Some(Decimal::from_parts(
        m as u32,
        (m >> 32) as u32,
        0,
        false,
        scale,
    ))
}

/// Room for any non-negative `Decimal`'s text (29 digits, a point and a leading zero).
pub const TEXT_CAP: usize = 32;

/// The number of decimal digits of `v` (one for zero).
#[inline(always)]
fn digit_count(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// Writes the decimal digits of `v` so that they end at `end`; returns where they start.
#[inline(always)]
fn digits_u64(mut v: u64, buf: &mut [u8; TEXT_CAP], end: usize) -> usize {
    let mut i = end;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return i;
        }
    }
}

/// A non-negative mantissa below 2^64, if `d` has one.
#[inline(always)]
fn small_mantissa(d: &Decimal) -> Option<u64> {
    if d.is_sign_negative() {
        return None;
    }
    u64::try_from(d.mantissa()).ok()
}

/// The text `Display` gives a non-negative `d` with a mantissa below 2^64, written into
/// `buf`; `None` for other values (the caller formats them with `Display`).
#[inline]
pub fn format_plain(d: &Decimal, buf: &mut [u8; TEXT_CAP]) -> Option<usize> {
    let m = small_mantissa(d)?;
    let scale = d.scale() as usize;
    if scale == 0 {
        let len = digit_count(m);
        digits_u64(m, buf, len);
        return Some(len);
    }
    // At least one digit before the point; the fraction zero-padded to `scale` digits.
    let len = digit_count(m).saturating_sub(scale).max(1) + 1 + scale;
    let mut v = m;
    let mut i = len;
    for _ in 0..scale {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    buf[i - 1] = b'.';
    digits_u64(v, buf, i - 1);
    Some(len)
}

/// The digits of `d`'s mantissa once rescaled to `dp` decimal places, leading zeros dropped
/// (zero gives no digits), when `d` is non-negative and already has at most `dp` places and
/// the rescaled mantissa fits a `u64`; `None` otherwise (the caller rescales in full).
#[inline]
pub fn rescaled_digits(d: &Decimal, dp: u32, buf: &mut [u8; TEXT_CAP]) -> Option<usize> {
    let scale = d.scale();
    if scale > dp {
        return None;
    }
    let m = small_mantissa(d)?;
    if m == 0 {
        return Some(0);
    }
    let m = 10u64
        .checked_pow(dp - scale)
        .and_then(|p| m.checked_mul(p))?;
    let len = digit_count(m);
    digits_u64(m, buf, len);
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fmt(d: &Decimal) -> Option<String> {
        let mut buf = [0u8; TEXT_CAP];
        format_plain(d, &mut buf).map(|n| String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    #[test]
    fn plain_shapes() {
        assert_eq!(parse_plain(b"99999999999999999999"), None, "20 digits");
        assert_eq!(
            parse_plain(b"9999999999999999999")
                .map(|d| d.to_string())
                .as_deref(),
            Some("9999999999999999999")
        );
        for (s, want) in [
            ("0", "0"),
            ("0.0100", "0.0100"),
            ("16578.50", "16578.50"),
            ("007.50", "7.50"),
            ("0.00000000", "0.00000000"),
            ("1234567890123456789", "1234567890123456789"),
            ("1.234567890123456789", "1.234567890123456789"),
        ] {
            let d = parse_plain(s.as_bytes()).unwrap();
            assert_eq!(d, Decimal::from_str_exact(s).unwrap(), "{s}");
            assert_eq!(d.to_string(), want, "{s}");
            assert_eq!(fmt(&d).as_deref(), Some(want), "{s}");
        }
        for s in [
            "",
            ".",
            "1.",
            ".5",
            "-1",
            "+1",
            "1e5",
            "1_000",
            "1.2.3",
            " 1",
            "12345678901234567890",
        ] {
            assert_eq!(parse_plain(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn rescaled_digits_drop_the_point_and_leading_zeros() {
        let mut buf = [0u8; TEXT_CAP];
        for (s, dp, want) in [
            ("0.00100000", 8, Some("100000")),
            ("45283.5", 1, Some("452835")),
            ("45283.5", 2, Some("4528350")),
            ("0", 3, Some("")),
            ("0.00", 3, Some("")),
            ("1.25", 1, None),
        ] {
            let d = Decimal::from_str_exact(s).unwrap();
            let got = rescaled_digits(&d, dp, &mut buf)
                .map(|n| String::from_utf8(buf[..n].to_vec()).unwrap());
            assert_eq!(got.as_deref(), want, "{s} at {dp}");
        }
    }

    proptest! {
        /// The fast parser agrees with `from_str_exact` (value and scale) on every string of
        /// digits and points it accepts, and accepts every plain decimal of up to 19 digits.
        #[test]
        fn parse_plain_matches_from_str_exact(s in "[0-9.]{1,21}") {
            if let Some(d) = parse_plain(s.as_bytes()) {
                let want = Decimal::from_str_exact(&s).unwrap();
                prop_assert_eq!(d, want);
                prop_assert_eq!(d.scale(), want.scale());
                prop_assert_eq!(d.to_string(), want.to_string());
            }
        }

        #[test]
        fn parse_plain_accepts_plain_decimals(int in "[0-9]{1,10}", frac in proptest::option::of("[0-9]{1,9}")) {
            let s = match &frac { Some(f) => format!("{int}.{f}"), None => int.clone() };
            let d = parse_plain(s.as_bytes());
            prop_assert!(d.is_some(), "{}", s);
            prop_assert_eq!(d.unwrap().to_string(), Decimal::from_str_exact(&s).unwrap().to_string());
        }

        /// The formatter prints what `Display` prints, for any mantissa and scale.
        #[test]
        fn format_plain_matches_display(m in any::<u64>(), scale in 0u32..=28, small in 0u64..100_000) {
            for mantissa in [m, small] {
                let d = Decimal::from_i128_with_scale(i128::from(mantissa), scale);
                prop_assert_eq!(fmt(&d), Some(d.to_string()));
            }
        }

        /// The rescaled digits are what the text of the rescaled value is without its point
        /// and leading zeros.
        #[test]
        fn rescaled_digits_match_rescale(m in 0u64..10_000_000_000, scale in 0u32..=8, extra in 0u32..=8) {
            let d = Decimal::from_i128_with_scale(i128::from(m), scale);
            let dp = scale + extra;
            let mut buf = [0u8; TEXT_CAP];
            let n = rescaled_digits(&d, dp, &mut buf).unwrap();
            let mut v = d;
            v.rescale(dp);
            let want: String = v.to_string().replace('.', "").trim_start_matches('0').to_string();
            prop_assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), want);
        }
    }
}
