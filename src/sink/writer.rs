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

use super::batch::Batch;
use super::queue::Queue;
use super::{Sink, SinkErrorKind, Ticker, SEND_TIMEOUT};
use crate::stats::{DropReason, Warner};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Delivers batches from the queue to the sink.
pub(super) struct SinkThread {
    queue: Arc<Queue>,
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
        queue: Arc<Queue>,
        sink: Box<dyn Sink>,
        reopen: Arc<AtomicBool>,
        ticker: Option<(Duration, Ticker)>,
    ) -> SinkThread {
        SinkThread {
            queue,
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
            // Nothing to do until woken, the next periodic document, or one
            // more look for rotation after writing: an idle filter costs no
            // wake-ups. SIGHUP is looked at then or before the next write.
            let mut idle = self.ticker.as_ref().map_or(IDLE, |(every, _, last)| {
                every
                    .saturating_sub(last.elapsed())
                    .max(Duration::from_millis(1))
            });
            if self.wrote_since_check {
                idle = idle.min(TICK);
            }
            let Some(taken) = self.queue.take(idle) else {
                return;
            };
            self.housekeeping();
            if !taken.ending {
                self.tick();
            }
            match taken.batch {
                Some(batch) => {
                    self.deliver(&batch);
                    self.queue.recycle(batch);
                }
                None if taken.closed => return,
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
        make(self.queue.stats(), &mut doc);
        let mut batch = Batch::default();
        batch.push(&doc);
        self.queue.accept_own(1);
        self.deliver(&batch);
    }

    fn housekeeping(&mut self) {
        if self.reopen.swap(false, Ordering::Relaxed) {
            match self.sink.reopen(Instant::now() + SEND_TIMEOUT) {
                Ok(()) => {
                    self.queue.stats().reopened.fetch_add(1, Ordering::Relaxed);
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
                self.queue.stats().reopened.fetch_add(1, Ordering::Relaxed);
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
            let end = self.queue.deadline();
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
                    self.queue.reader_left();
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
                    self.queue.set_healthy(false);
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
                        let retry_by = self.queue.deadline().map_or(retry_by, |d| d.min(retry_by));
                        if self.sink.reopen(retry_by).is_ok() {
                            self.queue.stats().reopened.fetch_add(1, Ordering::Relaxed);
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
        let held = self.down_since.map(|_| self.queue.held());
        self.queue
            .delivered(batch.count(from, to), (to - from) as u64);
        self.wrote_since_check = true;
        self.queue.set_healthy(true);
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
        self.queue.dropped(why, batch.count(from, to));
        let queue = &self.queue;
        self.warner.warn("dropping", || queue.drops_so_far());
    }
}
