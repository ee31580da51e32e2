//! Where documents go. A sink only reports what happened; the policy (retry,
//! buffer, drop and count) lives in `delivery` (the reading side),
//! `queue` (the state both threads share) and `writer` (the writer
//! thread), once for every sink.
//!
//! Every blocking step of a sink (open, connect, write, send) ends by a
//! deadline the writer thread gives it, so that the shutdown grace bounds
//! the time from end of input to exit whatever the target does.

mod batch;
mod delivery;
mod file;
mod outlet;
mod queue;
mod stdout;
mod syslog;
mod wait;
mod writer;

pub use delivery::Delivery;
pub use file::FileSink;
pub use outlet::{DeliveryOptions, MemoryOutlet, Outlet, Ticker, WhenFull};

pub use stdout::StdoutSink;
pub use syslog::{facility as syslog_facility, SyslogSink};

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where documents go, as the configuration names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The local syslog daemon.
    Syslog {
        /// Its socket.
        socket: PathBuf,
        /// The facility's number (`mail` is 2), parsed once from its name.
        facility: u8,
    },
    /// A file, appended to.
    File(PathBuf),
    /// Standard output (replay only: under smtpd it is smtpd's pipe).
    Stdout,
}

/// Opens the sink for `target`; `max_doc` is the longest document it must
/// take whole (the syslog socket's send buffer is sized for it).
pub fn open(target: &Target, max_doc: usize) -> Result<Box<dyn Sink>, SinkError> {
    Ok(match target {
        Target::Syslog { socket, facility } => {
            Box::new(SyslogSink::new(socket.clone(), *facility, max_doc))
        }
        Target::File(path) => Box::new(FileSink::open(path.clone())?),
        Target::Stdout => Box::new(StdoutSink::default()),
    })
}

/// The longest one write or send may wait for room while input goes on.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// What kind of failure a sink had: it decides whether waiting can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkErrorKind {
    /// The target is not there now or has no room (syslogd restarting or
    /// stalled, disk full, a FIFO without reader): keep the document and
    /// try again later.
    Unavailable,
    /// The target refused the next document (too large for a datagram, …):
    /// trying again will not help.
    Rejected,
    /// The next document went out in part and the rest could not follow
    /// in time: it must never be sent again (the target would see it
    /// twice), so it counts as dropped.
    Torn,
    /// The reader closed the target for good (`replay … | head`): it
    /// wants no more, and delivery stops.
    Closed,
}

/// A failed delivery.
#[derive(Debug)]
pub struct SinkError {
    /// Whether to wait or to give up on the document.
    pub kind: SinkErrorKind,
    /// The cause.
    pub source: io::Error,
    /// Bytes at the start of the documents handed to [`Sink::write`] that
    /// were delivered before the failure: always whole documents.
    pub done: usize,
}

impl SinkError {
    /// An error that waiting may cure.
    pub fn unavailable(source: io::Error) -> SinkError {
        SinkError {
            kind: SinkErrorKind::Unavailable,
            source,
            done: 0,
        }
    }

    /// The same error after `done` bytes of whole documents went through.
    pub fn after(mut self, done: usize) -> SinkError {
        self.done = done;
        self
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SinkErrorKind::Unavailable => write!(f, "sink unavailable: {}", self.source),
            SinkErrorKind::Rejected => write!(f, "document rejected by sink: {}", self.source),
            SinkErrorKind::Torn => write!(f, "document cut off by the sink: {}", self.source),
            SinkErrorKind::Closed => write!(f, "the reader closed the output: {}", self.source),
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
    /// Delivers `docs`: complete documents, each followed by `\n`. Nothing
    /// may wait past `deadline`. On failure, [`SinkError::done`] tells how
    /// many bytes of whole documents got through; no document is ever
    /// left in part where a reader could see it, except as [`SinkErrorKind::Torn`].
    fn write(&mut self, docs: Docs<'_>, deadline: Instant) -> Result<(), SinkError>;
    /// Opens the target again (SIGHUP, rotation, reconnect); waits at most
    /// until `deadline`.
    fn reopen(&mut self, deadline: Instant) -> Result<(), SinkError>;
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

/// Whole documents, each followed by `\n`, and where each one ends (so
/// that a sink that sends them one by one need not look for the newlines).
#[derive(Clone, Copy, Debug)]
pub struct Docs<'a> {
    bytes: &'a [u8],
    /// Ends (after the newline), counted from `base`.
    ends: &'a [usize],
    base: usize,
}

impl<'a> Docs<'a> {
    /// The documents of `bytes` ending at `ends` (offsets after each
    /// newline, counted from `base`).
    pub fn new(bytes: &'a [u8], ends: &'a [usize], base: usize) -> Docs<'a> {
        Docs { bytes, ends, base }
    }

    /// All of them, newlines included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Each document (without its newline) and its offset in [`Docs::bytes`].
    pub fn iter(&self) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
        let (bytes, base) = (self.bytes, self.base);
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let end = end.saturating_sub(base);
            let doc = bytes.get(start..end.saturating_sub(1)).unwrap_or_default();
            let at = start;
            start = end;
            (at, doc)
        })
    }
}
