//! Signals, installed as the first thing `main` does: a signal's
//! default action ends the process, and smtpd dies with its filter.
//!
//! - SIGHUP: the writer reopens the output (rotation).
//! - SIGTERM, SIGINT (systemd stops smtpd by signalling its whole cgroup,
//!   filter included): input ends there, and the filter finishes as at end
//!   of input: documents for unfinished sessions, the final self-metrics
//!   document, delivery within the grace, the `exiting:` line, status 0.
//! - SIGXFSZ: ignored (only counted by the handler), so that a write over
//!   `RLIMIT_FSIZE` fails with EFBIG and is handled like a full disk.
//!
//! The handlers are signal-hook's: they set flags and write to a socket
//! pair, and the reading loop waits on stdin and that socket together.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
        signal_hook::flag::register(SIGXFSZ, Arc::new(AtomicBool::new(false)))?;
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
        })
    }
}

/// Standard input that waits with poll(2): it waits for input when stdin
/// is non-blocking (EAGAIN is not the end), and reads as ended once
/// SIGTERM or SIGINT came.
pub struct Input {
    file: File,
    wake: UnixStream,
    stop: Arc<AtomicBool>,
    timeout: Option<Duration>,
}

impl Input {
    /// The longest the next read waits for input before it fails with
    /// `TimedOut` (`None`: as long as it takes).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(0);
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
                // Only a signal writes there.
                return Ok(0);
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
