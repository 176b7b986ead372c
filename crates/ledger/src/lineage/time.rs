//! Timestamps as clients send them (RFC 3339 strings or epoch numbers) and
//! as the API returns them (RFC 3339, UTC, microseconds).

use serde_json::Value as Json;

const US_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;
/// 10000-01-01T00:00:00Z: later instants are refused as implausible.
const MAX_US: i64 = 253_402_300_800 * US_PER_SEC;

/// Parses an RFC 3339 timestamp into microseconds since the Unix epoch.
///
/// Accepts `T`, `t` or a space between date and time, any number of
/// fractional digits (kept to the microsecond), and `Z` or `±HH:MM`. A
/// missing offset is read as UTC, since many clients send naive UTC times.
pub fn parse_rfc3339_us(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 {
        return None;
    }
    // A leap second is folded into the last second of its minute.
    let second = match second {
        0..=59 => second,
        60 => 59,
        _ => return None,
    };
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }
    let offset_secs = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (digits(i + 1..i + 3)?, digits(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset_secs;
    let us = secs.checked_mul(US_PER_SEC)?.checked_add(micros)?;
    (0..MAX_US).contains(&us).then_some(us)
}

/// Converts an epoch number to microseconds, inferring the unit from its
/// magnitude: below 1e11 seconds (fractions allowed), below 1e14
/// milliseconds, below 1e17 microseconds, otherwise nanoseconds. Any
/// instant from 1973 to 5138 is read correctly whichever unit is used.
pub fn epoch_number_to_us(n: f64) -> Option<i64> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let us = if n < 1e11 {
        n * 1e6
    } else if n < 1e14 {
        n * 1e3
    } else if n < 1e17 {
        n
    } else {
        n / 1e3
    };
    let us = us.round();
    (us < MAX_US as f64).then_some(us as i64)
}

/// A timestamp from JSON: an RFC 3339 string, an epoch number, or an epoch
/// number written as a string (as OTLP/JSON does for 64-bit integers).
pub fn parse_json_time_us(v: &Json) -> Result<i64, String> {
    let parsed = match v {
        Json::String(s) => {
            let t = s.trim();
            if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
                parse_numeric_string_us(t)
            } else {
                parse_rfc3339_us(t)
            }
        }
        Json::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(i), _) if i >= 100_000_000_000_000_000 => i64::try_from(i / 1000).ok().filter(|us| *us < MAX_US),
            (_, Some(f)) => epoch_number_to_us(f),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| format!("`{v}` is not an RFC 3339 timestamp or an epoch number"))
}

/// Integer strings are read exactly (nanosecond strings exceed f64 precision).
fn parse_numeric_string_us(s: &str) -> Option<i64> {
    match s.parse::<u64>() {
        Ok(i) if i >= 100_000_000_000_000_000 => i64::try_from(i / 1000).ok().filter(|us| *us < MAX_US),
        Ok(i) => epoch_number_to_us(i as f64),
        Err(_) => epoch_number_to_us(s.parse().ok()?),
    }
}

/// A query-string instant: epoch milliseconds or RFC 3339. Returns ms.
pub fn parse_query_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return (0..MAX_US / 1000).contains(&ms).then_some(ms);
    }
    parse_rfc3339_us(s).map(|us| us.div_euclid(1000))
}

/// RFC 3339 in UTC with microseconds: `2024-05-01T10:00:00.250000Z`.
pub fn format_us(us: i64) -> String {
    Rfc3339Us(us).to_string()
}

/// An instant in microseconds, displayed and serialized as [`format_us`]
/// writes it, without an intermediate string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339Us(pub i64);

impl Rfc3339Us {
    /// (year, month, day, hour, minute, second, microsecond) in UTC.
    fn parts(self) -> [i64; 7] {
        let secs = self.0.div_euclid(US_PER_SEC);
        let (days, rem) = (secs.div_euclid(SECS_PER_DAY), secs.rem_euclid(SECS_PER_DAY));
        let (year, month, day) = civil_from_days(days);
        [year, month, day, rem / 3600, rem % 3600 / 60, rem % 60, self.0.rem_euclid(US_PER_SEC)]
    }

    /// The text written digit by digit into a fixed buffer, several times
    /// faster than `write!` (a trace of 1,000 spans has 2,000 of them).
    /// `None` outside years 0 to 9999, which the fixed width cannot hold.
    fn fixed_width(self) -> Option<[u8; 27]> {
        let parts = self.parts();
        if !(0..=9999).contains(&parts[0]) {
            return None;
        }
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        let fields = [0..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..26];
        for (range, mut value) in fields.into_iter().zip(parts) {
            for digit in text[range].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        Some(text)
    }
}

impl std::fmt::Display for Rfc3339Us {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(text) = self.fixed_width() {
            return f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?);
        }
        let [year, month, day, hour, minute, second, micros] = self.parts();
        write!(f, "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z")
    }
}

impl serde::Serialize for Rfc3339Us {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.fixed_width() {
            Some(text) => serializer.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?),
            None => serializer.collect_str(self),
        }
    }
}

pub fn format_ms(ms: i64) -> String {
    format_us(ms.saturating_mul(1000))
}

/// The calendar month (UTC) holding `ms`: its first instant and the next
/// month's, in ms.
pub fn month_bounds_ms(ms: i64) -> (i64, i64) {
    let (year, month, _) = civil_from_days(ms.div_euclid(1000 * SECS_PER_DAY));
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let start = days_from_civil(year, month, 1) * SECS_PER_DAY * 1000;
    (start, days_from_civil(next_year, next_month, 1) * SECS_PER_DAY * 1000)
}

/// `#[serde(serialize_with)]` for a stored epoch-ms field: RFC 3339 out.
pub fn serialize_ms<S: serde::Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&Rfc3339Us(ms.saturating_mul(1000)), serializer)
}

/// [`serialize_ms`] for an optional field (`null` when absent).
pub fn serialize_opt_ms<S: serde::Serializer>(ms: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => serialize_ms(ms, serializer),
        None => serializer.serialize_none(),
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (if month <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, month, day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn month_bounds_are_calendar_months() {
        let ms = |text: &str| parse_rfc3339_us(text).unwrap() / 1000;
        assert_eq!(
            month_bounds_ms(ms("2026-12-07T23:25:18Z")),
            (ms("2026-12-01T00:00:00Z"), ms("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            month_bounds_ms(ms("2024-02-29T12:00:00Z")),
            (ms("2024-02-01T00:00:00Z"), ms("2024-03-01T00:00:00Z"))
        );
        assert_eq!(month_bounds_ms(ms("2024-03-01T00:00:00Z")).0, ms("2024-03-01T00:00:00Z"));
    }

    use super::*;
    use serde_json::json;

    const T: i64 = 1_714_557_600_000_000; // 2024-05-01T10:00:00Z

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339_us("2024-05-01T10:00:00Z"), Some(T));
        assert_eq!(parse_rfc3339_us("2024-05-01t10:00:00z"), Some(T));
        assert_eq!(parse_rfc3339_us("2024-05-01 10:00:00"), Some(T));
        assert_eq!(parse_rfc3339_us("2024-05-01T10:00:00.25Z"), Some(T + 250_000));
        assert_eq!(parse_rfc3339_us("2024-05-01T10:00:00.123456789Z"), Some(T + 123_456));
        assert_eq!(parse_rfc3339_us("2024-05-01T12:30:00+02:30"), Some(T));
        assert_eq!(parse_rfc3339_us("2024-05-01T08:00:00.000001-02:00"), Some(T + 1));
        assert_eq!(parse_rfc3339_us("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_us("2024-02-29T00:00:00Z"), Some(1_709_164_800_000_000));
    }

    #[test]
    fn rfc3339_rejects_malformed() {
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T10:00Z",
            "2024-13-01T10:00:00Z",
            "2023-02-29T10:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T10:00:00.Z",
            "2024-05-01T10:00:00+0200",
            "2024-05-01T10:00:00Zjunk",
            "1969-12-31T23:59:59Z",
            "２024-05-01T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_us(bad), None, "{bad}");
        }
    }

    #[test]
    fn epoch_numbers_in_any_unit() {
        let secs = T / 1_000_000;
        assert_eq!(parse_json_time_us(&json!(secs)), Ok(T));
        assert_eq!(parse_json_time_us(&json!(secs as f64 + 0.5)), Ok(T + 500_000));
        assert_eq!(parse_json_time_us(&json!(T / 1000)), Ok(T));
        assert_eq!(parse_json_time_us(&json!(T)), Ok(T));
        assert_eq!(parse_json_time_us(&json!(T as u64 * 1000 + 999)), Ok(T));
        // OTLP/JSON writes 64-bit integers as strings.
        assert_eq!(parse_json_time_us(&json!(format!("{}", T as u64 * 1000 + 7))), Ok(T));
        assert_eq!(parse_json_time_us(&json!("2024-05-01T10:00:00Z")), Ok(T));
        assert!(parse_json_time_us(&json!(-5)).is_err());
        assert!(parse_json_time_us(&json!(null)).is_err());
        assert!(parse_json_time_us(&json!("yesterday")).is_err());
    }

    #[test]
    fn fixed_width_text_matches_the_formatted_one() {
        let formatted = |us: i64| {
            let [year, month, day, hour, minute, second, micros] = Rfc3339Us(us).parts();
            format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z")
        };
        for us in [0, 1, -1, T + 123_456, MAX_US - 1, -62_167_219_200_000_000, 253_402_300_799_999_999] {
            assert_eq!(Rfc3339Us(us).to_string(), formatted(us), "{us}");
        }
        assert_eq!(format_us(MAX_US), "10000-01-01T00:00:00.000000Z");
        assert_eq!(format_us(-62_167_219_200_000_001), "-001-12-31T23:59:59.999999Z");
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_us(T + 250_000), "2024-05-01T10:00:00.250000Z");
        assert_eq!(serde_json::to_string(&Rfc3339Us(T)).unwrap(), "\"2024-05-01T10:00:00.000000Z\"");
        assert_eq!(format_us(0), "1970-01-01T00:00:00.000000Z");
        for us in [0, 1, T, T + 123_456, 951_782_400_000_000, 4_102_444_799_999_999] {
            assert_eq!(parse_rfc3339_us(&format_us(us)), Some(us));
        }
    }

    #[test]
    fn query_instants_are_ms_or_rfc3339() {
        assert_eq!(parse_query_ms("1714557600000"), Some(T / 1000));
        assert_eq!(parse_query_ms("2024-05-01T10:00:00.5Z"), Some(T / 1000 + 500));
        assert_eq!(parse_query_ms("-1"), None);
        assert_eq!(parse_query_ms("soon"), None);
    }
}
