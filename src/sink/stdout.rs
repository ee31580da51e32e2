//! Documents to standard output, one per line (replay mode only: in filter
//! mode stdout is smtpd's pipe).

use super::{Sink, SinkError, SinkErrorKind};
use std::io::{self, Write};

/// Writes documents to stdout, block-buffered.
pub struct StdoutSink {
    out: io::BufWriter<io::Stdout>,
}

impl Default for StdoutSink {
    fn default() -> StdoutSink {
        StdoutSink {
            out: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }
}

fn err(e: io::Error) -> SinkError {
    // A closed pipe (`replay … | head`): the reader wants no more. End
    // quietly and successfully, as Unix tools do, instead of rendering and
    // "dropping" every remaining document. Only replay writes to stdout.
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    SinkError {
        kind: SinkErrorKind::Unavailable,
        source: e,
    }
}

impl Sink for StdoutSink {
    fn send(&mut self, doc: &[u8]) -> Result<(), SinkError> {
        self.out.write_all(doc).map_err(err)?;
        self.out.write_all(b"\n").map_err(err)
    }
    fn takes_lines(&self) -> bool {
        true
    }
    fn send_lines(&mut self, lines: &[u8]) -> Result<(), SinkError> {
        self.out.write_all(lines).map_err(err)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(err)
    }
    fn reopen(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn name(&self) -> String {
        "stdout".into()
    }
}
