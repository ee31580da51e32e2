//! The delivery policy, the same for every sink.
//!
//! The reading thread must never wait on the sink (smtpd's lka buffers
//! reports without limit while we are slow), so documents are gathered in
//! batches and handed to a writer thread through a queue bounded in bytes.
//!
//! - Sink unavailable (syslogd down, disk full): the writer keeps the
//!   document, reopens and retries with a backoff of 50 ms up to 1 s. The
//!   queue fills meanwhile; when it is full, newly made documents are
//!   dropped (drop-newest) and counted as `buffer_full`.
//! - Sink refuses one document: reopen and retry once, then drop it and
//!   count `sink_rejected`.
//! - End of input: the writer delivers what is queued; if the sink stays
//!   down longer than the shutdown grace (counted from the end of input),
//!   the rest is counted `shutdown`.
//! - The outlet reports itself healthy (and drops are reported in the
//!   stream) only while the sink takes documents and the queue is at most
//!   half full, so that the report is not dropped in turn.
//!
//! A document counts as delivered only after the sink flushed it.

use super::{Sink, SinkError, SinkErrorKind};
use crate::stats::{DeliveryStats, DropReason, Warner};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the pipeline puts finished documents.
pub trait Outlet {
    /// Takes one complete document. Never blocks for long and never fails:
    /// what cannot be kept is dropped and counted.
    fn push(&mut self, doc: &[u8]);
    /// Input is about to wait: hand over what is gathered.
    fn idle(&mut self) {}
    /// What happened to documents so far.
    fn stats(&self) -> &DeliveryStats;
    /// False while the sink is known to be down, or while the buffer is too
    /// full to be sure of taking one more document: a report of drops waits
    /// until it can get through instead of being dropped itself.
    fn healthy(&self) -> bool {
        true
    }
    /// Waits (at most `limit`) until everything handed over so far is
    /// delivered or dropped, so that a final self-metrics document counts
    /// it. Input has ended when this is called.
    fn settle(&mut self, _limit: Duration) {}
    /// Delivers everything still held and stops (end of input).
    fn close(&mut self) {}
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
    /// Wait for room: a replay has no one to keep waiting.
    Block,
}

/// Bounds of the delivery policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Bytes of documents held while the sink is slow or down.
    pub buffer_bytes: usize,
    /// How long to keep trying a sink that is down once input has ended.
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

#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    /// A batch that holds `bytes` without growing.
    fn with_capacity(bytes: usize) -> Batch {
        Batch {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(bytes / 512),
        }
    }

    /// The documents, without their newlines.
    fn docs(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let doc = self
                .bytes
                .get(start..end.saturating_sub(1))
                .unwrap_or_default();
            start = end;
            doc
        })
    }

    /// Appends one document and its newline.
    fn push(&mut self, doc: &[u8]) {
        self.bytes.extend_from_slice(doc);
        self.bytes.push(b'\n');
        self.ends.push(self.bytes.len());
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

/// Documents are handed to the writer in batches of about this size (at
/// most a quarter of the buffer), or sooner when input waits.
const BATCH_BYTES: usize = 256 * 1024;

#[derive(Default)]
struct Queue {
    batches: VecDeque<Batch>,
    bytes: usize,
    /// The writer is waiting for a batch: only then is a wake-up needed
    /// (a futex wake per batch cost more than the sink's own work).
    writer_waiting: bool,
    /// The reader is waiting for room (replay only).
    reader_waiting: bool,
    /// When input ended: the shutdown grace counts from here, however busy
    /// the writer was when it happened.
    closing: Option<Instant>,
    spare: Vec<Batch>,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Signalled when the writer takes a batch: room for a blocked reader.
    room: Condvar,
    stats: DeliveryStats,
    healthy: AtomicBool,
    /// `Queue::bytes`, readable without the lock.
    queued: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned lock means the other thread panicked; the queue itself
        // is still consistent (every change is one push or pop).
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Delivers documents to a sink from a thread of its own.
pub struct Delivery {
    shared: Arc<Shared>,
    batch: Batch,
    batch_limit: usize,
    options: DeliveryOptions,
    thread: Option<JoinHandle<()>>,
}

impl Delivery {
    /// Starts the writer thread for `sink`. `reopen` is raised by SIGHUP.
    pub fn start(
        sink: Box<dyn Sink>,
        options: DeliveryOptions,
        reopen: Arc<AtomicBool>,
        ticker: Option<(Duration, Ticker)>,
    ) -> std::io::Result<Delivery> {
        // A sink that could not connect at start (syslogd not running) is
        // down until it takes a document: no drop report goes to it before.
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            room: Condvar::new(),
            stats: DeliveryStats::default(),
            healthy: AtomicBool::new(sink.available()),
            queued: AtomicUsize::new(0),
        });
        let writer = Writer {
            shared: Arc::clone(&shared),
            sink,
            reopen,
            options,
            warner: Warner::default(),
            last_check: Instant::now(),
            ticker: ticker.map(|(every, make)| (every, make, Instant::now())),
            down: false,
        };
        let thread = std::thread::Builder::new()
            .name("sink".into())
            .spawn(move || writer.run())?;
        Ok(Delivery {
            shared,
            batch: Batch::with_capacity(BATCH_BYTES + 16 * 1024),
            batch_limit: (options.buffer_bytes / 4).clamp(1, BATCH_BYTES),
            options,
            thread: Some(thread),
        })
    }

    fn hand_over(&mut self) {
        if self.batch.ends.is_empty() {
            return;
        }
        let mut queue = self.shared.lock();
        let size = self.batch.bytes.len();
        let full = |q: &Queue| q.bytes > 0 && q.bytes + size > self.options.buffer_bytes;
        if self.options.when_full == WhenFull::Block {
            while full(&queue) {
                queue.reader_waiting = true;
                queue = self
                    .shared
                    .room
                    .wait(queue)
                    .unwrap_or_else(|p| p.into_inner());
                queue.reader_waiting = false;
            }
        }
        // An empty queue takes any batch, so that a buffer smaller than one
        // document still lets documents through while the sink keeps up.
        if full(&queue) {
            drop(queue);
            self.shared
                .stats
                .drop_documents(DropReason::BufferFull, self.batch.ends.len() as u64);
            self.batch.clear();
            return;
        }
        // Batches start at their full size: growing them by doubling cost
        // more than anything but rendering.
        let capacity = self.batch_limit + 16 * 1024;
        let next = queue
            .spare
            .pop()
            .unwrap_or_else(|| Batch::with_capacity(capacity));
        queue.bytes += size;
        self.shared.queued.store(queue.bytes, Ordering::Relaxed);
        queue
            .batches
            .push_back(std::mem::replace(&mut self.batch, next));
        let wake = queue.writer_waiting;
        drop(queue);
        if wake {
            self.shared.wake.notify_one();
        }
    }
}

impl Outlet for Delivery {
    fn push(&mut self, doc: &[u8]) {
        self.batch.push(doc);
        if self.batch.bytes.len() >= self.batch_limit {
            self.hand_over();
        }
    }

    fn idle(&mut self) {
        self.hand_over();
    }

    fn stats(&self) -> &DeliveryStats {
        &self.shared.stats
    }

    fn healthy(&self) -> bool {
        // Only this thread adds to the queue, so until the batch now being
        // gathered (a quarter of the buffer and one document at most) is
        // handed over, the queue can only shrink: if it is at most half
        // full now, that batch will fit (documents are far smaller than
        // the buffer) and a drop report written now is not dropped itself.
        self.shared.healthy.load(Ordering::Relaxed)
            && self.shared.queued.load(Ordering::Relaxed) <= self.options.buffer_bytes / 2
    }

    fn settle(&mut self, limit: Duration) {
        self.hand_over();
        let started = Instant::now();
        let mut queue = self.shared.lock();
        // The writer waits only when it has nothing left to deliver. A sink
        // that is down is not waited for here: close() gives it the
        // shutdown grace, and the two must not add up.
        while !(queue.batches.is_empty() && queue.writer_waiting)
            && self.shared.healthy.load(Ordering::Relaxed)
            && started.elapsed() < limit
        {
            queue.reader_waiting = true;
            queue = self
                .shared
                .room
                .wait_timeout(queue, Duration::from_millis(50))
                .map(|(q, _)| q)
                .unwrap_or_else(|p| p.into_inner().0);
            queue.reader_waiting = false;
        }
    }

    fn close(&mut self) {
        self.hand_over();
        {
            let mut queue = self.shared.lock();
            if queue.closing.is_none() {
                queue.closing = Some(Instant::now());
            }
        }
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.close();
    }
}

struct Writer {
    shared: Arc<Shared>,
    sink: Box<dyn Sink>,
    reopen: Arc<AtomicBool>,
    options: DeliveryOptions,
    warner: Warner,
    last_check: Instant,
    ticker: Option<(Duration, Ticker, Instant)>,
    /// The writer's own view: an outage was warned about and not yet its end.
    down: bool,
}

const TICK: Duration = Duration::from_millis(250);

enum Outcome {
    Done,
    GaveUp,
}

impl Writer {
    fn run(mut self) {
        loop {
            let (batch, closing_since) = {
                let mut queue = self.shared.lock();
                if queue.batches.is_empty() && queue.closing.is_none() {
                    queue.writer_waiting = true;
                    if queue.reader_waiting {
                        // settle() waits for exactly this.
                        self.shared.room.notify_one();
                    }
                    queue = self
                        .shared
                        .wake
                        .wait_timeout(queue, TICK)
                        .map(|(q, _)| q)
                        .unwrap_or_else(|p| p.into_inner().0);
                    queue.writer_waiting = false;
                }
                let batch = queue.batches.pop_front();
                if let Some(b) = &batch {
                    queue.bytes = queue.bytes.saturating_sub(b.bytes.len());
                    self.shared.queued.store(queue.bytes, Ordering::Relaxed);
                    if queue.reader_waiting {
                        self.shared.room.notify_one();
                    }
                }
                (batch, queue.closing)
            };
            let closing = closing_since.is_some();
            self.housekeeping();
            if !closing {
                self.tick(closing_since);
            }
            match batch {
                Some(mut batch) => {
                    self.deliver(&batch, closing_since);
                    batch.clear();
                    let mut queue = self.shared.lock();
                    if queue.spare.len() < 4 {
                        queue.spare.push(batch);
                    }
                }
                None if closing => {
                    let _ = self.sink.flush();
                    return;
                }
                None => {}
            }
        }
    }

    fn tick(&mut self, closing_since: Option<Instant>) {
        let Some((every, make, last)) = &mut self.ticker else {
            return;
        };
        if last.elapsed() < *every {
            return;
        }
        *last = Instant::now();
        let mut doc = Vec::new();
        make(&self.shared.stats, &mut doc);
        let mut batch = Batch::default();
        batch.push(&doc);
        self.deliver(&batch, closing_since);
    }

    fn housekeeping(&mut self) {
        if self.reopen.swap(false, Ordering::Relaxed) {
            let _ = self.sink.flush();
            match self.sink.reopen() {
                Ok(()) => {
                    self.shared.stats.reopened.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => self.warner.warn("sink_reopen_failed", || {
                    format!("{}: {e}", self.sink.name())
                }),
            }
        }
        if self.last_check.elapsed() >= TICK {
            self.last_check = Instant::now();
            if self.sink.check() {
                self.shared.stats.reopened.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn deliver(&mut self, batch: &Batch, closing_since: Option<Instant>) {
        let total = batch.ends.len() as u64;
        if self.sink.takes_lines() {
            // Documents are lines here: the batch goes out as it is.
            match self.retry(closing_since, |sink| sink.send_lines(&batch.bytes)) {
                Ok(Outcome::Done) => {
                    let flushed = self.retry(closing_since, |sink| sink.flush());
                    self.settle(flushed, total, batch.bytes.len() as u64);
                }
                Ok(Outcome::GaveUp) => {
                    self.shared
                        .stats
                        .drop_documents(DropReason::Shutdown, total);
                }
                Err(e) => {
                    self.shared
                        .stats
                        .drop_documents(DropReason::SinkRejected, total);
                    self.warner
                        .warn("document_rejected", || format!("{}: {e}", self.sink.name()));
                }
            }
            return;
        }
        let mut sent = 0u64;
        let mut bytes = 0u64;
        for (done, doc) in (0u64..).zip(batch.docs()) {
            match self.retry(closing_since, |sink| sink.send(doc)) {
                Ok(Outcome::Done) => {
                    sent += 1;
                    bytes += doc.len() as u64 + 1;
                }
                Ok(Outcome::GaveUp) => {
                    self.shared
                        .stats
                        .drop_documents(DropReason::Shutdown, total - done);
                    // What was sent before counts too: one last flush.
                    let flushed = self.sink.flush().map(|()| Outcome::Done);
                    self.settle(flushed, sent, bytes);
                    return;
                }
                Err(e) => {
                    self.shared
                        .stats
                        .drop_documents(DropReason::SinkRejected, 1);
                    self.warner
                        .warn("document_rejected", || format!("{}: {e}", self.sink.name()));
                }
            }
        }
        let flushed = self.retry(closing_since, |sink| sink.flush());
        self.settle(flushed, sent, bytes);
    }

    /// Counts `sent` documents (`bytes` long) by how their flush went; what
    /// is counted as dropped is also discarded, so that it is never written
    /// later.
    fn settle(&mut self, flushed: Result<Outcome, SinkError>, sent: u64, bytes: u64) {
        let stats = &self.shared.stats;
        match flushed {
            Ok(Outcome::Done) => {
                stats.delivered.fetch_add(sent, Ordering::Relaxed);
                stats.delivered_bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Ok(Outcome::GaveUp) => {
                self.sink.discard();
                stats.drop_documents(DropReason::Shutdown, sent);
            }
            Err(e) => {
                self.sink.discard();
                stats.drop_documents(DropReason::SinkRejected, sent);
                self.warner
                    .warn("document_rejected", || format!("{}: {e}", self.sink.name()));
            }
        }
    }

    /// Runs `op` until it succeeds, the sink rejects (after one reopen and
    /// retry), or input has ended and the grace time ran out.
    fn retry(
        &mut self,
        closing_since: Option<Instant>,
        mut op: impl FnMut(&mut dyn Sink) -> Result<(), SinkError>,
    ) -> Result<Outcome, SinkError> {
        let mut backoff = Duration::from_millis(50);
        let mut rejected_once = false;
        let mut closing_at = closing_since;
        let grace = self.options.shutdown_grace;
        let expired = |at: Option<Instant>| at.is_some_and(|t| t.elapsed() >= grace);
        loop {
            // Input has ended, the grace is over and the sink is down: do not
            // wait for it again (a send may block up to its own timeout), so
            // that a long queue is given up at once.
            if self.down && expired(closing_at) {
                return Ok(Outcome::GaveUp);
            }
            match op(self.sink.as_mut()) {
                Ok(()) => {
                    self.shared.healthy.store(true, Ordering::Relaxed);
                    if std::mem::replace(&mut self.down, false) {
                        let name = self.sink.name();
                        self.warner
                            .warn("sink_recovered", || format!("{name}: delivering again"));
                    }
                    return Ok(Outcome::Done);
                }
                Err(e) if e.kind == SinkErrorKind::Rejected => {
                    if rejected_once {
                        return Err(e);
                    }
                    rejected_once = true;
                    let _ = self.sink.reopen();
                }
                Err(e) => {
                    self.shared.healthy.store(false, Ordering::Relaxed);
                    if !std::mem::replace(&mut self.down, true) {
                        let name = self.sink.name();
                        self.warner
                            .warn("sink_unavailable", || format!("{name}: {e}; buffering"));
                    }
                    if closing_at.is_none() {
                        closing_at = self.shared.lock().closing;
                    }
                    if expired(closing_at) {
                        return Ok(Outcome::GaveUp);
                    }
                    let pause = match closing_at {
                        Some(t) => backoff.min(grace.saturating_sub(t.elapsed())),
                        None => backoff,
                    };
                    std::thread::sleep(pause);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    self.housekeeping();
                    if self.sink.reopen().is_ok() {
                        self.shared.stats.reopened.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}
