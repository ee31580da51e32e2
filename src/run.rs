//! The one loop: read a line, parse it, apply it to the session table,
//! render the snapshot, hand the document to the outlet, count, warn.
//!
//! Nothing that input can do ends this loop except end of input: bad lines
//! are counted and warned about, and even a bug that panics while handling a
//! line is caught, counted and survived (smtpd dies with its filter).

use crate::document::{self, Renderer};
use crate::input::{LineReader, RawLine};
use crate::protocol::{describe_line, is_event_name, parse_line, Handshake, Line, Registration};
use crate::select::Selection;
use crate::session::{Expiry, SessionTable, Snapshot};
use crate::sink::Outlet;
use crate::stats::{add, get, Counters, DropReason, Warner};
use std::io::{self, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

mod start;
pub use crate::config::PipelineConfig;
pub use start::{start, StartError};

/// parse → state → document → outlet, for one line at a time.
pub struct Pipeline<O: Outlet> {
    table: SessionTable,
    renderer: Renderer,
    buf: Vec<u8>,
    /// Where documents go.
    pub outlet: O,
    /// What happened so far.
    pub counters: Arc<Counters>,
    warner: Warner,
    handshake: Handshake,
    close_at_end: bool,
    stats_at_end: bool,
    selection: Selection,
    /// Under smtpd: when the pipeline started, for the monotonic expiry
    /// clock; `None` in a replay (the stream's own timestamps).
    live_clock: Option<Instant>,
}

impl<O: Outlet> Pipeline<O> {
    /// The same pipeline counting into `counters` (shared with the
    /// self-metrics ticker).
    pub fn with_counters(mut self, counters: Arc<Counters>) -> Pipeline<O> {
        self.counters = counters;
        self
    }

    /// A pipeline writing to `outlet`.
    pub fn new(config: &PipelineConfig, outlet: O) -> Pipeline<O> {
        Pipeline {
            table: SessionTable::new(config.limits).with_privacy(config.privacy.clone()),
            renderer: Renderer::new(config.document),
            buf: Vec::with_capacity(16 * 1024),
            outlet,
            counters: Arc::new(Counters::default()),
            warner: Warner::default(),
            handshake: Handshake::default(),
            close_at_end: config.close_at_end,
            stats_at_end: config.stats_at_end,
            selection: config.selection.clone(),
            live_clock: config.live_clock.then(Instant::now),
        }
    }

    /// Sessions open now.
    pub fn open_sessions(&self) -> usize {
        self.table.open_sessions()
    }

    /// Handles one input line. Returns the registration when the line was
    /// `config|ready`.
    pub fn line(&mut self, raw: &RawLine<'_>) -> Option<Registration> {
        add(&self.counters.lines_received, 1);
        if raw.cut {
            add(&self.counters.lines_cut, 1);
            self.warner.warn("line_too_long", || {
                format!("line of over {} bytes cut", raw.bytes.len())
            });
        }
        match catch_unwind(AssertUnwindSafe(|| self.handle(raw.bytes, raw.cut))) {
            Ok(registration) => registration,
            Err(_) => {
                add(&self.counters.internal_errors, 1);
                self.warner.warn("internal_error", || {
                    format!("line skipped: {}", describe_line(raw.bytes))
                });
                None
            }
        }
    }

    fn handle(&mut self, bytes: &[u8], cut: bool) -> Option<Registration> {
        let report = match parse_line(bytes) {
            Ok(Line::Config { key, value }) => return self.handshake.feed(key, value),
            Ok(Line::Report(report)) => report,
            Err(e) => {
                self.counters.reject(e);
                self.warner.warn(e.code(), || {
                    format!("line skipped: {}", describe_line(bytes))
                });
                return None;
            }
        };
        if !report.version.is_known() {
            add(&self.counters.unknown_versions, 1);
            self.warner.warn("unknown_version", || {
                format!(
                    "protocol version {} not known, read with the newest layout",
                    report.version
                )
            });
        }
        if report.event.kind().is_none() {
            add(&self.counters.unknown_events, 1);
            self.warner.warn("unknown_event", || {
                let name = report.event.name();
                if is_event_name(name) {
                    format!("event {} not known", name.escape_ascii())
                } else {
                    format!("an event name of {} bytes not known", name.len())
                }
            });
        }
        let Pipeline {
            table,
            renderer,
            buf,
            outlet,
            counters,
            selection,
            live_clock,
            ..
        } = self;
        let (clock, time) = match live_clock {
            Some(started) => (monotonic(*started), wall_clock()),
            None => (report.time, report.time),
        };
        let mut snap = table.apply_at(&report, clock, time);
        snap.event.line_cut = cut;
        emit(renderer, buf, outlet, counters, selection, &snap);
        // Under smtpd the loop sweeps when the input is drained (see
        // `sweep_idle`); a replay's clock is its lines, so after each.
        if live_clock.is_none() {
            table.sweep_idle();
        }
        self.after_sessions_changed();
        None
    }

    /// Ends the sessions idle for longer than the idle timeout. Under smtpd
    /// the loop calls it only when no line is waiting to be read: after a
    /// stall (the filter stopped, the machine suspended) the lines that
    /// waited are read first, so a session whose events were only late
    /// is not ended.
    pub fn sweep_idle(&mut self) {
        self.table.sweep_idle();
        self.after_sessions_changed();
    }

    fn after_sessions_changed(&mut self) {
        self.counters.sessions_open.store(
            self.table.open_sessions() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.drain_expired();
        self.report_drops();
    }

    fn drain_expired(&mut self) {
        let Pipeline {
            table,
            renderer,
            buf,
            outlet,
            counters,
            selection,
            ..
        } = self;
        table.drain_expired(|snap| {
            match snap.event.expiry {
                Some(Expiry::Idle) => add(&counters.sessions_expired, 1),
                Some(Expiry::Evicted) => add(&counters.sessions_evicted, 1),
                _ => {}
            }
            emit(renderer, buf, outlet, counters, selection, &snap);
        });
    }

    /// After an outage of the sink: one document in the stream that says
    /// how many documents were lost, as soon as the sink takes documents again.
    fn report_drops(&mut self) {
        if !self.outlet.healthy() {
            return;
        }
        let lost = self.outlet.stats().take_unreported();
        if lost == 0 {
            return;
        }
        self.warner.warn("documents_dropped", || {
            format!("{lost} documents were dropped (see the documents-dropped document)")
        });
        self.metrics_document("documents-dropped", lost);
    }

    /// Writes one self-metrics document (`event.kind: metric`).
    pub fn metrics_document(&mut self, action: &str, dropped_since_last: u64) {
        let metrics = document::Metrics {
            counters: &self.counters,
            delivery: self.outlet.stats(),
            dropped_since_last,
        };
        // Counted before it is made: its `documents` counts itself.
        self.counters
            .metric_documents
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        document::render_metrics(&metrics, action, SystemTime::now(), &mut self.buf);
        self.outlet.push(&self.buf);
    }

    /// Input is about to wait; returns how long it may (see [`Outlet::idle`]).
    pub fn idle(&mut self) -> Option<std::time::Duration> {
        self.outlet.idle()
    }

    /// End of input: final documents for open sessions (if configured),
    /// then everything delivered. Returns the counters.
    pub fn finish(mut self) -> (Arc<Counters>, O) {
        // The shutdown grace counts from here, for everything below.
        self.outlet.end_of_input();
        if self.close_at_end {
            self.table.close_all();
            self.drain_expired();
        }
        self.counters
            .sessions_open
            .store(0, std::sync::atomic::Ordering::Relaxed);
        // Drops the stream has not been told of yet, then the final
        // counters, once what came before them is delivered (or given up).
        if self.stats_at_end {
            self.outlet.await_delivery();
        }
        self.report_drops();
        if self.stats_at_end {
            self.metrics_document("stats", 0);
        }
        self.outlet.close();
        (self.counters, self.outlet)
    }
}

/// The expiry clock under smtpd: time since the pipeline started, by
/// `Instant` (CLOCK_MONOTONIC), which no clock step moves.
fn monotonic(started: Instant) -> crate::protocol::Timestamp {
    let since = started.elapsed();
    crate::protocol::Timestamp {
        secs: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        micros: since.subsec_micros(),
    }
}

fn wall_clock() -> crate::protocol::Timestamp {
    let since = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    crate::protocol::Timestamp {
        secs: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        micros: since.subsec_micros(),
    }
}

fn emit<O: Outlet>(
    renderer: &mut Renderer,
    buf: &mut Vec<u8>,
    outlet: &mut O,
    counters: &Counters,
    selection: &Selection,
    snap: &Snapshot<'_>,
) {
    if !selection.wants(snap) {
        add(&counters.documents_skipped, 1);
        return;
    }
    let rendered = renderer.render(snap, buf);
    add(&counters.documents, 1);
    add(&counters.document_bytes, buf.len() as u64 + 1);
    // The counter counts documents that say they are truncated: one mark,
    // one owner (the renderer), one count.
    if rendered.truncated {
        add(&counters.documents_truncated, 1);
    }
    if rendered.invalid_utf8 {
        add(&counters.documents_invalid_utf8, 1);
    }
    outlet.push(buf);
}

/// How the loop ended.
#[derive(Debug)]
pub struct Summary {
    /// The reading side's counters.
    pub counters: Arc<Counters>,
    /// Documents delivered by the sink.
    pub delivered: u64,
    /// Documents dropped, per reason.
    pub dropped: Vec<(&'static str, u64)>,
    /// Sink reopen count.
    pub reopened: u64,
    /// A replay stopped because its output failed for longer than the grace.
    pub output_failed: bool,
    /// A replay stopped because the reader closed its output.
    pub output_closed: bool,
    /// Input still unread when the grace after SIGTERM or SIGINT ended.
    pub unread_at_exit: crate::signals::Unread,
}

impl Summary {
    /// One line for stderr at exit.
    pub fn line(&self) -> String {
        let c = &self.counters;
        let dropped: Vec<String> = self
            .dropped
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        format!(
            "exiting: lines_received={} lines_rejected={} documents={} (session={} metric={}) delivered={} truncated={} dropped={} ({}) reopened={} internal_errors={} unread_at_exit={}",
            get(&c.lines_received),
            c.rejected_total(),
            get(&c.documents) + get(&c.metric_documents),
            get(&c.documents),
            get(&c.metric_documents),
            self.delivered,
            get(&c.documents_truncated),
            self.dropped.iter().map(|(_, n)| n).sum::<u64>(),
            dropped.join(" "),
            self.reopened,
            get(&c.internal_errors),
            self.unread_at_exit.lines,
        )
    }
}

fn summarize<O: Outlet>(pipeline: Pipeline<O>) -> Summary {
    let output_failed = pipeline.outlet.failed();
    let (counters, outlet) = pipeline.finish();
    let output_closed = outlet.output_closed();
    let stats = outlet.stats();
    Summary {
        counters,
        delivered: stats.delivered.load(std::sync::atomic::Ordering::Relaxed),
        dropped: DropReason::ALL
            .iter()
            .map(|r| (r.as_str(), stats.dropped(*r)))
            .collect(),
        reopened: stats.reopened.load(std::sync::atomic::Ordering::Relaxed),
        output_failed: output_failed && !output_closed,
        output_closed,
        unread_at_exit: crate::signals::Unread::default(),
    }
}

/// Filter mode: the handshake with smtpd on `protocol_out`, then reports
/// until end of input.
pub fn filter<O: Outlet>(
    config: &PipelineConfig,
    input: crate::signals::Input,
    mut protocol_out: impl Write,
    outlet: O,
    max_line: usize,
    counters: Arc<Counters>,
    stop: &AtomicBool,
) -> Summary {
    let mut pipeline = Pipeline::new(config, outlet).with_counters(counters);
    let mut reader = LineReader::new(input, max_line);
    let mut warner = Warner::default();
    let mut stopping = false;
    loop {
        if !stopping && stop.load(std::sync::atomic::Ordering::Relaxed) {
            // The shutdown grace starts at the signal: reading what is
            // readable and delivering it share it.
            stopping = true;
            pipeline.outlet.end_of_input();
        }
        if !reader.has_buffered_input() {
            // Drained: no line is waiting, so a session idle by the clock
            // is idle indeed.
            if !reader.get_mut().readable_now() {
                pipeline.sweep_idle();
            }
            let wait = pipeline.idle();
            reader.get_mut().set_timeout(wait);
        }
        match reader.next_line() {
            Ok(Some(line)) => {
                if let Some(registration) = pipeline.line(&line) {
                    // smtpd no longer reading is no reason to end: it ends
                    // our input when it goes, and only that ends the filter.
                    if let Err(e) = register(&mut protocol_out, &registration) {
                        warner.warn("register_failed", || format!("cannot answer smtpd: {e}"));
                    }
                }
            }
            Ok(None) => break,
            // Quiet input: idle() again hands the documents to the writer.
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
            Err(e) => {
                warner.warn("read_failed", || format!("reading stdin: {e}"));
                break;
            }
        }
    }
    let mut unread = crate::signals::Unread::default();
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        warner.warn("stopping", || {
            "SIGTERM or SIGINT: finishing as at end of input".to_string()
        });
        if reader.get_mut().grace_ran_out() {
            unread = reader.get_mut().count_unread();
            warner.warn("unread_at_exit", || {
                format!(
                    "{} lines ({} bytes) of input were still unread when the shutdown grace ended",
                    unread.lines, unread.bytes
                )
            });
        }
    }
    let mut summary = summarize(pipeline);
    summary.unread_at_exit = unread;
    summary
}

fn register(out: &mut impl Write, registration: &Registration) -> io::Result<()> {
    for line in registration.lines() {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Replay mode: every input in turn through one pipeline; no protocol output.
pub fn replay<O: Outlet>(
    config: &PipelineConfig,
    inputs: Vec<Box<dyn Read>>,
    outlet: O,
    max_line: usize,
    counters: Arc<Counters>,
    stop: &AtomicBool,
) -> Summary {
    let mut pipeline = Pipeline::new(config, outlet).with_counters(counters);
    let mut warner = Warner::default();
    for input in inputs {
        let mut reader = LineReader::new(input, max_line);
        loop {
            if pipeline.outlet.failed() || stop.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            match reader.next_line() {
                Ok(Some(line)) => {
                    pipeline.line(&line);
                }
                Ok(None) => break,
                Err(e) => {
                    warner.warn("read_failed", || format!("reading input: {e}"));
                    break;
                }
            }
        }
    }
    let mut summary = summarize(pipeline);
    // What a replay could not deliver (not what the output refused) means
    // the output failed: say so in the exit status.
    summary.output_failed |= !summary.output_closed
        && summary
            .dropped
            .iter()
            .any(|(reason, n)| *n > 0 && *reason != DropReason::SinkRejected.as_str());
    summary
}
