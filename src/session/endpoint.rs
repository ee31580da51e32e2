//! The `src`/`dest` fields of link-connect: `ip:port`, `[ip6]:port` or `unix:/path`.

use super::text::{caps, Text};
use std::net::IpAddr;

/// One end of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// An IP address and port. An IPv6 scope (`%em0`) is dropped: ECS `ip` cannot hold it.
    Inet {
        /// The address.
        ip: IpAddr,
        /// The port.
        port: u16,
    },
    /// `unix:/path`: local enqueue through smtpd's socket (the path without `unix:`).
    Unix(Text),
    /// Anything else, kept as sent.
    Other(Text),
}

impl Endpoint {
    /// Parses smtpd's `sa_to_text()` forms. Never fails: what is not
    /// understood is kept as [`Endpoint::Other`].
    pub fn parse(text: &[u8]) -> Endpoint {
        if let Some(path) = text.strip_prefix(b"unix:") {
            return Endpoint::Unix(Text::new(path, caps::LINE));
        }
        Endpoint::inet(text).unwrap_or_else(|| Endpoint::Other(Text::new(text, caps::LINE)))
    }

    /// True when the stored text was cut at its cap.
    pub fn was_cut(&self) -> bool {
        match self {
            Endpoint::Inet { .. } => false,
            Endpoint::Unix(t) | Endpoint::Other(t) => t.was_cut(),
        }
    }

    fn inet(text: &[u8]) -> Option<Endpoint> {
        let text = std::str::from_utf8(text).ok()?;
        let (host, port) = text.rsplit_once(':')?;
        let port = port.parse().ok()?;
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.strip_suffix(']')?,
            None => host,
        };
        let host = host.split_once('%').map_or(host, |(addr, _scope)| addr);
        Some(Endpoint::Inet {
            ip: host.parse().ok()?,
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            Endpoint::parse(b"203.0.113.7:49152"),
            Endpoint::Inet {
                ip: "203.0.113.7".parse().unwrap(),
                port: 49152
            }
        );
        assert_eq!(
            Endpoint::parse(b"[2001:db8::7]:50110"),
            Endpoint::Inet {
                ip: "2001:db8::7".parse().unwrap(),
                port: 50110
            }
        );
        assert_eq!(
            Endpoint::parse(b"[fe80::1%em0]:25"),
            Endpoint::Inet {
                ip: "fe80::1".parse().unwrap(),
                port: 25
            }
        );
        assert_eq!(
            Endpoint::parse(b"[::ffff:203.0.113.7]:1"),
            Endpoint::Inet {
                ip: "::ffff:203.0.113.7".parse().unwrap(),
                port: 1
            }
        );
        assert_eq!(
            Endpoint::parse(b"unix:/var/run/smtpd.sock"),
            Endpoint::Unix(Text::new(b"/var/run/smtpd.sock", 100))
        );
        for other in [
            &b"local:0"[..],
            b"",
            b"1.2.3.4",
            b"1.2.3.4:99999",
            b"[::1:25",
            b"\xff:1",
        ] {
            assert!(
                matches!(Endpoint::parse(other), Endpoint::Other(_)),
                "{other:?}"
            );
        }
    }
}
