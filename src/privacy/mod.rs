//! What personal data documents may hold. Applied where the session stores
//! a value, so a value is transformed once per event, not once per document.
//!
//! Keyed hashes (HMAC-SHA-256 with a secret from a file, first 64 bits in
//! hex) keep values joinable across documents and days, while a dictionary
//! of likely addresses cannot reverse them without the key.

pub mod secrets;
mod words;

pub use secrets::ClientLine;
pub use words::OTHER;

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

    /// True when addresses or user names are changed: free text that can
    /// repeat them (commands, replies, filter parameters and messages) is
    /// then reduced to closed sets and codes.
    pub fn hides_personal_data(&self) -> bool {
        self.addresses != AddressPolicy::Keep || self.users != UserPolicy::Keep
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

    /// A client command, its secrets already masked, as documents may
    /// show it; `None`: left out. With personal data hidden, a command
    /// keeps only its verb from a closed list: smtpd reports client lines
    /// as sent, so a bare address, `VRFY,addr` or a leading blank would
    /// carry personal data past any rule that keeps input.
    pub fn command<'a>(&self, line: &'a ClientLine<'_>) -> Option<&'a [u8]> {
        if self.drop_commands {
            return None;
        }
        if !self.hides_personal_data() {
            return Some(line.shown());
        }
        Some(match line {
            ClientLine::Answer => secrets::MASK,
            ClientLine::Auth { .. } => b"AUTH",
            ClientLine::Clear(command) => words::verb(command),
        })
    }

    /// A server reply as documents may show it: only its codes (`550
    /// 5.7.1`) when personal data is hidden or when it answers a line whose
    /// secret was masked, since replies repeat what clients sent.
    pub fn response<'a>(&self, response: &'a [u8], answers_masked: bool) -> &'a [u8] {
        if answers_masked || self.hides_personal_data() {
            words::reply_codes(response)
        } else {
            response
        }
    }

    /// A HELO/EHLO name as documents may show it; `None`: unchanged. A
    /// name with an `@` is no host name but, likely, an address.
    pub fn helo(&self, identity: &[u8]) -> Option<Vec<u8>> {
        if self.addresses != AddressPolicy::Keep && identity.contains(&b'@') {
            return self.address(identity);
        }
        None
    }

    /// A filter-response's phase as documents may show it.
    pub fn filter_phase<'a>(&self, phase: &'a [u8]) -> &'a [u8] {
        if self.hides_personal_data() {
            words::phase(phase)
        } else {
            phase
        }
    }

    /// A filter-response's decision as documents may show it.
    pub fn filter_decision<'a>(&self, decision: &'a [u8]) -> &'a [u8] {
        if self.hides_personal_data() {
            words::decision(decision)
        } else {
            decision
        }
    }

    /// A filter-response's parameter as documents may show it; `None`: left
    /// out. Secrets of the `auth` phase are masked always; with personal
    /// data hidden, a reject or disconnect keeps its reply codes and every
    /// other parameter (a rewrite, a report) is left out.
    pub fn filter_param<'a>(
        &self,
        phase: &[u8],
        decision: &[u8],
        param: &'a [u8],
    ) -> Option<&'a [u8]> {
        let param = secrets::filter_param(phase, param);
        if !self.hides_personal_data() {
            return Some(param);
        }
        match decision {
            b"reject" | b"disconnect" => Some(words::reply_codes(param)),
            _ => None,
        }
    }

    /// A filter-report's message as documents may show it: left out when
    /// personal data is hidden (filters report what they saw).
    pub fn filter_message<'a>(&self, message: &'a [u8]) -> &'a [u8] {
        if self.hides_personal_data() {
            b""
        } else {
            message
        }
    }
}

#[cfg(test)]
mod tests;
