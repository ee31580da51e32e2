//! The hand-over from the reading loop to the writer thread.
//!
//! The reading thread must never wait on the sink (smtpd's lka buffers
//! reports without limit while we are slow), so documents are gathered in
//! batches and handed to the writer thread (`sink/writer.rs`) through a
//! queue bounded by `--buffer-bytes` (`sink/queue.rs`, which owns all the
//! state the two threads share). When the bound is reached, newly made
//! documents are dropped (drop-newest, `buffer_full`) and said so on stderr
//! while it happens.

use super::batch::Batch;
use super::outlet::{DeliveryOptions, Outlet, Ticker, WhenFull};
use super::queue::{Queue, WhileFull};
use super::writer::SinkThread;
use super::Sink;
use crate::stats::{DeliveryStats, DropReason, Warner};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Delivers documents to a sink from a thread of its own.
pub struct Delivery {
    queue: Arc<Queue>,
    batch: Batch,
    thread: Option<JoinHandle<()>>,
    warner: Warner,
    failed: bool,
}

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
        let queue = Arc::new(Queue::new(options, sink.available()));
        let writer = SinkThread::new(Arc::clone(&queue), sink, reopen, ticker);
        let thread = std::thread::Builder::new()
            .name("sink".into())
            .spawn(move || writer.run())?;
        Ok(Delivery {
            batch: Batch::with_capacity(queue.batch_limit()),
            queue,
            thread: Some(thread),
            warner: Warner::default(),
            failed: false,
        })
    }

    fn options(&self) -> &DeliveryOptions {
        self.queue.options()
    }

    fn hand_over(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let queue = &self.queue;
        let options = *queue.options();
        let thread = &self.thread;
        let put = queue.put(&mut self.batch, |waited| {
            if thread.as_ref().is_none_or(|t| t.is_finished()) {
                // No room will come: the writer died or stopped.
                WhileFull::GiveUp(DropReason::Shutdown)
            } else if options.when_full == WhenFull::DropNewest
                || (!queue.healthy() && waited >= options.shutdown_grace)
            {
                WhileFull::GiveUp(DropReason::BufferFull)
            } else {
                WhileFull::Wait
            }
        });
        let Err(why) = put else {
            return;
        };
        if why == DropReason::BufferFull {
            if options.when_full == WhenFull::Block {
                // A replay whose output stays down: stop, do not hang.
                self.failed = true;
                queue.grace_spent();
            }
            // The output is not keeping up, even if its last send has not
            // failed yet (a stalled syslogd takes a second to time out): no
            // drop report until it delivers again.
            queue.set_healthy(false);
        }
        queue.stats().drop_documents(why, self.batch.len());
        self.batch.clear();
        if why == DropReason::BufferFull {
            self.warner.warn("dropping", || queue.drops_so_far());
        }
    }
}

impl Outlet for Delivery {
    fn push(&mut self, doc: &[u8]) {
        // Handed over before it would outgrow its allocation: the memory a
        // batch holds is what the bound counts.
        if self.batch.bytes.len() + doc.len() + 1 > self.queue.batch_limit() {
            self.hand_over();
        }
        self.batch.push(doc);
    }

    fn idle(&mut self) -> Option<Duration> {
        self.hand_over();
        self.queue.latency_left()
    }

    fn stats(&self) -> &DeliveryStats {
        self.queue.stats()
    }

    fn healthy(&self) -> bool {
        // Only this thread adds to the queue, so until the batch now being
        // gathered (an eighth of the buffer at most) is
        // handed over, the queue can only shrink: if it is at most half
        // full now, that batch will fit (documents are far smaller than
        // the buffer) and a drop report written now is not dropped itself.
        self.queue.healthy() && self.queue.queued() <= self.options().buffer_bytes / 2
    }

    fn end_of_input(&mut self) {
        self.hand_over();
        self.queue.end_input(false);
    }

    fn await_delivery(&mut self) {
        self.hand_over();
        self.queue.end_input(false);
        self.queue.wait_delivered();
    }

    fn close(&mut self) {
        self.hand_over();
        self.queue.end_input(true);
        let Some(thread) = self.thread.take() else {
            return;
        };
        // Every step of the writer has a deadline within the grace; this
        // only guards against one that overran it.
        loop {
            if thread.is_finished() {
                let _ = thread.join();
                break;
            }
            let late = self
                .queue
                .deadline()
                .is_some_and(|end| Instant::now() >= end + JOIN_SLACK);
            if late {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.queue.abandon();
    }

    fn failed(&self) -> bool {
        // A replay stops reading once its reader left as well.
        self.failed || self.output_closed()
    }

    fn output_closed(&self) -> bool {
        self.queue.reader_gone()
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.close();
    }
}
