//! What a warning may say about a line: smtpd copies the filter's stderr
//! into the mail log, so a warning quotes no input that a client could have
//! chosen (an AUTH secret, an address), only the line's length and those
//! header fields that smtpd writes itself and that passed their checks.

use super::{event, EventKind, Subsystem};
use std::fmt;

/// A line described without its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineSummary<'a> {
    len: usize,
    subsystem: Option<Subsystem>,
    event: Option<&'a [u8]>,
    session: Option<u64>,
}

/// Describes `line` for a warning.
pub fn describe_line(line: &[u8]) -> LineSummary<'_> {
    let mut fields = line.splitn(7, |&b| b == b'|');
    let mut summary = LineSummary {
        len: line.len(),
        subsystem: None,
        event: None,
        session: None,
    };
    if fields.next() != Some(b"report") {
        return summary;
    }
    let _version = fields.next();
    let _time = fields.next();
    summary.subsystem = fields.next().and_then(|s| Subsystem::parse(s).ok());
    summary.event = fields.next().filter(|e| is_event_name(e));
    summary.session = fields.next().and_then(|s| event::id64(s).ok());
    summary
}

/// True for a known event name or one of smtpd's shape (`noun-verb`,
/// lowercase words joined by `-`): a newer smtpd's event is worth naming,
/// anything else might not be smtpd's.
pub fn is_event_name(name: &[u8]) -> bool {
    if EventKind::from_name(name).is_some() {
        return true;
    }
    name.len() <= 32
        && name.contains(&b'-')
        && name
            .split(|&b| b == b'-')
            .all(|w| !w.is_empty() && w.iter().all(u8::is_ascii_lowercase))
}

impl fmt::Display for LineSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.len)?;
        if let Some(subsystem) = self.subsystem {
            write!(f, ", {}", subsystem.as_str())?;
        }
        if let Some(event) = self.event {
            write!(f, ", event {}", event.escape_ascii())?;
        }
        if let Some(session) = self.session {
            write!(f, ", session {session:016x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_header_fields_never_payload() {
        let line = b"report|0.7|1.0|smtp-in|protocol-client|00000000000000a1|AUTH PLAIN\tAGFsaWNl|";
        assert_eq!(
            describe_line(line).to_string(),
            format!(
                "{} bytes, smtp-in, event protocol-client, session 00000000000000a1",
                line.len()
            )
        );
        let hostile = b"report|0.7|1.0|smtp-in|AGFsaWNlAHNlY3JldA==|zz|x";
        assert_eq!(
            describe_line(hostile).to_string(),
            format!("{} bytes, smtp-in", hostile.len())
        );
        assert_eq!(describe_line(b"AUTH PLAIN secret").to_string(), "17 bytes");
        assert_eq!(
            describe_line(b"report|0.9|1.0|smtp-in|link-rewind|1|").to_string(),
            "37 bytes, smtp-in, event link-rewind, session 0000000000000001"
        );
        assert!(!is_event_name(b"dave@example-org"));
        assert!(!is_event_name(b"secret"));
    }
}
