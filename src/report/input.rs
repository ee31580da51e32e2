//! Lines in: plain or gzip-compressed files (by their magic bytes, as
//! newsyslog's `Z` and logrotate's `compress` leave them) or stdin; an
//! optional syslog header before the JSON; every line classified and
//! counted, none fatal.

use super::doc::Doc;
use super::maillog;
use super::state::Report;
use flate2::bufread::GzDecoder;
use serde::de::IgnoredAny;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Longest line read; longer ones are counted and skipped (memory bound).
pub const MAX_LINE: usize = 1 << 20;
/// The JSON must start within this many bytes (a syslog header is shorter).
const MAX_HEADER: usize = 1024;
const BUFFER: usize = 1 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The members of a gzip file, one after the other, as one stream. What
/// follows the last member without gzip's magic (padding of a tape, a
/// half-written append) ends it: how many bytes that is is kept.
struct Members<R: BufRead> {
    current: Option<GzDecoder<R>>,
    trailing: Option<u64>,
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(gz) = self.current.as_mut() else {
                return Ok(0);
            };
            let n = gz.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The end of a member: another one, or the end.
            let Some(gz) = self.current.take() else {
                return Ok(0);
            };
            let mut rest = gz.into_inner();
            let next = rest.fill_buf()?;
            if next.is_empty() {
                return Ok(0);
            }
            if next.starts_with(&GZIP_MAGIC) {
                self.current = Some(GzDecoder::new(rest));
                continue;
            }
            let mut count = 0u64;
            loop {
                let len = rest.fill_buf()?.len();
                if len == 0 {
                    break;
                }
                count += len as u64;
                rest.consume(len);
            }
            self.trailing = Some(count);
            return Ok(0);
        }
    }
}

/// The marker of every filter-jsonlog document.
const DATASET: &[u8] = b"\"opensmtpd.jsonlog\"";

impl Report {
    /// Reads one input (`None`: stdin). A read error ends this input only;
    /// it is counted with its reason. A file given twice (the same file
    /// by any name) is read once: its documents would all be duplicates,
    /// and only the last 262,144 are remembered to find those.
    pub fn read(&mut self, path: Option<&Path>) {
        self.input.files += 1;
        let name = path.map_or_else(|| "-".to_string(), |p| p.display().to_string());
        let result = match path {
            None => self.read_from(io::stdin().lock()),
            Some(p) => File::open(p).and_then(|f| {
                if let Ok(meta) = f.metadata() {
                    if meta.is_file() && !self.files_read.insert((meta.dev(), meta.ino())) {
                        self.input.files_repeated += 1;
                        return Ok(None);
                    }
                }
                self.read_from(f)
            }),
        };
        match result {
            Ok(Some(warning)) => self.input.warnings.push(format!("{name}: {warning}")),
            Ok(None) => {}
            Err(e) => self.input.errors.push(format!("{name}: {e}")),
        }
    }

    /// Reads all lines of `raw`, gunzipping it when it starts with gzip's
    /// magic. Returns what was odd but harmless (bytes after the last gzip
    /// member, which gzip(1) too only warns about).
    pub fn read_from(&mut self, raw: impl Read) -> io::Result<Option<String>> {
        let mut plain = BufReader::with_capacity(BUFFER, raw);
        if plain.fill_buf()?.starts_with(&GZIP_MAGIC) {
            // Rotated logs may hold several gzip members back to back.
            let mut members = Members {
                current: Some(GzDecoder::new(plain)),
                trailing: None,
            };
            self.lines(BufReader::with_capacity(BUFFER, &mut members))?;
            Ok(members.trailing.map(|n| {
                format!("{n} bytes after the last gzip member that are not gzip data, ignored")
            }))
        } else {
            self.lines(plain)?;
            Ok(None)
        }
    }

    fn lines(&mut self, mut r: impl BufRead) -> io::Result<()> {
        let mut carry: Vec<u8> = Vec::new();
        let mut overlong = false;
        loop {
            let buf = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // What was read before the error still counts.
                    if !carry.is_empty() {
                        self.line(&carry);
                    }
                    return Err(e);
                }
            };
            if buf.is_empty() {
                if overlong {
                    self.input.lines += 1;
                    self.input.not_documents.too_long += 1;
                } else if !carry.is_empty() {
                    let last = std::mem::take(&mut carry);
                    self.line(&last);
                }
                return Ok(());
            }
            let len = buf.len();
            let mut start = 0;
            while let Some(nl) = buf.get(start..).and_then(newline) {
                let piece = buf.get(start..start + nl).unwrap_or_default();
                if overlong {
                    overlong = false;
                    self.input.lines += 1;
                    self.input.not_documents.too_long += 1;
                } else if carry.is_empty() {
                    self.line(piece);
                } else if carry.len() + piece.len() > MAX_LINE {
                    carry.clear();
                    self.input.lines += 1;
                    self.input.not_documents.too_long += 1;
                } else {
                    carry.extend_from_slice(piece);
                    let whole = std::mem::take(&mut carry);
                    self.line(&whole);
                    carry = whole;
                    carry.clear();
                }
                start += nl + 1;
            }
            let rest = buf.get(start..).unwrap_or_default();
            if !overlong {
                if carry.len() + rest.len() > MAX_LINE {
                    carry.clear();
                    overlong = true;
                } else {
                    carry.extend_from_slice(rest);
                }
            }
            r.consume(len);
        }
    }

    /// Classifies and counts one line.
    pub fn line(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        self.input.lines += 1;
        // A syslog header (RFC 3164 or 5424) before the JSON is skipped.
        let head = line.get(..MAX_HEADER.min(line.len())).unwrap_or_default();
        let Some(json) = head
            .iter()
            .position(|&b| b == b'{')
            .and_then(|at| line.get(at..))
        else {
            self.not_document(line);
            return;
        };
        match Doc::parse(json) {
            Ok(doc)
                if doc
                    .dataset
                    .as_ref()
                    .is_some_and(|d| d.as_str() == "opensmtpd.jsonlog") =>
            {
                self.document(doc);
            }
            Ok(_) => self.input.not_documents.other_programs += 1,
            Err(_) => {
                let ours = json.windows(DATASET.len()).any(|w| w == DATASET);
                if ours {
                    // Cut short (syslog's size limit, a crash) or edited.
                    self.input.not_documents.invalid += 1;
                } else if serde_json::from_slice::<IgnoredAny>(json).is_ok() {
                    self.input.not_documents.other_programs += 1;
                } else {
                    self.not_document(line);
                }
            }
        }
    }
}

impl Report {
    /// A line that is no document: a mail log's (smtpd's delivery lines
    /// are read, any other counted), else not JSON.
    fn not_document(&mut self, line: &[u8]) {
        let Some(log) = maillog::split(line) else {
            self.input.not_documents.not_json += 1;
            return;
        };
        self.input.maillog_lines += 1;
        if let Some(text) = log.smtpd {
            let window = (self.since, self.until);
            self.delivery.smtpd_line(line, text, log.time, window);
        }
    }
}

/// The first `\n` in `bytes`, eight bytes at a time (a byte-by-byte search
/// took a tenth of the report's time).
fn newline(bytes: &[u8]) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LOW * b'\n' as u64;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w) ^ NL;
        // Nonzero exactly when some byte of x is zero (a newline).
        let found = x.wrapping_sub(LOW) & !x & HIGH;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::newline;

    #[test]
    fn newline_at_every_position() {
        for len in 0..40 {
            for nl in 0..=len {
                let mut bytes = vec![b'x'; len];
                // Bytes that trip naive zero-byte tricks: 0x0b, 0x8a, 0x09.
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = [b'x', 0x0b, 0x8a, 0x09][i % 4];
                }
                if nl < len {
                    bytes[nl] = b'\n';
                }
                let expected = bytes.iter().position(|&b| b == b'\n');
                assert_eq!(newline(&bytes), expected, "len {len} nl {nl}");
            }
        }
    }
}
