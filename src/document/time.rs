//! RFC 3339 UTC timestamps with microseconds, without `fmt`: the civil
//! date comes from `crate::calendar` and the last two seconds formatted
//! are kept (a document has the event's time and the session's start,
//! which alternate).

use crate::calendar::civil_from_days;
use crate::protocol::Timestamp;

/// `YYYY-MM-DDTHH:MM:SS.` (years past 9999 take more digits).
#[derive(Clone, Copy)]
struct Prefix {
    secs: i64,
    len: usize,
    bytes: [u8; 32],
}

/// Formats timestamps, caching the part that changes once a second.
#[derive(Default)]
pub struct Clock {
    slots: [Option<Prefix>; 2],
    /// The slot to replace next.
    next: usize,
    /// Prefixes computed (cache misses), for the tests that prove the cache.
    computed: u64,
}

impl Clock {
    /// Appends `2026-11-25T14:44:33.123456Z`.
    pub fn write(&mut self, t: Timestamp, out: &mut Vec<u8>) {
        let cached = self.slots.iter().flatten().find(|p| p.secs == t.secs);
        let prefix = match cached {
            Some(p) => *p,
            None => {
                self.computed += 1;
                let p = prefix(t.secs);
                if let Some(slot) = self.slots.get_mut(self.next) {
                    *slot = Some(p);
                }
                self.next = (self.next + 1) % self.slots.len();
                p
            }
        };
        out.extend_from_slice(prefix.bytes.get(..prefix.len).unwrap_or_default());
        let micros = t.micros.min(999_999);
        let mut digits = *b"000000Z";
        put_digits(digits.get_mut(..6).unwrap_or_default(), u64::from(micros));
        out.extend_from_slice(&digits);
    }
}

/// Fills `slots` with the low digits of `n`, zero-padded to its length.
fn put_digits(slots: &mut [u8], mut n: u64) {
    for slot in slots.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn prefix(secs: i64) -> Prefix {
    let (y, m, d, hh, mm, ss) = civil(secs);
    let mut bytes = [0u8; 32];
    let mut len = 0;
    let mut put = |text: &[u8]| {
        for &b in text {
            if let Some(slot) = bytes.get_mut(len) {
                *slot = b;
                len += 1;
            }
        }
    };
    if y < 0 {
        put(b"-");
    }
    let year = y.unsigned_abs();
    let mut buf = [0u8; 20];
    let width = (year.checked_ilog10().unwrap_or(0) as usize + 1).max(4);
    let start = buf.len().saturating_sub(width);
    put_digits(buf.get_mut(start..).unwrap_or_default(), year);
    put(buf.get(start..).unwrap_or_default());
    for (sep, n) in [(b'-', m), (b'-', d), (b'T', hh), (b':', mm), (b':', ss)] {
        let mut two = [sep, 0, 0];
        put_digits(two.get_mut(1..).unwrap_or_default(), u64::from(n));
        put(&two);
    }
    put(b".");
    Prefix { secs, len, bytes }
}

/// Seconds since the epoch to (year, month, day, hour, minute, second), UTC.
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    (
        y,
        m as u32,
        d as u32,
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
    fn cache_holds_two_seconds() {
        let mut clock = Clock::default();
        let mut out = Vec::new();
        // A document's event time and its session's start alternate.
        for micros in 0..10 {
            clock.write(Timestamp { secs: 100, micros }, &mut out);
            clock.write(Timestamp { secs: 7, micros }, &mut out);
        }
        assert_eq!(clock.computed, 2, "each second computed once");
        clock.write(
            Timestamp {
                secs: 101,
                micros: 0,
            },
            &mut out,
        );
        clock.write(
            Timestamp {
                secs: 101,
                micros: 1,
            },
            &mut out,
        );
        assert_eq!(clock.computed, 3);
        // The slot replaced was the oldest (100); 7 is still there.
        clock.write(Timestamp { secs: 7, micros: 0 }, &mut out);
        assert_eq!(clock.computed, 3);
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
