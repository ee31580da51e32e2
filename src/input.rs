//! Lines from a byte stream, each bounded: one reused buffer, no UTF-8
//! assumption, and a line longer than the bound is cut (and said to be),
//! never allowed to grow memory.

use std::io::{self, BufRead, BufReader, ErrorKind, Read};

/// One line, without its `\n`.
#[derive(Debug, PartialEq, Eq)]
pub struct RawLine<'a> {
    /// The line's bytes (at most the bound).
    pub bytes: &'a [u8],
    /// The line was longer than the bound; the rest was skipped.
    pub cut: bool,
    /// The input ended without a final `\n`.
    pub unterminated: bool,
}

/// Reads bounded lines.
pub struct LineReader<R> {
    inner: BufReader<R>,
    line: Vec<u8>,
    max: usize,
    /// The line so far was longer than the bound.
    cut: bool,
    /// The last call ended in a read error (a timeout): the line begun
    /// goes on where it stopped.
    resume: bool,
}

/// The default bound: 1 MiB, far above smtpd's longest line (4 KiB).
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

impl<R: Read> LineReader<R> {
    /// Reads from `inner`; lines longer than `max` bytes are cut.
    pub fn new(inner: R, max: usize) -> LineReader<R> {
        LineReader {
            inner: BufReader::with_capacity(64 * 1024, inner),
            line: Vec::with_capacity(4096),
            max,
            cut: false,
            resume: false,
        }
    }

    /// The reader underneath.
    pub fn get_mut(&mut self) -> &mut R {
        self.inner.get_mut()
    }

    /// True when a line can be returned without waiting for input.
    pub fn has_buffered_input(&self) -> bool {
        !self.inner.buffer().is_empty()
    }

    /// The next line, or `None` at end of input. After an error (a read
    /// that timed out), the next call goes on with the line begun.
    pub fn next_line(&mut self) -> io::Result<Option<RawLine<'_>>> {
        if !std::mem::replace(&mut self.resume, false) {
            self.line.clear();
            self.cut = false;
        }
        loop {
            let available = match self.inner.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.resume = true;
                    return Err(e);
                }
            };
            let cut = &mut self.cut;
            if available.is_empty() {
                if self.line.is_empty() && !*cut {
                    return Ok(None);
                }
                return Ok(Some(RawLine {
                    bytes: &self.line,
                    cut: *cut,
                    unterminated: true,
                }));
            }
            let newline = find_newline(available);
            let chunk = available
                .get(..newline.unwrap_or(available.len()))
                .unwrap_or_default();
            let room = self.max.saturating_sub(self.line.len());
            if chunk.len() > room {
                *cut = true;
            }
            self.line
                .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            let consumed = newline.map_or(available.len(), |n| n + 1);
            self.inner.consume(consumed);
            if newline.is_some() {
                return Ok(Some(RawLine {
                    bytes: &self.line,
                    cut: self.cut,
                    unterminated: false,
                }));
            }
        }
    }
}

/// The first `\n` in `bytes`.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(Vec<u8>, bool, bool)> {
        let mut r = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push((l.bytes.to_vec(), l.cut, l.unterminated));
        }
        out
    }

    #[test]
    fn line_ending_edges() {
        assert_eq!(lines(b"", 10), vec![]);
        assert_eq!(lines(b"\n", 10), vec![(b"".to_vec(), false, false)]);
        assert_eq!(lines(b"a\r\n", 10), vec![(b"a\r".to_vec(), false, false)]);
        assert_eq!(
            lines(b"a\nb", 10),
            vec![(b"a".to_vec(), false, false), (b"b".to_vec(), false, true)]
        );
        assert_eq!(lines(b"\r", 10), vec![(b"\r".to_vec(), false, true)]);
    }

    #[test]
    fn finds_the_first_newline_anywhere() {
        for len in 0..40 {
            assert_eq!(find_newline(&vec![b'x'; len]), None);
            for at in 0..len {
                let mut bytes = vec![0x8a_u8; len];
                bytes[at] = b'\n';
                if at + 1 < len {
                    bytes[at + 1] = b'\n';
                }
                assert_eq!(find_newline(&bytes), Some(at), "{len} {at}");
            }
        }
    }

    /// Reads that return these chunks, a timeout where there is `None`.
    struct Scripted(Vec<Option<&'static [u8]>>);

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            match self.0.remove(0) {
                Some(chunk) => {
                    buf[..chunk.len()].copy_from_slice(chunk);
                    Ok(chunk.len())
                }
                None => Err(io::Error::new(ErrorKind::TimedOut, "quiet")),
            }
        }
    }

    #[test]
    fn a_line_goes_on_after_a_read_timed_out() {
        let input = Scripted(vec![Some(b"ab"), None, Some(b"c\nd"), None, Some(b"\n")]);
        let mut r = LineReader::new(input, 2);
        assert_eq!(r.next_line().unwrap_err().kind(), ErrorKind::TimedOut);
        let line = r.next_line().unwrap().unwrap();
        assert_eq!((line.bytes, line.cut), (&b"ab"[..], true));
        assert_eq!(r.next_line().unwrap_err().kind(), ErrorKind::TimedOut);
        let line = r.next_line().unwrap().unwrap();
        assert_eq!((line.bytes, line.cut), (&b"d"[..], false));
        assert!(r.next_line().unwrap().is_none());
    }

    #[test]
    fn long_lines_are_cut_and_the_next_line_is_intact() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\nnext\n");
        let got = lines(&input, 1000);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.len(), 1000);
        assert!(got[0].1);
        assert_eq!(got[1], (b"next".to_vec(), false, false));
    }
}
