//! Waiting on a descriptor until a deadline: the one way a sink blocks.
//!
//! Sinks keep their descriptors non-blocking, so a write never sleeps in
//! the kernel for longer than it takes; when there is no room, they wait
//! here for it, and never past the deadline the writer thread gave them.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// Waits until `fd` is ready for `flags` or `deadline` passes; true when
/// ready (or in error: the next operation tells which).
pub fn ready(fd: impl AsFd, flags: PollFlags, deadline: Instant) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        // At most a second per poll: the loop checks the clock itself.
        let wait = Timespec::try_from(left.min(Duration::from_secs(1))).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(&fd, flags)];
        match poll(&mut fds, Some(&wait)) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Why [`write_by`] stopped.
pub fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no room before the deadline")
}

/// Writes `bytes` to the non-blocking `out`, waiting for room until
/// `deadline`. Returns how much was written, and the error that stopped it
/// before the end.
pub fn write_by<W: Write + AsFd>(
    out: &mut W,
    bytes: &[u8],
    deadline: Instant,
) -> (usize, io::Result<()>) {
    let mut written = 0;
    while let Some(rest) = bytes.get(written..).filter(|r| !r.is_empty()) {
        match out.write(rest) {
            Ok(0) => return (written, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match ready(&*out, PollFlags::OUT, deadline) {
                    Ok(true) => {}
                    Ok(false) => return (written, Err(timed_out())),
                    Err(e) => return (written, Err(e)),
                }
            }
            Err(e) => return (written, Err(e)),
        }
    }
    (written, Ok(()))
}
