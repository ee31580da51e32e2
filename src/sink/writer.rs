//! The writer thread: takes batches from the queue and delivers them, the
//! same policy for every sink.
//!
//! - Sink unavailable (syslogd down or stalled, disk full): keep the
//!   documents, reopen and retry with a backoff of 50 ms up to 1 s.
//! - Sink refuses one document: reopen and retry once, then drop it
//!   (`sink_rejected`). A document the sink tore (sent in part) is dropped
//!   at once: sending it again would duplicate its start.
//! - End of input: every step ends by the end of the shutdown grace; what
//!   is not delivered then is dropped (`shutdown`).
//!
//! A document counts as delivered only once the sink took all of it.

use super::queue::{drops_so_far, Batch, Shared};
use super::{Sink, SinkErrorKind, Ticker, SEND_TIMEOUT};
use crate::stats::{DropReason, Warner};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Delivers batches from the queue to the sink.
pub(super) struct SinkThread {
    shared: Arc<Shared>,
    sink: Box<dyn Sink>,
    reopen: Arc<AtomicBool>,
    warner: Warner,
    last_check: Instant,
    ticker: Option<(Duration, Ticker, Instant)>,
    /// Since when an outage warned about lasts.
    down_since: Option<Instant>,
    /// Documents went out since the sink last looked for rotation.
    wrote_since_check: bool,
}

/// How often, at most, the sink looks for rotation before a write.
const TICK: Duration = Duration::from_millis(250);

/// The longest the writer sleeps without a periodic document to make.
const IDLE: Duration = Duration::from_secs(3600);

impl SinkThread {
    pub fn new(
        shared: Arc<Shared>,
        sink: Box<dyn Sink>,
        reopen: Arc<AtomicBool>,
        ticker: Option<(Duration, Ticker)>,
    ) -> SinkThread {
        SinkThread {
            shared,
            sink,
            reopen,
            warner: Warner::default(),
            last_check: Instant::now(),
            ticker: ticker.map(|(every, make)| (every, make, Instant::now())),
            down_since: None,
            wrote_since_check: false,
        }
    }

    pub fn run(mut self) {
        loop {
            let (batch, ending, closed) = {
                let mut queue = self.shared.lock();
                if queue.batches.is_empty() && !queue.closed {
                    queue.writer_waiting = true;
                    if queue.reader_waiting {
                        // await_delivery() waits for exactly this.
                        self.shared.room.notify_one();
                    }
                    // Nothing to do until woken, the next periodic document,
                    // or one more look for rotation after writing: an idle
                    // filter costs no wake-ups. SIGHUP is looked at then or
                    // before the next write.
                    let mut until_tick = self.ticker.as_ref().map_or(IDLE, |(every, _, last)| {
                        every
                            .saturating_sub(last.elapsed())
                            .max(Duration::from_millis(1))
                    });
                    if self.wrote_since_check {
                        until_tick = until_tick.min(TICK);
                    }
                    queue = self
                        .shared
                        .wake
                        .wait_timeout(queue, until_tick)
                        .map(|(q, _)| q)
                        .unwrap_or_else(|p| p.into_inner().0);
                    queue.writer_waiting = false;
                }
                if queue.abandoned || queue.reader_gone {
                    return;
                }
                let batch = queue.batches.pop_front();
                if let Some(b) = &batch {
                    queue.unseen = 0;
                    queue.unseen_since = None;
                    queue.bytes = queue.bytes.saturating_sub(b.cost());
                    self.shared.queued.store(queue.bytes, Ordering::Relaxed);
                    if queue.reader_waiting {
                        self.shared.room.notify_one();
                    }
                }
                (batch, queue.ending.is_some(), queue.closed)
            };
            self.housekeeping();
            if !ending {
                self.tick();
            }
            match batch {
                Some(mut batch) => {
                    self.deliver(&batch);
                    batch.clear();
                    let mut queue = self.shared.lock();
                    if queue.spare.len() < 4 {
                        queue.spare.push(batch);
                    }
                }
                None if closed => return,
                None => {}
            }
        }
    }

    fn tick(&mut self) {
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
        self.shared.lock().accepted += 1;
        self.deliver(&batch);
    }

    fn housekeeping(&mut self) {
        if self.reopen.swap(false, Ordering::Relaxed) {
            match self.sink.reopen(Instant::now() + SEND_TIMEOUT) {
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
            self.wrote_since_check = false;
            if self.sink.check() {
                self.shared.stats.reopened.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Delivers the batch, or gives up on what the grace leaves no time for.
    fn deliver(&mut self, batch: &Batch) {
        let total = batch.bytes.len();
        let mut at = 0;
        let mut rejected_once = false;
        let mut backoff = Duration::from_millis(50);
        while at < total {
            let end = self.shared.deadline();
            let now = Instant::now();
            if end.is_some_and(|end| now >= end) {
                self.give_up(batch, at, total, DropReason::Shutdown);
                return;
            }
            let deadline = end.map_or(now + SEND_TIMEOUT, |end| end.min(now + SEND_TIMEOUT));
            let rest = batch.docs_from(at);
            let e = match self.sink.write(rest, deadline) {
                Ok(()) => {
                    self.count_delivered(batch, at, total);
                    return;
                }
                Err(e) => e,
            };
            let done = e.done.min(rest.bytes().len());
            if done > 0 {
                self.count_delivered(batch, at, at + done);
                at += done;
                rejected_once = false;
                backoff = Duration::from_millis(50);
            }
            match e.kind {
                SinkErrorKind::Closed => {
                    // Nothing more goes out: the thread ends, and what it
                    // did not deliver is counted when delivery closes.
                    self.shared.lock().reader_gone = true;
                    self.shared.healthy.store(false, Ordering::Relaxed);
                    return;
                }
                SinkErrorKind::Rejected if !rejected_once => {
                    rejected_once = true;
                    let _ = self.sink.reopen(deadline);
                }
                SinkErrorKind::Rejected | SinkErrorKind::Torn => {
                    let next = batch.end_of(at);
                    self.give_up(batch, at, next, DropReason::SinkRejected);
                    self.warner
                        .warn("document_rejected", || format!("{}: {e}", self.sink.name()));
                    at = next;
                    rejected_once = false;
                }
                SinkErrorKind::Unavailable => {
                    self.shared.healthy.store(false, Ordering::Relaxed);
                    if self.down_since.is_none() {
                        self.down_since = Some(Instant::now());
                        let name = self.sink.name();
                        // The code says "unavailable" already: the cause
                        // without the kind's own words.
                        self.warner.warn("sink_unavailable", || {
                            format!("{name}: {}; buffering", e.source)
                        });
                    }
                    let pause = end.map_or(backoff, |end| {
                        backoff.min(end.saturating_duration_since(Instant::now()))
                    });
                    std::thread::sleep(pause);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    self.housekeeping();
                    // Only a target that is gone is opened again: a full
                    // disk or a stalled daemon is waited for where it is.
                    if !self.sink.available() {
                        let retry_by = Instant::now() + SEND_TIMEOUT;
                        let retry_by = self.shared.deadline().map_or(retry_by, |d| d.min(retry_by));
                        if self.sink.reopen(retry_by).is_ok() {
                            self.shared.stats.reopened.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    }

    /// Counts the documents in bytes `from..to` of the batch as delivered.
    fn count_delivered(&mut self, batch: &Batch, from: usize, to: usize) {
        // Held over the outage: everything taken and not yet finished,
        // these documents included.
        let held = self.down_since.map(|_| self.shared.held());
        self.shared
            .delivered(batch.count(from, to), (to - from) as u64);
        self.wrote_since_check = true;
        self.shared.healthy.store(true, Ordering::Relaxed);
        if let (Some(since), Some(held)) = (self.down_since.take(), held) {
            let name = self.sink.name();
            self.warner.warn("sink_recovered", || {
                format!(
                    "{name}: delivering again after {:.1} s unavailable, {held} documents held",
                    since.elapsed().as_secs_f64()
                )
            });
        }
    }

    /// Counts the documents in bytes `from..to` of the batch as dropped.
    fn give_up(&mut self, batch: &Batch, from: usize, to: usize, why: DropReason) {
        self.shared.dropped(why, batch.count(from, to));
        let stats = &self.shared.stats;
        self.warner.warn("dropping", || drops_so_far(stats));
    }
}
