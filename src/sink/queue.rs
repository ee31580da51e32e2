//! The hand-over from the reading loop to the writer thread.
//!
//! The reading thread must never wait on the sink (smtpd's lka buffers
//! reports without limit while we are slow), so documents are gathered in
//! batches and handed to the writer thread (`sink/writer.rs`) through a
//! queue bounded by `--buffer-bytes`.
//!
//! The bound is on memory, not on document bytes: a batch counts with all
//! it has allocated, and a batch handed over small (input trickling in, one
//! event per read, as under smtpd) is appended to the last queued batch
//! when that has room, instead of holding a full-sized buffer of its own.
//! When the bound is reached, newly made documents are dropped
//! (drop-newest, `buffer_full`) and said so on stderr while it happens.

use super::outlet::{DeliveryOptions, Outlet, Ticker, WhenFull};
use super::writer::SinkThread;
use super::Sink;
use crate::stats::{DeliveryStats, DropReason, Warner};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Documents, each followed by its newline, and where each one ends.
#[derive(Default)]
pub(super) struct Batch {
    pub bytes: Vec<u8>,
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

    /// Appends one document and its newline.
    pub fn push(&mut self, doc: &[u8]) {
        self.bytes.extend_from_slice(doc);
        self.bytes.push(b'\n');
        self.ends.push(self.bytes.len());
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Documents in the batch.
    pub fn len(&self) -> u64 {
        self.ends.len() as u64
    }

    /// The memory it holds.
    pub fn cost(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }

    /// Documents that end after byte `from` and at or before byte `to`.
    pub fn count(&self, from: usize, to: usize) -> u64 {
        let upto = |at: usize| self.ends.partition_point(|&end| end <= at);
        upto(to).saturating_sub(upto(from)) as u64
    }

    /// The documents from byte `at` (a document's start) on.
    pub fn docs_from(&self, at: usize) -> super::Docs<'_> {
        let first = self.ends.partition_point(|&end| end <= at);
        super::Docs::new(
            self.bytes.get(at..).unwrap_or_default(),
            self.ends.get(first..).unwrap_or_default(),
            at,
        )
    }

    /// Where the document that starts at byte `at` ends.
    pub fn end_of(&self, at: usize) -> usize {
        let i = self.ends.partition_point(|&end| end <= at);
        self.ends.get(i).copied().unwrap_or(self.bytes.len())
    }

    /// Takes `other` in without allocating, if there is room.
    fn take_in(&mut self, other: &Batch) -> bool {
        let room = self.bytes.capacity() - self.bytes.len() >= other.bytes.len()
            && self.ends.capacity() - self.ends.len() >= other.ends.len();
        if room {
            let base = self.bytes.len();
            self.bytes.extend_from_slice(&other.bytes);
            self.ends.extend(other.ends.iter().map(|end| end + base));
        }
        room
    }
}

/// Documents are handed to the writer in batches of at most this size (and
/// an eighth of the buffer), or sooner when input waits.
const BATCH_BYTES: usize = 256 * 1024;

#[derive(Default)]
pub(super) struct Queue {
    pub batches: VecDeque<Batch>,
    /// Memory held by the queued batches: what `--buffer-bytes` bounds.
    pub bytes: usize,
    /// The writer is waiting for a batch: only then is a wake-up needed
    /// (a futex wake per batch cost more than the sink's own work).
    pub writer_waiting: bool,
    /// Document bytes queued since the writer last took a batch or was
    /// woken, and since when.
    pub unseen: usize,
    pub unseen_since: Option<Instant>,
    /// The reader is waiting for room or for delivery.
    pub reader_waiting: bool,
    /// When input ended: the shutdown grace counts from here.
    pub ending: Option<Instant>,
    /// When the sink last took documents (a replay's grace counts from
    /// here too: a slow output that keeps taking documents is waited for).
    pub progress: Option<Instant>,
    /// No more batches will come: the writer stops once the queue is empty.
    pub closed: bool,
    /// The reading side stopped waiting for the writer and counted what
    /// was not finished as dropped: the writer counts nothing more.
    pub abandoned: bool,
    /// The reader closed the output for good: the writer has stopped.
    pub reader_gone: bool,
    /// Documents put into the queue, or made by the writer itself.
    pub accepted: u64,
    /// Documents the writer delivered or dropped.
    pub finished: u64,
    pub spare: Vec<Batch>,
}

pub(super) struct Shared {
    queue: Mutex<Queue>,
    pub wake: Condvar,
    /// Signalled when the writer takes a batch or waits: room, or delivery done.
    pub room: Condvar,
    pub stats: DeliveryStats,
    pub healthy: AtomicBool,
    /// `Queue::bytes`, readable without the lock.
    pub queued: AtomicUsize,
    pub options: DeliveryOptions,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned lock means the other thread panicked; the queue itself
        // is still consistent (every change is one push or pop).
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When delivery must end: the grace after the end of input.
    pub fn deadline(&self) -> Option<Instant> {
        let queue = self.lock();
        let since = match self.options.when_full {
            WhenFull::DropNewest => queue.ending,
            WhenFull::Block => queue.ending.map(|t| queue.progress.map_or(t, |p| p.max(t))),
        };
        since.map(|t| t + self.options.shutdown_grace)
    }

    /// Counts `n` documents (`bytes` long) delivered.
    pub fn delivered(&self, n: u64, bytes: u64) {
        let mut queue = self.lock();
        queue.progress = Some(Instant::now());
        if !queue.abandoned {
            queue.finished += n;
            self.stats.delivered.fetch_add(n, Ordering::Relaxed);
            self.stats
                .delivered_bytes
                .fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Documents taken and not yet delivered or dropped.
    pub fn held(&self) -> u64 {
        let queue = self.lock();
        queue.accepted.saturating_sub(queue.finished)
    }

    /// Counts `n` documents dropped by the writer.
    pub fn dropped(&self, why: DropReason, n: u64) {
        let mut queue = self.lock();
        if !queue.abandoned {
            queue.finished += n;
            self.stats.drop_documents(why, n);
        }
    }
}

/// The running count of drops, for stderr while an outage lasts.
pub(super) fn drops_so_far(stats: &DeliveryStats) -> String {
    let reasons: Vec<String> = DropReason::ALL
        .iter()
        .map(|r| format!("{}={}", r.as_str(), stats.dropped(*r)))
        .collect();
    format!(
        "{} documents dropped so far ({}); delivered {}",
        stats.dropped_total(),
        reasons.join(" "),
        stats.delivered.load(Ordering::Relaxed)
    )
}

/// Delivers documents to a sink from a thread of its own.
pub struct Delivery {
    shared: Arc<Shared>,
    batch: Batch,
    batch_limit: usize,
    options: DeliveryOptions,
    thread: Option<JoinHandle<()>>,
    warner: Warner,
    failed: bool,
    /// Queued bytes that are worth waking the writer for.
    wake_at: usize,
}

/// The longest a document waits in the queue for the writer's own round
/// when it is not worth a wake-up (the latency bound of the README).
pub const LATENCY: Duration = Duration::from_millis(50);

/// Queued bytes worth a wake-up of the writer (or a 32nd of the buffer, if
/// smaller).
const WAKE_BYTES: usize = 64 * 1024;

/// How long the reader waits past the grace for a writer stuck in a step
/// that overran it, before it stops waiting and counts.
const JOIN_SLACK: Duration = Duration::from_millis(100);

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
            options,
        });
        let writer = SinkThread::new(Arc::clone(&shared), sink, reopen, ticker);
        let thread = std::thread::Builder::new()
            .name("sink".into())
            .spawn(move || writer.run())?;
        // Batches of an eighth of the buffer at most: the queue holds whole
        // batches, so a coarser grain would waste a small buffer.
        let batch_limit = (options.buffer_bytes / 8).clamp(1, BATCH_BYTES);
        Ok(Delivery {
            shared,
            batch: Batch::with_capacity(batch_limit),
            batch_limit,
            options,
            thread: Some(thread),
            warner: Warner::default(),
            failed: false,
            // A small buffer cannot wait out the latency: wake the writer
            // long before it fills.
            wake_at: WAKE_BYTES.min(options.buffer_bytes / 32).max(1),
        })
    }

    fn hand_over(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut queue = self.shared.lock();
        let waited = Instant::now();
        loop {
            if queue.back_mut_take_in(&self.batch) {
                queue.accepted += self.batch.len();
                let added = self.batch.bytes.len();
                self.batch.clear();
                self.nudge(queue, added);
                return;
            }
            // An empty queue takes any batch, so that a buffer smaller than
            // one batch still lets documents through while the sink keeps up.
            let full =
                queue.bytes > 0 && queue.bytes + self.batch.cost() > self.options.buffer_bytes;
            if !full {
                break;
            }
            if self.writer_gone() {
                // No room will come: the writer died or stopped.
                drop(queue);
                self.shared
                    .stats
                    .drop_documents(DropReason::Shutdown, self.batch.len());
                self.batch.clear();
                return;
            }
            let give_up = self.options.when_full == WhenFull::DropNewest
                || (!self.shared.healthy.load(Ordering::Relaxed)
                    && waited.elapsed() >= self.options.shutdown_grace);
            if give_up {
                if self.options.when_full == WhenFull::Block {
                    // A replay whose output stays down: stop, do not hang.
                    // The grace is spent already: the writer gives up too.
                    self.failed = true;
                    let now = Instant::now();
                    queue.ending =
                        Some(now.checked_sub(self.options.shutdown_grace).unwrap_or(now));
                }
                drop(queue);
                // The output is not keeping up, even if its last send has
                // not failed yet (a stalled syslogd takes a second to time
                // out): no drop report until it delivers again.
                self.shared.healthy.store(false, Ordering::Relaxed);
                self.shared
                    .stats
                    .drop_documents(DropReason::BufferFull, self.batch.len());
                self.batch.clear();
                let stats = &self.shared.stats;
                self.warner.warn("dropping", || drops_so_far(stats));
                return;
            }
            queue.reader_waiting = true;
            // Waiting for room: the writer must not sleep out its latency.
            self.shared.wake.notify_one();
            queue = self
                .shared
                .room
                .wait_timeout(queue, Duration::from_millis(100))
                .map(|(q, _)| q)
                .unwrap_or_else(|p| p.into_inner().0);
            queue.reader_waiting = false;
        }
        // Batches start at their full size: growing them by doubling cost
        // more than anything but rendering.
        let next = queue
            .spare
            .pop()
            .unwrap_or_else(|| Batch::with_capacity(self.batch_limit));
        queue.bytes += self.batch.cost();
        queue.accepted += self.batch.len();
        self.shared.queued.store(queue.bytes, Ordering::Relaxed);
        let added = self.batch.bytes.len();
        queue
            .batches
            .push_back(std::mem::replace(&mut self.batch, next));
        self.nudge(queue, added);
    }

    /// Wakes the writer only for a batch worth a write: documents that
    /// trickle in (one event per read under smtpd) wait for the writer's
    /// own round, at most [`LATENCY`], instead of costing a wake-up, a
    /// write and a stat each.
    fn nudge(&self, mut queue: MutexGuard<'_, Queue>, added: usize) {
        queue.unseen += added;
        let since = *queue.unseen_since.get_or_insert_with(Instant::now);
        let wake =
            queue.writer_waiting && (queue.unseen >= self.wake_at || since.elapsed() >= LATENCY);
        if wake {
            queue.unseen = 0;
            queue.unseen_since = None;
        }
        drop(queue);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// True once the writer thread is no more (it stopped, or it died).
    fn writer_gone(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Counts what was taken and never delivered nor dropped (a writer
    /// that died, or stopped for a reader that left) as `shutdown` drops,
    /// once: nothing vanishes uncounted.
    fn count_unfinished(&self) {
        let mut queue = self.shared.lock();
        if queue.abandoned {
            return;
        }
        queue.abandoned = true;
        let left = queue.accepted.saturating_sub(queue.finished);
        self.shared.stats.drop_documents(DropReason::Shutdown, left);
    }

    /// Marks the end of input once; the grace counts from the first call.
    fn mark_ending(&mut self, close: bool) {
        let mut queue = self.shared.lock();
        queue.ending.get_or_insert_with(Instant::now);
        queue.closed |= close;
        drop(queue);
        self.shared.wake.notify_one();
    }
}

impl Queue {
    /// Appends `batch` to the last queued batch if it has room (the writer
    /// only ever takes the first).
    fn back_mut_take_in(&mut self, batch: &Batch) -> bool {
        self.batches.back_mut().is_some_and(|b| b.take_in(batch))
    }
}

impl Outlet for Delivery {
    fn push(&mut self, doc: &[u8]) {
        // Handed over before it would outgrow its allocation: the memory a
        // batch holds is what the bound counts.
        if self.batch.bytes.len() + doc.len() + 1 > self.batch_limit {
            self.hand_over();
        }
        self.batch.push(doc);
    }

    fn idle(&mut self) -> Option<Duration> {
        self.hand_over();
        let mut queue = self.shared.lock();
        let since = queue.unseen_since?;
        if !queue.writer_waiting {
            // Busy: it takes the queue before it waits again.
            return None;
        }
        match LATENCY.checked_sub(since.elapsed()) {
            Some(left) if !left.is_zero() => Some(left),
            _ => {
                queue.unseen = 0;
                queue.unseen_since = None;
                drop(queue);
                self.shared.wake.notify_one();
                None
            }
        }
    }

    fn stats(&self) -> &DeliveryStats {
        &self.shared.stats
    }

    fn healthy(&self) -> bool {
        // Only this thread adds to the queue, so until the batch now being
        // gathered (an eighth of the buffer at most) is
        // handed over, the queue can only shrink: if it is at most half
        // full now, that batch will fit (documents are far smaller than
        // the buffer) and a drop report written now is not dropped itself.
        self.shared.healthy.load(Ordering::Relaxed)
            && self.shared.queued.load(Ordering::Relaxed) <= self.options.buffer_bytes / 2
    }

    fn end_of_input(&mut self) {
        self.hand_over();
        self.mark_ending(false);
    }

    fn await_delivery(&mut self) {
        self.hand_over();
        self.mark_ending(false);
        let mut queue = self.shared.lock();
        // The writer waits only when it has nothing left to deliver. A sink
        // that is down is not waited for here: close() gives it what is
        // left of the grace.
        while !(queue.batches.is_empty() && queue.writer_waiting)
            && self.shared.healthy.load(Ordering::Relaxed)
        {
            drop(queue);
            if self
                .shared
                .deadline()
                .is_some_and(|end| Instant::now() >= end)
            {
                return;
            }
            queue = self.shared.lock();
            queue.reader_waiting = true;
            queue = self
                .shared
                .room
                .wait_timeout(queue, Duration::from_millis(20))
                .map(|(q, _)| q)
                .unwrap_or_else(|p| p.into_inner().0);
            queue.reader_waiting = false;
        }
    }

    fn close(&mut self) {
        self.hand_over();
        self.mark_ending(true);
        let Some(thread) = self.thread.take() else {
            return;
        };
        // Every step of the writer has a deadline within the grace; this
        // only guards against one that overran it.
        loop {
            if thread.is_finished() {
                let _ = thread.join();
                self.count_unfinished();
                return;
            }
            let late = self
                .shared
                .deadline()
                .is_some_and(|end| Instant::now() >= end + JOIN_SLACK);
            if late {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.count_unfinished();
    }

    fn failed(&self) -> bool {
        // A replay stops reading once its reader left as well.
        self.failed || self.output_closed()
    }

    fn output_closed(&self) -> bool {
        self.shared.lock().reader_gone
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.close();
    }
}
