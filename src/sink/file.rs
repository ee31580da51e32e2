//! Documents appended to a file, one per line.
//!
//! Rotation needs no signal: about every 250 ms the path is looked up again,
//! and a file renamed away (newsyslog, logrotate `create`) or truncated
//! (logrotate `copytruncate`) is noticed and reopened. SIGHUP reopens too.
//! Documents are gathered in memory and written whole; if a write fails half
//! way (disk full), the file is cut back to its last complete line, so no
//! half document is ever left in it.

use super::{Sink, SinkError, SinkErrorKind};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Appends documents to a file.
pub struct FileSink {
    path: PathBuf,
    file: Option<File>,
    identity: Option<(u64, u64)>,
    /// Bytes this process wrote since opening: a file now shorter was truncated.
    written: u64,
    pending: Vec<u8>,
}

const FLUSH_AT: usize = 64 * 1024;

impl FileSink {
    /// Opens (creating) `path` for appending.
    pub fn open(path: PathBuf) -> Result<FileSink, SinkError> {
        let mut sink = FileSink {
            path,
            file: None,
            identity: None,
            written: 0,
            pending: Vec::with_capacity(FLUSH_AT * 2),
        };
        sink.reopen()?;
        Ok(sink)
    }

    fn write_pending(&mut self) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let written = self.write_whole(&pending);
        self.pending = pending;
        if written.is_ok() {
            self.pending.clear();
        }
        written
    }

    /// Appends whole lines, or nothing: a failed write is cut back.
    fn write_whole(&mut self, lines: &[u8]) -> Result<(), SinkError> {
        if self.file.is_none() {
            self.reopen()?;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(SinkError::unavailable(io::Error::other("file not open")));
        };
        let before = file.metadata().map(|m| m.len()).unwrap_or(0);
        match file.write_all(lines) {
            Ok(()) => {
                self.written += lines.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Never leave half a line: cut back to where we started.
                let _ = file.set_len(before);
                Err(SinkError::unavailable(e))
            }
        }
    }
}

impl Sink for FileSink {
    fn send(&mut self, doc: &[u8]) -> Result<(), SinkError> {
        if self.pending.len() + doc.len() + 1 > FLUSH_AT && !self.pending.is_empty() {
            self.write_pending()?;
        }
        self.pending.extend_from_slice(doc);
        self.pending.push(b'\n');
        Ok(())
    }

    fn takes_lines(&self) -> bool {
        true
    }

    fn send_lines(&mut self, lines: &[u8]) -> Result<(), SinkError> {
        // Written as they come, not copied into `pending` first.
        self.write_pending()?;
        self.write_whole(lines)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.write_pending()
    }

    fn discard(&mut self) {
        self.pending.clear();
    }

    fn reopen(&mut self) -> Result<(), SinkError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| SinkError {
                kind: SinkErrorKind::Unavailable,
                // Name the file: at startup this is all the operator sees.
                source: io::Error::new(e.kind(), format!("{}: {e}", self.path.display())),
            })?;
        let meta = file.metadata().map_err(SinkError::unavailable)?;
        self.identity = Some((meta.dev(), meta.ino()));
        self.written = meta.len();
        self.file = Some(file);
        Ok(())
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
        // Write what belongs to the old file first, then switch.
        let _ = self.write_pending();
        if self.reopen().is_err() {
            self.file = None;
            return false;
        }
        true
    }

    fn name(&self) -> String {
        format!("file:{}", self.path.display())
    }
}
