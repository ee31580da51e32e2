//! Self-metrics documents: the filter's own counters.

use super::json::Writer;
use super::time::Clock;
use super::DATASET;

/// The filter's own counters, for a self-metrics document.
pub struct Metrics<'a> {
    /// The reading side.
    pub counters: &'a crate::stats::Counters,
    /// The sink side.
    pub delivery: &'a crate::stats::DeliveryStats,
    /// Documents dropped since the last documents-dropped document.
    pub dropped_since_last: u64,
}

/// Writes a self-metrics document (`event.kind: metric`) into `out`.
pub fn render_metrics(
    m: &Metrics<'_>,
    action: &str,
    now: std::time::SystemTime,
    out: &mut Vec<u8>,
) {
    use crate::stats::{get, DropReason};
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let time = crate::protocol::Timestamp {
        secs: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        micros: since.subsec_micros(),
    };
    let mut clock = Clock::default();
    let c = m.counters;
    let d = m.delivery;
    let mut w = Writer::new(out, 64);
    w.raw_str("@timestamp", |o| clock.write(time, o));
    w.begin("event");
    w.str("action", action.as_bytes());
    w.ascii("dataset", DATASET);
    w.ascii("kind", "metric");
    w.ascii("module", "opensmtpd");
    w.end();
    w.begin("opensmtpd");
    w.begin("jsonlog");
    w.u64("lines_received", get(&c.lines_received));
    w.u64("lines_rejected", c.rejected_total());
    w.u64("lines_cut", get(&c.lines_cut));
    // One definition wherever documents are counted (here, the
    // `exiting:` line): every document made, session and metric, this one
    // included; `documents_delivered` counts those the output accepted.
    w.u64(
        "documents",
        get(&c.documents).saturating_add(get(&c.metric_documents)),
    );
    w.u64("document_bytes", get(&c.document_bytes));
    w.u64("documents_skipped", get(&c.documents_skipped));
    w.u64("documents_truncated", get(&c.documents_truncated));
    w.u64("documents_invalid_utf8", get(&c.documents_invalid_utf8));
    w.u64("documents_delivered", get(&d.delivered));
    w.u64("documents_dropped", d.dropped_total());
    for reason in DropReason::ALL {
        let key = match reason {
            DropReason::BufferFull => "dropped_buffer_full",
            DropReason::SinkRejected => "dropped_sink_rejected",
            DropReason::Shutdown => "dropped_shutdown",
        };
        w.u64(key, d.dropped(reason));
    }
    if m.dropped_since_last > 0 {
        w.u64("dropped_since_last", m.dropped_since_last);
    }
    w.u64("sink_reopened", get(&d.reopened));
    w.u64("sessions_open", get(&c.sessions_open));
    w.u64("sessions_expired", get(&c.sessions_expired));
    w.u64("sessions_evicted", get(&c.sessions_evicted));
    w.u64("unknown_events", get(&c.unknown_events));
    w.u64("unknown_versions", get(&c.unknown_versions));
    w.u64("internal_errors", get(&c.internal_errors));
    w.end();
    w.end();
    w.finish();
}
