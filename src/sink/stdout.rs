//! Documents to standard output, one per line (replay mode only: in filter
//! mode stdout is smtpd's pipe).

use super::{Docs, Sink, SinkError, SinkErrorKind};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::Instant;

/// Writes documents to stdout. Batches are large already, so they are
/// written as they come, through a descriptor of our own (std's stdout
/// would copy every line into its line buffer first).
pub struct StdoutSink {
    out: Option<File>,
}

impl Default for StdoutSink {
    fn default() -> StdoutSink {
        StdoutSink {
            out: io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .map(File::from),
        }
    }
}

fn err(e: io::Error) -> SinkError {
    // A closed pipe (`replay … | head`): the reader wants no more. The
    // replay stops reading and ends quietly and successfully, as Unix
    // tools do, instead of rendering and "dropping" every remaining
    // document. Only replay writes to stdout.
    let kind = if e.kind() == io::ErrorKind::BrokenPipe {
        SinkErrorKind::Closed
    } else {
        SinkErrorKind::Unavailable
    };
    SinkError {
        kind,
        source: e,
        done: 0,
    }
}

impl Sink for StdoutSink {
    fn write(&mut self, docs: Docs<'_>, _deadline: Instant) -> Result<(), SinkError> {
        let docs = docs.bytes();
        let Some(out) = self.out.as_mut() else {
            return Err(err(io::Error::other("stdout is closed")));
        };
        let mut written = 0;
        while let Some(rest) = docs.get(written..).filter(|r| !r.is_empty()) {
            match out.write(rest) {
                Ok(0) => return Err(err(io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A pipe takes what it takes; what got through of a
                    // line is out and cannot be taken back.
                    let whole = docs
                        .get(..written)
                        .and_then(|w| w.iter().rposition(|&b| b == b'\n'))
                        .map_or(0, |i| i + 1);
                    let mut e = err(e).after(whole);
                    if whole != written && e.kind != SinkErrorKind::Closed {
                        e.kind = SinkErrorKind::Torn;
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }
    fn reopen(&mut self, _deadline: Instant) -> Result<(), SinkError> {
        Ok(())
    }
    fn name(&self) -> String {
        "stdout".into()
    }
}
