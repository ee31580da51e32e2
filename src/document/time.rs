//! RFC 3339 UTC timestamps with microseconds, without a date library:
//! the civil date is computed once per second of input and reused.

use crate::protocol::Timestamp;
use std::fmt::Write as _;

/// Formats timestamps, caching the part that changes once a second.
#[derive(Default)]
pub struct Clock {
    secs: Option<i64>,
    /// `YYYY-MM-DDTHH:MM:SS.` for `secs`.
    prefix: String,
}

impl Clock {
    /// Appends `2026-11-25T14:44:33.123456Z`.
    pub fn write(&mut self, t: Timestamp, out: &mut Vec<u8>) {
        if self.secs != Some(t.secs) {
            self.prefix.clear();
            let (y, m, d, hh, mm, ss) = civil(t.secs);
            let _ = write!(self.prefix, "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.");
            self.secs = Some(t.secs);
        }
        out.extend_from_slice(self.prefix.as_bytes());
        let mut micros = t.micros.min(999_999);
        let mut digits = [b'0'; 6];
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        out.extend_from_slice(&digits);
        out.push(b'Z');
    }
}

/// Seconds since the epoch to (year, month, day, hour, minute, second), UTC,
/// proleptic Gregorian (Howard Hinnant's days-to-civil).
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(secs: i64, micros: u32) -> String {
        let mut out = Vec::new();
        Clock::default().write(Timestamp { secs, micros }, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn known_instants() {
        assert_eq!(fmt(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(fmt(1_700_000_000, 42), "2023-11-14T22:13:20.000042Z");
        assert_eq!(fmt(951_782_400, 999_999), "2000-02-29T00:00:00.999999Z");
        assert_eq!(fmt(1_795_465_102, 788_501), "2026-11-23T20:18:22.788501Z");
        assert_eq!(fmt(253_402_300_799, 0), "9999-12-31T23:59:59.000000Z");
    }

    #[test]
    fn cache_follows_the_seconds() {
        let mut clock = Clock::default();
        let mut out = Vec::new();
        clock.write(Timestamp { secs: 0, micros: 1 }, &mut out);
        clock.write(
            Timestamp {
                secs: 86_400,
                micros: 2,
            },
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1970-01-01T00:00:00.000001Z1970-01-02T00:00:00.000002Z"
        );
    }
}
