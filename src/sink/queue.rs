//! The queue between the reading loop and the writer thread, and the only
//! owner of the state the two threads share: every change to it is a
//! method here, called by the reading side (`sink/delivery.rs`) or by the
//! writer thread (`sink/writer.rs`), so that each rule about that state is
//! written once, under one lock.
//!
//! The bound is on memory, not on document bytes: a batch counts with all
//! it has allocated, and a batch handed over small (input trickling in, one
//! event per read, as under smtpd) is appended to the last queued batch
//! when that has room, instead of holding a full-sized buffer of its own.

use super::batch::Batch;
use super::outlet::{DeliveryOptions, WhenFull};
use crate::stats::{DeliveryStats, DropReason};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The longest a document waits in the queue for the writer's own round
/// when it is not worth a wake-up (the latency bound of the README).
pub const LATENCY: Duration = Duration::from_millis(50);

/// Documents are handed to the writer in batches of at most this size (and
/// an eighth of the buffer), or sooner when input waits.
const BATCH_BYTES: usize = 256 * 1024;

/// Queued bytes worth a wake-up of the writer (or a 32nd of the buffer, if
/// smaller).
const WAKE_BYTES: usize = 64 * 1024;

/// How long the reader sleeps at most between two looks at a full queue.
const ROOM_WAIT: Duration = Duration::from_millis(100);

/// How long the reader sleeps at most between two looks while waiting for
/// delivery.
const DELIVERY_WAIT: Duration = Duration::from_millis(20);

#[derive(Default)]
struct State {
    batches: VecDeque<Batch>,
    /// Memory held by the queued batches: what `--buffer-bytes` bounds.
    bytes: usize,
    /// The writer is waiting for a batch: only then is a wake-up needed
    /// (a futex wake per batch cost more than the sink's own work).
    writer_waiting: bool,
    /// Document bytes queued since the writer last took a batch or was
    /// woken, and since when.
    unseen: usize,
    unseen_since: Option<Instant>,
    /// The reader is waiting for room or for delivery.
    reader_waiting: bool,
    /// When input ended: the shutdown grace counts from here.
    ending: Option<Instant>,
    /// When the sink last took documents (a replay's grace counts from
    /// here too: a slow output that keeps taking documents is waited for).
    progress: Option<Instant>,
    /// No more batches will come: the writer stops once the queue is empty.
    closed: bool,
    /// The reading side stopped waiting for the writer and counted what
    /// was not finished as dropped: the writer counts nothing more.
    abandoned: bool,
    /// The reader closed the output for good: the writer has stopped.
    reader_gone: bool,
    /// Documents put into the queue, or made by the writer itself.
    accepted: u64,
    /// Documents the writer delivered or dropped.
    finished: u64,
    spare: Vec<Batch>,
}

impl State {
    /// Counts `added` bytes queued and tells whether they are worth waking
    /// the writer for: documents that trickle in (one event per read under
    /// smtpd) wait for the writer's own round, at most [`LATENCY`],
    /// instead of costing a wake-up, a write and a stat each.
    fn worth_waking(&mut self, added: usize, wake_at: usize) -> bool {
        self.unseen += added;
        let since = *self.unseen_since.get_or_insert_with(Instant::now);
        let wake = self.writer_waiting && (self.unseen >= wake_at || since.elapsed() >= LATENCY);
        if wake {
            self.seen();
        }
        wake
    }

    /// The writer took the queue or was woken for it.
    fn seen(&mut self) {
        self.unseen = 0;
        self.unseen_since = None;
    }
}

/// What the reader does about a full queue, asked each time it looks.
pub(super) enum WhileFull {
    /// Wait for the writer to make room.
    Wait,
    /// Keep the batch: the caller counts its documents dropped for this.
    GiveUp(DropReason),
}

/// What the writer took from the queue.
pub(super) struct Taken {
    /// The first batch, if any was queued.
    pub batch: Option<Batch>,
    /// Input has ended.
    pub ending: bool,
    /// No more batches will come.
    pub closed: bool,
}

/// The queue bounded by `--buffer-bytes`, and the counts and flags both
/// threads read.
pub(super) struct Queue {
    state: Mutex<State>,
    wake: Condvar,
    /// Signalled when the writer takes a batch or waits: room, or delivery done.
    room: Condvar,
    stats: DeliveryStats,
    healthy: AtomicBool,
    /// `State::bytes`, readable without the lock.
    queued: AtomicUsize,
    options: DeliveryOptions,
    /// Batches are at most this large: the queue holds whole batches, so a
    /// coarser grain would waste a small buffer.
    batch_limit: usize,
    /// Queued bytes that are worth waking the writer for.
    wake_at: usize,
}

impl Queue {
    /// An empty queue; `healthy` is whether the sink could take documents
    /// at start (a sink that could not connect, syslogd not running, is
    /// down until it takes a document: no drop report goes to it before).
    pub fn new(options: DeliveryOptions, healthy: bool) -> Queue {
        Queue {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            room: Condvar::new(),
            stats: DeliveryStats::default(),
            healthy: AtomicBool::new(healthy),
            queued: AtomicUsize::new(0),
            options,
            // Batches of an eighth of the buffer at most.
            batch_limit: (options.buffer_bytes / 8).clamp(1, BATCH_BYTES),
            // A small buffer cannot wait out the latency: wake the writer
            // long before it fills.
            wake_at: WAKE_BYTES.min(options.buffer_bytes / 32).max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means the other thread panicked; the queue itself
        // is still consistent (every change is one push or pop).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits on `condvar` for at most `timeout`, with `flag` of the state
    /// raised meanwhile so that the other thread knows to signal it.
    fn wait<'a>(
        condvar: &Condvar,
        mut state: MutexGuard<'a, State>,
        flag: fn(&mut State) -> &mut bool,
        timeout: Duration,
    ) -> MutexGuard<'a, State> {
        *flag(&mut state) = true;
        let mut state = condvar
            .wait_timeout(state, timeout)
            .map(|(s, _)| s)
            .unwrap_or_else(|p| p.into_inner().0);
        *flag(&mut state) = false;
        state
    }

    pub fn stats(&self) -> &DeliveryStats {
        &self.stats
    }

    pub fn options(&self) -> &DeliveryOptions {
        &self.options
    }

    /// The largest batch worth gathering before a hand-over.
    pub fn batch_limit(&self) -> usize {
        self.batch_limit
    }

    /// The sink took documents last time it was tried.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Memory held by the queued batches, without the lock.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// When delivery must end: the grace after the end of input.
    pub fn deadline(&self) -> Option<Instant> {
        let state = self.lock();
        let since = match self.options.when_full {
            WhenFull::DropNewest => state.ending,
            WhenFull::Block => state.ending.map(|t| state.progress.map_or(t, |p| p.max(t))),
        };
        since.map(|t| t + self.options.shutdown_grace)
    }

    // The reading side.

    /// Queues the documents of `batch` and leaves it empty (with the
    /// capacity of a full batch, for the next documents). While the queue
    /// is full, `while_full` is asked, with the time waited so far, whether
    /// to wait on; when it gives up, `batch` is left as it was, for the
    /// caller to count as dropped.
    pub fn put(
        &self,
        batch: &mut Batch,
        mut while_full: impl FnMut(Duration) -> WhileFull,
    ) -> Result<(), DropReason> {
        let mut state = self.lock();
        let waited = Instant::now();
        loop {
            // Appended to the last queued batch if that has room (the
            // writer only ever takes the first).
            if state.batches.back_mut().is_some_and(|b| b.take_in(batch)) {
                state.accepted += batch.len();
                let added = batch.bytes.len();
                batch.clear();
                self.nudge(state, added);
                return Ok(());
            }
            // An empty queue takes any batch, so that a buffer smaller than
            // one batch still lets documents through while the sink keeps up.
            let full = state.bytes > 0 && state.bytes + batch.cost() > self.options.buffer_bytes;
            if !full {
                break;
            }
            if let WhileFull::GiveUp(why) = while_full(waited.elapsed()) {
                return Err(why);
            }
            // Waiting for room: the writer must not sleep out its latency.
            self.wake.notify_one();
            state = Self::wait(&self.room, state, |s| &mut s.reader_waiting, ROOM_WAIT);
        }
        // Batches start at their full size: growing them by doubling cost
        // more than anything but rendering.
        let next = state
            .spare
            .pop()
            .unwrap_or_else(|| Batch::with_capacity(self.batch_limit));
        state.bytes += batch.cost();
        state.accepted += batch.len();
        self.queued.store(state.bytes, Ordering::Relaxed);
        let added = batch.bytes.len();
        state.batches.push_back(std::mem::replace(batch, next));
        self.nudge(state, added);
        Ok(())
    }

    /// Wakes the writer if `added` queued bytes are worth it.
    fn nudge(&self, mut state: MutexGuard<'_, State>, added: usize) {
        let wake = state.worth_waking(added, self.wake_at);
        drop(state);
        if wake {
            self.wake.notify_one();
        }
    }

    /// How long queued documents may still wait for the writer's own round
    /// ([`LATENCY`]); wakes the writer once that is over.
    pub fn latency_left(&self) -> Option<Duration> {
        let mut state = self.lock();
        let since = state.unseen_since?;
        if !state.writer_waiting {
            // Busy: it takes the queue before it waits again.
            return None;
        }
        match LATENCY.checked_sub(since.elapsed()) {
            Some(left) if !left.is_zero() => Some(left),
            _ => {
                state.seen();
                drop(state);
                self.wake.notify_one();
                None
            }
        }
    }

    /// Marks the end of input once; the grace counts from the first call.
    /// With `close`, no more batches come: the writer stops once it
    /// delivered the queue.
    pub fn end_input(&self, close: bool) {
        let mut state = self.lock();
        state.ending.get_or_insert_with(Instant::now);
        state.closed |= close;
        drop(state);
        self.wake.notify_one();
    }

    /// A replay whose output stays down after a grace of waiting for room:
    /// the grace is spent already, so the writer gives up too.
    pub fn grace_spent(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        state.ending = Some(now.checked_sub(self.options.shutdown_grace).unwrap_or(now));
    }

    /// Waits until the writer delivered everything queued, while the sink
    /// takes documents and the grace lasts. A sink that is down is not
    /// waited for here: closing gives it what is left of the grace.
    pub fn wait_delivered(&self) {
        let mut state = self.lock();
        // The writer waits only when it has nothing left to deliver.
        while !(state.batches.is_empty() && state.writer_waiting) && self.healthy() {
            drop(state);
            if self.deadline().is_some_and(|end| Instant::now() >= end) {
                return;
            }
            state = self.lock();
            state = Self::wait(&self.room, state, |s| &mut s.reader_waiting, DELIVERY_WAIT);
        }
    }

    /// Counts what was taken and never delivered nor dropped (a writer
    /// that died, or stopped for a reader that left) as `shutdown` drops,
    /// once: nothing vanishes uncounted, and the writer counts nothing more.
    pub fn abandon(&self) {
        let mut state = self.lock();
        if state.abandoned {
            return;
        }
        state.abandoned = true;
        let left = state.accepted.saturating_sub(state.finished);
        self.stats.drop_documents(DropReason::Shutdown, left);
    }

    /// The reader of the output closed it for good.
    pub fn reader_gone(&self) -> bool {
        self.lock().reader_gone
    }

    // The writer's side.

    /// Takes the first queued batch; with none queued and more to come,
    /// waits at most `idle` for one. None when the writer must stop (the
    /// reading side gave up on it, or the output's reader left).
    pub fn take(&self, idle: Duration) -> Option<Taken> {
        let mut state = self.lock();
        if state.batches.is_empty() && !state.closed {
            if state.reader_waiting {
                // wait_delivered() waits for exactly this.
                self.room.notify_one();
            }
            state = Self::wait(&self.wake, state, |s| &mut s.writer_waiting, idle);
        }
        if state.abandoned || state.reader_gone {
            return None;
        }
        let batch = state.batches.pop_front();
        if let Some(b) = &batch {
            state.seen();
            state.bytes = state.bytes.saturating_sub(b.cost());
            self.queued.store(state.bytes, Ordering::Relaxed);
            if state.reader_waiting {
                self.room.notify_one();
            }
        }
        Some(Taken {
            batch,
            ending: state.ending.is_some(),
            closed: state.closed,
        })
    }

    /// Gives a delivered batch back for reuse: its allocation is the
    /// costly part.
    pub fn recycle(&self, mut batch: Batch) {
        batch.clear();
        let mut state = self.lock();
        if state.spare.len() < 4 {
            state.spare.push(batch);
        }
    }

    /// Counts `n` documents the writer made itself (the periodic ones).
    pub fn accept_own(&self, n: u64) {
        self.lock().accepted += n;
    }

    /// Counts `n` documents (`bytes` long) delivered.
    pub fn delivered(&self, n: u64, bytes: u64) {
        let mut state = self.lock();
        state.progress = Some(Instant::now());
        if !state.abandoned {
            state.finished += n;
            self.stats.delivered.fetch_add(n, Ordering::Relaxed);
            self.stats
                .delivered_bytes
                .fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Counts `n` documents dropped by the writer.
    pub fn dropped(&self, why: DropReason, n: u64) {
        let mut state = self.lock();
        if !state.abandoned {
            state.finished += n;
            self.stats.drop_documents(why, n);
        }
    }

    /// Documents taken and not yet delivered or dropped.
    pub fn held(&self) -> u64 {
        let state = self.lock();
        state.accepted.saturating_sub(state.finished)
    }

    /// The output's reader closed it for good: nothing more goes out.
    pub fn reader_left(&self) {
        self.lock().reader_gone = true;
        self.set_healthy(false);
    }

    /// The running count of drops, for stderr while an outage lasts.
    pub fn drops_so_far(&self) -> String {
        let stats = &self.stats;
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
}
