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
//! back: its reader already has the line's start, so the rest of that line
//! is owed and goes out before any other byte (a reader that stalls for
//! longer than a write may wait would otherwise see the next document
//! glued to half of this one).
//!
//! The file is opened non-blocking: opening a FIFO whose reader went away
//! fails at once (ENXIO, "unavailable") instead of waiting for a reader for
//! ever, and a full FIFO is waited on only until the writer's deadline.

use super::wait::write_by;
use super::{Docs, Sink, SinkError, SinkErrorKind};
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
    /// A line begun in a FIFO: the whole line and how much of it went out.
    /// Its rest goes out before anything else.
    owed: Option<(Vec<u8>, usize)>,
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
            owed: None,
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
        let identity = Some((meta.dev(), meta.ino()));
        if self.regular || identity != self.identity {
            // Another file: no reader of it has the start of the line owed.
            self.owed = None;
        }
        self.identity = identity;
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
        if self.regular {
            let Some(file) = self.file.as_mut() else {
                return Err(());
            };
            // Cut the half line off again.
            return match file.set_len(start + whole as u64) {
                Ok(()) => Ok(whole),
                Err(_) => Err(()),
            };
        }
        // A FIFO's reader already has the first part: the rest of the line
        // is owed, and goes out first at the next write (the writer tries
        // again from this document, which counts once it is whole).
        let end = docs
            .get(written..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
            .map_or(docs.len(), |i| written + i + 1);
        let line = docs.get(whole..end).unwrap_or_default().to_vec();
        self.owed = Some((line, written - whole));
        Ok(whole)
    }

    /// Sends the rest of an owed line, by `deadline`. Returns how many
    /// bytes at the start of `docs` it completed: the owed line's, if
    /// `docs` starts with it (the writer trying that document again),
    /// else none (it was given up on; its reader still gets it whole).
    fn pay_owed(&mut self, docs: &[u8], deadline: Instant) -> Result<usize, SinkError> {
        let Some((line, sent)) = self.owed.as_mut() else {
            return Ok(0);
        };
        let Some(file) = self.file.as_mut() else {
            self.owed = None;
            return Ok(0);
        };
        let (n, result) = write_by(file, line.get(*sent..).unwrap_or_default(), deadline);
        *sent += n;
        self.written += n as u64;
        if let Err(e) = result {
            if e.kind() == io::ErrorKind::BrokenPipe {
                // The reader left with the line's start: a new reader
                // starts on a fresh line.
                self.file = None;
                self.owed = None;
            }
            return Err(SinkError::unavailable(e));
        }
        Ok(match self.owed.take() {
            Some((line, _)) if docs.starts_with(&line) => line.len(),
            _ => 0,
        })
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
        let all = docs.bytes();
        if self.file.is_none() {
            self.reopen(deadline)?;
        }
        let paid = self.pay_owed(all, deadline)?;
        let docs = all.get(paid..).unwrap_or_default();
        let mut meta = self
            .file
            .as_ref()
            .map(File::metadata)
            .transpose()
            .map_err(|e| SinkError::unavailable(e).after(paid))?;
        // Deleted (not renamed): whatever is written there is lost.
        if self.regular && meta.as_ref().is_some_and(|m| m.nlink() == 0) {
            self.reopen(deadline).map_err(|e| e.after(paid))?;
            meta = self
                .file
                .as_ref()
                .map(File::metadata)
                .transpose()
                .map_err(|e| SinkError::unavailable(e).after(paid))?;
        }
        let start = meta.map_or(0, |m| m.len());
        let Some(file) = self.file.as_mut() else {
            return Err(SinkError::unavailable(io::Error::other("file not open")).after(paid));
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
            self.owed = None;
            return Err(SinkError::unavailable(e).after(paid + whole));
        }
        match self.keep_whole_lines(docs, written, start) {
            Ok(kept) => {
                if self.regular {
                    self.written = self.written.saturating_sub((written - kept) as u64);
                }
                Err(SinkError::unavailable(e).after(paid + kept))
            }
            Err(()) => Err(SinkError {
                kind: SinkErrorKind::Torn,
                source: e,
                done: paid + whole,
            }),
        }
    }

    fn reopen(&mut self, _deadline: Instant) -> Result<(), SinkError> {
        // Non-blocking: nothing here waits.
        self.open_file().map_err(|e| self.error(e))
    }

    fn check(&mut self) -> bool {
        let rotated = match std::fs::metadata(&self.path) {
            // Another file at the path, whatever its kind; but only a
            // regular file is truncated: /dev/null or a FIFO always
            // reports length 0.
            Ok(meta) => {
                Some((meta.dev(), meta.ino())) != self.identity
                    || (meta.is_file() && meta.len() < self.written)
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
