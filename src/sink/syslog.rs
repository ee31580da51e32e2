//! Documents to the local syslog daemon, one datagram each.
//!
//! The `syslog` crate connects once and never again; syslogd restarts
//! (rotation on OpenBSD, package upgrades) would silently end logging. This
//! sink reconnects whenever a send fails, and reports "unavailable" while
//! it cannot, so that the delivery policy buffers and counts.
//!
//! A send waits at most [`SEND_TIMEOUT`]: a syslogd that stops reading (hung,
//! stopped, overloaded) fills its socket's queue, and a send without a
//! timeout would then block the writer thread for good, so that the
//! shutdown grace could never end it and the filter never exit.

use super::{Sink, SinkError, SinkErrorKind};
use std::io;
use std::path::PathBuf;
use std::time::Duration;
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

/// Sends documents to syslog, facility as configured, ident `filter-jsonlog`.
pub struct SyslogSink {
    socket: PathBuf,
    formatter: Formatter3164,
    logger: Option<Logger<LoggerBackend, Formatter3164>>,
}

/// The longest a send may wait for room in syslogd's socket queue.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The syslog tag (program name).
pub const IDENT: &str = "filter-jsonlog";

/// Facility names accepted on the command line.
pub fn facility(name: &str) -> Option<Facility> {
    name.parse().ok()
}

impl SyslogSink {
    /// A sink for the syslog socket at `socket` (usually `/dev/log`). Not
    /// connecting at once is fine: syslogd may start after us.
    pub fn new(socket: PathBuf, facility: Facility) -> SyslogSink {
        let formatter = Formatter3164 {
            facility,
            hostname: None,
            process: IDENT.into(),
            pid: std::process::id(),
        };
        let mut sink = SyslogSink {
            socket,
            formatter,
            logger: None,
        };
        let _ = sink.reopen();
        sink
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.logger.is_some()
    }
}

/// errno EMSGSIZE: 90 on Linux, 40 on the BSDs (where a datagram socket's
/// `net.*.dgram.sendspace` limits the size of one message).
#[cfg(any(target_os = "linux", target_os = "android"))]
const EMSGSIZE: i32 = 90;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const EMSGSIZE: i32 = 40;

fn classify(e: syslog::Error) -> SinkError {
    let source = match e {
        syslog::Error::Write(e) | syslog::Error::Io(e) => e,
        syslog::Error::Initialization(e) => io::Error::other(e.to_string()),
    };
    // EMSGSIZE: the datagram is larger than the socket takes; retrying cannot help.
    let kind = if source.raw_os_error() == Some(EMSGSIZE) {
        SinkErrorKind::Rejected
    } else {
        SinkErrorKind::Unavailable
    };
    SinkError { kind, source }
}

impl Sink for SyslogSink {
    fn send(&mut self, doc: &[u8]) -> Result<(), SinkError> {
        if self.logger.is_none() {
            self.reopen()?;
        }
        let Some(logger) = self.logger.as_mut() else {
            return Err(SinkError::unavailable(io::Error::other("not connected")));
        };
        // Documents are ASCII by construction; anything else is a bug upstream.
        let text = std::str::from_utf8(doc).map_err(|e| SinkError {
            kind: SinkErrorKind::Rejected,
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        logger.info(text).map_err(|e| {
            let e = classify(e);
            if e.kind == SinkErrorKind::Unavailable {
                self.logger = None;
            }
            e
        })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    fn reopen(&mut self) -> Result<(), SinkError> {
        self.logger = None;
        let logger = syslog::unix_custom(self.formatter.clone(), &self.socket).map_err(classify)?;
        let timeout = match &logger.backend {
            LoggerBackend::Unix(socket) => socket.set_write_timeout(Some(SEND_TIMEOUT)),
            LoggerBackend::UnixStream(stream) => {
                stream.get_ref().set_write_timeout(Some(SEND_TIMEOUT))
            }
            _ => Ok(()),
        };
        timeout.map_err(SinkError::unavailable)?;
        self.logger = Some(logger);
        Ok(())
    }

    fn available(&self) -> bool {
        self.is_connected()
    }

    fn name(&self) -> String {
        format!("syslog:{}", self.socket.display())
    }
}
