//! Documents appended to a file, one per line.
//!
//! Rotation needs no signal: about every 250 ms the path is looked up again,
//! and a file renamed away (newsyslog, logrotate `create`) or truncated
//! (logrotate `copytruncate`) is noticed and reopened; a file deleted (its
//! last link gone) is noticed before every write. SIGHUP reopens too.
//!
//! No half document is ever left: if a write fails half way (disk full,
//! `RLIMIT_FSIZE`), a regular file is cut back to its last complete line,
//! and the whole lines before it count as delivered. A FIFO cannot be cut
//! back, so there the line begun is finished first.
//!
//! The file is opened non-blocking: opening a FIFO whose reader went away
//! fails at once (ENXIO, "unavailable") instead of waiting for a reader for
//! ever, and a full FIFO is waited on only until the writer's deadline.

use super::wait::write_by;
use super::{Docs, Sink, SinkError, SinkErrorKind, SEND_TIMEOUT};
use rustix::fs::OFlags;
use rustix::io::Errno;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::Instant;

/// Appends documents to a file.
pub struct FileSink {
    path: PathBuf,
    file: Option<File>,
    identity: Option<(u64, u64)>,
    /// A regular file: it can be cut back and it can rotate.
    regular: bool,
    /// Bytes this process wrote since opening: a file now shorter was truncated.
    written: u64,
}

impl FileSink {
    /// Opens (creating) `path` for appending. A FIFO without a reader is
    /// not an error: the sink starts out down and tries again later.
    pub fn open(path: PathBuf) -> Result<FileSink, SinkError> {
        let mut sink = FileSink {
            path,
            file: None,
            identity: None,
            regular: true,
            written: 0,
        };
        match sink.open_file() {
            Ok(()) => Ok(sink),
            Err(e) if e.raw_os_error() == Some(Errno::NXIO.raw_os_error()) => Ok(sink),
            Err(e) => Err(sink.error(e)),
        }
    }

    fn open_file(&mut self) -> io::Result<()> {
        self.file = None;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .custom_flags(OFlags::NONBLOCK.bits() as i32)
            .open(&self.path)?;
        let meta = file.metadata()?;
        self.identity = Some((meta.dev(), meta.ino()));
        self.regular = meta.is_file();
        self.written = meta.len();
        self.file = Some(file);
        Ok(())
    }

    /// An open error, naming the file: at startup this is all the operator sees.
    fn error(&self, e: io::Error) -> SinkError {
        let named = io::Error::new(e.kind(), format!("{}: {e}", self.path.display()));
        SinkError::unavailable(named)
    }

    /// After `written` bytes of `docs` went out and the rest failed: keeps
    /// only whole lines, and returns how many bytes those are.
    fn keep_whole_lines(&mut self, docs: &[u8], written: usize, start: u64) -> Result<usize, ()> {
        let whole = whole_lines(docs, written);
        if whole == written {
            return Ok(whole);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(());
        };
        if self.regular {
            // Cut the half line off again.
            return match file.set_len(start + whole as u64) {
                Ok(()) => Ok(whole),
                Err(_) => Err(()),
            };
        }
        // A FIFO's reader already has the first part: send the rest of the
        // line, with a deadline of its own.
        let end = docs
            .get(written..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
            .map_or(docs.len(), |i| written + i + 1);
        let tail = docs.get(written..end).unwrap_or_default();
        match write_by(file, tail, Instant::now() + SEND_TIMEOUT) {
            (_, Ok(())) => Ok(end),
            _ => Err(()),
        }
    }
}

/// The bytes of whole lines in the first `written` bytes of `docs`.
fn whole_lines(docs: &[u8], written: usize) -> usize {
    docs.get(..written)
        .and_then(|w| w.iter().rposition(|&b| b == b'\n'))
        .map_or(0, |i| i + 1)
}

impl Sink for FileSink {
    fn write(&mut self, docs: Docs<'_>, deadline: Instant) -> Result<(), SinkError> {
        let docs = docs.bytes();
        if self.file.is_none() {
            self.reopen(deadline)?;
        }
        let mut meta = self
            .file
            .as_ref()
            .map(File::metadata)
            .transpose()
            .map_err(SinkError::unavailable)?;
        // Deleted (not renamed): whatever is written there is lost.
        if self.regular && meta.as_ref().is_some_and(|m| m.nlink() == 0) {
            self.reopen(deadline)?;
            meta = self
                .file
                .as_ref()
                .map(File::metadata)
                .transpose()
                .map_err(SinkError::unavailable)?;
        }
        let start = meta.map_or(0, |m| m.len());
        let Some(file) = self.file.as_mut() else {
            return Err(SinkError::unavailable(io::Error::other("file not open")));
        };
        let (written, result) = write_by(file, docs, deadline);
        self.written += written as u64;
        let Err(e) = result else {
            return Ok(());
        };
        let whole = whole_lines(docs, written);
        if e.kind() == io::ErrorKind::BrokenPipe {
            // The FIFO's reader left, and what it did not read with it:
            // open it again once there is a reader.
            self.file = None;
            return Err(SinkError::unavailable(e).after(whole));
        }
        match self.keep_whole_lines(docs, written, start) {
            Ok(kept) => {
                self.written = self.written.saturating_sub((written - kept) as u64);
                Err(SinkError::unavailable(e).after(kept))
            }
            Err(()) => Err(SinkError {
                kind: SinkErrorKind::Torn,
                source: e,
                done: whole,
            }),
        }
    }

    fn reopen(&mut self, _deadline: Instant) -> Result<(), SinkError> {
        // Non-blocking: nothing here waits.
        self.open_file().map_err(|e| self.error(e))
    }

    fn check(&mut self) -> bool {
        let rotated = match std::fs::metadata(&self.path) {
            // Only a regular file rotates: /dev/null or a FIFO always
            // reports length 0, which would look like a truncation.
            Ok(meta) if !meta.is_file() => false,
            Ok(meta) => {
                Some((meta.dev(), meta.ino())) != self.identity || meta.len() < self.written
            }
            Err(_) => true,
        };
        if !rotated {
            return false;
        }
        if self.reopen(Instant::now()).is_err() {
            self.file = None;
            return false;
        }
        true
    }

    fn available(&self) -> bool {
        self.file.is_some()
    }

    fn name(&self) -> String {
        format!("file:{}", self.path.display())
    }
}
