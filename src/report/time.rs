//! Times as microseconds since the epoch, UTC: the documents' `@timestamp`
//! and the `--since`/`--until` arguments. The civil calendar is
//! `crate::calendar`'s.

use crate::calendar::{civil_from_days, days_from_civil, days_in_month};

/// Microseconds in an hour.
pub const HOUR: i64 = 3_600_000_000;
/// Microseconds in a day.
pub const DAY: i64 = 24 * HOUR;

fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 9 {
        return None;
    }
    bytes.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

/// Parses `YYYY-MM-DD`, optionally followed by `THH:MM`, `:SS`, a fraction
/// and `Z` (or a space instead of `T`). Times are UTC.
pub fn parse(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let date = b.get(..10)?;
    if date.get(4) != Some(&b'-') || date.get(7) != Some(&b'-') {
        return None;
    }
    let (y, m, d) = (
        digits(date.get(..4)?)?,
        digits(date.get(5..7)?)?,
        digits(date.get(8..10)?)?,
    );
    // A day the month does not have (2026-02-31) is refused, not carried
    // into the next month.
    if !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&d) {
        return None;
    }
    let mut t = days_from_civil(y, m, d) * DAY;
    let mut rest = b.get(10..)?;
    if let Some(stripped) = rest.strip_suffix(b"Z") {
        rest = stripped;
    }
    if rest.is_empty() {
        return Some(t);
    }
    if !matches!(rest.first(), Some(b'T' | b' ')) {
        return None;
    }
    let hh = digits(rest.get(1..3)?)?;
    if rest.get(3) != Some(&b':') {
        return None;
    }
    let mm = digits(rest.get(4..6)?)?;
    if hh > 23 || mm > 59 {
        return None;
    }
    t += hh * HOUR + mm * 60_000_000;
    rest = rest.get(6..)?;
    if rest.is_empty() {
        return Some(t);
    }
    if rest.first() != Some(&b':') {
        return None;
    }
    let ss = digits(rest.get(1..3)?)?;
    if ss > 60 {
        return None;
    }
    t += ss * 1_000_000;
    rest = rest.get(3..)?;
    if rest.is_empty() {
        return Some(t);
    }
    let frac = rest.strip_prefix(b".")?;
    let frac = frac.get(..frac.len().min(6))?;
    let scale = 10i64.pow(6 - u32::try_from(frac.len()).ok()?);
    Some(t + digits(frac)? * scale)
}

/// A `--since`/`--until` value: a date or time as [`parse`] takes it,
/// `now`, `today`, `yesterday` (midnight UTC), or `-Nh`/`-Nd`/`-Nm`
/// (before `now`).
pub fn parse_arg(text: &str, now: i64) -> Option<i64> {
    let midnight = now.div_euclid(DAY) * DAY;
    match text.trim() {
        "now" => return Some(now),
        "today" => return Some(midnight),
        "yesterday" => return Some(midnight - DAY),
        _ => {}
    }
    if let Some(rel) = text.trim().strip_prefix('-') {
        // The unit is the last character, whatever its width (`-é`).
        let mut chars = rel.chars();
        let unit = chars.next_back()?;
        let n = digits(chars.as_str().as_bytes())?;
        let unit = match unit {
            'm' => 60_000_000,
            'h' => HOUR,
            'd' => DAY,
            _ => return None,
        };
        return n.checked_mul(unit).and_then(|d| now.checked_sub(d));
    }
    parse(text)
}

/// `2026-11-25T15:00:35Z` (seconds).
pub fn format(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    let s = t.rem_euclid(DAY) / 1_000_000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `2026-11-25 15:00` for an hour bucket, `2026-11-25` for a day.
pub fn format_hour(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    let h = t.rem_euclid(DAY) / HOUR;
    format!("{y:04}-{m:02}-{d:02} {h:02}:00")
}

/// The date of `t`.
pub fn format_day(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = parse("2026-11-25T15:00:35.209245Z").unwrap();
        assert_eq!(format(t), "2026-11-25T15:00:35Z");
        assert_eq!(t % 1_000_000, 209_245);
        assert_eq!(parse("1970-01-01"), Some(0));
        assert_eq!(
            parse("2024-02-29 23:59"),
            Some(parse("2024-03-01").unwrap() - 60_000_000)
        );
        assert_eq!(
            parse("2026-11-25T15:00:35.5Z").unwrap() % 1_000_000,
            500_000
        );
        assert_eq!(
            format_hour(parse("2026-11-25T15:59:59Z").unwrap()),
            "2026-11-25 15:00"
        );
        for bad in [
            "",
            "2026-13-01",
            "2026-11-25T25:00",
            "2026/11/25",
            "2026-11-25Tx",
            "2026-11-25T15:00:35.abc",
            "2026-02-31",
            "2026-02-29",
            "2026-04-31",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn arguments() {
        let now = parse("2026-11-25T15:30:00Z").unwrap();
        assert_eq!(parse_arg("today", now), parse("2026-11-25"));
        assert_eq!(parse_arg("yesterday", now), parse("2026-11-24"));
        assert_eq!(parse_arg("-24h", now), parse("2026-11-24T15:30"));
        assert_eq!(parse_arg("-2d", now), parse("2026-11-23T15:30"));
        assert_eq!(parse_arg("-x", now), None);
        assert_eq!(parse_arg("now", now), Some(now));
        assert_eq!(parse_arg("-999999999d", now), None);
        assert_eq!(parse_arg("-é", now), None);
        assert_eq!(parse_arg("-1é", now), None);
        assert_eq!(
            parse("2024-02-29"),
            Some(parse("2024-03-01").unwrap() - DAY)
        );
    }
}
