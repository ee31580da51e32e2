//! The RFC 3164 header, `<PRI>Mmm dd hh:mm:ss TAG[PID]: `, made once per
//! second: formatting a time for every message cost more than sending it.
//!
//! The time is UTC, as the syslog crate wrote it before (a local time
//! needs the time zone database, and syslogd stamps messages itself).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// The header of every message of one second.
pub struct Header {
    pri: u8,
    tag: String,
    pid: u32,
    second: Option<u64>,
    text: Vec<u8>,
}

/// Severity `info`.
const INFO: u8 = 6;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Header {
    /// Headers for `facility` (its number), tag and pid.
    pub fn new(facility: u8, tag: &str, pid: u32) -> Header {
        Header {
            pri: facility.saturating_mul(8).saturating_add(INFO),
            tag: tag.to_string(),
            pid,
            second: None,
            text: Vec::with_capacity(64),
        }
    }

    /// Appends the header for time `now` to `out`.
    pub fn write(&mut self, now: SystemTime, out: &mut Vec<u8>) {
        let second = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        if self.second != Some(second) {
            self.second = Some(second);
            self.text.clear();
            let (month, day) = month_day(second / 86_400);
            let time = second % 86_400;
            let _ = write!(
                self.text,
                "<{}>{} {:02} {:02}:{:02}:{:02} {}[{}]: ",
                self.pri,
                MONTHS.get(month.saturating_sub(1)).unwrap_or(&"Jan"),
                day,
                time / 3600,
                time / 60 % 60,
                time % 60,
                self.tag,
                self.pid
            );
        }
        out.extend_from_slice(&self.text);
    }
}

/// Month (1-12) and day of the month of a day since 1970-01-01 (the civil
/// calendar, after Howard Hinnant's `civil_from_days`).
fn month_day(days: u64) -> (usize, u64) {
    let z = days + 719_468;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (usize::try_from(month).unwrap_or(1), day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        let mut h = Header::new(2, "filter-jsonlog", 42);
        let mut out = Vec::new();
        h.write(UNIX_EPOCH + Duration::from_secs(secs), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn headers_as_syslog_3_writes_them() {
        assert_eq!(at(0), "<22>Jan 01 00:00:00 filter-jsonlog[42]: ");
        // 2024-02-29 23:59:59 UTC, a leap day.
        assert_eq!(
            at(1_709_251_199),
            "<22>Feb 29 23:59:59 filter-jsonlog[42]: "
        );
        // 2026-12-01 17:29:01 UTC.
        assert_eq!(
            at(1_796_146_141),
            "<22>Dec 01 17:29:01 filter-jsonlog[42]: "
        );
        assert_eq!(at(951_868_800), "<22>Mar 01 00:00:00 filter-jsonlog[42]: ");
    }

    #[test]
    fn the_cached_header_follows_the_seconds() {
        let mut h = Header::new(2, "t", 1);
        let mut a = Vec::new();
        h.write(UNIX_EPOCH + Duration::from_millis(59_999), &mut a);
        let mut b = Vec::new();
        h.write(UNIX_EPOCH + Duration::from_millis(60_000), &mut b);
        assert_eq!(a, b"<22>Jan 01 00:00:59 t[1]: ");
        assert_eq!(b, b"<22>Jan 01 00:01:00 t[1]: ");
    }
}
