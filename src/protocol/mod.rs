//! smtpd's filter protocol, reporting side: bytes in, typed lines out.
//!
//! `parse_line` takes one line without its `\n` (a trailing `\r` is
//! tolerated), borrows every field from it, never allocates and never panics.
//! The version is read from each line and compared as numbers; payload
//! layouts per version live in one table in [`event`].

mod error;
pub mod event;
mod handshake;
mod summary;
mod version;

pub use error::ParseError;
pub use event::{AuthResult, Event, EventKind, Fcrdns, FilterKind, HeloMethod, TxResult};
pub use handshake::{Handshake, Registration};
pub use summary::{describe_line, is_event_name, LineSummary};
pub use version::Version;

/// The SMTP side a session belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subsystem {
    /// Sessions smtpd accepted from clients.
    SmtpIn,
    /// Sessions smtpd opened to relay mail (6.7+).
    SmtpOut,
}

impl Subsystem {
    /// smtpd's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Subsystem::SmtpIn => "smtp-in",
            Subsystem::SmtpOut => "smtp-out",
        }
    }

    fn parse(text: &[u8]) -> Result<Subsystem, ParseError> {
        match text {
            b"smtp-in" => Ok(Subsystem::SmtpIn),
            b"smtp-out" => Ok(Subsystem::SmtpOut),
            _ => Err(ParseError::Subsystem),
        }
    }
}

/// The event's wall-clock time as smtpd printed it: `%lld.%06ld`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Microseconds, 0..1_000_000.
    pub micros: u32,
}

impl Timestamp {
    /// 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
    pub const MAX_SECS: i64 = 253_402_300_799;

    /// Parses `SECONDS[.FRACTION]`: 1 to 12 digits, then 1 to 9 fraction
    /// digits (smtpd always sends 6), kept to the microsecond.
    pub fn parse(text: &[u8]) -> Result<Timestamp, ParseError> {
        let (secs, frac) = match text.iter().position(|&b| b == b'.') {
            Some(dot) => (
                text.get(..dot).unwrap_or_default(),
                text.get(dot + 1..).unwrap_or_default(),
            ),
            None => (text, &b"0"[..]),
        };
        if secs.is_empty() || secs.len() > 12 || frac.is_empty() || frac.len() > 9 {
            return Err(ParseError::Timestamp);
        }
        let digit = |d: u8| match d {
            b'0'..=b'9' => Ok(d - b'0'),
            _ => Err(ParseError::Timestamp),
        };
        let mut whole = 0i64;
        for &d in secs {
            whole = whole * 10 + i64::from(digit(d)?);
        }
        let mut micros = 0u32;
        for (i, &d) in frac.iter().enumerate() {
            let d = digit(d)?;
            if i < 6 {
                micros = micros * 10 + u32::from(d);
            }
        }
        for _ in frac.len()..6 {
            micros *= 10;
        }
        // RFC 3339 (and Elasticsearch's date type) stops at year 9999; a
        // stamp beyond it comes from no real smtpd and would make documents
        // that no reader takes.
        if whole > Timestamp::MAX_SECS {
            return Err(ParseError::Timestamp);
        }
        Ok(Timestamp {
            secs: whole,
            micros,
        })
    }

    /// Microseconds since the epoch.
    pub fn as_micros(self) -> i64 {
        self.secs
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(self.micros))
    }
}

/// One `report|` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report<'a> {
    /// The line's own protocol version.
    pub version: Version,
    /// The version exactly as sent (for the document).
    pub version_text: &'a [u8],
    /// When smtpd saw the event.
    pub time: Timestamp,
    /// smtp-in or smtp-out.
    pub subsystem: Subsystem,
    /// The session id.
    pub session: u64,
    /// The event and its payload.
    pub event: Event<'a>,
}

/// A parsed input line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// `config|KEY|VALUE`, or `config|ready` (value empty).
    Config {
        /// The key (`smtpd-version`, `subsystem`, `ready`, …).
        key: &'a [u8],
        /// Everything after the second `|`; empty when there is none.
        value: &'a [u8],
    },
    /// A report event.
    Report(Report<'a>),
}

fn split_bar(text: &[u8]) -> (&[u8], Option<&[u8]>) {
    match text.iter().position(|&b| b == b'|') {
        Some(bar) => (text.get(..bar).unwrap_or_default(), text.get(bar + 1..)),
        None => (text, None),
    }
}

/// Parses one line (without `\n`; one trailing `\r` is dropped).
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, ParseError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    let (kind, rest) = split_bar(line);
    match (kind, rest) {
        (b"config", Some(rest)) => {
            let (key, value) = split_bar(rest);
            Ok(Line::Config {
                key,
                value: value.unwrap_or_default(),
            })
        }
        (b"report", Some(rest)) => parse_report(rest).map(Line::Report),
        _ => Err(ParseError::UnknownLineType),
    }
}

fn parse_report(rest: &[u8]) -> Result<Report<'_>, ParseError> {
    let (version_text, rest) = split_bar(rest);
    let (time, rest) = split_bar(rest.ok_or(ParseError::ShortHeader)?);
    let (subsystem, rest) = split_bar(rest.ok_or(ParseError::ShortHeader)?);
    let (event, rest) = split_bar(rest.ok_or(ParseError::ShortHeader)?);
    let (session, payload) = split_bar(rest.ok_or(ParseError::ShortHeader)?);
    let version = Version::parse(version_text).ok_or(ParseError::Version)?;
    let time = Timestamp::parse(time)?;
    let subsystem = Subsystem::parse(subsystem)?;
    let session = event::id64(session).map_err(|_| ParseError::SessionId)?;
    let event = event::parse_event(event, payload, version)?;
    Ok(Report {
        version,
        version_text,
        time,
        subsystem,
        session,
        event,
    })
}

#[cfg(test)]
mod tests;
