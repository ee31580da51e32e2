//! Signals, installed as the first thing `main` does: a signal's
//! default action ends the process, and smtpd dies with its filter.
//!
//! - SIGHUP: the writer reopens the output (rotation).
//! - SIGTERM, SIGINT (systemd stops smtpd by signalling its whole cgroup,
//!   filter included): the filter reads what is already readable, without
//!   waiting for more, for at most the shutdown grace; then it finishes as
//!   at end of input: documents for unfinished sessions, the final
//!   self-metrics document, delivery within the same grace, the `exiting:`
//!   line (with the lines left unread), status 0.
//! - SIGXFSZ: ignored (only counted by the handler), so that a write over
//!   `RLIMIT_FSIZE` fails with EFBIG and is handled like a full disk.
//! - SIGUSR1, SIGUSR2, SIGALRM: ignored the same way. Their default action
//!   ends the process, and smtpd with it; a stray `kill -USR1` meant for
//!   another daemon must not stop the mail.
//!
//! The handlers are signal-hook's: they set flags and write to a socket
//! pair, and the reading loop waits on stdin and that socket together.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use signal_hook::consts::{SIGALRM, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGXFSZ};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The installed handlers.
pub struct Signals {
    /// Raised by SIGHUP; the writer thread lowers it when it reopens.
    pub reopen: Arc<AtomicBool>,
    /// Raised by SIGTERM or SIGINT.
    stop: Arc<AtomicBool>,
    /// Readable once SIGTERM or SIGINT came: wakes a read that waits.
    wake: UnixStream,
}

impl Signals {
    /// Installs every handler. Call it first.
    pub fn install() -> io::Result<Signals> {
        let reopen = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGHUP, Arc::clone(&reopen))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (wake, waker) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        for signal in [SIGTERM, SIGINT] {
            // The flag first: handlers run in the order they were added,
            // so the flag is up once the reader wakes.
            signal_hook::flag::register(signal, Arc::clone(&stop))?;
            signal_hook::low_level::pipe::register(signal, waker.try_clone()?)?;
        }
        let ignored = Arc::new(AtomicBool::new(false));
        for signal in [SIGXFSZ, SIGUSR1, SIGUSR2, SIGALRM] {
            signal_hook::flag::register(signal, Arc::clone(&ignored))?;
        }
        Ok(Signals { reopen, stop, wake })
    }

    /// True once SIGTERM or SIGINT came.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// A flag that is up once SIGTERM or SIGINT came.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Standard input as a reader that ends when SIGTERM or SIGINT comes.
    pub fn stdin(&self) -> io::Result<Input> {
        let file = File::from(io::stdin().as_fd().try_clone_to_owned()?);
        Ok(Input {
            file,
            wake: self.wake.try_clone()?,
            stop: Arc::clone(&self.stop),
            timeout: None,
            stop_grace: Duration::from_secs(2),
            reading_until: None,
            grace_ran_out: false,
        })
    }
}

/// Standard input that waits with poll(2): it waits for input when stdin
/// is non-blocking (EAGAIN is not the end). Once SIGTERM or SIGINT came, it
/// reads only what is readable without waiting, and for at most the stop
/// grace; then it reads as ended.
pub struct Input {
    file: File,
    wake: UnixStream,
    stop: Arc<AtomicBool>,
    timeout: Option<Duration>,
    stop_grace: Duration,
    /// When reading after the signal ends.
    reading_until: Option<Instant>,
    grace_ran_out: bool,
}

/// Lines and bytes left unread at exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unread {
    /// Lines (a last line without its newline counts as one).
    pub lines: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Input {
    /// The longest the next read waits for input before it fails with
    /// `TimedOut` (`None`: as long as it takes).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// How long reading may go on after SIGTERM or SIGINT (the shutdown
    /// grace: delivery shares it).
    pub fn set_stop_grace(&mut self, grace: Duration) {
        self.stop_grace = grace;
    }

    /// True when a read would not wait: input (or its end) is there.
    pub fn readable_now(&self) -> bool {
        let mut fds = [PollFd::new(&self.file, PollFlags::IN)];
        matches!(poll(&mut fds, Some(&Timespec::default())), Ok(n) if n > 0)
    }

    /// True once reading stopped because the stop grace ran out while
    /// input was still readable.
    pub fn grace_ran_out(&self) -> bool {
        self.grace_ran_out
    }

    /// Counts what is still readable without waiting, reading it away
    /// (the filter is exiting): for the `unread_at_exit` count. Bounded in
    /// time and bytes, so a peer that keeps writing cannot hold the exit.
    pub fn count_unread(&mut self) -> Unread {
        const MAX_TIME: Duration = Duration::from_millis(200);
        const MAX_BYTES: u64 = 256 << 20;
        let started = Instant::now();
        let mut unread = Unread::default();
        let mut buf = vec![0u8; 64 * 1024];
        let mut last = b'\n';
        while self.readable_now() && started.elapsed() < MAX_TIME && unread.bytes < MAX_BYTES {
            match self.file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default();
                    unread.bytes += n as u64;
                    unread.lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
                    last = chunk.last().copied().unwrap_or(last);
                }
            }
        }
        if last != b'\n' {
            unread.lines += 1;
        }
        unread
    }

    /// A read after SIGTERM or SIGINT: what is readable now, within the
    /// grace; the end of input otherwise.
    fn read_stopping(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let until = *self
            .reading_until
            .get_or_insert_with(|| Instant::now() + self.stop_grace);
        if !self.readable_now() {
            return Ok(0);
        }
        if Instant::now() >= until {
            self.grace_ran_out = true;
            return Ok(0);
        }
        match self.file.read(buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            result => result,
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return self.read_stopping(buf);
            }
            let mut fds = [
                PollFd::new(&self.file, PollFlags::IN),
                PollFd::new(&self.wake, PollFlags::IN),
            ];
            let limit = self.timeout.and_then(|t| Timespec::try_from(t).ok());
            match poll(&mut fds, limit.as_ref()) {
                Ok(0) if limit.is_some() => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no input yet"));
                }
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let [input, wake] = &fds;
            if !wake.revents().is_empty() {
                // Only a signal writes there (after raising the flag).
                return self.read_stopping(buf);
            }
            if input.revents().is_empty() {
                continue;
            }
            match self.file.read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Input after SIGTERM, with `grace` to read in, and the peer that
    /// writes it.
    fn stopped(grace: Duration) -> (Input, UnixStream, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (wake, waker) = UnixStream::pair().unwrap();
        let input = Input {
            file: File::from(std::os::fd::OwnedFd::from(ours)),
            wake,
            stop: Arc::new(AtomicBool::new(true)),
            timeout: None,
            stop_grace: grace,
            reading_until: None,
            grace_ran_out: false,
        };
        (input, theirs, waker)
    }

    #[test]
    fn after_sigterm_what_is_readable_is_read_without_waiting() {
        let (mut input, mut peer, _waker) = stopped(Duration::from_secs(2));
        peer.write_all(b"a\nb\n").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(input.read(&mut buf).unwrap(), 4);
        // Nothing more readable: the end, at once, though the peer is open.
        let started = Instant::now();
        assert_eq!(input.read(&mut buf).unwrap(), 0);
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(!input.grace_ran_out());
    }

    #[test]
    fn what_the_grace_leaves_unread_is_counted() {
        let (mut input, mut peer, _waker) = stopped(Duration::ZERO);
        peer.write_all(b"one\ntwo\nthr").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(input.read(&mut buf).unwrap(), 0);
        assert!(input.grace_ran_out());
        assert_eq!(
            input.count_unread(),
            Unread {
                lines: 3,
                bytes: 11
            }
        );
    }
}
