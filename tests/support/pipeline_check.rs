//! The whole-path check shared by the fuzz targets (`fuzz/`) and by
//! `tests/fuzz_corpus.rs`: bytes → lines → parse → session table →
//! documents, then every document must be ASCII, valid JSON, within the
//! size limit, and nothing may have panicked (the pipeline survives a
//! panic by catching it, so a panic hook is what tells us).

// Test support: a failed check panics, with the document in the message.
#![allow(clippy::panic)]

use filter_jsonlog::document::{Options, MIN_MAX_BYTES};
use filter_jsonlog::input::LineReader;
use filter_jsonlog::run::{Pipeline, PipelineConfig};
use filter_jsonlog::session::Limits;
use filter_jsonlog::sink::MemoryOutlet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

/// Small bounds, so that eviction, expiry, line cuts and every size level
/// are reached by short inputs.
pub const MAX_SESSIONS: usize = 64;
/// Input lines are cut past this many bytes.
pub const MAX_LINE: usize = 4096;

static PANICKED: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

fn watch_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// What one input made.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Lines read.
    pub lines: usize,
    /// Documents written.
    pub documents: usize,
}

/// Runs `data` through the pipeline and checks every document; panics
/// (with the offending document) when a check fails.
pub fn check(data: &[u8]) -> Outcome {
    watch_panics();
    let config = PipelineConfig {
        limits: Limits {
            max_sessions: MAX_SESSIONS,
            idle_timeout_secs: 60,
        },
        document: Options {
            max_bytes: MIN_MAX_BYTES,
        },
        close_at_end: true,
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::new(&config, MemoryOutlet::default());
    let mut reader = LineReader::new(data, MAX_LINE);
    let mut outcome = Outcome::default();
    while let Ok(Some(line)) = reader.next_line() {
        outcome.lines += 1;
        pipeline.line(&line);
        assert!(
            pipeline.open_sessions() <= MAX_SESSIONS,
            "{} sessions open",
            pipeline.open_sessions()
        );
    }
    let (_, outlet) = pipeline.finish();
    for doc in &outlet.docs {
        check_document(doc, MIN_MAX_BYTES);
    }
    outcome.documents = outlet.docs.len();
    assert!(
        !PANICKED.load(Ordering::SeqCst),
        "a panic was caught while handling this input"
    );
    outcome
}

/// One document: ASCII, at most `max_bytes`, a JSON object with the
/// fields every document has.
pub fn check_document(doc: &[u8], max_bytes: usize) {
    let text = String::from_utf8_lossy(doc);
    assert!(doc.is_ascii(), "not ASCII: {text}");
    assert!(doc.len() <= max_bytes, "{} bytes: {text}", doc.len());
    let value: serde_json::Value = match serde_json::from_slice(doc) {
        Ok(v) => v,
        Err(e) => panic!("not JSON ({e}): {text}"),
    };
    assert!(value.is_object(), "not an object: {text}");
    assert!(
        value.get("@timestamp").is_some_and(|t| t.is_string()),
        "{text}"
    );
    assert!(
        value
            .pointer("/event/action")
            .is_some_and(|a| a.is_string()),
        "{text}"
    );
}
