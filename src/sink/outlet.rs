//! What the reading loop sees of delivery: an outlet that takes documents
//! and never makes it wait for long.

use crate::stats::DeliveryStats;
use std::time::Duration;

/// Where the pipeline puts finished documents.
pub trait Outlet {
    /// Takes one complete document. Never blocks for long and never fails:
    /// what cannot be kept is dropped and counted.
    fn push(&mut self, doc: &[u8]);
    /// Input is about to wait: hand over what is gathered. Returns how
    /// long input may wait before `idle` must be called again (documents
    /// wait for the writer's round then), or `None`.
    fn idle(&mut self) -> Option<Duration> {
        None
    }
    /// What happened to documents so far.
    fn stats(&self) -> &DeliveryStats;
    /// False while the sink is known to be down, or while the buffer is too
    /// full to be sure of taking one more document: a report of drops waits
    /// until it can get through instead of being dropped itself.
    fn healthy(&self) -> bool {
        true
    }
    /// Input has ended (or SIGTERM came): the shutdown grace starts now.
    fn end_of_input(&mut self) {}
    /// Waits, within the shutdown grace, until everything handed over so
    /// far is delivered or dropped, so that a final self-metrics document
    /// counts it.
    fn await_delivery(&mut self) {}
    /// Delivers what is still held, within the shutdown grace, and stops.
    fn close(&mut self) {}
    /// True once the output has failed for longer than the grace while a
    /// replay waited for it: the replay stops and exits with an error.
    fn failed(&self) -> bool {
        false
    }
    /// True once the reader closed the output for good (`replay … | head`):
    /// the replay ends quietly and successfully.
    fn output_closed(&self) -> bool {
        false
    }
}

/// Collects documents in memory, for tests and the fuzzer.
#[derive(Default)]
pub struct MemoryOutlet {
    /// Documents in order.
    pub docs: Vec<Vec<u8>>,
    stats: DeliveryStats,
}

impl Outlet for MemoryOutlet {
    fn push(&mut self, doc: &[u8]) {
        self.docs.push(doc.to_vec());
    }
    fn stats(&self) -> &DeliveryStats {
        &self.stats
    }
}

/// Makes a periodic document (self-metrics) on the writer thread, so that
/// it comes on time even while input is idle.
pub type Ticker = Box<dyn FnMut(&DeliveryStats, &mut Vec<u8>) + Send>;

/// What to do with a new document when the buffer is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhenFull {
    /// Drop it and count it: under smtpd, reading must never wait, since
    /// smtpd buffers reports without limit while its filter is slow.
    #[default]
    DropNewest,
    /// Wait for room: a replay has no one to keep waiting. A sink that
    /// stays down for longer than the grace ends the replay.
    Block,
}

/// Bounds of the delivery policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Bytes of memory for documents held while the sink is slow or down.
    pub buffer_bytes: usize,
    /// The longest time from end of input to the end of delivery; what is
    /// not delivered then is dropped (`shutdown`).
    pub shutdown_grace: Duration,
    /// Drop or wait when the buffer is full.
    pub when_full: WhenFull,
}

impl Default for DeliveryOptions {
    fn default() -> DeliveryOptions {
        DeliveryOptions {
            buffer_bytes: 8 << 20,
            shutdown_grace: Duration::from_secs(2),
            when_full: WhenFull::DropNewest,
        }
    }
}
