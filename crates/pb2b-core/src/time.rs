//! Timestamps: the one place the core turns instants into text and text into instants.
//!
//! Everything the app stores or shows is RFC 3339 in UTC with milliseconds and a `Z`
//! (`2026-03-10T12:00:00.000Z`): sortable as text, which the mirror's indexes rely on. The
//! calendar (days per month, leap years, offsets, days since the epoch) is the `time` crate's;
//! this module only reads and writes the exact text forms the app accepts and produces.
//!
//! Accepted by [`parse_timestamp`]: `YYYY-MM-DD` (midnight UTC), or
//! `YYYY-MM-DD[T|t| ]HH:MM:SS[.f+](Z|z|±HH:MM)`: any number of fraction digits (truncated to
//! milliseconds), a leap second `:60` read as `:59`, offsets up to ±23:59. Surrounding white
//! space is ignored; anything else (non-ASCII digits, `+0200`, no offset, an empty fraction, a
//! day the month does not have) is refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::time::{Date, Month, OffsetDateTime, PlainDateTime, Time, UtcOffset};

/// Parses RFC 3339 (`2026-03-10T12:00:00.000Z`, any fraction, `Z` or `±HH:MM`) or a plain date
/// (`2026-03-10`, midnight UTC) into milliseconds since the Unix epoch. `None` for anything else.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_ascii() {
        return None;
    }
    let b = s.as_bytes();
    // Digits only (no sign, no space): at most 4, so the value fits a u16.
    let digits = |r: std::ops::Range<usize>| -> Option<u16> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    // Two digits: at most 99.
    let num = |r: std::ops::Range<usize>| digits(r).map(|n| n as u8);
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::from(digits(0..4)?);
    let month = Month::try_from(num(5..7)?).ok()?;
    let date = Date::from_calendar_date(year, month, num(8..10)?).ok()?;
    if b.len() == 10 {
        return Some(unix_ms(date.midnight().assume_utc()));
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0u16;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + u16::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset = match &s[i..] {
        "Z" | "z" => UtcOffset::UTC,
        rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            if rest.as_bytes()[3] != b':' {
                return None;
            }
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            UtcOffset::from_hms(sign * oh as i8, sign * om as i8, 0).ok()?
        }
        _ => return None,
    };
    // A leap second (`:60`) is read as the second before it.
    let time = Time::from_hms_milli(h, mi, sec.min(59), millis).ok()?;
    Some(unix_ms(
        PlainDateTime::new(date, time).assume_offset(offset),
    ))
}

/// `2026-03-10T12:00:00.000Z` for milliseconds since the epoch (clamped at the epoch, and at the
/// last millisecond of year 9999).
pub fn format_timestamp(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms.max(0)) * 1_000_000)
        .unwrap_or(PlainDateTime::MAX.assume_utc());
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// `2026-03-10T12:00:00.000Z` for a time since the Unix epoch.
pub fn format_utc_ms(since_epoch: Duration) -> String {
    format_timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
}

/// The current time as [`format_utc_ms`] (the epoch if the clock is before it).
pub fn now_utc_ms() -> String {
    format_utc_ms(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    // Whole milliseconds by construction; years 0000-9999 fit an i64 of milliseconds.
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn timestamps_parse_and_format() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_timestamp("2026-03-10T12:00:00.000Z").map(format_timestamp),
            Some("2026-03-10T12:00:00.000Z".into())
        );
        assert_eq!(
            parse_timestamp("2026-03-10T14:00:00.5+02:00").map(format_timestamp),
            Some("2026-03-10T12:00:00.500Z".into())
        );
        assert_eq!(
            parse_timestamp("2026-03-10T12:00:00.123456Z").map(format_timestamp),
            Some("2026-03-10T12:00:00.123Z".into())
        );
        assert_eq!(
            parse_timestamp("2026-03-10").map(format_timestamp),
            Some("2026-03-10T00:00:00.000Z".into())
        );
        for bad in [
            "",
            "yesterday",
            "2026-02-30",
            "2026-13-01T00:00:00Z",
            "2026-03-10T25:00:00Z",
            "2026-03-10T12:00:00",
            "2026-03-10T12:00:00.Z",
            "2026-03-10T12:00:00+0200",
            "２０２６-03-10",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn leap_days_and_year_boundaries() {
        let round = |s: &str| parse_timestamp(s).map(format_timestamp);
        assert_eq!(round("2024-02-29"), Some("2024-02-29T00:00:00.000Z".into()));
        assert_eq!(round("2000-02-29"), Some("2000-02-29T00:00:00.000Z".into()));
        for not_leap in ["2026-02-29", "1900-02-29", "2100-02-29T00:00:00Z"] {
            assert_eq!(parse_timestamp(not_leap), None, "{not_leap}");
        }
        assert_eq!(
            round("2025-12-31T23:59:59.999Z"),
            Some("2025-12-31T23:59:59.999Z".into())
        );
        assert_eq!(
            parse_timestamp("2026-01-01T00:00:00.000Z"),
            parse_timestamp("2025-12-31T23:59:59.999Z").map(|ms| ms + 1)
        );
        // An offset moves the instant across a day, a month and a year.
        assert_eq!(
            round("2026-01-01T01:00:00+02:00"),
            Some("2025-12-31T23:00:00.000Z".into())
        );
        assert_eq!(
            round("2024-02-28T23:30:00-01:00"),
            Some("2024-02-29T00:30:00.000Z".into())
        );
        assert_eq!(
            round("2026-03-10 12:00:00z"),
            Some("2026-03-10T12:00:00.000Z".into())
        );
        assert_eq!(
            round("2026-03-10t12:00:00-00:30"),
            Some("2026-03-10T12:30:00.000Z".into())
        );
        // A leap second is read as the second before it.
        assert_eq!(
            round("2016-12-31T23:59:60Z"),
            Some("2016-12-31T23:59:59.000Z".into())
        );
        // Before the epoch: parsed, formatted clamped at the epoch.
        assert_eq!(parse_timestamp("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(format_timestamp(-1), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_timestamp(i64::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn invalid_input_is_refused() {
        for bad in [
            "2026-03-10T12:00:61Z",
            "2026-03-10T12:60:00Z",
            "2026-03-10T24:00:00Z",
            "2026-03-10T12:00:00+24:00",
            "2026-03-10T12:00:00+02:60",
            "2026-03-10T12:00:00+02",
            "2026-03-10T12:00:00 Z",
            "2026-03-10T12:00Z",
            "2026-3-10",
            "2026-00-10",
            "2026-03-00",
            "2026/03/10",
            "+2026-03-10",
            "2026-03-10T12:00:00.1234x",
            "2026-03-10Tab:00:00Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(format_utc_ms(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_utc_ms(Duration::from_millis(1_773_144_000_123)),
            "2026-03-10T12:00:00.123Z"
        );
        assert_eq!(
            format_utc_ms(Duration::from_millis(951_782_400_000)),
            "2000-02-29T00:00:00.000Z"
        );
        let now = now_utc_ms();
        assert_eq!(parse_timestamp(&now).map(format_timestamp), Some(now));
    }

    proptest! {
        #[test]
        fn timestamps_round_trip(ms in 0i64..4_102_444_800_000) {
            prop_assert_eq!(parse_timestamp(&format_timestamp(ms)), Some(ms));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = parse_timestamp(&s);
        }
    }
}
