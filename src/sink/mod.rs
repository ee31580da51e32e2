//! Where documents go. A sink only reports what happened; the policy (retry,
//! buffer, drop and count) lives in [`delivery`], once for every sink.

pub mod delivery;
mod file;
mod stdout;
mod syslog;

pub use delivery::{Delivery, DeliveryOptions, MemoryOutlet, Outlet, Ticker, WhenFull};
pub use file::FileSink;
pub use stdout::StdoutSink;
pub use syslog::{facility as syslog_facility, SyslogSink};

use std::fmt;
use std::io;

/// What kind of failure a sink had: it decides whether waiting can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkErrorKind {
    /// The target is not there now (syslogd restarting, disk full, file
    /// not creatable): keep the document and try again later.
    Unavailable,
    /// The target refused this document (too large for a datagram, …):
    /// trying again will not help.
    Rejected,
}

/// A failed delivery.
#[derive(Debug)]
pub struct SinkError {
    /// Whether to wait or to give up on the document.
    pub kind: SinkErrorKind,
    /// The cause.
    pub source: io::Error,
}

impl SinkError {
    /// An error that waiting may cure.
    pub fn unavailable(source: io::Error) -> SinkError {
        SinkError {
            kind: SinkErrorKind::Unavailable,
            source,
        }
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SinkErrorKind::Unavailable => write!(f, "sink unavailable: {}", self.source),
            SinkErrorKind::Rejected => write!(f, "document rejected by sink: {}", self.source),
        }
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A target for complete documents.
pub trait Sink: Send {
    /// Takes one complete document (no newline). It may be buffered until
    /// [`Sink::flush`]; a document is never written in part.
    fn send(&mut self, doc: &[u8]) -> Result<(), SinkError>;
    /// True when the sink takes whole runs of newline-terminated documents
    /// ([`Sink::send_lines`]): a file or a pipe, where documents are lines.
    fn takes_lines(&self) -> bool {
        false
    }
    /// Takes complete documents, each followed by `\n`, all or none.
    /// Only called when [`Sink::takes_lines`] is true.
    fn send_lines(&mut self, lines: &[u8]) -> Result<(), SinkError> {
        lines
            .split(|&b| b == b'\n')
            .filter(|doc| !doc.is_empty())
            .try_for_each(|doc| self.send(doc))
    }
    /// Pushes out what is buffered.
    fn flush(&mut self) -> Result<(), SinkError>;
    /// Forgets what is buffered and not written (the delivery counted it as
    /// dropped), so that a later flush does not write it after all.
    fn discard(&mut self) {}
    /// Opens the target again (SIGHUP, rotation, reconnect).
    fn reopen(&mut self) -> Result<(), SinkError>;
    /// Called about every 250 ms: notices rotation and similar. Returns true
    /// when it reopened the target.
    fn check(&mut self) -> bool {
        false
    }
    /// False when the target is known to be unreachable now (syslogd not
    /// running at start): the delivery starts out "down" then.
    fn available(&self) -> bool {
        true
    }
    /// A short name for messages.
    fn name(&self) -> String;
}
