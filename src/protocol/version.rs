//! Protocol versions, compared as numbers: `0.10` is newer than `0.7`.

use std::fmt;

/// A report protocol version as sent in field 2 of every `report|` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The part before the dot.
    pub major: u16,
    /// The part after the dot.
    pub minor: u16,
}

impl Version {
    /// OpenSMTPD 6.6.
    pub const V0_4: Version = Version::new(0, 4);
    /// Never released; payloads as 0.4.
    pub const V0_5: Version = Version::new(0, 5);
    /// OpenSMTPD 6.7, 6.8 (Debian 12), 7.3: tx-mail/tx-rcpt become `msgid|result|address`.
    pub const V0_6: Version = Version::new(0, 6);
    /// OpenSMTPD 7.4 and later: link-auth becomes `result|username`.
    pub const V0_7: Version = Version::new(0, 7);

    /// A version from its two numbers.
    pub const fn new(major: u16, minor: u16) -> Version {
        Version { major, minor }
    }

    /// Parses `MAJOR.MINOR`, each 1 to 4 ASCII digits.
    pub fn parse(text: &[u8]) -> Option<Version> {
        let dot = text.iter().position(|&b| b == b'.')?;
        let (major, minor) = (text.get(..dot)?, text.get(dot + 1..)?);
        Some(Version::new(small_number(major)?, small_number(minor)?))
    }

    /// True for the versions some OpenSMTPD release (or snapshot) really sent.
    pub fn is_known(self) -> bool {
        self >= Version::V0_4 && self <= Version::V0_7
    }
}

fn small_number(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u16, |n, d| n * 10 + u16::from(d - b'0')),
    )
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_as_numbers_not_text() {
        let v010 = Version::parse(b"0.10").unwrap();
        assert!(v010 > Version::V0_7);
        assert!(Version::parse(b"1.0").unwrap() > v010);
        assert!(Version::parse(b"0.3").unwrap() < Version::V0_4);
    }

    #[test]
    fn known_versions() {
        for (text, known) in [("0.4", true), ("0.5", true), ("0.6", true), ("0.7", true)] {
            assert_eq!(Version::parse(text.as_bytes()).unwrap().is_known(), known);
        }
        for text in ["0.3", "0.8", "0.10", "1.0"] {
            assert!(
                !Version::parse(text.as_bytes()).unwrap().is_known(),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        for text in [
            "", ".", "0.", ".7", "a.b", "0.7.1", "0,7", "12345.1", "-0.7", "0.7 ",
        ] {
            assert_eq!(Version::parse(text.as_bytes()), None, "{text:?}");
        }
    }
}
