//! The RFC 3164 header, `<PRI>Mmm dd hh:mm:ss TAG[PID]: `, as glibc's
//! and OpenBSD's syslog(3) write it: local time, the day padded with a
//! space (`Jan  1`). Made once per second: formatting a time for every
//! message cost more than sending it.
//!
//! The zone is the process's (TZ, else /etc/localtime), read as syslog(3)
//! reads it. rsyslog and syslog-ng stamp messages from /dev/log with their
//! own clock by default, but OpenBSD's syslogd keeps a well-formed client
//! timestamp: there, this is the time the log line shows.

use chrono::{DateTime, FixedOffset, Local, Utc};
use std::io::Write;
use std::time::SystemTime;

/// The header of every message of one second.
pub struct Header {
    pri: u8,
    tag: String,
    pid: u32,
    /// `None`: the local zone, as syslog(3); a fixed offset for tests.
    zone: Option<FixedOffset>,
    second: Option<i64>,
    text: Vec<u8>,
}

/// Severity `info`.
const INFO: u8 = 6;

impl Header {
    /// Headers for `facility` (its number), tag and pid, in local time.
    pub fn new(facility: u8, tag: &str, pid: u32) -> Header {
        Header {
            pri: facility.saturating_mul(8).saturating_add(INFO),
            tag: tag.to_string(),
            pid,
            zone: None,
            second: None,
            text: Vec::with_capacity(64),
        }
    }

    /// The same, at a fixed offset from UTC instead of the local zone.
    #[cfg(test)]
    fn at_offset(mut self, zone: FixedOffset) -> Header {
        self.zone = Some(zone);
        self
    }

    /// Appends the header for time `now` to `out`.
    pub fn write(&mut self, now: SystemTime, out: &mut Vec<u8>) {
        let utc = DateTime::<Utc>::from(now);
        let second = utc.timestamp();
        if self.second != Some(second) {
            self.second = Some(second);
            self.text.clear();
            // `%e`: the day padded with a space, as syslog(3)'s "%h %e %T".
            let stamp = match self.zone {
                Some(zone) => utc.with_timezone(&zone).format("%b %e %H:%M:%S"),
                None => utc.with_timezone(&Local).format("%b %e %H:%M:%S"),
            };
            let _ = write!(
                self.text,
                "<{}>{stamp} {}[{}]: ",
                self.pri, self.tag, self.pid
            );
        }
        out.extend_from_slice(&self.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> String {
        let utc = FixedOffset::east_opt(0).unwrap();
        let mut h = Header::new(2, "filter-jsonlog", 42).at_offset(utc);
        let mut out = Vec::new();
        h.write(UNIX_EPOCH + Duration::from_secs(secs), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn headers_as_syslog_3_writes_them() {
        assert_eq!(at(0), "<22>Jan  1 00:00:00 filter-jsonlog[42]: ");
        // 2024-02-29 23:59:59 UTC, a leap day.
        assert_eq!(
            at(1_709_251_199),
            "<22>Feb 29 23:59:59 filter-jsonlog[42]: "
        );
        // 2026-12-01 17:29:01 UTC.
        assert_eq!(
            at(1_796_146_141),
            "<22>Dec  1 17:29:01 filter-jsonlog[42]: "
        );
        assert_eq!(at(951_868_800), "<22>Mar  1 00:00:00 filter-jsonlog[42]: ");
        // Two digits need no padding.
        assert_eq!(
            at(1_796_146_141 + 9 * 86_400),
            "<22>Dec 10 17:29:01 filter-jsonlog[42]: "
        );
    }

    #[test]
    fn the_cached_header_follows_the_seconds() {
        let mut h = Header::new(2, "t", 1).at_offset(FixedOffset::east_opt(0).unwrap());
        let mut a = Vec::new();
        h.write(UNIX_EPOCH + Duration::from_millis(59_999), &mut a);
        let mut b = Vec::new();
        h.write(UNIX_EPOCH + Duration::from_millis(60_000), &mut b);
        assert_eq!(a, b"<22>Jan  1 00:00:59 t[1]: ");
        assert_eq!(b, b"<22>Jan  1 00:01:00 t[1]: ");
    }
}
