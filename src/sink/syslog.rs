//! Documents to the local syslog daemon, one message each, RFC 3164 as
//! syslog(3) writes it: `<PRI>Mmm dd hh:mm:ss filter-jsonlog[PID]: DOC`.
//!
//! The socket is `/dev/log` (or `--syslog-socket`), not OpenBSD's
//! sendsyslog(2): that call exists on OpenBSD only, takes at most 8192
//! bytes, and needs a system call binding of its own, while every syslogd
//! (OpenBSD's included, which reads /dev/log) takes datagrams on the socket.
//!
//! - Reconnects whenever a send fails, and reports "unavailable" while it
//!   cannot, so that the delivery policy buffers and counts.
//! - Non-blocking, with the writer's deadline: a syslogd that stops reading
//!   fills its socket's queue, and a send without a deadline would block
//!   the writer thread for good. A stream socket (syslog-ng's
//!   `unix-stream`) is connected without waiting either: a daemon that
//!   stopped accepting has a full backlog.
//! - The send buffer is raised to fit the longest message: a BSD datagram
//!   socket takes at most its send buffer per message (2 KiB by default on
//!   OpenBSD). ENOBUFS (a BSD receiver with no room) means "busy, retry".
//! - On a stream socket a message starts only when the socket has room for
//!   it, and once started it is finished: the daemon never sees half a
//!   message, nor one twice.

use super::wait::{ready, timed_out, write_by};
use super::{Docs, Sink, SinkError, SinkErrorKind, SEND_TIMEOUT};
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::sockopt::{set_socket_send_buffer_size, socket_send_buffer_size};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

mod header;
use header::Header;

/// The syslog tag (program name).
pub const IDENT: &str = "filter-jsonlog";

/// The facility's number for a name syslog.conf(5) uses (`mail`, `local3`, …;
/// `LOG_MAIL` too).
pub fn facility(name: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "ntp",
        "audit",
        "alert",
        "clock_daemon",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ];
    let name = name.to_ascii_lowercase();
    let name = name.strip_prefix("log_").unwrap_or(&name);
    NAMES
        .iter()
        .position(|n| *n == name)
        .and_then(|i| u8::try_from(i).ok())
}

enum Connection {
    Datagram(UnixDatagram),
    Stream(UnixStream),
}

/// Sends documents to syslog, facility as configured, ident `filter-jsonlog`.
pub struct SyslogSink {
    socket: PathBuf,
    header: Header,
    connection: Option<Connection>,
    /// The longest message: `--max-line-bytes` and the header.
    longest: usize,
    frame: Vec<u8>,
    warned_send_buffer: bool,
}

/// What the header adds to a document at most (PRI, time, tag, pid).
const HEADER_BYTES: usize = 64;

impl SyslogSink {
    /// A sink for the syslog socket at `socket` (usually `/dev/log`), for
    /// documents of at most `max_doc` bytes. Not connecting at once is
    /// fine: syslogd may start after us.
    pub fn new(socket: PathBuf, facility: u8, max_doc: usize) -> SyslogSink {
        let mut sink = SyslogSink {
            socket,
            header: Header::new(facility, IDENT, std::process::id()),
            connection: None,
            longest: max_doc.saturating_add(HEADER_BYTES),
            frame: Vec::with_capacity(max_doc.saturating_add(HEADER_BYTES).min(64 * 1024)),
            warned_send_buffer: false,
        };
        let _ = sink.reopen(Instant::now() + SEND_TIMEOUT);
        sink
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    /// Raises the socket's send buffer to at least `want` bytes; warns once
    /// if the kernel keeps it smaller.
    fn fit_send_buffer(&mut self, socket: impl AsFd, want: usize) {
        let now = fit_send_buffer(&socket, want);
        if now < want && !std::mem::replace(&mut self.warned_send_buffer, true) {
            let _ = writeln!(
                io::stderr().lock(),
                "filter-jsonlog: syslog_send_buffer: the kernel keeps the send buffer of {} at {now} bytes (wanted {want}): longer documents will be rejected; raise it (OpenBSD: sysctl net.unix.dgram.sendspace) or lower --max-line-bytes",
                self.socket.display()
            );
        }
    }

    fn connect(&mut self, deadline: Instant) -> io::Result<Connection> {
        let datagram = UnixDatagram::unbound()?;
        match datagram.connect(&self.socket) {
            Ok(()) => {
                datagram.set_nonblocking(true)?;
                self.fit_send_buffer(&datagram, self.longest.saturating_add(64));
                Ok(Connection::Datagram(datagram))
            }
            Err(e) if e.raw_os_error() == Some(Errno::PROTOTYPE.raw_os_error()) => {
                let stream = connect_stream(&self.socket, deadline)?;
                // A stream socket is writable (poll) once three quarters
                // of its buffer are free: room for a whole message then.
                self.fit_send_buffer(&stream, self.longest.saturating_mul(2));
                Ok(Connection::Stream(stream))
            }
            Err(e) => Err(e),
        }
    }

    /// Sends the message in `self.frame`.
    fn send_frame(&mut self, deadline: Instant) -> Result<(), SinkError> {
        let result = match &mut self.connection {
            None => return Err(SinkError::unavailable(io::Error::other("not connected"))),
            Some(Connection::Datagram(socket)) => send_datagram(socket, &self.frame, deadline),
            Some(Connection::Stream(stream)) => send_stream(stream, &self.frame, deadline),
        };
        match result {
            Err(e) if e.kind == SinkErrorKind::Rejected && self.frame.len() <= self.longest => {
                // EMSGSIZE for a message we were configured for: the send
                // buffer shrank or was never raised. Raise it, once more.
                if let Some(Connection::Datagram(socket)) = self.connection.take() {
                    self.fit_send_buffer(&socket, self.frame.len().saturating_add(64));
                    let again = send_datagram(&socket, &self.frame, deadline);
                    self.connection = Some(Connection::Datagram(socket));
                    return again;
                }
                Err(e)
            }
            Err(e) => {
                // A daemon that did not read in time is still there, and
                // on a stream socket a new connection would only queue
                // behind the old one: keep it then. A datagram socket is
                // connected again (a new syslogd may own the path now).
                // A message sent in part is the exception: anything sent
                // after it on that connection would be glued to its half.
                let stalled = e.source.kind() == io::ErrorKind::TimedOut
                    && e.kind != SinkErrorKind::Torn
                    && matches!(self.connection, Some(Connection::Stream(_)));
                if e.kind != SinkErrorKind::Rejected && !stalled {
                    self.connection = None;
                }
                Err(e)
            }
            ok => ok,
        }
    }

    /// The connected socket, for tests that change it under the sink.
    #[cfg(test)]
    fn socket_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        match &self.connection {
            Some(Connection::Datagram(s)) => Some(s.as_fd()),
            Some(Connection::Stream(s)) => Some(s.as_fd()),
            None => None,
        }
    }
}

/// Raises the send buffer of `socket` to `want` bytes if it is smaller;
/// returns what it is then.
pub fn fit_send_buffer(socket: impl AsFd, want: usize) -> usize {
    let now = socket_send_buffer_size(&socket).unwrap_or(0);
    if now >= want {
        return now;
    }
    let _ = set_socket_send_buffer_size(&socket, want);
    socket_send_buffer_size(&socket).unwrap_or(0)
}

fn connect_stream(path: &std::path::Path, deadline: Instant) -> io::Result<UnixStream> {
    use rustix::net::{connect, socket_with, AddressFamily, SocketAddrUnix, SocketFlags};
    use rustix::net::{sockopt::socket_error, SocketType};
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    let address = SocketAddrUnix::new(path)?;
    match connect(&fd, &address) {
        Ok(()) => {}
        Err(Errno::INPROGRESS) => {
            if !ready(&fd, PollFlags::OUT, deadline)? {
                return Err(timed_out());
            }
            socket_error(&fd)??;
        }
        // Linux: the daemon's backlog is full. Waiting would not be bounded.
        Err(e) => return Err(e.into()),
    }
    Ok(UnixStream::from(fd))
}

fn classify(source: io::Error) -> SinkError {
    let kind = match source.raw_os_error() {
        // Larger than the socket takes: retrying as it is cannot help.
        Some(n) if n == Errno::MSGSIZE.raw_os_error() => SinkErrorKind::Rejected,
        _ => SinkErrorKind::Unavailable,
    };
    SinkError {
        kind,
        source,
        done: 0,
    }
}

fn send_datagram(socket: &UnixDatagram, frame: &[u8], deadline: Instant) -> Result<(), SinkError> {
    loop {
        let e = match socket.send(frame) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        match e.raw_os_error().map(Errno::from_raw_os_error) {
            Some(Errno::INTR) => {}
            Some(Errno::AGAIN) => match ready(socket, PollFlags::OUT, deadline) {
                Ok(true) => {}
                Ok(false) => return Err(SinkError::unavailable(timed_out())),
                Err(e) => return Err(SinkError::unavailable(e)),
            },
            // A BSD receiver without room: busy, not broken. It has no
            // wake-up, so look again shortly.
            Some(Errno::NOBUFS) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(SinkError::unavailable(e));
                }
                std::thread::sleep(left.min(Duration::from_millis(10)));
            }
            _ => return Err(classify(e)),
        }
    }
}

fn send_stream(stream: &mut UnixStream, frame: &[u8], deadline: Instant) -> Result<(), SinkError> {
    // Start only with room for the whole message (see fit_send_buffer).
    match ready(&*stream, PollFlags::OUT, deadline) {
        Ok(true) => {}
        Ok(false) => return Err(SinkError::unavailable(timed_out())),
        Err(e) => return Err(SinkError::unavailable(e)),
    }
    let (written, result) = write_by(stream, frame, deadline);
    let Err(e) = result else {
        return Ok(());
    };
    if written == 0 {
        return Err(classify(e));
    }
    // Begun: finish it, with a deadline of its own, or give it up as torn
    // (the connection is closed; sending it again would duplicate its start).
    let rest = frame.get(written..).unwrap_or_default();
    match write_by(stream, rest, Instant::now() + SEND_TIMEOUT) {
        (_, Ok(())) => Ok(()),
        (_, Err(e)) => Err(SinkError {
            kind: SinkErrorKind::Torn,
            source: e,
            done: 0,
        }),
    }
}

impl Sink for SyslogSink {
    fn write(&mut self, docs: Docs<'_>, deadline: Instant) -> Result<(), SinkError> {
        // One clock reading per batch: a header a second late at most.
        let now = SystemTime::now();
        for (at, doc) in docs.iter() {
            if self.connection.is_none() {
                self.reopen(deadline).map_err(|e| e.after(at))?;
            }
            self.frame.clear();
            self.header.write(now, &mut self.frame);
            self.frame.extend_from_slice(doc);
            if matches!(self.connection, Some(Connection::Stream(_))) {
                // syslog(3) ends a message on a stream socket with a NUL.
                self.frame.push(0);
            }
            self.send_frame(deadline).map_err(|e| e.after(at))?;
        }
        Ok(())
    }

    fn reopen(&mut self, deadline: Instant) -> Result<(), SinkError> {
        self.connection = None;
        let connection = self.connect(deadline).map_err(classify)?;
        self.connection = Some(connection);
        Ok(())
    }

    fn available(&self) -> bool {
        self.is_connected()
    }

    fn name(&self) -> String {
        format!("syslog:{}", self.socket.display())
    }
}

#[cfg(test)]
mod tests;
