//! The one calendar conversion of the workspace (proleptic Gregorian, UTC): day counts since
//! 1970-01-01 to dates and back, and the UTC fields of an engine time. Used by strategies'
//! time helpers, RFC 3339 parsing (`exchanges::md::time`), the simulator's kline buckets and
//! history file names.

/// Nanoseconds per day.
pub const NS_PER_DAY: i64 = 86_400_000_000_000;

/// Days since 1970-01-01 of a date (`m` 1..=12, `d` 1..=31).
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

/// The UTC calendar fields of an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// Year.
    pub year: i64,
    /// Month, 1..=12.
    pub month: i64,
    /// Day of the month, 1..=31.
    pub day: i64,
    /// Hour, 0..=23.
    pub hour: i64,
    /// Minute, 0..=59.
    pub minute: i64,
    /// Second, 0..=59.
    pub second: i64,
    /// Millisecond, 0..=999.
    pub millisecond: i64,
    /// ISO weekday: 1 = Monday ... 7 = Sunday.
    pub weekday: i64,
    /// Day of the year, 1..=366.
    pub day_of_year: i64,
    /// Nanoseconds since midnight.
    pub ns_of_day: i64,
}

impl UtcTime {
    /// The fields of `ns` nanoseconds since the epoch (negative: before 1970).
    pub fn from_ns(ns: i64) -> Self {
        let days = ns.div_euclid(NS_PER_DAY);
        let ns_of_day = ns.rem_euclid(NS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let secs = ns_of_day / 1_000_000_000;
        Self {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
            millisecond: ns_of_day / 1_000_000 % 1000,
            // 1970-01-01 was a Thursday (ISO 4).
            weekday: (days + 3).rem_euclid(7) + 1,
            day_of_year: days - days_from_civil(year, 1, 1) + 1,
            ns_of_day,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_fields_are_right() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2024, 12, 31),
            (1969, 12, 31),
            (2100, 3, 1),
        ] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
        // 2026-12-03T09:58:07.123Z, a Thursday, day 337 of 2026.
        let ns = (days_from_civil(2026, 12, 3) * 86_400 + 9 * 3600 + 58 * 60 + 7) * 1_000_000_000
            + 123_000_000;
        let t = UtcTime::from_ns(ns);
        assert_eq!(
            (
                t.year,
                t.month,
                t.day,
                t.hour,
                t.minute,
                t.second,
                t.millisecond
            ),
            (2026, 12, 3, 9, 58, 7, 123)
        );
        assert_eq!((t.weekday, t.day_of_year), (4, 337));
        let before = UtcTime::from_ns(-1);
        assert_eq!(
            (
                before.year,
                before.month,
                before.day,
                before.hour,
                before.weekday
            ),
            (1969, 12, 31, 23, 3)
        );
        // 2024-03-03 was a Sunday.
        assert_eq!(
            UtcTime::from_ns(days_from_civil(2024, 3, 3) * NS_PER_DAY).weekday,
            7
        );
    }
}
