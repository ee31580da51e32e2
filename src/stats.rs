//! Counters with fixed names, and rate-limited warnings to stderr.
//!
//! stderr is smtpd's log (each line becomes `NAME: line` at warning level),
//! so a flood of one problem would flood the mail log: each warning code is
//! printed at most once per [`WARN_INTERVAL`], with the number suppressed.

use crate::protocol::ParseError;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The shortest time between two warnings of one code.
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Why documents were dropped. Every drop has exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The sink was down or slow and the buffer was full.
    BufferFull,
    /// The sink refused the document itself (after a reopen and a retry).
    SinkRejected,
    /// The sink was still down when input ended and the grace time ran out.
    Shutdown,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [DropReason; 3] = [
        DropReason::BufferFull,
        DropReason::SinkRejected,
        DropReason::Shutdown,
    ];

    /// The reason's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::BufferFull => "buffer_full",
            DropReason::SinkRejected => "sink_rejected",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// What happened to documents after they were made; shared by the reading
/// thread and the sink's thread.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Documents the sink accepted.
    pub delivered: AtomicU64,
    /// Bytes of those documents.
    pub delivered_bytes: AtomicU64,
    /// Dropped, per [`DropReason::ALL`] index.
    dropped: [AtomicU64; 3],
    /// Drops not yet reported in the stream.
    unreported: AtomicU64,
    /// Times the sink was reopened (rotation, SIGHUP, reconnect).
    pub reopened: AtomicU64,
}

impl DeliveryStats {
    /// Counts `n` drops for `why`.
    pub fn drop_documents(&self, why: DropReason, n: u64) {
        if let Some(c) = self.dropped.get(why as usize) {
            c.fetch_add(n, Ordering::Relaxed);
        }
        self.unreported.fetch_add(n, Ordering::Relaxed);
    }

    /// Drops so far for `why`.
    pub fn dropped(&self, why: DropReason) -> u64 {
        self.dropped
            .get(why as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// All drops so far.
    pub fn dropped_total(&self) -> u64 {
        DropReason::ALL.iter().map(|r| self.dropped(*r)).sum()
    }

    /// Takes the drops not yet reported.
    pub fn take_unreported(&self) -> u64 {
        // Called for every line: a plain load in the common case, no locked swap.
        if self.unreported.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.unreported.swap(0, Ordering::Relaxed)
    }
}

/// Counters of the reading side. One thread writes them (the reading loop),
/// others only read them (the periodic self-metrics document), so an add is a
/// plain load and store, not a locked read-modify-write.
#[derive(Debug, Default)]
pub struct Counters {
    /// Lines read.
    pub lines_received: AtomicU64,
    /// Lines that could not be used, per [`ParseError::ALL`] index.
    lines_rejected: [AtomicU64; ParseError::ALL.len()],
    /// Lines longer than the input bound (cut, then used).
    pub lines_cut: AtomicU64,
    /// Session documents made (metric documents: `metric_documents`).
    pub documents: AtomicU64,
    /// Their bytes, newlines included.
    pub document_bytes: AtomicU64,
    /// Documents not written because of `--events` or `--ignore-source`.
    pub documents_skipped: AtomicU64,
    /// Documents shortened by the size policy or holding cut input.
    pub documents_truncated: AtomicU64,
    /// Documents holding bytes that were not UTF-8.
    pub documents_invalid_utf8: AtomicU64,
    /// Report events of kinds this filter does not know.
    pub unknown_events: AtomicU64,
    /// Report lines with a protocol version no release sent.
    pub unknown_versions: AtomicU64,
    /// Sessions open now.
    pub sessions_open: AtomicU64,
    /// Sessions ended by the idle timeout.
    pub sessions_expired: AtomicU64,
    /// Sessions pushed out by the session limit.
    pub sessions_evicted: AtomicU64,
    /// Lines whose processing hit an internal error (a bug), caught and survived.
    pub internal_errors: AtomicU64,
    /// Self-metrics documents made (`stats`, `documents-dropped`). Two
    /// threads make them, so this one is a real atomic add.
    pub metric_documents: AtomicU64,
}

/// Adds `n` to a counter only this thread writes.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Reads a counter.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Counters {
    /// Counts one rejected line.
    pub fn reject(&self, error: ParseError) {
        if let Some(i) = ParseError::ALL.iter().position(|e| *e == error) {
            if let Some(c) = self.lines_rejected.get(i) {
                add(c, 1);
            }
        }
    }

    /// Rejected lines per code, the codes with none left out.
    pub fn rejected(&self) -> Vec<(&'static str, u64)> {
        ParseError::ALL
            .iter()
            .zip(&self.lines_rejected)
            .map(|(e, c)| (e.code(), get(c)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// All rejected lines.
    pub fn rejected_total(&self) -> u64 {
        self.lines_rejected.iter().map(get).sum()
    }
}

/// Prints warnings, each code at most once per interval.
pub struct Warner {
    last: HashMap<&'static str, (Instant, u64)>,
    interval: Duration,
}

impl Default for Warner {
    fn default() -> Warner {
        Warner::new(WARN_INTERVAL)
    }
}

impl Warner {
    /// A warner with its own interval.
    pub fn new(interval: Duration) -> Warner {
        Warner {
            last: HashMap::new(),
            interval,
        }
    }

    /// Prints `filter-jsonlog: CODE: message` unless `code` was printed
    /// within the interval; then it is counted and mentioned next time.
    pub fn warn(&mut self, code: &'static str, message: impl FnOnce() -> String) {
        let now = Instant::now();
        match self.last.get_mut(code) {
            Some((at, suppressed)) if now.duration_since(*at) < self.interval => *suppressed += 1,
            entry => {
                let suppressed = entry.map_or(0, |(_, n)| *n);
                let mut line = format!("filter-jsonlog: {code}: {}", message());
                if suppressed > 0 {
                    line.push_str(&format!(" ({suppressed} more suppressed)"));
                }
                let _ = writeln!(std::io::stderr().lock(), "{line}");
                self.last.insert(code, (now, 0));
            }
        }
    }
}
