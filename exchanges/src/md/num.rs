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

/// `00` to `99`, two ASCII digits each.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes `v` (below 10^8) as exactly eight digits: two divisions deep, not eight.
#[inline(always)]
fn eight_digits(v: u32, out: &mut [u8; 8]) {
    let (hi, lo) = (v / 10_000, v % 10_000);
    for (k, pair) in [hi / 100, hi % 100, lo / 100, lo % 100]
        .into_iter()
        .enumerate()
    {
        let p = pair as usize * 2;
        out[2 * k..2 * k + 2].copy_from_slice(&PAIRS[p..p + 2]);
    }
}

/// Digits of `v` right-aligned in the first 32 bytes of a 64-byte buffer, zero-padded (the
/// rest is scratch, so that fixed-size windows can be copied out of it).
#[inline(always)]
fn padded_digits(v: u64) -> [u8; 64] {
    let mut d = [b'0'; 64];
    let mut chunk = [0u8; 8];
    let (rest, lo) = (v / 100_000_000, (v % 100_000_000) as u32);
    eight_digits(lo, &mut chunk);
    d[24..32].copy_from_slice(&chunk);
    if rest > 0 {
        let (hi, mid) = ((rest / 100_000_000) as u32, (rest % 100_000_000) as u32);
        eight_digits(mid, &mut chunk);
        d[16..24].copy_from_slice(&chunk);
        eight_digits(hi, &mut chunk);
        d[8..16].copy_from_slice(&chunk);
    }
    d
}

/// Copies the 32-byte window of `d` starting at `from` to `out`.
#[inline(always)]
fn window(d: &[u8; 64], from: usize, out: &mut [u8]) {
    if let (Some(src), Some(dst)) = (d.get(from..from + 32), out.get_mut(..32)) {
        dst.copy_from_slice(src);
    }
}

/// `v` (below 10^8) as eight ASCII digits in one word, the first digit in the lowest byte
/// (the order they have in memory): lane-wise multiply-and-shift divisions, no table, no
/// memory.
#[inline(always)]
fn ascii8(v: u32) -> u64 {
    let v = u64::from(v);
    // Two 4-digit lanes of 32 bits, then four 2-digit lanes of 16 bits, then eight digits.
    let merged = (v / 10_000) | ((v % 10_000) << 32);
    let hundreds = ((merged * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let pairs = hundreds | ((merged - hundreds * 100) << 16);
    let tens = ((pairs * 103) >> 10) & 0x000F_000F_000F_000F;
    let digits = tens | ((pairs - tens * 10) << 8);
    digits + 0x3030_3030_3030_3030
}

/// `v` (below 10^16) as sixteen ASCII digits in one word, the first in the lowest byte.
#[inline(always)]
fn ascii16(v: u64) -> u128 {
    let (hi, lo) = ((v / 100_000_000) as u32, (v % 100_000_000) as u32);
    u128::from(ascii8(hi)) | (u128::from(ascii8(lo)) << 64)
}

/// The first `k` bytes (of sixteen) of a word, the rest zero.
#[inline(always)]
fn first_bytes(x: u128, k: usize) -> u128 {
    if k >= 16 {
        x
    } else {
        x & ((1u128 << (8 * k)) - 1)
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
    // At least one digit before the point; the fraction zero-padded to `scale` digits.
    let whole = digit_count(m).saturating_sub(scale).max(1);
    let total = whole + scale;
    if m < 10_000_000_000_000_000 && total < 16 {
        // In registers: drop the leading zeros, open a gap for the point, one store.
        let digits = ascii16(m) >> (8 * (16 - total));
        let text = if scale == 0 {
            digits
        } else {
            first_bytes(digits, whole)
                | (u128::from(b'.') << (8 * whole))
                | ((digits >> (8 * whole)) << (8 * (whole + 1)))
        };
        buf[..16].copy_from_slice(&text.to_le_bytes());
        return Some(total + usize::from(scale > 0));
    }
    let digits = padded_digits(m);
    let mut out = [0u8; 2 * TEXT_CAP + 1];
    window(&digits, 32 - scale - whole, &mut out);
    if scale == 0 {
        buf.copy_from_slice(&out[..TEXT_CAP]);
        return Some(whole);
    }
    out[whole] = b'.';
    window(&digits, 32 - scale, &mut out[whole + 1..]);
    buf.copy_from_slice(&out[..TEXT_CAP]);
    Some(whole + 1 + scale)
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
    if len <= 16 {
        let digits = ascii16(m) >> (8 * (16 - len));
        buf[..16].copy_from_slice(&digits.to_le_bytes());
        return Some(len);
    }
    window(&padded_digits(m), 32 - len, buf);
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
    fn eight_digits_in_a_word() {
        for v in [
            0u32, 7, 10, 99, 100, 1234, 9999, 10_000, 12_345_678, 99_999_999,
        ] {
            assert_eq!(
                ascii8(v).to_le_bytes(),
                *format!("{v:08}").as_bytes(),
                "{v}"
            );
        }
        assert_eq!(
            ascii16(1_234_567_890_123_456).to_le_bytes(),
            *b"1234567890123456"
        );
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

        #[test]
        fn ascii8_matches_format(v in 0u32..100_000_000) {
            let want = format!("{v:08}");
            prop_assert_eq!(&ascii8(v).to_le_bytes()[..], want.as_bytes());
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
