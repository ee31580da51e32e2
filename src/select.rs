//! Which documents are written. State always follows every event; this only
//! decides what reaches the output: the events asked for (`--events`), and
//! not the sessions of ignored clients (`--ignore-source`).

use crate::protocol::EventKind;
use crate::session::{Endpoint, Snapshot};
use std::fmt;
use std::net::IpAddr;

/// Documents written for sessions that end without link-disconnect.
pub const SESSION_ENDINGS: [&str; 3] = ["session-expired", "session-evicted", "session-unfinished"];

/// The `summaries` preset: one document per finished transaction and one
/// per session.
pub const SUMMARIES: &[&str] = &[
    "tx-commit",
    "tx-rollback",
    "link-disconnect",
    "session-expired",
    "session-evicted",
    "session-unfinished",
];

/// The events whose documents are written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Empty: every event.
    names: Vec<Vec<u8>>,
}

/// A `--events` or `--ignore-source` value that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectError {
    /// Not an smtpd report event, a session ending, or a preset.
    UnknownEvent(String),
    /// Not `ADDRESS` or `ADDRESS/BITS`.
    BadCidr(String),
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::UnknownEvent(e) => write!(
                f,
                "--events: {e:?} is not a report event (link-connect … timeout), a session ending ({}), or a preset (all, summaries)",
                SESSION_ENDINGS.join(", ")
            ),
            SelectError::BadCidr(c) => write!(f, "--ignore-source: {c:?} is not an address or ADDRESS/BITS"),
        }
    }
}

impl std::error::Error for SelectError {}

impl Events {
    /// Parses a comma-separated list of event names and presets.
    pub fn parse(list: &str) -> Result<Events, SelectError> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "all" => return Ok(Events::default()),
                "summaries" => names.extend(SUMMARIES.iter().map(|n| n.as_bytes().to_vec())),
                n if EventKind::from_name(n.as_bytes()).is_some()
                    || SESSION_ENDINGS.contains(&n) =>
                {
                    names.push(n.as_bytes().to_vec());
                }
                other => return Err(SelectError::UnknownEvent(other.to_string())),
            }
        }
        Ok(Events { names })
    }

    /// True when documents of the event named `name` are written.
    pub fn wants(&self, name: &[u8]) -> bool {
        self.names.is_empty() || self.names.iter().any(|n| n == name)
    }
}

/// An address block, `ADDRESS/BITS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `192.0.2.0/24`, `2001:db8::/32` or a single address.
    pub fn parse(text: &str) -> Result<Cidr, SelectError> {
        let bad = || SelectError::BadCidr(text.to_string());
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { network, bits })
    }

    /// True when `ip` is in the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (a, b, width) = match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let shift = width - u32::from(self.bits);
        shift >= 128 || (a >> shift) == (b >> shift)
    }
}

/// What to write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// The events wanted.
    pub events: Events,
    /// smtp-in clients whose sessions are not written.
    pub ignore_sources: Vec<Cidr>,
}

impl Selection {
    /// True when the document for `snap` is to be written.
    pub fn wants(&self, snap: &Snapshot<'_>) -> bool {
        if !self.events.wants(snap.event.name) {
            return false;
        }
        if self.ignore_sources.is_empty()
            || snap.session.key.subsystem != crate::protocol::Subsystem::SmtpIn
        {
            return true;
        }
        match snap.session.src {
            Some(Endpoint::Inet { ip, .. }) => !self.ignore_sources.iter().any(|c| c.contains(ip)),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_presets() {
        let e = Events::parse("tx-commit, link-disconnect").unwrap();
        assert!(e.wants(b"tx-commit") && e.wants(b"link-disconnect") && !e.wants(b"tx-rcpt"));
        let s = Events::parse("summaries").unwrap();
        assert!(
            s.wants(b"session-expired") && s.wants(b"tx-rollback") && !s.wants(b"link-connect")
        );
        assert!(Events::parse("all").unwrap().wants(b"anything"));
        assert!(Events::default().wants(b"link-teleport"));
        assert_eq!(
            Events::parse("tx-comit"),
            Err(SelectError::UnknownEvent("tx-comit".into()))
        );
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(c.contains("192.0.2.77".parse().unwrap()));
        assert!(c.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        let one = Cidr::parse("2001:db8::1").unwrap();
        assert!(
            one.contains("2001:db8::1".parse().unwrap())
                && !one.contains("2001:db8::2".parse().unwrap())
        );
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("203.0.113.1".parse().unwrap()));
        for bad in ["192.0.2.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
