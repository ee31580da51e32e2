//! What personal data documents may hold. Applied where the session stores
//! a value, so a value is transformed once per event, not once per document.
//!
//! Keyed hashes (HMAC-SHA-256 with a secret from a file, first 64 bits in
//! hex) keep values joinable across documents and days, while a dictionary
//! of likely addresses cannot reverse them without the key.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

/// What to do with mail addresses (MAIL FROM, RCPT TO).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AddressPolicy {
    /// Write them as sent.
    #[default]
    Keep,
    /// Local part replaced by its keyed hash; the domain kept.
    HashLocal,
    /// The whole address replaced by its keyed hash.
    Hash,
    /// Local part replaced by `redacted`; the domain kept.
    RedactLocal,
}

/// What to do with AUTH user names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserPolicy {
    /// Write them as sent.
    #[default]
    Keep,
    /// Replaced by their keyed hash.
    Hash,
    /// Replaced by `redacted`.
    Redact,
}

/// The privacy settings.
#[derive(Clone, Default)]
pub struct Privacy {
    /// Addresses.
    pub addresses: AddressPolicy,
    /// AUTH user names.
    pub users: UserPolicy,
    /// Leave client commands out entirely.
    pub drop_commands: bool,
    key: Option<Vec<u8>>,
}

impl fmt::Debug for Privacy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("Privacy")
            .field("addresses", &self.addresses)
            .field("users", &self.users)
            .field("drop_commands", &self.drop_commands)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A privacy setting that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivacyError {
    /// A hash policy without a key.
    NoKey,
    /// A key shorter than 16 bytes.
    ShortKey,
}

impl fmt::Display for PrivacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivacyError::NoKey => f.write_str("hashing needs --hash-key-file"),
            PrivacyError::ShortKey => f.write_str("the hash key must be at least 16 bytes"),
        }
    }
}

impl std::error::Error for PrivacyError {}

impl Privacy {
    /// Settings with an optional key (the key file's content, a trailing
    /// newline removed).
    pub fn new(
        addresses: AddressPolicy,
        users: UserPolicy,
        drop_commands: bool,
        key: Option<Vec<u8>>,
    ) -> Result<Privacy, PrivacyError> {
        let key = key.map(|mut k| {
            while k.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                k.pop();
            }
            k
        });
        let hashing = matches!(addresses, AddressPolicy::Hash | AddressPolicy::HashLocal)
            || users == UserPolicy::Hash;
        match &key {
            None if hashing => return Err(PrivacyError::NoKey),
            Some(k) if k.len() < 16 => return Err(PrivacyError::ShortKey),
            _ => {}
        }
        Ok(Privacy {
            addresses,
            users,
            drop_commands,
            key,
        })
    }

    /// True when addresses are changed: free text that repeats them
    /// (commands, replies, filter messages) must then be reduced too.
    pub fn hides_addresses(&self) -> bool {
        self.addresses != AddressPolicy::Keep
    }

    fn hash(&self, value: &[u8], out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let Some(key) = &self.key else { return };
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
            return;
        };
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        for byte in digest.iter().take(8) {
            out.push(HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(byte & 0xf)).copied().unwrap_or(b'0'));
        }
    }

    /// An address as documents may show it; `None`: unchanged.
    pub fn address(&self, address: &[u8]) -> Option<Vec<u8>> {
        if address.is_empty() {
            return None; // the null sender of a bounce tells nothing about anyone
        }
        let at = address.iter().rposition(|&b| b == b'@');
        let (local, domain) = match at {
            Some(at) => (
                address.get(..at).unwrap_or_default(),
                address.get(at..).unwrap_or_default(),
            ),
            None => (address, &b""[..]),
        };
        let mut out = Vec::with_capacity(16 + domain.len());
        match self.addresses {
            AddressPolicy::Keep => return None,
            AddressPolicy::Hash => self.hash(address, &mut out),
            AddressPolicy::HashLocal => {
                self.hash(local, &mut out);
                out.extend_from_slice(domain);
            }
            AddressPolicy::RedactLocal => {
                out.extend_from_slice(b"redacted");
                out.extend_from_slice(domain);
            }
        }
        Some(out)
    }

    /// A user name as documents may show it; `None`: unchanged.
    pub fn user(&self, user: &[u8]) -> Option<Vec<u8>> {
        match self.users {
            UserPolicy::Keep => None,
            UserPolicy::Redact => Some(b"redacted".to_vec()),
            UserPolicy::Hash => {
                let mut out = Vec::with_capacity(16);
                self.hash(user, &mut out);
                Some(out)
            }
        }
    }

    /// A client command as documents may show it; `None`: left out.
    /// With addresses hidden, every command keeps only its first word:
    /// smtpd reports client lines as sent, so a malformed MAIL, a VRFY or
    /// a leading blank would carry addresses past any narrower rule.
    pub fn command<'a>(&self, command: &'a [u8]) -> Option<&'a [u8]> {
        if self.drop_commands {
            return None;
        }
        if self.hides_addresses() {
            let start = command
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(command.len());
            let rest = command.get(start..).unwrap_or_default();
            let end = rest
                .iter()
                .position(|b| b.is_ascii_whitespace() || *b == b':' || *b == b'<')
                .unwrap_or(rest.len());
            return rest.get(..end);
        }
        Some(command)
    }

    /// A server reply as documents may show it: with addresses hidden, only
    /// its codes (`550 5.7.1`), since replies repeat addresses.
    pub fn response<'a>(&self, response: &'a [u8]) -> &'a [u8] {
        if !self.hides_addresses() {
            return response;
        }
        let code = response
            .get(..3)
            .filter(|c| c.iter().all(u8::is_ascii_digit));
        let Some(code) = code else {
            return b"";
        };
        // `550 5.1.1 …`: keep the enhanced status code too.
        let status = response
            .get(4..)
            .filter(|_| response.get(3) == Some(&b' '))
            .and_then(|rest| rest.split(|&b| b == b' ').next())
            .filter(|w| w.contains(&b'.') && w.iter().all(|b| b.is_ascii_digit() || *b == b'.'));
        match status {
            Some(status) => response.get(..4 + status.len()).unwrap_or(code),
            None => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Option<Vec<u8>> {
        Some(b"0123456789abcdef-secret\n".to_vec())
    }

    #[test]
    fn hashes_are_keyed_stable_and_keep_the_domain() {
        let p = Privacy::new(AddressPolicy::HashLocal, UserPolicy::Hash, false, key()).unwrap();
        let a = p.address(b"alice@example.org").unwrap();
        assert_eq!(a.len(), 16 + "@example.org".len());
        assert!(a.ends_with(b"@example.org"));
        assert_eq!(p.address(b"alice@example.org").unwrap(), a, "joinable");
        assert_ne!(p.address(b"bob@example.org").unwrap(), a);
        let other = Privacy::new(
            AddressPolicy::HashLocal,
            UserPolicy::Hash,
            false,
            Some(b"another key of 16+ bytes".to_vec()),
        )
        .unwrap();
        assert_ne!(other.address(b"alice@example.org").unwrap(), a, "keyed");
        assert_eq!(p.user(b"alice").unwrap().len(), 16);
        assert_eq!(p.address(b""), None);
    }

    #[test]
    fn redaction_and_free_text() {
        let p = Privacy::new(AddressPolicy::RedactLocal, UserPolicy::Redact, false, None).unwrap();
        assert_eq!(
            p.address(b"alice@example.org").unwrap(),
            b"redacted@example.org"
        );
        assert_eq!(p.user(b"alice").unwrap(), b"redacted");
        for (command, kept) in [
            (&b"MAIL FROM:<alice@example.org> SIZE=5"[..], &b"MAIL"[..]),
            (b"rcpt to:<bob@example.org>", b"rcpt"),
            (b"MAIL FROM <alice@example.org>", b"MAIL"),
            (b"  RCPT TO:<bob@example.org>", b"RCPT"),
            (b"VRFY alice@example.org", b"VRFY"),
            (b"EHLO client.example", b"EHLO"),
        ] {
            assert_eq!(p.command(command), Some(kept));
        }
        assert_eq!(
            p.response(b"550 5.1.1 Invalid recipient: <bob@x>"),
            b"550 5.1.1"
        );
        assert_eq!(p.response(b"550 Invalid recipient: <bob@x>"), b"550");
        assert_eq!(p.response(b"250-mx.example.org Hello"), b"250");
        assert_eq!(p.response(b"no code"), b"");
    }

    #[test]
    fn hashing_needs_a_real_key() {
        assert_eq!(
            Privacy::new(AddressPolicy::Hash, UserPolicy::Keep, false, None).unwrap_err(),
            PrivacyError::NoKey
        );
        assert_eq!(
            Privacy::new(
                AddressPolicy::Keep,
                UserPolicy::Hash,
                false,
                Some(b"short\n".to_vec())
            )
            .unwrap_err(),
            PrivacyError::ShortKey
        );
        let p = Privacy::new(AddressPolicy::Keep, UserPolicy::Keep, true, None).unwrap();
        assert_eq!(p.command(b"QUIT"), None);
        assert!(!format!(
            "{:?}",
            Privacy::new(AddressPolicy::Hash, UserPolicy::Keep, false, key()).unwrap()
        )
        .contains("secret"));
    }
}
